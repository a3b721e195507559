/*
 * ivsevent: an EventBridge event from aws.ivs (the body of POST /eventbridge,
 * or the Message of an SNS notification) -> a validated, typed input.
 *
 * The prefix is ivsevent_, not event_: libevent owns event_* (event_new,
 * event_free, ...) and ships an <event.h> of its own.
 *
 * Pure: no allocation kept, no global state. struct ivsevent is plain data in
 * fixed-size arrays (about 1 KiB), owned by the caller, copyable with '=',
 * with nothing to free.
 */
#ifndef IVS_IVSEVENT_H
#define IVS_IVSEVENT_H

#include <stddef.h>
#include <stdint.h>

#include "arn.h"

#define IVSEVENT_MAX_JSON      (256 * 1024) /* EventBridge's own event size limit */
#define IVSEVENT_DEFAULT_DEPTH 32
#define IVSEVENT_MAX_DEPTH     256 /* larger max_depth values are clamped to this */
#define IVSEVENT_ID_MAX        128
#define IVSEVENT_TEXT_MAX      128 /* detail-type, event_name */
#define IVSEVENT_STREAM_ID_MAX 128
#define IVSEVENT_TIME_MAX      30 /* "2024-09-09T16:17:26.123456789Z" */
/* An event dated further ahead of our clock is refused (it would win every
 * later comparison and poison the show): SNS/EventBridge clock skew is seconds. */
#define IVSEVENT_MAX_FUTURE_US (300 * (int64_t)1000000)

enum ivsevent_kind {
    IVSEVENT_OTHER = 0,    /* valid, recorded, no state change */
    IVSEVENT_STREAM_START, /* Stream State Change / Stream Start: live with stream_id at time */
    IVSEVENT_STREAM_END,   /* Stream State Change / Stream End: stream_id ended at time */
    IVSEVENT_STREAM_CHECK, /* Stream Failure, Stream Takeover, Stream Takeover Failure, Session
                           Ended: record, then ask IVS (targeted reconcile) */
    IVSEVENT_HEALTH,       /* Stream Health Change / Starvation Start|End: health */
};

struct ivsevent {
    enum ivsevent_kind kind;
    char id[IVSEVENT_ID_MAX + 1];               /* EventBridge id: the dedup key */
    char detail_type[IVSEVENT_TEXT_MAX + 1];    /* e.g. "IVS Stream State Change" */
    char event_name[IVSEVENT_TEXT_MAX + 1];     /* detail.event_name; "" when absent */
    char account[ARN_ACCOUNT_LEN + 1];          /* 12 digits */
    char time[IVSEVENT_TIME_MAX + 1];           /* "time", fraction cut to 6 digits */
    int64_t time_us;                            /* "time" in microseconds since the epoch (UTC) */
    int has_channel;                            /* see ivsevent_parse */
    struct arn_channel channel;                 /* resources[0] when has_channel (region from it) */
    char stream_id[IVSEVENT_STREAM_ID_MAX + 1]; /* detail.stream_id; "" when absent */
    char health[16]; /* IVSEVENT_HEALTH: "STARVING" or "HEALTHY"; else "" */
};

/*
 * Parse and validate json[0..len) (need not be NUL-terminated). max_depth
 * bounds JSON nesting as json-c counts it (every value is a level, so
 * {"resources":["arn"]} is 3; <= 0: IVSEVENT_DEFAULT_DEPTH; at most IVSEVENT_MAX_DEPTH). Returns 0
 * and fills *out, or -1 with a short message in err (errlen bytes, may be 0) saying what is wrong
 * (e.g. "source is not aws.ivs", "time invalid") and *out zeroed.
 *
 * Rules: exactly one JSON object (strict, UTF-8, no NUL byte, no trailing
 * bytes but whitespace, at most IVSEVENT_MAX_JSON bytes); "id" 1-128 printable
 * ASCII without spaces; "source" == "aws.ivs"; "detail-type" 1-128 printable
 * ASCII; "time" strict UTC "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" (iso8601 ISO8601_UTC:
 * fraction truncated to microseconds; no offsets, no leap second); "account" 12 digits;
 * "detail" an object; "resources" an array whose element 0, when present, is a
 * string holding a well-formed IVS channel ARN (arn module) of the same
 * account. resources may be empty (has_channel = 0) only for detail types
 * other than "IVS Stream State Change" and "IVS Stream Health Change" (e.g. the
 * account-wide "IVS Limit Breach" / Concurrent Broadcasts); those two always
 * need a channel and a string detail.event_name.
 *
 * stream_id is [A-Za-z0-9_-]{1,128}: required for START and END, checked when
 * present for CHECK and HEALTH, and kept only when well-formed for OTHER.
 */
int ivsevent_parse(const char *json, size_t len, int max_depth, struct ivsevent *out, char *err,
                   size_t errlen);

/*
 * 1 when ev's time is at most IVSEVENT_MAX_FUTURE_US after now_us (wall clock,
 * microseconds since the epoch); 0 otherwise (ev NULL -> 0).
 */
int ivsevent_time_ok(const struct ivsevent *ev, int64_t now_us);

/*
 * 1 when ev->account is in comma_list (comma-separated 12-digit ids, spaces
 * around entries ignored). NULL or "" allows every account; a non-empty list
 * without any matching entry (including ",") allows none. ev NULL -> 0.
 */
int ivsevent_account_allowed(const struct ivsevent *ev, const char *comma_list);

/* "stream_start", "stream_end", "stream_check", "health", "other"; "unknown" otherwise.
 * A static string. */
const char *ivsevent_kind_name(enum ivsevent_kind kind);

#endif
