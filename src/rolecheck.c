/* rolecheck: see rolecheck.h. */
#include "rolecheck.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "metrics.h"

#define ROLECHECK_INTERVAL 10.0 /* seconds between checks while all is well */
#define ROLECHECK_RETRY    0.1  /* until the pool is up */
#define ROLECHECK_MIN_GAP  1.0  /* pokes: at most once a second */

struct rolecheck {
    struct event_base *base;
    struct db *db;
    struct metrics *metrics;
    struct event *timer;
    enum rolecheck_state state;
    int busy;
    double last; /* monotonic time of the last check started */
    unsigned long seen_generation;
    char problem[1024];
    char warned[1024]; /* the warning logged last (logged once) */
};

/* Step 1: who are we, may we use the schema, is the check there? */
static const char probe_sql[] =
    "SELECT current_user::text, has_schema_privilege('ivs_sync', 'USAGE'), "
    "to_regprocedure('ivs_sync.serving_role_problems()') IS NOT NULL";
/* Step 2: what stops this role from serving (errors first). */
static const char problems_sql[] = "SELECT severity, problem FROM ivs_sync.serving_role_problems() "
                                   "ORDER BY severity = 'error' DESC";

static void schedule(struct rolecheck *rc, double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (time_t)seconds) * 1e6)};
    evtimer_add(rc->timer, &tv);
}

static void set_state(struct rolecheck *rc, enum rolecheck_state st, const char *problem)
{
    if (st == ROLECHECK_ERROR && (rc->state != ROLECHECK_ERROR || strcmp(rc->problem, problem)))
        LOG_ERROR(NULL, "not ready: %s", problem);
    if (st == ROLECHECK_WARN && strcmp(rc->warned, problem)) {
        LOG_WARN(NULL, "WARNING: %s", problem);
        snprintf(rc->warned, sizeof(rc->warned), "%s", problem);
    }
    if (rc->state == ROLECHECK_ERROR && st != ROLECHECK_ERROR)
        LOG_INFO(NULL, "database role check passed: ready to store events");
    rc->state = st;
    snprintf(rc->problem, sizeof(rc->problem), "%s", problem ? problem : "");
    metrics_set(rc->metrics, "ivs_syncd_db_role_ok", NULL, st == ROLECHECK_ERROR ? 0 : 1);
}

static void on_problems(PGresult *res, const char *err, void *arg)
{
    struct rolecheck *rc = arg;
    rc->busy = 0;
    if (!db_ok(res)) {
        LOG_WARN(NULL, "database role check failed: %s", err ? err : "no result");
        schedule(rc, ROLECHECK_RETRY * 4);
        return;
    }
    if (PQntuples(res) == 0)
        set_state(rc, ROLECHECK_OK, "");
    else
        set_state(rc, strcmp(PQgetvalue(res, 0, 0), "error") ? ROLECHECK_WARN : ROLECHECK_ERROR,
                  PQgetvalue(res, 0, 1));
    schedule(rc, ROLECHECK_INTERVAL);
}

static void on_probe(PGresult *res, const char *err, void *arg)
{
    struct rolecheck *rc = arg;
    if (!db_ok(res) || PQntuples(res) != 1) {
        rc->busy = 0;
        LOG_WARN(NULL, "database role check failed: %s", err ? err : "no result");
        schedule(rc, ROLECHECK_RETRY * 4);
        return;
    }
    const char *role = PQgetvalue(res, 0, 0);
    char why[sizeof(rc->problem)];
    if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
        snprintf(why, sizeof(why),
                 "role %s lacks USAGE on schema ivs_sync (or it does not exist); fix: "
                 "ivs-syncd migrate --grant-to %s (as the owner)",
                 role, role);
    } else if (strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
        snprintf(why, sizeof(why),
                 "the database is not migrated (ivs_sync.serving_role_problems() is missing); "
                 "fix: ivs-syncd migrate");
    } else {
        if (db_exec_sql(rc->db, problems_sql, 0, NULL, on_problems, rc) < 0) {
            rc->busy = 0;
            schedule(rc, ROLECHECK_RETRY);
        }
        return;
    }
    rc->busy = 0;
    set_state(rc, ROLECHECK_ERROR, why);
    schedule(rc, ROLECHECK_INTERVAL / 2);
}

