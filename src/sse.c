/* sse: Server-Sent Events of show state, fed by one LISTEN session. */
#include "sse.h"

#include <ctype.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "db.h"
#include "http_server.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "pglisten.h"
#include "show_state.h"
#include "sync.h"

#define SHOW_BUCKETS 4096
#define RETRY_HINT   "retry: 3000\n"
#define CH_STATE     "ivs_sync_show_changed"
#define CH_VIEWERS   "ivs_sync_show_viewers"

struct show;

struct sub {
    struct sse *s;
    struct http_stream *st;
    struct show *show; /* NULL: an admin stream of every show */
    struct sub *prev, *next;
};

struct waiter {
    struct http_ctx *ctx;
    struct waiter *next;
};

struct show {
    struct sse *s;
    char id[37];
    struct show_state st;
    int loaded;  /* st is current: read or notified while the LISTEN session is up */
    int loading; /* a query for it is in flight */
    struct sub *subs;
    int nsubs;
    struct waiter *waiters;
    struct show *hnext;
};

struct sse {
    struct event_base *base;
    const struct config *cfg;
    struct db *db;
    struct metrics *m;
    struct pglisten *listen;
    struct show *buckets[SHOW_BUCKETS];
    int nshows;
    struct sub *admins;
    int nsubs, nwaiters;
    struct event *heartbeat;
    struct event *refresh_retry;
    unsigned long long seq;
    unsigned long generation; /* LISTEN sessions so far */
    int closing;
};

/* ---- shows ---- */

static size_t bucket_of(const char *id)
{
    size_t h = 5381;
    for (; *id; id++)
        h = h * 33 + (unsigned char)*id;
    return h % SHOW_BUCKETS;
}

static struct show *show_find(struct sse *s, const char *id)
{
    for (struct show *sh = s->buckets[bucket_of(id)]; sh; sh = sh->hnext)
        if (!strcmp(sh->id, id))
            return sh;
    return NULL;
}

static struct show *show_get(struct sse *s, const char *id)
{
    struct show *sh = show_find(s, id);
    if (sh)
        return sh;
    if (strlen(id) >= sizeof(sh->id))
        return NULL;
    sh = calloc(1, sizeof(*sh));
    if (!sh)
        return NULL;
    sh->s = s;
    snprintf(sh->id, sizeof(sh->id), "%s", id);
    size_t b = bucket_of(id);
    sh->hnext = s->buckets[b];
    s->buckets[b] = sh;
    s->nshows++;
    return sh;
}

/* Forget a show nobody waits for or follows (admin streams keep every show). */
static void show_maybe_free(struct show *sh)
{
    struct sse *s = sh->s;
    if (sh->subs || sh->waiters || sh->loading || (s->admins && sh->st.known))
        return;
    for (struct show **pp = &s->buckets[bucket_of(sh->id)]; *pp; pp = &(*pp)->hnext)
        if (*pp == sh) {
            *pp = sh->hnext;
            break;
        }
    s->nshows--;
    free(sh);
}

/* ---- events ---- */

