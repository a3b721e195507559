/* route_sns: POST /sns - the SNS HTTPS subscription endpoint (SPEC 1.1). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "http_client.h"
#include "http_server.h"
#include "ivsevent.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "routes.h"
#include "sns.h"
#include "sns_certs.h"

/* One /sns request waiting for a certificate or a confirmation GET. */
struct sns_job {
    struct route_sns_ctx *rc;
    struct http_ctx *ctx;
    struct sns_message msg;
};

static void sig_fail(struct route_sns_ctx *rc, struct http_ctx *ctx, int status, const char *reason,
                     const char *msg)
{
    char l[64];
    snprintf(l, sizeof(l), "reason=\"%s\"", reason);
    metrics_inc(rc->metrics, "ivs_syncd_sns_rejected_total", l);
    if (!strcmp(reason, "signature") || !strcmp(reason, "certificate"))
        metrics_inc(rc->metrics, "ivs_syncd_sns_signature_failures_total", l);
    LOG_INFO(http_ctx_request_id(ctx), "sns message rejected (%s): %s", reason, msg);
    http_reply_error(ctx, status, msg);
}

/*
 * Pass an event on to ingest, unless it is dated more than IVSEVENT_MAX_FUTURE_US
 * ahead of our clock: such an event would win every later comparison (stale
 * rule) and poison the show, so it is refused with 400 (SNS then moves it to
 * its dead-letter queue). What does not parse goes on: ingest says why.
 */
static void ingest_checked(struct route_sns_ctx *rc, struct http_ctx *ctx, const char *json,
                           size_t len, const char *message_id, const char *via, int lenient)
{
    struct ivsevent ev;
    if (ivsevent_parse(json, len, rc->cfg->json_max_depth, &ev, NULL, 0) == 0 &&
        !ivsevent_time_ok(&ev, clock_real_us())) {
        char l[96];
        snprintf(l, sizeof(l), "reason=\"future\",via=\"%s\"", via);
        metrics_inc(rc->metrics, "ivs_syncd_events_rejected_total", l);
        snprintf(l, sizeof(l), "outcome=\"rejected\",via=\"%s\"", via);
        metrics_inc(rc->metrics, "ivs_syncd_events_total", l);
        LOG_INFO(http_ctx_request_id(ctx), "event rejected (future): time %s is ahead of now",
                 ev.time);
        http_reply_error(ctx, 400, "event time is more than 5 minutes in the future");
        return;
    }
    rc->ingest(rc->ingest_arg, ctx, json, len, message_id, via, lenient);
}

static void job_free(struct sns_job *j)
{
    sns_message_free(&j->msg);
    free(j);
}

static void confirm_done(const struct http_response *resp, void *arg)
{
    struct sns_job *j = arg;
    struct route_sns_ctx *rc = j->rc;
    if (resp->failed || resp->status < 200 || resp->status >= 300) {
        metrics_inc(rc->metrics, "ivs_syncd_sns_subscriptions_total", "result=\"confirm_failed\"");
        LOG_WARN(http_ctx_request_id(j->ctx), "subscription confirmation failed for %s: %s %ld",
                 j->msg.topic_arn, resp->error ? resp->error : "HTTP", resp->status);
        route_unavailable(j->ctx, "subscription confirmation failed", 5);
    } else {
        metrics_inc(rc->metrics, "ivs_syncd_sns_subscriptions_total", "result=\"confirmed\"");
        LOG_INFO(http_ctx_request_id(j->ctx), "subscription confirmed for topic %s",
                 j->msg.topic_arn);
        static const char ok[] = "{\"outcome\":\"confirmed\"}";
        http_reply(j->ctx, 200, "application/json", ok, sizeof(ok) - 1);
    }
    job_free(j);
}

