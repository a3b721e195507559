/* log: JSON or text lines, one per event. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

/* The one process-wide logger: set at start-up, reopened on SIGHUP. */
static struct {
    int level;
    int json;
    int fd;
    char *file;
    int journal; /* stderr is journald's stream: text lines get a <N> priority prefix */
} lg = {LOG_LEVEL_INFO, 1, 2, NULL, 0};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, level_names[i]))
            return i;
    if (!strcasecmp(s, "warning"))
        return LOG_LEVEL_WARN;
    return -1;
}

int log_enabled(int level)
{
    return level >= lg.level;
}

static int open_file(const char *file)
{
    return open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int log_init(int level, int json, const char *file)
{
    lg.level = level;
    lg.json = json;
    const char *js = getenv("JOURNAL_STREAM"); /* set by systemd for StandardError=journal */
    lg.journal = js && *js && !(file && *file);
    if (file && *file) {
        int fd = open_file(file);
        if (fd < 0)
            return -1;
        free(lg.file);
        lg.file = strdup(file);
        if (lg.fd > 2)
            close(lg.fd);
        lg.fd = fd;
    }
    return 0;
}

int log_reopen(void)
{
    if (!lg.file)
        return 0;
    int fd = open_file(lg.file);
    if (fd < 0)
        return -1;
    if (lg.fd > 2)
        close(lg.fd);
    lg.fd = fd;
    return 0;
}

void log_close(void)
{
    if (lg.fd > 2)
        close(lg.fd);
    lg.fd = 2;
    free(lg.file);
    lg.file = NULL;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when p does not start one
 * (stray continuation byte, overlong form, surrogate, > U+10FFFF, cut short). */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f))
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
            return 0;
        return 4;
    }
    return 0;
}

/* A line under construction: never more than cap - reserve bytes of content,
 * so the closing bytes always fit. */
struct line {
    char b[4096];
    size_t n;
    size_t lim; /* content limit */
    int cut;    /* something was truncated */
};

static int room(struct line *l, size_t k)
{
    return l->n + k <= l->lim;
}

static void put(struct line *l, const char *s)
{
    if (!s)
        return;
    size_t k = strlen(s);
    if (!room(l, k)) {
        l->cut = 1;
        return;
    }
    memcpy(l->b + l->n, s, k);
    l->n += k;
}

/*
 * Append s escaped: JSON string content (json) or a logfmt quoted value.
 * Invalid UTF-8 becomes U+FFFD. At most max bytes are written (and never past
 * the line limit); a cut is made between characters, marked with "...".
 */
static void esc(struct line *l, const char *s, size_t max, int json)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = l->n;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        char tmp[8];
        size_t k = 0, adv = 1;
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            tmp[k++] = '\\';
            tmp[k++] = (char)c;
        } else if (c == '\n') {
            tmp[k++] = '\\';
            tmp[k++] = 'n';
        } else if (c == '\t' && !json) {
            tmp[k++] = '\\';
            tmp[k++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(tmp, "\\u00", 4);
            k = 4;
            tmp[k++] = hex[c >> 4];
            tmp[k++] = hex[c & 15];
        } else if (c < 0x80) {
            tmp[k++] = (char)c;
        } else if ((adv = utf8_len(p)) > 0) {
            memcpy(tmp, p, adv);
            k = adv;
        } else {
            adv = 1; /* one invalid byte: U+FFFD */
            memcpy(tmp, json ? "\\ufffd" : "\xef\xbf\xbd", json ? 6 : 3);
            k = json ? 6 : 3;
        }
        if (l->n - start + k + 3 > max || !room(l, k + 3)) {
            if (room(l, 3))
                memcpy(l->b + l->n, "...", 3), l->n += 3;
            l->cut = 1;
            return;
        }
        memcpy(l->b + l->n, tmp, k);
        l->n += k;
        p += adv;
    }
}

/* A logfmt value needs quotes when empty or when it holds a blank, '=', '"',
 * a control byte or anything not ASCII. */
static int needs_quotes(const char *s)
{
    if (!*s)
        return 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p >= 0x7f)
            return 1;
    return 0;
}

/* Append one member: ,"key":value (json) or " key=value" (logfmt). value_json is
 * the value as JSON text when it is not a string (s NULL). A string value may be
 * cut; a member whose key or non-string value does not fit is left out whole. */