static void run(struct rolecheck *rc)
{
    if (rc->busy)
        return;
    if (!db_ready(rc->db)) {
        schedule(rc, ROLECHECK_RETRY);
        return;
    }
    rc->busy = 1;
    rc->last = clock_mono();
    rc->seen_generation = db_generation(rc->db);
    if (db_exec_sql(rc->db, probe_sql, 0, NULL, on_probe, rc) < 0) {
        rc->busy = 0;
        schedule(rc, ROLECHECK_RETRY);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run(arg);
}

struct rolecheck *rolecheck_new(struct event_base *base, struct db *db, struct metrics *m)
{
    struct rolecheck *rc = calloc(1, sizeof(*rc));
    if (!rc)
        return NULL;
    rc->base = base;
    rc->db = db;
    rc->metrics = m;
    rc->timer = evtimer_new(base, on_timer, rc);
    if (!rc->timer) {
        free(rc);
        return NULL;
    }
    metrics_declare(m, "ivs_syncd_db_role_ok", METRIC_GAUGE,
                    "0 while the database role cannot see or update public.shows "
                    "(privileges or row-level security)");
    metrics_set(m, "ivs_syncd_db_role_ok", NULL, 1);
    return rc;
}

void rolecheck_start(struct rolecheck *rc)
{
    schedule(rc, 0);
}

void rolecheck_poke(struct rolecheck *rc)
{
    if (!rc || rc->busy)
        return;
    /* a reconnect may have landed on another server or role: check at once */
    if (db_generation(rc->db) != rc->seen_generation ||
        clock_mono() - rc->last >= ROLECHECK_MIN_GAP)
        schedule(rc, 0);
}

enum rolecheck_state rolecheck_state(const struct rolecheck *rc)
{
    return rc ? rc->state : ROLECHECK_UNKNOWN;
}

const char *rolecheck_problem(const struct rolecheck *rc)
{
    return rc ? rc->problem : "";
}

int rolecheck_blocks(const struct rolecheck *rc)
{
    return rc && (rc->state == ROLECHECK_ERROR || rc->state == ROLECHECK_UNKNOWN);
}

void rolecheck_free(struct rolecheck *rc)
{
    if (!rc)
        return;
    event_free(rc->timer);
    free(rc);
}

/* One row of a blocking query, or NULL (the result is cleared by the caller). */
static PGresult *query(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return NULL;
    }
    return r;
}

int rolecheck_report(PGconn *pg, rolecheck_emit_fn emit, void *arg)
{
    int fails = 0;
    char msg[1536];
    PGresult *r = query(pg, "SELECT current_user::text, r.rolsuper, r.rolbypassrls, "
                            "pg_has_role(current_user, c.relowner, 'USAGE'), c.relrowsecurity, "
                            "c.relforcerowsecurity, pg_get_userbyid(c.relowner)::text, "
                            "has_schema_privilege('ivs_sync', 'USAGE') "
                            "FROM pg_roles r, pg_class c WHERE r.rolname = current_user "
                            "AND c.oid = 'public.shows'::regclass");
    if (!r || PQntuples(r) != 1) {
        emit(arg, "FAIL", "role", "cannot read the role and public.shows (is the table there?)");
        PQclear(r);
        return 1;
    }
#define T(col) (PQgetvalue(r, 0, col)[0] == 't')
    const char *role = PQgetvalue(r, 0, 0);
    snprintf(msg, sizeof(msg), "%s%s%s; public.shows is owned by %s%s", role,
             T(1) ? " (superuser)" : "", T(2) && !T(1) ? " (BYPASSRLS)" : "", PQgetvalue(r, 0, 6),
             T(3) ? " (this role)" : "");
    emit(arg, "ok", "role", msg);
    snprintf(msg, sizeof(msg), "row-level security on public.shows: %s%s%s", T(4) ? "on" : "off",
             T(4) && T(5) ? " (forced for the owner too)" : "",
             T(4) && (T(1) || T(2) || (T(3) && !T(5))) ? "; this role bypasses it" : "");
    emit(arg, "ok", "rls", msg);
    int usage = T(7);
#undef T
    if (!usage) {
        snprintf(msg, sizeof(msg),
                 "role %s lacks USAGE on schema ivs_sync; fix: ivs-syncd migrate --grant-to %s "
                 "(as the owner)",
                 role, role);
        emit(arg, "FAIL", "privileges", msg);
        PQclear(r);
        return 1;
    }
    PQclear(r);
    r = query(pg, "SELECT string_agg(format('%s (%s %s%s)', p.polname, "
                  "CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END, "
                  "CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'w' THEN 'UPDATE' WHEN 'a' THEN "
                  "'INSERT' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END, "
                  "coalesce(' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')', '')), '; ' "
                  "ORDER BY p.polname) FROM pg_policy p "
                  "WHERE p.polrelid = 'public.shows'::regclass AND (0::oid = ANY (p.polroles) "
                  "OR EXISTS (SELECT 1 FROM unnest(p.polroles) pr "
                  "WHERE pg_has_role(current_user, pr, 'USAGE')))");
    if (r && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        snprintf(msg, sizeof(msg), "that apply to this role: %s", PQgetvalue(r, 0, 0));
    else
        snprintf(msg, sizeof(msg), "none apply to this role");
    emit(arg, "ok", "policies", msg);
    PQclear(r);
    r = query(pg, "SELECT severity, problem FROM ivs_sync.serving_role_problems() "
                  "ORDER BY severity = 'error' DESC");
    if (!r) {
        emit(arg, "FAIL", "privileges",
             "cannot run ivs_sync.serving_role_problems() (run ivs-syncd migrate, then "
             "migrate --grant-to this role)");
        return 1;
    }
    if (PQntuples(r) == 0)
        emit(arg, "ok", "privileges", "this role can see and update every row of public.shows");
    for (int i = 0; i < PQntuples(r); i++) {
        emit(arg, "FAIL", strcmp(PQgetvalue(r, i, 0), "error") ? "policies" : "privileges",
             PQgetvalue(r, i, 1));
        fails++;
    }
    PQclear(r);
    return fails;
}
