/* pglisten: a dedicated LISTEN session on the event loop, reopened with backoff. */
#include "pglisten.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

enum lstate { L_DOWN, L_CONNECTING, L_LISTENING, L_UP };

struct pglisten {
    struct event_base *base;
    char *conninfo;
    char *listen_sql; /* "LISTEN a; LISTEN b" */
    int connect_timeout;
    struct metrics *m;
    pglisten_notify_fn notify;
    pglisten_up_fn up;
    void *arg;
    PGconn *pg;
    enum lstate state;
    struct event *io;    /* socket readiness of pg */
    struct event *timer; /* backoff / connect deadline */
    double backoff;      /* seconds */
    int stopped;
};

static void l_connect(struct pglisten *l);

static void on_io(evutil_socket_t fd, short what, void *arg);

static void arm(struct pglisten *l, short what)
{
    if (l->io) {
        event_free(l->io);
        l->io = NULL;
    }
    int fd = l->pg ? PQsocket(l->pg) : -1;
    if (fd < 0)
        return;
    l->io = event_new(l->base, fd, what, on_io, l);
    if (l->io)
        event_add(l->io, NULL);
}

static void l_down(struct pglisten *l, const char *why);

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pglisten *l = arg;
    if (l->state == L_DOWN)
        l_connect(l);
    else if (l->state != L_UP)
        l_down(l, "connection attempt timed out");
}

/* The session is lost (or an attempt failed): retry after the backoff. */
static void l_down(struct pglisten *l, const char *why)
{
    int was_up = l->state == L_UP;
    if (was_up)
        metrics_set(l->m, "ivs_syncd_push_listen_up", NULL, 0);
    if (l->io) {
        event_free(l->io);
        l->io = NULL;
    }
    if (l->pg) {
        PQfinish(l->pg);
        l->pg = NULL;
    }
    l->state = L_DOWN;
    if (l->stopped)
        return;
    if (was_up && l->up)
        l->up(0, l->arg);
    metrics_inc(l->m, "ivs_syncd_push_listen_errors_total", NULL);
    LOG_WARN(NULL, "push: LISTEN session %s: %s; retrying in %.2f s", was_up ? "lost" : "failed",
             why, l->backoff);
    double j = l->backoff * (0.8 + 0.4 * ((double)rand() / RAND_MAX));
    struct timeval tv = {(long)j, (long)((j - (long)j) * 1e6)};
    evtimer_del(l->timer);
    evtimer_add(l->timer, &tv);
    l->backoff = l->backoff * 2 > 10 ? 10 : l->backoff * 2;
}

static void drain_notifies(struct pglisten *l)
{
    PGnotify *n;
    while ((n = PQnotifies(l->pg)) != NULL) {
        if (l->notify)
            l->notify(n->relname, n->extra ? n->extra : "", l->arg);
        PQfreemem(n);
        if (!l->pg) /* the callback cannot stop us, but be safe */
            return;
    }
}

static void err_text(struct pglisten *l, char *out, size_t len)
{
    const char *e = l->pg ? PQerrorMessage(l->pg) : "";
    snprintf(out, len, "%s", e && *e ? e : "connection lost");
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
}