static void member(struct line *l, int json, const char *key, const char *s, const char *value_json,
                   size_t max)
{
    size_t mark = l->n;
    int was_cut = l->cut;
    l->cut = 0;
    put(l, json ? ",\"" : " ");
    esc(l, key, 128, json);
    put(l, json ? "\":" : "=");
    if (l->cut)
        goto drop;
    if (!s) {
        put(l, value_json);
        if (l->cut)
            goto drop;
    } else {
        int q = json || needs_quotes(s);
        if (q) {
            put(l, "\"");
            if (l->cut)
                goto drop;
            l->lim -= 1; /* the closing quote always fits */
        }
        esc(l, s, max, json);
        if (q) {
            l->lim += 1;
            put(l, "\"");
        }
    }
    l->cut |= was_cut;
    return;
drop:
    l->n = mark;
    l->cut = 1;
}

/* Append the caller's fields (JSON members without braces) as members; when
 * they are not valid JSON, as one string member "fields". */
static void add_fields(struct line *l, int json, const char *fields)
{
    size_t fl = strlen(fields);
    char *wrapped = malloc(fl + 3);
    struct json_object *o = NULL;
    if (wrapped) {
        wrapped[0] = '{';
        memcpy(wrapped + 1, fields, fl);
        memcpy(wrapped + 1 + fl, "}", 2);
        struct json_tokener *tok = json_tokener_new();
        if (tok) {
            o = json_tokener_parse_ex(tok, wrapped, (int)(fl + 2));
            if (o &&
                (json_tokener_get_error(tok) != json_tokener_success ||
                 tok->char_offset != (int)(fl + 2) || !json_object_is_type(o, json_type_object))) {
                json_object_put(o);
                o = NULL;
            }
            json_tokener_free(tok);
        }
        free(wrapped);
    }
    if (!o) {
        member(l, json, "fields", fields, NULL, 1024);
        return;
    }
    json_object_object_foreach(o, k, v)
    {
        if (json_object_is_type(v, json_type_string))
            member(l, json, k, json_object_get_string(v), NULL, 1024);
        else if (!v)
            member(l, json, k, NULL, "null", 0);
        else
            member(l, json, k, NULL, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), 0);
    }
    json_object_put(o);
}

void log_write(int level, const char *rid, const char *fields, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof(ts) - tl, ".%03ldZ", (long)(tv.tv_usec / 1000));

    static struct line l; /* one event loop: no concurrent writers */
    l.n = 0;
    l.cut = 0;
    l.lim = sizeof(l.b) - 24; /* room for ,"truncated":true}\n */
    int lv_i = level < 0 ? 0 : level > 3 ? 3 : level;
    const char *lv = level_names[lv_i];
    if (lg.json) {
        put(&l, "{\"time\":\"");
        put(&l, ts);
        put(&l, "\",\"level\":\"");
        put(&l, lv);
        put(&l, "\",\"msg\":\"");
        esc(&l, msg, 2048, 1);
        put(&l, "\"");
        if (rid)
            member(&l, 1, "request_id", rid, NULL, 256);
        if (fields && *fields)
            add_fields(&l, 1, fields);
        if (l.cut) {
            l.lim = sizeof(l.b) - 2;
            put(&l, ",\"truncated\":true");
        }
        l.lim = sizeof(l.b) - 1;
        put(&l, "}");
    } else {
        static const char *const prio[] = {"<7>", "<6>", "<4>", "<3>"}; /* sd-daemon(3) */
        if (lg.journal)
            put(&l, prio[lv_i]);
        put(&l, "time=");
        put(&l, ts);
        put(&l, " level=");
        put(&l, lv);
        member(&l, 0, "msg", msg, NULL, 2048);
        if (rid)
            member(&l, 0, "request_id", rid, NULL, 256);
        if (fields && *fields)
            add_fields(&l, 0, fields);
        if (l.cut) {
            l.lim = sizeof(l.b) - 1;
            put(&l, " truncated=true");
        }
    }
    l.lim = sizeof(l.b);
    put(&l, "\n");
    ssize_t w = write(lg.fd, l.b, l.n);
    (void)w;
}
