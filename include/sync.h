/*
 * sync: the old sync-ivs-stream-status function's API (SPEC 1.3), behind
 * POST /functions/v1/sync-ivs-stream-status and POST /v1/sync: service-key
 * or HS256 JWT auth, one show (GetStream, single flight in ivs, answered
 * from the database when fresher than SYNC_FRESHNESS) or every active show
 * (joins the running reconcile pass, or starts one), CORS.
 */
#ifndef IVS_SYNC_H
#define IVS_SYNC_H

struct app;
struct db;
struct sync;

struct sync *sync_new(struct app *a); /* prepares its statements on a->db */
void sync_free(struct sync *s);
int sync_prepare(struct db *db);

#endif
