/*
 * app: the application context - builds the modules of a serving process
 * (the loop, config, metrics, the HTTP server and client, the database pool,
 * certificates, AWS, reconciler, leader, janitor, checks and sync), hands
 * each the pointers it uses, and owns them; nothing else is global. Only
 * app.c, main.c and the command front ends (cmd_*.c) include this header.
 */
#ifndef IVS_APP_H
#define IVS_APP_H

#include "routes.h"

struct event_base;
struct event;
struct config;
struct metrics;
struct http_server;
struct http_client;
struct db;
struct sns_certs;
struct aws_creds;
struct ivs;
struct reconcile;
struct leader;
struct maint;
struct checks;
struct sync;
struct sse;
struct observe;
struct rolecheck;
struct ingest;

struct app {
    struct event_base *base;
    struct config *cfg;
    struct metrics *metrics;
    struct http_server *http;
    struct http_client *hc;
    struct db *db;
    struct sns_certs *certs;
    struct aws_creds *creds;
    struct ivs *ivs;       /* NULL when no AWS credentials are configured */
    struct reconcile *rec; /* the pass engine */
    struct leader *leader; /* the lock and the pass timer */
    struct maint *maint;   /* grace expiry, event purges */
    struct checks *checks; /* targeted GetStream checks */
    struct sync *sync;
    struct sse *sse;        /* event streams */
    struct observe *obs;    /* IVS confirmations (SYNC_FRESHNESS) */
    struct rolecheck *role; /* can the pool's role see and update shows? */
    struct ingest *ingest;
    struct route_health_ctx health_ctx;
    struct route_sns_ctx sns_ctx;
    int draining;
    int stopping;
    double started; /* wall clock */
    struct event *sig_term, *sig_int, *sig_hup, *drain_timer, *drain_check;
};

/* Build every module from cfg (not copied: must outlive the app). 0 = ok. */
int app_init(struct app *a, struct config *cfg);
/* Listen, run the loop until drained; returns the exit status. */
int app_run(struct app *a);
void app_free(struct app *a);

#endif
