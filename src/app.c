/* app: build the modules, run the loop, drain on SIGTERM, tear down. */
#include "app.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "aws_creds.h"
#include "checks.h"
#include "config.h"
#include "db.h"
#include "http_client.h"
#include "http_server.h"
#include "ingest.h"
#include "ivs.h"
#include "leader.h"
#include "log.h"
#include "maint.h"
#include "metrics.h"
#include "observe.h"
#include "reconcile.h"
#include "rolecheck.h"
#include "routes.h"
#include "sns_certs.h"
#include "sse.h"
#include "sync.h"

/* systemd readiness (sd_notify protocol, no libsystemd needed). */
static void notify_systemd(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path || (path[0] != '/' && path[0] != '@'))
        return;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t l = strlen(path);
    if (l < sizeof(sa.sun_path)) {
        memcpy(sa.sun_path, path, l);
        if (sa.sun_path[0] == '@')
            sa.sun_path[0] = '\0';
        ssize_t w = sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa,
                           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l));
        (void)w;
    }
    close(fd);
}

/*
 * The db pool's metrics (both pools, by pool="..."). They belong in db.c
 * (db_metrics_declare); declared here until db.c, another helper's file in
 * this change, takes them.
 */
static void declare_db_metrics(struct metrics *m)
{
    metrics_declare(m, "ivs_syncd_db_pool_in_use", METRIC_GAUGE,
                    "database connections running a query");
    metrics_declare(m, "ivs_syncd_db_pool_waiting", METRIC_GAUGE,
                    "queries waiting for a connection");
    metrics_declare(m, "ivs_syncd_db_pool_connections_up", METRIC_GAUGE, "database connections up");
    metrics_declare(m, "ivs_syncd_db_errors_total", METRIC_COUNTER, "database connection errors");
    metrics_declare(m, "ivs_syncd_db_refused_total", METRIC_COUNTER,
                    "queries refused (no connection or queue full)");
    metrics_declare(m, "ivs_syncd_db_queue_timeouts_total", METRIC_COUNTER,
                    "queries that waited too long for a connection");
}

/* The routes' ingest hook. */
static void ingest_event(void *arg, struct http_ctx *ctx, const char *json, size_t len,
                         const char *sns_message_id, const char *via, int lenient)
{
    struct app *a = arg;
    /* a role that cannot see or update shows would record every event as
     * "ignored", for good: refuse it instead, so SNS redelivers it later */
    if (rolecheck_blocks(a->role)) {
        route_unavailable(ctx, "the database role cannot update shows (see /readyz)", 30);
        return;
    }
    ingest_handle(a->ingest, ctx, json, len, sns_message_id, via, lenient);
}

static void drain_check_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct app *a = arg;
    if (http_server_inflight(a->http) == 0 && db_in_use(a->db) == 0 && db_waiting(a->db) == 0) {
        LOG_INFO(NULL, "drained: exiting");
        event_base_loopexit(a->base, NULL);
    }
}

static void drain_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct app *a = arg;
    LOG_WARN(NULL, "SHUTDOWN_TIMEOUT reached with %d requests in flight: exiting",
             http_server_inflight(a->http));
    event_base_loopexit(a->base, NULL);
}

