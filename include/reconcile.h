/*
 * reconcile: the pass engine - ask IVS for the truth and repair drift (SPEC 3).
 *
 * A pass loads the active shows, observes their channels by region
 * (ListStreams sweep or GetStream per channel), and applies the observations
 * in batches through ivs_sync.apply_observations (the same state rules as
 * events). One pass at a time per replica: a request for a pass while one
 * runs joins it.
 *
 * Who starts passes: leader (the timer, on the replica holding the lock),
 * sync (the all-shows API) and cmd_reconcile (`reconcile --once`).
 * Targeted checks are in checks, grace expiry and purges in maint.
 */
#ifndef IVS_RECONCILE_H
#define IVS_RECONCILE_H

#include <stddef.h>

#include "arn.h"
#include "config.h"
#include "ivs.h"

struct reconcile;
struct json_object;
struct db;
struct metrics;
struct observe;

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

/*
 * Passes read cfg (RECONCILE_STRATEGY, IVS_MAX_RPS), load shows from db, ask
 * ivs (NULL without AWS credentials: a pass then fails with 500), apply
 * through obs and count in m. None is owned; all must outlive the reconciler.
 * Prepares its statements on db (before db_start).
 */
struct reconcile *reconcile_new(const struct config *cfg, struct db *db, struct ivs *ivs,
                                struct observe *obs, struct metrics *m);
int reconcile_prepare(struct db *db); /* statements on the main pool */
/* Frees a pass still running without calling its callbacks (tear-down). */
void reconcile_free(struct reconcile *r);

/*
 * Run a pass now over the shows the sync API covers (or join the one
 * running). cb runs once, later. Returns 1 when it joined a running pass,
 * 0 when it started one, -1 when it could not start (cb not called).
 */
int reconcile_request_pass(struct reconcile *r, reconcile_cb cb, void *arg);
/*
 * Start a new pass with this trigger ("timer", "once": a metrics label, a
 * static string). Never joins: -1 when a pass runs or it could not start (cb
 * not called), else 0 and cb runs once, later.
 */
int reconcile_start_pass(struct reconcile *r, const char *trigger, reconcile_cb cb, void *arg);
/*
 * The same for the reconcile leader: every write of the pass carries lease
 * `generation` (observe_apply_fenced), refused once another replica leads.
 */
int reconcile_start_fenced_pass(struct reconcile *r, const char *trigger, long long generation,
                                reconcile_cb cb, void *arg);
/* 1 while a pass runs. */
int reconcile_running(const struct reconcile *r);

/*
 * Pass planning: pure functions, exported for the unit tests
 * (tests/unit/test_reconcile.c); the pass engine is their only other user.
 */
struct reconcile_chan {
    char arn[ARN_MAX_LEN + 1];
    int region; /* index into the plan's regions */
};
struct reconcile_plan {
    struct reconcile_chan *chans; /* unique valid channel ARNs, sorted by strcmp */
    size_t nchans;
    char (*regions)[ARN_REGION_MAX + 1]; /* in order of first appearance in the input */
    size_t nregions;
};
/*
 * Group the shows' channel ARNs (arns[0..n), NULL or malformed ones skipped,
 * duplicates merged) by region: one ListStreams sweep per region. 0, or -1
 * out of memory. Free with reconcile_plan_free (also after a failure).
 */
int reconcile_plan_build(struct reconcile_plan *pl, const char *const *arns, size_t n);
/* The index of arn in pl->chans, or -1 (malformed or absent). */
int reconcile_plan_find(const struct reconcile_plan *pl, const char *arn);
void reconcile_plan_free(struct reconcile_plan *pl);
/* 1 when a pass sweeps with ListStreams, 0 when it asks GetStream per channel. */
int reconcile_use_list(enum reconcile_strategy st, int list_denied);
/*
 * 1 when a region's ListStreams sweep ended so that the pass should ask its
 * channels with GetStream instead (and later passes too, until restart):
 * strategy auto, and the sweep was denied on its first page.
 */
int reconcile_list_fallback(enum reconcile_strategy st, int complete, enum ivs_outcome outcome,
                            int pages);
/* How many GetStream calls a pass keeps started at once (2 s at IVS_MAX_RPS, 2..64). */
int reconcile_get_window(double ivs_max_rps);

#endif
