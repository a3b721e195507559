#include "jwt.h"

#include "b64.h"
#include "errbuf.h"
#include "jsonx.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define SHA256_LEN 32

/* Parse buf[0..n) as exactly one JSON object (jsonx: strict, UTF-8, bounded depth, no NUL). */
static struct json_object *parse_object(const unsigned char *buf, size_t n)
{
    struct json_object *obj = NULL;
    if (jsonx_parse_object((const char *)buf, n, JWT_MAX_DEPTH, &obj) != JSONX_OK)
        return NULL;
    return obj;
}

/*
 * Optional string member: absent or null -> 0 with dst ""; a string without
 * NUL that fits -> 0 and copied; anything else -> -1.
 */
static int opt_string(struct json_object *o, const char *key, char *dst, size_t cap)
{
    const char *s = NULL;
    size_t n = 0;
    dst[0] = '\0';
    switch (jsonx_get_string(o, key, &s, &n)) {
    case JSONX_MEMBER_ABSENT:
    case JSONX_MEMBER_NULL:
        return 0;
    case JSONX_MEMBER_STRING:
        if (n >= cap)
            return -1;
        memcpy(dst, s, n);
        dst[n] = '\0';
        return 0;
    default:
        return -1;
    }
}

/* Optional numeric member: absent -> 0 (*has = 0); finite number -> 0; else -1. */
static int opt_number(struct json_object *o, const char *key, int *has, double *val)
{
    struct json_object *v;
    *has = 0;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return -1;
    double d = json_object_get_double(v);
    if (!isfinite(d))
        return -1;
    *has = 1;
    *val = d;
    return 0;
}

