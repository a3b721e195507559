/* http_server: evhttp routing, request ids, limits, JSON errors. */
#include "http_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cidr.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"

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

void http_ctx_free(struct http_ctx *c)
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
    http_conn_request(s, c->evcon);
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
#if LIBEVENT_VERSION_NUMBER >= 0x02020000
    evhttp_set_errorcb(s->http, json_error_page, s);
#endif
    char perr[160];
    s->proxies = cidr_list_parse(cfg->trusted_proxies, perr, sizeof(perr));
    if (http_conn_init(s) < 0) {
        http_server_free(s);
        return NULL;
    }
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
    http_conn_fini(s);
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
    http_conn_listening(s);
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
    int unsent = s->inflight + s->sending == 0 ? http_conn_unsent(s) : 0;
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

void http_ctx_cors(struct http_ctx *c, const char *allow_origins, const char *allow_headers,
                   const char *allow_methods)
{
    const char *origin = http_ctx_header(c, "Origin");
    if (!allow_origins || !strcmp(allow_origins, "*")) {
        http_ctx_add_header(c, "Access-Control-Allow-Origin", "*");
    } else if (origin && config_list_contains(allow_origins, origin, strlen(origin))) {
        http_ctx_add_header(c, "Access-Control-Allow-Origin", origin);
        http_ctx_add_header(c, "Vary", "Origin");
    }
    http_ctx_add_header(c, "Access-Control-Allow-Headers", allow_headers);
    http_ctx_add_header(c, "Access-Control-Allow-Methods", allow_methods);
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
        http_conn_answered(s, c->evcon); /* KEEPALIVE_TIMEOUT until the next request */
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
    http_ctx_free(c);
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
