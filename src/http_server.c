/* http_server: evhttp routing, request ids, limits, JSON errors. */
#include "cidr.h"
#include "clock.h"
#include "http_server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <sys/queue.h>
#include <json-c/json.h>
#include <openssl/rand.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
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
#include "tls.h"

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
 * a guard holding its deadline:
 *  - READ_TIMEOUT after the connection was accepted, or after the first byte
 *    of a request on a kept-alive connection arrived (the slowloris guard);
 *  - KEEPALIVE_TIMEOUT after an answer, while the connection waits idle for
 *    its next request (longer than a load balancer keeps idle connections);
 *  - none while a request is handled;
 *  - WRITE_TIMEOUT since the last progress while an answer is being written.
 * A sweep every 250 ms cuts connections past their deadline (a timeout event,
 * on which evhttp closes them) and drops the guards of closed connections
 * (evhttp clears the callbacks of a bufferevent it frees). libevent's own
 * timeout (evhttp_set_timeout) is only a backstop above all three.
 *
 * The guards also count the connections (MAX_CONNECTIONS: one past it is
 * closed at once) and the request bytes received and not yet answered, across
 * all connections (MAX_BUFFERED_BODY: the connection whose bytes pass it is
 * cut).
 */
#define GUARD_BUCKETS 1024

struct guard {
    struct bufferevent *bev; /* one reference is ours */
    struct http_server *srv;
    double deadline;       /* CLOCK_MONOTONIC; 0 while a request is handled */
    double write_deadline; /* while an answer is in the output buffer */
    int idle;              /* kept alive, waiting for a request: KEEPALIVE_TIMEOUT */
    int cut;               /* 1 over MAX_CONNECTIONS, 2 over MAX_BUFFERED_BODY */
    size_t req_bytes;      /* received since the last answer, counted in srv->buffered */
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
    int conns, max_conns;      /* open connections (not counting those cut at once) */
    size_t buffered;           /* request bytes received and not yet answered */
    struct tls *tls;           /* HTTPS when set */
    struct cidr_list *proxies; /* TRUSTED_PROXIES */
    struct event *relisten;    /* accepting again after EMFILE/ENFILE */
    double accept_backoff;     /* seconds, doubling up to 1 */
    int spare_fd;              /* closed to accept-and-close one connection at EMFILE */
    double last_accept_warn;   /* CLOCK_MONOTONIC */
    long accept_errors_quiet;  /* accept errors since the last warning */
};

struct http_ctx {
    struct http_server *srv;
    struct evhttp_request *req; /* NULL once the client went away */
    struct evhttp_connection *evcon;
    const struct route *route;
    const char *route_name;
    enum http_method method;
    char rid[130]; /* a client's id is echoed whole (up to 128 bytes), never cut */
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

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);
static void on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);

static void guard_drop(struct http_server *s, struct guard *g)
{
    s->buffered -= g->req_bytes;
    if (g->cut != 1)
        s->conns--;
    evbuffer_remove_cb(bufferevent_get_input(g->bev), on_input, g);
    evbuffer_remove_cb(bufferevent_get_output(g->bev), on_output, g);
    bufferevent_decref(g->bev);
    free(g);
}

/* Drop the guards of connections evhttp has closed. */
static void guard_collect(struct http_server *s)
{
    for (size_t i = 0; i < GUARD_BUCKETS; i++) {
        struct guard **pp = &s->guards[i];
        while (*pp) {
            struct guard *g = *pp;
            if (guard_gone(g)) {
                *pp = g->next;
                guard_drop(s, g);
                continue;
            }
            pp = &g->next;
        }
    }
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
                guard_drop(s, g);
                continue;
            }
            short ev = 0;
            if (g->cut && g->deadline >= 0) {
                g->deadline = -1; /* cut once */
                ev = BEV_EVENT_READING | BEV_EVENT_TIMEOUT;
            } else if (g->deadline > 0 && now > g->deadline) {
                g->deadline = 0;
                if (!g->idle)
                    metrics_inc(s->m, "ivs_syncd_http_read_timeouts_total", NULL);
                ev = BEV_EVENT_READING | BEV_EVENT_TIMEOUT;
            } else if (g->write_deadline > 0 &&
                       evbuffer_get_length(bufferevent_get_output(g->bev)) == 0) {
                g->write_deadline = 0;
            } else if (g->write_deadline > 0 && now > g->write_deadline) {
                g->write_deadline = 0;
                ev = BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT;
            }
            if (ev)
                bufferevent_trigger_event(g->bev, ev, 0);
            pp = &g->next;
        }
    }
    metrics_set(s->m, "ivs_syncd_http_connections", NULL, s->conns);
    metrics_set(s->m, "ivs_syncd_http_buffered_request_bytes", NULL, (double)s->buffered);
}

