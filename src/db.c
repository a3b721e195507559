/* db: asynchronous libpq pool driven by libevent. */
#include "clock.h"
#include "db.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

struct stmt;

struct query {
    struct query *next;
    char *name;              /* prepared statement, or NULL */
    char *sql;               /* plain SQL when name == NULL */
    const struct stmt *stmt; /* the registered statement `name` */
    int n;
    char **vals;
    db_cb cb;
    void *arg;
    double enqueued;
};

/*
 * A connection's states. Every change goes through set_state(), which aborts
 * on a transition that is not in the table below (a bug, never an input
 * error), and keeps the pool's in_use count and generation with the state.
 */
enum conn_state { C_DOWN, C_CONNECTING, C_SETUP, C_IDLE, C_BUSY, C_COUNT };

static const char *const state_names[C_COUNT] = {"down", "connecting", "setup", "idle", "busy"};

#define C_BIT(s) (1u << (s))
/* legal[from]: the states a connection may move to from there */
static const unsigned state_legal[C_COUNT] = {
    [C_DOWN] = C_BIT(C_CONNECTING),
    [C_CONNECTING] = C_BIT(C_SETUP) | C_BIT(C_DOWN),
    [C_SETUP] = C_BIT(C_IDLE) | C_BIT(C_DOWN),
    [C_IDLE] = C_BIT(C_BUSY) | C_BIT(C_DOWN),
    [C_BUSY] = C_BIT(C_IDLE) | C_BIT(C_DOWN),
};

struct stmt {
    char *name;
    char *sql;
    struct stmt *next;
};

struct conn {
    struct db *db;
    PGconn *pg;
    enum conn_state st;
    struct event *rev, *wev, *tev;
    int sock;
    int setup_step;
    int pooled;   /* a pooler between us and the server (backend pid differs) */
    int prepared; /* its statements are prepared (named) on this connection */
    struct query *q;
    PGresult *last;
    double backoff;
};

struct db {
    struct event_base *base;
    struct db_options opt;
    char *conninfo, *name;
    struct conn *conns;
    struct stmt *stmts, *stmts_tail;
    int nstmts;
    struct query *qhead, *qtail;
    int qlen;
    struct event *qtimer;
    struct metrics *m;
    char labels[64];
    char err[256];
    unsigned long gen;
    int in_use;
    int started;
    int pooled; /* what the last connection that came up saw: -1 unknown */
    void (*idle_fn)(void *arg);
    void *idle_arg;
};

static int is_up(enum conn_state st)
{
    return st == C_IDLE || st == C_BUSY;
}

static void set_state(struct conn *c, enum conn_state to)
{
    enum conn_state from = c->st;
    if ((unsigned)from >= C_COUNT || (unsigned)to >= C_COUNT || !(state_legal[from] & C_BIT(to))) {
        LOG_ERROR(NULL, "db: bad connection state transition %s -> %s",
                  (unsigned)from < C_COUNT ? state_names[from] : "?",
                  (unsigned)to < C_COUNT ? state_names[to] : "?");
        abort();
    }
    c->st = to;
    if (from == C_BUSY)
        c->db->in_use--;
    if (to == C_BUSY)
        c->db->in_use++;
    if (is_up(from) != is_up(to))
        c->db->gen++; /* a connection was lost or opened */
}

static void query_free(struct query *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->n; i++)
        free(q->vals[i]);
    free(q->vals);
    free(q->name);
    free(q->sql);
    free(q);
}

static void update_gauges(struct db *db)
{
    if (!db->m)
        return;
    int up = 0;
    for (int i = 0; i < db->opt.size; i++)
        up += is_up(db->conns[i].st);
    metrics_set(db->m, "ivs_syncd_db_pool_in_use", db->labels, db->in_use);
    metrics_set(db->m, "ivs_syncd_db_pool_waiting", db->labels, db->qlen);
    metrics_set(db->m, "ivs_syncd_db_pool_connections_up", db->labels, up);
}

