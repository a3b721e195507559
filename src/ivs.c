#include "clock.h"
#include "ivs.h"

#include <ctype.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "arn.h"
#include "aws_creds.h"
#include "config.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"

#define MAX_RESPONSE   (4 * 1024 * 1024)
#define LIST_PAGE_SIZE 100
#define LIST_MAX_PAGES 1000
#define REGION_MAX     31
#define URL_MAX        1024

#define M_CALLS     "ivs_syncd_ivs_calls_total"
#define M_RETRIES   "ivs_syncd_ivs_retries_total"
#define M_THROTTLES "ivs_syncd_ivs_throttles_total"
#define M_SECONDS   "ivs_syncd_ivs_call_seconds"
#define M_JOINS     "ivs_syncd_ivs_singleflight_joins_total"
#define M_WAITING   "ivs_syncd_ivs_ratelimit_waiting"
#define M_REFUSED   "ivs_syncd_ivs_ratelimit_refused_total"

/* ------------------------------------------------------------------ */
/* the client                                                          */
/* ------------------------------------------------------------------ */

enum op { OP_GET, OP_LIST };
/*
 * A call's phases. Every change goes through set_phase(), which aborts on a
 * transition that is not in the table below (a bug, never an input error).
 */
enum phase { PH_NEW, PH_WAIT_CREDS, PH_WAIT_RL, PH_HTTP, PH_BACKOFF, PH_FINISH, PH_COUNT };

static const char *const phase_names[PH_COUNT] = {"new",  "wait_creds", "wait_rl",
                                                  "http", "backoff",    "finish"};

#define PH_BIT(p) (1u << (p))
/* legal[from]: the phases a call may move to from there */
static const unsigned phase_legal[PH_COUNT] = {
    [PH_NEW] = PH_BIT(PH_WAIT_CREDS) | PH_BIT(PH_WAIT_RL) | PH_BIT(PH_FINISH),
    /* still loading when woken: waits again */
    [PH_WAIT_CREDS] = PH_BIT(PH_WAIT_CREDS) | PH_BIT(PH_WAIT_RL) | PH_BIT(PH_FINISH),
    /* again: a joined interactive caller re-queues a background call */
    [PH_WAIT_RL] = PH_BIT(PH_WAIT_RL) | PH_BIT(PH_HTTP) | PH_BIT(PH_FINISH),
    [PH_HTTP] = PH_BIT(PH_BACKOFF) | PH_BIT(PH_FINISH),
    [PH_BACKOFF] = PH_BIT(PH_WAIT_CREDS) | PH_BIT(PH_WAIT_RL) | PH_BIT(PH_FINISH),
    [PH_FINISH] = 0, /* delivered and freed */
};

struct joiner {
    ivs_get_cb cb;
    void *arg;
    struct joiner *next;
};

struct call {
    struct ivs *ivs;
    enum op op;
    enum phase phase;
    enum ratelimit_class cls;
    char region[REGION_MAX + 1];
    char arn[IVS_ARN_MAX + 1];
    char *next_token; /* request (LIST) */
    char *body;
    size_t body_len;
    int attempts;
    int last_cost;
    int slot; /* holding a ratelimit slot */
    struct ratelimit_waiter *rlw;
    struct aws_creds_waiter *cw;
    struct event *ev; /* backoff and deferred finish */
    int64_t sent_at_us;
    int64_t deadline_us; /* interactive: CLOCK_MONOTONIC µs by which it must be answered */

    /* GET: joiners; LIST: one callback */
    struct joiner *joiners, *joiners_tail;
    ivs_list_cb list_cb;
    void *list_arg;

    /* result */
    enum ivs_outcome outcome;
    char error[IVS_MESSAGE_MAX + IVS_CODE_MAX + 96];
    char code[IVS_CODE_MAX + 1];
    long http_status;
    double retry_after;
    struct ivs_stream stream;
    struct ivs_stream *page;
    size_t page_n;
    char page_token[IVS_TOKEN_MAX + 1];

    struct call *prev, *next;
};

struct sweep {
    struct ivs *ivs;
    char region[REGION_MAX + 1];
    enum ratelimit_class cls;
    ivs_list_all_cb cb;
    void *arg;
    struct ivs_stream *streams;
    size_t n, cap;
    int pages;
    int64_t first_sent_us;
    char last_token[IVS_TOKEN_MAX + 1];
    struct sweep *prev, *next;
};

