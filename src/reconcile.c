/* reconcile: the pass engine - load the active shows, observe their channels, apply. */
#include "reconcile.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arn.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "ivs.h"
#include "log.h"
#include "metrics.h"
#include "observe.h"

#define APPLY_BATCH 200

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
    int region; /* index into regions */
    int observed;
    int live;
    struct ivs_stream st;
    int64_t t_us;
    char error[200]; /* copied to the channel's shows at the end */
};

struct region_job {
    struct pass *p;
    int region;
};

struct pass {
    struct reconcile *r;
    const char *trigger; /* "timer", "request", "once" */
    long long fence;     /* lease generation its writes carry (0: not a leader's pass) */
    enum ratelimit_class cls;
    struct pshow *shows; /* sorted by id (strcmp) */
    size_t nshows;
    struct pchan *chans; /* unique, sorted by ARN (strcmp) */
    size_t nchans;
    struct reconcile_plan plan; /* the channels' regions (and, while loading, the ARNs) */
    int outstanding;            /* IVS calls / sweeps under way, +1 while starting them */
    /* GetStream queue: channels still to ask, at most get_window at a time */
    size_t *getq;
    size_t getq_len, getq_pos;
    int gets_inflight, get_window;
    /* observed channels in order of observation; [ready_head, ready_tail) not yet applied */
    size_t *ready;
    size_t ready_head, ready_tail;
    double ready_since; /* when ready_head's observation came */
    size_t batch_end;   /* the statement in flight covers [ready_head, batch_end) */
    int applying;
    struct json_object *obs;
    struct waiter *waiters;
    double t0;
    int ivs_calls;
    int statements;
    int list_fallbacks;
};

struct reconcile {
    const struct config *cfg;
    struct db *db;
    struct ivs *ivs; /* NULL: no AWS credentials (a pass fails with 500) */
    struct observe *obs;
    struct metrics *metrics;
    int list_denied; /* auto: ListStreams was denied, use get until restart */
    struct pass *running;
};

int reconcile_prepare(struct db *db)
{
    /* COLLATE "C": the pass looks shows up with strcmp() order (bsearch) */
    if (db_prepare(
            db, "active_shows",
            "SELECT id::text, ivs_channel_arn, stream_status, viewer_count FROM public.shows "
            "WHERE ivs_channel_arn IS NOT NULL AND ivs_channel_arn <> '' AND "
            "(status IN ('scheduled', 'live') OR ($1::boolean AND is_streaming)) "
            "ORDER BY id::text COLLATE \"C\"") < 0)
        return -1;
    return 0;
}

/* ---- the pass ---- */

