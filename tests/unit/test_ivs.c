/* Unit tests for the pure parts of ivs (and aws_creds' parsers). */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aws_creds.h"
#include "config.h"
#include "http_client.h"
#include "ivs.h"
#include "metrics.h"
#include "t.h"

#define ARN "arn:aws:ivs:us-west-2:123456789012:channel/abcdEFGH1234"

static void perr(long status, const char *hdr, const char *body, struct ivs_error *e)
{
    ivs_parse_error(status, hdr, body, body ? strlen(body) : 0, e);
}

TEST(error_from_header)
{
    struct ivs_error e;
    perr(404, "ChannelNotBroadcasting:http://internal.amazon.com/coral/com.amazonaws.ivs/",
         "{\"exceptionMessage\":\"Channel is not broadcasting\"}", &e);
    CHECK_EQ_INT(e.outcome, IVS_OFFLINE);
    CHECK_STR(e.code, "ChannelNotBroadcasting");
    CHECK_STR(e.message, "Channel is not broadcasting");

    perr(404, "ResourceNotFoundException:http://x/", "{\"exceptionMessage\":\"no such\"}", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_NOT_FOUND);
    CHECK_STR(e.message, "no such");

    perr(403, "AccessDeniedException", "{\"message\":\"not authorized\"}", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_ACCESS_DENIED);
    CHECK_STR(e.message, "not authorized");

    /* the header wins over the body */
    perr(400, "ThrottlingException:x", "{\"__type\":\"ValidationException\"}", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_THROTTLED);
    CHECK(ivs_error_retryable(&e));
}

TEST(error_from_body)
{
    struct ivs_error e;
    perr(400, NULL,
         "{\"__type\":\"com.amazonaws.ivs#ValidationException:http://x\",\"Message\":\"bad\"}", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_VALIDATION);
    CHECK_STR(e.code, "ValidationException");
    CHECK_STR(e.message, "bad");

    perr(403, "", "{\"code\":\"UnrecognizedClientException\",\"message\":\"no key\"}", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_AUTH);
    CHECK_STR(e.code, "UnrecognizedClientException");

    perr(403, NULL, "{\"__type\":\"InvalidSignatureException\"}", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_AUTH);
    CHECK_STR(e.message, "");

    perr(403, NULL, "{\"__type\":\"ExpiredTokenException\"}", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_AUTH);
    CHECK(!ivs_error_retryable(&e));

    perr(400, NULL, "{\"__type\":\"TooManyRequestsException\"}", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_THROTTLED);

    /* exceptionMessage preferred over message */
    perr(404, NULL,
         "{\"__type\":\"ResourceNotFoundException\",\"message\":\"b\",\"exceptionMessage\":\"a\"}",
         &e);
    CHECK_STR(e.message, "a");
}

TEST(error_from_status)
{
    struct ivs_error e;
    perr(429, NULL, NULL, &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_THROTTLED);
    CHECK_STR(e.code, "HTTP 429");
    perr(503, NULL, "<html>busy</html>", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_RETRYABLE);
    CHECK(ivs_error_retryable(&e));
    perr(500, NULL, "{\"__type\":\"InternalServerException\"}", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_RETRYABLE);
    perr(0, NULL, NULL, &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_RETRYABLE);
    perr(404, NULL, "not json", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_OTHER);
    CHECK(!ivs_error_retryable(&e));
    /* unknown code: classified by status */
    perr(502, "SomethingNew", NULL, &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_RETRYABLE);
    CHECK_STR(e.code, "SomethingNew");
    perr(400, "SomethingNew", NULL, &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_OTHER);
    /* body that is JSON but not an object, wrong types */
    perr(400, NULL, "[1,2]", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_OTHER);
    perr(400, NULL, "{\"__type\":5,\"message\":[]}", &e);
    CHECK_EQ_INT(e.outcome, IVS_ERR_OTHER);
    CHECK_STR(e.message, "");
    /* control characters in a message are neutralised */
    perr(400, "ValidationException", "{\"message\":\"a\\nb\"}", &e);
    CHECK_STR(e.message, "a b");
}