/* Bytes in: the first byte of a request starts READ_TIMEOUT; all count in the body budget. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct guard *g = arg;
    struct http_server *s = g->srv;
    if (!info->n_added || g->cut)
        return;
    if (g->idle) {
        g->idle = 0;
        g->deadline = clock_mono() + s->cfg->read_timeout;
    }
    g->req_bytes += info->n_added;
    s->buffered += info->n_added;
    if (s->buffered > s->cfg->max_buffered_body) {
        g->cut = 2;
        metrics_inc(s->m, "ivs_syncd_http_rejected_connections_total", "reason=\"buffered_body\"");
        event_active(s->sweep, EV_TIMEOUT, 0); /* cut it from the loop, not from inside a read */
    }
}

/* Bytes out: an answer being written makes progress, WRITE_TIMEOUT starts again. */
static void on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct guard *g = arg;
    if (info->n_deleted && g->write_deadline > 0)
        g->write_deadline = clock_mono() + g->srv->cfg->write_timeout;
}

static struct bufferevent *guard_new(struct event_base *base, void *arg)
{
    struct http_server *s = arg;
    struct guard *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->bev = s->tls ? tls_bufferevent(s->tls, base)
                    : bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!g->bev) {
        free(g);
        return NULL;
    }
    bufferevent_incref(g->bev);
    g->srv = s;
    s->accept_backoff = 0;
    if (s->conns >= s->max_conns)
        guard_collect(s); /* the sweep may not have seen the latest closes yet */
    if (s->conns >= s->max_conns) {
        /* closed at once (it cannot be refused here: evhttp has accepted it) */
        g->cut = 1;
        metrics_inc(s->m, "ivs_syncd_http_rejected_connections_total",
                    "reason=\"max_connections\"");
        event_active(s->sweep, EV_TIMEOUT, 0);
    } else {
        s->conns++;
    }
    g->deadline = clock_mono() + s->cfg->read_timeout;
    evbuffer_add_cb(bufferevent_get_input(g->bev), on_input, g);
    evbuffer_add_cb(bufferevent_get_output(g->bev), on_output, g);
    size_t slot = guard_slot(g->bev);
    g->next = s->guards[slot];
    s->guards[slot] = g;
    return g->bev;
}

/* Connections answered: their request bytes leave the budget, the idle wait begins. */
static void guard_answered(struct http_server *s, struct guard *g)
{
    s->buffered -= g->req_bytes;
    g->req_bytes = 0;
    g->idle = 1;
    g->deadline = clock_mono() + s->cfg->keepalive_timeout;
    g->write_deadline = clock_mono() + s->cfg->write_timeout;
}

/* Servers by their evhttp: the listener's error callback only gets the evhttp. */
#define MAX_SERVERS 4
static struct http_server *servers[MAX_SERVERS];

static void relisten(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_server *s = arg;
    if (s->sock)
        evconnlistener_enable(evhttp_bound_socket_get_listener(s->sock));
}

/*
 * accept() failed with something else than EAGAIN/EINTR/ECONNABORTED, most
 * often EMFILE or ENFILE. The pending connection stays in the backlog, so a
 * listener left enabled would be woken at once again, for ever. Instead: use
 * the spare descriptor to accept and close one pending connection (its
 * client learns at once), stop accepting for a backoff (10 ms doubling up to
 * 1 s, reset by the next accepted connection) and warn at most every 10 s.
 */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    struct http_server *s = NULL;
    for (int i = 0; i < MAX_SERVERS; i++)
        if (servers[i] && servers[i]->http == arg)
            s = servers[i];
    if (!s) {
        evconnlistener_disable(lev);
        return;
    }
    metrics_inc(s->m, "ivs_syncd_http_accept_errors_total", NULL);
    if ((err == EMFILE || err == ENFILE) && s->spare_fd >= 0) {
        close(s->spare_fd);
        int fd = accept(evconnlistener_get_fd(lev), NULL, NULL);
        if (fd >= 0) {
            close(fd);
            metrics_inc(s->m, "ivs_syncd_http_rejected_connections_total",
                        "reason=\"no_descriptors\"");
        }
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    s->accept_backoff = s->accept_backoff <= 0 ? 0.01 : s->accept_backoff * 2;
    if (s->accept_backoff > 1)
        s->accept_backoff = 1;
    evconnlistener_disable(lev);
    struct timeval tv = {0, (suseconds_t)(s->accept_backoff * 1e6)};
    if (s->accept_backoff >= 1)
        tv = (struct timeval){1, 0};
    event_add(s->relisten, &tv);
    s->accept_errors_quiet++;
    double now = clock_mono();
    if (now - s->last_accept_warn >= 10) {
        LOG_WARN(NULL, "accept failed: %s (%ld times); pausing accepts %.0f ms", strerror(err),
                 s->accept_errors_quiet, s->accept_backoff * 1000);
        s->last_accept_warn = now;
        s->accept_errors_quiet = 0;
    }
}

