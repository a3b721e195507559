/*
 * http_int: what the parts of the http_server module share (http_server.c:
 * routing, request contexts, answers, the access log; http_conn.c: the
 * per-connection guards, connection and body caps, accept errors;
 * http_stream.c: long-lived answers). Not for other modules: their interface
 * is include/http_server.h.
 */
#ifndef IVS_HTTP_INT_H
#define IVS_HTTP_INT_H

#include <event2/keyvalq_struct.h>
#include <stddef.h>
#include <stdint.h>

#include "http_server.h"

struct bufferevent;
struct cidr_list;
struct config;
struct event;
struct event_base;
struct evhttp;
struct evhttp_bound_socket;
struct evhttp_connection;
struct evhttp_request;
struct guard; /* http_conn.c */
struct metrics;
struct tls;

struct route {
    char *path;
    unsigned methods;
    char *name;
    http_handler fn;
    void *arg;
    struct route *next;
};

#define GUARD_BUCKETS 1024

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

/* http_server.c: free a request context (its request was answered or taken over). */
void http_ctx_free(struct http_ctx *c);

/*
 * http_conn.c. init (from http_server_new): the guards, the sweep, the
 * MAX_CONNECTIONS default, the spare descriptor, libevent's log through
 * ours, the connection metrics; -1 on failure (then http_server_free).
 * fini (from http_server_free, after evhttp_free): all of it released.
 */
int http_conn_init(struct http_server *s);
void http_conn_fini(struct http_server *s);
/* The listener is bound: accept errors (EMFILE...) pause it and retry. */
void http_conn_listening(struct http_server *s);
/* A request is in on evcon: no deadline while it is handled. */
void http_conn_request(struct http_server *s, struct evhttp_connection *evcon);
/* It was answered: its bytes leave the body budget, KEEPALIVE_TIMEOUT and WRITE_TIMEOUT run. */
void http_conn_answered(struct http_server *s, struct evhttp_connection *evcon);
/* A stream ended cleanly on evcon: READ_TIMEOUT for a next request. */
void http_conn_stream_ended(struct http_server *s, struct evhttp_connection *evcon);
/* Open connections with answer bytes still in their output buffer. */
int http_conn_unsent(const struct http_server *s);

#endif
