/*
 * leader: which replica runs the timed reconcile passes.
 *
 * A lease (infra/sql/005_lease.sql), not a session lock, so that it works
 * through a transaction pooler: every LEADER_LEASE/3 each replica calls
 * ivs_sync.lease_acquire(holder, LEADER_LEASE) on a connection of its own
 * (a size-1 pool, unnamed statements). The holder renews it; it stops leading
 * at once when its own monotonic clock, counted from when the last successful
 * renewal was sent, passes LEADER_LEASE. Another replica takes the lease once
 * it expired (generation + 1). The leader starts a pass every
 * RECONCILE_INTERVAL (jittered; passes never overlap) whose writes carry the
 * generation (fenced), an EVENT_RETENTION purge after each timed pass, and
 * runs the passes `reconcile --once` requests. At exit it releases the lease.
 */
#ifndef IVS_LEADER_H
#define IVS_LEADER_H

#include <libpq-fe.h>
#include <stddef.h>

struct event_base;
struct config;
struct reconcile;
struct maint;
struct metrics;
struct leader;
struct json_object;

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
 * For `reconcile --once`: connect the lease's pool without the timers and
 * see whether it is up. leader_once (when connected) tries the lease once: if
 * it is free, this process takes it and runs a fenced pass itself (renewing
 * the lease meanwhile; released at leader_free); if a replica holds it, it
 * inserts a pass request (ivs_sync.pass_requests) that the leader takes at
 * its next lease tick, and polls for the answer. cb gets the sync API JSON
 * (borrowed) and the number of shows with errors, or obj NULL and err.
 * Returns -1 when not connected (cb not called).
 */
typedef void (*leader_once_cb)(struct json_object *obj, int errors, const char *err, void *arg);
void leader_connect(struct leader *l);
int leader_connected(const struct leader *l);
int leader_once(struct leader *l, leader_once_cb cb, void *arg);

/* doctor: who holds the lease (text in out): 1 held, 0 nobody, -1 cannot read. */
int leader_describe(PGconn *pg, char *out, size_t len);

/* Pure, for the unit tests: the renewal period for a lease of ttl_ms (a third, >= 100 ms). */
int leader_renew_interval(int ttl_ms);
/* A holder id unique per process: host:pid:random. */
void leader_holder_id(char *out, size_t len);

#endif