/*
 * libevent's own messages go through our log, at most 10 a second (a burst
 * of 20); the number of those dropped is told with the next one let through.
 */
static void libevent_log(int severity, const char *msg)
{
    static double tokens = 20, last;
    static long dropped;
    double now = clock_mono();
    tokens += (now - last) * 10;
    last = now;
    if (tokens > 20)
        tokens = 20;
    if (tokens < 1) {
        dropped++;
        return;
    }
    tokens--;
    int lvl = severity == EVENT_LOG_ERR    ? LOG_LEVEL_ERROR
              : severity == EVENT_LOG_WARN ? LOG_LEVEL_WARN
              : severity == EVENT_LOG_MSG  ? LOG_LEVEL_INFO
                                           : LOG_LEVEL_DEBUG;
    if (dropped)
        LOG_AT(lvl, NULL, NULL, "libevent: %s (%ld more libevent messages dropped)", msg, dropped);
    else
        LOG_AT(lvl, NULL, NULL, "libevent: %s", msg);
    dropped = 0;
}

/* MAX_CONNECTIONS=0: what RLIMIT_NOFILE leaves after 64 descriptors for everything else. */
static int default_max_conns(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000064)
        return 1000000;
    long n = (long)rl.rlim_cur;
    return (int)(n > 128 ? n - 64 : n / 2);
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

/* More than one Content-Length, or Content-Length with Transfer-Encoding (RFC 9112 6.3). */
static int framing_ambiguous(const struct evkeyvalq *h)
{
    int cl = 0, te = 0;
    for (const struct evkeyval *kv = TAILQ_FIRST(h); kv; kv = TAILQ_NEXT(kv, next)) {
        if (!strcasecmp(kv->key, "Content-Length"))
            cl++;
        else if (!strcasecmp(kv->key, "Transfer-Encoding"))
            te++;
    }
    return cl > 1 || (cl && te);
}

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
    if (g) {
        g->deadline = 0; /* the request is in: no deadline while it is handled */
        g->idle = 0;
    }
    if (framing_ambiguous(evhttp_request_get_input_headers(req))) {
        /* evhttp read the body by one of them; a proxy in front may have used another */
        c->route_name = "unknown";
        http_ctx_add_header(c, "Connection", "close");
        http_reply_error(c, 400, "conflicting Content-Length or Transfer-Encoding");
        return;
    }

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
    /* a backstop only: the guards enforce READ_, WRITE_ and KEEPALIVE_TIMEOUT */
    int backstop = cfg->read_timeout > cfg->write_timeout ? cfg->read_timeout : cfg->write_timeout;
    if (cfg->keepalive_timeout > backstop)
        backstop = cfg->keepalive_timeout;
    evhttp_set_timeout(s->http, backstop + 5);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(s->http, "application/json");
    evhttp_set_gencb(s->http, dispatch, s);
    evhttp_set_bevcb(s->http, guard_new, s);
#if LIBEVENT_VERSION_NUMBER >= 0x02020000
    evhttp_set_errorcb(s->http, json_error_page, s);
