/*
 * ivs: Amazon IVS GetStream / ListStreams over REST-JSON.
 *
 *   POST https://ivs.<region>.amazonaws.com/GetStream   {"channelArn": ...}
 *   POST https://ivs.<region>.amazonaws.com/ListStreams {"maxResults": 100, "nextToken": ...}
 *
 * (or cfg->aws_endpoint_url_ivs + "/GetStream"), signed with SigV4 by libcurl
 * as service "ivs" in the channel's region (ListStreams: the region asked
 * for), with x-amz-security-token when the credentials carry a session token.
 *
 * Every attempt passes through the ratelimit (rate and in-flight cap).
 * Throttling, 5xx and transport errors are retried per the AWS standard retry
 * mode: at most cfg->aws_max_attempts attempts, full-jitter exponential
 * backoff (100 ms * 2^retry, at most 20 s), and a retry quota (500 tokens, 5
 * per retry, 10 per retried timeout; a success returns the cost of its retry,
 * or 1 when it needed none) so a failing AWS is not hammered.
 *
 * Concurrent ivs_get_stream() calls for the same channel ARN share one
 * in-flight call (single flight): every caller gets the same result.
 *
 * Results passed to callbacks are valid only during the callback; copy what
 * you keep. Callbacks never run inside the function that started the call.
 * ivs_free() drops pending calls without calling their callbacks.
 */
#ifndef IVS_IVS_H
#define IVS_IVS_H

#include <stddef.h>
#include <stdint.h>

#include "ratelimit.h"

struct event_base;
struct http_client;
struct aws_creds;
struct config;
struct metrics;
struct ivs;

#define IVS_ARN_MAX       256
#define IVS_STREAM_ID_MAX 128
#define IVS_WORD_MAX      32
#define IVS_CODE_MAX      96
#define IVS_MESSAGE_MAX   256
#define IVS_TOKEN_MAX     2048

enum ivs_outcome {
    IVS_OK = 0,             /* the stream is live (GetStream) / a page (ListStreams) */
    IVS_OFFLINE,            /* ChannelNotBroadcasting: a normal answer */
    IVS_ERR_NOT_FOUND,      /* ResourceNotFoundException: the ARN is wrong */
    IVS_ERR_ACCESS_DENIED,  /* AccessDeniedException */
    IVS_ERR_VALIDATION,     /* ValidationException (or a bad ARN/region given locally) */
    IVS_ERR_AUTH,           /* signature, unknown key, expired token */
    IVS_ERR_THROTTLED,      /* throttled on every attempt */
    IVS_ERR_RETRYABLE,      /* 5xx / transport error on every attempt */
    IVS_ERR_NO_CREDENTIALS, /* no source, or none usable */
    IVS_ERR_BUSY,           /* rate limit: waited too long or queue full (answer 503) */
    IVS_ERR_OTHER,          /* other 4xx, malformed answer, internal error */
};

struct ivs_stream {
    char channel_arn[IVS_ARN_MAX + 1];
    char stream_id[IVS_STREAM_ID_MAX + 1];
    int64_t start_time_us;         /* µs since the epoch, 0 when absent */
    char state[IVS_WORD_MAX + 1];  /* "LIVE", "OFFLINE" */
    char health[IVS_WORD_MAX + 1]; /* "HEALTHY", "STARVING", "UNKNOWN" */
    int64_t viewer_count;          /* -1 = unknown */
    int64_t sent_at_us;            /* CLOCK_REALTIME µs when the request that saw it was sent */
};

/* A classified error answer (pure parsing, see ivs_parse_error). */
struct ivs_error {
    enum ivs_outcome outcome;
    char code[IVS_CODE_MAX + 1];       /* e.g. "ResourceNotFoundException", "HTTP 500" */
    char message[IVS_MESSAGE_MAX + 1]; /* from the answer, may be "" */
};

struct ivs_get_result {
    enum ivs_outcome outcome;
    const char *channel_arn;
    const struct ivs_stream *stream; /* when outcome == IVS_OK, else NULL */
    const char *error;               /* short message naming the cause; NULL when OK/OFFLINE */
    const char *error_code;          /* e.g. "ResourceNotFoundException"; "" if none */
    long http_status;                /* of the last attempt, 0 if none */
    int attempts;                    /* HTTP attempts made */
    int64_t sent_at_us;              /* when the attempt that produced the answer was sent; 0 */
    double retry_after;              /* seconds, for IVS_ERR_BUSY / THROTTLED */
};
typedef void (*ivs_get_cb)(const struct ivs_get_result *res, void *arg);

struct ivs_list_result {
    enum ivs_outcome outcome; /* IVS_OK or an error */
    const struct ivs_stream *streams;
    size_t n;
    const char *next_token; /* NULL on the last page */
    const char *error;
    const char *error_code;
    long http_status;
    int attempts;
    int64_t sent_at_us;
    double retry_after;
};
typedef void (*ivs_list_cb)(const struct ivs_list_result *res, void *arg);