static void conn_connect(struct conn *c);
static void conn_send(struct conn *c);
static void pump(struct db *db);

/* From loop callbacks only: tell the idle callback a connection is free and nothing waits. */
static void notify_idle(struct db *db)
{
    if (db->idle_fn && !db->qhead && db_idle(db) > 0)
        db->idle_fn(db->idle_arg);
}

static void set_err(struct db *db, const char *what, PGconn *pg)
{
    const char *m = pg ? PQerrorMessage(pg) : "";
    snprintf(db->err, sizeof(db->err), "%s%s%s", what, *m ? ": " : "", m);
    size_t l = strlen(db->err);
    while (l && (db->err[l - 1] == '\n' || db->err[l - 1] == ' '))
        db->err[--l] = '\0';
    for (char *p = db->err; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

struct deferred {
    db_cb cb;
    void *arg;
    char err[128];
};

static void deferred_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct deferred *d = arg;
    d->cb(NULL, d->err, d->arg);
    free(d);
}

/* Fail a query later from the loop (never inside db_exec). */
static void fail_later(struct db *db, struct query *q, const char *err)
{
    struct deferred *d = malloc(sizeof(*d));
    if (d) {
        d->cb = q->cb;
        d->arg = q->arg;
        snprintf(d->err, sizeof(d->err), "%s", err);
        struct timeval tv = {0, 0};
        if (event_base_once(db->base, -1, EV_TIMEOUT, deferred_fire, d, &tv) < 0) {
            free(d);
            q->cb(NULL, err, q->arg);
        }
    } else {
        q->cb(NULL, err, q->arg);
    }
    query_free(q);
}

static void fail_queue(struct db *db, const char *err)
{
    while (db->qhead) {
        struct query *q = db->qhead;
        db->qhead = q->next;
        db->qlen--;
        fail_later(db, q, err);
    }
    db->qtail = NULL;
    update_gauges(db);
}

static int any_up(const struct db *db)
{
    for (int i = 0; i < db->opt.size; i++)
        if (is_up(db->conns[i].st))
            return 1;
    return 0;
}

static void conn_drop_events(struct conn *c)
{
    if (c->rev) {
        event_free(c->rev);
        c->rev = NULL;
    }
    if (c->wev) {
        event_free(c->wev);
        c->wev = NULL;
    }
    c->sock = -1;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_connect(arg);
}

static void conn_fail(struct conn *c, const char *what)
{
    struct db *db = c->db;
    int was_up = is_up(c->st);
    set_err(db, what, c->pg);
    if (db->m)
        metrics_inc(db->m, "ivs_syncd_db_errors_total", db->labels);
    if (was_up || c->st == C_SETUP)
        LOG_WARN(NULL, "database connection lost (%s): %s", db->name, db->err);
    else
        LOG_DEBUG(NULL, "database connect failed (%s): %s", db->name, db->err);
    struct query *q = c->q;
    c->q = NULL;
    if (c->last) {
        PQclear(c->last);
        c->last = NULL;
    }
    conn_drop_events(c);
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    set_state(c, C_DOWN);
    if (q)
        fail_later(db, q, db->err);
    if (!any_up(db))
        fail_queue(db, db->err);
    double b = c->backoff;
    c->backoff = b <= 0 ? 0.1 : (b * 2 > 5 ? 5 : b * 2);
    struct timeval tv = {(time_t)b, (suseconds_t)((b - (double)(time_t)b) * 1e6)};
    evtimer_del(c->tev);
    evtimer_assign(c->tev, db->base, retry_cb, c);
    evtimer_add(c->tev, &tv);
    update_gauges(db);
}

static void conn_io(evutil_socket_t fd, short what, void *arg);

static int conn_events(struct conn *c)
{
    int s = PQsocket(c->pg);
    if (s < 0)
        return -1;
    if (s != c->sock) {
        conn_drop_events(c);
        c->rev = event_new(c->db->base, s, EV_READ | EV_PERSIST, conn_io, c);
        c->wev = event_new(c->db->base, s, EV_WRITE, conn_io, c);
        if (!c->rev || !c->wev)
            return -1;
        c->sock = s;
    }
    return 0;
}

static void want(struct conn *c, int rd, int wr)
{
    if (rd)
        event_add(c->rev, NULL);
    else
        event_del(c->rev);
    if (wr)
        event_add(c->wev, NULL);
    else
        event_del(c->wev);
}

static void connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->st == C_CONNECTING || c->st == C_SETUP)
        conn_fail(c, "connect timeout");
}

