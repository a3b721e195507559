/*
 * sync: the old sync-ivs-stream-status function's API (SPEC 1.3), behind
 * POST /functions/v1/sync-ivs-stream-status and POST /v1/sync: service-key
 * or HS256 JWT auth, one show (GetStream, single flight in ivs, answered
 * from the database when fresher than SYNC_FRESHNESS) or every active show
 * (joins the running reconcile pass, or starts one), CORS.
 */
#ifndef IVS_SYNC_H
#define IVS_SYNC_H

#include <stddef.h>

struct config;
struct db;
struct ivs;
struct aws_creds;
struct observe;
struct reconcile;
struct metrics;
struct http_server;
struct json_object;
struct sync;

/* What the route uses (none owned; all must outlive it). */
struct sync_ctx {
    const struct config *cfg; /* auth keys, CORS_ALLOW_ORIGINS, SYNC_FRESHNESS, JSON depth */
    struct db *db;            /* the show lookup */
    struct ivs *ivs;          /* NULL without AWS credentials */
    struct aws_creds *creds;  /* whether the credentials are usable now */
    struct observe *obs;      /* applies and confirmations */
    struct reconcile *rec;    /* all-shows requests */
    struct metrics *metrics;
};

/* Copies *c; prepares its statements on c->db (before db_start). */
struct sync *sync_new(const struct sync_ctx *c);
void sync_free(struct sync *s);
int sync_prepare(struct db *db);
/* Route /functions/v1/sync-ivs-stream-status and /v1/sync on http to s. */
int sync_register(struct sync *s, struct http_server *http);

/*
 * Answer shaping: pure functions, exported for the unit tests
 * (tests/unit/test_sync.c).
 *
 * The single-show answer (the old function's shape: "results" is the one
 * result object itself, not an array): {"success":true,"summary":{"total":1,
 * "changed","errors","live","offline"},"results":{...}}. result is one
 * observe_result_json() object (a reference is taken). Caller owns the answer.
 */
struct json_object *sync_single_answer(struct json_object *result);
/* 1 when s is a UUID in the 8-4-4-4-12 hex form (either case). */
int sync_uuid_ok(const char *s);
/*
 * Whether the Authorization header value grants the sync API: "Bearer " and
 * the service-role key, or an HS256 JWT with JWT_SECRET that is valid at now
 * and has the admin role. 1 yes; 0 no, and when a JWT was checked, why says
 * why it was refused (else why is "").
 */
int sync_authorized(const struct config *cfg, const char *authorization, long long now, char *why,
                    size_t whylen);

#endif
