/*
 * http_client: libcurl multi handle driven by libevent, in the manner of
 * curl's docs/examples/hiperfifo.c: CURLMOPT_SOCKETFUNCTION gives one event
 * per socket, CURLMOPT_TIMERFUNCTION drives one timer event, and both call
 * curl_multi_socket_action(); finished transfers are collected with
 * curl_multi_info_read() and their callbacks run from the loop.
 *
 * Connections are reused through the multi handle's connection cache (easy
 * handles are cleaned up after each transfer; the cache outlives them).
 */
#include "http_client.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define DEFAULT_TIMEOUT_MS         10000L
#define DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define DEFAULT_MAX_RESPONSE       (1024 * 1024)
#define MAX_HEADER_BYTES           (64 * 1024)

struct http_client_headers {
    char *buf; /* "name: value\0name: value\0..." */
    size_t len, cap;
};

struct transfer {
    struct http_client *client;
    CURL *easy;
    struct curl_slist *headers;
    char *body_copy;
    char *resp;
    size_t resp_len, resp_cap, max_response;
    int too_large;
    int headers_too_large;
    int doomed; /* failed by fail_all() */
    struct http_client_headers hdrs;
    char errbuf[CURL_ERROR_SIZE];
    http_done_cb cb;
    void *arg;
    struct transfer *prev, *next;
};

struct sock_ctx {
    struct http_client *client;
    curl_socket_t fd;
    struct event *ev;
    struct sock_ctx *prev, *next;
};

struct http_client {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct transfer *transfers; /* in flight */
    struct sock_ctx *socks;
    int pending;
    int closing;
};

static void check_multi_info(struct http_client *c);
static void finish(struct http_client *c, struct transfer *t, CURLcode rc);

/*
 * Check the CURLMcode of a curl_multi_* call, as hiperfifo.c's mcode_or_die()
 * does, but without dying: CURLM_BAD_SOCKET (the socket was already closed)
 * is harmless; anything else is logged. Returns 0 for those two, -1 else.
 */
static int mcode_ok(const char *where, CURLMcode code)
{
    if (code == CURLM_OK)
        return 0;
    if (code == CURLM_BAD_SOCKET) {
        LOG_DEBUG(NULL, "http client: %s: %s", where, curl_multi_strerror(code));
        return 0;
    }
    LOG_ERROR(NULL, "http client: %s: %s", where, curl_multi_strerror(code));
    return -1;
}

/*
 * curl_multi_socket_action() failed (out of memory, internal error): the
 * multi handle can no longer be trusted to drive the transfers it holds, so
 * each one fails now (its callback runs) instead of hanging. Transfers that
 * callbacks start meanwhile are not touched.
 */
static void fail_all(struct http_client *c, CURLMcode code)
{
    for (struct transfer *t = c->transfers; t; t = t->next)
        t->doomed = 1;
    for (;;) {
        struct transfer *t = c->transfers;
        while (t && !t->doomed)
            t = t->next;
        if (!t)
            break;
        snprintf(t->errbuf, sizeof(t->errbuf), "curl multi: %s", curl_multi_strerror(code));
        finish(c, t, CURLE_SEND_ERROR);
    }
}

static void socket_action(struct http_client *c, curl_socket_t fd, int action)
{
    int running = 0;
    CURLMcode rc = curl_multi_socket_action(c->multi, fd, action, &running);
    if (mcode_ok(fd == CURL_SOCKET_TIMEOUT ? "socket_action(timeout)" : "socket_action", rc) != 0)
        fail_all(c, rc);
    check_multi_info(c);
}

static void sock_unlink(struct http_client *c, struct sock_ctx *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->ev)
        event_free(s->ev);
    free(s);
}

static void event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_client *c = arg;
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    socket_action(c, fd, action);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_client *c = arg;
    socket_action(c, CURL_SOCKET_TIMEOUT, 0);
}

static int multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct http_client *c = userp;
    if (c->closing)
        return 0;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    /* Never call socket_action from here: the loop runs the timer later. */
    evtimer_add(c->timer, &tv);
    return 0;
}