/* "id: N\nevent: show\ndata: {...}\n\n" (after a retry: hint when asked) into buf. */
static size_t format_event(struct sse *s, const char *id, const struct show_state *st, int retry,
                           char *buf, size_t len)
{
    struct json_object *o = show_state_json(id, st);
    const char *js =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    int n = snprintf(buf, len, "%sid: %llu\nevent: show\ndata: %s\n\n", retry ? RETRY_HINT : "",
                     ++s->seq, js);
    json_object_put(o);
    return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

static void sub_unlink(struct sub *u)
{
    struct sse *s = u->s;
    struct sub **head = u->show ? &u->show->subs : &s->admins;
    if (u->prev)
        u->prev->next = u->next;
    else if (*head == u)
        *head = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->prev = u->next = NULL;
    if (u->show)
        u->show->nsubs--;
    s->nsubs--;
    metrics_set(s->m, "ivs_syncd_push_subscribers", NULL, s->nsubs);
}

/* The client went away. */
static void sub_closed(struct http_stream *st, void *arg)
{
    (void)st;
    struct sub *u = arg;
    struct show *sh = u->show;
    sub_unlink(u);
    free(u);
    if (sh)
        show_maybe_free(sh);
}

/* Drop a subscriber (write error, or its unsent output passed SSE_MAX_BUFFER). */
static void sub_drop(struct sub *u, const char *why)
{
    struct show *sh = u->show;
    metrics_inc(u->s->m, "ivs_syncd_push_dropped_total", why);
    sub_unlink(u);
    http_stream_end(u->st, 1);
    free(u);
    if (sh)
        show_maybe_free(sh);
}

/* 0 written; -1 the subscriber was dropped (u is freed). */
static int sub_write(struct sub *u, const char *buf, size_t len)
{
    if (http_stream_write(u->st, buf, len) < 0) {
        sub_drop(u, "reason=\"gone\"");
        return -1;
    }
    if (http_stream_unsent(u->st) > u->s->cfg->sse_max_buffer) {
        sub_drop(u, "reason=\"slow\"");
        return -1;
    }
    return 0;
}

static int fan_out(struct sub *head, const char *buf, size_t len)
{
    int n = 0;
    for (struct sub *u = head, *next; u; u = next) {
        next = u->next;
        if (sub_write(u, buf, len) == 0)
            n++;
    }
    return n;
}

/* Push sh's state to its subscribers and (admins) to the admin streams. */
static void push_show(struct show *sh, int admins)
{
    struct sse *s = sh->s;
    if (!sh->subs && !(admins && s->admins))
        return;
    char buf[1200];
    size_t len = format_event(s, sh->id, &sh->st, 0, buf, sizeof(buf));
    int n = fan_out(sh->subs, buf, len);
    if (admins)
        n += fan_out(s->admins, buf, len);
    metrics_add(s->m, "ivs_syncd_push_events_total", NULL, n);
    /* sh may be gone if every subscriber was dropped */
}

/* ---- notifications ---- */

static void on_notify(const char *channel, const char *payload, void *arg)
{
    struct sse *s = arg;
    char id[64];
    struct show_state n;
    int viewers = !strcmp(channel, CH_VIEWERS);
    metrics_inc(s->m, "ivs_syncd_push_notifications_total",
                viewers ? "channel=\"viewers\"" : "channel=\"state\"");
    if (s->closing || show_state_parse(payload, id, sizeof(id), &n) < 0)
        return;
    for (char *p = id; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    struct show *sh = s->admins ? show_get(s, id) : show_find(s, id);
    if (!sh)
        return;
    if (viewers) {
        if (sh->st.known && !show_state_same(&sh->st, &n)) {
            /* the state changed in the same transaction: its notification follows */
            sh->st.viewers = n.viewers;
            sh->st.has_viewers = n.has_viewers;
            return;
        }
        if (sh->st.known && sh->st.has_viewers == n.has_viewers && sh->st.viewers == n.viewers)
            return;
        sh->st = n;
    } else {
        if (show_state_same(&sh->st, &n))
            return; /* nothing new */
        if (sh->st.known) {
            n.viewers = sh->st.viewers;
            n.has_viewers = sh->st.has_viewers;
        }
        sh->st = n;
    }
    if (!sh->loading)
        sh->loaded = 1;
    push_show(sh, 1);
}

/* ---- first events and subscriptions ---- */

static void cors(struct sse *s, struct http_ctx *ctx)
{
    http_ctx_cors(ctx, s->cfg->cors_allow_origins,
                  "authorization, x-client-info, apikey, last-event-id", "GET, OPTIONS");
}

/* Start the stream of ctx on sh (NULL: admin), first event included. */
static void subscribe(struct sse *s, struct http_ctx *ctx, struct show *sh)
{
    if (!http_ctx_alive(ctx)) {
        http_reply(ctx, 200, "text/event-stream", "", 0);
        return;
    }
    struct sub *u = calloc(1, sizeof(*u));
    if (!u) {
        http_reply_error(ctx, 503, "out of memory");
        return;
    }
    http_ctx_add_header(ctx, "X-Accel-Buffering", "no");
    u->s = s;
    u->show = sh;
    u->st = http_stream_start(ctx, "text/event-stream", sub_closed, u);
    if (!u->st) {
        free(u);
        return;
    }
    struct sub **head = sh ? &sh->subs : &s->admins;
    u->next = *head;
    if (*head)
        (*head)->prev = u;
    *head = u;
    if (sh)
        sh->nsubs++;
    s->nsubs++;
    metrics_set(s->m, "ivs_syncd_push_subscribers", NULL, s->nsubs);
    char buf[1300];
    size_t len;
    if (sh) {
        len = format_event(s, sh->id, &sh->st, 1, buf, sizeof(buf));
    } else {
        static const char hello[] = RETRY_HINT ": every show's changes\n\n";
        memcpy(buf, hello, sizeof(hello));
        len = sizeof(hello) - 1;
    }
    if (sub_write(u, buf, len) == 0 && sh)
        metrics_inc(s->m, "ivs_syncd_push_events_total", NULL);
}

static void answer_waiters(struct show *sh, int status, const char *msg)
{
    struct sse *s = sh->s;
    struct waiter *w = sh->waiters;
    sh->waiters = NULL;
    while (w) {
        struct waiter *next = w->next;
        s->nwaiters--;
        if (status == 200 && !s->closing)
            subscribe(s, w->ctx, sh);
        else if (status == 200)
            http_reply_error(w->ctx, 503, "shutting down");
        else
            http_reply_error(w->ctx, status, msg);
        free(w);
        w = next;
    }
}

static void on_show_row(PGresult *res, const char *err, void *arg)
{
    struct show *sh = arg;
    struct sse *s = sh->s;
    sh->loading = 0;
    if (!db_ok(res)) {
        LOG_WARN(NULL, "push: reading show %s: %s", sh->id, err ? err : "query failed");
        answer_waiters(sh, 503, "database unavailable");
    } else if (PQntuples(res) == 0) {
        memset(&sh->st, 0, sizeof(sh->st));
        answer_waiters(sh, 404, "show not found");
    } else {
        struct show_state r;
        show_state_from_row(res, 0, &r);
        if (!sh->st.known) {
            sh->st = r;
        } else if (!sh->st.has_viewers) { /* a notification came first: it is newer */
            sh->st.viewers = r.viewers;
            sh->st.has_viewers = r.has_viewers;
        }
        sh->loaded = pglisten_up(s->listen);
        answer_waiters(sh, 200, NULL);
    }
    show_maybe_free(sh);
}

static void load_show(struct show *sh)
{
    const char *v[] = {sh->id};
    sh->loading = 1;
    if (db_exec(sh->s->db, "sse_show", 1, v, on_show_row, sh) < 0) {
        sh->loading = 0;
        answer_waiters(sh, 503, "database unavailable");
        show_maybe_free(sh);
    }
}

/* ---- after a LISTEN reconnect: every followed show re-read, in one query ---- */

struct refresh {
    struct sse *s;
    unsigned long generation;
};

static void refresh_all(struct sse *s);

static void on_refresh(PGresult *res, const char *err, void *arg)
{
    struct refresh *rf = arg;
    struct sse *s = rf->s;
    int current = rf->generation == s->generation;
    free(rf);
    if (!current || s->closing)
        return;
    if (!db_ok(res)) {
        LOG_WARN(NULL, "push: re-reading shows after the LISTEN reconnect: %s",
                 err ? err : "query failed");
        struct timeval tv = {1, 0};
        evtimer_add(s->refresh_retry, &tv);
        return;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        struct show *sh = show_find(s, PQgetvalue(res, i, 0));
        if (!sh || sh->loading)
            continue;
        struct show_state r;
        show_state_from_row(res, i, &r);
        int changed = !show_state_same(&sh->st, &r) || r.viewers != sh->st.viewers ||
                      r.has_viewers != sh->st.has_viewers;
        sh->st = r;
        sh->loaded = 1;
        if (sh->subs)
            push_show(sh, 0); /* every subscriber gets its show's current state */
        if (changed && s->admins) {
            char buf[1200];
            size_t len = format_event(s, sh->id, &sh->st, 0, buf, sizeof(buf));
            metrics_add(s->m, "ivs_syncd_push_events_total", NULL, fan_out(s->admins, buf, len));
        }
    }
    LOG_INFO(NULL, "push: %d followed shows re-read after the LISTEN session came up", n);
}

static void refresh_all(struct sse *s)
{
    /* "{id,id,...}" of every followed show */
    size_t cap = (size_t)s->nshows * 38 + 3, n = 0;
    char *arr = malloc(cap);
    if (!arr)
        return;
    arr[n++] = '{';
    int count = 0;
    for (size_t b = 0; b < SHOW_BUCKETS; b++)
        for (struct show *sh = s->buckets[b]; sh; sh = sh->hnext)
            if (n + 38 < cap) {
                n += (size_t)snprintf(arr + n, cap - n, "%s%s", count ? "," : "", sh->id);
                count++;
            }
    arr[n++] = '}';
    arr[n] = '\0';
    if (count) {
        struct refresh *rf = calloc(1, sizeof(*rf));
        const char *v[] = {arr};
        if (rf) {
            rf->s = s;
            rf->generation = s->generation;
            if (db_exec(s->db, "sse_shows", 1, v, on_refresh, rf) < 0) {
                free(rf);
                struct timeval tv = {1, 0};
                evtimer_add(s->refresh_retry, &tv);
            }
        }
    }
    free(arr);
}

static void on_refresh_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sse *s = arg;
    if (pglisten_up(s->listen) && !s->closing)
        refresh_all(s);
}

static void on_listen(int up, void *arg)
{
    struct sse *s = arg;
    s->generation++;
    /* what was kept may have missed changes: trusted again once re-read */
    for (size_t b = 0; b < SHOW_BUCKETS; b++)
        for (struct show *sh = s->buckets[b], *next; sh; sh = next) {
            next = sh->hnext;
            sh->loaded = 0;
            if (!sh->subs && !sh->waiters && !sh->loading) {
                sh->st.known = 0;
                show_maybe_free(sh);
            }
        }
    if (up && !s->closing)
        refresh_all(s);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sse *s = arg;
    static const char ping[] = ": ping\n\n";
    fan_out(s->admins, ping, sizeof(ping) - 1);
    for (size_t b = 0; b < SHOW_BUCKETS; b++)
        for (struct show *sh = s->buckets[b], *next; sh; sh = next) {
            next = sh->hnext; /* dropping its last subscriber may free sh */
            if (sh->subs)
                fan_out(sh->subs, ping, sizeof(ping) - 1);
        }
}

/* ---- routes ---- */

/* 0 no or invalid token, 1 a valid token, 2 an admin token (service key or admin JWT). */
static int token_level(struct sse *s, struct http_ctx *ctx)
{
    static char tok[JWT_MAX_TOKEN + 16];
    const char *h = http_ctx_header(ctx, "Authorization");
    const char *t = NULL;
    if (h && !strncasecmp(h, "Bearer ", 7)) {
        t = h + 7;
        while (*t == ' ')
            t++;
    } else if (http_ctx_query_param(ctx, "access_token", tok, sizeof(tok)) == 0) {
        t = tok;
    }
    size_t tl = t ? strlen(t) : 0;
    if (!tl)
        return 0;
    const struct config *cfg = s->cfg;
    if (cfg->service_role_key && *cfg->service_role_key &&
        jwt_secret_equal(t, tl, cfg->service_role_key, strlen(cfg->service_role_key)))
        return 2;
    if (!cfg->jwt_secret || !*cfg->jwt_secret)
        return 0;
    struct jwt_claims cl;
    char why[128];
    if (jwt_verify_hs256(t, tl, cfg->jwt_secret, strlen(cfg->jwt_secret), time(NULL), &cl, why,
                         sizeof(why)) != 0) {
        LOG_DEBUG(http_ctx_request_id(ctx), "push: token refused: %s", why);
        return 0;
    }
    return jwt_is_admin(&cl) ? 2 : 1;
}

/* The common checks; 0 when ctx was answered. */
static int admit(struct sse *s, struct http_ctx *ctx, int need_admin)
{
    cors(s, ctx);
    if (http_ctx_method(ctx) == HTTP_OPTIONS) {
        http_ctx_add_header(ctx, "Access-Control-Max-Age", "86400");
        http_reply(ctx, 200, "text/plain", "ok", 2);
        return 0;
    }
    if (s->closing) {
        http_ctx_add_header(ctx, "Retry-After", "1");
        http_reply_error(ctx, 503, "shutting down");
        return 0;
    }
    if (need_admin || s->cfg->sse_auth == SSE_AUTH_JWT) {
        int lvl = token_level(s, ctx);
        if (lvl == 0) {
            http_reply_error(ctx, 401, "Unauthorized");
            return 0;
        }
        if (need_admin && lvl < 2) {
            http_reply_error(ctx, 403, "the token does not grant the admin role");
            return 0;
        }
    }
    if (s->nsubs + s->nwaiters >= s->cfg->sse_max_subscribers) {
        metrics_inc(s->m, "ivs_syncd_push_refused_total", NULL);
        http_ctx_add_header(ctx, "Retry-After", "5");
        http_reply_error(ctx, 503, "too many subscribers");
        return 0;
    }
    if (http_ctx_method(ctx) == HTTP_HEAD) {
        http_reply(ctx, 200, "text/event-stream", "", 0);
        return 0;
    }
    return 1;
}

static void route_show_stream(struct http_ctx *ctx, void *arg)
{
    struct sse *s = arg;
    /* "/v1/shows/" id "/stream" */
    const char *p = http_ctx_path(ctx) + strlen("/v1/shows/");
    const char *e = strchr(p, '/');
    char id[37];
    size_t n = e ? (size_t)(e - p) : 0;
    if (n != 36) {
        cors(s, ctx);
        http_reply_error(ctx, 400, "malformed show id");
        return;
    }
    memcpy(id, p, 36);
    id[36] = '\0';
    if (!sync_uuid_ok(id)) {
        cors(s, ctx);
        http_reply_error(ctx, 400, "malformed show id");
        return;
    }
    if (!admit(s, ctx, 0))
        return;
    for (char *q = id; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    struct show *sh = show_get(s, id);
    if (!sh) {
        http_reply_error(ctx, 503, "out of memory");
        return;
    }
    if (sh->loaded && sh->st.known && pglisten_up(s->listen)) {
        subscribe(s, ctx, sh);
        return;
    }
    struct waiter *w = calloc(1, sizeof(*w));
    if (!w) {
        http_reply_error(ctx, 503, "out of memory");
        show_maybe_free(sh);
        return;
    }
    w->ctx = ctx;
    w->next = sh->waiters;
    sh->waiters = w;
    s->nwaiters++;
    if (!sh->loading)
        load_show(sh);
}

static void route_all_stream(struct http_ctx *ctx, void *arg)
{
    struct sse *s = arg;
    if (admit(s, ctx, 1))
        subscribe(s, ctx, NULL);
}

/* ---- life cycle ---- */

struct sse *sse_new(struct event_base *base, const struct config *cfg, struct db *db,
                    struct metrics *m)
{
    struct sse *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base = base;
    s->cfg = cfg;
    s->db = db;
    s->m = m;
    s->seq = (unsigned long long)time(NULL) * 1000ULL;
    static const char *const channels[] = {CH_STATE, CH_VIEWERS, NULL};
    s->listen = pglisten_new(base, config_conninfo(cfg), channels, cfg->db_connect_timeout, m,
                             on_notify, on_listen, s);
    s->heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, s);
    s->refresh_retry = evtimer_new(base, on_refresh_retry, s);
    if (!s->listen || !s->heartbeat || !s->refresh_retry ||
        db_prepare(db, "sse_show",
                   "SELECT " SHOW_STATE_COLUMNS " FROM public.shows WHERE id = $1::uuid") < 0 ||
        db_prepare(db, "sse_shows",
                   "SELECT " SHOW_STATE_COLUMNS
                   " FROM public.shows WHERE id = ANY($1::uuid[])") < 0) {
        sse_free(s);
        return NULL;
    }
    metrics_declare(m, "ivs_syncd_push_subscribers", METRIC_GAUGE,
                    "event stream subscribers connected");
    metrics_declare(m, "ivs_syncd_push_events_total", METRIC_COUNTER,
                    "events written to event stream subscribers");
    metrics_declare(m, "ivs_syncd_push_notifications_total", METRIC_COUNTER,
                    "notifications received on the LISTEN session, by channel");
    metrics_declare(m, "ivs_syncd_push_dropped_total", METRIC_COUNTER,
                    "event stream subscribers dropped (slow: unsent output past SSE_MAX_BUFFER)");
    metrics_declare(m, "ivs_syncd_push_refused_total", METRIC_COUNTER,
                    "event stream subscriptions refused past SSE_MAX_SUBSCRIBERS");
    metrics_set(m, "ivs_syncd_push_subscribers", NULL, 0);
    metrics_add(m, "ivs_syncd_push_events_total", NULL, 0);
    metrics_add(m, "ivs_syncd_push_dropped_total", "reason=\"slow\"", 0);
    return s;
}

int sse_register(struct sse *s, struct http_server *http)
{
    unsigned m = HTTP_GET | HTTP_OPTIONS;
    if (http_server_route(http, "/v1/shows/*/stream", m, "show_stream", route_show_stream, s) < 0 ||
        http_server_route(http, "/v1/stream", m, "stream", route_all_stream, s) < 0)
        return -1;
    return 0;
}

void sse_start(struct sse *s)
{
    struct timeval tv = {s->cfg->sse_heartbeat, 0};
    event_add(s->heartbeat, &tv);
    pglisten_start(s->listen);
}

/* End every stream: clean (the last chunk) or aborted. */
static void end_all(struct sse *s, int abort)
{
    while (s->admins) {
        struct sub *u = s->admins;
        sub_unlink(u);
        http_stream_end(u->st, abort);
        free(u);
    }
    for (size_t b = 0; b < SHOW_BUCKETS; b++)
        for (struct show *sh = s->buckets[b]; sh; sh = sh->hnext)
            while (sh->subs) {
                struct sub *u = sh->subs;
                sub_unlink(u);
                http_stream_end(u->st, abort);
                free(u);
            }
}

void sse_shutdown(struct sse *s)
{
    if (!s || s->closing)
        return;
    s->closing = 1;
    int n = s->nsubs;
    end_all(s, 0);
    if (s->heartbeat)
        event_del(s->heartbeat);
    LOG_INFO(NULL, "push: %d event streams ended", n);
}

void sse_free(struct sse *s)
{
    if (!s)
        return;
    s->closing = 1;
    end_all(s, 1);
    pglisten_free(s->listen);
    if (s->heartbeat)
        event_free(s->heartbeat);
    if (s->refresh_retry)
        event_free(s->refresh_retry);
    for (size_t b = 0; b < SHOW_BUCKETS; b++)
        while (s->buckets[b]) {
            struct show *sh = s->buckets[b];
            s->buckets[b] = sh->hnext;
            while (sh->waiters) { /* none after db_free: its callbacks answered them */
                struct waiter *w = sh->waiters;
                sh->waiters = w->next;
                http_reply_error(w->ctx, 503, "shutting down");
                free(w);
            }
            free(sh);
        }
    free(s);
}
