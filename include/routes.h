/*
 * routes: the HTTP endpoints. Each route_*_register() adds its paths to an
 * HTTP server with a context of its own: exactly the pointers it uses, none
 * owned. The context is not copied: it must outlive the server (the app
 * keeps it). The sync API's routes are in sync.h.
 */
#ifndef IVS_ROUTES_H
#define IVS_ROUTES_H

#include <stddef.h>

struct aws_creds;
struct config;
struct db;
struct http_client;
struct http_ctx;
struct http_server;
struct metrics;
struct rolecheck;
struct sns_certs;

/* /healthz /readyz /metrics */
struct route_health_ctx {
    struct http_server *http;
    struct db *db;           /* readiness */
    struct rolecheck *role;  /* readiness: can the role see and update shows? */
    struct aws_creds *creds; /* ivs_syncd_aws_credentials{state=...} */
    struct metrics *metrics;
    const int *draining; /* nonzero: /readyz fails */
    double started;      /* wall clock, for ivs_syncd_uptime_seconds */
};
int route_health_register(struct route_health_ctx *c);

/* An authenticated event body, handed to ingest (see ingest_handle). */
typedef void (*route_ingest_fn)(void *arg, struct http_ctx *ctx, const char *json, size_t len,
                                const char *sns_message_id, const char *via, int lenient);

/* /sns and (with EVENTBRIDGE_TOKEN) /eventbridge */
struct route_sns_ctx {
    struct http_server *http;
    const struct config *cfg;
    struct metrics *metrics;
    struct http_client *hc;  /* subscription confirmations */
    struct sns_certs *certs; /* signing certificates */
    route_ingest_fn ingest;
    void *ingest_arg;
};
int route_sns_register(struct route_sns_ctx *c);
int route_eventbridge_register(struct route_sns_ctx *c);

/* Answer 503 {"error": msg} with Retry-After. */
void route_unavailable(struct http_ctx *ctx, const char *msg, int retry_after);

#endif