static void poll_connect(struct pglisten *l)
{
    char why[256];
    switch (PQconnectPoll(l->pg)) {
    case PGRES_POLLING_READING:
        arm(l, EV_READ);
        return;
    case PGRES_POLLING_WRITING:
        arm(l, EV_WRITE);
        return;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(l->pg, 1) != 0 || !PQsendQuery(l->pg, l->listen_sql)) {
            err_text(l, why, sizeof(why));
            l_down(l, why);
            return;
        }
        l->state = L_LISTENING;
        if (PQflush(l->pg) == 1)
            arm(l, EV_READ | EV_WRITE | EV_PERSIST);
        else
            arm(l, EV_READ | EV_PERSIST);
        return;
    default:
        err_text(l, why, sizeof(why));
        l_down(l, why);
        return;
    }
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct pglisten *l = arg;
    char why[256];
    if (l->state == L_CONNECTING) {
        poll_connect(l);
        return;
    }
    if (what & EV_WRITE) {
        int f = PQflush(l->pg);
        if (f < 0) {
            err_text(l, why, sizeof(why));
            l_down(l, why);
            return;
        }
        if (f == 0)
            arm(l, EV_READ | EV_PERSIST);
    }
    if (!(what & EV_READ))
        return;
    if (!PQconsumeInput(l->pg)) {
        err_text(l, why, sizeof(why));
        l_down(l, why);
        return;
    }
    if (l->state == L_LISTENING) {
        while (!PQisBusy(l->pg)) {
            PGresult *r = PQgetResult(l->pg);
            if (!r) {
                l->state = L_UP;
                evtimer_del(l->timer);
                l->backoff = 0.25;
                metrics_set(l->m, "ivs_syncd_push_listen_up", NULL, 1);
                LOG_INFO(NULL, "push: LISTEN session up");
                if (l->up)
                    l->up(1, l->arg);
                break;
            }
            int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            if (!ok)
                snprintf(why, sizeof(why), "LISTEN: %s", PQresultErrorMessage(r));
            PQclear(r);
            if (!ok) {
                l_down(l, why);
                return;
            }
        }
    }
    if (l->state == L_UP) {
        drain_notifies(l);
        if (l->pg && PQstatus(l->pg) != CONNECTION_OK)
            l_down(l, "connection lost");
    }
}

static void l_connect(struct pglisten *l)
{
    char tmo[16];
    snprintf(tmo, sizeof(tmo), "%d", l->connect_timeout);
    const char *kw[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {l->conninfo, "ivs-syncd-listen", tmo, NULL};
    l->state = L_CONNECTING;
    l->pg = PQconnectStartParams(kw, vals, 1);
    if (!l->pg || PQstatus(l->pg) == CONNECTION_BAD) {
        char why[256];
        err_text(l, why, sizeof(why));
        l_down(l, why);
        return;
    }
    /* the whole attempt, LISTENs included, has connect_timeout */
    struct timeval tv = {l->connect_timeout, 0};
    evtimer_del(l->timer);
    evtimer_add(l->timer, &tv);
    poll_connect(l);
}

struct pglisten *pglisten_new(struct event_base *base, const char *conninfo,
                              const char *const *channels, int connect_timeout, struct metrics *m,
                              pglisten_notify_fn notify, pglisten_up_fn up, void *arg)
{
    struct pglisten *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->base = base;
    l->conninfo = strdup(conninfo ? conninfo : "");
    size_t need = 1;
    for (int i = 0; channels[i]; i++)
        need += strlen(channels[i]) + 10;
    l->listen_sql = calloc(1, need);
    l->timer = evtimer_new(base, on_timer, l);
    if (!l->conninfo || !l->listen_sql || !l->timer) {
        pglisten_free(l);
        return NULL;
    }
    size_t n = 0;
    for (int i = 0; channels[i]; i++)
        n +=
            (size_t)snprintf(l->listen_sql + n, need - n, "%sLISTEN %s", i ? ";" : "", channels[i]);
    l->connect_timeout = connect_timeout > 0 ? connect_timeout : 5;
    l->m = m;
    l->notify = notify;
    l->up = up;
    l->arg = arg;
    l->backoff = 0.25;
    metrics_declare(m, "ivs_syncd_push_listen_up", METRIC_GAUGE,
                    "1 while the push LISTEN session is up");
    metrics_declare(m, "ivs_syncd_push_listen_errors_total", METRIC_COUNTER,
                    "push LISTEN session failures (each followed by a reconnect)");
    metrics_set(m, "ivs_syncd_push_listen_up", NULL, 0);
    return l;
}

void pglisten_start(struct pglisten *l)
{
    if (l->state == L_DOWN && !l->pg)
        l_connect(l);
}

int pglisten_up(const struct pglisten *l)
{
    return l->state == L_UP;
}

void pglisten_free(struct pglisten *l)
{
    if (!l)
        return;
    l->stopped = 1;
    if (l->io)
        event_free(l->io);
    if (l->timer)
        event_free(l->timer);
    if (l->pg)
        PQfinish(l->pg);
    free(l->conninfo);
    free(l->listen_sql);
    free(l);
}
