/*
 * cmd_reconcile: `ivs-syncd reconcile --once`, with a state of its own: runs a
 * pass itself when the reconcile lease is free, else asks the leader for one
 * through the database and prints its result (leader_once).
 */
#include "cmd_reconcile.h"

#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "db.h"
#include "leader.h"
#include "reconcile.h"

#define ONCE_WAIT_TRIES 100 /* 100 ms apart: ~10 s for the database to come up */

struct once {
    struct app *a;
    struct event *retry;
    int tries;
    int rc;
    FILE *out, *err;
};

static void finish(struct once *o, int rc)
{
    o->rc = rc;
    event_base_loopexit(o->a->base, NULL);
}

static void once_done(struct json_object *obj, int errors, const char *err, void *arg)
{
    struct once *o = arg;
    if (!obj) {
        fprintf(o->err, "reconcile: %s\n", err ? err : "pass failed");
        finish(o, 1);
        return;
    }
    fprintf(o->out, "%s\n",
            json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
                                                    JSON_C_TO_STRING_NOSLASHESCAPE));
    finish(o, errors ? 1 : 0);
}

static void once_try(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct once *o = arg;
    if (!leader_connected(o->a->leader) || !db_ready(o->a->db)) {
        if (o->tries++ > ONCE_WAIT_TRIES) {
            fprintf(o->err, "reconcile: database unavailable: %s\n", db_last_error(o->a->db));
            finish(o, 1);
            return;
        }
        struct timeval tv = {0, 100000};
        evtimer_add(o->retry, &tv);
        return;
    }
    if (leader_once(o->a->leader, once_done, o) < 0)
        finish(o, 1);
}

static int run_once(struct app *a)
{
    if (!a->ivs) {
        fprintf(stderr, "reconcile: AWS credentials not configured\n");
        return 1;
    }
    struct once o = {.a = a, .rc = 1, .out = stdout, .err = stderr};
    o.retry = evtimer_new(a->base, once_try, &o);
    if (!o.retry)
        return 1;
    db_start(a->db);
    leader_connect(a->leader);
    struct timeval tv = {0, 10000};
    evtimer_add(o.retry, &tv);
    event_base_dispatch(a->base);
    event_free(o.retry);
    return o.rc;
}

int cmd_reconcile(struct config *cfg, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--once") != 0) {
        fprintf(stderr, "reconcile: usage: ivs-syncd reconcile --once\n");
        return 2;
    }
    struct app a;
    cfg->reconcile_interval = 0;
    if (app_init(&a, cfg) < 0)
        return 1;
    int rc = run_once(&a);
    app_free(&a);
    return rc;
}
