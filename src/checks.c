/* checks: targeted checks - GetStream now for one channel, applied as an observation. */
#include "checks.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

#include "arn.h"
#include "clock.h"
#include "db.h"
#include "ivs.h"
#include "log.h"
#include "metrics.h"
#include "observe.h"

struct checks {
    struct ivs *ivs;
    struct observe *obs;
    struct metrics *metrics;
};

/* A check in flight keeps copies of the pointers: it never reaches back into struct checks. */
struct check_job {
    struct observe *obs;
    struct metrics *metrics;
    char arn[ARN_MAX_LEN + 1];
    struct json_object *list;
};

struct checks *checks_new(struct ivs *ivs, struct observe *obs, struct metrics *m)
{
    struct checks *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->ivs = ivs;
    c->obs = obs;
    c->metrics = m;
    metrics_declare(m, "ivs_syncd_targeted_checks_total", METRIC_COUNTER,
                    "targeted GetStream checks answered by IVS (e.g. after Stream Failure)");
    return c;
}

void checks_free(struct checks *c)
{
    free(c);
}

static void check_applied(PGresult *res, const char *err, void *arg)
{
    struct check_job *j = arg;
    if (!db_ok(res))
        LOG_WARN(NULL, "targeted check of %s not stored: %s", j->arn,
                 res ? PQresultErrorMessage(res) : err);
    else
        observe_confirmed(j->obs, j->arn);
    json_object_put(j->list);
    free(j);
}

static void check_got(const struct ivs_get_result *res, void *arg)
{
    struct check_job *j = arg;
    metrics_inc(j->metrics, "ivs_syncd_targeted_checks_total", NULL);
    if (res->outcome != IVS_OK && res->outcome != IVS_OFFLINE) {
        LOG_WARN(NULL, "targeted check of %s failed: %s", j->arn,
                 res->error ? res->error : ivs_outcome_name(res->outcome));
        free(j);
        return;
    }
    j->list = json_object_new_array();
    json_object_array_add(j->list,
                          observe_json(j->arn, res->outcome == IVS_OK, res->stream,
                                       res->sent_at_us ? res->sent_at_us : clock_real_us()));
    if (observe_apply(j->obs, j->list, check_applied, j) < 0) {
        json_object_put(j->list);
        free(j);
    }
}

void checks_request(void *checks, const char *channel_arn)
{
    struct checks *c = checks;
    if (!c || !c->ivs)
        return; /* the event is recorded in ivs_sync.pending_checks for a later pass */
    struct check_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    j->obs = c->obs;
    j->metrics = c->metrics;
    snprintf(j->arn, sizeof(j->arn), "%s", channel_arn);
    if (ivs_get_stream(c->ivs, channel_arn, RATELIMIT_INTERACTIVE, check_got, j) < 0)
        free(j);
}
