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

#include "ivs_proto.h"
#include "ratelimit.h"

struct event_base;
struct http_client;
struct aws_creds;
struct config;
struct metrics;
struct ivs;

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

#endif