static void pass_free(struct pass *p)
{
    for (size_t i = 0; i < p->nshows; i++)
        free(p->shows[i].prev);
    free(p->shows);
    free(p->chans);
    reconcile_plan_free(&p->plan);
    free(p->getq);
    free(p->ready);
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
    metrics_inc(r->metrics, "ivs_syncd_reconcile_passes_total", l);
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
    struct metrics *m = r->metrics;
    struct json_object *root = json_object_new_object();
    struct json_object *results = json_object_new_array_ext((int)p->nshows);
    int changed = 0, errors = 0, live = 0, offline = 0;
    for (size_t i = 0; i < p->nshows; i++) {
        struct pshow *s = &p->shows[i];
        if (!s->error[0] && !s->seen && s->chan >= 0 && p->chans[s->chan].error[0])
            snprintf(s->error, sizeof(s->error), "%s", p->chans[s->chan].error);
        if (!s->error[0] && !s->seen) {
            /* observed but no longer an active show (changed meanwhile): as it was */
            snprintf(s->new_status, sizeof(s->new_status), "%s", s->has_prev ? s->prev : "offline");
        }
        struct json_object *o = observe_result_json(
            s->id, s->has_prev ? s->prev : NULL,
            s->error[0] ? (s->has_prev ? s->prev : NULL) : s->new_status, s->changed,
            s->has_viewers, s->viewers, s->error[0] ? s->error : NULL);
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

    double dt = clock_mono() - p->t0;
    char l[96];
    snprintf(l, sizeof(l), "trigger=\"%s\",result=\"%s\"", p->trigger, errors ? "errors" : "ok");
    metrics_inc(m, "ivs_syncd_reconcile_passes_total", l);
    snprintf(l, sizeof(l), "trigger=\"%s\"", p->trigger);
    metrics_observe(m, "ivs_syncd_reconcile_pass_seconds", l, dt);
    metrics_add(m, "ivs_syncd_reconcile_shows_checked_total", NULL, (double)p->nshows);
    metrics_add(m, "ivs_syncd_reconcile_shows_changed_total", NULL, changed);
    metrics_add(m, "ivs_syncd_reconcile_shows_errors_total", NULL, errors);
    metrics_set(m, "ivs_syncd_reconcile_last_pass_ivs_calls", NULL, p->ivs_calls);
    metrics_set(m, "ivs_syncd_reconcile_last_pass_statements", NULL, p->statements);
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

static int observing_done(const struct pass *p)
{
    return p->outstanding == 0 && p->getq_pos == p->getq_len;
}

static void maybe_apply(struct pass *p);

static int index_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void applied(PGresult *res, const char *err, void *arg)
{
    struct pass *p = arg;
    p->applying = 0;
    if (!db_ok(res)) {
        const char *why = res ? PQresultErrorMessage(res) : err;
        /* the observations of this batch are not stored: report their channels' shows */
        for (size_t k = p->ready_head; k < p->batch_end; k++)
            snprintf(p->chans[p->ready[k]].error, sizeof(p->chans[0].error), "database: %.150s",
                     why && *why ? why : "error");
    } else {
        int n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            const char *id = PQgetvalue(res, i, 1);
            struct pshow *s = bsearch(id, p->shows, p->nshows, sizeof(*p->shows), show_cmp);
            if (!s)
                continue; /* an active show that appeared after the pass loaded its list */
            s->seen = 1;
            snprintf(s->new_status, sizeof(s->new_status), "%s", PQgetvalue(res, i, 3));
            s->changed |= !strcmp(PQgetvalue(res, i, 4), "t");
            if (!PQgetisnull(res, i, 5)) {
                s->has_viewers = 1;
                s->viewers = atoll(PQgetvalue(res, i, 5));
            }
        }
        /* only now: a fresh answer (SYNC_FRESHNESS) reads the stored row */
        for (size_t k = p->ready_head; k < p->batch_end; k++)
            observe_confirmed(p->r->obs, p->chans[p->ready[k]].arn);
    }
    p->ready_head = p->batch_end;
    if (p->ready_head < p->ready_tail)
        p->ready_since = clock_mono();
    maybe_apply(p);
}

/*
 * Store what was observed, one statement at a time, in batches of at most
 * APPLY_BATCH channels: at once when a batch is full or observing is over,
 * else when the oldest waiting observation is a second old (a GetStream pass
 * at IVS_MAX_RPS takes long; its repairs should not wait for its end).
 */
static void maybe_apply(struct pass *p)
{
    if (p->applying)
        return;
    size_t waiting = p->ready_tail - p->ready_head;
    int done = observing_done(p);
    if (waiting == 0) {
        if (done)
            pass_finish(p);
        return;
    }
    if (!done && waiting < APPLY_BATCH && clock_mono() - p->ready_since < 1.0)
        return;
    json_object_put(p->obs);
    p->obs = json_object_new_array();
    p->batch_end = p->ready_head + (waiting < APPLY_BATCH ? waiting : APPLY_BATCH);
    /*
     * In channel ARN order ("C" collation, as chans is sorted): the statement
     * takes one advisory lock per channel, and every multi-channel statement
     * (other passes, other replicas, batched events) takes them in that order,
     * so two of them can never deadlock.
     */
    qsort(p->ready + p->ready_head, p->batch_end - p->ready_head, sizeof(*p->ready), index_cmp);
    for (size_t k = p->ready_head; k < p->batch_end; k++) {
        struct pchan *c = &p->chans[p->ready[k]];
        json_object_array_add(p->obs,
                              observe_json(c->arn, c->live, c->live ? &c->st : NULL, c->t_us));
    }
    p->statements++;
    p->applying = 1;
    if (observe_apply_fenced(p->r->obs, p->obs, p->fence, applied, p) < 0) {
        p->applying = 0;
        for (size_t k = p->ready_head; k < p->batch_end; k++)
            snprintf(p->chans[p->ready[k]].error, sizeof(p->chans[0].error),
                     "database unavailable: observation not stored");
        p->ready_head = p->batch_end;
        maybe_apply(p); /* (the pool refused: the next batch is refused too, and then it ends) */
    }
}

static void chan_observed(struct pass *p, size_t i, int live, const struct ivs_stream *st,
                          int64_t t_us)
{
    struct pchan *c = &p->chans[i];
    c->observed = 1;
    c->live = live;
    if (live)
        c->st = *st;
    c->t_us = t_us ? t_us : clock_real_us();
    if (p->ready_head == p->ready_tail)
        p->ready_since = clock_mono();
    p->ready[p->ready_tail++] = i;
}

static void start_get(struct pass *p, size_t i);

static void pump_gets(struct pass *p)
{
    while (p->getq_pos < p->getq_len && p->gets_inflight < p->get_window)
        start_get(p, p->getq[p->getq_pos++]);
}

/* One IVS call or sweep is over. */
static void observed_one(struct pass *p)
{
    pump_gets(p); /* before the decrement: never 0 while calls remain to start */
    p->outstanding--;
    maybe_apply(p);
}

struct get_job {
    struct pass *p;
    size_t chan;
};

static void got_stream(const struct ivs_get_result *res, void *arg)
{
    struct get_job *j = arg;
    struct pass *p = j->p;
    size_t i = j->chan;
    free(j);
    p->gets_inflight--;
    p->ivs_calls += res->attempts;
    if (res->outcome == IVS_OK || res->outcome == IVS_OFFLINE) {
        chan_observed(p, i, res->outcome == IVS_OK, res->stream, res->sent_at_us);
    } else {
        struct pchan *c = &p->chans[i];
        observe_error_text(res->outcome, res->error_code, res->error, c->error, sizeof(c->error));
    }
    observed_one(p);
}

static void start_get(struct pass *p, size_t i)
{
    struct pchan *c = &p->chans[i];
    struct get_job *j = malloc(sizeof(*j));
    if (!j) {
        snprintf(c->error, sizeof(c->error), "out of memory");
        return;
    }
    j->p = p;
    j->chan = i;
    p->outstanding++;
    p->gets_inflight++;
    if (ivs_get_stream(p->r->ivs, c->arn, p->cls, got_stream, j) < 0) {
        free(j);
        p->outstanding--;
        p->gets_inflight--;
        snprintf(c->error, sizeof(c->error), "IVS call could not start");
    }
}

static void queue_get(struct pass *p, size_t i)
{
    p->getq[p->getq_len++] = i;
}

static int stream_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ivs_stream *)a)->channel_arn,
                  ((const struct ivs_stream *)b)->channel_arn);
}

