/*
 * ingest: a verified event -> ivs_sync.ingest_events() -> the answer.
 *
 * Group commit: an event is not sent to the database at once but queued; the
 * queue is flushed at the end of the event-loop turn (so the events read in
 * one turn go together) and whenever one of our statements finishes. A flush
 * sends everything queued, up to INGEST_BATCH_MAX events, as one
 * ivs_sync.ingest_events(jsonb) (infra/sql/003_batch.sql): one statement, one
 * transaction, one outcome per event in input order, each event deduplicated
 * and applied in order exactly as ivs_sync.ingest_event does (one event alone
 * is a batch of one). At most INGEST_MAX_FLIGHT statements run at once
 * (notifying transactions commit one at a time, see flush()): an event goes
 * at once while fewer run, else with the next batch. Every request is answered from its own row,
 * only after the statement (so the transaction) completed. A batch that fails with an SQL error is
 * retried event by event (one bad event must not fail the others); a batch that failed because the
 * database went away answers 503 to each of its requests (SNS redelivers, dedup makes that safe).
 *
 * One queue, one timeout: events wait only in the ingest object's queue
 * (bounded by DB_QUEUE_MAX + DB_POOL_SIZE, then 503), at most the pool's queue
 * timeout. A statement is sent only when the pool has an idle connection, so
 * it never waits again in the pool's own queue; the pool says when one turns
 * idle (db_on_idle). An event refused or timed out here is counted once, in
 * the pool's ivs_syncd_db_{refused,queue_timeouts}_total (db_count_*); a
 * statement the pool refuses is counted by the pool.
 *
 * State: all in struct ingest, reached only from the event loop.
 */
#include "clock.h"
#include "ingest.h"

#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "db.h"
#include "ivsevent.h"
#include "http_server.h"
#include "log.h"
#include "metrics.h"
#include "routes.h"

#define INGEST_BATCH_MAX 64
#ifndef INGEST_MAX_FLIGHT
#define INGEST_MAX_FLIGHT 2 /* our statements in flight at most (see flush()) */
#endif
#define INGEST_CHECK_EVERY 1 /* seconds between checks of waiting events */

struct ingest {
    struct event_base *base;
    const struct config *cfg;
    struct db *db;
    struct metrics *metrics;
    ingest_check_fn on_check;
    void *check_arg;
    struct job *head, *tail;
    int pending;
    int inflight;           /* our statements running in the pool */
    struct event *flush_ev; /* end of this loop turn */
    struct event *check_ev; /* every INGEST_CHECK_EVERY while events wait */
};

struct job {
    struct job *next;
    struct ingest *in;
    struct http_ctx *ctx;
    double queued;
    int solo; /* retry of a failed batch: send alone */
    char via[16];
    char *mid; /* SNS MessageId or NULL */
    struct ivsevent ev;
};

struct batch {
    struct ingest *in;
    int n;
    struct job *jobs[INGEST_BATCH_MAX];
};

int ingest_prepare(struct db *db)
{
    return db_prepare(db, "ingest_events",
                      "SELECT ord, outcome FROM ivs_sync.ingest_events($1::jsonb, $2::integer)");
}

static const char *kind_sql(enum ivsevent_kind k)
{
    switch (k) {
    case IVSEVENT_STREAM_START:
        return "start";
    case IVSEVENT_STREAM_END:
        return "end";
    case IVSEVENT_HEALTH:
        return "health";
    case IVSEVENT_STREAM_CHECK:
        return "check";
    default:
        return "other";
    }
}

static void count(struct ingest *in, const char *via, const char *outcome)
{
    char l[96];
    snprintf(l, sizeof(l), "outcome=\"%s\",via=\"%s\"", outcome, via);
    metrics_inc(in->metrics, "ivs_syncd_events_total", l);
}

static void reject(struct ingest *in, struct http_ctx *ctx, const char *via, int status,
                   const char *reason, const char *msg)
{
    char l[96];
    snprintf(l, sizeof(l), "reason=\"%s\",via=\"%s\"", reason, via);
    metrics_inc(in->metrics, "ivs_syncd_events_rejected_total", l);
    count(in, via, "rejected");
    LOG_INFO(http_ctx_request_id(ctx), "event rejected (%s): %s", reason, msg);
    http_reply_error(ctx, status, msg);
}

