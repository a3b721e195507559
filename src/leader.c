/* leader: the reconcile lease (ivs_sync.lease_acquire on a pool of its own), the pass timer, pass
 * requests. */
#include "clock.h"
#include "leader.h"

#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "maint.h"
#include "metrics.h"
#include "reconcile.h"

#define ONCE_WAIT_SECONDS 120 /* `reconcile --once`: longest wait for the leader's answer */

struct leader {
    const struct config *cfg;
    struct reconcile *rec;
    struct maint *maint;
    struct metrics *metrics;
    struct db *db; /* the lease's own connection */
    struct event *lease_tick, *pass_tick, *expiry, *poll;
    char holder[128];
    int ttl_ms;
    int leader;
    long long generation;
    double expires_mono; /* local expiry: send time of the last renewal + LEADER_LEASE */
    double sent_at;
    int acquire_pending;
    int take_pending;
    long long request_id; /* the pass request being run, 0 none */
    int stopped;
    int released;
    /* reconcile --once */
    leader_once_cb once_cb;
    void *once_arg;
    long long once_req;
    double once_deadline;
    int once_mode;
    int withdraw_pending;
};

static void set_metrics(struct leader *l, double expiry_epoch)
{
    metrics_set(l->metrics, "ivs_syncd_reconcile_leader", NULL, l->leader);
    metrics_set(l->metrics, "ivs_syncd_reconcile_leader_generation", NULL,
                (double)(l->leader ? l->generation : 0));
    metrics_set(l->metrics, "ivs_syncd_reconcile_lease_expiry_timestamp_seconds", NULL,
                l->leader ? expiry_epoch : 0);
}

static void lose(struct leader *l, const char *why)
{
    if (!l->leader)
        return;
    LOG_WARN(NULL, "reconcile: no longer the leader (generation %lld): %s", l->generation, why);
    l->leader = 0;
    evtimer_del(l->expiry);
    set_metrics(l, 0);
}

/* 1 while this process holds the lease by its own clock (never later than the database's). */
static int leading(const struct leader *l)
{
    return l->leader && clock_mono() < l->expires_mono;
}

static void schedule_pass(struct leader *l)
{
    int iv = l->cfg->reconcile_interval;
    if (iv <= 0 || l->stopped || l->once_mode)
        return;
    unsigned int rnd = 0;
    RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
    double jitter = 0.9 + 0.2 * ((double)rnd / (double)0xffffffffu);
    double s = iv * jitter;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    evtimer_add(l->pass_tick, &tv);
}

static void schedule_lease(struct leader *l)
{
    if (l->stopped)
        return;
    double s = leader_renew_interval(l->ttl_ms) / 1000.0;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    evtimer_add(l->lease_tick, &tv);
}

static void timer_pass_done(const struct reconcile_result *res, void *arg)
{
    struct leader *l = arg;
    (void)res;
    if (leading(l))
        maint_purge(l->maint);
}

static void leader_pass(struct leader *l)
{
    if (l->stopped || l->once_mode || !leading(l) || reconcile_running(l->rec))
        return; /* passes never overlap */
    reconcile_start_fenced_pass(l->rec, "timer", l->generation, timer_pass_done, l);
}

/* ---- pass requests (reconcile --once beside the fleet) ---- */

static void ignore_result(PGresult *res, const char *err, void *arg)
{
    (void)arg;
    if (!db_ok(res))
        LOG_WARN(NULL, "reconcile: %s", res ? PQresultErrorMessage(res) : err);
}

static void request_pass_done(const struct reconcile_result *res, void *arg)
{
    struct leader *l = arg;
    char id[24], errs[16];
    snprintf(id, sizeof(id), "%lld", l->request_id);
    snprintf(errs, sizeof(errs), "%d", res->errors);
    l->request_id = 0;
    const char *v[] = {id, res->obj ? errs : NULL, res->obj ? NULL : res->err,
                       res->obj ? json_object_to_json_string_ext(res->obj, JSON_C_TO_STRING_PLAIN)
                                : NULL};
    db_exec_sql(l->db,
                "UPDATE ivs_sync.pass_requests SET done_at = clock_timestamp(), errors = $2, "
                "error = $3, result = $4::jsonb WHERE id = $1",
                4, v, ignore_result, NULL);
}

