/* http_server: evhttp routing, request ids, limits, JSON errors. */
#include "clock.h"
#include "http_server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <json-c/json.h>
#include <openssl/rand.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "metrics.h"

struct route {
    char *path;
    unsigned methods;
    char *name;
    http_handler fn;
    void *arg;
    struct route *next;
};

/*
 * READ_TIMEOUT bounds the time a connection takes to deliver a whole request,
 * not only the gap between two bytes (which is all libevent 2.1's timeout
 * does, so a client trickling bytes would hold a connection for ever). Each
 * connection's bufferevent is made here (evhttp_set_bevcb) and referenced by
 * a guard holding its deadline: READ_TIMEOUT after the connection was
 * accepted or its last answer was sent; none while a request is handled. A
 * sweep every 250 ms cuts connections past their deadline (a timeout event,
 * on which evhttp closes them) and drops the guards of closed connections
 * (evhttp clears the callbacks of a bufferevent it frees).
 */
#define GUARD_BUCKETS 1024

struct guard {
    struct bufferevent *bev; /* one reference is ours */
    double deadline;         /* CLOCK_MONOTONIC; 0 while a request is handled */
    struct guard *next;
};

struct http_server {
    struct event_base *base;
    const struct config *cfg;
    struct metrics *m;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    struct route *routes;
    int port;
    int inflight;
    int sending; /* answers handed to evhttp and not yet written out (or the client gone) */
    struct guard *guards[GUARD_BUCKETS];
    struct event *sweep;
    uint64_t rid_prefix, rid_counter;
};

struct http_ctx {
    struct http_server *srv;
    struct evhttp_request *req; /* NULL once the client went away */
    struct evhttp_connection *evcon;
    const struct route *route;
    const char *route_name;
    enum http_method method;
    char rid[64];
    char *body;
    size_t body_len;
    int body_read;
    struct evkeyvalq out_headers;
    char fields[512];
    double t0;
    void *data;
};

static enum http_method map_method(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return HTTP_GET;
    case EVHTTP_REQ_POST:
        return HTTP_POST;
    case EVHTTP_REQ_HEAD:
        return HTTP_HEAD;
    case EVHTTP_REQ_OPTIONS:
        return HTTP_OPTIONS;
    case EVHTTP_REQ_PUT:
        return HTTP_PUT;
    case EVHTTP_REQ_DELETE:
        return HTTP_DELETE;
    default:
        return HTTP_OTHER;
    }
}

/* A client's X-Request-Id is echoed when it is printable ASCII, 1..128 bytes. */
static int rid_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= 128 || (unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
            return 0;
    return n > 0;
}

/* A request id: this process's random 64-bit prefix and a counter, 32 hex digits. */
static void make_rid(struct http_server *s, char *out, size_t outlen)
{
    snprintf(out, outlen, "%016llx%016llx", (unsigned long long)s->rid_prefix,
             (unsigned long long)++s->rid_counter);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct http_ctx *c = arg;
    c->req = NULL;
    c->evcon = NULL;
}

/* An answer stays "in flight" until evhttp has written it: the drain must not exit with
 * answers still in output buffers (the client would get no answer for a stored event). */
static void on_sent_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct http_server *s = arg;
    s->sending--;
}

static void on_sent(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    s->sending--;
}

static size_t guard_slot(const struct bufferevent *bev)
{
    uintptr_t p = (uintptr_t)bev;
    return (size_t)((p >> 4) ^ (p >> 14)) % GUARD_BUCKETS;
}

static struct guard *guard_of(struct http_server *s, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    if (!bev)
        return NULL;
    for (struct guard *g = s->guards[guard_slot(bev)]; g; g = g->next)
        if (g->bev == bev)
            return g;
    return NULL;
}

static int guard_gone(const struct guard *g)
{
    bufferevent_data_cb r = NULL, w = NULL;
    bufferevent_event_cb e = NULL;
    bufferevent_getcb(g->bev, &r, &w, &e, NULL);
    return !r && !w && !e;
}

