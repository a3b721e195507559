#include "http_server.h"
#include "t.h"

/* http_path_match: "*" is one non-empty segment (the event stream routes, sse.c) */
TEST(path_patterns)
{
    CHECK_EQ_INT(http_path_match("/v1/stream", "/v1/stream"), 1);
    CHECK_EQ_INT(http_path_match("/v1/stream", "/v1/stream/"), 0);
    CHECK_EQ_INT(http_path_match("/v1/stream", "/v1/strea"), 0);
    const char *p = "/v1/shows/*/stream";
    CHECK_EQ_INT(http_path_match(p, "/v1/shows/0b6f2f1e-2a1f-4bb5-9d0e-7d1c4a3b2a10/stream"), 1);
    CHECK_EQ_INT(http_path_match(p, "/v1/shows/x/stream"), 1);
    CHECK_EQ_INT(http_path_match(p, "/v1/shows//stream"), 0);
    CHECK_EQ_INT(http_path_match(p, "/v1/shows/a/b/stream"), 0);
    CHECK_EQ_INT(http_path_match(p, "/v1/shows/a/stream/"), 0);
    CHECK_EQ_INT(http_path_match(p, "/v1/shows/a/streams"), 0);
    CHECK_EQ_INT(http_path_match(p, "/v1/shows/a"), 0);
    CHECK_EQ_INT(http_path_match("/v1/*", "/v1/a"), 1);
    CHECK_EQ_INT(http_path_match("/v1/*", "/v1/"), 0);
    CHECK_EQ_INT(http_path_match("/", "/"), 1);
}

int main(void)
{
    RUN(path_patterns);
    T_END("http_path");
}