#endif
    char perr[160];
    s->proxies = cidr_list_parse(cfg->trusted_proxies, perr, sizeof(perr));
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    s->max_conns = cfg->max_connections > 0 ? cfg->max_connections : default_max_conns();
    for (int i = 0; i < MAX_SERVERS; i++)
        if (!servers[i]) {
            servers[i] = s;
            break;
        }
    event_set_log_callback(libevent_log);
    s->relisten = evtimer_new(base, relisten, s);
    s->sweep = event_new(base, -1, EV_PERSIST, guard_sweep, s);
    struct timeval sweep_tv = {0, 250000};
    if (!s->sweep || !s->relisten || event_add(s->sweep, &sweep_tv) < 0) {
        http_server_free(s);
        return NULL;
    }
    metrics_declare(m, "ivs_syncd_http_connections", METRIC_GAUGE,
                    "client connections open (MAX_CONNECTIONS bounds them)");
    metrics_declare(m, "ivs_syncd_http_buffered_request_bytes", METRIC_GAUGE,
                    "request bytes received and not yet answered (MAX_BUFFERED_BODY bounds them)");
    metrics_declare(m, "ivs_syncd_http_rejected_connections_total", METRIC_COUNTER,
                    "connections closed at once: over MAX_CONNECTIONS, over MAX_BUFFERED_BODY, "
                    "or accepted only to be closed when out of descriptors");
    metrics_declare(m, "ivs_syncd_http_accept_errors_total", METRIC_COUNTER,
                    "accept() failures (EMFILE, ENFILE...), each pausing accepts briefly");
    static const char *const reasons[] = {"max_connections", "buffered_body", "no_descriptors"};
    for (size_t i = 0; i < 3; i++) {
        char l[64];
        snprintf(l, sizeof(l), "reason=\"%s\"", reasons[i]);
        metrics_add(m, "ivs_syncd_http_rejected_connections_total", l, 0);
    }
    metrics_add(m, "ivs_syncd_http_accept_errors_total", NULL, 0);
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
    if (s->relisten)
        event_free(s->relisten);
    for (size_t i = 0; i < GUARD_BUCKETS; i++)
        while (s->guards[i]) {
            struct guard *g = s->guards[i];
            s->guards[i] = g->next;
            guard_drop(s, g);
        }
    for (int i = 0; i < MAX_SERVERS; i++)
        if (servers[i] == s)
            servers[i] = NULL;
    if (s->spare_fd >= 0)
        close(s->spare_fd);
    tls_free(s->tls);
    cidr_list_free(s->proxies);
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
    const struct config *cfg = s->cfg;
    if (cfg->tls_cert_file && *cfg->tls_cert_file && !s->tls) {
        char err[512];
        s->tls = tls_new(cfg->tls_cert_file, cfg->tls_key_file, err, sizeof(err));
        if (!s->tls) {
            LOG_ERROR(NULL, "%s", err);
            errno = EINVAL;
            return -1;
        }
        metrics_declare(s->m, "ivs_syncd_tls_cert_expiry_timestamp_seconds", METRIC_GAUGE,
                        "notAfter of the TLS certificate served, seconds since the epoch");
        metrics_set(s->m, "ivs_syncd_tls_cert_expiry_timestamp_seconds", NULL,
                    tls_cert_expiry(s->tls));
    }
    s->sock = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
    if (!s->sock)
        return -1;
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(s->sock), on_accept_error);
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

int http_server_tls(const struct http_server *s)
{
    return s->tls != NULL;
}

int http_server_reload_tls(struct http_server *s)
{
    if (!s->tls)
        return 0;
    char err[512];
    if (tls_reload(s->tls, err, sizeof(err)) < 0) {
        LOG_ERROR(NULL, "SIGHUP: TLS certificate not reloaded, the old one stays in use: %s", err);
        return -1;
    }
    metrics_set(s->m, "ivs_syncd_tls_cert_expiry_timestamp_seconds", NULL, tls_cert_expiry(s->tls));
    LOG_INFO(NULL, "SIGHUP: TLS certificate reloaded from %s", s->cfg->tls_cert_file);
    return 0;
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
        if (g) /* idle until the next request's first byte: KEEPALIVE_TIMEOUT */
            guard_answered(s, g);
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
        char client[64] = "";
        if (c->evcon) {
            char *peer = NULL;
            ev_uint16_t pport = 0;
            evhttp_connection_get_peer(c->evcon, &peer, &pport);
            const char *xff = c->req ? evhttp_find_header(evhttp_request_get_input_headers(c->req),
                                                          "X-Forwarded-For")
                                     : NULL;
            cidr_client_address(s->proxies, peer, xff, client, sizeof(client));
        }
        char f[832];
        snprintf(f, sizeof(f),
                 "\"route\":\"%s\",\"method\":\"%s\",\"status\":%d,"
                 "\"duration_ms\":%.3f%s%s%s%s%s",
                 c->route_name ? c->route_name : "unknown", method, status, dt * 1000,
                 client[0] ? ",\"client\":\"" : "", client, client[0] ? "\"" : "",
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
