/*
 * observe: observations from IVS -> the state rules (SPEC 2), shared by the
 * reconciler, targeted checks and the sync API; and the old function's
 * result shape. An observation is (channel, live or offline, the stream, the
 * time its request was sent); a batch is one statement
 * (ivs_sync.apply_observations), so a pass costs one round trip per batch.
 *
 * It also remembers, per channel, when IVS last confirmed the state (for
 * SYNC_FRESHNESS), bounded in size.
 */
#ifndef IVS_OBSERVE_H
#define IVS_OBSERVE_H

#include <stdint.h>

#include "db.h"

struct json_object;
struct ivs_stream;
struct observe;

/*
 * Applies observations on db (not owned; its statement is prepared there,
 * before db_start) with END_GRACE_SECONDS end_grace_seconds.
 */
struct observe *observe_new(struct db *db, int end_grace_seconds);
void observe_free(struct observe *o);
int observe_prepare(struct db *db);

/* A new JSON observation object (caller owns it). stream: NULL when offline. */
struct json_object *observe_json(const char *channel, int live, const struct ivs_stream *stream,
                                 int64_t t_us);
/*
 * Apply a JSON array of observations. The result rows are
 * (channel_arn, show_id, previous_status, new_status, changed, viewer_count,
 * result). obs is serialized during the call (the caller keeps it).
 */
int observe_apply(struct observe *o, struct json_object *obs, db_cb cb, void *arg);
/*
 * The same for a pass of the reconcile leader holding lease `generation`
 * (> 0): the database refuses it (SQLSTATE IVSL1) unless that generation is
 * the current unexpired lease (fencing). generation 0: observe_apply.
 */
int observe_apply_fenced(struct observe *o, struct json_object *obs, long long generation, db_cb cb,
                         void *arg);

/* The old function's per-show result object (caller owns it). */
struct json_object *observe_result_json(const char *show_id, const char *previous,
                                        const char *new_status, int changed, int has_viewers,
                                        long long viewers, const char *error);
/* A short message for an IVS failure, naming the cause. */
void observe_error_text(int outcome, const char *code, const char *msg, char *out, size_t len);

/* IVS just confirmed channel's state. */
void observe_confirmed(struct observe *o, const char *channel);
/* Seconds since IVS last confirmed channel's state, or -1 if unknown. */
double observe_confirmed_age(const struct observe *o, const char *channel);

#endif
