#include <stdlib.h>
#include <string.h>

#include "ivsevent.h"
#include "t.h"

static const char *testdata = "tests/fixtures";

#define ARN       "arn:aws:ivs:us-east-1:123456789012:channel/AbCdef1G2hij"
#define STREAM_ID "st-1A2b3c4D5e6F78ghij9Klmn"
/* 2024-09-09T16:17:26Z */
#define T_US INT64_C(1725898646000000)

static char *load(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/ivs-events/%s", testdata, name);
    char *s = t_read_file(path, len);
    if (!s)
        fprintf(stderr, "  cannot read %s\n", path);
    return s;
}

static int parse_file(const char *name, struct ivsevent *ev, char *err, size_t errlen)
{
    size_t len = 0;
    char *s = load(name, &len);
    if (!s)
        return -2;
    int rc = ivsevent_parse(s, len, 0, ev, err, errlen);
    if (rc != 0)
        fprintf(stderr, "  %s: %s\n", name, err);
    free(s);
    return rc;
}

static void check_common(const struct ivsevent *ev)
{
    CHECK_STR(ev->id, "01234567-0123-0123-0123-012345678901");
    CHECK_STR(ev->account, "123456789012");
    CHECK_STR(ev->time, "2024-09-09T16:17:26Z");
    CHECK(ev->time_us == T_US);
}

static void check_channel(const struct ivsevent *ev, const char *region)
{
    CHECK(ev->has_channel == 1);
    CHECK_STR(ev->channel.region, region);
    CHECK_STR(ev->channel.account, "123456789012");
    CHECK_STR(ev->channel.id, "AbCdef1G2hij");
}

TEST(file_stream_start)
{
    struct ivsevent ev;
    char err[128];
    REQUIRE(parse_file("stream-start.json", &ev, err, sizeof(err)) == 0);
    check_common(&ev);
    check_channel(&ev, "us-east-1");
    CHECK_STR(ev.channel.arn, ARN);
    CHECK_EQ_INT(ev.kind, IVSEVENT_STREAM_START);
    CHECK_STR(ev.detail_type, "IVS Stream State Change");
    CHECK_STR(ev.event_name, "Stream Start");
    CHECK_STR(ev.stream_id, STREAM_ID);
    CHECK_STR(ev.health, "");
    CHECK_STR(ivsevent_kind_name(ev.kind), "stream_start");
}

TEST(file_stream_end)
{
    struct ivsevent ev;
    char err[128];
    REQUIRE(parse_file("stream-end.json", &ev, err, sizeof(err)) == 0);
    check_common(&ev);
    check_channel(&ev, "us-east-1");
    CHECK_EQ_INT(ev.kind, IVSEVENT_STREAM_END);
    CHECK_STR(ev.event_name, "Stream End");
    CHECK_STR(ev.stream_id, STREAM_ID);
}

TEST(file_starvation_start)
{
    struct ivsevent ev;
    char err[128];
    REQUIRE(parse_file("starvation-start.json", &ev, err, sizeof(err)) == 0);
    check_common(&ev);
    check_channel(&ev, "us-east-1");
    CHECK_EQ_INT(ev.kind, IVSEVENT_HEALTH);
    CHECK_STR(ev.detail_type, "IVS Stream Health Change");
    CHECK_STR(ev.event_name, "Starvation Start");
    CHECK_STR(ev.health, "STARVING");
    CHECK_STR(ev.stream_id, STREAM_ID);
}

TEST(file_checks)
{
    static const char *files[] = {"session-ended.json", "stream-failure.json",
                                  "stream-takeover-failure.json"};
    static const char *names[] = {"Session Ended", "Stream Failure", "Stream Takeover Failure"};
    for (size_t i = 0; i < 3; i++) {
        struct ivsevent ev;
        char err[128];
        REQUIRE(parse_file(files[i], &ev, err, sizeof(err)) == 0);
        check_common(&ev);
        check_channel(&ev, "us-east-1");
        CHECK_EQ_INT(ev.kind, IVSEVENT_STREAM_CHECK);
        CHECK_STR(ev.event_name, names[i]);
        CHECK_STR(ev.stream_id, STREAM_ID);
    }
}

