/* route_health: /healthz (liveness), /readyz (readiness), /metrics. */
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws_creds.h"
#include "db.h"
#include "http_server.h"
#include "metrics.h"
#include "rolecheck.h"
#include "routes.h"

void route_unavailable(struct http_ctx *ctx, const char *msg, int retry_after)
{
    char ra[16];
    snprintf(ra, sizeof(ra), "%d", retry_after < 1 ? 1 : retry_after);
    http_ctx_add_header(ctx, "Retry-After", ra);
    http_reply_error(ctx, 503, msg);
}

static void healthz(struct http_ctx *ctx, void *arg)
{
    (void)arg;
    static const char ok[] = "{\"status\":\"ok\"}";
    http_reply(ctx, 200, "application/json", ok, sizeof(ok) - 1);
}

static int ready(const struct route_health_ctx *rh)
{
    enum rolecheck_state st = rolecheck_state(rh->role);
    return !*rh->draining && db_ready(rh->db) && (st == ROLECHECK_OK || st == ROLECHECK_WARN);
}

static void readyz(struct http_ctx *ctx, void *arg)
{
    struct route_health_ctx *rh = arg;
    rolecheck_poke(rh->role);
    struct json_object *o = json_object_new_object();
    int status = 200;
    if (*rh->draining) {
        status = 503;
        json_object_object_add(o, "status", json_object_new_string("draining"));
        json_object_object_add(o, "reason", json_object_new_string("shutting down"));
    } else if (!db_ready(rh->db)) {
        /* the detail (hosts, sockets, users) goes to the log and to doctor only */
        status = 503;
        json_object_object_add(o, "status", json_object_new_string("not ready"));
        json_object_object_add(o, "reason", json_object_new_string("database unavailable"));
    } else if (rolecheck_state(rh->role) == ROLECHECK_UNKNOWN ||
               rolecheck_state(rh->role) == ROLECHECK_ERROR) {
        int unknown = rolecheck_state(rh->role) == ROLECHECK_UNKNOWN;
        status = 503;
        json_object_object_add(o, "status", json_object_new_string("not ready"));
        json_object_object_add(o, "reason",
                               json_object_new_string(unknown ? "checking the database role"
                                                              : rolecheck_problem(rh->role)));
    } else {
        json_object_object_add(o, "status", json_object_new_string("ready"));
    }
    if (status != 200)
        json_object_object_add(
            o, "error",
            json_object_new_string(json_object_get_string(json_object_object_get(o, "reason"))));
    http_reply_json(ctx, status, o);
    json_object_put(o);
}

static void metrics_route(struct http_ctx *ctx, void *arg)
{
    struct route_health_ctx *rh = arg;
    metrics_set(rh->metrics, "ivs_syncd_uptime_seconds", NULL, (double)time(NULL) - rh->started);
    metrics_set(rh->metrics, "ivs_syncd_http_inflight", NULL, http_server_inflight(rh->http));
    metrics_set(rh->metrics, "ivs_syncd_ready", NULL, ready(rh));
    /* one series per state, 1 for the current one (a state set, as Prometheus has them) */
    static const char *const states[] = {"none", "loading", "ready", "failed"};
    enum aws_creds_state cs = aws_creds_state(rh->creds);
    for (int i = 0; i < 4; i++) {
        char l[32];
        snprintf(l, sizeof(l), "state=\"%s\"", states[i]);
        metrics_set(rh->metrics, "ivs_syncd_aws_credentials", l, (int)cs == i);
    }
    metrics_update_process(rh->metrics);
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        route_unavailable(ctx, "out of memory", 1);
        return;
    }
    metrics_render(rh->metrics, b);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    if (!s) {
        evbuffer_free(b);
        route_unavailable(ctx, "out of memory", 1);
        return;
    }
    evbuffer_remove(b, s, n);
    evbuffer_free(b);
    http_reply(ctx, 200, "text/plain; version=0.0.4; charset=utf-8", s, n);
    free(s);
}

int route_health_register(struct route_health_ctx *rh)
{
    metrics_declare(rh->metrics, "ivs_syncd_build_info", METRIC_GAUGE,
                    "build information (always 1)");
    metrics_set(rh->metrics, "ivs_syncd_build_info",
                "version=\"" IVS_VERSION "\",revision=\"" IVS_GIT_REV "\"", 1);
    metrics_declare(rh->metrics, "ivs_syncd_uptime_seconds", METRIC_GAUGE, "seconds since start");
    metrics_declare(rh->metrics, "ivs_syncd_ready", METRIC_GAUGE, "1 when /readyz answers 200");
    metrics_declare(rh->metrics, "ivs_syncd_aws_credentials", METRIC_GAUGE,
                    "AWS credentials: 1 for the current state (none = no source configured, "
                    "loading, ready, failed = a source is configured but nothing valid is held)");
    /* set at scrape time here; http_server owns the count */
    metrics_declare(rh->metrics, "ivs_syncd_http_inflight", METRIC_GAUGE,
                    "HTTP requests being handled");
    if (http_server_route(rh->http, "/healthz", HTTP_GET, "healthz", healthz, rh) < 0 ||
        http_server_route(rh->http, "/readyz", HTTP_GET, "readyz", readyz, rh) < 0 ||
        http_server_route(rh->http, "/metrics", HTTP_GET, "metrics", metrics_route, rh) < 0)
        return -1;
    return 0;
}
