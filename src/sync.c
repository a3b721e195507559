/* sync: the old function's API - POST /functions/v1/sync-ivs-stream-status. */
#include "clock.h"
#include "sync.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws_creds.h"
#include "config.h"
#include "db.h"
#include "http_server.h"
#include "ivs.h"
#include "jsonx.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "observe.h"
#include "reconcile.h"
#include "routes.h"

/*
 * The joiners of one GetStream flight (ivs.c's single flight) all get the same
 * observation: it is applied once, and every request waiting on it gets its
 * show's row from that one statement (the same previousStatus / changed).
 */
struct apply_group {
    struct sync *sy;
    char channel[256];
    int64_t sent_at_us;
    int live;
    struct json_object *obs;
    struct single *waiters;
    struct apply_group *prev, *next;
};

struct sync {
    struct sync_ctx c;
    struct apply_group *groups; /* applies in flight */
};

struct single {
    struct sync *sy;
    struct http_ctx *ctx;
    char id[40];
    char channel[256];
    char *prev;
    int has_prev;
    long long viewers;
    int has_viewers;
    struct single *next; /* in an apply_group */
};

int sync_prepare(struct db *db)
{
    return db_prepare(db, "sync_show",
                      "SELECT id::text, ivs_channel_arn, stream_status, viewer_count, "
                      "extract(epoch from (now() - stream_synced_at))::float8 "
                      "FROM public.shows WHERE id = $1::uuid");
}

struct sync *sync_new(const struct sync_ctx *c)
{
    struct sync *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->c = *c;
    if (sync_prepare(c->db) < 0) {
        free(s);
        return NULL;
    }
    metrics_declare(c->metrics, "ivs_syncd_sync_requests_total", METRIC_COUNTER,
                    "sync API requests by kind and result");
    metrics_declare(c->metrics, "ivs_syncd_sync_fresh_total", METRIC_COUNTER,
                    "sync answers from the database (state younger than SYNC_FRESHNESS)");
    metrics_declare(c->metrics, "ivs_syncd_sync_refused_total", METRIC_COUNTER,
                    "sync requests refused for waiting too long (503)");
    return s;
}

static void single_free(struct single *s);

static void group_unlink_free(struct apply_group *g)
{
    struct sync *sy = g->sy;
    if (g->prev)
        g->prev->next = g->next;
    else if (sy->groups == g)
        sy->groups = g->next;
    if (g->next)
        g->next->prev = g->prev;
    if (g->obs)
        json_object_put(g->obs);
    while (g->waiters) {
        struct single *w = g->waiters;
        g->waiters = w->next;
        single_free(w);
    }
    free(g);
}

void sync_free(struct sync *s)
{
    if (!s)
        return;
    /* the pool is freed first and answers its callbacks: normally none is left */
    while (s->groups)
        group_unlink_free(s->groups);
    free(s);
}

static void count(struct sync *sy, const char *kind, const char *result)
{
    char l[80];
    snprintf(l, sizeof(l), "kind=\"%s\",result=\"%s\"", kind, result);
    metrics_inc(sy->c.metrics, "ivs_syncd_sync_requests_total", l);
}

static void cors(struct sync *sy, struct http_ctx *ctx)
{
    http_ctx_cors(ctx, sy->c.cfg->cors_allow_origins,
                  "authorization, x-client-info, apikey, content-type", "POST, OPTIONS");
}

int sync_authorized(const struct config *cfg, const char *h, long long now, char *why,
                    size_t whylen)
{
    if (whylen)
        why[0] = '\0';
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    size_t tl = strlen(tok);
    if (!tl)
        return 0;
    if (cfg->service_role_key && *cfg->service_role_key &&
        jwt_secret_equal(tok, tl, cfg->service_role_key, strlen(cfg->service_role_key)))
        return 1;
    if (cfg->jwt_secret && *cfg->jwt_secret) {
        struct jwt_claims cl;
        if (jwt_verify_hs256(tok, tl, cfg->jwt_secret, strlen(cfg->jwt_secret), (time_t)now, &cl,
                             why, whylen) == 0) {
            if (jwt_is_admin(&cl))
                return 1;
            /* a valid token: jwt_verify_hs256 wrote no error */
            snprintf(why, whylen, "the token does not grant the admin role");
        }
        return 0;
    }
    return 0;
}

