/*
 * event: an EventBridge event from aws.ivs (the body of POST /eventbridge, or
 * the Message of an SNS notification) -> a validated, typed input.
 *
 * Note: libevent also ships an <event.h> (its old compatibility header), and
 * owns the names event_new/event_free/...; this module's names are
 * event_parse, event_account_allowed and event_kind_name only, and users of
 * libevent should include <event2/...> headers.
 *
 * Pure: no allocation kept, no global state. struct ivs_event is plain data in
 * fixed-size arrays (about 1 KiB), owned by the caller, copyable with '=',
 * with nothing to free.
 */
#ifndef IVS_EVENT_H
#define IVS_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "arn.h"

#define EVENT_MAX_JSON      (256 * 1024) /* EventBridge's own event size limit */
#define EVENT_DEFAULT_DEPTH 32
#define EVENT_MAX_DEPTH     256 /* larger max_depth values are clamped to this */
#define EVENT_ID_MAX        128
#define EVENT_TEXT_MAX      128 /* detail-type, event_name */
#define EVENT_STREAM_ID_MAX 128
#define EVENT_TIME_MAX      30 /* "2024-09-09T16:17:26.123456789Z" */

enum event_kind {
    EVENT_OTHER = 0,    /* valid, recorded, no state change */
    EVENT_STREAM_START, /* Stream State Change / Stream Start: live with stream_id at time */
    EVENT_STREAM_END,   /* Stream State Change / Stream End: stream_id ended at time */
    EVENT_STREAM_CHECK, /* Stream Failure, Stream Takeover, Stream Takeover Failure, Session
                           Ended: record, then ask IVS (targeted reconcile) */
    EVENT_HEALTH,       /* Stream Health Change / Starvation Start|End: health */
};

struct ivs_event {
    enum event_kind kind;
    char id[EVENT_ID_MAX + 1];               /* EventBridge id: the dedup key */
    char detail_type[EVENT_TEXT_MAX + 1];    /* e.g. "IVS Stream State Change" */
    char event_name[EVENT_TEXT_MAX + 1];     /* detail.event_name; "" when absent */
    char account[ARN_ACCOUNT_LEN + 1];       /* 12 digits */
    char time[EVENT_TIME_MAX + 1];           /* "time", as received */
    int64_t time_us;                         /* "time" in microseconds since the epoch (UTC) */
    int has_channel;                         /* see event_parse */
    struct arn_channel channel;              /* resources[0] when has_channel (region from it) */
    char stream_id[EVENT_STREAM_ID_MAX + 1]; /* detail.stream_id; "" when absent */
    char health[16];                         /* EVENT_HEALTH: "STARVING" or "HEALTHY"; else "" */
};

/*
 * Parse and validate json[0..len) (need not be NUL-terminated). max_depth
 * bounds JSON nesting as json-c counts it (every value is a level, so
 * {"resources":["arn"]} is 3; <= 0: EVENT_DEFAULT_DEPTH; at most EVENT_MAX_DEPTH). Returns 0 and
 * fills *out, or -1 with a short message in err (errlen bytes, may be 0) saying what is wrong (e.g.
 * "source is not aws.ivs", "time invalid") and *out zeroed.
 *
 * Rules: exactly one JSON object (strict, UTF-8, no NUL byte, no trailing
 * bytes but whitespace, at most EVENT_MAX_JSON bytes); "id" 1-128 printable
 * ASCII without spaces; "source" == "aws.ivs"; "detail-type" 1-128 printable
 * ASCII; "time" strict UTC "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" (fraction truncated
 * to microseconds; no offsets, no leap second); "account" 12 digits;
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
int event_parse(const char *json, size_t len, int max_depth, struct ivs_event *out, char *err,
                size_t errlen);

/*
 * 1 when ev->account is in comma_list (comma-separated 12-digit ids, spaces
 * around entries ignored). NULL or "" allows every account; a non-empty list
 * without any matching entry (including ",") allows none. ev NULL -> 0.
 */
int event_account_allowed(const struct ivs_event *ev, const char *comma_list);

/* "stream_start", "stream_end", "stream_check", "health", "other"; "unknown" otherwise.
 * A static string. */
const char *event_kind_name(enum event_kind kind);

#endif
