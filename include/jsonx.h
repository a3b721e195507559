/*
 * jsonx: strict parsing of untrusted JSON documents (request bodies, SNS
 * envelopes and messages, EventBridge events, JWT parts), shared by the
 * parsers so that every one applies the same rules: exactly one JSON object,
 * json-c strict mode, bounded depth, strict UTF-8, no NUL byte, nothing but
 * whitespace after it.
 */
#ifndef IVS_JSONX_H
#define IVS_JSONX_H

#include <stddef.h>

struct json_object;

enum jsonx_error {
    JSONX_OK = 0,
    JSONX_EMPTY,
    JSONX_TOO_LARGE,
    JSONX_NUL,        /* a NUL byte in the document */
    JSONX_UTF8,       /* not strict UTF-8 */
    JSONX_TRUNCATED,  /* the document ends inside a value */
    JSONX_DEPTH,      /* nested deeper than max_depth */
    JSONX_INVALID,    /* not JSON */
    JSONX_TRAILING,   /* bytes other than whitespace after the value */
    JSONX_NOT_OBJECT, /* valid JSON, but not an object */
    JSONX_NOMEM,
};

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
int jsonx_utf8_valid(const void *s, size_t n);

/*
 * Parse buf[0..len) as one JSON object. On JSONX_OK *out holds a new
 * reference (json_object_put() it); otherwise *out is NULL.
 */
enum jsonx_error jsonx_parse_object(const char *buf, size_t len, int max_depth,
                                    struct json_object **out);

/* What jsonx_get_string() found under a key. */
enum jsonx_member {
    JSONX_MEMBER_STRING = 0,
    JSONX_MEMBER_ABSENT,     /* no such key */
    JSONX_MEMBER_NULL,       /* JSON null */
    JSONX_MEMBER_NOT_STRING, /* a number, object, array or boolean */
    JSONX_MEMBER_NUL,        /* a string holding U+0000 */
};

/*
 * The string member key of object o. JSONX_MEMBER_STRING and JSONX_MEMBER_NUL
 * set *s (owned by o, NUL-terminated by json-c) and *n (its length in bytes);
 * the other results leave them untouched.
 */
enum jsonx_member jsonx_get_string(struct json_object *o, const char *key, const char **s,
                                   size_t *n);

/* A short English description of err ("truncated JSON", ...). */
const char *jsonx_strerror(enum jsonx_error err);

#endif