/* Signature verified: act on the message. Takes ownership of j. */
static void verified(struct sns_job *j)
{
    struct route_sns_ctx *rc = j->rc;
    struct http_ctx *ctx = j->ctx;
    const struct config *cfg = rc->cfg;
    time_t now = time(NULL);
    if (cfg->sns_max_age > 0 && (double)now - (double)j->msg.time > cfg->sns_max_age) {
        sig_fail(rc, ctx, 403, "too_old", "message Timestamp is older than SNS_MAX_AGE (replay?)");
        job_free(j);
        return;
    }
    switch (j->msg.type) {
    case SNS_NOTIFICATION:
        ingest_checked(rc, ctx, j->msg.message, j->msg.message_len, j->msg.message_id, "sns", 1);
        job_free(j);
        return;
    case SNS_UNSUBSCRIBE_CONFIRMATION: {
        metrics_inc(rc->metrics, "ivs_syncd_sns_subscriptions_total", "result=\"unsubscribed\"");
        LOG_WARN(http_ctx_request_id(ctx), "unsubscribe confirmation received for topic %s",
                 j->msg.topic_arn);
        static const char ok[] = "{\"outcome\":\"unsubscribe_noted\"}";
        http_reply(ctx, 200, "application/json", ok, sizeof(ok) - 1);
        job_free(j);
        return;
    }
    case SNS_SUBSCRIPTION_CONFIRMATION:
        break;
    }
    char err[200];
    if (!j->msg.subscribe_url || sns_url_host_check(j->msg.subscribe_url, err, sizeof(err)) < 0) {
        sig_fail(rc, ctx, 403, "subscribe_url", "SubscribeURL is not an https URL on an SNS host");
        job_free(j);
        return;
    }
    if (!cfg->sns_auto_confirm) {
        metrics_inc(rc->metrics, "ivs_syncd_sns_subscriptions_total", "result=\"not_confirmed\"");
        LOG_WARN(http_ctx_request_id(ctx),
                 "subscription confirmation for topic %s not followed (SNS_AUTO_CONFIRM=false); "
                 "confirm it with the token in the message",
                 j->msg.topic_arn);
        static const char ok[] = "{\"outcome\":\"confirmation_pending\"}";
        http_reply(ctx, 200, "application/json", ok, sizeof(ok) - 1);
        job_free(j);
        return;
    }
    /* SubscribeURL checked above: https, SNS host, no port or userinfo. */
    char url[SNS_MAX_URL + 128];
    const char *target = j->msg.subscribe_url;
    if (cfg->sns_fetch_base_url && *cfg->sns_fetch_base_url) {
        const char *path = strchr(j->msg.subscribe_url + 8, '/');
        snprintf(url, sizeof(url), "%s%s", cfg->sns_fetch_base_url, path ? path : "/");
        target = url;
    }
    struct http_request req = {.method = "GET",
                               .url = target,
                               .timeout_ms = 5000,
                               .connect_timeout_ms = 3000,
                               .max_response = 64 * 1024,
                               .allow_http = target != j->msg.subscribe_url};
    if (!rc->hc || http_client_request(rc->hc, &req, confirm_done, j) < 0) {
        route_unavailable(ctx, "subscription confirmation could not start", 5);
        job_free(j);
    }
}

static void check_with(struct sns_job *j, X509 *cert)
{
    char err[256];
    if (sns_verify(&j->msg, cert, err, sizeof(err)) < 0) {
        sig_fail(j->rc, j->ctx, 403, "signature", err);
        job_free(j);
        return;
    }
    verified(j);
}

static void cert_ready(X509 *cert, int transient, const char *err, void *arg)
{
    struct sns_job *j = arg;
    if (!cert) {
        if (transient) {
            LOG_WARN(http_ctx_request_id(j->ctx), "signing certificate unavailable: %s",
                     err ? err : "fetch failed");
            route_unavailable(j->ctx, "signing certificate unavailable, retry later", 5);
        } else {
            sig_fail(j->rc, j->ctx, 403, "certificate", err ? err : "bad signing certificate");
        }
        job_free(j);
        return;
    }
    check_with(j, cert);
}

static void sns_route(struct http_ctx *ctx, void *arg)
{
    struct route_sns_ctx *rc = arg;
    const struct config *cfg = rc->cfg;
    char err[256];
    const char *raw = http_ctx_header(ctx, "x-amz-sns-rawdelivery");
    if (raw && !strcasecmp(raw, "true")) {
        sig_fail(rc, ctx, 400, "raw_delivery",
                 "raw message delivery is on: turn it off on the subscription (it strips the "
                 "signature)");
        return;
    }
    size_t len;
    const char *body = http_ctx_body(ctx, &len);
    struct sns_job *j = calloc(1, sizeof(*j));
    if (!j) {
        route_unavailable(ctx, "out of memory", 1);
        return;
    }
    j->rc = rc;
    j->ctx = ctx;
    if (sns_parse(body, len, cfg->json_max_depth, &j->msg, err, sizeof(err)) < 0) {
        free(j);
        sig_fail(rc, ctx, 400, "malformed", err);
        return;
    }
    if (!config_list_contains(cfg->sns_topic_arns, j->msg.topic_arn, strlen(j->msg.topic_arn))) {
        sig_fail(rc, ctx, 403, "topic", "TopicArn is not in SNS_TOPIC_ARNS");
        job_free(j);
        return;
    }
    if (j->msg.signature_version < cfg->sns_min_signature_version) {
        sig_fail(rc, ctx, 403, "signature_version",
                 "SignatureVersion is below SNS_MIN_SIGNATURE_VERSION");
        job_free(j);
        return;
    }
    if (sns_cert_url_check(j->msg.signing_cert_url, err, sizeof(err)) < 0) {
        sig_fail(rc, ctx, 403, "certificate", err);
        job_free(j);
        return;
    }
    X509 *cert = sns_certs_lookup(rc->certs, j->msg.signing_cert_url, err, sizeof(err));
    if (cert) {
        check_with(j, cert);
        return;
    }
    int r = sns_certs_fetch(rc->certs, j->msg.signing_cert_url, cert_ready, j, err, sizeof(err));
    if (r == 0)
        return; /* cert_ready() continues */
    if (r == -2)
        route_unavailable(ctx, "signing certificate unavailable, retry later", 5);
    else
        sig_fail(rc, ctx, 403, "certificate", err);
    job_free(j);
}

