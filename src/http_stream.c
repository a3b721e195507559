/* http_stream: long-lived answers (event streams): path patterns, query, chunked replies. */
#include "http_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "metrics.h"

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
    http_ctx_free(c);
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
            http_conn_stream_ended(st->srv, st->evcon);
            evhttp_send_reply_end(st->req);
        }
    }
    evbuffer_free(st->scratch);
    free(st);
}
