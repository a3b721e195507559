/*
 * pglisten: one dedicated PostgreSQL session that LISTENs on a few channels,
 * on the event loop (libpq non-blocking: PQconnectStartParams/PQconnectPoll,
 * PQconsumeInput/PQnotifies), outside the query pool.
 *
 * When the session drops it is reopened with backoff (0.25 s doubling to
 * 10 s, jittered). up(1, arg) runs each time the LISTENs are in place, so the
 * caller can re-read what it may have missed while the session was down
 * (notifications are not queued for a session that was not listening);
 * up(0, arg) when a session that was up is lost.
 */
#ifndef IVS_PGLISTEN_H
#define IVS_PGLISTEN_H

struct event_base;
struct metrics;
struct pglisten;

typedef void (*pglisten_notify_fn)(const char *channel, const char *payload, void *arg);
/* up: 1 when the LISTENs are in place, 0 when a session that was up is lost. */
typedef void (*pglisten_up_fn)(int up, void *arg);

/* channels: NULL-terminated, copied; plain identifiers. */
struct pglisten *pglisten_new(struct event_base *base, const char *conninfo,
                              const char *const *channels, int connect_timeout, struct metrics *m,
                              pglisten_notify_fn notify, pglisten_up_fn up, void *arg);
void pglisten_start(struct pglisten *l);
/* 1 while the LISTENs are in place. */
int pglisten_up(const struct pglisten *l);
void pglisten_free(struct pglisten *l);

#endif
