/*
 * reconcile: ask IVS for the truth and repair drift (SPEC 3).
 *
 * A timer (RECONCILE_INTERVAL, jittered) runs a pass on the replica that
 * holds a PostgreSQL advisory lock, taken with pg_try_advisory_lock on a
 * dedicated connection (a size-1 pool of its own): if that connection dies
 * the lock is gone and the next tick tries again. A pass loads the active
 * shows, observes their channels by region (ListStreams sweep or GetStream
 * per channel), and applies the observations in batches through
 * ivs_sync.apply_observations (the same state rules as events). One pass at
 * a time per replica: a request for a pass while one runs joins it.
 *
 * Also: targeted GetStream checks queued by events, END_GRACE_SECONDS expiry
 * (every replica, every second) and EVENT_RETENTION purges (the leader).
 */
#ifndef IVS_RECONCILE_H
#define IVS_RECONCILE_H

struct app;
struct reconcile;
struct json_object;
struct db;

/*
 * A pass result: the sync API's JSON ({"success","summary","results":[...]})
 * (borrowed: valid during the callback; json_object_get() to keep it), and
 * the number of shows with an error. obj is NULL when the pass could not run
 * at all (then err says why and http_status is 500 or 503).
 */
struct reconcile_result {
    struct json_object *obj;
    int errors;
    int http_status;
    const char *err;
};
typedef void (*reconcile_cb)(const struct reconcile_result *res, void *arg);

struct reconcile *reconcile_new(struct app *a);
int reconcile_prepare(struct db *db); /* statements on the main pool */
void reconcile_start(struct reconcile *r);
/* Stop timers and refuse new passes (drain); a running pass finishes. */
void reconcile_stop(struct reconcile *r);
void reconcile_free(struct reconcile *r);

/*
 * Run a pass now over the shows the sync API covers (or join the one
 * running). cb runs once, later. Returns 1 when it joined a running pass,
 * 0 when it started one, -1 when it could not start (cb not called).
 */
int reconcile_request_pass(struct reconcile *r, reconcile_cb cb, void *arg);
/* A targeted check of one channel (GetStream now), e.g. after Stream Failure. */
void reconcile_check_channel(struct app *a, const char *channel_arn);
/* `ivs-syncd reconcile --once`: take the lock, run one pass, print it. Exit status. */
int reconcile_once(struct app *a);
int reconcile_is_leader(const struct reconcile *r);

#endif
