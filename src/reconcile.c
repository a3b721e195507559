/* reconcile: leader lock, passes, targeted checks, grace expiry, retention. */
#include "reconcile.h"

#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "arn.h"
#include "config.h"
#include "db.h"
#include "ivs.h"
#include "log.h"
#include "metrics.h"
#include "observe.h"

#define LEADER_LOCK_KEY "4242017"
#define APPLY_BATCH     200
#define PURGE_BATCH     1000

struct waiter {
    reconcile_cb cb;
    void *arg;
    struct waiter *next;
};

struct pshow {
    char id[40];
    int chan; /* index into chans, -1 when the ARN is malformed */
    char *prev;
    int has_prev;
    char new_status[16];
    int changed;
    long long viewers;
    int has_viewers;
    char error[200];
    int seen; /* a result row came back */
};

struct pchan {
    char arn[ARN_MAX_LEN + 1];
    char region[ARN_REGION_MAX + 1];
    int observed;
    int live;
    struct ivs_stream st;
    int64_t t_us;
    char error[200];
};

struct region_job {
    struct pass *p;
    char region[ARN_REGION_MAX + 1];
};

struct pass {
    struct reconcile *r;
    const char *trigger; /* "timer", "request", "once" */
    int all_active;      /* include shows that are only is_streaming */
    struct pshow *shows;
    size_t nshows;
    struct pchan *chans;
    size_t nchans;
    int outstanding;
    size_t apply_next;
    struct json_object *obs;
    struct waiter *waiters;
    double t0;
    int ivs_calls;
    int statements;
    int list_fallbacks;
};