static int authorized(struct sync *sy, struct http_ctx *ctx)
{
    char why[128];
    if (sync_authorized(sy->c.cfg, http_ctx_header(ctx, "Authorization"), (long long)time(NULL),
                        why, sizeof(why)))
        return 1;
    if (why[0]) /* a token that JWT_SECRET could have granted */
        LOG_DEBUG(http_ctx_request_id(ctx), "sync: token refused: %s", why);
    return 0;
}

int sync_uuid_ok(const char *s)
{
    static const int dash[] = {8, 13, 18, 23};
    if (strlen(s) != 36)
        return 0;
    for (int i = 0, d = 0; i < 36; i++) {
        if (d < 4 && i == dash[d]) {
            if (s[i] != '-')
                return 0;
            d++;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

struct json_object *sync_single_answer(struct json_object *result)
{
    struct json_object *root = json_object_new_object();
    struct json_object *sum = json_object_new_object();
    struct json_object *err = json_object_object_get(result, "error");
    const char *ns = json_object_get_string(json_object_object_get(result, "newStatus"));
    int changed = json_object_get_boolean(json_object_object_get(result, "changed"));
    int is_live = !err && ns && !strcmp(ns, "live");
    json_object_object_add(root, "success", json_object_new_boolean(1));
    json_object_object_add(sum, "total", json_object_new_int(1));
    json_object_object_add(sum, "changed", json_object_new_int(changed));
    json_object_object_add(sum, "errors", json_object_new_int(err != NULL));
    json_object_object_add(sum, "live", json_object_new_int(is_live));
    json_object_object_add(sum, "offline", json_object_new_int(!err && !is_live));
    json_object_object_add(root, "summary", sum);
    json_object_object_add(root, "results", json_object_get(result));
    return root;
}

static void reply_results(struct http_ctx *ctx, struct json_object *result)
{
    struct json_object *root = sync_single_answer(result);
    http_reply_json(ctx, 200, root);
    json_object_put(root);
}

static void single_free(struct single *s)
{
    free(s->prev);
    free(s);
}

static void single_answer_db(struct single *s, const char *error)
{
    struct json_object *r =
        observe_result_json(s->id, s->has_prev ? s->prev : NULL, s->has_prev ? s->prev : "offline",
                            0, s->has_viewers, s->viewers, error);
    reply_results(s->ctx, r);
    json_object_put(r);
}

/* Answer one request of a group from the rows of its apply (res is OK). */
static void single_answer_rows(struct single *s, PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 1), s->id))
            continue;
        int has_v = !PQgetisnull(res, i, 5);
        struct json_object *r =
            observe_result_json(s->id, PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2),
                                PQgetvalue(res, i, 3), !strcmp(PQgetvalue(res, i, 4), "t"), has_v,
                                has_v ? atoll(PQgetvalue(res, i, 5)) : 0, NULL);
        count(s->sy, "single", "synced");
        reply_results(s->ctx, r);
        json_object_put(r);
        return;
    }
    /* the show is not active (e.g. ended): nothing to change, answer what it holds */
    count(s->sy, "single", "synced");
    single_answer_db(s, NULL);
}

static void group_applied(PGresult *res, const char *err, void *arg)
{
    struct apply_group *g = arg;
    struct sync *sy = g->sy;
    int ok = db_ok(res);
    if (ok)
        observe_confirmed(sy->c.obs, g->channel); /* only once stored: fresh answers read the row */
    else
        LOG_WARN(g->waiters ? http_ctx_request_id(g->waiters->ctx) : NULL,
                 "sync: observation not stored: %s", res ? PQresultErrorMessage(res) : err);
    for (struct single *s = g->waiters; s; s = s->next) {
        if (ok) {
            single_answer_rows(s, res);
        } else {
            count(sy, "single", "unavailable");
            route_unavailable(s->ctx, "database unavailable", 1);
        }
    }
    group_unlink_free(g);
}