static int stream_key_cmp(const void *k, const void *e)
{
    return strcmp(k, ((const struct ivs_stream *)e)->channel_arn);
}

static void listed(const struct ivs_list_all_result *res, void *arg)
{
    struct region_job *rj = arg;
    struct pass *p = rj->p;
    struct reconcile *r = p->r;
    int region = rj->region;
    free(rj);
    p->ivs_calls += res->pages;
    if (reconcile_list_fallback(r->cfg->reconcile_strategy, res->complete, res->outcome,
                                res->pages)) {
        if (!r->list_denied)
            LOG_WARN(NULL,
                     "ListStreams denied (%s): falling back to GetStream per channel "
                     "until restart",
                     res->error ? res->error : "AccessDenied");
        r->list_denied = 1;
        p->list_fallbacks++;
        for (size_t i = 0; i < p->nchans; i++)
            if (p->chans[i].region == region)
                queue_get(p, i);
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
    int complete = res->complete && (live || !res->n);
    if (!res->complete)
        observe_error_text(res->outcome, res->error_code, res->error, m, sizeof(m));
    else if (!complete)
        snprintf(m, sizeof(m), "out of memory");
    for (size_t i = 0; i < p->nchans; i++) {
        struct pchan *c = &p->chans[i];
        if (c->region != region)
            continue;
        struct ivs_stream *s =
            live ? bsearch(c->arn, live, res->n, sizeof(*live), stream_key_cmp) : NULL;
        if (s)
            chan_observed(p, i, 1, s, s->sent_at_us ? s->sent_at_us : res->sent_at_us);
        else if (complete)
            chan_observed(p, i, 0, NULL, res->sent_at_us); /* absent from a complete sweep */
        else
            snprintf(c->error, sizeof(c->error), "%s", m); /* an incomplete sweep proves nothing */
    }
    free(live);
    observed_one(p);
}

/* ---- planning (pure; exported for the unit tests) ---- */

static int chan_cmp(const void *a, const void *b)
{
    return strcmp(((const struct reconcile_chan *)a)->arn, ((const struct reconcile_chan *)b)->arn);
}

static int chan_key_cmp(const void *k, const void *e)
{
    return strcmp(k, ((const struct reconcile_chan *)e)->arn);
}

static int region_of(struct reconcile_plan *pl, const char *region)
{
    for (size_t i = 0; i < pl->nregions; i++)
        if (!strcmp(pl->regions[i], region))
            return (int)i;
    snprintf(pl->regions[pl->nregions], sizeof(pl->regions[0]), "%s", region);
    return (int)pl->nregions++;
}

int reconcile_plan_build(struct reconcile_plan *pl, const char *const *arns, size_t n)
{
    memset(pl, 0, sizeof(*pl));
    pl->chans = calloc(n + 1, sizeof(*pl->chans));
    pl->regions = calloc(n + 1, sizeof(*pl->regions));
    if (!pl->chans || !pl->regions) {
        reconcile_plan_free(pl);
        return -1;
    }
    /* unique channels: all valid ARNs, sorted once, duplicates dropped */
    for (size_t i = 0; i < n; i++) {
        struct arn_channel ac;
        char e[128];
        if (!arns[i] || arn_parse_channel(arns[i], &ac, e, sizeof(e)) < 0)
            continue;
        struct reconcile_chan *c = &pl->chans[pl->nchans++];
        snprintf(c->arn, sizeof(c->arn), "%s", arns[i]);
        c->region = region_of(pl, ac.region);
    }
    qsort(pl->chans, pl->nchans, sizeof(*pl->chans), chan_cmp);
    size_t u = 0;
    for (size_t i = 0; i < pl->nchans; i++)
        if (u == 0 || strcmp(pl->chans[u - 1].arn, pl->chans[i].arn))
            pl->chans[u++] = pl->chans[i];
    pl->nchans = u;
    return 0;
}

int reconcile_plan_find(const struct reconcile_plan *pl, const char *arn)
{
    const struct reconcile_chan *c =
        bsearch(arn, pl->chans, pl->nchans, sizeof(*pl->chans), chan_key_cmp);
    return c ? (int)(c - pl->chans) : -1;
}

void reconcile_plan_free(struct reconcile_plan *pl)
{
    free(pl->chans);
    free(pl->regions);
    memset(pl, 0, sizeof(*pl));
}

int reconcile_use_list(enum reconcile_strategy st, int list_denied)
{
    return st == RECONCILE_LIST || (st == RECONCILE_AUTO && !list_denied);
}

int reconcile_list_fallback(enum reconcile_strategy st, int complete, enum ivs_outcome outcome,
                            int pages)
{
    /* denied on its first page: the IAM policy lacks ivs:ListStreams, not a hiccup */
    return !complete && outcome == IVS_ERR_ACCESS_DENIED && st == RECONCILE_AUTO && pages <= 1;
}

int reconcile_get_window(double ivs_max_rps)
{
    double w = 2 * ivs_max_rps;
    return w < 2 ? 2 : w > 64 ? 64 : (int)w;
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
    size_t n = (size_t)PQntuples(res);
    p->shows = calloc(n + 1, sizeof(*p->shows));
    p->getq = calloc(n + 1, sizeof(*p->getq));
    p->ready = calloc(n + 1, sizeof(*p->ready));
    const char **arns = calloc(n + 1, sizeof(*arns));
    if (!p->shows || !p->getq || !p->ready || !arns) {
        free(arns);
        pass_fail(p, 503, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        arns[i] = PQgetvalue(res, (int)i, 1);
    int planned = reconcile_plan_build(&p->plan, arns, n);
    free(arns);
    if (planned < 0 || !(p->chans = calloc(p->plan.nchans + 1, sizeof(*p->chans)))) {
        pass_fail(p, 503, "out of memory");
        return;
    }
    p->nshows = n;
    p->nchans = p->plan.nchans;
    for (size_t i = 0; i < p->nchans; i++) {
        snprintf(p->chans[i].arn, sizeof(p->chans[i].arn), "%s", p->plan.chans[i].arn);
        p->chans[i].region = p->plan.chans[i].region;
    }
    for (size_t i = 0; i < n; i++) {
        struct pshow *s = &p->shows[i];
        snprintf(s->id, sizeof(s->id), "%s", PQgetvalue(res, (int)i, 0));
        s->has_prev = !PQgetisnull(res, (int)i, 2);
        s->prev = strdup(s->has_prev ? PQgetvalue(res, (int)i, 2) : "");
        if (!s->prev) {
            pass_fail(p, 503, "out of memory");
            return;
        }
        if (!PQgetisnull(res, (int)i, 3)) {
            s->has_viewers = 1;
            s->viewers = atoll(PQgetvalue(res, (int)i, 3));
        }
        s->chan = reconcile_plan_find(&p->plan, PQgetvalue(res, (int)i, 1));
        if (s->chan < 0)
            snprintf(s->error, sizeof(s->error), "ivs_channel_arn is not a valid IVS channel ARN");
    }
    if (!r->ivs) {
        pass_fail(p, 500, "AWS credentials not configured");
        return;
    }
    /*
     * GetStream calls are started a few at a time (about two seconds' worth at
     * IVS_MAX_RPS): the rate limit paces them anyway, and a short queue keeps
     * memory bounded and each call's wait for the limit short.
     */
    p->get_window = reconcile_get_window(r->cfg->ivs_max_rps);
    p->outstanding = 1; /* held until every call is started */
    if (reconcile_use_list(r->cfg->reconcile_strategy, r->list_denied)) {
        for (size_t k = 0; k < p->plan.nregions; k++) {
            struct region_job *rj = calloc(1, sizeof(*rj));
            if (!rj) {
                for (size_t i = 0; i < p->nchans; i++)
                    if (p->chans[i].region == (int)k)
                        snprintf(p->chans[i].error, sizeof(p->chans[i].error), "out of memory");
                continue;
            }
            rj->p = p;
            rj->region = (int)k;
            p->outstanding++;
            if (ivs_list_all(r->ivs, p->plan.regions[k], p->cls, listed, rj) < 0) {
                p->outstanding--;
                free(rj);
                for (size_t i = 0; i < p->nchans; i++)
                    if (p->chans[i].region == (int)k)
                        snprintf(p->chans[i].error, sizeof(p->chans[i].error),
                                 "IVS call could not start");
            }
        }
    } else {
        for (size_t i = 0; i < p->nchans; i++)
            queue_get(p, i);
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
    p->cls = strcmp(trigger, "timer") ? RATELIMIT_INTERACTIVE : RATELIMIT_BACKGROUND;
    p->t0 = clock_mono();
    const char *v[] = {"true"};
    if (db_exec(r->db, "active_shows", 1, v, shows_loaded, p) < 0) {
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
        metrics_inc(r->metrics, "ivs_syncd_sync_joined_pass_total", NULL);
        return 1;
    }
    struct pass *p = pass_start(r, "request");
    if (!p)
        return -1;
    if (add_waiter(p, cb, arg) < 0)
        return -1; /* the pass still runs and frees itself */
    return 0;
}

int reconcile_running(const struct reconcile *r)
{
    return r->running != NULL;
}

int reconcile_start_pass(struct reconcile *r, const char *trigger, reconcile_cb cb, void *arg)
{
    return reconcile_start_fenced_pass(r, trigger, 0, cb, arg);
}

int reconcile_start_fenced_pass(struct reconcile *r, const char *trigger, long long generation,
                                reconcile_cb cb, void *arg)
{
    if (r->running)
        return -1; /* passes never overlap */
    struct pass *p = pass_start(r, trigger);
    if (!p)
        return -1;
    p->fence = generation;
    if (add_waiter(p, cb, arg) < 0)
        return -1; /* the pass still runs and frees itself */
    return 0;
}

struct reconcile *reconcile_new(const struct config *cfg, struct db *db, struct ivs *ivs,
                                struct observe *obs, struct metrics *m)
{
    struct reconcile *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->cfg = cfg;
    r->db = db;
    r->ivs = ivs;
    r->obs = obs;
    r->metrics = m;
    if (reconcile_prepare(db) < 0) {
        free(r);
        return NULL;
    }
    metrics_declare(m, "ivs_syncd_reconcile_passes_total", METRIC_COUNTER,
                    "reconcile passes by trigger and result");
    /* a pass of N shows at IVS_MAX_RPS takes N / rps seconds: 40 shows at 4/s
     * is 10 s, hundreds of shows minutes */
    static const double pass_buckets[] = {0.05, 0.1, 0.25, 0.5, 1,   2.5, 5,   10,
                                          20,   30,  60,   120, 300, 600, 1200};
    metrics_declare_histogram(m, "ivs_syncd_reconcile_pass_seconds", "reconcile pass duration",
                              pass_buckets, sizeof(pass_buckets) / sizeof(pass_buckets[0]));
    metrics_declare(m, "ivs_syncd_reconcile_shows_checked_total", METRIC_COUNTER,
                    "shows checked by passes");
    metrics_declare(m, "ivs_syncd_reconcile_shows_changed_total", METRIC_COUNTER,
                    "shows changed by passes");
    metrics_declare(m, "ivs_syncd_reconcile_shows_errors_total", METRIC_COUNTER,
                    "shows with an error in passes");
    metrics_declare(m, "ivs_syncd_reconcile_last_pass_ivs_calls", METRIC_GAUGE,
                    "IVS HTTP attempts of the last pass");
    metrics_declare(m, "ivs_syncd_reconcile_last_pass_statements", METRIC_GAUGE,
                    "database statements of the last pass");
    metrics_declare(m, "ivs_syncd_sync_joined_pass_total", METRIC_COUNTER,
                    "all-shows requests that joined a running pass");
    return r;
}

void reconcile_free(struct reconcile *r)
{
    if (!r)
        return;
    if (r->running)
        pass_free(r->running);
    free(r);
}
