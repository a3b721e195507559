/*
 * sse: live push of show state over Server-Sent Events.
 *
 * GET /v1/shows/{showId}/stream: the show's current state, then one event
 * per change. GET /v1/stream (admin): every show's changes. One LISTEN
 * session (pglisten) on ivs_sync_show_changed (SPEC 1.5) and
 * ivs_sync_show_viewers (006_push.sql) feeds an in-process fan-out: a change
 * costs no query per subscriber. A show's last known state is kept while it
 * has subscribers (and for the admin streams); it is re-read, and pushed to
 * every subscriber, each time the LISTEN session comes back. Subscribers
 * whose unsent output passes SSE_MAX_BUFFER are dropped; sse_shutdown() ends
 * every stream cleanly (the last chunk), so clients reconnect elsewhere.
 */
#ifndef IVS_SSE_H
#define IVS_SSE_H

struct config;
struct db;
struct event_base;
struct http_server;
struct metrics;
struct sse;

/* Prepares its statement on db (before db_start). */
struct sse *sse_new(struct event_base *base, const struct config *cfg, struct db *db,
                    struct metrics *m);
int sse_register(struct sse *s, struct http_server *http);
/* Open the LISTEN session. */
void sse_start(struct sse *s);
/* End every stream; new subscribers get 503. */
void sse_shutdown(struct sse *s);
void sse_free(struct sse *s);

#endif
