/*
 * routes: the HTTP endpoints. Each route_*_register() adds its paths to the
 * app's HTTP server; handlers keep no state beyond the app context.
 */
#ifndef IVS_ROUTES_H
#define IVS_ROUTES_H

struct app;

int route_health_register(struct app *a); /* /healthz /readyz /metrics */
int route_sns_register(struct app *a);    /* /sns */
int route_eventbridge_register(struct app *a);
int route_sync_register(struct app *a); /* /functions/v1/sync-ivs-stream-status, /v1/sync */

/* Answer 503 {"error": msg} with Retry-After. */
struct http_ctx;
void route_unavailable(struct http_ctx *ctx, const char *msg, int retry_after);

#endif