static void guard_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_server *s = arg;
    double now = clock_mono();
    for (size_t i = 0; i < GUARD_BUCKETS; i++) {
        struct guard **pp = &s->guards[i];
        while (*pp) {
            struct guard *g = *pp;
            if (guard_gone(g)) {
                *pp = g->next;
                bufferevent_decref(g->bev);
                free(g);
                continue;
            }
            if (g->deadline > 0 && now > g->deadline) {
                g->deadline = 0;
                metrics_inc(s->m, "ivs_syncd_http_read_timeouts_total", NULL);
                bufferevent_trigger_event(g->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
            }
            pp = &g->next;
        }
    }
}

static struct bufferevent *guard_new(struct event_base *base, void *arg)
{
    struct http_server *s = arg;
    struct guard *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!g->bev) {
        free(g);
        return NULL;
    }
    bufferevent_incref(g->bev);
    g->deadline = clock_mono() + s->cfg->read_timeout;
    size_t slot = guard_slot(g->bev);
    g->next = s->guards[slot];
    s->guards[slot] = g;
    return g->bev;
}

static void ctx_free(struct http_ctx *c)
{
    evhttp_clear_headers(&c->out_headers);
    free(c->body);
    c->srv->inflight--;
    free(c);
}

/*
 * An error answered without a ctx (none could be allocated): the JSON body,
 * "Connection: close". The request is not counted or logged.
 */
static void reply_bare_error(struct evhttp_request *req, int status, const char *msg)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Connection", "close");
    struct evbuffer *b = evbuffer_new();
    if (b)
        evbuffer_add_printf(b, "{\"error\":\"%s\"}", msg);
    evhttp_send_reply(req, status, NULL, b);
    if (b)
        evbuffer_free(b);
}

#if LIBEVENT_VERSION_NUMBER >= 0x02020000
/* The {"error": ...} text of the errors evhttp itself detects. */
static const char *error_message(int status)
{
    switch (status) {
    case 413:
        return "request body too large";
    case 400:
        return "malformed HTTP request";
    case 404:
        return "no such route";
    case 405:
        return "method not allowed";
    case 503:
        return "service unavailable";
    default:
        return "request failed";
    }
}

/*
 * libevent >= 2.2: the body of the errors evhttp answers itself (malformed
 * request, headers or body past the limits, bad chunking) is ours, JSON like
 * every other error of this service. (libevent still sets its own
 * Content-Type and "Connection: close" on these answers.) With 2.1 they keep
 * libevent's HTML page: see "HTTP errors" in the README.
 */
static int json_error_page(struct evhttp_request *req, struct evbuffer *buf, int error,
                           const char *reason, void *arg)
{
    (void)req;
    (void)reason;
    (void)arg;
    return evbuffer_add_printf(buf, "{\"error\":\"%s\"}", error_message(error)) < 0 ? -1 : 0;
}
#endif

static void dispatch(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    struct http_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        reply_bare_error(req, 503, "out of memory");
        return;
    }
    c->srv = s;
    c->req = req;
    c->t0 = clock_mono();
    TAILQ_INIT(&c->out_headers);
    s->inflight++;
    c->method = map_method(evhttp_request_get_command(req));
    const char *in_rid = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
    if (in_rid && rid_ok(in_rid))
        snprintf(c->rid, sizeof(c->rid), "%s", in_rid);
    else
        make_rid(s, c->rid, sizeof(c->rid));
    c->evcon = evhttp_request_get_connection(req);
    if (c->evcon)
        evhttp_connection_set_closecb(c->evcon, on_close, c);
    struct guard *g = guard_of(s, c->evcon);
    if (g)
        g->deadline = 0; /* the request is in: no deadline while it is handled */

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    const struct route *found = NULL;
    for (const struct route *r = s->routes; r; r = r->next)
        if (http_path_match(r->path, path)) {
            found = r;
            break;
        }
    if (!found) {
        c->route_name = "unknown";
        http_reply_error(c, 404, "no such route");
        return;
    }
    c->route = found;
    c->route_name = found->name;
    unsigned allowed = found->methods;
    if (allowed & HTTP_GET)
        allowed |= HTTP_HEAD;
    if (!(c->method & allowed)) {
        char allow[64] = "";
        size_t n = 0;
        static const struct {
            unsigned m;
            const char *s;
        } names[] = {{HTTP_GET, "GET"},         {HTTP_HEAD, "HEAD"}, {HTTP_POST, "POST"},
                     {HTTP_OPTIONS, "OPTIONS"}, {HTTP_PUT, "PUT"},   {HTTP_DELETE, "DELETE"}};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (allowed & names[i].m)
                n += (size_t)snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "",
                                      names[i].s);
        http_ctx_add_header(c, "Allow", allow);
        http_reply_error(c, 405, "method not allowed");
        return;
    }
    found->fn(c, found->arg);
}