static void request_taken(PGresult *res, const char *err, void *arg)
{
    struct leader *l = arg;
    (void)err;
    l->take_pending = 0;
    if (!db_ok(res) || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
        return;
    long long id = atoll(PQgetvalue(res, 0, 0));
    if (!leading(l) || reconcile_running(l->rec))
        return; /* taken again at a later tick (taken_by is this holder: by the next leader) */
    l->request_id = id;
    LOG_INFO(NULL, "reconcile: running a pass requested by reconcile --once (request %lld)", id);
    if (reconcile_start_fenced_pass(l->rec, "once", l->generation, request_pass_done, l) < 0) {
        struct reconcile_result r = {.http_status = 503, .err = "database unavailable"};
        request_pass_done(&r, l);
    }
}

static void take_request(struct leader *l)
{
    if (l->take_pending || l->request_id || l->once_mode || reconcile_running(l->rec))
        return;
    char gen[24];
    snprintf(gen, sizeof(gen), "%lld", l->generation);
    const char *v[] = {l->holder, gen};
    l->take_pending = 1;
    if (db_exec_sql(l->db, "SELECT ivs_sync.pass_request_take($1, $2::bigint)", 2, v, request_taken,
                    l) < 0)
        l->take_pending = 0;
}

/* ---- the lease ---- */

static void expiry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lose(arg, "the lease was not renewed before it expired");
}

static void once_run(struct leader *l);
static void once_withdraw(struct leader *l);
static void poll_cb(evutil_socket_t fd, short what, void *arg);

static void acquired(PGresult *res, const char *err, void *arg)
{
    struct leader *l = arg;
    l->acquire_pending = 0;
    if (!db_ok(res) || PQntuples(res) != 1) {
        LOG_WARN(NULL, "reconcile: lease renewal failed: %s",
                 res ? PQresultErrorMessage(res) : err);
        if (l->once_mode && !l->leader && l->once_cb && !l->once_req)
            once_run(l); /* falls back to a request, which fails with a message if down */
        return;          /* the expiry timer ends the leadership if this goes on */
    }
    int held = !strcmp(PQgetvalue(res, 0, 0), "t");
    long long gen = atoll(PQgetvalue(res, 0, 1));
    double exp_epoch = atof(PQgetvalue(res, 0, 2));
    if (held) {
        if (!l->leader || gen != l->generation)
            LOG_INFO(NULL,
                     "reconcile: this replica is the leader (lease generation %lld, "
                     "holder %s)",
                     gen, l->holder);
        int fresh = !l->leader || gen != l->generation;
        l->leader = 1;
        l->generation = gen;
        l->expires_mono = l->sent_at + l->ttl_ms / 1000.0;
        double left = l->expires_mono - clock_mono();
        if (left < 0)
            left = 0;
        struct timeval tv = {(time_t)left, (suseconds_t)((left - (double)(time_t)left) * 1e6)};
        evtimer_add(l->expiry, &tv);
        set_metrics(l, exp_epoch);
        if (l->stopped)
            return;
        if (fresh)
            leader_pass(l);
        take_request(l);
    } else {
        if (l->leader)
            lose(l, "another replica holds the lease");
        set_metrics(l, 0);
    }
    if (l->once_mode && l->once_cb && !reconcile_running(l->rec)) {
        if (!l->once_req)
            once_run(l);
        else if (held && l->once_req > 0)
            once_withdraw(l); /* the leader went away: run the pass here if nobody took it */
    }
}

static void send_acquire(struct leader *l)
{
    if (l->acquire_pending || !db_ready(l->db))
        return;
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%d", l->ttl_ms);
    const char *v[] = {l->holder, ttl};
    l->acquire_pending = 1;
    l->sent_at = clock_mono(); /* the local expiry counts from here: always early, never late */
    if (db_exec_sql(l->db,
                    "SELECT held, generation, extract(epoch FROM expires_at)::float8, holder "
                    "FROM ivs_sync.lease_acquire($1, $2::integer)",
                    2, v, acquired, l) < 0)
        l->acquire_pending = 0;
}

static void lease_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct leader *l = arg;
    if (l->stopped)
        return;
    send_acquire(l);
    schedule_lease(l);
}

static void pass_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct leader *l = arg;
    if (l->stopped)
        return;
    leader_pass(l);
    schedule_pass(l);
}

int leader_renew_interval(int ttl_ms)
{
    int t = ttl_ms / 3;
    return t < 100 ? 100 : t;
}

void leader_holder_id(char *out, size_t len)
{
    char host[64] = "";
    if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    unsigned int rnd = 0;
    RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
    snprintf(out, len, "%s:%ld:%08x", host, (long)getpid(), rnd);
}

