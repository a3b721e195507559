/* jsonx: one strict JSON object from untrusted bytes. */
#include "jsonx.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

int jsonx_utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        if (n - i - 1 < need)
            return 0;
        for (size_t k = 1; k <= need; k++) {
            unsigned char cc = s[i + k];
            if ((cc & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

enum jsonx_error jsonx_parse_object(const char *buf, size_t len, int max_depth,
                                    struct json_object **out)
{
    enum jsonx_error rc;
    struct json_tokener *tok = NULL;
    struct json_object *obj = NULL;
    *out = NULL;
    size_t ws = 0;
    while (ws < len && is_ws(buf[ws]))
        ws++;
    if (ws == len)
        return JSONX_EMPTY;
    if (len > INT_MAX / 2)
        return JSONX_TOO_LARGE;
    if (memchr(buf, '\0', len))
        return JSONX_NUL;
    if (!jsonx_utf8_valid(buf, len))
        return JSONX_UTF8;
    tok = json_tokener_new_ex(max_depth > 0 ? max_depth : 32);
    if (!tok)
        return JSONX_NOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
                                    JSON_TOKENER_VALIDATE_UTF8);
    obj = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (!obj && jerr == json_tokener_continue) {
        /* a bare number at the end waits for a delimiter: feed one to tell */
        obj = json_tokener_parse_ex(tok, " ", 1);
        jerr = json_tokener_get_error(tok);
        rc = obj || jerr == json_tokener_success ? JSONX_NOT_OBJECT : JSONX_TRUNCATED;
        goto fail;
    }
    if (!obj) {
        if (jerr == json_tokener_success)
            rc = JSONX_NOT_OBJECT; /* JSON null */
        else if (jerr == json_tokener_error_depth)
            rc = JSONX_DEPTH;
        else if (jerr == json_tokener_error_parse_utf8_string)
            rc = JSONX_UTF8;
        else
            rc = JSONX_INVALID;
        goto fail;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
        if (!is_ws(buf[i])) {
            rc = JSONX_TRAILING;
            goto fail;
        }
    if (!json_object_is_type(obj, json_type_object)) {
        rc = JSONX_NOT_OBJECT;
        goto fail;
    }
    json_tokener_free(tok);
    *out = obj;
    return JSONX_OK;
fail:
    json_object_put(obj);
    json_tokener_free(tok);
    return rc;
}

const char *jsonx_strerror(enum jsonx_error err)
{
    switch (err) {
    case JSONX_OK:
        return "ok";
    case JSONX_EMPTY:
        return "empty";
    case JSONX_TOO_LARGE:
        return "too large";
    case JSONX_NUL:
        return "contains a NUL byte";
    case JSONX_UTF8:
        return "not valid UTF-8";
    case JSONX_TRUNCATED:
        return "truncated JSON";
    case JSONX_DEPTH:
        return "JSON nested too deep";
    case JSONX_INVALID:
        return "not valid JSON";
    case JSONX_TRAILING:
        return "trailing data after the JSON object";
    case JSONX_NOT_OBJECT:
        return "not a JSON object";
    case JSONX_NOMEM:
        return "out of memory";
    }
    return "invalid JSON";
}

enum jsonx_member jsonx_get_string(struct json_object *o, const char *key, const char **s,
                                   size_t *n)
{
    struct json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return JSONX_MEMBER_ABSENT;
    if (!v)
        return JSONX_MEMBER_NULL;
    if (!json_object_is_type(v, json_type_string))
        return JSONX_MEMBER_NOT_STRING;
    const char *p = json_object_get_string(v);
    int l = json_object_get_string_len(v);
    if (!p || l < 0)
        return JSONX_MEMBER_NOT_STRING;
    *s = p;
    *n = (size_t)l;
    return memchr(p, '\0', (size_t)l) ? JSONX_MEMBER_NUL : JSONX_MEMBER_STRING;
}
