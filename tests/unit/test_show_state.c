#include <json-c/json.h>
#include <string.h>

#include "show_state.h"
#include "t.h"

TEST(parse_full)
{
    struct show_state st;
    char id[37];
    CHECK_EQ_INT(
        show_state_parse("{\"showId\":\"a1\",\"streamStatus\":\"LIVE\",\"status\":\"live\","
                         "\"isStreaming\":true,\"streamId\":\"st-1\","
                         "\"at\":\"2024-01-01T00:00:00Z\",\"viewerCount\":42}",
                         id, sizeof(id), &st),
        0);
    CHECK_EQ_STR(id, "a1");
    CHECK_EQ_INT(st.known, 1);
    CHECK_EQ_STR(st.stream_status, "LIVE");
    CHECK_EQ_STR(st.status, "live");
    CHECK_EQ_INT(st.is_streaming, 1);
    CHECK_EQ_INT(st.has_stream_id, 1);
    CHECK_EQ_STR(st.stream_id, "st-1");
    CHECK_EQ_INT(st.has_at, 1);
    CHECK_EQ_INT(st.has_viewers, 1);
    CHECK_EQ_INT((int)st.viewers, 42);
}

TEST(parse_partial_and_bad)
{
    struct show_state st;
    char id[37];
    /* nulls and wrong types read as absent */
    CHECK_EQ_INT(show_state_parse("{\"showId\":\"b\",\"streamId\":null,\"isStreaming\":\"yes\","
                                  "\"viewerCount\":\"7\"}",
                                  id, sizeof(id), &st),
                 0);
    CHECK_EQ_INT(st.has_stream_id, 0);
    CHECK_EQ_INT(st.is_streaming, 0);
    CHECK_EQ_INT(st.has_viewers, 0);
    CHECK_EQ_STR(st.status, "");
    CHECK_EQ_INT(show_state_parse("{\"status\":\"x\"}", id, sizeof(id), &st), -1);
    CHECK_EQ_INT(show_state_parse("[1]", id, sizeof(id), &st), -1);
    CHECK_EQ_INT(show_state_parse("not json", id, sizeof(id), &st), -1);
}

TEST(same_and_json)
{
    struct show_state a, b;
    char id[37];
    const char *p = "{\"showId\":\"c\",\"status\":\"live\",\"viewerCount\":1}";
    CHECK_EQ_INT(show_state_parse(p, id, sizeof(id), &a), 0);
    CHECK_EQ_INT(show_state_parse(p, id, sizeof(id), &b), 0);
    b.viewers = 9; /* the viewer count does not count */
    CHECK_EQ_INT(show_state_same(&a, &b), 1);
    snprintf(b.status, sizeof(b.status), "ended");
    CHECK_EQ_INT(show_state_same(&a, &b), 0);
    b = a;
    b.known = 0;
    CHECK_EQ_INT(show_state_same(&a, &b), 0);
    struct json_object *o = show_state_json("c", &a);
    CHECK_EQ_STR(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                 "{\"showId\":\"c\",\"streamStatus\":\"\",\"isStreaming\":false,\"status\":"
                 "\"live\",\"viewerCount\":1,\"streamId\":null,\"at\":null}");
    json_object_put(o);
}

int main(void)
{
    RUN(parse_full);
    RUN(parse_partial_and_bad);
    RUN(same_and_json);
    T_END("show_state");
}