struct ivs {
    struct event_base *base;
    struct http_client *hc;
    struct aws_creds *creds;
    struct metrics *m;
    struct ratelimit *rl;
    char *endpoint; /* override, without trailing '/' */
    int max_attempts;
    long timeout_ms;
    int64_t interactive_wait_us;
    struct ivs_retry_quota quota;
    uint64_t rng;
    struct call *calls;
    struct sweep *sweeps;
};

static void set_phase(struct call *c, enum phase to)
{
    if ((unsigned)c->phase >= PH_COUNT || (unsigned)to >= PH_COUNT ||
        !(phase_legal[c->phase] & PH_BIT(to))) {
        LOG_ERROR(NULL, "ivs: bad call phase transition %s -> %s",
                  (unsigned)c->phase < PH_COUNT ? phase_names[c->phase] : "?",
                  (unsigned)to < PH_COUNT ? phase_names[to] : "?");
        abort();
    }
    c->phase = to;
}

static uint64_t rng_next(struct ivs *ivs)
{
    uint64_t x = ivs->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ivs->rng = x;
    return x * 2685821657736338717ULL;
}

static const char *op_name(enum op op)
{
    return op == OP_GET ? "GetStream" : "ListStreams";
}

static void set_waiting_gauge(struct ivs *ivs)
{
    if (ivs->m)
        metrics_set(ivs->m, M_WAITING, NULL, ratelimit_waiting(ivs->rl));
}

static void call_unlink(struct ivs *ivs, struct call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (ivs->calls == c)
        ivs->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void call_free(struct call *c)
{
    struct joiner *j = c->joiners, *n;
    for (; j; j = n) {
        n = j->next;
        free(j);
    }
    if (c->ev)
        event_free(c->ev);
    free(c->next_token);
    free(c->body);
    free(c->page);
    free(c);
}

static void deliver(struct call *c)
{
    struct ivs *ivs = c->ivs;
    call_unlink(ivs, c); /* a new call for the same ARN now starts a new flight */
    if (c->op == OP_GET) {
        struct ivs_get_result r = {
            .outcome = c->outcome,
            .channel_arn = c->arn,
            .stream = c->outcome == IVS_OK ? &c->stream : NULL,
            .error = (c->outcome == IVS_OK || c->outcome == IVS_OFFLINE) ? NULL : c->error,
            .error_code = c->code,
            .http_status = c->http_status,
            .attempts = c->attempts,
            .sent_at_us = c->sent_at_us,
            .retry_after = c->retry_after,
        };
        struct joiner *j = c->joiners;
        c->joiners = NULL;
        while (j) {
            struct joiner *n = j->next;
            j->cb(&r, j->arg);
            free(j);
            j = n;
        }
    } else {
        struct ivs_list_result r = {
            .outcome = c->outcome,
            .streams = c->page,
            .n = c->page_n,
            .next_token = (c->outcome == IVS_OK && c->page_token[0]) ? c->page_token : NULL,
            .error = c->outcome == IVS_OK ? NULL : c->error,
            .error_code = c->code,
            .http_status = c->http_status,
            .attempts = c->attempts,
            .sent_at_us = c->sent_at_us,
            .retry_after = c->retry_after,
        };
        c->list_cb(&r, c->list_arg);
    }
    call_free(c);
}

static void step(struct call *c);
static void acquire(struct call *c);

static void ev_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct call *c = arg;
    if (c->phase == PH_FINISH)
        deliver(c);
    else if (c->phase == PH_BACKOFF)
        step(c);
}

/* Finish from the loop (never inside the caller's function). */
static void finish_later(struct call *c, enum ivs_outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish_later(struct call *c, enum ivs_outcome o, const char *fmt, ...)
{
    c->outcome = o;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->error, sizeof(c->error), fmt, ap);
        va_end(ap);
    }
    set_phase(c, PH_FINISH);
    event_active(c->ev, EV_TIMEOUT, 0);
}

static void creds_ready_cb(int ok, void *arg)
{
    (void)ok;
    struct call *c = arg;
    c->cw = NULL;
    step(c);
}

