/*
 * leader: which replica runs the timed reconcile passes.
 *
 * A timer (RECONCILE_INTERVAL, jittered) tries a PostgreSQL advisory lock,
 * pg_try_advisory_lock on a dedicated connection (a size-1 pool of its own):
 * if that connection dies the lock is gone and the next tick tries again. The
 * holder starts a pass on each tick (passes never overlap) and, after each
 * timed pass, an EVENT_RETENTION purge (maint).
 */
#ifndef IVS_LEADER_H
#define IVS_LEADER_H

struct event_base;
struct config;
struct reconcile;
struct maint;
struct metrics;
struct leader;

/*
 * Opens its own pool (config_conninfo(cfg)); runs passes on rec and purges on
 * maint (neither owned). NULL on failure.
 */
struct leader *leader_new(struct event_base *base, const struct config *cfg, struct reconcile *rec,
                          struct maint *maint, struct metrics *m);
/* Connect and start the timer (when RECONCILE_INTERVAL > 0). Only with IVS. */
void leader_start(struct leader *l);
/* Stop the timer (drain); a running pass finishes. */
void leader_stop(struct leader *l);
void leader_free(struct leader *l);
int leader_is_leader(const struct leader *l);

/*
 * For `reconcile --once`: connect the lock's pool without the timer, see
 * whether it is up, and try the lock once. cb gets got = 1 when this process
 * holds the lock now; else err says why (NULL: another replica holds it).
 * leader_try_once returns -1 when the query could not start (cb not called).
 */
typedef void (*leader_lock_cb)(int got, const char *err, void *arg);
void leader_connect(struct leader *l);
int leader_connected(const struct leader *l);
int leader_try_once(struct leader *l, leader_lock_cb cb, void *arg);

#endif