TEST(file_others)
{
    struct ivsevent ev;
    char err[128];
    REQUIRE(parse_file("session-created.json", &ev, err, sizeof(err)) == 0);
    check_common(&ev);
    check_channel(&ev, "us-east-1");
    CHECK_EQ_INT(ev.kind, IVSEVENT_OTHER);
    CHECK_STR(ev.event_name, "Session Created");
    CHECK_STR(ev.stream_id, STREAM_ID);

    REQUIRE(parse_file("recording-end.json", &ev, err, sizeof(err)) == 0);
    check_common(&ev);
    check_channel(&ev, "us-west-2");
    CHECK_EQ_INT(ev.kind, IVSEVENT_OTHER);
    CHECK_STR(ev.detail_type, "IVS Recording State Change");
    CHECK_STR(ev.event_name, "");
    CHECK_STR(ev.stream_id, STREAM_ID);

    REQUIRE(parse_file("limit-breach-ingest-bitrate.json", &ev, err, sizeof(err)) == 0);
    check_common(&ev);
    check_channel(&ev, "us-east-1");
    CHECK_EQ_INT(ev.kind, IVSEVENT_OTHER);
    CHECK_STR(ev.detail_type, "IVS Limit Breach");
    CHECK_STR(ev.stream_id, STREAM_ID);

    /* account-wide breach: no channel */
    REQUIRE(parse_file("limit-breach-concurrent-broadcasts.json", &ev, err, sizeof(err)) == 0);
    check_common(&ev);
    CHECK_EQ_INT(ev.kind, IVSEVENT_OTHER);
    CHECK_EQ_INT(ev.has_channel, 0);
    CHECK_STR(ev.channel.arn, "");
    CHECK_STR(ev.stream_id, "");
    CHECK_STR(ivsevent_kind_name(ev.kind), "other");
}

/* every file in the directory parses */
TEST(file_all)
{
    static const char *files[] = {
        "limit-breach-concurrent-broadcasts.json",
        "limit-breach-ingest-bitrate.json",
        "recording-end.json",
        "session-created.json",
        "session-ended.json",
        "starvation-start.json",
        "stream-end.json",
        "stream-failure.json",
        "stream-takeover-failure.json",
        "stream-start.json",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct ivsevent ev;
        char err[128];
        CHECK_EQ_INT(parse_file(files[i], &ev, err, sizeof(err)), 0);
    }
}

/* ---- synthetic events ---- */

struct fields {
    const char *id, *source, *dtype, *time, *account, *resources, *detail;
};

static const struct fields base = {
    "\"ev-1\"",
    "\"aws.ivs\"",
    "\"IVS Stream State Change\"",
    "\"2024-09-09T16:17:26Z\"",
    "\"123456789012\"",
    "[\"" ARN "\"]",
    "{\"event_name\":\"Stream Start\",\"stream_id\":\"" STREAM_ID "\"}",
};

/* builds the JSON; a NULL field is left out */
static char *build(const struct fields *f)
{
    size_t cap = 4096;
    const char *parts[] = {f->id,      f->source,    f->dtype, f->time,
                           f->account, f->resources, f->detail};
    for (size_t i = 0; i < 7; i++)
        cap += parts[i] ? strlen(parts[i]) : 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    static const char *keys[] = {"id",      "source",    "detail-type", "time",
                                 "account", "resources", "detail"};
    size_t o = (size_t)snprintf(s, cap, "{\"version\":\"0\",\"region\":\"us-east-1\"");
    for (size_t i = 0; i < 7; i++) {
        if (parts[i])
            o += (size_t)snprintf(s + o, cap - o, ",\"%s\":%s", keys[i], parts[i]);
    }
    snprintf(s + o, cap - o, "}");
    return s;
}

