#include "cmd_ivs.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_creds.h"
#include "config.h"
#include "http_client.h"
#include "ivs.h"

struct slot {
    struct cmd *cmd;
    json_object *out; /* result of this round */
};

struct cmd {
    struct event_base *base;
    struct http_client *hc;
    struct aws_creds *creds;
    struct ivs *ivs;
    struct event *round_timer;
    char **arns;
    int narns;
    struct slot *slots;
    int outstanding;
    int errors;
    int repeat, round;
    long interval_ms;
    int failed_internal;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ivs-syncd ivs get-stream [--repeat N] [--interval-ms M] ARN [ARN...]\n"
               "       ivs-syncd ivs list-streams [--region REGION]\n");
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static void add_time(json_object *o, const char *key, int64_t us)
{
    char buf[40];
    ivs_format_time(us, buf, sizeof(buf));
    json_object_object_add(o, key, json_object_new_string(buf));
}

static json_object *stream_json(const struct ivs_stream *s)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    json_object_object_add(o, "channelArn", json_object_new_string(s->channel_arn));
    json_object_object_add(o, "streamId", json_object_new_string(s->stream_id));
    if (s->start_time_us)
        add_time(o, "startTime", s->start_time_us);
    json_object_object_add(o, "state", json_object_new_string(s->state));
    json_object_object_add(o, "health", json_object_new_string(s->health));
    json_object_object_add(o, "viewerCount", json_object_new_int64(s->viewer_count));
    return o;
}

static void print_json(json_object *o)
{
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    fputs(s ? s : "null", stdout);
    fputc('\n', stdout);
}

static void start_round(struct cmd *c);

static void end_round(struct cmd *c)
{
    for (int i = 0; i < c->narns; i++) {
        print_json(c->slots[i].out);
        json_object_put(c->slots[i].out);
        c->slots[i].out = NULL;
    }
    fflush(stdout);
    c->round++;
    if (c->round >= c->repeat) {
        event_base_loopexit(c->base, NULL);
        return;
    }
    struct timeval tv = {.tv_sec = c->interval_ms / 1000,
                         .tv_usec = (c->interval_ms % 1000) * 1000};
    evtimer_add(c->round_timer, &tv);
}

static void get_cb(const struct ivs_get_result *r, void *arg)
{
    struct slot *sl = arg;
    struct cmd *c = sl->cmd;
    json_object *o = NULL;
    if (r->outcome == IVS_OK && r->stream) {
        o = stream_json(r->stream);
    } else {
        o = json_object_new_object();
        if (o) {
            json_object_object_add(o, "channelArn", json_object_new_string(r->channel_arn));
            if (r->outcome == IVS_OFFLINE) {
                json_object_object_add(o, "offline", json_object_new_boolean(1));
            } else {
                json_object_object_add(
                    o, "error", json_object_new_string(r->error ? r->error : "IVS call failed"));
                json_object_object_add(o, "errorKind",
                                       json_object_new_string(ivs_outcome_name(r->outcome)));
                c->errors++;
            }
        }
    }
    if (!o)
        c->failed_internal = 1;
    sl->out = o;
    if (--c->outstanding == 0)
        end_round(c);
}

static void start_round(struct cmd *c)
{
    c->outstanding = c->narns;
    for (int i = 0; i < c->narns; i++) {
        if (ivs_get_stream(c->ivs, c->arns[i], RATELIMIT_BACKGROUND, get_cb, &c->slots[i]) != 0) {
            /* allocation failure: nothing can be done meaningfully */
            c->failed_internal = 1;
            c->outstanding--;
        }
    }
    if (c->outstanding == 0) {
        c->errors++;
        event_base_loopexit(c->base, NULL);
    }
}

static void round_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_round(arg);
}

struct list_ctx {
    struct event_base *base;
    int errors;
};

static void list_cb(const struct ivs_list_all_result *r, void *arg)
{
    struct list_ctx *lc = arg;
    json_object *o = json_object_new_object();
    json_object *arr = json_object_new_array();
    if (o && arr) {
        for (size_t i = 0; i < r->n; i++)
            json_object_array_add(arr, stream_json(&r->streams[i]));
        json_object_object_add(o, "streams", arr);
        arr = NULL;
        json_object_object_add(o, "complete", json_object_new_boolean(r->complete));
        json_object_object_add(o, "pages", json_object_new_int(r->pages));
        if (!r->complete) {
            json_object_object_add(o, "error",
                                   json_object_new_string(r->error ? r->error : "sweep failed"));
            json_object_object_add(o, "errorKind",
                                   json_object_new_string(ivs_outcome_name(r->outcome)));
        }
        print_json(o);
        fflush(stdout);
    }
    json_object_put(arr);
    json_object_put(o);
    if (!r->complete)
        lc->errors++;
    event_base_loopexit(lc->base, NULL);
}