static void poll_connect(struct conn *c)
{
    PostgresPollingStatusType r = PQconnectPoll(c->pg);
    if (conn_events(c) < 0 && r != PGRES_POLLING_FAILED) {
        conn_fail(c, "connect");
        return;
    }
    switch (r) {
    case PGRES_POLLING_READING:
        want(c, 1, 0);
        break;
    case PGRES_POLLING_WRITING:
        want(c, 0, 1);
        break;
    case PGRES_POLLING_FAILED:
        conn_fail(c, "connect");
        break;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(c->pg, 1) != 0) {
            conn_fail(c, "set non-blocking");
            return;
        }
        set_state(c, C_SETUP);
        c->setup_step = 0;
        want(c, 1, 0);
        conn_send(c);
        break;
    default:
        break;
    }
}

static void conn_connect(struct conn *c)
{
    struct db *db = c->db;
    char tmo[16];
    snprintf(tmo, sizeof(tmo), "%d", db->opt.connect_timeout);
    const char *kw[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {db->conninfo, "ivs-syncd", tmo, NULL};
    set_state(c, C_CONNECTING);
    c->pg = PQconnectStartParams(kw, vals, 1);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, "connect");
        return;
    }
    c->sock = -1;
    struct timeval tv = {db->opt.connect_timeout, 0};
    evtimer_del(c->tev);
    evtimer_assign(c->tev, db->base, connect_timeout_cb, c);
    evtimer_add(c->tev, &tv);
    poll_connect(c);
}

/* Send the current operation (setup step or query) on c. */
static void conn_send(struct conn *c)
{
    struct db *db = c->db;
    int ok;
    if (c->st == C_SETUP) {
        if (c->setup_step == 0) {
            /* a pooler answers with a backend key of its own (db_pooled_pid) */
            ok = PQsendQueryParams(c->pg, "SELECT pg_backend_pid()", 0, NULL, NULL, NULL, NULL, 0);
        } else if (c->setup_step == 1) {
            char v[24];
            snprintf(v, sizeof(v), "%d", db->opt.statement_timeout_ms);
            const char *p[] = {v};
            ok = PQsendQueryParams(c->pg, "SELECT set_config('statement_timeout', $1, false)", 1,
                                   NULL, p, NULL, NULL, 0);
        } else {
            struct stmt *s = db->stmts;
            for (int i = 2; i < c->setup_step && s; i++)
                s = s->next;
            ok = s ? PQsendPrepare(c->pg, s->name, s->sql, 0, NULL) : 0;
        }
    } else {
        struct query *q = c->q;
        if (q->name && c->prepared)
            ok = PQsendQueryPrepared(c->pg, q->name, q->n, (const char *const *)q->vals, NULL, NULL,
                                     0);
        else if (q->name) /* the unnamed statement: keeps no state on the connection */
            ok = PQsendQueryParams(c->pg, q->stmt->sql, q->n, NULL, (const char *const *)q->vals,
                                   NULL, NULL, 0);
        else
            ok = PQsendQueryParams(c->pg, q->sql, q->n, NULL, (const char *const *)q->vals, NULL,
                                   NULL, 0);
    }
    if (!ok) {
        conn_fail(c, "send");
        return;
    }
    int f = PQflush(c->pg);
    if (f < 0) {
        conn_fail(c, "flush");
        return;
    }
    want(c, 1, f == 1);
}