static void no_creds(struct call *c)
{
    struct ivs *ivs = c->ivs;
    enum aws_creds_state st = aws_creds_state(ivs->creds);
    if (st == AWS_CREDS_NONE)
        finish_later(c, IVS_ERR_NO_CREDENTIALS, "AWS credentials not configured");
    else
        finish_later(c, IVS_ERR_NO_CREDENTIALS, "AWS credentials unavailable: %s",
                     aws_creds_error(ivs->creds)[0] ? aws_creds_error(ivs->creds) : "not loaded");
}

/* Before each attempt: credentials, then the rate limit. */
static void step(struct call *c)
{
    struct ivs *ivs = c->ivs;
    switch (aws_creds_state(ivs->creds)) {
    case AWS_CREDS_LOADING:
        set_phase(c, PH_WAIT_CREDS);
        c->cw = aws_creds_on_ready(ivs->creds, creds_ready_cb, c);
        if (!c->cw)
            finish_later(c, IVS_ERR_OTHER, "out of memory");
        return;
    case AWS_CREDS_READY:
        acquire(c);
        return;
    default:
        no_creds(c);
        return;
    }
}

static void send_attempt(struct call *c);

static void rl_cb(int ok, const char *err, void *arg)
{
    struct call *c = arg;
    struct ivs *ivs = c->ivs;
    c->rlw = NULL;
    set_waiting_gauge(ivs);
    if (!ok) {
        if (ivs->m)
            metrics_inc(ivs->m, M_REFUSED, NULL);
        c->retry_after = ratelimit_retry_after(ivs->rl, c->cls);
        finish_later(c, IVS_ERR_BUSY, "IVS rate limit: %s", err ? err : "refused");
        return;
    }
    c->slot = 1;
    send_attempt(c);
}

static void acquire(struct call *c)
{
    struct ivs *ivs = c->ivs;
    /* SYNC_MAX_WAIT bounds the whole interactive call, retries included */
    int64_t wait = 0;
    if (c->cls == RATELIMIT_INTERACTIVE) {
        wait = c->deadline_us - clock_mono_us();
        if (wait <= 0) {
            c->retry_after = ratelimit_retry_after(ivs->rl, c->cls);
            finish_later(c, IVS_ERR_BUSY, "IVS rate limit: waited too long (SYNC_MAX_WAIT)");
            return;
        }
    }
    set_phase(c, PH_WAIT_RL);
    if (ratelimit_acquire(ivs->rl, c->cls, wait, rl_cb, c, &c->rlw) != 0) {
        if (ivs->m)
            metrics_inc(ivs->m, M_REFUSED, NULL);
        c->retry_after = ratelimit_retry_after(ivs->rl, c->cls);
        finish_later(c, IVS_ERR_BUSY, "IVS rate limit: too many calls waiting");
        return;
    }
    set_waiting_gauge(ivs);
}

static void release_slot(struct call *c)
{
    if (c->slot) {
        c->slot = 0;
        ratelimit_release(c->ivs->rl);
    }
}

static void http_done(const struct http_response *resp, void *arg);

