/* show_state: one show's pushed state, from a notification or a row, as JSON. */
#include "show_state.h"

#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy_str(char *dst, size_t len, const char *src, int *has)
{
    if (has)
        *has = src != NULL;
    snprintf(dst, len, "%s", src ? src : "");
}

struct json_object *show_state_json(const char *id, const struct show_state *st)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "showId", json_object_new_string(id));
    json_object_object_add(o, "streamStatus", json_object_new_string(st->stream_status));
    json_object_object_add(o, "isStreaming", json_object_new_boolean(st->is_streaming));
    json_object_object_add(o, "status", json_object_new_string(st->status));
    json_object_object_add(o, "viewerCount",
                           st->has_viewers ? json_object_new_int64(st->viewers) : NULL);
    json_object_object_add(o, "streamId",
                           st->has_stream_id ? json_object_new_string(st->stream_id) : NULL);
    json_object_object_add(o, "at", st->has_at ? json_object_new_string(st->at) : NULL);
    return o;
}

/* A notification payload into *st (viewers only when present). 0 ok. */
int show_state_parse(const char *payload, char *id, size_t idlen, struct show_state *st)
{
    struct json_object *o = json_tokener_parse(payload);
    if (!o || !json_object_is_type(o, json_type_object)) {
        if (o)
            json_object_put(o);
        return -1;
    }
    struct json_object *v;
    int rc = -1;
    memset(st, 0, sizeof(*st));
    if (json_object_object_get_ex(o, "showId", &v) && json_object_is_type(v, json_type_string)) {
        snprintf(id, idlen, "%s", json_object_get_string(v));
        rc = 0;
    }
    st->known = 1;
    const char *t;
    t = json_object_object_get_ex(o, "streamStatus", &v) && json_object_is_type(v, json_type_string)
            ? json_object_get_string(v)
            : NULL;
    copy_str(st->stream_status, sizeof(st->stream_status), t, NULL);
    t = json_object_object_get_ex(o, "status", &v) && json_object_is_type(v, json_type_string)
            ? json_object_get_string(v)
            : NULL;
    copy_str(st->status, sizeof(st->status), t, NULL);
    st->is_streaming = json_object_object_get_ex(o, "isStreaming", &v) &&
                       json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
    t = json_object_object_get_ex(o, "streamId", &v) && json_object_is_type(v, json_type_string)
            ? json_object_get_string(v)
            : NULL;
    copy_str(st->stream_id, sizeof(st->stream_id), t, &st->has_stream_id);
    t = json_object_object_get_ex(o, "at", &v) && json_object_is_type(v, json_type_string)
            ? json_object_get_string(v)
            : NULL;
    copy_str(st->at, sizeof(st->at), t, &st->has_at);
    if (json_object_object_get_ex(o, "viewerCount", &v) && json_object_is_type(v, json_type_int)) {
        st->viewers = json_object_get_int64(v);
        st->has_viewers = 1;
    }
    json_object_put(o);
    return rc;
}

/* The state fields (not the viewer count) are equal. */
int show_state_same(const struct show_state *a, const struct show_state *b)
{
    return a->known && b->known && !strcmp(a->status, b->status) &&
           !strcmp(a->stream_status, b->stream_status) && a->is_streaming == b->is_streaming &&
           a->has_stream_id == b->has_stream_id && !strcmp(a->stream_id, b->stream_id) &&
           a->has_at == b->has_at && !strcmp(a->at, b->at);
}

void show_state_from_row(const PGresult *r, int i, struct show_state *st)
{
    memset(st, 0, sizeof(*st));
    st->known = 1;
    copy_str(st->stream_status, sizeof(st->stream_status),
             PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1), NULL);
    st->is_streaming = !PQgetisnull(r, i, 2) && PQgetvalue(r, i, 2)[0] == 't';
    copy_str(st->status, sizeof(st->status), PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3),
             NULL);
    if (!PQgetisnull(r, i, 4)) {
        st->viewers = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        st->has_viewers = 1;
    }
    copy_str(st->stream_id, sizeof(st->stream_id),
             PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5), &st->has_stream_id);
    copy_str(st->at, sizeof(st->at), PQgetisnull(r, i, 6) ? NULL : PQgetvalue(r, i, 6),
             &st->has_at);
}