static int multi_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct http_client *c = userp;
    struct sock_ctx *s = socketp;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            mcode_ok("assign", curl_multi_assign(c->multi, fd, NULL));
            sock_unlink(c, s);
        }
        return 0;
    }
    if (c->closing)
        return 0;
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->client = c;
        s->fd = fd;
        s->next = c->socks;
        if (c->socks)
            c->socks->prev = s;
        c->socks = s;
        if (mcode_ok("assign", curl_multi_assign(c->multi, fd, s)) != 0) {
            sock_unlink(c, s);
            return -1;
        }
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (s->ev) {
        event_del(s->ev);
        event_assign(s->ev, c->base, fd, kind, event_cb, c);
    } else {
        s->ev = event_new(c->base, fd, kind, event_cb, c);
        if (!s->ev)
            return -1;
    }
    event_add(s->ev, NULL);
    return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nmemb;
    if (n > t->max_response || t->resp_len > t->max_response - n) {
        t->too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (t->resp_len + n + 1 > t->resp_cap) {
        size_t cap = t->resp_cap ? t->resp_cap : 4096;
        while (cap < t->resp_len + n + 1)
            cap *= 2;
        char *nb = realloc(t->resp, cap);
        if (!nb)
            return 0;
        t->resp = nb;
        t->resp_cap = cap;
    }
    memcpy(t->resp + t->resp_len, ptr, n);
    t->resp_len += n;
    t->resp[t->resp_len] = '\0';
    return n;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nitems;
    struct http_client_headers *h = &t->hdrs;

    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        h->len = 0; /* a new response (after 100 Continue, ...): start over */
        return n;
    }
    size_t l = n;
    while (l > 0 && (buf[l - 1] == '\r' || buf[l - 1] == '\n'))
        l--;
    if (l == 0 || !memchr(buf, ':', l))
        return n;
    if (h->len + l + 1 > MAX_HEADER_BYTES) {
        t->headers_too_large = 1;
        return 0;
    }
    if (h->len + l + 1 > h->cap) {
        size_t cap = h->cap ? h->cap : 1024;
        while (cap < h->len + l + 1)
            cap *= 2;
        char *nb = realloc(h->buf, cap);
        if (!nb)
            return 0;
        h->buf = nb;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, buf, l);
    h->buf[h->len + l] = '\0';
    h->len += l + 1;
    return n;
}

static void transfer_free(struct transfer *t)
{
    if (!t)
        return;
    if (t->easy)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->body_copy);
    free(t->resp);
    free(t->hdrs.buf);
    free(t);
}

static void transfer_unlink(struct http_client *c, struct transfer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        c->transfers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void finish(struct http_client *c, struct transfer *t, CURLcode rc)
{
    struct http_response resp;
    char msg[CURL_ERROR_SIZE + 64];
    memset(&resp, 0, sizeof(resp));

    mcode_ok("remove_handle", curl_multi_remove_handle(c->multi, t->easy));
    transfer_unlink(c, t);
    c->pending--;

    double secs = 0;
    curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &secs);
    resp.seconds = secs;
    resp.headers_ = &t->hdrs;
    resp.body = t->resp ? t->resp : "";
    resp.body_len = t->resp_len;
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        resp.status = status;
    } else {
        resp.failed = 1;
        resp.status = 0;
        if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED)
            snprintf(msg, sizeof(msg), "response larger than %zu bytes", t->max_response);
        else if (t->headers_too_large)
            snprintf(msg, sizeof(msg), "response headers too large");
        else if (rc == CURLE_OPERATION_TIMEDOUT)
            snprintf(msg, sizeof(msg), "timeout: %s", t->errbuf[0] ? t->errbuf : "timed out");
        else
            snprintf(msg, sizeof(msg), "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
        resp.error = msg;
    }
    if (t->cb)
        t->cb(&resp, t->arg);
    transfer_free(t);
}

static void check_multi_info(struct http_client *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct transfer *t = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (t)
            finish(c, t, rc);
    }
}