struct http_server *http_server_new(struct event_base *base, const struct config *cfg,
                                    struct metrics *m)
{
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base = base;
    s->cfg = cfg;
    s->m = m;
    if (RAND_bytes((unsigned char *)&s->rid_prefix, sizeof(s->rid_prefix)) != 1)
        s->rid_prefix = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    s->http = evhttp_new(base);
    if (!s->http) {
        free(s);
        return NULL;
    }
    evhttp_set_max_body_size(s->http, (ev_ssize_t)cfg->max_body);
    evhttp_set_max_headers_size(s->http, (ev_ssize_t)cfg->max_headers);
    evhttp_set_timeout(s->http, cfg->read_timeout > cfg->write_timeout ? cfg->read_timeout
                                                                       : cfg->write_timeout);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(s->http, "application/json");
    evhttp_set_gencb(s->http, dispatch, s);
    evhttp_set_bevcb(s->http, guard_new, s);
#if LIBEVENT_VERSION_NUMBER >= 0x02020000
    evhttp_set_errorcb(s->http, json_error_page, s);
#endif
    s->sweep = event_new(base, -1, EV_PERSIST, guard_sweep, s);
    struct timeval sweep_tv = {0, 250000};
    if (!s->sweep || event_add(s->sweep, &sweep_tv) < 0) {
        http_server_free(s);
        return NULL;
    }
    metrics_declare(m, "ivs_syncd_http_read_timeouts_total", METRIC_COUNTER,
                    "connections cut for taking longer than READ_TIMEOUT to send a request");
    metrics_declare(m, "ivs_syncd_http_requests_total", METRIC_COUNTER,
                    "HTTP requests by route and status");
    metrics_declare(m, "ivs_syncd_http_request_seconds", METRIC_HISTOGRAM,
                    "HTTP request latency by route");
    return s;
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    if (s->http)
        evhttp_free(s->http);
    if (s->sweep)
        event_free(s->sweep);
    for (size_t i = 0; i < GUARD_BUCKETS; i++)
        while (s->guards[i]) {
            struct guard *g = s->guards[i];
            s->guards[i] = g->next;
            bufferevent_decref(g->bev);
            free(g);
        }
    while (s->routes) {
        struct route *r = s->routes;
        s->routes = r->next;
        free(r->path);
        free(r->name);
        free(r);
    }
    free(s);
}

int http_server_route(struct http_server *s, const char *path, unsigned methods, const char *name,
                      http_handler fn, void *arg)
{
    struct route *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->path = strdup(path);
    r->name = strdup(name);
    if (!r->path || !r->name) {
        free(r->path);
        free(r->name);
        free(r);
        return -1;
    }
    r->methods = methods;
    r->fn = fn;
    r->arg = arg;
    r->next = s->routes;
    s->routes = r;
    return 0;
}

int http_server_listen(struct http_server *s, const char *host, int port)
{
    s->sock = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
    if (!s->sock)
        return -1;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(s->sock);
    /* accepted sockets inherit it: an answer never waits for the client's delayed ACK */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return 0;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_close_listeners(struct http_server *s)
{
    if (s->sock) {
        evhttp_del_accept_socket(s->http, s->sock);
        s->sock = NULL;
    }
}

int http_server_inflight(const struct http_server *s)
{
    /* answers written by evhttp may still sit in a connection's socket buffer */
    int unsent = 0;
    if (s->inflight + s->sending == 0)
        for (size_t i = 0; i < GUARD_BUCKETS; i++)
            for (struct guard *g = s->guards[i]; g; g = g->next)
                if (!guard_gone(g) && evbuffer_get_length(bufferevent_get_output(g->bev)))
                    unsent++;
    return s->inflight + s->sending + unsent;
}

enum http_method http_ctx_method(const struct http_ctx *c)
{
    return c->method;
}

const char *http_ctx_request_id(const struct http_ctx *c)
{
    return c->rid;
}

const char *http_ctx_route(const struct http_ctx *c)
{
    return c->route_name;
}

const char *http_ctx_header(const struct http_ctx *c, const char *name)
{
    if (!c->req)
        return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(c->req), name);
}

