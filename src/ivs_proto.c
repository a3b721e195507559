/* ivs_proto: the pure part of the IVS client (see ivs_proto.h). */
#include "ivs_proto.h"

#include <ctype.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws_creds.h"
#include "jsonx.h"

#define JSON_DEPTH      32
#define LIST_PAGE_SIZE  100
#define BACKOFF_BASE_US 100000LL
#define BACKOFF_MAX_US  20000000LL

const char *ivs_outcome_name(enum ivs_outcome o)
{
    switch (o) {
    case IVS_OK:
        return "ok";
    case IVS_OFFLINE:
        return "offline";
    case IVS_ERR_NOT_FOUND:
        return "not_found";
    case IVS_ERR_ACCESS_DENIED:
        return "access_denied";
    case IVS_ERR_VALIDATION:
        return "validation";
    case IVS_ERR_AUTH:
        return "auth";
    case IVS_ERR_THROTTLED:
        return "throttled";
    case IVS_ERR_RETRYABLE:
        return "retryable";
    case IVS_ERR_NO_CREDENTIALS:
        return "no_credentials";
    case IVS_ERR_BUSY:
        return "busy";
    case IVS_ERR_OTHER:
        return "other";
    }
    return "other";
}

void ivs_copy_clean(char *dst, size_t cap, const char *src, size_t n)
{
    if (cap == 0)
        return;
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    dst[n] = '\0';
}

/* "ns#Code:rest" -> "Code" */
static void clean_code(const char *s, char *dst, size_t cap)
{
    const char *hash = strchr(s, '#');
    if (hash)
        s = hash + 1;
    size_t n = strcspn(s, ":");
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    ivs_copy_clean(dst, cap, s, n);
}

/* One JSON object by the project's strict rules (jsonx); NULL with *why set otherwise. */
static json_object *parse_json(const char *body, size_t len, const char **why)
{
    json_object *o = NULL;
    enum jsonx_error e = jsonx_parse_object(body ? body : "", body ? len : 0, JSON_DEPTH, &o);
    *why = jsonx_strerror(e);
    return e == JSONX_OK ? o : NULL;
}

/* jsonx has no field getters: the string value of key, NULL if absent or not a string. */
static const char *get_str(json_object *o, const char *key)
{
    const char *s;
    size_t n;
    return o && jsonx_get_string(o, key, &s, &n) == JSONX_MEMBER_STRING ? s : NULL;
}

struct code_class {
    const char *code;
    enum ivs_outcome outcome;
};

static const struct code_class code_classes[] = {
    {"ChannelNotBroadcasting", IVS_OFFLINE},
    {"ResourceNotFoundException", IVS_ERR_NOT_FOUND},
    {"AccessDeniedException", IVS_ERR_ACCESS_DENIED},
    {"AccessDenied", IVS_ERR_ACCESS_DENIED},
    {"ValidationException", IVS_ERR_VALIDATION},
    {"InvalidSignatureException", IVS_ERR_AUTH},
    {"SignatureDoesNotMatch", IVS_ERR_AUTH},
    {"IncompleteSignature", IVS_ERR_AUTH},
    {"IncompleteSignatureException", IVS_ERR_AUTH},
    {"UnrecognizedClientException", IVS_ERR_AUTH},
    {"InvalidClientTokenId", IVS_ERR_AUTH},
    {"MissingAuthenticationToken", IVS_ERR_AUTH},
    {"MissingAuthenticationTokenException", IVS_ERR_AUTH},
    {"ExpiredToken", IVS_ERR_AUTH},
    {"ExpiredTokenException", IVS_ERR_AUTH},
    {"RequestExpired", IVS_ERR_AUTH},
    {"ThrottlingException", IVS_ERR_THROTTLED},
    {"Throttling", IVS_ERR_THROTTLED},
    {"ThrottledException", IVS_ERR_THROTTLED},
    {"TooManyRequestsException", IVS_ERR_THROTTLED},
    {"RequestThrottled", IVS_ERR_THROTTLED},
    {"RequestThrottledException", IVS_ERR_THROTTLED},
    {"RequestLimitExceeded", IVS_ERR_THROTTLED},
    {"SlowDown", IVS_ERR_THROTTLED},
    {"PriorRequestNotComplete", IVS_ERR_THROTTLED},
    {"InternalServerException", IVS_ERR_RETRYABLE},
    {"InternalFailure", IVS_ERR_RETRYABLE},
    {"InternalServerError", IVS_ERR_RETRYABLE},
    {"ServiceUnavailable", IVS_ERR_RETRYABLE},
    {"ServiceUnavailableException", IVS_ERR_RETRYABLE},
    {"RequestTimeout", IVS_ERR_RETRYABLE},
    {"RequestTimeoutException", IVS_ERR_RETRYABLE},
};

