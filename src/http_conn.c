/* http_conn: per-connection deadlines, connection and body caps, accept errors. */
#include "http_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"

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
    guard_collect(s);
    double now = clock_mono();
    for (size_t i = 0; i < GUARD_BUCKETS; i++)
        for (struct guard *g = s->guards[i]; g; g = g->next) {
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
void http_conn_answered(struct http_server *s, struct evhttp_connection *evcon)
{
    struct guard *g = guard_of(s, evcon);
    if (!g) /* idle until the next request's first byte: KEEPALIVE_TIMEOUT */
        return;
    s->buffered -= g->req_bytes;
    g->req_bytes = 0;
    g->idle = 1;
    g->deadline = clock_mono() + s->cfg->keepalive_timeout;
    g->write_deadline = clock_mono() + s->cfg->write_timeout;
}

void http_conn_request(struct http_server *s, struct evhttp_connection *evcon)
{
    struct guard *g = guard_of(s, evcon);
    if (g) {
        g->deadline = 0; /* the request is in: no deadline while it is handled */
        g->idle = 0;
    }
}

void http_conn_stream_ended(struct http_server *s, struct evhttp_connection *evcon)
{
    struct guard *g = guard_of(s, evcon);
    if (g)
        g->deadline = clock_mono() + s->cfg->read_timeout;
}

int http_conn_unsent(const struct http_server *s)
{
    int unsent = 0;
    for (size_t i = 0; i < GUARD_BUCKETS; i++)
        for (const struct guard *g = s->guards[i]; g; g = g->next)
            if (!guard_gone(g) && evbuffer_get_length(bufferevent_get_output(g->bev)))
                unsent++;
    return unsent;
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

int http_conn_init(struct http_server *s)
{
    evhttp_set_bevcb(s->http, guard_new, s);
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    s->max_conns = s->cfg->max_connections > 0 ? s->cfg->max_connections : default_max_conns();
    for (int i = 0; i < MAX_SERVERS; i++)
        if (!servers[i]) {
            servers[i] = s;
            break;
        }
    event_set_log_callback(libevent_log);
    s->relisten = evtimer_new(s->base, relisten, s);
    s->sweep = event_new(s->base, -1, EV_PERSIST, guard_sweep, s);
    struct timeval sweep_tv = {0, 250000};
    if (!s->sweep || !s->relisten || event_add(s->sweep, &sweep_tv) < 0)
        return -1;
    struct metrics *m = s->m;
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
    return 0;
}

void http_conn_fini(struct http_server *s)
{
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
}

void http_conn_listening(struct http_server *s)
{
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(s->sock), on_accept_error);
}