static int plain_word(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return 0;
    return 1;
}

static void answer(struct http_ctx *ctx, const char *outcome)
{
    char f[64], body[64];
    if (!plain_word(outcome) || strlen(outcome) > 32)
        outcome = "unknown";
    snprintf(f, sizeof(f), "\"outcome\":\"%s\"", outcome);
    http_ctx_log_field(ctx, f);
    int n = snprintf(body, sizeof(body), "{%s}", f);
    http_reply(ctx, 200, "application/json", body, (size_t)n);
}

/* ------------------------------------------------------------ JSON text */

struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* s as a JSON string (quoted; "null" for NULL). s is valid UTF-8. */
static void sb_json(struct sbuf *b, const char *s)
{
    if (!s) {
        sb_add(b, "null", 4);
        return;
    }
    sb_add(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sb_add(b, run, (size_t)(s - run));
        char e[8];
        int n = c == '"' || c == '\\' ? snprintf(e, sizeof(e), "\\%c", c)
                                      : snprintf(e, sizeof(e), "\\u%04x", c);
        sb_add(b, e, (size_t)n);
        run = s + 1;
    }
    sb_add(b, run, (size_t)(s - run));
    sb_add(b, "\"", 1);
}

static void sb_member(struct sbuf *b, const char *key, const char *v, int first)
{
    if (!first)
        sb_add(b, ",", 1);
    sb_json(b, key);
    sb_add(b, ":", 1);
    sb_json(b, v);
}

/* ------------------------------------------------------------ the queue */

static void job_free(struct job *j)
{
    free(j->mid);
    free(j);
}

static void job_unavailable(struct job *j, const char *why)
{
    LOG_WARN(http_ctx_request_id(j->ctx), "event not stored: %s", why ? why : "unknown");
    count(j->in, j->via, "unavailable");
    route_unavailable(j->ctx, "event not stored: database unavailable", 1);
    job_free(j);
}

static void job_done(struct job *j, const char *outcome)
{
    struct ingest *in = j->in;
    count(in, j->via, outcome);
    if (!strcmp(outcome, "check") && in->on_check)
        in->on_check(j->ev.channel.arn, in->check_arg);
    answer(j->ctx, outcome);
    job_free(j);
}

static struct job *pop(struct ingest *in)
{
    struct job *j = in->head;
    if (j) {
        in->head = j->next;
        if (!in->head)
            in->tail = NULL;
        j->next = NULL;
        in->pending--;
    }
    return j;
}

static void fail_pending(struct ingest *in, const char *why)
{
    struct job *j;
    while ((j = pop(in)) != NULL)
        job_unavailable(j, why);
}

static int loop_ended(const struct ingest *in)
{
    return event_base_got_exit(in->base) || event_base_got_break(in->base);
}

static void flush(struct ingest *in);

static void batch_done(PGresult *res, const char *err, void *arg)
{
    struct batch *b = arg;
    struct ingest *in = b->in;
    in->inflight--;
    int ok = db_ok(res) && PQntuples(res) == b->n && PQnfields(res) == 2;
    if (ok)
        for (int i = 0; i < b->n && ok; i++)
            ok = atoi(PQgetvalue(res, i, 0)) == i + 1 && !PQgetisnull(res, i, 1);
    if (!ok && res && b->n > 1 && !loop_ended(in)) {
        /* an SQL error (a bad event, a deadlock): retry each event alone, first in line */
        LOG_WARN(NULL, "batch of %d events failed, retrying them one by one: %s", b->n,
                 PQresultErrorMessage(res));
        metrics_inc(in->metrics, "ivs_syncd_ingest_batch_retries_total", NULL);
        for (int i = b->n - 1; i >= 0; i--) {
            struct job *j = b->jobs[i];
            j->solo = 1;
            j->next = in->head;
            in->head = j;
            if (!in->tail)
                in->tail = j;
            in->pending++;
        }
        free(b);
        flush(in);
        return;
    }
    /* the connection is free again: send what waits before answering */
    if (loop_ended(in))
        fail_pending(in, "shutting down");
    else
        flush(in);
    for (int i = 0; i < b->n; i++) {
        struct job *j = b->jobs[i];
        if (!ok)
            job_unavailable(j, res ? PQresultErrorMessage(res) : err);
        else
            job_done(j, PQgetvalue(res, i, 1));
    }
    free(b);
}