const char *http_ctx_body(struct http_ctx *c, size_t *len)
{
    if (!c->body_read) {
        c->body_read = 1;
        struct evbuffer *b = c->req ? evhttp_request_get_input_buffer(c->req) : NULL;
        size_t n = b ? evbuffer_get_length(b) : 0;
        c->body = malloc(n + 1);
        if (c->body) {
            if (n)
                evbuffer_copyout(b, c->body, n);
            c->body[n] = '\0';
            c->body_len = n;
        }
    }
    if (len)
        *len = c->body_len;
    return c->body ? c->body : "";
}

int http_ctx_alive(const struct http_ctx *c)
{
    return c->req != NULL;
}

void http_ctx_set_data(struct http_ctx *c, void *data)
{
    c->data = data;
}

void *http_ctx_data(const struct http_ctx *c)
{
    return c->data;
}

void http_ctx_add_header(struct http_ctx *c, const char *name, const char *value)
{
    evhttp_add_header(&c->out_headers, name, value);
}

void http_ctx_log_field(struct http_ctx *c, const char *json_member)
{
    size_t n = strlen(c->fields);
    snprintf(c->fields + n, sizeof(c->fields) - n, ",%s", json_member);
}

void http_reply(struct http_ctx *c, int status, const char *content_type, const char *body,
                size_t len)
{
    struct http_server *s = c->srv;
    double dt = clock_mono() - c->t0;
    if (c->req) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
        evhttp_add_header(h, "Content-Type", content_type ? content_type : "application/json");
        evhttp_add_header(h, "X-Request-Id", c->rid);
        evhttp_add_header(h, "Cache-Control", "no-store");
        struct evkeyval *kv;
        for (kv = TAILQ_FIRST(&c->out_headers); kv; kv = TAILQ_NEXT(kv, next))
            evhttp_add_header(h, kv->key, kv->value);
        struct evbuffer *out = evbuffer_new();
        if (out && len && c->method != HTTP_HEAD)
            evbuffer_add(out, body, len);
        struct guard *g = guard_of(s, c->evcon);
        if (g) /* the next request must be in within READ_TIMEOUT */
            g->deadline = clock_mono() + s->cfg->read_timeout;
        if (c->evcon) {
            /* exactly one of on_sent / on_sent_close runs for this answer */
            evhttp_connection_set_closecb(c->evcon, on_sent_close, s);
            evhttp_request_set_on_complete_cb(c->req, on_sent, s);
            s->sending++;
        }
        evhttp_send_reply(c->req, status, NULL, out);
        if (out)
            evbuffer_free(out);
    }
    char labels[160];
    snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"",
             c->route_name ? c->route_name : "unknown", status);
    metrics_inc(s->m, "ivs_syncd_http_requests_total", labels);
    snprintf(labels, sizeof(labels), "route=\"%s\"", c->route_name ? c->route_name : "unknown");
    metrics_observe(s->m, "ivs_syncd_http_request_seconds", labels, dt);
    int lvl = status >= 500 ? LOG_LEVEL_WARN : LOG_LEVEL_INFO;
    if (log_enabled(lvl) &&
        !(status == 200 && c->route_name &&
          (!strcmp(c->route_name, "healthz") || !strcmp(c->route_name, "metrics") ||
           !strcmp(c->route_name, "readyz")))) {
        static const char *const mn[] = {"GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE"};
        const char *method = "OTHER";
        for (int i = 0; i < 6; i++)
            if (c->method == (1u << i))
                method = mn[i];
        char f[768];
        snprintf(f, sizeof(f),
                 "\"route\":\"%s\",\"method\":\"%s\",\"status\":%d,"
                 "\"duration_ms\":%.3f%s%s",
                 c->route_name ? c->route_name : "unknown", method, status, dt * 1000,
                 c->req ? "" : ",\"client_gone\":true", c->fields);
        log_write(lvl, c->rid, f, "request");
    }
    ctx_free(c);
}