struct reconcile {
    struct app *a;
    struct db *leader_db;
    struct event *tick, *grace_tick;
    int leader;
    unsigned long leader_gen;
    int lock_pending;
    int stopped;
    int list_denied; /* auto: ListStreams was denied, use get until restart */
    struct pass *running;
    int once_rc;
    int once_done;
    int purging;
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int reconcile_prepare(struct db *db)
{
    if (db_prepare(db, "active_shows",
                   "SELECT id::text, ivs_channel_arn, stream_status, viewer_count FROM public.shows "
                   "WHERE ivs_channel_arn IS NOT NULL AND ivs_channel_arn <> '' AND "
                   "(status IN ('scheduled', 'live') OR ($1::boolean AND is_streaming)) "
                   "ORDER BY id::text") < 0)
        return -1;
    return observe_prepare(db);
}

/* ---- the pass ---- */

static void pass_free(struct pass *p)
{
    for (size_t i = 0; i < p->nshows; i++)
        free(p->shows[i].prev);
    free(p->shows);
    free(p->chans);
    if (p->obs)
        json_object_put(p->obs);
    while (p->waiters) {
        struct waiter *w = p->waiters;
        p->waiters = w->next;
        free(w);
    }
    free(p);
}

static void pass_fail(struct pass *p, int status, const char *err)
{
    struct reconcile *r = p->r;
    struct reconcile_result res = {.obj = NULL, .errors = 0, .http_status = status, .err = err};
    char l[96];
    snprintf(l, sizeof(l), "trigger=\"%s\",result=\"failed\"", p->trigger);
    metrics_inc(r->a->metrics, "ivs_syncd_reconcile_passes_total", l);
    LOG_WARN(NULL, "reconcile pass (%s) failed: %s", p->trigger, err);
    if (r->running == p)
        r->running = NULL;
    for (struct waiter *w = p->waiters; w; w = w->next)
        w->cb(&res, w->arg);
    pass_free(p);
}

static void pass_finish(struct pass *p)
{
    struct reconcile *r = p->r;
    struct app *a = r->a;
    struct json_object *root = json_object_new_object();
    struct json_object *results = json_object_new_array_ext((int)p->nshows);
    int changed = 0, errors = 0, live = 0, offline = 0;
    for (size_t i = 0; i < p->nshows; i++) {
        struct pshow *s = &p->shows[i];
        if (!s->error[0] && !s->seen) {
            /* observed but no longer an active show (changed meanwhile): as it was */
            snprintf(s->new_status, sizeof(s->new_status), "%s", s->has_prev ? s->prev : "offline");
        }
        struct json_object *o = observe_result_json(s->id, s->has_prev ? s->prev : NULL,
                                                    s->error[0] ? (s->has_prev ? s->prev : NULL)
                                                                : s->new_status,
                                                    s->changed, s->has_viewers, s->viewers,
                                                    s->error[0] ? s->error : NULL);
        json_object_array_add(results, o);
        changed += s->changed;
        if (s->error[0])
            errors++;
        else if (!strcmp(s->new_status, "live"))
            live++;
        else
            offline++;
    }
    json_object_object_add(root, "success", json_object_new_boolean(1));
    struct json_object *sum = json_object_new_object();
    json_object_object_add(sum, "total", json_object_new_int((int)p->nshows));
    json_object_object_add(sum, "changed", json_object_new_int(changed));
    json_object_object_add(sum, "errors", json_object_new_int(errors));
    json_object_object_add(sum, "live", json_object_new_int(live));
    json_object_object_add(sum, "offline", json_object_new_int(offline));
    json_object_object_add(root, "summary", sum);
    json_object_object_add(root, "results", results);

    double dt = now_mono() - p->t0;
    char l[96];
    snprintf(l, sizeof(l), "trigger=\"%s\",result=\"%s\"", p->trigger, errors ? "errors" : "ok");
    metrics_inc(a->metrics, "ivs_syncd_reconcile_passes_total", l);
    snprintf(l, sizeof(l), "trigger=\"%s\"", p->trigger);
    metrics_observe(a->metrics, "ivs_syncd_reconcile_pass_seconds", l, dt);
    metrics_add(a->metrics, "ivs_syncd_reconcile_shows_checked_total", NULL, (double)p->nshows);
    metrics_add(a->metrics, "ivs_syncd_reconcile_shows_changed_total", NULL, changed);
    metrics_add(a->metrics, "ivs_syncd_reconcile_shows_errors_total", NULL, errors);
    metrics_set(a->metrics, "ivs_syncd_reconcile_last_pass_ivs_calls", NULL, p->ivs_calls);
    metrics_set(a->metrics, "ivs_syncd_reconcile_last_pass_statements", NULL, p->statements);
    char f[256];
    snprintf(f, sizeof(f),
             "\"trigger\":\"%s\",\"shows\":%zu,\"channels\":%zu,\"changed\":%d,\"errors\":%d,"
             "\"ivs_calls\":%d,\"statements\":%d,\"duration_ms\":%.1f",
             p->trigger, p->nshows, p->nchans, changed, errors, p->ivs_calls, p->statements,
             dt * 1000);
    log_write(errors ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, NULL, f, "reconcile pass done");

    struct reconcile_result res = {.obj = root, .errors = errors, .http_status = 200, .err = NULL};
    if (r->running == p)
        r->running = NULL;
    for (struct waiter *w = p->waiters; w; w = w->next)
        w->cb(&res, w->arg);
    json_object_put(root);
    pass_free(p);
}

static int show_cmp(const void *k, const void *e)
{
    return strcmp(k, ((const struct pshow *)e)->id);
}

static void apply_next(struct pass *p);

static void applied(PGresult *res, const char *err, void *arg)
{
    struct pass *p = arg;
    if (!db_ok(res)) {
        const char *why = res ? PQresultErrorMessage(res) : err;
        /* the observations of this batch are not stored: report their shows */
        for (size_t i = 0; i < p->nshows; i++) {
            struct pshow *s = &p->shows[i];
            if (!s->seen && !s->error[0] && s->chan >= 0 && p->chans[s->chan].observed)
                snprintf(s->error, sizeof(s->error), "database: %.150s", why ? why : "error");
        }
        pass_finish(p);
        return;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        const char *id = PQgetvalue(res, i, 1);
        struct pshow *s = bsearch(id, p->shows, p->nshows, sizeof(*p->shows), show_cmp);
        if (!s)
            continue; /* an active show that appeared after the pass loaded its list */
        s->seen = 1;
        snprintf(s->new_status, sizeof(s->new_status), "%s", PQgetvalue(res, i, 3));
        s->changed = !strcmp(PQgetvalue(res, i, 4), "t");
        if (!PQgetisnull(res, i, 5)) {
            s->has_viewers = 1;
            s->viewers = atoll(PQgetvalue(res, i, 5));
        }
    }
    apply_next(p);
}

static void apply_next(struct pass *p)
{
    struct reconcile *r = p->r;
    size_t n = 0;
    json_object_put(p->obs);
    p->obs = json_object_new_array();
    while (p->apply_next < p->nchans && n < APPLY_BATCH) {
        struct pchan *c = &p->chans[p->apply_next++];
        if (!c->observed)
            continue;
        json_object_array_add(p->obs, observe_json(c->arn, c->live, c->live ? &c->st : NULL,
                                                   c->t_us));
        n++;
    }
    if (n == 0) {
        pass_finish(p);
        return;
    }
    p->statements++;
    if (observe_apply(r->a, p->obs, applied, p) < 0) {
        for (size_t i = 0; i < p->nshows; i++)
            if (!p->shows[i].error[0] && !p->shows[i].seen)
                snprintf(p->shows[i].error, sizeof(p->shows[i].error),
                         "database unavailable: observation not stored");
        pass_finish(p);
    }
}

static void chan_error(struct pass *p, struct pchan *c, const char *msg)
{
    snprintf(c->error, sizeof(c->error), "%s", msg);
    for (size_t i = 0; i < p->nshows; i++)
        if (p->shows[i].chan >= 0 && &p->chans[p->shows[i].chan] == c && !p->shows[i].error[0])
            snprintf(p->shows[i].error, sizeof(p->shows[i].error), "%s", msg);
}

static void observed_one(struct pass *p)
{
    if (--p->outstanding == 0)
        apply_next(p);
}

struct get_job {
    struct pass *p;
    size_t chan;
};

static void got_stream(const struct ivs_get_result *res, void *arg)
{
    struct get_job *j = arg;
    struct pass *p = j->p;
    struct pchan *c = &p->chans[j->chan];
    free(j);
    p->ivs_calls += res->attempts;
    if (res->outcome == IVS_OK || res->outcome == IVS_OFFLINE) {
        c->observed = 1;
        c->live = res->outcome == IVS_OK;
        if (c->live)
            c->st = *res->stream;
        c->t_us = res->sent_at_us ? res->sent_at_us : now_real_us();
        observe_confirmed(p->r->a, c->arn);
    } else {
        char m[200];
        observe_error_text(res->outcome, res->error_code, res->error, m, sizeof(m));
        chan_error(p, c, m);
    }
    observed_one(p);
}

static void start_get(struct pass *p, size_t i)
{
    struct get_job *j = malloc(sizeof(*j));
    p->outstanding++;
    if (!j) {
        chan_error(p, &p->chans[i], "out of memory");
        p->outstanding--;
        return;
    }
    j->p = p;
    j->chan = i;
    enum ratelimit_class cls =
        strcmp(p->trigger, "timer") ? RATELIMIT_INTERACTIVE : RATELIMIT_BACKGROUND;
    if (ivs_get_stream(p->r->a->ivs, p->chans[i].arn, cls, got_stream, j) < 0) {
        free(j);
        p->outstanding--;
        chan_error(p, &p->chans[i], "IVS call could not start");
    }
}

static int stream_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ivs_stream *)a)->channel_arn,
                  ((const struct ivs_stream *)b)->channel_arn);
}