TEST(parse_get_stream)
{
    struct ivs_stream s;
    char err[200];
    const char *body = "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"st-1AbC\","
                       "\"startTime\":\"2024-09-09T16:17:26.123Z\",\"state\":\"LIVE\","
                       "\"health\":\"HEALTHY\",\"viewerCount\":42,\"playbackUrl\":\"https://x\"}}";
    REQUIRE(ivs_parse_get_stream(body, strlen(body), &s, err, sizeof(err)) == 0);
    CHECK_STR(s.channel_arn, ARN);
    CHECK_STR(s.stream_id, "st-1AbC");
    CHECK_EQ_INT(s.start_time_us, 1725898646123000LL);
    CHECK_STR(s.state, "LIVE");
    CHECK_STR(s.health, "HEALTHY");
    CHECK_EQ_INT(s.viewer_count, 42);

    const char *b2 =
        "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"s\",\"viewerCount\":-1}}";
    REQUIRE(ivs_parse_get_stream(b2, strlen(b2), &s, err, sizeof(err)) == 0);
    CHECK_EQ_INT(s.viewer_count, -1);
    CHECK_EQ_INT(s.start_time_us, 0);
    const char *b3 = "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"s\"}}";
    REQUIRE(ivs_parse_get_stream(b3, strlen(b3), &s, err, sizeof(err)) == 0);
    CHECK_EQ_INT(s.viewer_count, -1); /* absent = unknown */
    const char *b4 =
        "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"s\",\"startTime\":1725898646.5}}";
    REQUIRE(ivs_parse_get_stream(b4, strlen(b4), &s, err, sizeof(err)) == 0);
    CHECK_EQ_INT(s.start_time_us, 1725898646500000LL); /* epoch seconds also accepted */
}

TEST(parse_get_stream_malformed)
{
    struct ivs_stream s;
    char err[200];
    const char *bad[] = {
        "",
        "{",
        "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"s\"", /* truncated */
        "[]",
        "{\"stream\":[]}",
        "{\"stream\":{\"streamId\":\"s\"}}",                  /* no channelArn */
        "{\"stream\":{\"channelArn\":\"" ARN "\"}}",          /* no streamId */
        "{\"stream\":{\"channelArn\":7,\"streamId\":\"s\"}}", /* wrong type */
        "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"s\",\"viewerCount\":\"3\"}}",
        "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"s\",\"viewerCount\":1.5}}",
        "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"s\",\"startTime\":\"yesterday\"}}",
        "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"s\",\"startTime\":true}}",
        "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"s\",\"state\":1}}",
        "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"s\"}} trailing",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        int rc = ivs_parse_get_stream(bad[i], strlen(bad[i]), &s, err, sizeof(err));
        if (rc == 0)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
        CHECK_EQ_INT(rc, -1);
        CHECK(err[0] != '\0');
    }
    /* an over-long streamId */
    char big[600];
    int n = snprintf(big, sizeof(big), "{\"stream\":{\"channelArn\":\"%s\",\"streamId\":\"", ARN);
    memset(big + n, 'a', 300);
    snprintf(big + n + 300, sizeof(big) - (size_t)n - 300, "\"}}");
    CHECK_EQ_INT(ivs_parse_get_stream(big, strlen(big), &s, err, sizeof(err)), -1);
}