void http_reply_json(struct http_ctx *c, int status, struct json_object *obj)
{
    size_t len = 0;
    const char *s = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    http_reply(c, status, "application/json", s, len);
}

void http_reply_error(struct http_ctx *c, int status, const char *msg)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(msg));
    http_reply_json(c, status, o);
    json_object_put(o);
}

/*
 * Additions for long-lived answers (event streams, sse.c): path patterns,
 * the path and query of a request, and taking a request over for a chunked
 * reply that stays open.
 */
int http_path_match(const char *pattern, const char *path)
{
    while (*pattern && *path) {
        if (pattern[0] == '*' && (pattern[1] == '/' || !pattern[1])) {
            const char *e = strchr(path, '/');
            size_t n = e ? (size_t)(e - path) : strlen(path);
            if (!n)
                return 0;
            path += n;
            pattern++;
            continue;
        }
        if (*pattern++ != *path++)
            return 0;
    }
    return !*pattern && !*path;
}

const char *http_ctx_path(const struct http_ctx *c)
{
    const struct evhttp_uri *uri = c->req ? evhttp_request_get_evhttp_uri(c->req) : NULL;
    const char *p = uri ? evhttp_uri_get_path(uri) : NULL;
    return p && *p ? p : "/";
}

int http_ctx_query_param(const struct http_ctx *c, const char *name, char *out, size_t outlen)
{
    const struct evhttp_uri *uri = c->req ? evhttp_request_get_evhttp_uri(c->req) : NULL;
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    if (!q || !outlen)
        return -1;
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    if (evhttp_parse_query_str(q, &kv) < 0) {
        evhttp_clear_headers(&kv);
        return -1;
    }
    int rc = -1;
    for (struct evkeyval *e = TAILQ_FIRST(&kv); e; e = TAILQ_NEXT(e, next))
        if (!strcmp(e->key, name)) {
            size_t n = strlen(e->value);
            if (n < outlen) {
                memcpy(out, e->value, n + 1);
                rc = 0;
            }
            break;
        }
    evhttp_clear_headers(&kv);
    return rc;
}

struct http_stream {
    struct http_server *srv;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct bufferevent *bev;
    http_stream_close_cb cb;
    void *arg;
    struct evbuffer *scratch;
    int chunked;
};

/* The client went away (or the server is freed): tell the owner, free the stream. */
static void stream_on_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct http_stream *st = arg;
    /* a request evhttp detached from its failed connection is ours to free;
     * one still on the connection is freed by evhttp after this callback */
    if (st->req && !evhttp_request_get_connection(st->req))
        evhttp_send_reply_end(st->req);
    st->req = NULL;
    st->evcon = NULL;
    if (st->cb)
        st->cb(st, st->arg);
    evbuffer_free(st->scratch);
    free(st);
}