static void listed(const struct ivs_list_all_result *res, void *arg)
{
    struct region_job *rj = arg;
    struct pass *p = rj->p;
    struct reconcile *r = p->r;
    p->ivs_calls += res->pages;
    if (!res->complete && res->outcome == IVS_ERR_ACCESS_DENIED &&
        r->a->cfg->reconcile_strategy == RECONCILE_AUTO && res->pages <= 1) {
        if (!r->list_denied)
            LOG_WARN(NULL, "ListStreams denied (%s): falling back to GetStream per channel "
                           "until restart",
                     res->error ? res->error : "AccessDenied");
        r->list_denied = 1;
        p->list_fallbacks++;
        for (size_t i = 0; i < p->nchans; i++)
            if (!strcmp(p->chans[i].region, rj->region))
                start_get(p, i);
        free(rj);
        observed_one(p);
        return;
    }
    struct ivs_stream *live = NULL;
    if (res->n) {
        live = malloc(res->n * sizeof(*live));
        if (live) {
            memcpy(live, res->streams, res->n * sizeof(*live));
            qsort(live, res->n, sizeof(*live), stream_cmp);
        }
    }
    char m[200] = "";
    if (!res->complete)
        observe_error_text(res->outcome, res->error_code, res->error, m, sizeof(m));
    for (size_t i = 0; i < p->nchans; i++) {
        struct pchan *c = &p->chans[i];
        if (strcmp(c->region, rj->region))
            continue;
        struct ivs_stream key;
        snprintf(key.channel_arn, sizeof(key.channel_arn), "%s", c->arn);
        struct ivs_stream *s = live ? bsearch(&key, live, res->n, sizeof(*live), stream_cmp)
                                    : NULL;
        if (s) {
            c->observed = 1;
            c->live = 1;
            c->st = *s;
            c->t_us = s->sent_at_us ? s->sent_at_us : res->sent_at_us;
        } else if (res->complete) {
            c->observed = 1; /* absent from a complete sweep: offline */
            c->live = 0;
            c->t_us = res->sent_at_us;
        } else {
            chan_error(p, c, m); /* an incomplete sweep proves nothing offline */
        }
        if (c->observed)
            observe_confirmed(r->a, c->arn);
    }
    free(live);
    free(rj);
    observed_one(p);
}

