/* ingest: a verified event -> ivs_sync.ingest_event() -> the answer. */
#include "ingest.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "db.h"
#include "event.h"
#include "http_server.h"
#include "log.h"
#include "metrics.h"
#include "routes.h"

struct job {
    struct app *a;
    struct http_ctx *ctx;
    char channel[ARN_MAX_LEN + 1];
    char via[16];
};

int ingest_prepare(struct db *db)
{
    return db_prepare(db, "ingest_event",
                      "SELECT ivs_sync.ingest_event($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                      "$10::timestamptz, $11, $12::integer)");
}

static const char *kind_sql(enum event_kind k)
{
    switch (k) {
    case EVENT_STREAM_START:
        return "start";
    case EVENT_STREAM_END:
        return "end";
    case EVENT_HEALTH:
        return "health";
    case EVENT_STREAM_CHECK:
        return "check";
    default:
        return "other";
    }
}

static void count(struct app *a, const char *via, const char *outcome)
{
    char l[96];
    snprintf(l, sizeof(l), "outcome=\"%s\",via=\"%s\"", outcome, via);
    metrics_inc(a->metrics, "ivs_syncd_events_total", l);
}

static void reject(struct app *a, struct http_ctx *ctx, const char *via, int status,
                   const char *reason, const char *msg)
{
    char l[96];
    snprintf(l, sizeof(l), "reason=\"%s\",via=\"%s\"", reason, via);
    metrics_inc(a->metrics, "ivs_syncd_events_rejected_total", l);
    count(a, via, "rejected");
    LOG_INFO(http_ctx_request_id(ctx), "event rejected (%s): %s", reason, msg);
    http_reply_error(ctx, status, msg);
}

static void answer(struct http_ctx *ctx, const char *outcome)
{
    char f[64];
    snprintf(f, sizeof(f), "\"outcome\":\"%s\"", outcome);
    http_ctx_log_field(ctx, f);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "outcome", json_object_new_string(outcome));
    http_reply_json(ctx, 200, o);
    json_object_put(o);
}

static void done(PGresult *res, const char *err, void *arg)
{
    struct job *j = arg;
    struct app *a = j->a;
    if (!db_ok(res) || PQntuples(res) != 1) {
        const char *why = res ? PQresultErrorMessage(res) : err;
        LOG_WARN(http_ctx_request_id(j->ctx), "event not stored: %s", why ? why : "unknown");
        count(a, j->via, "unavailable");
        route_unavailable(j->ctx, "event not stored: database unavailable", 1);
        free(j);
        return;
    }
    const char *outcome = PQgetvalue(res, 0, 0);
    count(a, j->via, outcome);
    if (!strcmp(outcome, "check") && a->on_check)
        a->on_check(a, j->channel);
    answer(j->ctx, outcome);
    free(j);
}

void ingest_handle(struct app *a, struct http_ctx *ctx, const char *json, size_t len,
                   const char *sns_message_id, const char *via, int lenient)
{
    struct ivs_event ev;
    char err[256];
    if (event_parse(json, len, a->cfg->json_max_depth, &ev, err, sizeof(err)) < 0) {
        if (lenient) {
            count(a, via, "ignored");
            LOG_INFO(http_ctx_request_id(ctx), "authentic message is not an IVS event: %s", err);
            answer(ctx, "ignored");
            return;
        }
        reject(a, ctx, via, 400, "malformed", err);
        return;
    }
    if (!event_account_allowed(&ev, a->cfg->aws_account_ids)) {
        reject(a, ctx, via, 403, "account", "event from an account not in AWS_ACCOUNT_IDS");
        return;
    }
    if (!ev.has_channel) {
        /* account-wide events (e.g. limit breach) change no show: recorded nowhere */
        count(a, via, "ignored");
        answer(ctx, "ignored");
        return;
    }
    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        route_unavailable(ctx, "out of memory", 1);
        return;
    }
    j->a = a;
    j->ctx = ctx;
    snprintf(j->channel, sizeof(j->channel), "%s", ev.channel.arn);
    snprintf(j->via, sizeof(j->via), "%s", via);
    char grace[16];
    snprintf(grace, sizeof(grace), "%d", a->cfg->end_grace_seconds);
    const char *p[12] = {ev.id,
                         sns_message_id,
                         via,
                         ev.channel.arn,
                         ev.account,
                         ev.detail_type,
                         ev.event_name[0] ? ev.event_name : NULL,
                         kind_sql(ev.kind),
                         ev.stream_id[0] ? ev.stream_id : NULL,
                         ev.time,
                         ev.health[0] ? ev.health : NULL,
                         grace};
    struct json_object *jid = json_object_new_string(ev.id);
    char f[400];
    snprintf(f, sizeof(f), "\"event_id\":%s,\"event\":\"%s\"",
             json_object_to_json_string_ext(jid, JSON_C_TO_STRING_PLAIN), kind_sql(ev.kind));
    json_object_put(jid);
    http_ctx_log_field(ctx, f);
    if (db_exec(a->db, "ingest_event", 12, p, done, j) < 0) {
        free(j);
        count(a, via, "unavailable");
        route_unavailable(ctx, "event not stored: database unavailable", 1);
    }
}
