/*
 * ingest: verified EventBridge events -> database transactions, grouped
 * (ivs_sync.ingest_events: record once, apply the state rules, notify).
 * Shared by POST /sns and POST /eventbridge.
 */
#ifndef IVS_INGEST_H
#define IVS_INGEST_H

#include <stddef.h>

struct event_base;
struct config;
struct db;
struct metrics;
struct http_ctx;
struct ingest;
struct ivsevent;

/* Register the prepared statements ingest uses (before db_start). */
int ingest_prepare(struct db *db);

/* "Check this channel now" (an event of kind check was stored): a targeted check. */
typedef void (*ingest_check_fn)(const char *channel_arn, void *arg);

/*
 * The ingest queue. Everything is borrowed and must outlive it; on_check may
 * be NULL (check events are then only recorded). Registers itself as db's
 * idle callback (db_on_idle). Free it after db_free(): the pool's pending
 * callbacks still answer ingest's requests. NULL on allocation failure.
 */
struct ingest *ingest_new(struct event_base *base, const struct config *cfg, struct db *db,
                          struct metrics *m, ingest_check_fn on_check, void *check_arg);
/* Answers 503 "shutting down" to the events still waiting. */
void ingest_free(struct ingest *in);

/*
 * Validate the event body (already authenticated), store and apply it, and
 * answer ctx: 200 {"outcome": ...} once committed, 4xx for an unacceptable
 * event, 503 + Retry-After when it could not be stored. `lenient`: answer
 * 200 "ignored" instead of 400 for a body that is not an IVS event (SNS).
 */
void ingest_handle(struct ingest *in, struct http_ctx *ctx, const char *json, size_t len,
                   const char *sns_message_id, const char *via, int lenient);

#endif
