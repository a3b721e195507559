/*
 * aws_creds: the credential chain and its refresh engine, the environment
 * and container sources (see aws_creds.h; web identity and instance metadata
 * are in aws_fetch.c, the shared files and credential_process in
 * aws_profile.c).
 */
#include "clock.h"
#include "aws_creds.h"
#include "aws_creds_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include "config.h"
#include "errbuf.h"
#include "http_client.h"
#include "iso8601.h"
#include "jsonx.h"
#include "log.h"

#define ECS_HOST           "http://169.254.170.2"
#define TOKEN_FILE_MAX     16384
#define CREDS_RESPONSE_MAX 65536
#define REFRESH_BEFORE_US  (300LL * 1000000)
#define REFRESH_MIN_US     100000LL
#define RETRY_BASE_US      1000000LL
#define RETRY_MAX_US       60000000LL
#define FETCH_TIMEOUT_MS   5000L
#define FETCH_CONNECT_MS   2000L

#define IMDS_RETRY_MAX_US 300000000LL

void aws_creds_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}
#define wipe aws_creds_wipe

char *aws_creds_dupstr(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static int nonempty(const char *s)
{
    return s && *s;
}

/* ---- pure helpers ---- */

/* RFC 3339 (iso8601 ISO8601_RFC3339): offsets, 't'/'z', a leap second. */
int aws_creds_parse_time(const char *s, int64_t *out_us)
{
    return s ? iso8601_parse(s, strlen(s), ISO8601_RFC3339, out_us) : -1;
}

static int is_allowed_http_host(const char *host)
{
    char buf[256];
    size_t n = strlen(host);
    if (n == 0 || n >= sizeof(buf))
        return 0;
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (host[0] == '[' && host[n - 1] == ']') {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        struct in6_addr a, b;
        if (inet_pton(AF_INET6, buf, &a) != 1)
            return 0;
        if (inet_pton(AF_INET6, "::1", &b) == 1 && memcmp(&a, &b, sizeof(a)) == 0)
            return 1;
        if (inet_pton(AF_INET6, "fd00:ec2::23", &b) == 1 && memcmp(&a, &b, sizeof(a)) == 0)
            return 1;
        return 0;
    }
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) != 1)
        return 0;
    unsigned char *o = (unsigned char *)&a4.s_addr;
    if (o[0] == 127)
        return 1;
    return strcmp(host, "169.254.170.2") == 0 || strcmp(host, "169.254.170.23") == 0;
}

