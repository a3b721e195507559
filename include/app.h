/*
 * app: the application context - the one place for state shared by the
 * modules of a serving process: the loop, config, metrics, the HTTP server
 * and client, the database pool, certificates, AWS, reconciler and sync.
 * Callbacks get a pointer to it; nothing else is global.
 */
#ifndef IVS_APP_H
#define IVS_APP_H

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
struct sync;
struct observe;
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
    struct ivs *ivs; /* NULL when no AWS credentials are configured */
    struct reconcile *rec;
    struct sync *sync;
    struct observe *obs; /* IVS confirmations (SYNC_FRESHNESS) */
    struct ingest *ingest;
    /* set by reconcile: ask IVS about this channel now (targeted check) */
    void (*on_check)(struct app *a, const char *channel_arn);
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
/* The conninfo to use: DATABASE_URL, or the embedded ./var cluster. */
const char *app_conninfo(const struct config *cfg);

#endif