static int parse_fields(const struct fields *f, struct ivsevent *ev, char *err, size_t errlen)
{
    char *s = build(f);
    if (!s)
        return -2;
    int rc = ivsevent_parse(s, strlen(s), 0, ev, err, errlen);
    free(s);
    return rc;
}

static void expect_bad(const struct fields *f, const char *want)
{
    struct ivsevent ev;
    char err[128] = "";
    memset(&ev, 0x33, sizeof(ev));
    int rc = parse_fields(f, &ev, err, sizeof(err));
    CHECK_EQ_INT(rc, -1);
    CHECK(err[0] != '\0');
    if (rc == -1 && want && !strstr(err, want)) {
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, want);
        CHECK(0);
    }
    if (rc == 0) {
        char *s = build(f);
        fprintf(stderr, "  accepted: %s\n", s ? s : "?");
        free(s);
    }
    CHECK(ev.id[0] == '\0' && ev.kind == IVSEVENT_OTHER);
}

static void expect_bad_raw(const char *json, size_t len, const char *want)
{
    struct ivsevent ev;
    char err[128] = "";
    int rc = ivsevent_parse(json, len, 0, &ev, err, sizeof(err));
    CHECK_EQ_INT(rc, -1);
    CHECK(err[0] != '\0');
    if (rc == -1 && want && !strstr(err, want)) {
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, want);
        CHECK(0);
    }
}

TEST(synthetic_ok)
{
    struct ivsevent ev;
    char err[128] = "";
    REQUIRE(parse_fields(&base, &ev, err, sizeof(err)) == 0);
    CHECK_EQ_INT(ev.kind, IVSEVENT_STREAM_START);
    CHECK_STR(ev.id, "ev-1");

    struct fields f = base;
    f.detail = "{\"event_name\":\"Stream Takeover\"}"; /* stream_id optional */
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK_EQ_INT(ev.kind, IVSEVENT_STREAM_CHECK);
    CHECK_STR(ev.stream_id, "");

    f.detail = "{\"event_name\":\"Something New\"}";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK_EQ_INT(ev.kind, IVSEVENT_OTHER);
    CHECK_STR(ev.event_name, "Something New");

    f = base;
    f.dtype = "\"IVS Stream Health Change\"";
    f.detail = "{\"event_name\":\"Starvation End\",\"stream_id\":\"st-1\"}";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK_EQ_INT(ev.kind, IVSEVENT_HEALTH);
    CHECK_STR(ev.health, "HEALTHY");
    CHECK_STR(ivsevent_kind_name(ev.kind), "health");

    f.detail = "{\"event_name\":\"Stream Start\"}"; /* health type, unknown name */
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK_EQ_INT(ev.kind, IVSEVENT_OTHER);
    CHECK_STR(ev.health, "");

    /* other detail types: no event_name, odd stream_id is ignored, not fatal */
    f = base;
    f.dtype = "\"IVS Future Thing\"";
    f.detail = "{\"stream_id\":42,\"event_name\":7}";
    f.resources = "[]";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK_EQ_INT(ev.kind, IVSEVENT_OTHER);
    CHECK_STR(ev.event_name, "");
    CHECK_STR(ev.stream_id, "");
    CHECK(!ev.has_channel);

    /* fractional seconds, whitespace around the object */
    f = base;
    f.time = "\"2024-09-09T16:17:26.123456789Z\"";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK(ev.time_us == T_US + 123456);
    CHECK_STR(ev.time, "2024-09-09T16:17:26.123456Z"); /* cut (never rounded) for SQL */
    f.time = "\"2024-09-09T16:17:26.1234567Z\"";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK_STR(ev.time, "2024-09-09T16:17:26.123456Z");
    f.time = "\"2024-09-09T16:17:26.123456Z\"";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK_STR(ev.time, "2024-09-09T16:17:26.123456Z");
    f.time = "\"2024-09-09T16:17:26.5Z\"";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK(ev.time_us == T_US + 500000);
    f.time = "\"1970-01-01T00:00:00Z\"";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK_EQ_INT(ev.time_us, 0);
    f.time = "\"2024-02-29T00:00:00Z\"";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK(ev.time_us == INT64_C(1709164800000000));
    f.time = "\"2000-02-29T23:59:59Z\"";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK(ev.time_us == INT64_C(951868799000000));
    f.time = "\"1969-12-31T23:59:59.999999Z\"";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK_EQ_INT(ev.time_us, -1);

    const char *ws = " \n{\"id\":\"x\",\"source\":\"aws.ivs\",\"detail-type\":\"X\",\"time\":"
                     "\"2024-09-09T16:17:26Z\",\"account\":\"123456789012\",\"resources\":[],"
                     "\"detail\":{}}\r\n\t ";
    REQUIRE(ivsevent_parse(ws, strlen(ws), 0, &ev, err, sizeof(err)) == 0);
    CHECK_STR(ev.detail_type, "X");

    /* not NUL-terminated input: the length is honoured */
    char *s = build(&base);
    REQUIRE(s);
    size_t n = strlen(s);
    char *copy = malloc(n);
    REQUIRE(copy);
    memcpy(copy, s, n);
    CHECK_EQ_INT(ivsevent_parse(copy, n, 0, &ev, err, sizeof(err)), 0);
    CHECK_EQ_INT(ivsevent_parse(copy, n - 1, 0, &ev, err, sizeof(err)), -1);
    free(copy);
    free(s);
}