TEST(parse_list_streams)
{
    struct ivs_stream *st = NULL;
    size_t n = 99;
    char tok[64], err[200];
    const char *body =
        "{\"streams\":[{\"channelArn\":\"" ARN "\",\"streamId\":\"a\",\"state\":\"LIVE\","
        "\"health\":\"STARVING\",\"viewerCount\":-1,"
        "\"startTime\":\"2024-01-01T00:00:00Z\"},"
        "{\"channelArn\":\"arn:aws:ivs:us-west-2:123456789012:channel/x\","
        "\"streamId\":\"b\",\"viewerCount\":5}],\"nextToken\":\"NEXT\"}";
    REQUIRE(ivs_parse_list_streams(body, strlen(body), &st, &n, tok, sizeof(tok), err,
                                   sizeof(err)) == 0);
    REQUIRE(n == 2);
    CHECK_STR(st[0].stream_id, "a");
    CHECK_STR(st[0].health, "STARVING");
    CHECK_EQ_INT(st[0].viewer_count, -1);
    CHECK_EQ_INT(st[0].start_time_us, 1704067200000000LL);
    CHECK_EQ_INT(st[1].viewer_count, 5);
    CHECK_STR(tok, "NEXT");
    free(st);

    const char *last = "{\"streams\":[],\"nextToken\":null}";
    REQUIRE(ivs_parse_list_streams(last, strlen(last), &st, &n, tok, sizeof(tok), err,
                                   sizeof(err)) == 0);
    CHECK(n == 0 && st == NULL);
    CHECK_STR(tok, "");

    const char *bad[] = {
        "{}", /* streams missing: never "all offline" */
        "{\"streams\":{}}",
        "{\"streams\":[],\"nextToken\":5}",
        "{\"streams\":[{\"channelArn\":\"" ARN "\"}]}", /* an element without streamId */
        "{\"streams\":[1]}",
        "{\"streams\":[",
        "null",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        st = NULL;
        CHECK(ivs_parse_list_streams(bad[i], strlen(bad[i]), &st, &n, tok, sizeof(tok), err,
                                     sizeof(err)) == -1);
        CHECK(st == NULL);
    }
    /* a token larger than the buffer is an error, not a silent truncation */
    const char *bt = "{\"streams\":[],\"nextToken\":\"0123456789012345678901234567890123456789"
                     "0123456789012345678901234567890123456789\"}";
    CHECK(ivs_parse_list_streams(bt, strlen(bt), &st, &n, tok, sizeof(tok), err, sizeof(err)) ==
          -1);
}

TEST(iso_time)
{
    int64_t t;
    CHECK(aws_creds_parse_time("1970-01-01T00:00:00Z", &t) == 0 && t == 0);
    CHECK(aws_creds_parse_time("2024-09-09T16:17:26Z", &t) == 0 && t == 1725898646000000LL);
    CHECK(aws_creds_parse_time("2024-09-09T16:17:26.5Z", &t) == 0 && t == 1725898646500000LL);
    CHECK(aws_creds_parse_time("2024-09-09T16:17:26.123456789Z", &t) == 0 &&
          t == 1725898646123456LL);
    CHECK(aws_creds_parse_time("2024-09-09T18:17:26+02:00", &t) == 0 && t == 1725898646000000LL);
    CHECK(aws_creds_parse_time("2024-09-09T14:17:26-02:00", &t) == 0 && t == 1725898646000000LL);
    CHECK(aws_creds_parse_time("2024-02-29T00:00:00Z", &t) == 0);
    CHECK(aws_creds_parse_time("2023-02-29T00:00:00Z", &t) == -1);
    CHECK(aws_creds_parse_time("2024-13-01T00:00:00Z", &t) == -1);
    CHECK(aws_creds_parse_time("2024-09-09T24:00:00Z", &t) == -1);
    CHECK(aws_creds_parse_time("2024-09-09T16:17:26", &t) == -1); /* no zone */
    CHECK(aws_creds_parse_time("2024-09-09T16:17:26.Z", &t) == -1);
    CHECK(aws_creds_parse_time("2024-09-09T16:17:26Zx", &t) == -1);
    CHECK(aws_creds_parse_time("2024-9-9T16:17:26Z", &t) == -1);
    CHECK(aws_creds_parse_time("", &t) == -1);
    CHECK_EQ_INT(aws_creds_parse_time(NULL, &t), -1);
    char buf[40];
    ivs_format_time(1725898646123000LL, buf, sizeof(buf));
    CHECK_STR(buf, "2024-09-09T16:17:26.123Z");
}

TEST(backoff_bounds)
{
    CHECK_EQ_INT(ivs_backoff_us(1, 0), 0);
    for (int r = 1; r <= 40; r++) {
        int64_t cap = 100000;
        for (int i = 1; i < r && cap < 20000000; i++)
            cap *= 2;
        if (cap > 20000000)
            cap = 20000000;
        uint64_t x = 88172645463325252ULL;
        int64_t hi = 0;
        for (int k = 0; k < 2000; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int64_t d = ivs_backoff_us(r, x);
            CHECK(d >= 0 && d <= cap);
            if (d > hi)
                hi = d;
        }
        CHECK(hi > cap / 2); /* full jitter uses the whole range */
        CHECK(ivs_backoff_us(r, UINT64_MAX) <= 20000000);
    }
}