int jwt_verify_hs256(const char *token, size_t len, const char *secret, size_t secret_len,
                     time_t now, struct jwt_claims *out, char *err, size_t errlen)
{
    unsigned char buf[JWT_MAX_TOKEN];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    size_t n = 0;
    struct json_object *hdr = NULL, *pl = NULL, *v = NULL;
    struct jwt_claims c;
    const char *msg = "invalid token";

    memset(&c, 0, sizeof(c));
    if (out)
        memset(out, 0, sizeof(*out));
    if (!out) {
        msg = "no claims buffer";
        goto fail;
    }
    if (!secret || secret_len == 0 || secret_len > INT_MAX) {
        msg = "JWT secret not configured";
        goto fail;
    }
    if (!token || len == 0) {
        msg = "malformed token: empty";
        goto fail;
    }
    if (len > JWT_MAX_TOKEN) {
        msg = "malformed token: too long";
        goto fail;
    }
    if (memchr(token, '\0', len)) {
        msg = "malformed token: NUL byte";
        goto fail;
    }

    const char *end = token + len;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
    if (!d1 || !d2) {
        msg = "malformed token: expected 3 parts";
        goto fail;
    }
    if (memchr(d2 + 1, '.', (size_t)(end - d2 - 1))) {
        msg = "malformed token: too many parts";
        goto fail;
    }

    /* header */
    if (b64_decode(B64_URL, token, (size_t)(d1 - token), buf, sizeof(buf), &n) < 0) {
        msg = "malformed token: header is not base64url";
        goto fail;
    }
    hdr = parse_object(buf, n);
    if (!hdr) {
        msg = "malformed token: header is not a JSON object";
        goto fail;
    }
    if (!json_object_object_get_ex(hdr, "alg", &v) || !json_object_is_type(v, json_type_string) ||
        json_object_get_string_len(v) != 5 || memcmp(json_object_get_string(v), "HS256", 5) != 0) {
        msg = "alg must be HS256";
        goto fail;
    }
    if (json_object_object_get_ex(hdr, "typ", &v) && !json_object_is_type(v, json_type_string)) {
        msg = "malformed token: typ is not a string";
        goto fail;
    }
    if (json_object_object_get_ex(hdr, "crit", NULL)) {
        msg = "unsupported crit header";
        goto fail;
    }

    /* signature over "header.payload", before the payload is looked at */
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)token,
              (size_t)(d2 - token), mac, &maclen) ||
        maclen != SHA256_LEN) {
        msg = "HMAC failed";
        goto fail;
    }
    if (b64_decode(B64_URL, d2 + 1, (size_t)(end - d2 - 1), buf, sizeof(buf), &n) < 0) {
        msg = "malformed token: signature is not base64url";
        goto fail;
    }
    if (n != SHA256_LEN || CRYPTO_memcmp(buf, mac, SHA256_LEN) != 0) {
        msg = "bad signature";
        goto fail;
    }

    /* payload */
    if (b64_decode(B64_URL, d1 + 1, (size_t)(d2 - d1 - 1), buf, sizeof(buf), &n) < 0) {
        msg = "malformed token: payload is not base64url";
        goto fail;
    }
    pl = parse_object(buf, n);
    if (!pl) {
        msg = "malformed token: payload is not a JSON object";
        goto fail;
    }
    double exp = 0, nbf = 0;
    int has_nbf = 0;
    if (opt_number(pl, "exp", &c.has_exp, &exp) < 0) {
        msg = "exp claim is not a number";
        goto fail;
    }
    if (c.has_exp && !(exp + JWT_LEEWAY_SECONDS > (double)now)) {
        msg = "token expired";
        goto fail;
    }
    c.exp = exp;
    if (opt_number(pl, "nbf", &has_nbf, &nbf) < 0) {
        msg = "nbf claim is not a number";
        goto fail;
    }
    if (has_nbf && nbf > (double)now + JWT_LEEWAY_SECONDS) {
        msg = "token not yet valid";
        goto fail;
    }
    if (opt_string(pl, "role", c.role, sizeof(c.role)) < 0) {
        msg = "role claim invalid";
        goto fail;
    }
    if (opt_string(pl, "sub", c.sub, sizeof(c.sub)) < 0) {
        msg = "sub claim invalid";
        goto fail;
    }
    if (json_object_object_get_ex(pl, "app_metadata", &v) &&
        json_object_is_type(v, json_type_object) &&
        opt_string(v, "role", c.app_role, sizeof(c.app_role)) < 0) {
        msg = "app_metadata.role claim invalid";
        goto fail;
    }
    /* a token without exp would be valid forever: refuse it */
    if (!c.has_exp) {
        msg = "exp claim missing";
        goto fail;
    }

    json_object_put(hdr);
    json_object_put(pl);
    OPENSSL_cleanse(mac, sizeof(mac));
    *out = c;
    return 0;
fail:
    json_object_put(hdr);
    json_object_put(pl);
    OPENSSL_cleanse(mac, sizeof(mac));
    errbuf_set(err, errlen, "%s", msg);
    return -1;
}

int jwt_is_admin(const struct jwt_claims *c)
{
    if (!c)
        return 0;
    return strcmp(c->role, "service_role") == 0 || strcmp(c->app_role, "admin") == 0;
}

int jwt_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char key[SHA256_LEN];
    unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
    unsigned int la = 0, lb = 0;
    int eq = 0;

    if (!a || !b || alen == 0 || blen == 0)
        return 0;
    if (RAND_bytes(key, sizeof(key)) != 1)
        goto fail;
    if (!HMAC(EVP_sha256(), key, (int)sizeof(key), (const unsigned char *)a, alen, da, &la) ||
        !HMAC(EVP_sha256(), key, (int)sizeof(key), (const unsigned char *)b, blen, db, &lb) ||
        la != SHA256_LEN || lb != SHA256_LEN)
        goto fail;
    /* no branch on content: both conditions are always evaluated */
    eq = (CRYPTO_memcmp(da, db, SHA256_LEN) == 0) & (alen == blen);
fail:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(da, sizeof(da));
    OPENSSL_cleanse(db, sizeof(db));
    return eq;
}