static void send_attempt(struct call *c)
{
    struct ivs *ivs = c->ivs;
    struct aws_credentials cr;
    char url[URL_MAX], sigv4[64], *tokhdr = NULL;
    const char *hdrs[5];
    int nh = 0;

    if (aws_creds_get(ivs->creds, &cr) != 0) {
        release_slot(c);
        no_creds(c);
        return;
    }
    if (ivs_build_url(ivs->endpoint, c->region, op_name(c->op), url, sizeof(url)) != 0) {
        release_slot(c);
        finish_later(c, IVS_ERR_OTHER, "IVS endpoint URL too long");
        goto done;
    }
    snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:ivs", c->region);
    hdrs[nh++] = "Content-Type: application/json";
    hdrs[nh++] = "Accept: application/json";
    if (cr.session_token[0]) {
        size_t n = strlen(cr.session_token) + sizeof("x-amz-security-token: ");
        tokhdr = malloc(n);
        if (!tokhdr) {
            release_slot(c);
            finish_later(c, IVS_ERR_OTHER, "out of memory");
            goto done;
        }
        snprintf(tokhdr, n, "x-amz-security-token: %s", cr.session_token);
        hdrs[nh++] = tokhdr;
    }
    hdrs[nh] = NULL;
    struct http_request req = {
        .method = "POST",
        .url = url,
        .body = c->body,
        .body_len = c->body_len,
        .headers = hdrs,
        .timeout_ms = ivs->timeout_ms,
        .connect_timeout_ms = ivs->timeout_ms < 5000 ? ivs->timeout_ms : 5000,
        .max_response = MAX_RESPONSE,
        .aws_sigv4 = sigv4,
        .aws_access_key = cr.access_key_id,
        .aws_secret_key = cr.secret_access_key,
        .allow_http = ivs->endpoint != NULL,
    };
    c->attempts++;
    c->sent_at_us = clock_real_us();
    set_phase(c, PH_HTTP);
    if (http_client_request(ivs->hc, &req, http_done, c) != 0) {
        release_slot(c);
        finish_later(c, IVS_ERR_OTHER, "cannot start the IVS request");
        goto done;
    }
done:
    if (tokhdr) {
        memset(tokhdr, 0, strlen(tokhdr));
        free(tokhdr);
    }
    memset(&cr, 0, sizeof(cr));
}

static void http_done(const struct http_response *resp, void *arg)
{
    struct call *c = arg;
    struct ivs *ivs = c->ivs;
    struct ivs_error e;
    char labels[96];
    const char *op = op_name(c->op);

    release_slot(c);
    c->http_status = resp->status;

    if (c->op == OP_LIST) {
        free(c->page);
        c->page = NULL;
    }
    struct ivs_answer ans = {
        .status = resp->status,
        .failed = resp->failed,
        .transport_error = resp->error,
        .error_type = resp->failed ? NULL : http_response_header(resp, "x-amzn-ErrorType"),
        .body = resp->body,
        .len = resp->body_len,
    };
    if (c->op == OP_GET)
        ivs_read_get_answer(&ans, &c->stream, &e);
    else
        ivs_read_list_answer(&ans, &c->page, &c->page_n, c->page_token, sizeof(c->page_token), &e);
    if (e.outcome == IVS_OK || e.outcome == IVS_OFFLINE) {
        c->stream.sent_at_us = c->sent_at_us;
        for (size_t i = 0; i < c->page_n; i++)
            c->page[i].sent_at_us = c->sent_at_us;
    }

    if (ivs->m) {
        snprintf(labels, sizeof(labels), "operation=\"%s\",outcome=\"%s\"", op,
                 ivs_outcome_name(e.outcome));
        metrics_inc(ivs->m, M_CALLS, labels);
        snprintf(labels, sizeof(labels), "operation=\"%s\"", op);
        metrics_observe(ivs->m, M_SECONDS, labels, resp->seconds);
        if (e.outcome == IVS_ERR_THROTTLED)
            metrics_inc(ivs->m, M_THROTTLES, NULL);
    }

    if (e.outcome == IVS_OK || e.outcome == IVS_OFFLINE) {
        ivs_quota_release(&ivs->quota, c->last_cost);
        c->outcome = e.outcome;
        set_phase(c, PH_FINISH);
        deliver(c);
        return;
    }

    snprintf(c->code, sizeof(c->code), "%s", e.code);
    if (ivs_error_retryable(&e) && c->attempts < ivs->max_attempts) {
        int is_timeout = resp->failed && resp->error && strncmp(resp->error, "timeout", 7) == 0;
        int cost = ivs_quota_acquire(&ivs->quota, is_timeout);
        if (cost > 0) {
            c->last_cost = cost;
            int64_t d = ivs_backoff_us(c->attempts, rng_next(ivs));
            if (c->cls == RATELIMIT_INTERACTIVE && clock_mono_us() + d >= c->deadline_us) {
                /* the retry would land past SYNC_MAX_WAIT: the caller answers 503 */
                ivs_quota_release(&ivs->quota, cost);
                c->retry_after = (double)d / 1e6 < 1 ? 1 : (double)d / 1e6;
                c->outcome = IVS_ERR_BUSY;
                snprintf(c->error, sizeof(c->error), "IVS %s: retry would exceed SYNC_MAX_WAIT",
                         e.code);
                set_phase(c, PH_FINISH);
                deliver(c);
                return;
            }
            if (ivs->m) {
                snprintf(labels, sizeof(labels), "operation=\"%s\"", op);
                metrics_inc(ivs->m, M_RETRIES, labels);
            }
            LOG_DEBUG(NULL, "IVS %s %s: %s, retry %d in %lld ms", op,
                      c->op == OP_GET ? c->arn : c->region, e.code, c->attempts,
                      (long long)(d / 1000));
            set_phase(c, PH_BACKOFF);
            struct timeval tv = {.tv_sec = d / 1000000, .tv_usec = d % 1000000};
            event_add(c->ev, &tv);
            return;
        }
        snprintf(e.message + strlen(e.message), sizeof(e.message) - strlen(e.message), "%s",
                 e.message[0] ? " (retry quota exhausted)" : "retry quota exhausted");
    }

    c->outcome = e.outcome;
    if (e.outcome == IVS_ERR_THROTTLED)
        c->retry_after = 1;
    const char *what = e.outcome == IVS_ERR_RETRYABLE && resp->failed ? "IVS unreachable" : e.code;
    if (c->attempts > 1)
        snprintf(c->error, sizeof(c->error), "%s%s%s (after %d attempts)", what,
                 e.message[0] ? ": " : "", e.message, c->attempts);
    else
        snprintf(c->error, sizeof(c->error), "%s%s%s", what, e.message[0] ? ": " : "", e.message);
    set_phase(c, PH_FINISH);
    deliver(c);
}