struct leader *leader_new(struct event_base *base, const struct config *cfg, struct reconcile *rec,
                          struct maint *maint, struct metrics *m)
{
    struct leader *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->cfg = cfg;
    l->rec = rec;
    l->maint = maint;
    l->metrics = m;
    l->ttl_ms = (int)(cfg->leader_lease * 1000.0 + 0.5);
    if (l->ttl_ms < 1000)
        l->ttl_ms = 1000;
    leader_holder_id(l->holder, sizeof(l->holder));
    struct db_options o = {.conninfo = config_conninfo(cfg),
                           .name = "leader",
                           .size = 1,
                           .queue_max = 4,
                           .connect_timeout = cfg->db_connect_timeout,
                           .statement_timeout_ms = 5000,
                           .queue_timeout = 5,
                           .prepared = 0}; /* no named statements: unnamed ones only */
    l->db = db_new(base, &o, m);
    l->lease_tick = evtimer_new(base, lease_tick_cb, l);
    l->pass_tick = evtimer_new(base, pass_tick_cb, l);
    l->expiry = evtimer_new(base, expiry_cb, l);
    l->poll = evtimer_new(base, poll_cb, l);
    if (!l->db || !l->lease_tick || !l->pass_tick || !l->expiry || !l->poll) {
        leader_free(l);
        return NULL;
    }
    metrics_declare(m, "ivs_syncd_reconcile_leader", METRIC_GAUGE,
                    "1 when this replica holds the reconcile lease");
    metrics_declare(m, "ivs_syncd_reconcile_leader_generation", METRIC_GAUGE,
                    "the reconcile lease generation this replica holds (0: not the leader)");
    metrics_declare(m, "ivs_syncd_reconcile_lease_expiry_timestamp_seconds", METRIC_GAUGE,
                    "when the lease held by this replica expires unless renewed (unix time; 0: "
                    "not the leader)");
    set_metrics(l, 0);
    return l;
}

void leader_start(struct leader *l)
{
    if (l->cfg->reconcile_interval <= 0)
        return;
    db_start(l->db);
    struct timeval tv = {0, 200000};
    evtimer_add(l->lease_tick, &tv); /* first try soon after start */
    schedule_pass(l);
}

void leader_stop(struct leader *l)
{
    l->stopped = 1;
    evtimer_del(l->lease_tick);
    evtimer_del(l->pass_tick);
}