static int chan_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pchan *)a)->arn, ((const struct pchan *)b)->arn);
}

static void shows_loaded(PGresult *res, const char *err, void *arg)
{
    struct pass *p = arg;
    struct reconcile *r = p->r;
    if (!db_ok(res)) {
        pass_fail(p, 503, res ? PQresultErrorMessage(res) : err);
        return;
    }
    p->statements++;
    int n = PQntuples(res);
    p->shows = calloc((size_t)n + 1, sizeof(*p->shows));
    p->chans = calloc((size_t)n + 1, sizeof(*p->chans));
    if (!p->shows || !p->chans) {
        pass_fail(p, 503, "out of memory");
        return;
    }
    p->nshows = (size_t)n;
    /* unique channels */
    for (int i = 0; i < n; i++) {
        struct arn_channel ac;
        char e[128];
        const char *arn = PQgetvalue(res, i, 1);
        if (arn_parse_channel(arn, &ac, e, sizeof(e)) < 0)
            continue;
        struct pchan key;
        snprintf(key.arn, sizeof(key.arn), "%s", arn);
        if (p->nchans && bsearch(&key, p->chans, p->nchans, sizeof(*p->chans), chan_cmp))
            continue;
        struct pchan *c = &p->chans[p->nchans++];
        memset(c, 0, sizeof(*c));
        snprintf(c->arn, sizeof(c->arn), "%s", arn);
        snprintf(c->region, sizeof(c->region), "%s", ac.region);
        qsort(p->chans, p->nchans, sizeof(*p->chans), chan_cmp);
    }
    for (int i = 0; i < n; i++) {
        struct pshow *s = &p->shows[i];
        snprintf(s->id, sizeof(s->id), "%s", PQgetvalue(res, i, 0));
        s->has_prev = !PQgetisnull(res, i, 2);
        s->prev = strdup(s->has_prev ? PQgetvalue(res, i, 2) : "");
        if (!PQgetisnull(res, i, 3)) {
            s->has_viewers = 1;
            s->viewers = atoll(PQgetvalue(res, i, 3));
        }
        struct pchan key;
        snprintf(key.arn, sizeof(key.arn), "%s", PQgetvalue(res, i, 1));
        struct pchan *c = bsearch(&key, p->chans, p->nchans, sizeof(*p->chans), chan_cmp);
        s->chan = c ? (int)(c - p->chans) : -1;
        if (!c)
            snprintf(s->error, sizeof(s->error), "ivs_channel_arn is not a valid IVS channel ARN");
    }
    if (!r->a->ivs) {
        pass_fail(p, 500, "AWS credentials not configured");
        return;
    }
    p->outstanding = 1; /* held until every call is started */
    enum reconcile_strategy st = r->a->cfg->reconcile_strategy;
    int use_list = st == RECONCILE_LIST || (st == RECONCILE_AUTO && !r->list_denied);
    if (use_list) {
        enum ratelimit_class cls =
            strcmp(p->trigger, "timer") ? RATELIMIT_INTERACTIVE : RATELIMIT_BACKGROUND;
        for (size_t i = 0; i < p->nchans; i++) {
            int first = 1;
            for (size_t k = 0; k < i; k++)
                if (!strcmp(p->chans[k].region, p->chans[i].region)) {
                    first = 0;
                    break;
                }
            if (!first)
                continue;
            struct region_job *rj = calloc(1, sizeof(*rj));
            if (!rj)
                continue;
            rj->p = p;
            snprintf(rj->region, sizeof(rj->region), "%s", p->chans[i].region);
            p->outstanding++;
            if (ivs_list_all(r->a->ivs, rj->region, cls, listed, rj) < 0) {
                p->outstanding--;
                free(rj);
            }
        }
    } else {
        for (size_t i = 0; i < p->nchans; i++)
            start_get(p, i);
    }
    observed_one(p);
}