int aws_creds_check_full_uri(const char *uri, char *err, size_t errlen)
{
    int rc = -1;
    char *scheme = NULL, *host = NULL;
    CURLU *u = curl_url();
    if (!u) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    if (!uri || curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        errbuf_set(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI: not a valid URL");
        goto done;
    }
    if (strcasecmp(scheme, "https") == 0) {
        rc = 0;
    } else if (strcasecmp(scheme, "http") == 0) {
        if (is_allowed_http_host(host))
            rc = 0;
        else
            errbuf_set(err, errlen,
                       "AWS_CONTAINER_CREDENTIALS_FULL_URI: http only to a loopback or "
                       "ECS/EKS host, not %s",
                       host);
    } else {
        errbuf_set(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI: scheme must be https or http");
    }
done:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static int copy_field(json_object *o, const char *key, char *dst, size_t cap, int required,
                      char *err, size_t errlen)
{
    const char *s = NULL;
    size_t n = 0;
    enum jsonx_member r = jsonx_get_string(o, key, &s, &n);
    if (r == JSONX_MEMBER_ABSENT || r == JSONX_MEMBER_NULL) {
        if (required) {
            errbuf_set(err, errlen, "credentials answer: %s missing", key);
            return -1;
        }
        dst[0] = '\0';
        return 0;
    }
    if (r == JSONX_MEMBER_NOT_STRING) {
        errbuf_set(err, errlen, "credentials answer: %s is not a string", key);
        return -1;
    }
    if (n >= cap) {
        errbuf_set(err, errlen, "credentials answer: %s too long", key);
        return -1;
    }
    if (required && n == 0) {
        errbuf_set(err, errlen, "credentials answer: %s empty", key);
        return -1;
    }
    if (r == JSONX_MEMBER_NUL) {
        errbuf_set(err, errlen, "credentials answer: %s has a NUL byte", key);
        return -1;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int aws_creds_parse_json(const char *body, size_t len, struct aws_credentials *out, char *err,
                         size_t errlen)
{
    int rc = -1;
    json_object *root = NULL;
    memset(out, 0, sizeof(*out));
    enum jsonx_error je = body ? jsonx_parse_object(body, len, 16, &root) : JSONX_EMPTY;
    if (je == JSONX_NOMEM) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    if (je == JSONX_NOT_OBJECT) {
        errbuf_set(err, errlen, "credentials answer: not a JSON object");
        return -1;
    }
    if (je != JSONX_OK) {
        errbuf_set(err, errlen, "credentials answer: invalid JSON");
        return -1;
    }
    if (copy_field(root, "AccessKeyId", out->access_key_id, sizeof(out->access_key_id), 1, err,
                   errlen) ||
        copy_field(root, "SecretAccessKey", out->secret_access_key, sizeof(out->secret_access_key),
                   1, err, errlen) ||
        copy_field(root, "Token", out->session_token, sizeof(out->session_token), 0, err, errlen))
        goto done;
    const char *exp = NULL;
    size_t expn = 0;
    enum jsonx_member r = jsonx_get_string(root, "Expiration", &exp, &expn);
    if (r != JSONX_MEMBER_ABSENT && r != JSONX_MEMBER_NULL &&
        (r != JSONX_MEMBER_STRING ||
         iso8601_parse(exp, expn, ISO8601_RFC3339, &out->expiration_us) != 0)) {
        errbuf_set(err, errlen, "credentials answer: Expiration is not an ISO 8601 time");
        goto done;
    }
    rc = 0;
done:
    if (rc != 0)
        wipe(out, sizeof(*out));
    json_object_put(root);
    return rc;
}

int64_t aws_creds_refresh_delay(int64_t now_us, int64_t exp_us)
{
    if (exp_us == 0)
        return -1;
    int64_t remaining = exp_us - now_us;
    int64_t d;
    if (remaining > 2 * REFRESH_BEFORE_US)
        d = remaining - REFRESH_BEFORE_US;
    else
        d = remaining / 2;
    return d < REFRESH_MIN_US ? REFRESH_MIN_US : d;
}

/* ---- provider ---- */

static int creds_valid(const struct aws_creds *c)
{
    if (!c->have)
        return 0;
    return c->cur.expiration_us == 0 || clock_real_us() < c->cur.expiration_us;
}

enum aws_creds_state aws_creds_state(const struct aws_creds *c)
{
    if (!c || c->source == SRC_NONE)
        return AWS_CREDS_NONE;
    if (creds_valid(c))
        return AWS_CREDS_READY;
    if (!c->done_once)
        return AWS_CREDS_LOADING;
    /* The last link of the chain: no instance metadata found means nothing found. */
    if (c->source == SRC_IMDS && !c->imds_seen)
        return AWS_CREDS_NONE;
    return AWS_CREDS_FAILED;
}

int aws_creds_get(const struct aws_creds *c, struct aws_credentials *out)
{
    if (aws_creds_state(c) != AWS_CREDS_READY)
        return -1;
    *out = c->cur;
    return 0;
}

const char *aws_creds_error(const struct aws_creds *c)
{
    return c ? c->err : "";
}

const char *aws_creds_source(const struct aws_creds *c)
{
    if (!c || c->source == SRC_NONE)
        return "none";
    return c->source_name;
}

unsigned aws_creds_fetches(const struct aws_creds *c)
{
    return c ? c->fetches : 0;
}

static void schedule(struct aws_creds *c, int64_t delay_us)
{
    if (delay_us < 0)
        delay_us = 0;
    struct timeval tv = {.tv_sec = delay_us / 1000000, .tv_usec = delay_us % 1000000};
    evtimer_add(c->timer, &tv);
}

static void kick_waiters(struct aws_creds *c)
{
    if (!TAILQ_EMPTY(&c->waiters) && aws_creds_state(c) != AWS_CREDS_LOADING)
        event_active(c->notify, 0, 0);
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct aws_creds *c = arg;
    struct aws_creds_waiter *w;
    while ((w = TAILQ_FIRST(&c->waiters)) && aws_creds_state(c) != AWS_CREDS_LOADING) {
        TAILQ_REMOVE(&c->waiters, w, link);
        int ok = aws_creds_state(c) == AWS_CREDS_READY;
        aws_creds_ready_cb cb = w->cb;
        void *warg = w->arg;
        free(w);
        cb(ok, warg);
    }
}

void aws_creds_fetch_failed(struct aws_creds *c)
{
    c->fetching = 0;
    c->failures++;
    int first = !c->done_once;
    c->done_once = 1;
    /* No instance metadata here (yet): probe again, slowly, without noise. */
    int quiet = c->source == SRC_IMDS && !c->imds_seen;
    int64_t cap = quiet ? IMDS_RETRY_MAX_US : RETRY_MAX_US;
    int64_t d = RETRY_BASE_US;
    for (int i = 1; i < c->failures && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    if (creds_valid(c) && c->cur.expiration_us) {
        int64_t half = (c->cur.expiration_us - clock_real_us()) / 2;
        if (half < d)
            d = half < REFRESH_MIN_US ? REFRESH_MIN_US : half;
    }
    if (quiet && !first)
        LOG_DEBUG(NULL, "AWS credentials from %s: %s (retry in %lld ms)", c->source_name, c->err,
                  (long long)(d / 1000));
    else if (quiet)
        LOG_INFO(NULL,
                 "no AWS credentials found (environment, web identity, profile, container, "
                 "instance metadata: %s); probing instance metadata again in %lld ms",
                 c->err, (long long)(d / 1000));
    else
        LOG_WARN(NULL, "AWS credentials from %s: %s (retry in %lld ms%s)", c->source_name, c->err,
                 (long long)(d / 1000), creds_valid(c) ? ", keeping the current ones" : "");
    schedule(c, d);
    kick_waiters(c);
}

void aws_creds_fetch_ok(struct aws_creds *c, struct aws_credentials *nc)
{
    c->fetching = 0;
    int64_t now = clock_real_us();
    if (nc->expiration_us && nc->expiration_us <= now) {
        wipe(nc, sizeof(*nc));
        snprintf(c->err, sizeof(c->err), "the credentials returned have already expired");
        aws_creds_fetch_failed(c);
        return;
    }
    int first = !c->have;
    wipe(&c->cur, sizeof(c->cur));
    c->cur = *nc;
    wipe(nc, sizeof(*nc));
    c->have = 1;
    c->done_once = 1;
    c->failures = 0;
    c->err[0] = '\0';
    c->fetches++;
    if (c->source == SRC_IMDS)
        c->imds_seen = 1;
    int64_t d = aws_creds_refresh_delay(now, c->cur.expiration_us);
    if (first)
        LOG_INFO(NULL, "AWS credentials from %s (refresh in %lld s)", c->source_name,
                 (long long)(d < 0 ? -1 : d / 1000000));
    else
        LOG_DEBUG(NULL, "AWS credentials from %s refreshed (next in %lld ms)", c->source_name,
                  (long long)(d < 0 ? -1 : d / 1000));
    if (d >= 0)
        schedule(c, d);
    kick_waiters(c);
}

static void container_done(const struct http_response *resp, void *arg)
{
    struct aws_creds *c = arg;
    struct aws_credentials nc;
    char perr[200];
    c->fetching = 0;
    if (resp->failed) {
        snprintf(c->err, sizeof(c->err), "credentials endpoint unreachable: %s",
                 resp->error ? resp->error : "transport error");
        aws_creds_fetch_failed(c);
        return;
    }
    if (resp->status != 200) {
        snprintf(c->err, sizeof(c->err), "credentials endpoint answered HTTP %ld", resp->status);
        aws_creds_fetch_failed(c);
        return;
    }
    if (aws_creds_parse_json(resp->body, resp->body_len, &nc, perr, sizeof(perr)) != 0) {
        snprintf(c->err, sizeof(c->err), "%s", perr);
        aws_creds_fetch_failed(c);
        return;
    }
    aws_creds_fetch_ok(c, &nc);
}

char *aws_creds_read_token(struct aws_creds *c, const char *what, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(c->err, sizeof(c->err), "%s: cannot open %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(TOKEN_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        snprintf(c->err, sizeof(c->err), "out of memory");
        return NULL;
    }
    size_t n = fread(buf, 1, TOKEN_FILE_MAX + 1, f);
    int ferr = ferror(f);
    fclose(f);
    if (ferr || n > TOKEN_FILE_MAX) {
        snprintf(c->err, sizeof(c->err), "%s: %s", what, ferr ? "read error" : "file too large");
        goto fail;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    if (n == 0 || memchr(buf, '\r', n) || memchr(buf, '\n', n) || memchr(buf, '\0', n)) {
        snprintf(c->err, sizeof(c->err), "%s: %s", what,
                 n == 0 ? "empty token" : "token contains a line break");
        goto fail;
    }
    return buf;
fail:
    wipe(buf, TOKEN_FILE_MAX + 1);
    free(buf);
    return NULL;
}

static int container_start(struct aws_creds *c)
{
    char *token = NULL, *auth = NULL;
    const char *hdrs[3] = {"Accept: application/json", NULL, NULL};
    int rc = -1;
    if (c->auth_token_file) {
        token =
            aws_creds_read_token(c, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", c->auth_token_file);
        if (!token)
            goto done;
    } else if (c->auth_token) {
        token = aws_creds_dupstr(c->auth_token);
        if (!token) {
            snprintf(c->err, sizeof(c->err), "out of memory");
            goto done;
        }
    }
    if (token) {
        size_t n = strlen(token) + sizeof("Authorization: ");
        auth = malloc(n);
        if (!auth) {
            snprintf(c->err, sizeof(c->err), "out of memory");
            goto done;
        }
        snprintf(auth, n, "Authorization: %s", token);
        hdrs[1] = auth;
    }
    struct http_request req = {
        .method = "GET",
        .url = c->url,
        .headers = hdrs,
        .timeout_ms = FETCH_TIMEOUT_MS,
        .connect_timeout_ms = FETCH_CONNECT_MS,
        .max_response = CREDS_RESPONSE_MAX,
        .allow_http = 1, /* the URL was checked in aws_creds_new() */
    };
    if (http_client_request(c->hc, &req, container_done, c) != 0) {
        snprintf(c->err, sizeof(c->err), "cannot start the credentials request");
        goto done;
    }
    rc = 0;
done:
    if (token)
        wipe(token, strlen(token));
    if (auth)
        wipe(auth, strlen(auth));
    free(token);
    free(auth);
    return rc;
}

static void start_fetch(struct aws_creds *c)
{
    int rc;
    if (c->fetching)
        return;
    c->fetching = 1;
    switch (c->source) {
    case SRC_CONTAINER:
        rc = container_start(c);
        break;
    case SRC_WEB_IDENTITY:
        rc = aws_fetch_web_identity(c);
        break;
    case SRC_IMDS:
        rc = aws_fetch_imds(c);
        break;
    case SRC_PROCESS:
        rc = aws_process_start(c);
        break;
    default:
        rc = 0;
        c->fetching = 0;
        break;
    }
    if (rc != 0)
        aws_creds_fetch_failed(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_fetch(arg);
}

static int setup_env(struct aws_creds *c, const struct config *cfg, char *err, size_t errlen)
{
    int have_id = nonempty(cfg->aws_access_key_id);
    int have_secret = nonempty(cfg->aws_secret_access_key);
    if (!have_id && !have_secret)
        return 0;
    if (!have_id || !have_secret) {
        errbuf_set(err, errlen, "%s is set but %s is not",
                   have_id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                   have_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return -1;
    }
    size_t tl = nonempty(cfg->aws_session_token) ? strlen(cfg->aws_session_token) : 0;
    if (strlen(cfg->aws_access_key_id) > AWS_CREDS_KEY_MAX ||
        strlen(cfg->aws_secret_access_key) > AWS_CREDS_SECRET_MAX || tl > AWS_CREDS_TOKEN_MAX) {
        errbuf_set(err, errlen, "AWS credentials from the environment are too long");
        return -1;
    }
    memcpy(c->cur.access_key_id, cfg->aws_access_key_id, strlen(cfg->aws_access_key_id));
    memcpy(c->cur.secret_access_key, cfg->aws_secret_access_key,
           strlen(cfg->aws_secret_access_key));
    if (tl)
        memcpy(c->cur.session_token, cfg->aws_session_token, tl);
    c->have = 1;
    c->done_once = 1;
    c->source = SRC_ENV;
    return 1;
}

static int setup_web_identity(struct aws_creds *c, const struct config *cfg, char *err,
                              size_t errlen)
{
    if (!nonempty(cfg->aws_role_arn) && !nonempty(cfg->aws_web_identity_token_file))
        return 0;
    if (!nonempty(cfg->aws_role_arn) || !nonempty(cfg->aws_web_identity_token_file)) {
        errbuf_set(err, errlen, "%s is set but %s is not",
                   nonempty(cfg->aws_role_arn) ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE",
                   nonempty(cfg->aws_role_arn) ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN");
        return -1;
    }
    char name[64];
    const char *sn = cfg->aws_role_session_name;
    if (!nonempty(sn)) {
        snprintf(name, sizeof(name), "ivs-syncd-%lld", (long long)(clock_real_us() / 1000000));
        sn = name;
    }
    char url[512];
    const char *region = nonempty(cfg->aws_region) ? cfg->aws_region : "us-east-1";
    if (nonempty(cfg->aws_endpoint_url_sts))
        snprintf(url, sizeof(url), "%s", cfg->aws_endpoint_url_sts);
    else
        snprintf(url, sizeof(url), "https://sts.%s.amazonaws.com", region);
    c->role_arn = aws_creds_dupstr(cfg->aws_role_arn);
    c->web_token_file = aws_creds_dupstr(cfg->aws_web_identity_token_file);
    c->session_name = aws_creds_dupstr(sn);
    c->sts_url = aws_creds_dupstr(url);
    if (!c->role_arn || !c->web_token_file || !c->session_name || !c->sts_url) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    c->source = SRC_WEB_IDENTITY;
    return 1;
}

static int setup_container(struct aws_creds *c, const struct config *cfg, char *err, size_t errlen)
{
    const char *rel = cfg->aws_container_credentials_relative_uri;
    const char *full = cfg->aws_container_credentials_full_uri;
    if (nonempty(rel)) {
        if (rel[0] != '/') {
            errbuf_set(err, errlen, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: must start with /");
            return -1;
        }
        size_t n = sizeof(ECS_HOST) + strlen(rel);
        c->url = malloc(n);
        if (!c->url) {
            errbuf_set(err, errlen, "out of memory");
            return -1;
        }
        snprintf(c->url, n, "%s%s", ECS_HOST, rel);
    } else if (nonempty(full)) {
        if (aws_creds_check_full_uri(full, err, errlen) != 0)
            return -1;
        c->url = aws_creds_dupstr(full);
        if (!c->url) {
            errbuf_set(err, errlen, "out of memory");
            return -1;
        }
    } else {
        return 0;
    }
    if (nonempty(cfg->aws_container_authorization_token_file)) {
        c->auth_token_file = aws_creds_dupstr(cfg->aws_container_authorization_token_file);
        if (!c->auth_token_file) {
            errbuf_set(err, errlen, "out of memory");
            return -1;
        }
    } else if (nonempty(cfg->aws_container_authorization_token)) {
        const char *t = cfg->aws_container_authorization_token;
        if (strchr(t, '\r') || strchr(t, '\n')) {
            errbuf_set(err, errlen, "AWS_CONTAINER_AUTHORIZATION_TOKEN: contains a line break");
            return -1;
        }
        c->auth_token = aws_creds_dupstr(t);
        if (!c->auth_token) {
            errbuf_set(err, errlen, "out of memory");
            return -1;
        }
    }
    c->source = SRC_CONTAINER;
    return 1;
}

static int setup_imds(struct aws_creds *c, const struct config *cfg, char *err, size_t errlen)
{
    const char *ep = cfg->aws_ec2_metadata_service_endpoint;
    if (cfg->aws_ec2_metadata_disabled || !nonempty(ep))
        return 0;
    c->imds_base = aws_creds_dupstr(ep);
    if (!c->imds_base) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    size_t n = strlen(c->imds_base);
    while (n > 0 && c->imds_base[n - 1] == '/')
        c->imds_base[--n] = '\0';
    c->source = SRC_IMDS;
    return 1;
}

static void set_source_name(struct aws_creds *c)
{
    const char *s = "none";
    switch (c->source) {
    case SRC_ENV:
        s = "environment";
        break;
    case SRC_WEB_IDENTITY:
        s = "web identity";
        break;
    case SRC_PROFILE:
        snprintf(c->source_name, sizeof(c->source_name), "profile %s", c->profile);
        return;
    case SRC_PROCESS:
        snprintf(c->source_name, sizeof(c->source_name), "credential_process (profile %s)",
                 c->profile);
        return;
    case SRC_CONTAINER:
        s = "container";
        break;
    case SRC_IMDS:
        s = "instance metadata";
        break;
    case SRC_NONE:
        break;
    }
    snprintf(c->source_name, sizeof(c->source_name), "%s", s);
}

struct aws_creds *aws_creds_new(struct event_base *base, struct http_client *hc,
                                const struct config *cfg, char *err, size_t errlen)
{
    struct aws_creds *c = calloc(1, sizeof(*c));
    if (!c) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    TAILQ_INIT(&c->waiters);
    c->base = base;
    c->hc = hc;
    c->timer = evtimer_new(base, timer_cb, c);
    c->notify = event_new(base, -1, 0, notify_cb, c);
    if (!c->timer || !c->notify) {
        errbuf_set(err, errlen, "out of memory");
        goto fail;
    }
    /* The chain, first match wins. */
    int r = setup_env(c, cfg, err, errlen);
    if (r == 0)
        r = setup_web_identity(c, cfg, err, errlen);
    if (r == 0)
        r = aws_profile_setup(c, cfg, err, errlen);
    if (r == 0)
        r = setup_container(c, cfg, err, errlen);
    if (r == 0)
        r = setup_imds(c, cfg, err, errlen);
    if (r < 0)
        goto fail;
    set_source_name(c);
    if (c->source == SRC_NONE || c->source == SRC_ENV || c->source == SRC_PROFILE) {
        if (c->source != SRC_NONE)
            LOG_INFO(NULL, "AWS credentials from %s", c->source_name);
        return c;
    }
    if (!hc && c->source != SRC_PROCESS) {
        errbuf_set(err, errlen, "%s credentials need an HTTP client", c->source_name);
        goto fail;
    }
    schedule(c, 0);
    return c;
fail:
    aws_creds_free(c);
    return NULL;
}

static void free_secret(char *s)
{
    if (s) {
        wipe(s, strlen(s));
        free(s);
    }
}

void aws_creds_free(struct aws_creds *c)
{
    if (!c)
        return;
    if (c->hc)
        http_client_cancel(c->hc, c);
    aws_process_cancel(c);
    struct aws_creds_waiter *w;
    while ((w = TAILQ_FIRST(&c->waiters))) {
        TAILQ_REMOVE(&c->waiters, w, link);
        free(w);
    }
    if (c->timer)
        event_free(c->timer);
    if (c->notify)
        event_free(c->notify);
    free(c->url);
    free_secret(c->auth_token);
    free(c->auth_token_file);
    free(c->role_arn);
    free(c->web_token_file);
    free(c->session_name);
    free(c->sts_url);
    free(c->profile);
    free_secret(c->process_cmd);
    free(c->imds_base);
    free_secret(c->imds_token);
    wipe(&c->cur, sizeof(c->cur));
    free(c);
}

struct aws_creds_waiter *aws_creds_on_ready(struct aws_creds *c, aws_creds_ready_cb cb, void *arg)
{
    if (!c)
        return NULL;
    struct aws_creds_waiter *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->cb = cb;
    w->arg = arg;
    TAILQ_INSERT_TAIL(&c->waiters, w, link);
    kick_waiters(c);
    return w;
}

void aws_creds_cancel(struct aws_creds *c, struct aws_creds_waiter *w)
{
    if (!c || !w)
        return;
    struct aws_creds_waiter *x = TAILQ_FIRST(&c->waiters);
    while (x && x != w) /* only a waiter still queued */
        x = TAILQ_NEXT(x, link);
    if (!x)
        return;
    TAILQ_REMOVE(&c->waiters, w, link);
    free(w);
}