static struct call *call_new(struct ivs *ivs, enum op op, enum ratelimit_class cls)
{
    struct call *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->ivs = ivs;
    c->op = op;
    c->cls = cls;
    c->deadline_us = clock_mono_us() + ivs->interactive_wait_us;
    c->ev = evtimer_new(ivs->base, ev_cb, c);
    if (!c->ev) {
        free(c);
        return NULL;
    }
    c->next = ivs->calls;
    if (ivs->calls)
        ivs->calls->prev = c;
    ivs->calls = c;
    return c;
}

int ivs_get_stream(struct ivs *ivs, const char *channel_arn, enum ratelimit_class cls,
                   ivs_get_cb cb, void *arg)
{
    if (!ivs || !cb)
        return -1;
    struct joiner *j = calloc(1, sizeof(*j));
    if (!j)
        return -1;
    j->cb = cb;
    j->arg = arg;

    const char *a = channel_arn ? channel_arn : "";
    for (struct call *c = ivs->calls; c; c = c->next) {
        if (c->op != OP_GET || c->phase == PH_FINISH || strcmp(c->arn, a) != 0)
            continue;
        c->joiners_tail->next = j;
        c->joiners_tail = j;
        if (ivs->m)
            metrics_inc(ivs->m, M_JOINS, NULL);
        /* An interactive caller does not queue behind background work. */
        if (cls == RATELIMIT_INTERACTIVE && c->cls == RATELIMIT_BACKGROUND) {
            c->cls = RATELIMIT_INTERACTIVE;
            c->deadline_us = clock_mono_us() + ivs->interactive_wait_us;
            if (c->phase == PH_WAIT_RL && c->rlw) {
                ratelimit_cancel(ivs->rl, c->rlw);
                c->rlw = NULL;
                acquire(c);
            }
        }
        return 0;
    }

    struct call *c = call_new(ivs, OP_GET, cls);
    if (!c) {
        free(j);
        return -1;
    }
    c->joiners = c->joiners_tail = j;
    ivs_copy_clean(c->arn, sizeof(c->arn), a, strlen(a));

    struct arn_channel ac;
    char aerr[128];
    if (arn_parse_channel(a, &ac, aerr, sizeof(aerr)) != 0) {
        snprintf(c->code, sizeof(c->code), "InvalidArn");
        finish_later(c, IVS_ERR_VALIDATION, "invalid channel ARN: %s", aerr);
        return 0;
    }
    snprintf(c->region, sizeof(c->region), "%s", ac.region);
    c->body = ivs_request_body(a, NULL, &c->body_len);
    if (!c->body) {
        finish_later(c, IVS_ERR_OTHER, "out of memory");
        return 0;
    }
    step(c);
    return 0;
}

