/*
 * rolecheck: can the database role we serve as see and update public.shows?
 *
 * Under row-level security a role that is neither the table's owner nor
 * BYPASSRLS, and has no policy, sees no rows: every event would then find
 * "no show" and be recorded as ignored, for good. So the pool's role is
 * checked (ivs_sync.serving_role_problems(), infra/sql/004_role.sql) when the
 * pool first comes up, after every reconnect, every ROLECHECK_INTERVAL, and
 * when /readyz asks (at most once a second). While it reports an error the
 * daemon is not ready and events are answered 503 (SNS retries them); a
 * warning (a policy whose effect cannot be judged) is logged once, loudly.
 *
 * Ownership: the db and metrics are borrowed and must outlive the checker.
 */
#ifndef IVS_ROLECHECK_H
#define IVS_ROLECHECK_H

struct event_base;
struct db;
struct metrics;
struct rolecheck;
struct pg_conn; /* libpq's PGconn */

enum rolecheck_state {
    ROLECHECK_UNKNOWN = 0, /* not checked yet (the pool is not up) */
    ROLECHECK_OK,
    ROLECHECK_WARN,  /* serving, with a policy that cannot be judged */
    ROLECHECK_ERROR, /* cannot serve: privileges or row-level security */
};

struct rolecheck *rolecheck_new(struct event_base *base, struct db *db, struct metrics *m);
/* Start checking (from the loop); returns at once. */
void rolecheck_start(struct rolecheck *rc);
/* Check again soon (at most once a second); the answer comes later. */
void rolecheck_poke(struct rolecheck *rc);
enum rolecheck_state rolecheck_state(const struct rolecheck *rc);
/* The problem for ERROR/WARN (names row-level security and the fix), "" else. */
const char *rolecheck_problem(const struct rolecheck *rc);
/* 1 while events must be refused (ERROR, or UNKNOWN: not checked yet). NULL: 0. */
int rolecheck_blocks(const struct rolecheck *rc);
void rolecheck_free(struct rolecheck *rc);

/*
 * For doctor (blocking, on a connection of its own): the role, whether it
 * owns public.shows, row-level security, the policies that apply to it, and
 * what stops it from serving. emit(arg, verdict, what, message) is called
 * once per line; verdict is "ok", "warn" or "FAIL" (a policy that cannot be
 * judged is a FAIL here). Returns the number of FAIL lines.
 */
typedef void (*rolecheck_emit_fn)(void *arg, const char *verdict, const char *what,
                                  const char *msg);
int rolecheck_report(struct pg_conn *pg, rolecheck_emit_fn emit, void *arg);

#endif