struct http_stream *http_stream_start(struct http_ctx *c, const char *content_type,
                                      http_stream_close_cb cb, void *arg)
{
    struct http_server *s = c->srv;
    struct http_stream *st = NULL;
    if (c->req && c->evcon && (st = calloc(1, sizeof(*st))) != NULL &&
        (st->scratch = evbuffer_new()) != NULL) {
        st->srv = s;
        st->req = c->req;
        st->evcon = c->evcon;
        st->bev = evhttp_connection_get_bufferevent(c->evcon);
        st->cb = cb;
        st->arg = arg;
        struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
        evhttp_add_header(h, "Content-Type", content_type);
        evhttp_add_header(h, "X-Request-Id", c->rid);
        evhttp_add_header(h, "Cache-Control", "no-cache");
        for (struct evkeyval *kv = TAILQ_FIRST(&c->out_headers); kv; kv = TAILQ_NEXT(kv, next))
            evhttp_add_header(h, kv->key, kv->value);
        evhttp_connection_set_closecb(c->evcon, stream_on_close, st);
        evhttp_send_reply_start(c->req, 200, NULL);
        st->chunked = evhttp_find_header(h, "Transfer-Encoding") != NULL;
        /* no read deadline while the stream is open (the client sends
         * nothing); writes keep WRITE_TIMEOUT; at most 4 KiB read and kept */
        struct timeval wt = {s->cfg->write_timeout, 0};
        bufferevent_set_timeouts(st->bev, NULL, &wt);
        bufferevent_setwatermark(st->bev, EV_READ, 0, 4096);
    } else if (st) {
        free(st);
        st = NULL;
    }
    /* the request is answered: count and log it like any other */
    double dt = clock_mono() - c->t0;
    int status = st ? 200 : 500;
    char labels[160];
    snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"",
             c->route_name ? c->route_name : "unknown", status);
    metrics_inc(s->m, "ivs_syncd_http_requests_total", labels);
    if (log_enabled(LOG_LEVEL_INFO)) {
        char f[768];
        snprintf(f, sizeof(f),
                 "\"route\":\"%s\",\"method\":\"GET\",\"status\":%d,\"duration_ms\":%.3f,"
                 "\"stream\":true%s",
                 c->route_name ? c->route_name : "unknown", status, dt * 1000, c->fields);
        log_write(LOG_LEVEL_INFO, c->rid, f, "request");
    }
    if (!st && c->req)
        evhttp_send_error(c->req, 500, NULL);
    ctx_free(c);
    return st;
}

/*
 * With nothing queued, the chunk is written to the socket at once (no
 * write event armed and disarmed per subscriber and event); what the socket
 * does not take is queued on the connection, which writes it when it can.
 */
int http_stream_write(struct http_stream *st, const void *data, size_t len)
{
    if (!st->req || !st->evcon || !len)
        return st->evcon ? 0 : -1;
    struct evbuffer *out = bufferevent_get_output(st->bev);
    char head[24];
    int hl = st->chunked ? snprintf(head, sizeof(head), "%zx\r\n", len) : 0;
    struct iovec iov[3] = {{head, (size_t)hl}, {(void *)data, len}, {"\r\n", st->chunked ? 2 : 0}};
    size_t total = (size_t)hl + len + iov[2].iov_len, done = 0;
    if (evbuffer_get_length(out) == 0) {
        ssize_t n = writev(bufferevent_getfd(st->bev), iov, 3);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        done = n > 0 ? (size_t)n : 0;
    }
    if (done == total)
        return 0;
    /* the rest is queued: the connection writes it when the socket takes it */
    for (int i = 0; i < 3; i++) {
        size_t l = iov[i].iov_len;
        if (done >= l) {
            done -= l;
            continue;
        }
        evbuffer_add(st->scratch, (const char *)iov[i].iov_base + done, l - done);
        done = 0;
    }
    evbuffer_add_buffer(out, st->scratch);
    return 0;
}

size_t http_stream_unsent(const struct http_stream *st)
{
    return st->bev ? evbuffer_get_length(bufferevent_get_output(st->bev)) : 0;
}

void http_stream_end(struct http_stream *st, int abort)
{
    if (st->evcon) {
        evhttp_connection_set_closecb(st->evcon, NULL, NULL);
        if (abort) {
            /* a reset: what the kernel still queues for this client is discarded too */
            struct linger lg = {1, 0};
            evutil_socket_t fd = bufferevent_getfd(st->bev);
            if (fd >= 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            evhttp_connection_free(st->evcon);
        } else {
            struct timeval rt = {st->srv->cfg->read_timeout, 0};
            struct timeval wt = {st->srv->cfg->write_timeout, 0};
            bufferevent_set_timeouts(st->bev, &rt, &wt);
            struct guard *g = guard_of(st->srv, st->evcon);
            if (g)
                g->deadline = clock_mono() + st->srv->cfg->read_timeout;
            evhttp_send_reply_end(st->req);
        }
    }
    evbuffer_free(st->scratch);
    free(st);
}