struct ivs_list_all_result {
    int complete;                     /* every page answered, the last one without nextToken */
    enum ivs_outcome outcome;         /* IVS_OK, or the failure that ended the sweep */
    const struct ivs_stream *streams; /* all live streams seen (each with its page's sent_at_us) */
    size_t n;
    int pages;
    const char *error;
    const char *error_code;
    int64_t sent_at_us; /* when the first page was sent (the sweep's observation time) */
};
typedef void (*ivs_list_all_cb)(const struct ivs_list_all_result *res, void *arg);

/*
 * All arguments are borrowed and must outlive the ivs (creds and m may be
 * NULL: no credentials / no metrics). Reads cfg->aws_endpoint_url_ivs,
 * aws_max_attempts, ivs_timeout, ivs_max_rps, ivs_max_inflight, sync_max_wait
 * now (copies what it keeps). Owns its ratelimit. NULL on failure.
 */
struct ivs *ivs_new(struct event_base *base, struct http_client *hc, struct aws_creds *creds,
                    const struct config *cfg, struct metrics *m);
void ivs_free(struct ivs *ivs);

/*
 * GetStream for channel_arn (copied). Interactive calls wait for the rate
 * limit at most cfg->sync_max_wait per attempt (then IVS_ERR_BUSY);
 * background calls wait without deadline. Returns 0 when accepted (cb runs
 * later, exactly once), -1 only on allocation failure (cb not called).
 */
int ivs_get_stream(struct ivs *ivs, const char *channel_arn, enum ratelimit_class cls,
                   ivs_get_cb cb, void *arg);
/* One ListStreams page (maxResults 100); next_token NULL for the first page. */
int ivs_list_streams(struct ivs *ivs, const char *region, const char *next_token,
                     enum ratelimit_class cls, ivs_list_cb cb, void *arg);
/* Every page of ListStreams in region until nextToken is absent. */
int ivs_list_all(struct ivs *ivs, const char *region, enum ratelimit_class cls, ivs_list_all_cb cb,
                 void *arg);

/* The shared rate limit (e.g. for Retry-After estimates). */
struct ratelimit *ivs_ratelimit(struct ivs *ivs);
/* Remaining retry quota tokens (for tests). */
int ivs_retry_tokens(const struct ivs *ivs);
/* Calls under way (single-flight groups + list calls). */
int ivs_pending(const struct ivs *ivs);

/* ---- pure parts, exposed for unit tests ---- */

const char *ivs_outcome_name(enum ivs_outcome o); /* "ok", "offline", "not_found", ... */

/*
 * Classify an answer that is not a 200: the x-amzn-ErrorType header value
 * (may be NULL; anything after ':' stripped), else the body's "__type" or
 * "code" (namespace before '#' and anything after ':' stripped); message
 * from exceptionMessage / message / Message. Transport failures: status 0.
 */
void ivs_parse_error(long status, const char *error_type_header, const char *body, size_t len,
                     struct ivs_error *out);
/* 1 when this classified error is retried (throttle, 5xx, transport). */
int ivs_error_retryable(const struct ivs_error *e);

/* Parse one stream object's JSON text (GetStream's {"stream": {...}} or the bare object). */
int ivs_parse_get_stream(const char *body, size_t len, struct ivs_stream *out, char *err,
                         size_t errlen);
/*
 * Parse a ListStreams answer. On success *streams is a malloc'd array of *n
 * (caller frees; NULL when n = 0) and next_token (buffer tokcap) is filled,
 * "" when absent. -1 with err on malformed input.
 */
int ivs_parse_list_streams(const char *body, size_t len, struct ivs_stream **streams, size_t *n,
                           char *next_token, size_t tokcap, char *err, size_t errlen);

/* Full-jitter backoff before retry number retry (1 = first retry), rnd uniform 64-bit. */
int64_t ivs_backoff_us(int retry, uint64_t rnd);

/* The standard-mode retry quota. */
struct ivs_retry_quota {
    int tokens; /* starts at IVS_RETRY_QUOTA */
};
#define IVS_RETRY_QUOTA        500
#define IVS_RETRY_COST         5
#define IVS_RETRY_TIMEOUT_COST 10
#define IVS_NO_RETRY_INCREMENT 1
/* Take the cost of one retry (timeout: IVS_RETRY_TIMEOUT_COST); returns the cost, 0 if empty. */
int ivs_quota_acquire(struct ivs_retry_quota *q, int is_timeout);
/* After a success: give back last_cost (the cost of the retry that succeeded) or 1 if 0. */
void ivs_quota_release(struct ivs_retry_quota *q, int last_cost);

/* Format µs since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (buf >= 32). */
void ivs_format_time(int64_t us, char *buf, size_t cap);

#endif