static enum ivs_outcome by_status(long status)
{
    if (status == 0 || status >= 500)
        return IVS_ERR_RETRYABLE;
    if (status == 429)
        return IVS_ERR_THROTTLED;
    if (status == 401)
        return IVS_ERR_AUTH;
    if (status == 403)
        return IVS_ERR_ACCESS_DENIED;
    return IVS_ERR_OTHER;
}

void ivs_parse_error(long status, const char *error_type_header, const char *body, size_t len,
                     struct ivs_error *out)
{
    memset(out, 0, sizeof(*out));
    const char *why;
    json_object *root = NULL;
    if (body && len > 0)
        root = parse_json(body, len, &why); /* not a JSON object: classified by status alone */
    if (error_type_header && *error_type_header)
        clean_code(error_type_header, out->code, sizeof(out->code));
    if (!out->code[0] && root) {
        const char *t = get_str(root, "__type");
        if (!t || !*t)
            t = get_str(root, "code");
        if (!t || !*t)
            t = get_str(root, "Code");
        if (t)
            clean_code(t, out->code, sizeof(out->code));
    }
    const char *msg = NULL;
    if (root) {
        msg = get_str(root, "exceptionMessage");
        if (!msg)
            msg = get_str(root, "message");
        if (!msg)
            msg = get_str(root, "Message");
    }
    if (msg)
        ivs_copy_clean(out->message, sizeof(out->message), msg, strlen(msg));

    out->outcome = by_status(status);
    if (out->code[0]) {
        for (size_t i = 0; i < sizeof(code_classes) / sizeof(code_classes[0]); i++)
            if (strcmp(out->code, code_classes[i].code) == 0) {
                out->outcome = code_classes[i].outcome;
                break;
            }
    } else if (status != 0) {
        snprintf(out->code, sizeof(out->code), "HTTP %ld", status);
    }
    json_object_put(root);
}

int ivs_error_retryable(const struct ivs_error *e)
{
    return e->outcome == IVS_ERR_THROTTLED || e->outcome == IVS_ERR_RETRYABLE;
}