/* The current operation finished with result r (may be NULL). */
static void op_done(struct conn *c, PGresult *r)
{
    struct db *db = c->db;
    if (c->st == C_SETUP) {
        int good = db_ok(r);
        if (!good) {
            char m[200];
            snprintf(m, sizeof(m), "prepare: %s", r ? PQresultErrorMessage(r) : "no result");
            PQclear(r);
            conn_fail(c, m);
            return;
        }
        if (c->setup_step == 0) {
            c->pooled = db_pooled_pid(PQbackendPID(c->pg),
                                      PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : 0);
            c->prepared = db->opt.prepared > 0 || (db->opt.prepared < 0 && !c->pooled);
            if (db->pooled != c->pooled)
                LOG_INFO(NULL, "database (%s): %s; statements %s", db->name,
                         c->pooled ? "through a connection pooler (session state is not kept: "
                                     "no session SET; set statement_timeout on the role)"
                                   : "direct connection",
                         c->prepared ? "prepared per connection" : "unnamed (not prepared)");
            db->pooled = c->pooled;
            /* through a pooler a session SET would land on a server connection others use */
            c->setup_step = c->pooled ? 1 : 0;
        }
        PQclear(r);
        ++c->setup_step;
        if (c->setup_step == 2 && !c->prepared)
            c->setup_step += db->nstmts;
        if (c->setup_step <= db->nstmts + 1) {
            conn_send(c);
            return;
        }
        evtimer_del(c->tev);
        set_state(c, C_IDLE);
        c->backoff = 0;
        db->err[0] = '\0';
        LOG_DEBUG(NULL, "database connection up (%s)", db->name);
        update_gauges(db);
        pump(db);
        notify_idle(db);
        return;
    }
    struct query *q = c->q;
    c->q = NULL;
    set_state(c, C_IDLE);
    if (q) {
        q->cb(r, r ? NULL : "no result", q->arg);
        query_free(q);
    }
    PQclear(r);
    if (c->st == C_IDLE)
        pump(db);
    update_gauges(db);
    notify_idle(db);
}

static void conn_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct conn *c = arg;
    if (c->st == C_CONNECTING) {
        poll_connect(c);
        return;
    }
    if (what & EV_WRITE) {
        int f = PQflush(c->pg);
        if (f < 0) {
            conn_fail(c, "flush");
            return;
        }
        want(c, 1, f == 1);
    }
    if (!(what & EV_READ))
        return;
    if (!PQconsumeInput(c->pg)) {
        conn_fail(c, "read");
        return;
    }
    PGnotify *n;
    while ((n = PQnotifies(c->pg)) != NULL)
        PQfreemem(n);
    if (c->st == C_IDLE) {
        if (PQstatus(c->pg) == CONNECTION_BAD)
            conn_fail(c, "connection closed");
        return;
    }
    while (!PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            PGresult *last = c->last;
            c->last = NULL;
            op_done(c, last);
            return;
        }
        if (c->last)
            PQclear(c->last);
        c->last = r;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD)
        conn_fail(c, "connection closed");
}

static void pump(struct db *db)
{
    for (int i = 0; i < db->opt.size && db->qhead; i++) {
        struct conn *c = &db->conns[i];
        if (c->st != C_IDLE)
            continue;
        struct query *q = db->qhead;
        db->qhead = q->next;
        if (!db->qhead)
            db->qtail = NULL;
        db->qlen--;
        q->next = NULL;
        c->q = q;
        set_state(c, C_BUSY);
        conn_send(c);
    }
    update_gauges(db);
}