/* Join the apply of this observation if one is under way, else start it. */
static void single_apply(struct single *s, const struct ivs_get_result *res)
{
    struct sync *sy = s->sy;
    int live = res->outcome == IVS_OK;
    for (struct apply_group *g = sy->groups; g; g = g->next) {
        if (g->sent_at_us == res->sent_at_us && g->live == live &&
            !strcmp(g->channel, s->channel)) {
            s->next = g->waiters;
            g->waiters = s;
            return;
        }
    }
    struct apply_group *g = calloc(1, sizeof(*g));
    if (!g)
        goto fail;
    g->sy = sy;
    snprintf(g->channel, sizeof(g->channel), "%s", s->channel);
    g->sent_at_us = res->sent_at_us;
    g->live = live;
    g->obs = json_object_new_array();
    if (!g->obs)
        goto fail;
    json_object_array_add(g->obs,
                          observe_json(s->channel, live, res->stream,
                                       res->sent_at_us ? res->sent_at_us : clock_real_us()));
    if (observe_apply(sy->c.obs, g->obs, group_applied, g) < 0)
        goto fail;
    g->waiters = s;
    g->next = sy->groups;
    if (sy->groups)
        sy->groups->prev = g;
    sy->groups = g;
    return;
fail:
    if (g && g->obs)
        json_object_put(g->obs);
    free(g);
    count(sy, "single", "unavailable");
    route_unavailable(s->ctx, "database unavailable", 1);
    single_free(s);
}

static void single_got(const struct ivs_get_result *res, void *arg)
{
    struct single *s = arg;
    struct sync *sy = s->sy;
    if (res->outcome == IVS_ERR_BUSY) {
        metrics_inc(sy->c.metrics, "ivs_syncd_sync_refused_total", NULL);
        count(sy, "single", "busy");
        int ra = res->retry_after > 1 ? (int)(res->retry_after + 0.999) : 1;
        route_unavailable(s->ctx, "IVS rate limit: too many requests, retry later", ra);
        single_free(s);
        return;
    }
    if (res->outcome == IVS_ERR_NO_CREDENTIALS) {
        count(sy, "single", "no_credentials");
        http_reply_error(s->ctx, 500, "AWS credentials not configured");
        single_free(s);
        return;
    }
    if (res->outcome != IVS_OK && res->outcome != IVS_OFFLINE) {
        char m[200];
        observe_error_text(res->outcome, res->error_code, res->error, m, sizeof(m));
        count(sy, "single", "ivs_error");
        single_answer_db(s, m);
        single_free(s);
        return;
    }
    single_apply(s, res);
}

static void single_loaded(PGresult *res, const char *err, void *arg)
{
    struct single *s = arg;
    struct sync *sy = s->sy;
    if (!db_ok(res)) {
        count(sy, "single", "unavailable");
        LOG_WARN(http_ctx_request_id(s->ctx), "sync: show lookup failed: %s",
                 res ? PQresultErrorMessage(res) : err);
        route_unavailable(s->ctx, "database unavailable", 1);
        single_free(s);
        return;
    }
    if (PQntuples(res) != 1) {
        count(sy, "single", "not_found");
        http_reply_error(s->ctx, 404, "Show not found");
        single_free(s);
        return;
    }
    s->has_prev = !PQgetisnull(res, 0, 2);
    s->prev = strdup(s->has_prev ? PQgetvalue(res, 0, 2) : "");
    s->has_viewers = !PQgetisnull(res, 0, 3);
    s->viewers = s->has_viewers ? atoll(PQgetvalue(res, 0, 3)) : 0;
    const char *ch = PQgetisnull(res, 0, 1) ? "" : PQgetvalue(res, 0, 1);
    if (!*ch) {
        count(sy, "single", "no_channel");
        single_answer_db(s, "No IVS channel configured");
        single_free(s);
        return;
    }
    snprintf(s->channel, sizeof(s->channel), "%s", ch);
    double fresh = sy->c.cfg->sync_freshness;
    double age = PQgetisnull(res, 0, 4) ? -1 : atof(PQgetvalue(res, 0, 4));
    double conf = observe_confirmed_age(sy->c.obs, s->channel);
    if (fresh > 0 && ((age >= 0 && age < fresh) || (conf >= 0 && conf < fresh))) {
        metrics_inc(sy->c.metrics, "ivs_syncd_sync_fresh_total", NULL);
        count(sy, "single", "fresh");
        single_answer_db(s, NULL);
        single_free(s);
        return;
    }
    if (!sy->c.ivs) { /* (creds_usable() checked it before the lookup) */
        count(sy, "single", "no_credentials");
        http_reply_error(s->ctx, 500, "AWS credentials not configured");
        single_free(s);
    } else if (ivs_get_stream(sy->c.ivs, s->channel, RATELIMIT_INTERACTIVE, single_got, s) < 0) {
        count(sy, "single", "unavailable");
        route_unavailable(s->ctx, "out of memory", 1);
        single_free(s);
    }
}