struct http_client *http_client_new(struct event_base *base)
{
    /* Reference-counted by libcurl (and thread-safe since 7.84). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    struct http_client *c = calloc(1, sizeof(*c));
    if (!c) {
        curl_global_cleanup();
        return NULL;
    }
    c->base = base;
    c->multi = curl_multi_init();
    if (!c->multi)
        goto fail;
    c->timer = evtimer_new(base, timer_cb, c);
    if (!c->timer)
        goto fail;
    if (mcode_ok("setopt", curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, multi_sock_cb)) ||
        mcode_ok("setopt", curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c)) ||
        mcode_ok("setopt", curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb)) ||
        mcode_ok("setopt", curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c)) ||
        mcode_ok("setopt", curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 32L)))
        goto fail;
    return c;
fail:
    if (c->timer)
        event_free(c->timer);
    if (c->multi)
        mcode_ok("cleanup", curl_multi_cleanup(c->multi));
    free(c);
    curl_global_cleanup();
    return NULL;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    while (c->transfers) {
        struct transfer *t = c->transfers;
        transfer_unlink(c, t);
        mcode_ok("remove_handle", curl_multi_remove_handle(c->multi, t->easy));
        transfer_free(t);
    }
    c->closing = 1;
    mcode_ok("cleanup", curl_multi_cleanup(c->multi));
    while (c->socks)
        sock_unlink(c, c->socks);
    event_free(c->timer);
    free(c);
    curl_global_cleanup();
}

int http_client_cancel(struct http_client *c, void *arg)
{
    int n = 0;
    if (!c)
        return 0;
    struct transfer *t = c->transfers, *next;
    for (; t; t = next) {
        next = t->next;
        if (t->arg != arg)
            continue;
        transfer_unlink(c, t);
        mcode_ok("remove_handle", curl_multi_remove_handle(c->multi, t->easy));
        c->pending--;
        transfer_free(t);
        n++;
    }
    return n;
}

int http_client_pending(const struct http_client *c)
{
    return c ? c->pending : 0;
}

const char *http_response_header(const struct http_response *resp, const char *name)
{
    if (!resp || !resp->headers_ || !name)
        return NULL;
    const struct http_client_headers *h = resp->headers_;
    size_t nl = strlen(name);
    size_t off = 0;
    while (off < h->len) {
        const char *line = h->buf + off;
        size_t l = strlen(line);
        if (l > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            return v;
        }
        off += l + 1;
    }
    return NULL;
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (curl_easy_setopt(t->easy, opt, val) != CURLE_OK)                                       \
            goto fail;                                                                             \
    } while (0)

int http_client_request(struct http_client *c, const struct http_request *req, http_done_cb cb,
                        void *arg)
{
    if (!c || !req || !req->url || c->closing)
        return -1;
    struct transfer *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    t->client = c;
    t->cb = cb;
    t->arg = arg;
    t->max_response = req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE;
    t->easy = curl_easy_init();
    if (!t->easy)
        goto fail;

    const char *method = req->method ? req->method : "GET";
    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_PRIVATE, (void *)t);
    SETOPT(CURLOPT_ERRORBUFFER, t->errbuf);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_PROTOCOLS_STR, req->allow_http ? "http,https" : "https");
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SETOPT(CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
           req->connect_timeout_ms > 0 ? req->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS);
    SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
    SETOPT(CURLOPT_WRITEDATA, (void *)t);
    SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
    SETOPT(CURLOPT_HEADERDATA, (void *)t);
    SETOPT(CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    if (t->max_response < INT64_MAX)
        SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_response);

    if (strcmp(method, "GET") == 0) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0) {
        size_t n = req->body ? req->body_len : 0;
        t->body_copy = malloc(n + 1);
        if (!t->body_copy)
            goto fail;
        if (n)
            memcpy(t->body_copy, req->body, n);
        t->body_copy[n] = '\0';
        SETOPT(CURLOPT_POST, 1L);
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
        SETOPT(CURLOPT_POSTFIELDS, t->body_copy);
    } else {
        SETOPT(CURLOPT_CUSTOMREQUEST, method);
    }

    struct curl_slist *nl;
    if (req->headers) {
        for (const char *const *h = req->headers; *h; h++) {
            nl = curl_slist_append(t->headers, *h);
            if (!nl)
                goto fail;
            t->headers = nl;
        }
    }
    /* No "Expect:" override: libcurl's SigV4 would sign the empty header it then omits. */
    SETOPT(CURLOPT_HTTPHEADER, t->headers);

    if (req->aws_sigv4) {
        if (!req->aws_access_key || !req->aws_secret_key)
            goto fail;
        SETOPT(CURLOPT_AWS_SIGV4, req->aws_sigv4);
        /* Separate options, so a ':' inside the secret is not a separator. */
        SETOPT(CURLOPT_USERNAME, req->aws_access_key);
        SETOPT(CURLOPT_PASSWORD, req->aws_secret_key);
    }

    if (mcode_ok("add_handle", curl_multi_add_handle(c->multi, t->easy)) != 0)
        goto fail;
    t->next = c->transfers;
    if (c->transfers)
        c->transfers->prev = t;
    c->transfers = t;
    c->pending++;
    /* curl_multi_add_handle only arms the timer; the transfer starts from the loop. */
    return 0;
fail:
    transfer_free(t);
    return -1;
}