TEST(hostile_fields)
{
    struct fields f;
#define BAD(field, value, want)                                                                    \
    do {                                                                                           \
        f = base;                                                                                  \
        f.field = value;                                                                           \
        expect_bad(&f, want);                                                                      \
    } while (0)
    BAD(source, "\"aws.s3\"", "source");
    BAD(source, "\"aws.ivs \"", "source");
    BAD(source, "\"AWS.IVS\"", "source");
    BAD(source, "\"aws.ivs\\u0000\"", "source");
    BAD(source, "null", "source");
    BAD(source, NULL, "source");
    BAD(id, NULL, "id");
    BAD(id, "\"\"", "id");
    BAD(id, "123", "id");
    BAD(id, "null", "id");
    BAD(id, "\"has space\"", "id");
    BAD(id, "\"tab\\there\"", "id");
    BAD(id, "\"nul\\u0000\"", "id");
    BAD(id, "\"caf\\u00e9\"", "id");
    BAD(dtype, NULL, "detail-type");
    BAD(dtype, "[]", "detail-type");
    BAD(dtype, "\"\"", "detail-type");
    BAD(dtype, "\"line\\nbreak\"", "detail-type");
    BAD(account, NULL, "account");
    BAD(account, "123456789012", "account");
    BAD(account, "\"12345678901\"", "account");
    BAD(account, "\"1234567890123\"", "account");
    BAD(account, "\"12345678901x\"", "account");
    BAD(account, "\"999999999999\"", "account"); /* differs from the ARN's */
    BAD(detail, NULL, "detail");
    BAD(detail, "\"x\"", "detail");
    BAD(detail, "[]", "detail");
    BAD(detail, "null", "detail");
    /* resources */
    BAD(resources, NULL, "resources");
    BAD(resources, "[]", "resources");
    BAD(resources, "\"" ARN "\"", "resources");
    BAD(resources, "{\"0\":\"" ARN "\"}", "resources");
    BAD(resources, "[1]", "resources");
    BAD(resources, "[null]", "resources");
    BAD(resources, "[[\"" ARN "\"]]", "resources");
    BAD(resources, "[\"arn:aws:ivs:us-east-1:123456789012:channel/\"]", "resources");
    BAD(resources, "[\"arn:aws:ivs:us-east-1:123456789012:stream-key/abc\"]", "resources");
    BAD(resources, "[\"arn:aws:ivs:us-east-1:123456789012:channel/abc/def\"]", "resources");
    BAD(resources, "[\"" ARN "\\u0000x\"]", "resources");
    BAD(resources, "[\"" ARN " \"]", "resources");
    BAD(resources, "[\"not an arn\", \"" ARN "\"]", "resources");
    /* stream_id */
    BAD(detail, "{\"event_name\":\"Stream Start\"}", "stream_id");
    BAD(detail, "{\"event_name\":\"Stream End\"}", "stream_id");
    BAD(detail, "{\"event_name\":\"Stream Start\",\"stream_id\":123}", "stream_id");
    BAD(detail, "{\"event_name\":\"Stream Start\",\"stream_id\":null}", "stream_id");
    BAD(detail, "{\"event_name\":\"Stream Start\",\"stream_id\":[\"st-1\"]}", "stream_id");
    BAD(detail, "{\"event_name\":\"Stream Start\",\"stream_id\":\"\"}", "stream_id");
    BAD(detail, "{\"event_name\":\"Stream Start\",\"stream_id\":\"st 1\"}", "stream_id");
    BAD(detail, "{\"event_name\":\"Stream Start\",\"stream_id\":\"st-1'; --\"}", "stream_id");
    BAD(detail, "{\"event_name\":\"Stream End\",\"stream_id\":{}}", "stream_id");
    BAD(detail, "{\"event_name\":\"Stream Failure\",\"stream_id\":5}", "stream_id");
    BAD(detail, "{\"event_name\":1,\"stream_id\":\"st-1\"}", "event_name");
    BAD(detail, "{\"stream_id\":\"st-1\"}", "event_name");
    BAD(detail, "{\"event_name\":\"\",\"stream_id\":\"st-1\"}", "event_name");
    {
        char big[400];
        int o = snprintf(big, sizeof(big), "{\"event_name\":\"Stream Start\",\"stream_id\":\"");
        memset(big + o, 'a', 129);
        snprintf(big + o + 129, sizeof(big) - (size_t)o - 129, "\"}");
        BAD(detail, big, "stream_id");
    }
    /* time */
    BAD(time, NULL, "time");
    BAD(time, "1725898646", "time");
    BAD(time, "\"2024-09-09T16:17:26\"", "time");       /* no Z */
    BAD(time, "\"2024-09-09T16:17:26+00:00\"", "time"); /* offset */
    BAD(time, "\"2024-09-09T16:17:26z\"", "time");
    BAD(time, "\"2024-09-09t16:17:26Z\"", "time");
    BAD(time, "\"2024-09-09 16:17:26Z\"", "time");
    BAD(time, "\"2024-13-09T16:17:26Z\"", "time"); /* 13th month */
    BAD(time, "\"2024-00-09T16:17:26Z\"", "time");
    BAD(time, "\"2024-02-30T16:17:26Z\"", "time");
    BAD(time, "\"2023-02-29T16:17:26Z\"", "time");
    BAD(time, "\"1900-02-29T16:17:26Z\"", "time");
    BAD(time, "\"2024-04-31T16:17:26Z\"", "time");
    BAD(time, "\"2024-09-00T16:17:26Z\"", "time");
    BAD(time, "\"2024-09-09T24:00:00Z\"", "time");
    BAD(time, "\"2024-09-09T16:60:26Z\"", "time");
    BAD(time, "\"2024-09-09T16:17:60Z\"", "time");
    BAD(time, "\"2024-09-09T16:17Z\"", "time");
    BAD(time, "\"2024-09-09\"", "time");
    BAD(time, "\"abcd-ef-ghTij:kl:mnZ\"", "time"); /* letters */
    BAD(time, "\"2024-O9-09T16:17:26Z\"", "time");
    BAD(time, "\"2024-09-09T16:17:26.Z\"", "time");
    BAD(time, "\"2024-09-09T16:17:26.1234567890Z\"", "time");
    BAD(time, "\"2024-09-09T16:17:26.12a4Z\"", "time");
    BAD(time, "\"2024-09-09T16:17:26ZZ\"", "time");
    BAD(time, "\"2024-09-09T16:17:26Z \"", "time");
    BAD(time, "\" 2024-09-09T16:17:26Z\"", "time");
    BAD(time, "\"+2024-09-09T16:17:26Z\"", "time");
    BAD(time, "\"-024-09-09T16:17:26Z\"", "time");
    BAD(time, "\"0000-01-01T00:00:00Z\"", "time");
    BAD(time, "\"2024-09-09T16:17:26Z\\u0000\"", "time");
    BAD(time, "\"\"", "time");
#undef BAD
}