int ivs_list_streams(struct ivs *ivs, const char *region, const char *next_token,
                     enum ratelimit_class cls, ivs_list_cb cb, void *arg)
{
    if (!ivs || !cb)
        return -1;
    struct call *c = call_new(ivs, OP_LIST, cls);
    if (!c)
        return -1;
    c->list_cb = cb;
    c->list_arg = arg;
    if (!region || strlen(region) > REGION_MAX || !aws_region_valid(region, strlen(region))) {
        snprintf(c->code, sizeof(c->code), "InvalidRegion");
        finish_later(c, IVS_ERR_VALIDATION, "invalid region");
        return 0;
    }
    snprintf(c->region, sizeof(c->region), "%s", region);
    c->body = ivs_request_body(NULL, next_token ? next_token : "", &c->body_len);
    if (!c->body) {
        finish_later(c, IVS_ERR_OTHER, "out of memory");
        return 0;
    }
    step(c);
    return 0;
}

static void sweep_unlink_free(struct ivs *ivs, struct sweep *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else if (ivs->sweeps == s)
        ivs->sweeps = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s->streams);
    free(s);
}

static void sweep_finish(struct sweep *s, int complete, enum ivs_outcome o, const char *error,
                         const char *code)
{
    struct ivs_list_all_result r = {
        .complete = complete,
        .outcome = o,
        .streams = s->streams,
        .n = s->n,
        .pages = s->pages,
        .error = error,
        .error_code = code ? code : "",
        .sent_at_us = s->first_sent_us,
    };
    s->cb(&r, s->arg);
    sweep_unlink_free(s->ivs, s);
}

static void sweep_page_cb(const struct ivs_list_result *res, void *arg)
{
    struct sweep *s = arg;
    if (s->pages == 0)
        s->first_sent_us = res->sent_at_us;
    if (res->outcome != IVS_OK) {
        sweep_finish(s, 0, res->outcome, res->error, res->error_code);
        return;
    }
    s->pages++;
    if (res->n > 0) {
        if (s->n + res->n > s->cap) {
            size_t cap = s->cap ? s->cap : 128;
            while (cap < s->n + res->n)
                cap *= 2;
            struct ivs_stream *ns = realloc(s->streams, cap * sizeof(*ns));
            if (!ns) {
                sweep_finish(s, 0, IVS_ERR_OTHER, "out of memory", "");
                return;
            }
            s->streams = ns;
            s->cap = cap;
        }
        memcpy(s->streams + s->n, res->streams, res->n * sizeof(*res->streams));
        s->n += res->n;
    }
    if (!res->next_token) {
        sweep_finish(s, 1, IVS_OK, NULL, "");
        return;
    }
    if (s->pages >= LIST_MAX_PAGES || strcmp(res->next_token, s->last_token) == 0) {
        sweep_finish(s, 0, IVS_ERR_OTHER, "ListStreams: paging does not end", "");
        return;
    }
    snprintf(s->last_token, sizeof(s->last_token), "%s", res->next_token);
    if (ivs_list_streams(s->ivs, s->region, s->last_token, s->cls, sweep_page_cb, s) != 0)
        sweep_finish(s, 0, IVS_ERR_OTHER, "out of memory", "");
}

int ivs_list_all(struct ivs *ivs, const char *region, enum ratelimit_class cls, ivs_list_all_cb cb,
                 void *arg)
{
    if (!ivs || !cb)
        return -1;
    struct sweep *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->ivs = ivs;
    s->cls = cls;
    s->cb = cb;
    s->arg = arg;
    if (region)
        snprintf(s->region, sizeof(s->region), "%s", region);
    s->next = ivs->sweeps;
    if (ivs->sweeps)
        ivs->sweeps->prev = s;
    ivs->sweeps = s;
    /* an invalid region is reported by ivs_list_streams() through the callback */
    if (ivs_list_streams(ivs, region, NULL, cls, sweep_page_cb, s) != 0) {
        sweep_unlink_free(ivs, s);
        return -1;
    }
    return 0;
}

