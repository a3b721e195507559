/* maint: the janitor - END_GRACE_SECONDS expiry and EVENT_RETENTION purges. */
#include "maint.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics.h"

#define PURGE_BATCH 1000
#define PURGE_RUNS  50 /* batches per purge at most: the next timed pass goes on */

struct maint {
    const struct config *cfg;
    struct db *db;
    struct metrics *metrics;
    struct event *grace_tick;
    int stopped;
    int purge_batches; /* 0: no purge runs; else the batches of this one so far */
};

int maint_prepare(struct db *db)
{
    if (db_prepare(db, "purge_events", "SELECT ivs_sync.purge_events($1::integer, $2::integer)") <
            0 ||
        db_prepare(db, "expire_grace", "SELECT ivs_sync.expire_grace(100)") < 0)
        return -1;
    return 0;
}

static void purged(PGresult *res, const char *err, void *arg);

static int purge_batch(struct maint *mt)
{
    char ret[16], b[16];
    snprintf(ret, sizeof(ret), "%d", mt->cfg->event_retention);
    snprintf(b, sizeof(b), "%d", PURGE_BATCH);
    const char *v[] = {ret, b};
    return db_exec(mt->db, "purge_events", 2, v, purged, mt);
}

static void purged(PGresult *res, const char *err, void *arg)
{
    (void)err;
    struct maint *mt = arg;
    int n = db_ok(res) && PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
    if (n > 0)
        metrics_add(mt->metrics, "ivs_syncd_events_purged_total", NULL, n);
    if (n >= PURGE_BATCH && mt->purge_batches++ < PURGE_RUNS && purge_batch(mt) == 0)
        return;
    mt->purge_batches = 0;
}

void maint_purge(struct maint *mt)
{
    if (mt->purge_batches)
        return;
    mt->purge_batches = 1;
    if (purge_batch(mt) < 0)
        mt->purge_batches = 0;
}

static void grace_done(PGresult *res, const char *err, void *arg)
{
    (void)err;
    struct maint *mt = arg;
    if (db_ok(res) && PQntuples(res) == 1) {
        int n = atoi(PQgetvalue(res, 0, 0));
        if (n > 0) {
            metrics_add(mt->metrics, "ivs_syncd_grace_expired_total", NULL, n);
            LOG_INFO(NULL, "%d show%s ended after END_GRACE_SECONDS", n, n == 1 ? "" : "s");
        }
    }
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct maint *mt = arg;
    if (mt->stopped || !db_ready(mt->db))
        return;
    db_exec(mt->db, "expire_grace", 0, NULL, grace_done, mt);
}

struct maint *maint_new(struct event_base *base, const struct config *cfg, struct db *db,
                        struct metrics *m)
{
    struct maint *mt = calloc(1, sizeof(*mt));
    if (!mt)
        return NULL;
    mt->cfg = cfg;
    mt->db = db;
    mt->metrics = m;
    mt->grace_tick = event_new(base, -1, EV_PERSIST, grace_cb, mt);
    if (!mt->grace_tick || maint_prepare(db) < 0) {
        maint_free(mt);
        return NULL;
    }
    metrics_declare(m, "ivs_syncd_grace_expired_total", METRIC_COUNTER,
                    "shows ended by END_GRACE_SECONDS expiry");
    metrics_declare(m, "ivs_syncd_events_purged_total", METRIC_COUNTER,
                    "recorded events purged after EVENT_RETENTION");
    return mt;
}

void maint_start(struct maint *mt)
{
    if (mt->cfg->end_grace_seconds > 0) {
        struct timeval tv = {1, 0};
        event_add(mt->grace_tick, &tv);
    }
}

void maint_stop(struct maint *mt)
{
    mt->stopped = 1;
    event_del(mt->grace_tick);
}

void maint_free(struct maint *mt)
{
    if (!mt)
        return;
    if (mt->grace_tick)
        event_free(mt->grace_tick);
    free(mt);
}