TEST(hostile_json)
{
    char *s = build(&base);
    REQUIRE(s);
    size_t n = strlen(s);
    struct ivsevent ev;
    char err[128];
    REQUIRE(ivsevent_parse(s, n, 0, &ev, err, sizeof(err)) == 0);

    /* truncated at every length */
    for (size_t k = 0; k < n; k++) {
        int rc = ivsevent_parse(s, k, 0, &ev, err, sizeof(err));
        CHECK_EQ_INT(rc, -1);
    }
    expect_bad_raw(s, n - 1, "truncated");
    expect_bad_raw("", 0, "empty");
    CHECK_EQ_INT(ivsevent_parse(NULL, 5, 0, &ev, err, sizeof(err)), -1);
    CHECK_EQ_INT(ivsevent_parse(s, n, 0, NULL, err, sizeof(err)), -1);
    CHECK(ivsevent_parse("x", 1, 0, &ev, NULL, 0) == -1);

    /* trailing garbage */
    char *t = malloc(n + 16);
    REQUIRE(t);
    snprintf(t, n + 16, "%sx", s);
    expect_bad_raw(t, strlen(t), "trailing");
    snprintf(t, n + 16, "%s{}", s);
    expect_bad_raw(t, strlen(t), NULL);
    snprintf(t, n + 16, "%s,", s);
    expect_bad_raw(t, strlen(t), NULL);
    /* NUL byte after the object, length covering it */
    memcpy(t, s, n);
    t[n] = '\0';
    t[n + 1] = 'x';
    expect_bad_raw(t, n + 2, "NUL");
    /* NUL inside */
    memcpy(t, s, n + 1);
    t[10] = '\0';
    expect_bad_raw(t, n, "NUL");
    free(t);

    /* not an object */
    expect_bad_raw("[]", 2, "object");
    expect_bad_raw("\"aws.ivs\"", 9, "object");
    expect_bad_raw("null", 4, NULL);
    expect_bad_raw("42", 2, NULL);
    expect_bad_raw("{\"id\":}", 7, "JSON");

    /* non-UTF-8 bytes in a value */
    struct fields f = base;
    f.id = "\"ev-\xff\xfe\"";
    expect_bad(&f, "UTF-8");
    f = base;
    f.detail = "{\"event_name\":\"Stream Start\",\"stream_id\":\"" STREAM_ID
               "\",\"channel_name\":\"\xc3\x28\"}";
    expect_bad(&f, "UTF-8");
    f.detail = "{\"event_name\":\"Stream Start\",\"stream_id\":\"" STREAM_ID
               "\",\"channel_name\":\"\xed\xa0\x80\"}"; /* surrogate */
    expect_bad(&f, "UTF-8");
    f.detail = "{\"event_name\":\"Stream Start\",\"stream_id\":\"" STREAM_ID
               "\",\"channel_name\":\"\xc0\xaf\"}"; /* overlong '/' */
    expect_bad(&f, "UTF-8");
    f.detail = "{\"event_name\":\"Stream Start\",\"stream_id\":\"" STREAM_ID
               "\",\"channel_name\":\"\xe0\x80\xaf\"}"; /* overlong, 3 bytes */
    expect_bad(&f, "UTF-8");
    f.detail = "{\"event_name\":\"Stream Start\",\"stream_id\":\"" STREAM_ID
               "\",\"channel_name\":\"\xf4\x90\x80\x80\"}"; /* above U+10FFFF */
    expect_bad(&f, "UTF-8");
    f.detail = "{\"event_name\":\"Stream Start\",\"stream_id\":\"" STREAM_ID
               "\",\"channel_name\":\"\xe2\x82\"}"; /* cut sequence */
    expect_bad(&f, "UTF-8");
    f.detail = "{\"event_name\":\"Stream Start\",\"stream_id\":\"" STREAM_ID
               "\",\"channel_name\":\"\x80\"}"; /* lone continuation */
    expect_bad(&f, "UTF-8");
    /* but valid UTF-8 in an ignored field is fine */
    f.detail =
        "{\"event_name\":\"Stream Start\",\"stream_id\":\"" STREAM_ID
        "\",\"channel_name\":\"Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xa5 \xf4\x8f\xbf\xbf\"}";
    CHECK_EQ_INT(parse_fields(&f, &ev, err, sizeof(err)), 0);
    free(s);
}