static int send_batch(struct ingest *in, struct batch *b)
{
    struct sbuf s = {0};
    sb_add(&s, "[", 1);
    for (int i = 0; i < b->n; i++) {
        const struct job *j = b->jobs[i];
        const struct ivsevent *ev = &j->ev;
        sb_add(&s, i ? ",{" : "{", i ? 2 : 1);
        sb_member(&s, "id", ev->id, 1);
        sb_member(&s, "mid", j->mid, 0);
        sb_member(&s, "via", j->via, 0);
        sb_member(&s, "c", ev->channel.arn, 0);
        sb_member(&s, "acct", ev->account, 0);
        sb_member(&s, "dt", ev->detail_type, 0);
        sb_member(&s, "en", ev->event_name[0] ? ev->event_name : NULL, 0);
        sb_member(&s, "k", kind_sql(ev->kind), 0);
        sb_member(&s, "s", ev->stream_id[0] ? ev->stream_id : NULL, 0);
        sb_member(&s, "t", ev->time, 0);
        sb_member(&s, "h", ev->health[0] ? ev->health : NULL, 0);
        sb_add(&s, "}", 1);
    }
    sb_add(&s, "]", 1);
    if (s.oom) {
        free(s.p);
        return -1;
    }
    char grace[16];
    snprintf(grace, sizeof(grace), "%d", in->cfg->end_grace_seconds);
    const char *p[2] = {s.p, grace};
    int r = db_exec(in->db, "ingest_events", 2, p, batch_done, b);
    free(s.p);
    if (r == 0 && b->n > 1) {
        metrics_inc(in->metrics, "ivs_syncd_ingest_batches_total", NULL);
        metrics_add(in->metrics, "ivs_syncd_ingest_batched_events_total", NULL, b->n);
    }
    return r;
}

/* The one timeout: the pool's (DB queue timeout), for events waiting here. */
static void expire_waiting(struct ingest *in)
{
    double now = clock_mono();
    double limit = db_queue_timeout(in->db);
    while (in->head && now - in->head->queued > limit) {
        struct job *j = pop(in);
        db_count_queue_timeout(in->db);
        job_unavailable(j, "database busy: waited too long for a connection");
    }
}

static void flush(struct ingest *in)
{
    expire_waiting(in);
    /*
     * Transactions that notify (pg_notify) commit one at a time: PostgreSQL
     * holds a database-wide lock from just before their commit through the
     * WAL flush, so they cannot share a flush (no WAL group commit between
     * them). A third statement in flight would only queue on that lock, one
     * more flush of its own, where its events could have joined the next
     * batch. So at most two run - one executing while the other commits - and
     * at most half the pool (the other half stays free for the rest): an event
     * goes at once while fewer run; otherwise it waits for one to finish and
     * goes with everything queued meanwhile (one commit, one flush for all).
     * Measured (tests/bench/README.md): with up to four in flight, batches at
     * half the peak rate were smaller and commits per second higher than at
     * peak, most backends waiting on that lock.
     */
    int slots = in->cfg->db_pool_size / 2 > 0 ? in->cfg->db_pool_size / 2 : 1;
    if (slots > INGEST_MAX_FLIGHT)
        slots = INGEST_MAX_FLIGHT;
    /* Only onto an idle connection: a statement never waits in the pool's queue too. */
    while (in->head && in->inflight < slots && db_idle(in->db) > 0) {
        struct batch *b = calloc(1, sizeof(*b));
        if (!b) {
            fail_pending(in, "out of memory");
            return;
        }
        b->in = in;
        /* everything queued, up to the cap (a retried event goes alone) */
        if (in->head->solo)
            b->jobs[b->n++] = pop(in);
        else
            while (in->head && !in->head->solo && b->n < INGEST_BATCH_MAX)
                b->jobs[b->n++] = pop(in);
        if (send_batch(in, b) < 0) {
            for (int i = 0; i < b->n; i++)
                job_unavailable(b->jobs[i], "database unavailable");
            free(b);
            continue;
        }
        in->inflight++;
    }
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush(arg);
}

/* Expire what waits too long even when nothing else happens. */
static void check_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ingest *in = arg;
    flush(in);
    if (in->head) {
        struct timeval tv = {INGEST_CHECK_EVERY, 0};
        event_add(in->check_ev, &tv);
    }
}