static void eventbridge_route(struct http_ctx *ctx, void *arg)
{
    struct route_sns_ctx *rc = arg;
    const struct config *cfg = rc->cfg;
    const char *tok = http_ctx_header(ctx, cfg->eventbridge_token_header);
    if (!tok || !jwt_secret_equal(tok, strlen(tok), cfg->eventbridge_token,
                                  strlen(cfg->eventbridge_token))) {
        metrics_inc(rc->metrics, "ivs_syncd_events_rejected_total",
                    "reason=\"token\",via=\"eventbridge\"");
        http_reply_error(ctx, 401, "Unauthorized");
        return;
    }
    size_t len;
    const char *body = http_ctx_body(ctx, &len);
    ingest_checked(rc, ctx, body, len, NULL, "eventbridge", 0);
}

/* Counters whose label sets are known in advance exist from the start, at 0,
 * so increase() sees the first event. */
static void zero_event_counters(struct route_sns_ctx *rc, const char *via)
{
    static const char *const outcomes[] = {"applied", "duplicate", "stale",      "ignored",
                                           "check",   "rejected",  "unavailable"};
    static const char *const reasons[] = {"malformed", "account", "future"};
    char l[96];
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
        snprintf(l, sizeof(l), "outcome=\"%s\",via=\"%s\"", outcomes[i], via);
        metrics_add(rc->metrics, "ivs_syncd_events_total", l, 0);
    }
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        snprintf(l, sizeof(l), "reason=\"%s\",via=\"%s\"", reasons[i], via);
        metrics_add(rc->metrics, "ivs_syncd_events_rejected_total", l, 0);
    }
}

int route_sns_register(struct route_sns_ctx *rc)
{
    metrics_declare(rc->metrics, "ivs_syncd_sns_rejected_total", METRIC_COUNTER,
                    "SNS messages rejected, by reason");
    metrics_declare(rc->metrics, "ivs_syncd_sns_signature_failures_total", METRIC_COUNTER,
                    "SNS signature or certificate failures");
    metrics_declare(rc->metrics, "ivs_syncd_sns_subscriptions_total", METRIC_COUNTER,
                    "subscription and unsubscribe confirmations");
    metrics_declare(rc->metrics, "ivs_syncd_events_total", METRIC_COUNTER,
                    "events by outcome (applied, duplicate, stale, ignored, check, rejected, "
                    "unavailable)");
    metrics_declare(rc->metrics, "ivs_syncd_events_rejected_total", METRIC_COUNTER,
                    "events rejected, by reason");
    static const char *const sns_reasons[] = {"certificate", "malformed",        "raw_delivery",
                                              "signature",   "too_old",          "subscribe_url",
                                              "topic",       "signature_version"};
    char l[96];
    for (size_t i = 0; i < sizeof(sns_reasons) / sizeof(sns_reasons[0]); i++) {
        snprintf(l, sizeof(l), "reason=\"%s\"", sns_reasons[i]);
        metrics_add(rc->metrics, "ivs_syncd_sns_rejected_total", l, 0);
    }
    zero_event_counters(rc, "sns");
    return http_server_route(rc->http, "/sns", HTTP_POST, "sns", sns_route, rc);
}

int route_eventbridge_register(struct route_sns_ctx *rc)
{
    if (!rc->cfg->eventbridge_token || !*rc->cfg->eventbridge_token)
        return 0;
    zero_event_counters(rc, "eventbridge");
    metrics_add(rc->metrics, "ivs_syncd_events_rejected_total",
                "reason=\"token\",via=\"eventbridge\"", 0);
    return http_server_route(rc->http, "/eventbridge", HTTP_POST, "eventbridge", eventbridge_route,
                             rc);
}