TEST(hostile_size_depth)
{
    struct ivsevent ev;
    char err[128];
    /* nested 1000 deep inside detail */
    size_t depth = 1000;
    char *d = malloc(depth * 2 + 128);
    REQUIRE(d);
    size_t k =
        (size_t)snprintf(d, 128, "{\"event_name\":\"Stream Start\",\"stream_id\":\"st-1\",\"x\":");
    for (size_t i = 0; i < depth; i++)
        d[k++] = '[';
    for (size_t i = 0; i < depth; i++)
        d[k++] = ']';
    d[k++] = '}';
    d[k] = '\0';
    struct fields f = base;
    f.detail = d;
    expect_bad(&f, "deep");
    free(d);
    /* 1000 deep as the whole document */
    d = malloc(depth * 6 + 8);
    REQUIRE(d);
    k = 0;
    for (size_t i = 0; i < depth; i++) {
        memcpy(d + k, "{\"a\":", 5);
        k += 5;
    }
    d[k++] = '1';
    for (size_t i = 0; i < depth; i++)
        d[k++] = '}';
    expect_bad_raw(d, k, "deep");
    free(d);

    /* max_depth is honoured: json-c counts values as a level, so {"resources":["arn"]} is 3 */
    char *s = build(&base);
    REQUIRE(s);
    CHECK_EQ_INT(ivsevent_parse(s, strlen(s), 1, &ev, err, sizeof(err)), -1);
    CHECK_EQ_INT(ivsevent_parse(s, strlen(s), 2, &ev, err, sizeof(err)), -1);
    CHECK_EQ_INT(ivsevent_parse(s, strlen(s), 3, &ev, err, sizeof(err)), 0);
    CHECK_EQ_INT(ivsevent_parse(s, strlen(s), 1 << 30, &ev, err, sizeof(err)), 0); /* clamped */
    free(s);

    /* 1 MiB string: in id, and in an ignored detail field */
    size_t big = 1 << 20;
    char *v = malloc(big + 3);
    REQUIRE(v);
    v[0] = '"';
    memset(v + 1, 'a', big);
    v[big + 1] = '"';
    v[big + 2] = '\0';
    f = base;
    f.id = v;
    expect_bad(&f, "too large");
    char *dd = malloc(big + 128);
    REQUIRE(dd);
    snprintf(dd, big + 128, "{\"event_name\":\"Stream Start\",\"stream_id\":\"st-1\",\"x\":%s}", v);
    f = base;
    f.detail = dd;
    expect_bad(&f, "too large");
    free(dd);
    free(v);

    /* a long id under the size limit */
    char id[300];
    id[0] = '"';
    memset(id + 1, 'i', 129);
    id[130] = '"';
    id[131] = '\0';
    f = base;
    f.id = id;
    expect_bad(&f, "id");
    id[129] = '"';
    id[130] = '\0'; /* exactly 128 */
    CHECK_EQ_INT(parse_fields(&f, &ev, err, sizeof(err)), 0);
    CHECK_EQ_SIZE(strlen(ev.id), 128);
    /* long detail-type */
    char dt[300];
    dt[0] = '"';
    memset(dt + 1, 'D', 200);
    dt[201] = '"';
    dt[202] = '\0';
    f = base;
    f.dtype = dt;
    expect_bad(&f, "detail-type");
}

