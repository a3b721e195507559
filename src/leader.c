/* leader: the reconcile lock (pg_try_advisory_lock on a pool of its own) and the pass timer. */
#include "leader.h"

#include <event2/event.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "maint.h"
#include "metrics.h"
#include "reconcile.h"

#define LEADER_LOCK_KEY "4242017"

struct leader {
    const struct config *cfg;
    struct reconcile *rec;
    struct maint *maint;
    struct metrics *metrics;
    struct db *db; /* the lock's own connection */
    struct event *tick;
    int leader;
    unsigned long gen; /* db_generation() when the lock was taken */
    int lock_pending;
    int stopped;
    leader_lock_cb once_cb;
    void *once_arg;
};

static void schedule_tick(struct leader *l)
{
    int iv = l->cfg->reconcile_interval;
    if (iv <= 0 || l->stopped)
        return;
    unsigned int rnd = 0;
    RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
    double jitter = 0.9 + 0.2 * ((double)rnd / (double)0xffffffffu);
    double s = iv * jitter;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    evtimer_add(l->tick, &tv);
}

static void timer_pass_done(const struct reconcile_result *res, void *arg)
{
    struct leader *l = arg;
    (void)res;
    if (l->leader)
        maint_purge(l->maint);
}

static void leader_pass(struct leader *l)
{
    if (l->stopped || reconcile_running(l->rec))
        return; /* passes never overlap */
    reconcile_start_pass(l->rec, "timer", timer_pass_done, l);
}

static void lock_result(PGresult *res, const char *err, void *arg)
{
    (void)err;
    struct leader *l = arg;
    l->lock_pending = 0;
    int got = db_ok(res) && PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "t");
    if (got && !l->leader) {
        l->leader = 1;
        l->gen = db_generation(l->db);
        LOG_INFO(NULL, "reconcile: this replica is the leader");
    }
    metrics_set(l->metrics, "ivs_syncd_reconcile_leader", NULL, l->leader);
    if (l->leader && !l->stopped)
        leader_pass(l);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct leader *l = arg;
    if (l->stopped)
        return;
    if (l->leader && (!db_ready(l->db) || db_generation(l->db) != l->gen)) {
        LOG_WARN(NULL, "reconcile: lost the leader lock (connection lost)");
        l->leader = 0;
        metrics_set(l->metrics, "ivs_syncd_reconcile_leader", NULL, 0);
    }
    if (l->leader) {
        leader_pass(l);
    } else if (!l->lock_pending && db_ready(l->db)) {
        l->lock_pending = 1;
        if (db_exec(l->db, "try_leader_lock", 0, NULL, lock_result, l) < 0)
            l->lock_pending = 0;
    }
    schedule_tick(l);
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
    struct db_options o = {.conninfo = config_conninfo(cfg),
                           .name = "leader",
                           .size = 1,
                           .queue_max = 4,
                           .connect_timeout = cfg->db_connect_timeout,
                           .statement_timeout_ms = 5000,
                           .queue_timeout = 5};
    l->db = db_new(base, &o, m);
    l->tick = evtimer_new(base, tick_cb, l);
    if (!l->db || !l->tick ||
        db_prepare(l->db, "try_leader_lock", "SELECT pg_try_advisory_lock(" LEADER_LOCK_KEY ")") <
            0) {
        leader_free(l);
        return NULL;
    }
    metrics_declare(m, "ivs_syncd_reconcile_leader", METRIC_GAUGE,
                    "1 when this replica holds the reconcile lock");
    metrics_set(m, "ivs_syncd_reconcile_leader", NULL, 0);
    return l;
}

void leader_start(struct leader *l)
{
    if (l->cfg->reconcile_interval <= 0)
        return;
    db_start(l->db);
    struct timeval tv = {1, 0};
    evtimer_add(l->tick, &tv); /* first try soon after start */
}

void leader_stop(struct leader *l)
{
    l->stopped = 1;
    evtimer_del(l->tick);
}

void leader_free(struct leader *l)
{
    if (!l)
        return;
    if (l->tick)
        event_free(l->tick);
    if (l->db)
        db_free(l->db);
    free(l);
}

int leader_is_leader(const struct leader *l)
{
    return l->leader;
}

void leader_connect(struct leader *l)
{
    db_start(l->db);
}

int leader_connected(const struct leader *l)
{
    return db_ready(l->db);
}

static void once_result(PGresult *res, const char *err, void *arg)
{
    struct leader *l = arg;
    int got = db_ok(res) && PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "t");
    if (got)
        l->leader = 1;
    l->once_cb(got, got || db_ok(res) ? NULL : (res ? PQresultErrorMessage(res) : err),
               l->once_arg);
}

int leader_try_once(struct leader *l, leader_lock_cb cb, void *arg)
{
    l->once_cb = cb;
    l->once_arg = arg;
    return db_exec(l->db, "try_leader_lock", 0, NULL, once_result, l);
}