TEST(retry_quota)
{
    struct ivs_retry_quota q = {IVS_RETRY_QUOTA};
    int n = 0;
    while (ivs_quota_acquire(&q, 0) == IVS_RETRY_COST)
        n++;
    CHECK(n == IVS_RETRY_QUOTA / IVS_RETRY_COST);
    CHECK_EQ_INT(q.tokens, 0);
    CHECK_EQ_INT(ivs_quota_acquire(&q, 1), 0);
    ivs_quota_release(&q, 0); /* success without retry: +1 */
    CHECK_EQ_INT(q.tokens, 1);
    ivs_quota_release(&q, IVS_RETRY_COST);
    CHECK_EQ_INT(q.tokens, 6);
    CHECK_EQ_INT(ivs_quota_acquire(&q, 1), 0); /* a timeout costs 10 */
    CHECK_EQ_INT(ivs_quota_acquire(&q, 0), IVS_RETRY_COST);
    q.tokens = IVS_RETRY_QUOTA;
    ivs_quota_release(&q, IVS_RETRY_TIMEOUT_COST);
    CHECK_EQ_INT(q.tokens, IVS_RETRY_QUOTA); /* capped */
}

TEST(creds_json)
{
    struct aws_credentials c;
    char err[200];
    const char *ok = "{\"AccessKeyId\":\"ASIA1\",\"SecretAccessKey\":\"s3cr3t\",\"Token\":\"tok\","
                     "\"Expiration\":\"2030-01-01T00:00:00Z\",\"RoleArn\":\"x\"}";
    REQUIRE(aws_creds_parse_json(ok, strlen(ok), &c, err, sizeof(err)) == 0);
    CHECK_STR(c.access_key_id, "ASIA1");
    CHECK_STR(c.secret_access_key, "s3cr3t");
    CHECK_STR(c.session_token, "tok");
    CHECK_EQ_INT(c.expiration_us, 1893456000000000LL);
    const char *bad[] = {
        "{\"SecretAccessKey\":\"s3cr3t\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":5}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s3cr3t\",\"Expiration\":\"soon\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"\"}",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(aws_creds_parse_json(bad[i], strlen(bad[i]), &c, err, sizeof(err)), -1);
        CHECK(strstr(err, "s3cr3t") == NULL); /* never a secret in an error */
    }
}

TEST(creds_full_uri)
{
    char err[200];
    CHECK(aws_creds_check_full_uri("https://creds.example.com/x", err, sizeof(err)) == 0);
    CHECK(aws_creds_check_full_uri("http://127.0.0.1:8080/creds", err, sizeof(err)) == 0);
    CHECK(aws_creds_check_full_uri("http://127.1.2.3/creds", err, sizeof(err)) == 0);
    CHECK(aws_creds_check_full_uri("http://localhost/creds", err, sizeof(err)) == 0);
    CHECK(aws_creds_check_full_uri("http://[::1]:9/creds", err, sizeof(err)) == 0);
    CHECK(aws_creds_check_full_uri("http://169.254.170.2/v2/credentials", err, sizeof(err)) == 0);
    CHECK(aws_creds_check_full_uri("http://169.254.170.23/v1/credentials", err, sizeof(err)) == 0);
    CHECK(aws_creds_check_full_uri("http://[fd00:ec2::23]/v1/credentials", err, sizeof(err)) == 0);
    CHECK(aws_creds_check_full_uri("http://example.com/creds", err, sizeof(err)) == -1);
    CHECK(strstr(err, "example.com") != NULL);
    CHECK(aws_creds_check_full_uri("http://127.0.0.1.evil.com/", err, sizeof(err)) == -1);
    CHECK(aws_creds_check_full_uri("http://169.254.169.254/", err, sizeof(err)) == -1);
    CHECK(aws_creds_check_full_uri("ftp://127.0.0.1/", err, sizeof(err)) == -1);
    CHECK(aws_creds_check_full_uri("not a url", err, sizeof(err)) == -1);
}

TEST(creds_refresh_delay)
{
    int64_t s = 1000000;
    CHECK_EQ_INT(aws_creds_refresh_delay(0, 0), -1);
    CHECK(aws_creds_refresh_delay(0, 3600 * s) == 3300 * s); /* 5 min before */
    CHECK(aws_creds_refresh_delay(0, 4 * s) == 2 * s);       /* half when short */
    CHECK(aws_creds_refresh_delay(0, 600 * s) == 300 * s);
    CHECK_EQ_INT(aws_creds_refresh_delay(10 * s, 5 * s), 100000); /* expired: soon */
}

