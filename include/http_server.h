/*
 * http_server: evhttp on the event loop, with a routing table, request ids,
 * limits, JSON error bodies, access logs and request metrics.
 *
 * A handler gets a struct http_ctx for one request and must eventually call
 * exactly one http_reply*() on it, now or later from an asynchronous
 * completion; the reply frees the ctx. If the client goes away first, the
 * ctx stays valid (http_ctx_alive() turns 0) and the reply only frees it.
 */
#ifndef IVS_HTTP_SERVER_H
#define IVS_HTTP_SERVER_H

#include <stddef.h>

struct event_base;
struct metrics;
struct config;
struct json_object;
struct http_server;
struct http_ctx;

enum http_method {
    HTTP_GET = 1,
    HTTP_POST = 2,
    HTTP_HEAD = 4,
    HTTP_OPTIONS = 8,
    HTTP_PUT = 16,
    HTTP_DELETE = 32,
    HTTP_OTHER = 64
};

typedef void (*http_handler)(struct http_ctx *ctx, void *arg);

struct http_server *http_server_new(struct event_base *base, const struct config *cfg,
                                    struct metrics *m);
void http_server_free(struct http_server *s);
/* path is exact; methods is a mask of enum http_method; name labels metrics. */
int http_server_route(struct http_server *s, const char *path, unsigned methods, const char *name,
                      http_handler fn, void *arg);
int http_server_listen(struct http_server *s, const char *host, int port);
int http_server_port(const struct http_server *s); /* the bound port */
void http_server_close_listeners(struct http_server *s);
/* 1 when the listener speaks HTTPS (TLS_CERT_FILE, TLS_KEY_FILE). */
int http_server_tls(const struct http_server *s);
/* SIGHUP: load the TLS pair again; -1 (logged, the old pair stays) when it is bad. */
int http_server_reload_tls(struct http_server *s);
int http_server_inflight(const struct http_server *s);

enum http_method http_ctx_method(const struct http_ctx *c);
const char *http_ctx_request_id(const struct http_ctx *c);
const char *http_ctx_route(const struct http_ctx *c);
const char *http_ctx_header(const struct http_ctx *c, const char *name);
/* The request body, NUL-terminated (it may contain NULs; use len). */
const char *http_ctx_body(struct http_ctx *c, size_t *len);
int http_ctx_alive(const struct http_ctx *c);
/* Attach a value for the caller (freed by nobody: the caller owns it). */
void http_ctx_set_data(struct http_ctx *c, void *data);
void *http_ctx_data(const struct http_ctx *c);
/* Add a response header (copied). */
void http_ctx_add_header(struct http_ctx *c, const char *name, const char *value);
/* CORS answer headers: Access-Control-Allow-Origin "*" when allow_origins
 * (CORS_ALLOW_ORIGINS) is unset or "*", else the request's Origin if the list
 * has it (and Vary: Origin); Access-Control-Allow-Headers and -Methods as given. */
void http_ctx_cors(struct http_ctx *c, const char *allow_origins, const char *allow_headers,
                   const char *allow_methods);
/* An extra field for the access log line, e.g. "\"outcome\":\"applied\"" (copied). */
void http_ctx_log_field(struct http_ctx *c, const char *json_member);

void http_reply(struct http_ctx *c, int status, const char *content_type, const char *body,
                size_t len);
/* Serializes obj (not freed: the caller keeps it). */
void http_reply_json(struct http_ctx *c, int status, struct json_object *obj);
/* {"error": msg} */
void http_reply_error(struct http_ctx *c, int status, const char *msg);

/*
 * Long-lived answers (event streams). A route path may hold "*" for one
 * non-empty segment ("/v1/shows/ * /stream" without the spaces).
 */
int http_path_match(const char *pattern, const char *path);
/* The request's path (not decoded), never NULL. */
const char *http_ctx_path(const struct http_ctx *c);
/* The decoded query parameter name into out; 0, or -1 (absent, too long). */
int http_ctx_query_param(const struct http_ctx *c, const char *name, char *out, size_t outlen);

struct http_stream;
/* The client went away: st is freed after the callback returns. */
typedef void (*http_stream_close_cb)(struct http_stream *st, void *arg);
/*
 * Answer 200 with content_type and the ctx's headers (Cache-Control:
 * no-cache), chunked, and keep the connection open: the ctx is logged and
 * freed, the stream returned (NULL: a 500 was sent). Writes keep
 * WRITE_TIMEOUT; there is no read deadline.
 */
struct http_stream *http_stream_start(struct http_ctx *c, const char *content_type,
                                      http_stream_close_cb cb, void *arg);
/* Queue data as one chunk. 0, or -1 when the client is gone. */
int http_stream_write(struct http_stream *st, const void *data, size_t len);
/* Bytes queued and not yet written to the socket. */
size_t http_stream_unsent(const struct http_stream *st);
/* End (the last chunk; abort: close the connection now) and free st; no callback. */
void http_stream_end(struct http_stream *st, int abort);

#endif