/* The pool has an idle connection again (another module's query finished). */
static void idle_cb(void *arg)
{
    struct ingest *in = arg;
    if (in->head)
        flush(in);
}

static void enqueue(struct ingest *in, struct job *j)
{
    j->queued = clock_mono();
    if (in->tail)
        in->tail->next = j;
    else
        in->head = j;
    in->tail = j;
    in->pending++;
    struct timeval zero = {0, 0};
    if (!event_pending(in->flush_ev, EV_TIMEOUT, NULL) && event_add(in->flush_ev, &zero) != 0)
        flush(in);
    if (!event_pending(in->check_ev, EV_TIMEOUT, NULL)) {
        struct timeval tv = {INGEST_CHECK_EVERY, 0};
        event_add(in->check_ev, &tv);
    }
}

struct ingest *ingest_new(struct event_base *base, const struct config *cfg, struct db *db,
                          struct metrics *m, ingest_check_fn on_check, void *check_arg)
{
    struct ingest *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    in->base = base;
    in->cfg = cfg;
    in->db = db;
    in->metrics = m;
    in->on_check = on_check;
    in->check_arg = check_arg;
    in->flush_ev = evtimer_new(base, flush_cb, in);
    in->check_ev = evtimer_new(base, check_cb, in);
    if (!in->flush_ev || !in->check_ev) {
        ingest_free(in);
        return NULL;
    }
    metrics_declare(m, "ivs_syncd_ingest_batches_total", METRIC_COUNTER,
                    "statements that stored several events at once (group commit)");
    metrics_declare(m, "ivs_syncd_ingest_batched_events_total", METRIC_COUNTER,
                    "events stored by those statements");
    metrics_declare(m, "ivs_syncd_ingest_batch_retries_total", METRIC_COUNTER,
                    "batches that failed and were retried event by event");
    db_on_idle(db, idle_cb, in);
    return in;
}

void ingest_free(struct ingest *in)
{
    if (!in)
        return;
    fail_pending(in, "shutting down");
    if (in->flush_ev)
        event_free(in->flush_ev);
    if (in->check_ev)
        event_free(in->check_ev);
    free(in);
}

/* ------------------------------------------------------------ requests */

static void log_event(struct http_ctx *ctx, const struct ivsevent *ev)
{
    struct sbuf s = {0};
    sb_add(&s, "\"event_id\":", 11);
    sb_json(&s, ev->id);
    sb_add(&s, ",\"event\":\"", 10);
    const char *k = kind_sql(ev->kind);
    sb_add(&s, k, strlen(k));
    sb_add(&s, "\"", 1);
    if (!s.oom)
        http_ctx_log_field(ctx, s.p);
    free(s.p);
}

void ingest_handle(struct ingest *in, struct http_ctx *ctx, const char *json, size_t len,
                   const char *sns_message_id, const char *via, int lenient)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        route_unavailable(ctx, "out of memory", 1);
        return;
    }
    char err[256];
    if (ivsevent_parse(json, len, in->cfg->json_max_depth, &j->ev, err, sizeof(err)) < 0) {
        free(j);
        if (lenient) {
            count(in, via, "ignored");
            LOG_INFO(http_ctx_request_id(ctx), "authentic message is not an IVS event: %s", err);
            answer(ctx, "ignored");
            return;
        }
        reject(in, ctx, via, 400, "malformed", err);
        return;
    }
    if (!ivsevent_account_allowed(&j->ev, in->cfg->aws_account_ids)) {
        free(j);
        reject(in, ctx, via, 403, "account", "event from an account not in AWS_ACCOUNT_IDS");
        return;
    }
    /* account-wide events (e.g. a limit breach) have no channel: recorded, change nothing */
    j->in = in;
    j->ctx = ctx;
    snprintf(j->via, sizeof(j->via), "%s", via);
    if (sns_message_id && !(j->mid = strdup(sns_message_id))) {
        free(j);
        route_unavailable(ctx, "out of memory", 1);
        return;
    }
    log_event(ctx, &j->ev);
    if (!db_ready(in->db) || in->pending >= in->cfg->db_queue_max + in->cfg->db_pool_size) {
        db_count_refused(in->db);
        job_unavailable(j, !db_ready(in->db) ? db_last_error(in->db) : "ingest queue full");
        return;
    }
    enqueue(in, j);
}