static struct pass *pass_start(struct reconcile *r, const char *trigger)
{
    struct pass *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->r = r;
    p->trigger = trigger;
    p->all_active = 1;
    p->t0 = now_mono();
    const char *v[] = {"true"};
    if (db_exec(r->a->db, "active_shows", 1, v, shows_loaded, p) < 0) {
        free(p);
        return NULL;
    }
    r->running = p;
    return p;
}

static int add_waiter(struct pass *p, reconcile_cb cb, void *arg)
{
    struct waiter *w = calloc(1, sizeof(*w));
    if (!w)
        return -1;
    w->cb = cb;
    w->arg = arg;
    w->next = p->waiters;
    p->waiters = w;
    return 0;
}

int reconcile_request_pass(struct reconcile *r, reconcile_cb cb, void *arg)
{
    if (r->running) {
        if (add_waiter(r->running, cb, arg) < 0)
            return -1;
        metrics_inc(r->a->metrics, "ivs_syncd_sync_joined_pass_total", NULL);
        return 1;
    }
    struct pass *p = pass_start(r, "request");
    if (!p)
        return -1;
    if (add_waiter(p, cb, arg) < 0)
        return -1; /* the pass still runs and frees itself */
    return 0;
}

/* ---- leader, timers ---- */

static void schedule_tick(struct reconcile *r)
{
    int iv = r->a->cfg->reconcile_interval;
    if (iv <= 0 || r->stopped)
        return;
    unsigned int rnd = 0;
    RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
    double jitter = 0.9 + 0.2 * ((double)rnd / (double)0xffffffffu);
    double s = iv * jitter;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    evtimer_add(r->tick, &tv);
}