static void start_drain(struct app *a, const char *why)
{
    if (a->draining) {
        LOG_WARN(NULL, "second %s: exiting now", why);
        a->stopping = 1;
        event_base_loopbreak(a->base);
        return;
    }
    a->draining = 1;
    notify_systemd("STOPPING=1");
    LOG_INFO(NULL, "%s: draining (readiness fails, listeners closed)", why);
    http_server_close_listeners(a->http);
    sse_shutdown(a->sse);
    if (a->leader)
        leader_stop(a->leader);
    if (a->maint)
        maint_stop(a->maint);
    struct timeval tv = {a->cfg->shutdown_timeout, 0};
    evtimer_add(a->drain_timer, &tv);
    struct timeval poll = {0, 20000};
    event_add(a->drain_check, &poll);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct app *a = arg;
    if (sig == SIGHUP) {
        if (log_reopen() < 0)
            LOG_ERROR(NULL, "SIGHUP: cannot reopen LOG_FILE: %s", strerror(errno));
        else
            LOG_INFO(NULL, "SIGHUP: log reopened");
        http_server_reload_tls(a->http);
        return;
    }
    start_drain(a, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ingest's targeted-check callback: the checks module's, once it is set up */
static void app_check_channel(const char *channel_arn, void *arg)
{
    struct app *a = arg;
    if (a->checks)
        checks_request(a->checks, channel_arn);
}

int app_init(struct app *a, struct config *cfg)
{
    memset(a, 0, sizeof(*a));
    a->cfg = cfg;
    a->started = (double)time(NULL);
    signal(SIGPIPE, SIG_IGN);
    a->base = event_base_new();
    a->metrics = metrics_new();
    if (!a->base || !a->metrics)
        goto fail;
    a->http = http_server_new(a->base, cfg, a->metrics);
    a->hc = http_client_new(a->base);
    if (!a->http || !a->hc)
        goto fail;
    struct db_options dbo = {.conninfo = config_conninfo(cfg),
                             .name = "main",
                             .size = cfg->db_pool_size,
                             .queue_max = cfg->db_queue_max,
                             .connect_timeout = cfg->db_connect_timeout,
                             .statement_timeout_ms = cfg->db_statement_timeout,
                             .queue_timeout = 5,
                             .prepared = db_prepared_mode(cfg->db_prepared)};
    if (dbo.prepared < -1) {
        LOG_ERROR(NULL, "DB_PREPARED must be auto, on or off, not %s", cfg->db_prepared);
        goto fail;
    }
    declare_db_metrics(a->metrics);
    a->db = db_new(a->base, &dbo, a->metrics);
    if (!a->db || ingest_prepare(a->db) < 0)
        goto fail;
    a->ingest = ingest_new(a->base, cfg, a->db, a->metrics, app_check_channel, a);
    if (!a->ingest)
        goto fail;
    a->certs = sns_certs_new(a->hc, cfg->sns_cert_dir, cfg->sns_cert_cache_size, a->metrics);
    if (!a->certs)
        goto fail;
    if (cfg->sns_fetch_base_url && *cfg->sns_fetch_base_url) {
        LOG_WARN(NULL,
                 "TESTING: SNS_FETCH_BASE_URL=%s replaces the SNS host for certificates and "
                 "subscription confirmations (no certificate chain check; nothing fetched is "
                 "written to SNS_CERT_DIR); never use this in production",
                 cfg->sns_fetch_base_url);
        if (sns_certs_set_fetch_base(a->certs, cfg->sns_fetch_base_url) < 0)
            goto fail;
    }
    char err[256] = "";
    a->creds = aws_creds_new(a->base, a->hc, cfg, err, sizeof(err));
    if (!a->creds) {
        LOG_ERROR(NULL, "%s", err[0] ? err : "AWS credentials: cannot initialise");
        goto fail;
    }
    if (aws_creds_state(a->creds) != AWS_CREDS_NONE) {
        a->ivs = ivs_new(a->base, a->hc, a->creds, cfg, a->metrics);
        if (!a->ivs)
            goto fail;
    }
    a->obs = observe_new(a->db, cfg->end_grace_seconds);
    if (!a->obs)
        goto fail;
    a->rec = reconcile_new(cfg, a->db, a->ivs, a->obs, a->metrics);
    a->maint = maint_new(a->base, cfg, a->db, a->metrics);
    if (!a->rec || !a->maint)
        goto fail;
    a->leader = leader_new(a->base, cfg, a->rec, a->maint, a->metrics);
    a->checks = checks_new(a->ivs, a->obs, a->metrics);
    struct sync_ctx sc = {.cfg = cfg,
                          .db = a->db,
                          .ivs = a->ivs,
                          .creds = a->creds,
                          .obs = a->obs,
                          .rec = a->rec,
                          .metrics = a->metrics};
    a->sync = sync_new(&sc);
    a->sse = sse_new(a->base, cfg, a->db, a->metrics);
    if (!a->leader || !a->checks || !a->sync || !a->sse)
        goto fail;
    a->role = rolecheck_new(a->base, a->db, a->metrics);
    if (!a->role)
        goto fail;
    a->health_ctx = (struct route_health_ctx){.http = a->http,
                                              .db = a->db,
                                              .role = a->role,
                                              .creds = a->creds,
                                              .metrics = a->metrics,
                                              .draining = &a->draining,
                                              .started = a->started};
    a->sns_ctx = (struct route_sns_ctx){.http = a->http,
                                        .cfg = cfg,
                                        .metrics = a->metrics,
                                        .hc = a->hc,
                                        .certs = a->certs,
                                        .ingest = ingest_event,
                                        .ingest_arg = a};
    if (route_health_register(&a->health_ctx) < 0 || route_sns_register(&a->sns_ctx) < 0 ||
        route_eventbridge_register(&a->sns_ctx) < 0 || sync_register(a->sync, a->http) < 0 ||
        sse_register(a->sse, a->http) < 0)
        goto fail;
    a->sig_term = evsignal_new(a->base, SIGTERM, on_signal, a);
    a->sig_int = evsignal_new(a->base, SIGINT, on_signal, a);
    a->sig_hup = evsignal_new(a->base, SIGHUP, on_signal, a);
    a->drain_timer = evtimer_new(a->base, drain_deadline_cb, a);
    a->drain_check = event_new(a->base, -1, EV_PERSIST, drain_check_cb, a);
    if (!a->sig_term || !a->sig_int || !a->sig_hup || !a->drain_timer || !a->drain_check)
        goto fail;
    event_add(a->sig_term, NULL);
    event_add(a->sig_int, NULL);
    event_add(a->sig_hup, NULL);
    return 0;
fail:
    app_free(a);
    return -1;
}

int app_run(struct app *a)
{
    const struct config *cfg = a->cfg;
    if (http_server_listen(a->http, cfg->listen_host, cfg->listen_port) < 0) {
        LOG_ERROR(NULL, "LISTEN: cannot listen on %s:%d: %s", cfg->listen_host, cfg->listen_port,
                  strerror(errno));
        return 1;
    }
    db_start(a->db);
    rolecheck_start(a->role);
    sse_start(a->sse);
    if (!a->ivs)
        LOG_WARN(NULL, "no AWS credentials configured: reconciliation and the sync API's IVS "
                       "calls are off (webhooks still work)");
    char f[128];
    snprintf(f, sizeof(f), "\"port\":%d,\"version\":\"%s\"", http_server_port(a->http),
             IVS_VERSION);
    if (a->ivs)
        leader_start(a->leader);
    maint_start(a->maint);
    log_write(LOG_LEVEL_INFO, NULL, f, "listening on %s:%d", cfg->listen_host,
              http_server_port(a->http));
    notify_systemd("READY=1");
    event_base_dispatch(a->base);
    return 0;
}

void app_free(struct app *a)
{
    if (a->leader)
        leader_free(a->leader);
    if (a->maint)
        maint_free(a->maint);
    if (a->checks)
        checks_free(a->checks);
    if (a->rec)
        reconcile_free(a->rec);
    /* the pool next: its pending callbacks still answer their requests */
    if (a->db)
        db_free(a->db);
    rolecheck_free(a->role); /* after the pool: its callbacks may still reach it */
    sse_free(a->sse);        /* after the pool (its callbacks answer), before the server */
    if (a->ingest)
        ingest_free(a->ingest);
    if (a->sync)
        sync_free(a->sync);
    if (a->obs)
        observe_free(a->obs);
    if (a->ivs)
        ivs_free(a->ivs);
    if (a->certs)
        sns_certs_free(a->certs);
    if (a->creds)
        aws_creds_free(a->creds);
    if (a->http)
        http_server_free(a->http);
    if (a->hc)
        http_client_free(a->hc);
    struct event **evs[] = {&a->sig_term, &a->sig_int, &a->sig_hup, &a->drain_timer,
                            &a->drain_check};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (*evs[i]) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
    if (a->metrics)
        metrics_free(a->metrics);
    if (a->base)
        event_base_free(a->base);
    memset(a, 0, sizeof(*a));
}