/* Blocking: give the lease up at exit, so another replica takes over at once. */
static void release_now(struct leader *l)
{
    if (!l->leader || l->released)
        return;
    l->released = 1;
    const char *kw[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {config_conninfo(l->cfg), "ivs-syncd", "2", NULL};
    PGconn *pg = PQconnectdbParams(kw, vals, 1);
    if (PQstatus(pg) == CONNECTION_OK) {
        const char *v[] = {l->holder};
        PGresult *r =
            PQexecParams(pg, "SELECT ivs_sync.lease_release($1)", 1, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            LOG_INFO(NULL, "reconcile: released the lease (generation %lld)", l->generation);
        PQclear(r);
    }
    PQfinish(pg);
    l->leader = 0;
}

void leader_free(struct leader *l)
{
    if (!l)
        return;
    release_now(l);
    if (l->lease_tick)
        event_free(l->lease_tick);
    if (l->pass_tick)
        event_free(l->pass_tick);
    if (l->expiry)
        event_free(l->expiry);
    if (l->poll)
        event_free(l->poll);
    if (l->db)
        db_free(l->db);
    free(l);
}

int leader_is_leader(const struct leader *l)
{
    return leading(l);
}

void leader_connect(struct leader *l)
{
    db_start(l->db);
}

int leader_connected(const struct leader *l)
{
    return db_ready(l->db);
}

/* ---- reconcile --once ---- */

static void once_finish(struct leader *l, struct json_object *obj, int errors, const char *err)
{
    leader_once_cb cb = l->once_cb;
    l->once_cb = NULL;
    evtimer_del(l->poll);
    evtimer_del(l->lease_tick);
    if (cb)
        cb(obj, errors, err, l->once_arg);
}

static void own_pass_done(const struct reconcile_result *res, void *arg)
{
    struct leader *l = arg;
    once_finish(l, res->obj, res->errors, res->obj ? NULL : res->err);
}

static void poll_send(struct leader *l);

static void polled(PGresult *res, const char *err, void *arg)
{
    struct leader *l = arg;
    if (!l->once_cb || l->once_req <= 0)
        return;
    if (db_ok(res) && PQntuples(res) == 1) {
        if (PQgetisnull(res, 0, 0)) {
            once_finish(l, NULL, 1, PQgetvalue(res, 0, 1));
        } else {
            struct json_object *o = json_tokener_parse(PQgetvalue(res, 0, 0));
            once_finish(l, o, atoi(PQgetvalue(res, 0, 2)), o ? NULL : "unreadable pass result");
            json_object_put(o);
        }
        return;
    }
    if (!db_ok(res))
        LOG_DEBUG(NULL, "reconcile --once: poll: %s", res ? PQresultErrorMessage(res) : err);
    struct timeval tv = {0, 200000};
    evtimer_add(l->poll, &tv);
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    poll_send(arg);
}

static void poll_send(struct leader *l)
{
    if (clock_mono() > l->once_deadline) {
        char id[24];
        snprintf(id, sizeof(id), "%lld", l->once_req);
        const char *v[] = {id};
        db_exec_sql(l->db, "DELETE FROM ivs_sync.pass_requests WHERE id = $1", 1, v, ignore_result,
                    NULL);
        once_finish(l, NULL, 1,
                    "the leader did not answer the pass request in time (is it running with "
                    "AWS credentials?)");
        return;
    }
    char id[24];
    snprintf(id, sizeof(id), "%lld", l->once_req);
    const char *v[] = {id};
    if (db_exec_sql(l->db,
                    "SELECT result::text, coalesce(error, 'pass failed'), coalesce(errors, 0) "
                    "FROM ivs_sync.pass_requests WHERE id = $1 AND done_at IS NOT NULL",
                    1, v, polled, l) < 0) {
        struct timeval tv = {0, 200000};
        evtimer_add(l->poll, &tv);
    }
}

static void requested(PGresult *res, const char *err, void *arg)
{
    struct leader *l = arg;
    if (!db_ok(res) || PQntuples(res) != 1) {
        once_finish(l, NULL, 1, res ? PQresultErrorMessage(res) : err);
        return;
    }
    l->once_req = atoll(PQgetvalue(res, 0, 0));
    l->once_deadline = clock_mono() + ONCE_WAIT_SECONDS;
    poll_send(l);
}

static void withdrawn(PGresult *res, const char *err, void *arg)
{
    struct leader *l = arg;
    (void)err;
    l->withdraw_pending = 0;
    if (!l->once_cb || !db_ok(res) || PQntuples(res) != 1)
        return; /* taken by a leader meanwhile (or an error): keep polling for its answer */
    evtimer_del(l->poll);
    l->once_req = -2; /* withdrawn */
    once_run(l);
}

static void once_withdraw(struct leader *l)
{
    if (l->withdraw_pending)
        return;
    char id[24];
    snprintf(id, sizeof(id), "%lld", l->once_req);
    const char *v[] = {id};
    l->withdraw_pending = 1;
    if (db_exec_sql(l->db,
                    "DELETE FROM ivs_sync.pass_requests WHERE id = $1 AND taken_by IS NULL "
                    "RETURNING id",
                    1, v, withdrawn, l) < 0)
        l->withdraw_pending = 0;
}

/* After the first acquire: run the pass here (lease held) or ask the leader for one. */
static void once_run(struct leader *l)
{
    if (l->leader) {
        if (reconcile_start_fenced_pass(l->rec, "once", l->generation, own_pass_done, l) < 0)
            once_finish(l, NULL, 1, "database unavailable");
        return;
    }
    l->once_req = -1;
    if (db_exec_sql(l->db, "INSERT INTO ivs_sync.pass_requests DEFAULT VALUES RETURNING id", 0,
                    NULL, requested, l) < 0)
        once_finish(l, NULL, 1, "database unavailable");
}

int leader_once(struct leader *l, leader_once_cb cb, void *arg)
{
    l->once_mode = 1;
    l->once_cb = cb;
    l->once_arg = arg;
    if (!db_ready(l->db))
        return -1;
    send_acquire(l); /* acquired() -> once_run(); the lease timer renews during the pass */
    schedule_lease(l);
    return 0;
}

int leader_describe(PGconn *pg, char *out, size_t len)
{
    PGresult *r = PQexec(pg, "SELECT coalesce(holder, ''), generation, expires_at::text, "
                             "expires_at > clock_timestamp(), "
                             "round(extract(epoch FROM expires_at - clock_timestamp())::numeric, "
                             "1)::text FROM ivs_sync.leader_lease WHERE name = 'reconcile'");
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(out, len, "cannot read the lease: %s", PQresultErrorMessage(r));
    } else if (PQntuples(r) != 1 || !*PQgetvalue(r, 0, 0) || strcmp(PQgetvalue(r, 0, 3), "t")) {
        snprintf(out, len, "no replica holds the reconcile lease (generation %s)",
                 PQntuples(r) == 1 ? PQgetvalue(r, 0, 1) : "0");
        rc = 0;
    } else {
        snprintf(out, len, "holder %s, generation %s, expires %s (in %s s)", PQgetvalue(r, 0, 0),
                 PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 4));
        rc = 1;
    }
    PQclear(r);
    return rc;
}