static void purged(PGresult *res, const char *err, void *arg)
{
    (void)err;
    struct reconcile *r = arg;
    int n = db_ok(res) && PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
    if (n > 0)
        metrics_add(r->a->metrics, "ivs_syncd_events_purged_total", NULL, n);
    if (n >= PURGE_BATCH && r->purging++ < 50) {
        char ret[16], b[16];
        snprintf(ret, sizeof(ret), "%d", r->a->cfg->event_retention);
        snprintf(b, sizeof(b), "%d", PURGE_BATCH);
        const char *v[] = {ret, b};
        if (db_exec_sql(r->a->db, "SELECT ivs_sync.purge_events($1::integer, $2::integer)", 2, v,
                        purged, r) == 0)
            return;
    }
    r->purging = 0;
}

static void timer_pass_done(const struct reconcile_result *res, void *arg)
{
    struct reconcile *r = arg;
    (void)res;
    if (!r->purging && r->leader) {
        r->purging = 1;
        char ret[16], b[16];
        snprintf(ret, sizeof(ret), "%d", r->a->cfg->event_retention);
        snprintf(b, sizeof(b), "%d", PURGE_BATCH);
        const char *v[] = {ret, b};
        if (db_exec_sql(r->a->db, "SELECT ivs_sync.purge_events($1::integer, $2::integer)", 2, v,
                        purged, r) < 0)
            r->purging = 0;
    }
}

static void leader_pass(struct reconcile *r)
{
    if (r->running || r->stopped)
        return; /* passes never overlap */
    struct pass *p = pass_start(r, "timer");
    if (p)
        add_waiter(p, timer_pass_done, r);
}

static void lock_result(PGresult *res, const char *err, void *arg)
{
    (void)err;
    struct reconcile *r = arg;
    r->lock_pending = 0;
    int got = db_ok(res) && PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "t");
    if (got && !r->leader) {
        r->leader = 1;
        r->leader_gen = db_generation(r->leader_db);
        LOG_INFO(NULL, "reconcile: this replica is the leader");
    }
    metrics_set(r->a->metrics, "ivs_syncd_reconcile_leader", NULL, r->leader);
    if (r->leader && !r->stopped)
        leader_pass(r);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct reconcile *r = arg;
    if (r->stopped)
        return;
    if (r->leader && (!db_ready(r->leader_db) || db_generation(r->leader_db) != r->leader_gen)) {
        LOG_WARN(NULL, "reconcile: lost the leader lock (connection lost)");
        r->leader = 0;
        metrics_set(r->a->metrics, "ivs_syncd_reconcile_leader", NULL, 0);
    }
    if (!r->a->ivs) {
        schedule_tick(r);
        return;
    }
    if (r->leader) {
        leader_pass(r);
    } else if (!r->lock_pending && db_ready(r->leader_db)) {
        r->lock_pending = 1;
        if (db_exec_sql(r->leader_db, "SELECT pg_try_advisory_lock(" LEADER_LOCK_KEY ")", 0, NULL,
                        lock_result, r) < 0)
            r->lock_pending = 0;
    }
    schedule_tick(r);
}

static void grace_done(PGresult *res, const char *err, void *arg)
{
    (void)err;
    struct reconcile *r = arg;
    if (db_ok(res) && PQntuples(res) == 1) {
        int n = atoi(PQgetvalue(res, 0, 0));
        if (n > 0) {
            metrics_add(r->a->metrics, "ivs_syncd_grace_expired_total", NULL, n);
            LOG_INFO(NULL, "%d show%s ended after END_GRACE_SECONDS", n, n == 1 ? "" : "s");
        }
    }
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct reconcile *r = arg;
    if (r->stopped || !db_ready(r->a->db))
        return;
    db_exec_sql(r->a->db, "SELECT ivs_sync.expire_grace(100)", 0, NULL, grace_done, r);
}