int cmd_ivs(const struct config *cfg, int argc, char **argv)
{
    int rc = 2;
    struct cmd c;
    char err[256];
    memset(&c, 0, sizeof(c));
    c.repeat = 1;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    int is_get = strcmp(sub, "get-stream") == 0;
    int is_list = strcmp(sub, "list-streams") == 0;
    if (!is_get && !is_list) {
        fprintf(stderr, "ivs: unknown subcommand \"%s\"\n", sub);
        usage(stderr);
        return 2;
    }

    const char *region = cfg->aws_region && *cfg->aws_region ? cfg->aws_region : "us-east-1";
    int i = 2;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--") == 0) {
            i++;
            break;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ivs: %s needs a value\n", opt);
            return 2;
        }
        long v;
        if (is_get && strcmp(opt, "--repeat") == 0) {
            if (parse_long(argv[++i], 1, 100000, &v) != 0) {
                fprintf(stderr, "ivs: --repeat: not a count in 1..100000\n");
                return 2;
            }
            c.repeat = (int)v;
        } else if (is_get && strcmp(opt, "--interval-ms") == 0) {
            if (parse_long(argv[++i], 0, 86400000, &v) != 0) {
                fprintf(stderr, "ivs: --interval-ms: not a number of milliseconds\n");
                return 2;
            }
            c.interval_ms = v;
        } else if (is_list && strcmp(opt, "--region") == 0) {
            region = argv[++i];
        } else {
            fprintf(stderr, "ivs: unknown option %s\n", opt);
            usage(stderr);
            return 2;
        }
    }
    if (is_get && i >= argc) {
        fprintf(stderr, "ivs: get-stream needs at least one channel ARN\n");
        return 2;
    }
    if (is_list && i < argc) {
        fprintf(stderr, "ivs: list-streams takes no arguments\n");
        return 2;
    }

    c.base = event_base_new();
    if (!c.base) {
        fprintf(stderr, "ivs: cannot create the event loop\n");
        goto fail;
    }
    c.hc = http_client_new(c.base);
    if (!c.hc) {
        fprintf(stderr, "ivs: cannot create the HTTP client\n");
        goto fail;
    }
    c.creds = aws_creds_new(c.base, c.hc, cfg, err, sizeof(err));
    if (!c.creds) {
        fprintf(stderr, "ivs: %s\n", err);
        rc = 1;
        goto fail;
    }
    if (aws_creds_state(c.creds) == AWS_CREDS_NONE) {
        fprintf(stderr, "ivs: AWS credentials not configured\n");
        rc = 1;
        goto fail;
    }
    c.ivs = ivs_new(c.base, c.hc, c.creds, cfg, NULL);
    if (!c.ivs) {
        fprintf(stderr, "ivs: cannot create the IVS client\n");
        goto fail;
    }

    if (is_get) {
        c.arns = argv + i;
        c.narns = argc - i;
        c.slots = calloc((size_t)c.narns, sizeof(*c.slots));
        c.round_timer = evtimer_new(c.base, round_cb, &c);
        if (!c.slots || !c.round_timer) {
            fprintf(stderr, "ivs: out of memory\n");
            goto fail;
        }
        for (int k = 0; k < c.narns; k++)
            c.slots[k].cmd = &c;
        start_round(&c);
        event_base_dispatch(c.base);
        rc = (c.errors || c.failed_internal) ? 1 : 0;
    } else {
        struct list_ctx lc = {.base = c.base};
        if (ivs_list_all(c.ivs, region, RATELIMIT_BACKGROUND, list_cb, &lc) != 0) {
            fprintf(stderr, "ivs: out of memory\n");
            goto fail;
        }
        event_base_dispatch(c.base);
        rc = lc.errors ? 1 : 0;
    }

fail:
    if (c.slots) {
        for (int k = 0; k < c.narns; k++)
            json_object_put(c.slots[k].out);
        free(c.slots);
    }
    if (c.round_timer)
        event_free(c.round_timer);
    ivs_free(c.ivs);
    aws_creds_free(c.creds);
    http_client_free(c.hc);
    if (c.base)
        event_base_free(c.base);
    return rc;
}