static void qtimer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct db *db = arg;
    double now = clock_mono();
    while (db->qhead && now - db->qhead->enqueued > db->opt.queue_timeout) {
        struct query *q = db->qhead;
        db->qhead = q->next;
        if (!db->qhead)
            db->qtail = NULL;
        db->qlen--;
        db_count_queue_timeout(db);
        q->cb(NULL, "database busy: waited too long for a connection", q->arg);
        query_free(q);
    }
    update_gauges(db);
}

struct db *db_new(struct event_base *base, const struct db_options *opt, struct metrics *m)
{
    struct db *db = calloc(1, sizeof(*db));
    if (!db)
        return NULL;
    db->base = base;
    db->opt = *opt;
    if (db->opt.size < 1)
        db->opt.size = 1;
    if (db->opt.queue_timeout <= 0)
        db->opt.queue_timeout = 5;
    db->conninfo = strdup(opt->conninfo ? opt->conninfo : "");
    db->name = strdup(opt->name ? opt->name : "main");
    db->conns = calloc((size_t)db->opt.size, sizeof(*db->conns));
    db->qtimer = event_new(base, -1, EV_PERSIST, qtimer_cb, db);
    if (!db->conninfo || !db->name || !db->conns || !db->qtimer)
        goto fail;
    db->opt.conninfo = db->conninfo;
    db->opt.name = db->name;
    db->m = m;
    snprintf(db->labels, sizeof(db->labels), "pool=\"%s\"", db->name);
    snprintf(db->err, sizeof(db->err), "not connected yet");
    db->pooled = -1;
    for (int i = 0; i < db->opt.size; i++) {
        db->conns[i].db = db;
        db->conns[i].sock = -1;
        db->conns[i].tev = evtimer_new(base, retry_cb, &db->conns[i]);
        if (!db->conns[i].tev)
            goto fail;
    }
    return db;
fail:
    db_free(db);
    return NULL;
}

int db_prepare(struct db *db, const char *name, const char *sql)
{
    struct stmt *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->name = strdup(name);
    s->sql = strdup(sql);
    if (!s->name || !s->sql) {
        free(s->name);
        free(s->sql);
        free(s);
        return -1;
    }
    if (db->stmts_tail)
        db->stmts_tail->next = s;
    else
        db->stmts = s;
    db->stmts_tail = s;
    db->nstmts++;
    return 0;
}

void db_start(struct db *db)
{
    if (db->started)
        return;
    db->started = 1;
    struct timeval tv = {0, 250000};
    event_add(db->qtimer, &tv);
    for (int i = 0; i < db->opt.size; i++)
        conn_connect(&db->conns[i]);
    update_gauges(db);
}

static int enqueue(struct db *db, const char *name, const char *sql, int n,
                   const char *const *values, db_cb cb, void *arg)
{
    if (!any_up(db) || db->qlen >= db->opt.queue_max + (db->opt.size - db->in_use)) {
        db_count_refused(db);
        return -1;
    }
    struct query *q = calloc(1, sizeof(*q));
    if (!q)
        return -1;
    q->cb = cb;
    q->arg = arg;
    q->n = n;
    q->enqueued = clock_mono();
    if (name) {
        for (q->stmt = db->stmts; q->stmt && strcmp(q->stmt->name, name); q->stmt = q->stmt->next)
            ;
        if (!q->stmt) {
            LOG_ERROR(NULL, "db: statement %s was never registered", name);
            goto fail;
        }
        if (!(q->name = strdup(name)))
            goto fail;
    }
    if (sql && !(q->sql = strdup(sql)))
        goto fail;
    if (n > 0 && !(q->vals = calloc((size_t)n, sizeof(char *))))
        goto fail;
    for (int i = 0; i < n; i++)
        if (values[i] && !(q->vals[i] = strdup(values[i])))
            goto fail;
    if (db->qtail)
        db->qtail->next = q;
    else
        db->qhead = q;
    db->qtail = q;
    db->qlen++;
    pump(db);
    return 0;
fail:
    query_free(q);
    return -1;
}