struct reconcile *reconcile_new(struct app *a)
{
    struct reconcile *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->a = a;
    struct db_options o = {.conninfo = app_conninfo(a->cfg),
                           .name = "leader",
                           .size = 1,
                           .queue_max = 4,
                           .connect_timeout = a->cfg->db_connect_timeout,
                           .statement_timeout_ms = 5000,
                           .queue_timeout = 5};
    r->leader_db = db_new(a->base, &o, a->metrics);
    r->tick = evtimer_new(a->base, tick_cb, r);
    r->grace_tick = event_new(a->base, -1, EV_PERSIST, grace_cb, r);
    if (!r->leader_db || !r->tick || !r->grace_tick || reconcile_prepare(a->db) < 0) {
        reconcile_free(r);
        return NULL;
    }
    metrics_declare(a->metrics, "ivs_syncd_reconcile_passes_total", METRIC_COUNTER,
                    "reconcile passes by trigger and result");
    metrics_declare(a->metrics, "ivs_syncd_reconcile_pass_seconds", METRIC_HISTOGRAM,
                    "reconcile pass duration");
    metrics_declare(a->metrics, "ivs_syncd_reconcile_shows_checked_total", METRIC_COUNTER,
                    "shows checked by passes");
    metrics_declare(a->metrics, "ivs_syncd_reconcile_shows_changed_total", METRIC_COUNTER,
                    "shows changed by passes");
    metrics_declare(a->metrics, "ivs_syncd_reconcile_shows_errors_total", METRIC_COUNTER,
                    "shows with an error in passes");
    metrics_declare(a->metrics, "ivs_syncd_reconcile_leader", METRIC_GAUGE,
                    "1 when this replica holds the reconcile lock");
    metrics_declare(a->metrics, "ivs_syncd_reconcile_last_pass_ivs_calls", METRIC_GAUGE,
                    "IVS HTTP attempts of the last pass");
    metrics_declare(a->metrics, "ivs_syncd_reconcile_last_pass_statements", METRIC_GAUGE,
                    "database statements of the last pass");
    metrics_set(a->metrics, "ivs_syncd_reconcile_leader", NULL, 0);
    a->on_check = reconcile_check_channel;
    return r;
}

void reconcile_start(struct reconcile *r)
{
    const struct config *cfg = r->a->cfg;
    if (cfg->reconcile_interval > 0 && r->a->ivs) {
        db_start(r->leader_db);
        struct timeval tv = {1, 0};
        evtimer_add(r->tick, &tv); /* first try soon after start */
    }
    if (cfg->end_grace_seconds > 0) {
        struct timeval tv = {1, 0};
        event_add(r->grace_tick, &tv);
    }
}

void reconcile_stop(struct reconcile *r)
{
    r->stopped = 1;
    evtimer_del(r->tick);
    event_del(r->grace_tick);
}

void reconcile_free(struct reconcile *r)
{
    if (!r)
        return;
    if (r->tick)
        event_free(r->tick);
    if (r->grace_tick)
        event_free(r->grace_tick);
    if (r->leader_db)
        db_free(r->leader_db);
    if (r->running)
        pass_free(r->running);
    free(r);
}

int reconcile_is_leader(const struct reconcile *r)
{
    return r->leader;
}

/* ---- targeted checks ---- */

struct check_job {
    struct app *a;
    char arn[ARN_MAX_LEN + 1];
    struct json_object *obs;
};

static void check_applied(PGresult *res, const char *err, void *arg)
{
    struct check_job *j = arg;
    if (!db_ok(res))
        LOG_WARN(NULL, "targeted check of %s not stored: %s", j->arn,
                 res ? PQresultErrorMessage(res) : err);
    json_object_put(j->obs);
    free(j);
}