TEST(outcome_names)
{
    CHECK_STR(ivs_outcome_name(IVS_OK), "ok");
    CHECK_STR(ivs_outcome_name(IVS_OFFLINE), "offline");
    CHECK_STR(ivs_outcome_name(IVS_ERR_THROTTLED), "throttled");
    CHECK_STR(ivs_outcome_name(IVS_ERR_BUSY), "busy");
}

TEST(read_answer)
{
    struct ivs_error e;
    struct ivs_stream st;
    const char *live = "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"s\","
                       "\"state\":\"LIVE\"}}";
    struct ivs_answer a = {.status = 200, .body = live, .len = strlen(live)};
    ivs_read_get_answer(&a, &st, &e);
    CHECK(e.outcome == IVS_OK);
    CHECK_STR(st.stream_id, "s");

    const char *off = "{\"stream\":{\"channelArn\":\"" ARN "\",\"streamId\":\"s\","
                      "\"state\":\"OFFLINE\"}}";
    a.body = off;
    a.len = strlen(off);
    ivs_read_get_answer(&a, &st, &e);
    CHECK(e.outcome == IVS_OFFLINE);

    /* a 200 that is not a stream: never "live" nor "offline" */
    a.body = "[1]";
    a.len = 3;
    ivs_read_get_answer(&a, &st, &e);
    CHECK(e.outcome == IVS_ERR_OTHER);
    CHECK_STR(e.code, "MalformedAnswer");
    CHECK(e.message[0] != '\0');

    struct ivs_answer t = {.failed = 1, .transport_error = "timeout: 10000 ms"};
    ivs_read_get_answer(&t, &st, &e);
    CHECK(e.outcome == IVS_ERR_RETRYABLE && ivs_error_retryable(&e));
    CHECK_STR(e.code, "TransportError");
    CHECK_STR(e.message, "timeout: 10000 ms");

    const char *nf = "{\"message\":\"no such channel\"}";
    struct ivs_answer h = {.status = 404,
                           .error_type = "ResourceNotFoundException:http://x",
                           .body = nf,
                           .len = strlen(nf)};
    ivs_read_get_answer(&h, &st, &e);
    CHECK(e.outcome == IVS_ERR_NOT_FOUND);
    CHECK_STR(e.message, "no such channel");

    struct ivs_stream *page = NULL;
    size_t n = 9;
    char tok[32];
    const char *list = "{\"streams\":[{\"channelArn\":\"" ARN "\",\"streamId\":\"a\"}],"
                       "\"nextToken\":\"T\"}";
    struct ivs_answer l = {.status = 200, .body = list, .len = strlen(list)};
    ivs_read_list_answer(&l, &page, &n, tok, sizeof(tok), &e);
    CHECK(e.outcome == IVS_OK && n == 1);
    CHECK_STR(tok, "T");
    free(page);
    l.body = "{}";
    l.len = 2;
    ivs_read_list_answer(&l, &page, &n, tok, sizeof(tok), &e);
    CHECK(e.outcome == IVS_ERR_OTHER && page == NULL);
    struct ivs_answer thr = {.status = 400, .error_type = "ThrottlingException"};
    ivs_read_list_answer(&thr, &page, &n, tok, sizeof(tok), &e);
    CHECK(e.outcome == IVS_ERR_THROTTLED);
}