int db_exec(struct db *db, const char *name, int nparams, const char *const *values, db_cb cb,
            void *arg)
{
    return enqueue(db, name, NULL, nparams, values, cb, arg);
}

int db_exec_sql(struct db *db, const char *sql, int nparams, const char *const *values, db_cb cb,
                void *arg)
{
    return enqueue(db, NULL, sql, nparams, values, cb, arg);
}

int db_ready(const struct db *db)
{
    return any_up(db);
}

const char *db_last_error(const struct db *db)
{
    return db->err[0] ? db->err : "no connection";
}

unsigned long db_generation(const struct db *db)
{
    return db->gen;
}

int db_in_use(const struct db *db)
{
    return db->in_use;
}

int db_waiting(const struct db *db)
{
    return db->qlen;
}

int db_idle(const struct db *db)
{
    int n = 0;
    for (int i = 0; i < db->opt.size; i++)
        n += db->conns[i].st == C_IDLE;
    return n;
}

double db_queue_timeout(const struct db *db)
{
    return db->opt.queue_timeout;
}

void db_on_idle(struct db *db, void (*fn)(void *arg), void *arg)
{
    db->idle_fn = fn;
    db->idle_arg = fn ? arg : NULL;
}

void db_count_refused(struct db *db)
{
    if (db->m)
        metrics_inc(db->m, "ivs_syncd_db_refused_total", db->labels);
}

void db_count_queue_timeout(struct db *db)
{
    if (db->m)
        metrics_inc(db->m, "ivs_syncd_db_queue_timeouts_total", db->labels);
}

void db_free(struct db *db)
{
    if (!db)
        return;
    if (db->conns) {
        for (int i = 0; i < db->opt.size; i++) {
            struct conn *c = &db->conns[i];
            if (c->q) {
                c->q->cb(NULL, "shutting down", c->q->arg);
                query_free(c->q);
                c->q = NULL;
            }
            if (c->last)
                PQclear(c->last);
            conn_drop_events(c);
            if (c->tev)
                event_free(c->tev);
            if (c->pg)
                PQfinish(c->pg);
        }
    }
    while (db->qhead) {
        struct query *q = db->qhead;
        db->qhead = q->next;
        q->cb(NULL, "shutting down", q->arg);
        query_free(q);
    }
    while (db->stmts) {
        struct stmt *s = db->stmts;
        db->stmts = s->next;
        free(s->name);
        free(s->sql);
        free(s);
    }
    if (db->qtimer)
        event_free(db->qtimer);
    free(db->conns);
    free(db->conninfo);
    free(db->name);
    free(db);
}

int db_pooled(const struct db *db)
{
    return db->pooled;
}

int db_pooled_pid(int key_pid, int backend_pid)
{
    return key_pid <= 0 || backend_pid <= 0 || key_pid != backend_pid;
}

int db_detect_pooler(PGconn *pg)
{
    PGresult *r = PQexec(pg, "SELECT pg_backend_pid()");
    int v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = db_pooled_pid(PQbackendPID(pg), atoi(PQgetvalue(r, 0, 0)));
    PQclear(r);
    return v;
}

const char *db_pooler_text(int pooled)
{
    if (pooled == 1)
        return "a connection pooler answers (its backend key is not the server's): statements "
               "run unnamed with DB_PREPARED=auto, no session SET is made (set statement_timeout "
               "with ALTER ROLE ... SET or the pooler's query_timeout); leadership is a lease, "
               "fine in transaction mode";
    if (pooled == 0)
        return "direct connection to PostgreSQL (prepared statements with DB_PREPARED=auto)";
    return "cannot tell whether a connection pooler is in between";
}

int db_prepared_mode(const char *s)
{
    if (!s || !*s || !strcmp(s, "auto"))
        return -1;
    if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "1"))
        return 1;
    if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "0"))
        return 0;
    return -2;
}

int db_ok(const PGresult *res)
{
    if (!res)
        return 0;
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}