static void declare_metrics(struct metrics *m)
{
    if (!m)
        return;
    metrics_declare(m, M_CALLS, METRIC_COUNTER, "IVS HTTP calls by operation and outcome");
    metrics_declare(m, M_RETRIES, METRIC_COUNTER, "IVS calls retried, by operation");
    metrics_declare(m, M_THROTTLES, METRIC_COUNTER, "IVS answers that were throttling errors");
    metrics_declare(m, M_SECONDS, METRIC_HISTOGRAM, "IVS call duration in seconds");
    metrics_declare(m, M_JOINS, METRIC_COUNTER,
                    "GetStream calls that joined an identical call in flight");
    metrics_declare(m, M_WAITING, METRIC_GAUGE, "IVS calls waiting for the rate limit");
    metrics_declare(m, M_REFUSED, METRIC_COUNTER,
                    "IVS calls refused by the rate limit (queue full or waited too long)");
}

struct ivs *ivs_new(struct event_base *base, struct http_client *hc, struct aws_creds *creds,
                    const struct config *cfg, struct metrics *m)
{
    if (!base || !hc || !cfg)
        return NULL;
    struct ivs *ivs = calloc(1, sizeof(*ivs));
    if (!ivs)
        return NULL;
    ivs->base = base;
    ivs->hc = hc;
    ivs->creds = creds;
    ivs->m = m;
    ivs->max_attempts = cfg->aws_max_attempts > 0 ? cfg->aws_max_attempts : 3;
    ivs->timeout_ms = cfg->ivs_timeout > 0 ? (long)cfg->ivs_timeout * 1000 : 10000;
    ivs->interactive_wait_us =
        cfg->sync_max_wait > 0 ? (int64_t)(cfg->sync_max_wait * 1e6) : 5000000;
    ivs->quota.tokens = IVS_RETRY_QUOTA;
    if (getrandom(&ivs->rng, sizeof(ivs->rng), GRND_NONBLOCK) != sizeof(ivs->rng))
        ivs->rng = (uint64_t)clock_real_us() ^ ((uint64_t)getpid() << 32);
    if (!ivs->rng)
        ivs->rng = 0x9e3779b97f4a7c15ULL;
    if (cfg->aws_endpoint_url_ivs && *cfg->aws_endpoint_url_ivs) {
        size_t n = strlen(cfg->aws_endpoint_url_ivs);
        while (n > 0 && cfg->aws_endpoint_url_ivs[n - 1] == '/')
            n--;
        ivs->endpoint = malloc(n + 1);
        if (!ivs->endpoint)
            goto fail;
        memcpy(ivs->endpoint, cfg->aws_endpoint_url_ivs, n);
        ivs->endpoint[n] = '\0';
    }
    struct ratelimit_opts ro = {
        .rps = cfg->ivs_max_rps > 0 ? cfg->ivs_max_rps : 4,
        .max_inflight = cfg->ivs_max_inflight > 0 ? cfg->ivs_max_inflight : 8,
        .max_queue = {20000, 1000},
        .window_margin_us = -1,
    };
    ivs->rl = ratelimit_new(base, &ro);
    if (!ivs->rl)
        goto fail;
    declare_metrics(m);
    return ivs;
fail:
    free(ivs->endpoint);
    free(ivs);
    return NULL;
}

void ivs_free(struct ivs *ivs)
{
    if (!ivs)
        return;
    while (ivs->calls) {
        struct call *c = ivs->calls;
        call_unlink(ivs, c);
        if (c->rlw)
            ratelimit_cancel(ivs->rl, c->rlw);
        if (c->cw)
            aws_creds_cancel(ivs->creds, c->cw);
        if (c->phase == PH_HTTP)
            http_client_cancel(ivs->hc, c);
        call_free(c);
    }
    while (ivs->sweeps)
        sweep_unlink_free(ivs, ivs->sweeps);
    ratelimit_free(ivs->rl);
    free(ivs->endpoint);
    free(ivs);
}

struct ratelimit *ivs_ratelimit(struct ivs *ivs)
{
    return ivs ? ivs->rl : NULL;
}

int ivs_retry_tokens(const struct ivs *ivs)
{
    return ivs ? ivs->quota.tokens : 0;
}

int ivs_pending(const struct ivs *ivs)
{
    int n = 0;
    for (const struct call *c = ivs ? ivs->calls : NULL; c; c = c->next)
        n++;
    return n;
}
