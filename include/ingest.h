/*
 * ingest: one verified EventBridge event -> one database transaction
 * (ivs_sync.ingest_event: record once, apply the state rules, notify).
 * Shared by POST /sns and POST /eventbridge.
 */
#ifndef IVS_INGEST_H
#define IVS_INGEST_H

#include <stddef.h>

struct app;
struct db;
struct http_ctx;
struct ivsevent;

/* Register the prepared statements ingest uses (before db_start). */
int ingest_prepare(struct db *db);

/*
 * Validate the event body (already authenticated), store and apply it, and
 * answer ctx: 200 {"outcome": ...} once committed, 4xx for an unacceptable
 * event, 503 + Retry-After when it could not be stored. `lenient`: answer
 * 200 "ignored" instead of 400 for a body that is not an IVS event (SNS).
 */
void ingest_handle(struct app *a, struct http_ctx *ctx, const char *json, size_t len,
                   const char *sns_message_id, const char *via, int lenient);

#endif
