/*
 * db: an asynchronous libpq connection pool on the event loop.
 *
 * Connections are opened with PQconnectStartParams and polled on socket
 * readiness with their own deadline, run in non-blocking mode, and prepare
 * every registered statement once per connection. A query runs on an idle
 * connection, or waits in a bounded FIFO queue; db_exec() refuses at once
 * (returns -1) when no connection is up or the queue is full, so callers can
 * answer 503 instead of queueing without bound. Dead connections fail their
 * query (the callback gets res == NULL) and are reopened with backoff.
 *
 * Ownership: db_exec() copies the parameter values. The PGresult passed to
 * the callback belongs to the pool and is cleared after the callback
 * returns. The callback runs exactly once per accepted query, never inside
 * db_exec(); db_free() calls pending callbacks with res == NULL and err
 * "shutting down".
 */
#ifndef IVS_DB_H
#define IVS_DB_H

#include <libpq-fe.h>

struct event_base;
struct metrics;
struct db;

typedef void (*db_cb)(PGresult *res, const char *err, void *arg);

struct db_options {
    const char *conninfo; /* libpq conninfo or URI */
    const char *name;     /* pool name for metrics/logs ("main", "leader") */
    int size;             /* connections */
    int queue_max;        /* queued queries at most */
    int connect_timeout;  /* seconds */
    int statement_timeout_ms;
    double queue_timeout; /* seconds a query may wait for a connection */
    /*
     * DB_PREPARED: 1 named prepared statements on every connection, 0 unnamed
     * statements (PQsendQueryParams, no state on the connection), -1 auto:
     * prepared on a direct connection, unnamed through a pooler (detected per
     * connection: the backend key a pooler hands out is not the server's pid).
     * Through a pooler the session statement_timeout is not set either.
     */
    int prepared;
};

struct db *db_new(struct event_base *base, const struct db_options *opt, struct metrics *m);
/* Register a statement prepared on every connection (before db_start). */
int db_prepare(struct db *db, const char *name, const char *sql);
/* Open the connections; returns at once. */
void db_start(struct db *db);
/* Run prepared statement `name` (NULL values are SQL NULL). 0 = accepted. */
int db_exec(struct db *db, const char *name, int nparams, const char *const *values, db_cb cb,
            void *arg);
/* Run a plain SQL text with parameters (not prepared). 0 = accepted. */
int db_exec_sql(struct db *db, const char *sql, int nparams, const char *const *values, db_cb cb,
                void *arg);
/* 1 when at least one connection is up. */
int db_ready(const struct db *db);
/* Why the pool is not ready (short text, no secrets). */
const char *db_last_error(const struct db *db);
/* Changes every time a connection of the pool is lost or opened (size-1 pools: session id). */
unsigned long db_generation(const struct db *db);
int db_in_use(const struct db *db);
int db_waiting(const struct db *db);
/* Connections up and idle (when > 0, no query waits in the pool's queue). */
int db_idle(const struct db *db);
/* Seconds a query may wait for a connection (db_options.queue_timeout). */
double db_queue_timeout(const struct db *db);
/*
 * fn(arg) runs from the loop when a connection turns idle with no query
 * waiting (a query finished, a connection came up); never inside db_exec().
 * For a caller with a queue of its own (ingest) that sends only onto an idle
 * connection. One per pool; fn NULL clears it.
 */
void db_on_idle(struct db *db, void (*fn)(void *arg), void *arg);
/*
 * Count, in the pool's ivs_syncd_db_refused_total / _queue_timeouts_total,
 * a request refused or timed out in such a caller's own queue (the pool
 * counts what it refuses or times out itself).
 */
void db_count_refused(struct db *db);
void db_count_queue_timeout(struct db *db);
/* Closes connections; pending callbacks get res == NULL. */
void db_free(struct db *db);

/* What the last connection that came up saw: 1 through a pooler, 0 direct, -1 not known yet. */
int db_pooled(const struct db *db);
/*
 * Pooler detection (pure): key_pid is the process id of the BackendKeyData
 * the client got (PQbackendPID), backend_pid what `SELECT pg_backend_pid()`
 * answers. A pooler (PgBouncer, Supavisor, pgcat, RDS Proxy) makes up a key of
 * its own for its clients, so they differ; direct, they are the same. 1 pooled.
 */
int db_pooled_pid(int key_pid, int backend_pid);
/* The same on a blocking connection (doctor): 1 pooled, 0 direct, -1 unknown. */
int db_detect_pooler(PGconn *pg);
/* doctor's sentence for db_detect_pooler's answer. */
const char *db_pooler_text(int pooled);
/* DB_PREPARED text -> db_options.prepared (auto -1, on 1, off 0); -2 unknown text. */
int db_prepared_mode(const char *s);

/* 1 when res holds a successful command or tuples result. */
int db_ok(const PGresult *res);

#endif
