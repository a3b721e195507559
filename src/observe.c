/* observe: observations -> ivs_sync.apply_observations; result shapes; confirmations. */
#include "clock.h"
#include "observe.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ivs.h"

#define CONFIRM_SLOTS 4096 /* bounded: older entries are overwritten */

struct confirm {
    char *channel;
    double at;
};

struct observe {
    struct db *db;
    int end_grace_seconds;
    struct confirm slots[CONFIRM_SLOTS];
};

struct observe *observe_new(struct db *db, int end_grace_seconds)
{
    struct observe *o = calloc(1, sizeof(struct observe));
    if (!o)
        return NULL;
    o->db = db;
    o->end_grace_seconds = end_grace_seconds;
    if (db && observe_prepare(db) < 0) {
        free(o);
        return NULL;
    }
    return o;
}

void observe_free(struct observe *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < CONFIRM_SLOTS; i++)
        free(o->slots[i].channel);
    free(o);
}

int observe_prepare(struct db *db)
{
    return db_prepare(db, "apply_observations",
                      "SELECT channel_arn, show_id::text, previous_status, new_status, changed, "
                      "viewer_count, result FROM ivs_sync.apply_observations($1::jsonb, "
                      "$2::integer)") < 0
               ? -1
               : db_prepare(db, "apply_observations_fenced",
                            "SELECT channel_arn, show_id::text, previous_status, new_status, "
                            "changed, viewer_count, result FROM ivs_sync.apply_observations("
                            "$1::jsonb, $2::integer, $3::bigint)");
}

struct json_object *observe_json(const char *channel, int live, const struct ivs_stream *s,
                                 int64_t t_us)
{
    struct json_object *o = json_object_new_object();
    char t[40];
    json_object_object_add(o, "channel", json_object_new_string(channel));
    json_object_object_add(o, "live", json_object_new_boolean(live && s));
    ivs_format_time(t_us, t, sizeof(t));
    json_object_object_add(o, "t", json_object_new_string(t));
    if (live && s) {
        json_object_object_add(o, "stream_id", json_object_new_string(s->stream_id));
        if (s->start_time_us > 0) {
            ivs_format_time(s->start_time_us, t, sizeof(t));
            json_object_object_add(o, "start_time", json_object_new_string(t));
        }
        json_object_object_add(o, "viewers", json_object_new_int64(s->viewer_count));
        if (s->health[0])
            json_object_object_add(o, "health", json_object_new_string(s->health));
    }
    return o;
}

int observe_apply(struct observe *o, struct json_object *obs, db_cb cb, void *arg)
{
    return observe_apply_fenced(o, obs, 0, cb, arg);
}

int observe_apply_fenced(struct observe *o, struct json_object *obs, long long generation, db_cb cb,
                         void *arg)
{
    char grace[16], gen[24];
    snprintf(grace, sizeof(grace), "%d", o->end_grace_seconds);
    snprintf(gen, sizeof(gen), "%lld", generation);
    const char *v[] = {json_object_to_json_string_ext(obs, JSON_C_TO_STRING_PLAIN), grace, gen};
    if (generation > 0)
        return db_exec(o->db, "apply_observations_fenced", 3, v, cb, arg);
    return db_exec(o->db, "apply_observations", 2, v, cb, arg);
}

struct json_object *observe_result_json(const char *show_id, const char *previous,
                                        const char *new_status, int changed, int has_viewers,
                                        long long viewers, const char *error)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "showId", json_object_new_string(show_id));
    json_object_object_add(o, "previousStatus", previous ? json_object_new_string(previous) : NULL);
    json_object_object_add(o, "newStatus",
                           json_object_new_string(new_status ? new_status : "offline"));
    json_object_object_add(o, "changed", json_object_new_boolean(changed));
    if (has_viewers && viewers >= 0 && !error)
        json_object_object_add(o, "viewerCount", json_object_new_int64(viewers));
    if (error)
        json_object_object_add(o, "error", json_object_new_string(error));
    return o;
}

void observe_error_text(int outcome, const char *code, const char *msg, char *out, size_t len)
{
    const char *hint = "";
    const char *c = code && *code ? code : ivs_outcome_name((enum ivs_outcome)outcome);
    switch ((enum ivs_outcome)outcome) {
    case IVS_ERR_NOT_FOUND:
        hint = " (wrong ivs_channel_arn or region?)";
        break;
    case IVS_ERR_ACCESS_DENIED:
        hint = " (IAM policy lacks ivs:GetStream / ivs:ListStreams?)";
        break;
    case IVS_ERR_BUSY:
        hint = msg && *msg ? "" : " (IVS rate limit: retry later)";
        break;
    default:
        break;
    }
    if (!msg || !*msg) {
        snprintf(out, len, "IVS %s%s", c, hint);
        return;
    }
    /* ivs.c's messages usually start with the code ("Code: message") or with "IVS " */
    if (!strncmp(msg, "IVS ", 4))
        snprintf(out, len, "%s%s", msg, hint);
    else if (!strncmp(msg, c, strlen(c)))
        snprintf(out, len, "IVS %s%s", msg, hint);
    else
        snprintf(out, len, "IVS %s: %s%s", c, msg, hint);
}

static size_t slot_of(const char *channel)
{
    uint32_t h = 2166136261u;
    for (const char *p = channel; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % CONFIRM_SLOTS;
}

void observe_confirmed(struct observe *o, const char *channel)
{
    if (!o)
        return;
    struct confirm *c = &o->slots[slot_of(channel)];
    if (!c->channel || strcmp(c->channel, channel)) {
        char *d = strdup(channel);
        if (!d)
            return;
        free(c->channel);
        c->channel = d;
    }
    c->at = clock_mono();
}

double observe_confirmed_age(const struct observe *o, const char *channel)
{
    if (!o)
        return -1;
    const struct confirm *c = &o->slots[slot_of(channel)];
    if (!c->channel || strcmp(c->channel, channel))
        return -1;
    return clock_mono() - c->at;
}
