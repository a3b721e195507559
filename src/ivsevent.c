#include "ivsevent.h"

#include "errbuf.h"
#include "iso8601.h"
#include "jsonx.h"

#include <limits.h>
#include <string.h>

#include <json-c/json.h>

#define DT_STATE  "IVS Stream State Change"
#define DT_HEALTH "IVS Stream Health Change"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * The string member key of o, without NUL bytes: 0 with *s and *n, or -1 when
 * absent, null or not a string.
 */
static int get_string(struct json_object *o, const char *key, const char **s, size_t *n)
{
    return jsonx_get_string(o, key, s, n) == JSONX_MEMBER_STRING ? 0 : -1;
}

/* ASCII in [lo, 0x7e], length 1..max */
static int text_ok(const char *s, size_t n, size_t max, unsigned char lo)
{
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < lo || c > 0x7e)
            return 0;
    }
    return 1;
}

static int stream_id_ok(const char *s, size_t n)
{
    if (n == 0 || n > IVSEVENT_STREAM_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* caller guarantees n < cap */
static void copy(char *dst, const char *s, size_t n)
{
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* A required text member: text_ok(max, lo), with the messages naming it. */
struct text_field {
    const char *key;
    size_t max;
    unsigned char lo;
    int empty_is_missing;
    const char *missing, *invalid;
};

static const struct text_field f_id = {"id", IVSEVENT_ID_MAX, 0x21, 1, "id missing", "id invalid"};
static const struct text_field f_detail_type = {
    "detail-type", IVSEVENT_TEXT_MAX, 0x20, 0, "detail-type missing", "detail-type invalid"};

/* Copy the member f->key into dst (f->max + 1 bytes): 0, or -1 with *msg. */
static int take_text(struct json_object *o, const struct text_field *f, char *dst, const char **msg)
{
    const char *s;
    size_t n;
    if (get_string(o, f->key, &s, &n) < 0 || (f->empty_is_missing && n == 0)) {
        *msg = f->missing;
        return -1;
    }
    if (!text_ok(s, n, f->max, f->lo)) {
        *msg = f->invalid;
        return -1;
    }
    copy(dst, s, n);
    return 0;
}

static struct json_object *parse_object(const char *json, size_t len, int depth, const char **msg)
{
    struct json_object *obj = NULL;
    if (len > IVSEVENT_MAX_JSON) {
        *msg = "event too large";
        return NULL;
    }
    switch (jsonx_parse_object(json, len, depth, &obj)) {
    case JSONX_OK:
        return obj;
    case JSONX_EMPTY:
        *msg = "event empty";
        break;
    case JSONX_TOO_LARGE:
        *msg = "event too large";
        break;
    case JSONX_NUL:
        *msg = "event contains a NUL byte";
        break;
    case JSONX_UTF8:
        *msg = "event JSON is not valid UTF-8";
        break;
    case JSONX_DEPTH:
        *msg = "event JSON nested too deep";
        break;
    case JSONX_TRUNCATED:
        *msg = "event JSON truncated";
        break;
    case JSONX_TRAILING:
        *msg = "trailing bytes after event JSON";
        break;
    case JSONX_NOT_OBJECT:
        *msg = "event is not a JSON object";
        break;
    case JSONX_NOMEM:
        *msg = "out of memory";
        break;
    default:
        *msg = "event is not valid JSON";
    }
    return NULL;
}

static enum ivsevent_kind classify(const char *dt, const char *name)
{
    if (strcmp(dt, DT_STATE) == 0) {
        if (strcmp(name, "Stream Start") == 0)
            return IVSEVENT_STREAM_START;
        if (strcmp(name, "Stream End") == 0)
            return IVSEVENT_STREAM_END;
        if (strcmp(name, "Stream Failure") == 0 || strcmp(name, "Stream Takeover") == 0 ||
            strcmp(name, "Stream Takeover Failure") == 0 || strcmp(name, "Session Ended") == 0)
            return IVSEVENT_STREAM_CHECK;
        return IVSEVENT_OTHER;
    }
    if (strcmp(dt, DT_HEALTH) == 0) {
        if (strcmp(name, "Starvation Start") == 0 || strcmp(name, "Starvation End") == 0)
            return IVSEVENT_HEALTH;
    }
    return IVSEVENT_OTHER;
}

int ivsevent_parse(const char *json, size_t len, int max_depth, struct ivsevent *out, char *err,
                   size_t errlen)
{
    struct ivsevent ev;
    struct json_object *root = NULL, *detail = NULL, *res = NULL, *v = NULL;
    const char *msg = "invalid event";
    const char *s = NULL;
    size_t n = 0;

    memset(&ev, 0, sizeof(ev));
    if (out)
        memset(out, 0, sizeof(*out));
    if (!out || !json) {
        msg = "no event";
        goto fail;
    }
    if (max_depth <= 0)
        max_depth = IVSEVENT_DEFAULT_DEPTH;
    if (max_depth > IVSEVENT_MAX_DEPTH)
        max_depth = IVSEVENT_MAX_DEPTH;
    root = parse_object(json, len, max_depth, &msg);
    if (!root)
        goto fail;

    if (take_text(root, &f_id, ev.id, &msg) < 0)
        goto fail;

    if (get_string(root, "source", &s, &n) < 0 || n != 7 || memcmp(s, "aws.ivs", 7) != 0) {
        msg = "source is not aws.ivs";
        goto fail;
    }

    if (take_text(root, &f_detail_type, ev.detail_type, &msg) < 0)
        goto fail;

    if (get_string(root, "time", &s, &n) < 0) {
        msg = "time missing";
        goto fail;
    }
    if (n > IVSEVENT_TIME_MAX || iso8601_parse(s, n, ISO8601_UTC, &ev.time_us) < 0) {
        msg = "time invalid (want YYYY-MM-DDTHH:MM:SSZ)";
        goto fail;
    }
    copy(ev.time, s, n);
    /* ev.time goes to PostgreSQL as text, which rounds a fraction to microseconds
     * (".999999999Z" would become the next second, 9999-12-31 year 10000):
     * cut it to six digits, as time_us is. */
    char *dot = strchr(ev.time, '.');
    if (dot && strlen(dot + 1) > 7) /* more than 6 digits + 'Z' */
        memcpy(dot + 7, "Z", 2);

    if (get_string(root, "account", &s, &n) < 0 || n != ARN_ACCOUNT_LEN) {
        msg = "account invalid";
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) {
            msg = "account invalid";
            goto fail;
        }
    }
    copy(ev.account, s, n);

    if (!json_object_object_get_ex(root, "detail", &detail) ||
        !json_object_is_type(detail, json_type_object)) {
        msg = "detail is not an object";
        goto fail;
    }

    int stream_type =
        strcmp(ev.detail_type, DT_STATE) == 0 || strcmp(ev.detail_type, DT_HEALTH) == 0;
    int rc_name = get_string(detail, "event_name", &s, &n);
    if (rc_name == 0 && text_ok(s, n, IVSEVENT_TEXT_MAX, 0x20)) {
        copy(ev.event_name, s, n);
    } else if (stream_type) {
        msg = rc_name < 0 ? "detail.event_name missing" : "detail.event_name invalid";
        goto fail;
    }
    ev.kind = classify(ev.detail_type, ev.event_name);

    if (!json_object_object_get_ex(root, "resources", &res) ||
        !json_object_is_type(res, json_type_array)) {
        msg = "resources is not an array";
        goto fail;
    }
    if (json_object_array_length(res) == 0) {
        if (stream_type) {
            msg = "resources empty";
            goto fail;
        }
    } else {
        struct json_object *r0 = json_object_array_get_idx(res, 0);
        char aerr[64];
        if (!json_object_is_type(r0, json_type_string)) {
            msg = "resources[0] is not a string";
            goto fail;
        }
        int l = json_object_get_string_len(r0);
        const char *a = json_object_get_string(r0);
        if (l < 0 || memchr(a, '\0', (size_t)l) ||
            arn_parse_channel(a, &ev.channel, aerr, sizeof(aerr)) < 0) {
            msg = "resources[0] is not an IVS channel ARN";
            goto fail;
        }
        if (strcmp(ev.channel.account, ev.account) != 0) {
            msg = "channel ARN account differs from event account";
            goto fail;
        }
        ev.has_channel = 1;
    }

    int rc_sid = -1;
    if (json_object_object_get_ex(detail, "stream_id", &v)) {
        rc_sid = get_string(detail, "stream_id", &s, &n) == 0 && stream_id_ok(s, n) ? 0 : -2;
    }
    if (rc_sid == 0) {
        copy(ev.stream_id, s, n);
    } else if (ev.kind == IVSEVENT_STREAM_START || ev.kind == IVSEVENT_STREAM_END) {
        msg = rc_sid == -1 ? "detail.stream_id missing" : "detail.stream_id invalid";
        goto fail;
    } else if (rc_sid == -2 && ev.kind != IVSEVENT_OTHER) {
        msg = "detail.stream_id invalid";
        goto fail;
    }

    if (ev.kind == IVSEVENT_HEALTH) {
        const char *h = strcmp(ev.event_name, "Starvation Start") == 0 ? "STARVING" : "HEALTHY";
        copy(ev.health, h, strlen(h));
    }

    json_object_put(root);
    *out = ev;
    return 0;
fail:
    json_object_put(root);
    errbuf_set(err, errlen, "%s", msg);
    return -1;
}

int ivsevent_account_allowed(const struct ivsevent *ev, const char *comma_list)
{
    if (!ev)
        return 0;
    if (!comma_list || comma_list[0] == '\0')
        return 1;
    size_t alen = strlen(ev->account);
    const char *p = comma_list;
    for (;;) {
        const char *e = strchr(p, ',');
        const char *end = e ? e : p + strlen(p);
        const char *b = p;
        while (b < end && (*b == ' ' || *b == '\t'))
            b++;
        while (end > b && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (alen > 0 && (size_t)(end - b) == alen && memcmp(b, ev->account, alen) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

const char *ivsevent_kind_name(enum ivsevent_kind kind)
{
    switch (kind) {
    case IVSEVENT_OTHER:
        return "other";
    case IVSEVENT_STREAM_START:
        return "stream_start";
    case IVSEVENT_STREAM_END:
        return "stream_end";
    case IVSEVENT_STREAM_CHECK:
        return "stream_check";
    case IVSEVENT_HEALTH:
        return "health";
    }
    return "unknown";
}

int ivsevent_time_ok(const struct ivsevent *ev, int64_t now_us)
{
    return ev && ev->time_us <= now_us + IVSEVENT_MAX_FUTURE_US;
}
