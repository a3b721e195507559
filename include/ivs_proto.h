/*
 * ivs_proto: the pure part of the IVS client (no I/O, no event loop): the
 * outcome names, the error-code table that classifies an AWS error answer,
 * the GetStream / ListStreams answer parsers, the standard-mode full-jitter
 * backoff and retry quota. The call engine (ivs.c) drives these; unit tests
 * and the fuzz target call them directly.
 */
#ifndef IVS_IVS_PROTO_H
#define IVS_IVS_PROTO_H

#include <stddef.h>
#include <stdint.h>

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

/* The raw HTTP answer of one attempt. */
struct ivs_answer {
    long status;                 /* 0 on a transport failure */
    int failed;                  /* transport failure */
    const char *transport_error; /* when failed, e.g. "timeout: ..." */
    const char *error_type;      /* the x-amzn-ErrorType header, may be NULL */
    const char *body;
    size_t len;
};
/*
 * Classify one attempt's answer into e. A 200 is parsed: GetStream into
 * *stream (IVS_OFFLINE when its state is not LIVE), ListStreams into *page,
 * *n and token (see ivs_parse_list_streams). A malformed 200 is IVS_ERR_OTHER
 * "MalformedAnswer"; a transport failure IVS_ERR_RETRYABLE "TransportError";
 * anything else goes through ivs_parse_error().
 */
void ivs_read_get_answer(const struct ivs_answer *a, struct ivs_stream *stream,
                         struct ivs_error *e);
void ivs_read_list_answer(const struct ivs_answer *a, struct ivs_stream **page, size_t *n,
                          char *token, size_t tokcap, struct ivs_error *e);

/* The URL of operation ("GetStream") in region, or under endpoint (an override without a
 * trailing '/') when not NULL. -1 when it does not fit. */
int ivs_build_url(const char *endpoint, const char *region, const char *operation, char *url,
                  size_t cap);

/* The JSON request body: GetStream for channel_arn, else ListStreams (maxResults 100,
 * next_token when not ""). malloc'd (NUL-terminated, length in *len); NULL when out of memory. */
char *ivs_request_body(const char *channel_arn, const char *next_token, size_t *len);

/* Copy n bytes of src into dst (cap), truncated, control characters as spaces. */
void ivs_copy_clean(char *dst, size_t cap, const char *src, size_t n);

#endif