TEST(account_allowed)
{
    struct ivsevent ev;
    memset(&ev, 0, sizeof(ev));
    snprintf(ev.account, sizeof(ev.account), "123456789012");
    CHECK_EQ_INT(ivsevent_account_allowed(&ev, NULL), 1);
    CHECK(ivsevent_account_allowed(&ev, "") == 1);
    CHECK(ivsevent_account_allowed(&ev, "123456789012") == 1);
    CHECK(ivsevent_account_allowed(&ev, "111111111111,123456789012") == 1);
    CHECK(ivsevent_account_allowed(&ev, " 111111111111 , 123456789012 ") == 1);
    CHECK(ivsevent_account_allowed(&ev, "123456789012,") == 1);
    CHECK(ivsevent_account_allowed(&ev, "111111111111") == 0);
    CHECK(ivsevent_account_allowed(&ev, "12345678901") == 0);
    CHECK(ivsevent_account_allowed(&ev, "1234567890123") == 0);
    CHECK(ivsevent_account_allowed(&ev, "1123456789012") == 0);
    CHECK(ivsevent_account_allowed(&ev, "123456789012x") == 0);
    CHECK(ivsevent_account_allowed(&ev, ",") == 0);
    CHECK(ivsevent_account_allowed(&ev, " ") == 0);
    CHECK_EQ_INT(ivsevent_account_allowed(NULL, NULL), 0);
    memset(&ev, 0, sizeof(ev));
    CHECK(ivsevent_account_allowed(&ev, ",") == 0); /* empty account never matches an empty entry */
}