static int copy_str_field(json_object *o, const char *key, char *dst, size_t cap, int required,
                          char *err, size_t errlen)
{
    json_object *v;
    dst[0] = '\0';
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
        if (required) {
            snprintf(err, errlen, "stream: %s missing", key);
            return -1;
        }
        return 0;
    }
    if (!json_object_is_type(v, json_type_string)) {
        snprintf(err, errlen, "stream: %s is not a string", key);
        return -1;
    }
    size_t n = (size_t)json_object_get_string_len(v);
    const char *s = json_object_get_string(v);
    if (n >= cap || memchr(s, '\0', n)) {
        snprintf(err, errlen, "stream: %s too long or invalid", key);
        return -1;
    }
    if (required && n == 0) {
        snprintf(err, errlen, "stream: %s empty", key);
        return -1;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static int parse_stream_obj(json_object *o, struct ivs_stream *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->viewer_count = -1;
    if (!o || !json_object_is_type(o, json_type_object)) {
        snprintf(err, errlen, "stream: not an object");
        return -1;
    }
    if (copy_str_field(o, "channelArn", out->channel_arn, sizeof(out->channel_arn), 1, err,
                       errlen) ||
        copy_str_field(o, "streamId", out->stream_id, sizeof(out->stream_id), 1, err, errlen) ||
        copy_str_field(o, "state", out->state, sizeof(out->state), 0, err, errlen) ||
        copy_str_field(o, "health", out->health, sizeof(out->health), 0, err, errlen))
        return -1;
    json_object *v;
    if (json_object_object_get_ex(o, "startTime", &v) && !json_object_is_type(v, json_type_null)) {
        if (json_object_is_type(v, json_type_string)) {
            if (aws_creds_parse_time(json_object_get_string(v), &out->start_time_us) != 0) {
                snprintf(err, errlen, "stream: startTime is not an ISO 8601 time");
                return -1;
            }
        } else if (json_object_is_type(v, json_type_int) ||
                   json_object_is_type(v, json_type_double)) {
            double d = json_object_get_double(v); /* epoch seconds */
            if (!(d >= 0 && d < 1e11)) {
                snprintf(err, errlen, "stream: startTime out of range");
                return -1;
            }
            out->start_time_us = (int64_t)llround(d * 1e6);
        } else {
            snprintf(err, errlen, "stream: startTime has the wrong type");
            return -1;
        }
    }
    if (json_object_object_get_ex(o, "viewerCount", &v) &&
        !json_object_is_type(v, json_type_null)) {
        if (json_object_is_type(v, json_type_int)) {
            out->viewer_count = json_object_get_int64(v);
        } else if (json_object_is_type(v, json_type_double)) {
            double d = json_object_get_double(v);
            if (d != floor(d) || fabs(d) > 9e15) {
                snprintf(err, errlen, "stream: viewerCount is not an integer");
                return -1;
            }
            out->viewer_count = (int64_t)d;
        } else {
            snprintf(err, errlen, "stream: viewerCount is not a number");
            return -1;
        }
        if (out->viewer_count < 0)
            out->viewer_count = -1;
    }
    return 0;
}

int ivs_parse_get_stream(const char *body, size_t len, struct ivs_stream *out, char *err,
                         size_t errlen)
{
    const char *why;
    json_object *root = parse_json(body, len, &why);
    int rc = -1;
    if (!root) {
        memset(out, 0, sizeof(*out));
        snprintf(err, errlen, "GetStream answer: %s", why);
        return -1;
    }
    json_object *s = root;
    json_object *v;
    if (json_object_object_get_ex(root, "stream", &v))
        s = v;
    rc = parse_stream_obj(s, out, err, errlen);
    json_object_put(root);
    return rc;
}

int ivs_parse_list_streams(const char *body, size_t len, struct ivs_stream **streams, size_t *n,
                           char *next_token, size_t tokcap, char *err, size_t errlen)
{
    int rc = -1;
    struct ivs_stream *arr = NULL;
    *streams = NULL;
    *n = 0;
    if (tokcap)
        next_token[0] = '\0';
    const char *why;
    json_object *root = parse_json(body, len, &why);
    if (!root) {
        snprintf(err, errlen, "ListStreams answer: %s", why);
        goto done;
    }
    json_object *list, *tok;
    if (!json_object_object_get_ex(root, "streams", &list) ||
        !json_object_is_type(list, json_type_array)) {
        snprintf(err, errlen, "ListStreams answer: streams missing or not an array");
        goto done;
    }
    if (json_object_object_get_ex(root, "nextToken", &tok) &&
        !json_object_is_type(tok, json_type_null)) {
        if (!json_object_is_type(tok, json_type_string)) {
            snprintf(err, errlen, "ListStreams answer: nextToken is not a string");
            goto done;
        }
        size_t tl = (size_t)json_object_get_string_len(tok);
        if (tl >= tokcap) {
            snprintf(err, errlen, "ListStreams answer: nextToken too long");
            goto done;
        }
        memcpy(next_token, json_object_get_string(tok), tl);
        next_token[tl] = '\0';
    }
    size_t cnt = json_object_array_length(list);
    if (cnt > 0) {
        arr = calloc(cnt, sizeof(*arr));
        if (!arr) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
    }
    for (size_t i = 0; i < cnt; i++) {
        char e2[160];
        if (parse_stream_obj(json_object_array_get_idx(list, i), &arr[i], e2, sizeof(e2)) != 0) {
            snprintf(err, errlen, "ListStreams answer: streams[%zu]: %s", i, e2);
            goto done;
        }
    }
    *streams = arr;
    *n = cnt;
    arr = NULL;
    rc = 0;
done:
    free(arr);
    json_object_put(root);
    if (rc != 0 && tokcap)
        next_token[0] = '\0';
    return rc;
}

int64_t ivs_backoff_us(int retry, uint64_t rnd)
{
    if (retry < 1)
        retry = 1;
    int64_t cap = BACKOFF_BASE_US;
    for (int i = 1; i < retry && cap < BACKOFF_MAX_US; i++)
        cap *= 2;
    if (cap > BACKOFF_MAX_US)
        cap = BACKOFF_MAX_US;
    return (int64_t)(rnd % (uint64_t)(cap + 1));
}

int ivs_quota_acquire(struct ivs_retry_quota *q, int is_timeout)
{
    int cost = is_timeout ? IVS_RETRY_TIMEOUT_COST : IVS_RETRY_COST;
    if (q->tokens < cost)
        return 0;
    q->tokens -= cost;
    return cost;
}

void ivs_quota_release(struct ivs_retry_quota *q, int last_cost)
{
    q->tokens += last_cost > 0 ? last_cost : IVS_NO_RETRY_INCREMENT;
    if (q->tokens > IVS_RETRY_QUOTA)
        q->tokens = IVS_RETRY_QUOTA;
}

void ivs_format_time(int64_t us, char *buf, size_t cap)
{
    time_t s = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
    int ms = (int)((us - (int64_t)s * 1000000) / 1000);
    struct tm tm;
    if (!gmtime_r(&s, &tm)) {
        snprintf(buf, cap, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* Not a 200: a transport failure or an error answer. 0 when it was a 200 (nothing done). */
static int read_failure(const struct ivs_answer *a, struct ivs_error *e)
{
    memset(e, 0, sizeof(*e));
    if (!a->failed && a->status == 200)
        return 0;
    if (a->failed) {
        e->outcome = IVS_ERR_RETRYABLE;
        snprintf(e->code, sizeof(e->code), "TransportError");
        snprintf(e->message, sizeof(e->message), "%s",
                 a->transport_error ? a->transport_error : "failed");
    } else {
        ivs_parse_error(a->status, a->error_type, a->body, a->len, e);
    }
    return -1;
}

static void malformed(struct ivs_error *e, const char *perr)
{
    e->outcome = IVS_ERR_OTHER;
    snprintf(e->code, sizeof(e->code), "MalformedAnswer");
    snprintf(e->message, sizeof(e->message), "%s", perr);
}

void ivs_read_get_answer(const struct ivs_answer *a, struct ivs_stream *stream, struct ivs_error *e)
{
    char perr[200];
    if (read_failure(a, e) != 0)
        return;
    if (ivs_parse_get_stream(a->body, a->len, stream, perr, sizeof(perr)) != 0)
        malformed(e, perr);
    else if (stream->state[0] && strcmp(stream->state, "LIVE") != 0)
        e->outcome = IVS_OFFLINE;
    else
        e->outcome = IVS_OK;
}

void ivs_read_list_answer(const struct ivs_answer *a, struct ivs_stream **page, size_t *n,
                          char *token, size_t tokcap, struct ivs_error *e)
{
    char perr[200];
    if (read_failure(a, e) != 0)
        return;
    if (ivs_parse_list_streams(a->body, a->len, page, n, token, tokcap, perr, sizeof(perr)) != 0)
        malformed(e, perr);
    else
        e->outcome = IVS_OK;
}

int ivs_build_url(const char *endpoint, const char *region, const char *operation, char *url,
                  size_t cap)
{
    int n;
    if (endpoint)
        n = snprintf(url, cap, "%s/%s", endpoint, operation);
    else
        n = snprintf(url, cap, "https://ivs.%s.amazonaws.com%s/%s", region,
                     strncmp(region, "cn-", 3) == 0 ? ".cn" : "", operation);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

char *ivs_request_body(const char *channel_arn, const char *next_token, size_t *len)
{
    char *body = NULL;
    json_object *o = json_object_new_object();
    int bad = !o;
    if (!bad && channel_arn) {
        bad = json_object_object_add(o, "channelArn", json_object_new_string(channel_arn)) != 0;
    } else if (!bad) {
        bad = json_object_object_add(o, "maxResults", json_object_new_int(LIST_PAGE_SIZE)) != 0;
        if (!bad && next_token && *next_token)
            bad = json_object_object_add(o, "nextToken", json_object_new_string(next_token)) != 0;
    }
    size_t n = 0;
    const char *s = bad ? NULL : json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);
    if (s && (body = malloc(n + 1)) != NULL) {
        memcpy(body, s, n + 1);
        *len = n;
    }
    json_object_put(o);
    return body;
}