TEST(url_and_body)
{
    char url[128];
    REQUIRE(ivs_build_url(NULL, "us-west-2", "GetStream", url, sizeof(url)) == 0);
    CHECK_STR(url, "https://ivs.us-west-2.amazonaws.com/GetStream");
    REQUIRE(ivs_build_url(NULL, "cn-north-1", "ListStreams", url, sizeof(url)) == 0);
    CHECK_STR(url, "https://ivs.cn-north-1.amazonaws.com.cn/ListStreams");
    REQUIRE(ivs_build_url("http://127.0.0.1:9", "us-west-2", "GetStream", url, sizeof(url)) == 0);
    CHECK_STR(url, "http://127.0.0.1:9/GetStream");
    CHECK(ivs_build_url(NULL, "us-west-2", "GetStream", url, 20) == -1);

    size_t n = 0;
    char *b = ivs_request_body(ARN, NULL, &n);
    REQUIRE(b != NULL);
    /* json-c escapes '/' (valid JSON; what IVS has always been sent) */
    CHECK_STR(b, "{\"channelArn\":\"arn:aws:ivs:us-west-2:123456789012:channel\\/abcdEFGH1234\"}");
    CHECK(n == strlen(b));
    free(b);
    b = ivs_request_body(NULL, "", &n);
    REQUIRE(b != NULL);
    CHECK_STR(b, "{\"maxResults\":100}");
    free(b);
    b = ivs_request_body(NULL, "NEXT\"", &n);
    REQUIRE(b != NULL);
    CHECK_STR(b, "{\"maxResults\":100,\"nextToken\":\"NEXT\\\"\"}");
    free(b);
}

/* ---- on a loop, against a local socket that accepts and never answers ---- */

struct got {
    int n;
    enum ivs_outcome last;
    char err[200];
};

static void got_cb(const struct ivs_get_result *r, void *arg)
{
    struct got *g = arg;
    g->n++;
    g->last = r->outcome;
    snprintf(g->err, sizeof(g->err), "%s", r->error ? r->error : "");
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(arg, NULL);
}

static void run_loop_ms(struct event_base *base, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    struct event *ev = evtimer_new(base, stop_cb, base);
    evtimer_add(ev, &tv);
    event_base_dispatch(base);
    event_free(ev);
}

TEST(loop_singleflight_busy_and_free)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(ls >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    REQUIRE(bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(ls, 16) == 0);
    REQUIRE(getsockname(ls, (struct sockaddr *)&sa, &sl) == 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));

    struct config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.aws_access_key_id = "AKIDTEST";
    cfg.aws_secret_access_key = "secret";
    cfg.aws_region = "us-west-2";
    cfg.aws_endpoint_url_ivs = url;
    cfg.aws_max_attempts = 3;
    cfg.ivs_timeout = 30;
    cfg.ivs_max_rps = 1;
    cfg.ivs_max_inflight = 8;
    cfg.sync_max_wait = 0.1;

    struct event_base *base = event_base_new();
    struct http_client *hc = http_client_new(base);
    char err[200];
    struct aws_creds *cr = aws_creds_new(base, hc, &cfg, err, sizeof(err));
    REQUIRE(base && hc && cr);
    CHECK_EQ_INT(aws_creds_state(cr), AWS_CREDS_READY);
    CHECK_STR(aws_creds_source(cr), "environment");
    struct metrics *m = metrics_new();
    struct ivs *ivs = ivs_new(base, hc, cr, &cfg, m);
    REQUIRE(ivs != NULL);

    struct got a = {0}, b = {0}, c = {0}, d = {0};
    /* three callers for one channel: one flight */
    CHECK_EQ_INT(ivs_get_stream(ivs, ARN, RATELIMIT_BACKGROUND, got_cb, &a), 0);
    CHECK_EQ_INT(ivs_get_stream(ivs, ARN, RATELIMIT_INTERACTIVE, got_cb, &b), 0);
    CHECK_EQ_INT(ivs_get_stream(ivs, ARN, RATELIMIT_BACKGROUND, got_cb, &b), 0);
    CHECK(metrics_get(m, "ivs_syncd_ivs_singleflight_joins_total", NULL) == 2);
    /* another channel, interactive: 1 rps, so it waits > 100 ms -> busy */
    CHECK(ivs_get_stream(ivs, "arn:aws:ivs:us-west-2:123456789012:channel/other",
                         RATELIMIT_INTERACTIVE, got_cb, &c) == 0);
    /* an invalid ARN answers from the loop, never inside the call */
    CHECK(ivs_get_stream(ivs, "nope", RATELIMIT_INTERACTIVE, got_cb, &d) == 0);
    CHECK(a.n == 0 && b.n == 0 && c.n == 0 && d.n == 0);
    run_loop_ms(base, 300);
    CHECK(a.n == 0 && b.n == 0); /* still waiting for the silent server */
    CHECK(c.n == 1 && c.last == IVS_ERR_BUSY);
    CHECK(strstr(c.err, "waited too long") != NULL);
    CHECK(d.n == 1 && d.last == IVS_ERR_VALIDATION);
    CHECK(metrics_get(m, "ivs_syncd_ivs_ratelimit_refused_total", NULL) == 1);
    CHECK_EQ_INT(ivs_pending(ivs), 1);
    CHECK_EQ_INT(http_client_pending(hc), 1);
    /* free with a call in flight: no callback, no leak (ASan) */
    ivs_free(ivs);
    CHECK(a.n == 0 && b.n == 0);
    CHECK_EQ_INT(http_client_pending(hc), 0);
    aws_creds_free(cr);
    http_client_free(hc);
    metrics_free(m);
    event_base_free(base);
    close(ls);
}