TEST(kind_names)
{
    CHECK_STR(ivsevent_kind_name(IVSEVENT_OTHER), "other");
    CHECK_STR(ivsevent_kind_name(IVSEVENT_STREAM_START), "stream_start");
    CHECK_STR(ivsevent_kind_name(IVSEVENT_STREAM_END), "stream_end");
    CHECK_STR(ivsevent_kind_name(IVSEVENT_STREAM_CHECK), "stream_check");
    CHECK_STR(ivsevent_kind_name(IVSEVENT_HEALTH), "health");
    CHECK_STR(ivsevent_kind_name((enum ivsevent_kind)99), "unknown");
}

TEST(future_times)
{
    struct fields f = base;
    struct ivsevent ev;
    char err[256];
    /* the last representable instant stays in year 9999 (PostgreSQL would round
     * ".999999999" up to 10000-01-01) and is far beyond the allowed skew */
    f.time = "\"9999-12-31T23:59:59.999999999Z\"";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK_STR(ev.time, "9999-12-31T23:59:59.999999Z");
    CHECK(!ivsevent_time_ok(&ev, T_US));
    f.time = "\"2024-09-09T16:17:26Z\"";
    REQUIRE(parse_fields(&f, &ev, err, sizeof(err)) == 0);
    CHECK(ivsevent_time_ok(&ev, T_US));                               /* now */
    CHECK(ivsevent_time_ok(&ev, T_US - IVSEVENT_MAX_FUTURE_US));      /* skew: at the bound */
    CHECK(!ivsevent_time_ok(&ev, T_US - IVSEVENT_MAX_FUTURE_US - 1)); /* beyond it */
    CHECK(ivsevent_time_ok(&ev, T_US + INT64_C(86400000000) * 365));  /* the past is fine */
    CHECK(!ivsevent_time_ok(NULL, T_US));
}

int main(int argc, char **argv)
{
    if (argc > 1)
        testdata = argv[1];
    RUN(file_stream_start);
    RUN(file_stream_end);
    RUN(file_starvation_start);
    RUN(file_checks);
    RUN(file_others);
    RUN(file_all);
    RUN(synthetic_ok);
    RUN(hostile_fields);
    RUN(hostile_json);
    RUN(hostile_size_depth);
    RUN(account_allowed);
    RUN(kind_names);
    RUN(future_times);
    T_END("ivsevent");
}
