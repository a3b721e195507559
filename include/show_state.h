/*
 * show_state: the state of one show as the push streams carry it (sse), read
 * from an ivs_sync_show_changed / ivs_sync_show_viewers notification payload
 * or from a row of SHOW_STATE_COLUMNS, compared, and shaped as the event's
 * JSON. Pure: no I/O, no global state.
 */
#ifndef IVS_SHOW_STATE_H
#define IVS_SHOW_STATE_H

#include <stddef.h>

struct json_object;
struct pg_result;

/* The columns of one show row, as pushed (for show_state_from_row). */
#define SHOW_STATE_COLUMNS                                                                         \
    "id::text, stream_status, is_streaming, status, viewer_count, ivs_stream_id, "                 \
    "to_json(stream_state_at) #>> '{}'"

struct show_state {
    int known;
    char status[40];
    char stream_status[40];
    int is_streaming;
    char stream_id[160];
    int has_stream_id;
    char at[64];
    int has_at;
    long long viewers;
    int has_viewers;
};

/* A notification payload (JSON) into *st and the show id into id (idlen bytes;
 * viewers only when present). 0 ok; -1 when it is not an object with a showId. */
int show_state_parse(const char *payload, char *id, size_t idlen, struct show_state *st);
/* Row i of a result of SHOW_STATE_COLUMNS into *st. */
void show_state_from_row(const struct pg_result *r, int i, struct show_state *st);
/* 1 when both are known and their state fields (not the viewer count) are equal. */
int show_state_same(const struct show_state *a, const struct show_state *b);
/* {"showId", "streamStatus", "isStreaming", "status", "viewerCount", "streamId", "at"};
 * the caller puts it. */
struct json_object *show_state_json(const char *id, const struct show_state *st);

#endif
