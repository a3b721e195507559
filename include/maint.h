/*
 * maint: the janitor - END_GRACE_SECONDS expiry (every replica, every
 * second: ivs_sync.expire_grace) and EVENT_RETENTION purges of recorded
 * events (ivs_sync.purge_events, in batches; started by the leader after its
 * timed passes).
 */
#ifndef IVS_MAINT_H
#define IVS_MAINT_H

struct event_base;
struct config;
struct db;
struct metrics;
struct maint;

/* Uses db (not owned; prepares its statements there, before db_start). */
struct maint *maint_new(struct event_base *base, const struct config *cfg, struct db *db,
                        struct metrics *m);
int maint_prepare(struct db *db);
/* Start the grace timer (when END_GRACE_SECONDS > 0). */
void maint_start(struct maint *mt);
void maint_stop(struct maint *mt);
/* Purge events older than EVENT_RETENTION, unless a purge runs already. */
void maint_purge(struct maint *mt);
void maint_free(struct maint *mt);

#endif