TEST(loop_no_credentials)
{
    struct config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.ivs_max_rps = 4;
    cfg.ivs_max_inflight = 8;
    struct event_base *base = event_base_new();
    struct http_client *hc = http_client_new(base);
    char err[200];
    struct aws_creds *cr = aws_creds_new(base, hc, &cfg, err, sizeof(err));
    REQUIRE(cr != NULL);
    CHECK_EQ_INT(aws_creds_state(cr), AWS_CREDS_NONE);
    struct aws_credentials out;
    CHECK_EQ_INT(aws_creds_get(cr, &out), -1);
    struct ivs *ivs = ivs_new(base, hc, cr, &cfg, NULL);
    struct got g = {0};
    ivs_get_stream(ivs, ARN, RATELIMIT_INTERACTIVE, got_cb, &g);
    run_loop_ms(base, 50);
    CHECK(g.n == 1 && g.last == IVS_ERR_NO_CREDENTIALS);
    CHECK_STR(g.err, "AWS credentials not configured");
    ivs_free(ivs);
    aws_creds_free(cr);
    http_client_free(hc);
    event_base_free(base);
}

TEST(creds_config_errors)
{
    struct config cfg;
    char err[200];
    memset(&cfg, 0, sizeof(cfg));
    cfg.aws_container_credentials_full_uri = "http://example.com/creds";
    struct event_base *base = event_base_new();
    struct http_client *hc = http_client_new(base);
    CHECK(aws_creds_new(base, hc, &cfg, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "AWS_CONTAINER_CREDENTIALS_FULL_URI") != NULL);
    cfg.aws_container_credentials_full_uri = "http://127.0.0.1:1/creds";
    cfg.aws_container_authorization_token = "tok\r\nX: y";
    CHECK(aws_creds_new(base, hc, &cfg, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "line break") != NULL);
    cfg.aws_container_authorization_token = "tok";
    struct aws_creds *cr = aws_creds_new(base, hc, &cfg, err, sizeof(err));
    REQUIRE(cr != NULL);
    CHECK_EQ_INT(aws_creds_state(cr), AWS_CREDS_LOADING);
    CHECK_STR(aws_creds_source(cr), "container");
    run_loop_ms(base, 300); /* connection refused -> FAILED, retrying */
    CHECK_EQ_INT(aws_creds_state(cr), AWS_CREDS_FAILED);
    CHECK(strstr(aws_creds_error(cr), "unreachable") != NULL);
    CHECK(strstr(aws_creds_error(cr), "tok") == NULL);
    aws_creds_free(cr);
    memset(&cfg, 0, sizeof(cfg));
    cfg.aws_access_key_id = "AKID";
    CHECK(aws_creds_new(base, hc, &cfg, err, sizeof(err)) == NULL);
    http_client_free(hc);
    event_base_free(base);
}

int main(void)
{
    RUN(error_from_header);
    RUN(error_from_body);
    RUN(error_from_status);
    RUN(parse_get_stream);
    RUN(parse_get_stream_malformed);
    RUN(parse_list_streams);
    RUN(iso_time);
    RUN(backoff_bounds);
    RUN(retry_quota);
    RUN(creds_json);
    RUN(creds_full_uri);
    RUN(creds_refresh_delay);
    RUN(outcome_names);
    RUN(read_answer);
    RUN(url_and_body);
    RUN(loop_singleflight_busy_and_free);
    RUN(loop_no_credentials);
    RUN(creds_config_errors);
    T_END("ivs");
}