static void all_done(const struct reconcile_result *res, void *arg)
{
    struct http_ctx *ctx = arg;
    struct sync *sy = http_ctx_data(ctx);
    if (!res->obj) {
        count(sy, "all", "failed");
        if (res->http_status == 500)
            http_reply_error(ctx, 500, res->err);
        else
            route_unavailable(ctx, "database unavailable", 1);
        return;
    }
    count(sy, "all", "synced");
    http_reply_json(ctx, 200, res->obj);
}

static int creds_usable(struct sync *sy)
{
    if (!sy->c.ivs)
        return 0;
    enum aws_creds_state st = aws_creds_state(sy->c.creds);
    return st == AWS_CREDS_READY || st == AWS_CREDS_LOADING;
}

static void sync_route(struct http_ctx *ctx, void *arg)
{
    struct sync *sy = arg;
    cors(sy, ctx);
    if (http_ctx_method(ctx) == HTTP_OPTIONS) {
        http_ctx_add_header(ctx, "Access-Control-Max-Age", "86400");
        http_reply(ctx, 200, "text/plain", "ok", 2);
        return;
    }
    if (!authorized(sy, ctx)) {
        count(sy, "any", "unauthorized");
        http_reply_error(ctx, 401, "Unauthorized");
        return;
    }
    size_t len;
    const char *body = http_ctx_body(ctx, &len);
    const char *show_id = NULL;
    struct json_object *req = NULL;
    enum jsonx_error jerr = jsonx_parse_object(body, len, sy->c.cfg->json_max_depth, &req);
    if (jerr != JSONX_OK && jerr != JSONX_EMPTY) {
        count(sy, "any", "bad_request");
        http_reply_error(ctx, 400, "Invalid JSON body");
        return;
    }
    if (req) {
        struct json_object *sid;
        if (json_object_object_get_ex(req, "showId", &sid) &&
            !json_object_is_type(sid, json_type_null)) {
            if (!json_object_is_type(sid, json_type_string) ||
                !sync_uuid_ok(json_object_get_string(sid))) {
                json_object_put(req);
                count(sy, "single", "bad_request");
                http_reply_error(ctx, 400, "Invalid showId: expected a UUID");
                return;
            }
            show_id = json_object_get_string(sid);
        }
    }
    if (!creds_usable(sy)) {
        json_object_put(req);
        count(sy, show_id ? "single" : "all", "no_credentials");
        http_reply_error(ctx, 500, "AWS credentials not configured");
        return;
    }
    if (!show_id) {
        json_object_put(req);
        http_ctx_set_data(ctx, sy);
        if (reconcile_request_pass(sy->c.rec, all_done, ctx) < 0)
            route_unavailable(ctx, "database unavailable", 1);
        return;
    }
    struct single *s = calloc(1, sizeof(*s));
    if (!s) {
        json_object_put(req);
        route_unavailable(ctx, "out of memory", 1);
        return;
    }
    s->sy = sy;
    s->ctx = ctx;
    snprintf(s->id, sizeof(s->id), "%s", show_id);
    for (char *p = s->id; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    json_object_put(req);
    const char *v[] = {s->id};
    if (db_exec(sy->c.db, "sync_show", 1, v, single_loaded, s) < 0) {
        count(sy, "single", "unavailable");
        route_unavailable(ctx, "database unavailable", 1);
        single_free(s);
    }
}

int sync_register(struct sync *sy, struct http_server *http)
{
    unsigned m = HTTP_POST | HTTP_OPTIONS;
    if (http_server_route(http, "/functions/v1/sync-ivs-stream-status", m, "sync", sync_route, sy) <
            0 ||
        http_server_route(http, "/v1/sync", m, "sync", sync_route, sy) < 0)
        return -1;
    return 0;
}