static void check_got(const struct ivs_get_result *res, void *arg)
{
    struct check_job *j = arg;
    metrics_inc(j->a->metrics, "ivs_syncd_targeted_checks_total", NULL);
    if (res->outcome != IVS_OK && res->outcome != IVS_OFFLINE) {
        LOG_WARN(NULL, "targeted check of %s failed: %s", j->arn,
                 res->error ? res->error : ivs_outcome_name(res->outcome));
        free(j);
        return;
    }
    observe_confirmed(j->a, j->arn);
    j->obs = json_object_new_array();
    json_object_array_add(j->obs, observe_json(j->arn, res->outcome == IVS_OK, res->stream,
                                               res->sent_at_us ? res->sent_at_us : now_real_us()));
    if (observe_apply(j->a, j->obs, check_applied, j) < 0) {
        json_object_put(j->obs);
        free(j);
    }
}

void reconcile_check_channel(struct app *a, const char *channel_arn)
{
    if (!a->ivs)
        return; /* the event is recorded in ivs_sync.pending_checks for a later pass */
    struct check_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->a = a;
    snprintf(j->arn, sizeof(j->arn), "%s", channel_arn);
    if (ivs_get_stream(a->ivs, channel_arn, RATELIMIT_INTERACTIVE, check_got, j) < 0)
        free(j);
}

/* ---- reconcile --once ---- */

static void once_done(const struct reconcile_result *res, void *arg)
{
    struct reconcile *r = arg;
    if (!res->obj) {
        fprintf(stderr, "reconcile: %s\n", res->err);
        r->once_rc = 1;
    } else {
        printf("%s\n", json_object_to_json_string_ext(res->obj, JSON_C_TO_STRING_PRETTY |
                                                                    JSON_C_TO_STRING_NOSLASHESCAPE));
        r->once_rc = res->errors ? 1 : 0;
    }
    r->once_done = 1;
    event_base_loopexit(r->a->base, NULL);
}

static void once_lock(PGresult *res, const char *err, void *arg)
{
    struct reconcile *r = arg;
    int got = db_ok(res) && PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "t");
    if (!got) {
        fprintf(stderr, "reconcile: %s\n",
                db_ok(res) ? "another replica holds the reconcile lock (a pass is running)"
                           : (res ? PQresultErrorMessage(res) : err));
        r->once_rc = 1;
        event_base_loopexit(r->a->base, NULL);
        return;
    }
    r->leader = 1;
    struct pass *p = pass_start(r, "once");
    if (!p || add_waiter(p, once_done, r) < 0) {
        fprintf(stderr, "reconcile: database unavailable\n");
        r->once_rc = 1;
        event_base_loopexit(r->a->base, NULL);
    }
}

static void once_try(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct reconcile *r = arg;
    if (!db_ready(r->leader_db) || !db_ready(r->a->db)) {
        if (r->purging++ > 100) { /* ~10 s */
            fprintf(stderr, "reconcile: database unavailable: %s\n", db_last_error(r->a->db));
            r->once_rc = 1;
            event_base_loopexit(r->a->base, NULL);
            return;
        }
        struct timeval tv = {0, 100000};
        evtimer_add(r->tick, &tv);
        return;
    }
    r->purging = 0;
    if (db_exec_sql(r->leader_db, "SELECT pg_try_advisory_lock(" LEADER_LOCK_KEY ")", 0, NULL,
                    once_lock, r) < 0) {
        r->once_rc = 1;
        event_base_loopexit(r->a->base, NULL);
    }
}

int reconcile_once(struct app *a)
{
    struct reconcile *r = a->rec;
    if (!a->ivs) {
        fprintf(stderr, "reconcile: AWS credentials not configured\n");
        return 1;
    }
    r->once_rc = 1;
    db_start(a->db);
    db_start(r->leader_db);
    evtimer_assign(r->tick, a->base, once_try, r);
    struct timeval tv = {0, 10000};
    evtimer_add(r->tick, &tv);
    event_base_dispatch(a->base);
    return r->once_rc;
}
