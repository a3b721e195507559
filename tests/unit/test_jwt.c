#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jwt.h"
#include "t.h"

#define SECRET "super-secret-jwt-token-with-at-least-32-characters-long"
#define NOW    ((time_t)1700000000)

static size_t b64url(const unsigned char *in, size_t n, char *out, size_t cap)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        size_t k = n - i >= 3 ? 4 : n - i + 1;
        for (size_t j = 0; j < k && o + 1 < cap; j++)
            out[o++] = tbl[(v >> (18 - 6 * j)) & 63];
    }
    out[o] = '\0';
    return o;
}

/* header.payload.signature, signed with key (NULL = no signature part content). */
static char *make_token_n(const char *hdr, size_t hlen, const char *pl, size_t plen,
                          const char *key)
{
    size_t cap = (hlen + plen) * 2 + 128;
    char *t = malloc(cap);
    if (!t)
        return NULL;
    size_t o = b64url((const unsigned char *)hdr, hlen, t, cap);
    t[o++] = '.';
    o += b64url((const unsigned char *)pl, plen, t + o, cap - o);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (key) {
        HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)t, o, mac, &maclen);
    }
    t[o++] = '.';
    o += b64url(mac, maclen, t + o, cap - o);
    t[o] = '\0';
    return t;
}

static char *make_token(const char *hdr, const char *pl, const char *key)
{
    return make_token_n(hdr, strlen(hdr), pl, strlen(pl), key);
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* verify with the default secret and NOW; returns rc, err in *err */
static int verify(const char *tok, struct jwt_claims *c, char *err, size_t errlen)
{
    return jwt_verify_hs256(tok, strlen(tok), SECRET, strlen(SECRET), NOW, c, err, errlen);
}

static int admin_token(const char *hdr, const char *pl, const char *key, char *err, size_t el)
{
    char *t = make_token(hdr, pl, key);
    struct jwt_claims c;
    int rc = t ? verify(t, &c, err, el) : -1;
    free(t);
    return rc == 0 && jwt_is_admin(&c);
}

TEST(valid_service_role)
{
    char *t = make_token(HS256,
                         "{\"iss\":\"supabase\",\"role\":\"service_role\",\"iat\":1600000000,"
                         "\"exp\":1900000000}",
                         SECRET);
    REQUIRE(t);
    struct jwt_claims c;
    char err[128] = "";
    CHECK_EQ_INT(verify(t, &c, err, sizeof(err)), 0);
    CHECK_STR(c.role, "service_role");
    CHECK_STR(c.app_role, "");
    CHECK(c.has_exp && c.exp == 1900000000.0);
    CHECK(jwt_is_admin(&c));
    free(t);
}

TEST(valid_admin_app_metadata)
{
    char *t = make_token("{\"alg\":\"HS256\"}",
                         "{\"sub\":\"8d5e7f1a-0000-4000-8000-000000000001\",\"role\":"
                         "\"authenticated\",\"app_metadata\":{\"provider\":\"email\","
                         "\"role\":\"admin\"},\"exp\":1700000001}",
                         SECRET);
    REQUIRE(t);
    struct jwt_claims c;
    char err[128] = "";
    CHECK_EQ_INT(verify(t, &c, err, sizeof(err)), 0);
    CHECK_STR(c.role, "authenticated");
    CHECK_STR(c.app_role, "admin");
    CHECK_STR(c.sub, "8d5e7f1a-0000-4000-8000-000000000001");
    CHECK(jwt_is_admin(&c));
    free(t);
}

TEST(not_admin)
{
    char err[128];
    /* valid but not admin */
    CHECK(!admin_token(HS256, "{\"role\":\"authenticated\",\"exp\":1900000000}", SECRET, err,
                       sizeof(err)));
    CHECK(!admin_token(HS256, "{\"role\":\"anon\"}", SECRET, err, sizeof(err)));
    CHECK(!admin_token(HS256, "{}", SECRET, err, sizeof(err)));
    /* user_metadata is user-writable and never counts */
    CHECK(!admin_token(HS256,
                       "{\"role\":\"authenticated\",\"user_metadata\":{\"role\":\"admin\"},"
                       "\"exp\":1900000000}",
                       SECRET, err, sizeof(err)));
    CHECK(!admin_token(HS256, "{\"user_metadata\":{\"role\":\"service_role\"}}", SECRET, err,
                       sizeof(err)));
    /* app_metadata.role=service_role and role=admin are not the admin grants */
    CHECK(!admin_token(HS256, "{\"app_metadata\":{\"role\":\"service_role\"}}", SECRET, err,
                       sizeof(err)));
    CHECK(!admin_token(HS256, "{\"role\":\"admin\"}", SECRET, err, sizeof(err)));
    /* case and near-misses */
    CHECK(!admin_token(HS256, "{\"role\":\"Service_Role\"}", SECRET, err, sizeof(err)));
    CHECK(!admin_token(HS256, "{\"role\":\"service_role \"}", SECRET, err, sizeof(err)));
    CHECK(!admin_token(HS256, "{\"app_metadata\":{\"role\":\"Admin\"}}", SECRET, err, sizeof(err)));
    /* app_metadata not an object: ignored */
    CHECK(!admin_token(HS256, "{\"app_metadata\":\"admin\"}", SECRET, err, sizeof(err)));
    CHECK(
        !admin_token(HS256, "{\"app_metadata\":[{\"role\":\"admin\"}]}", SECRET, err, sizeof(err)));
    /* nested deeper does not count */
    CHECK(!admin_token(HS256, "{\"x\":{\"app_metadata\":{\"role\":\"admin\"}}}", SECRET, err,
                       sizeof(err)));
    /* embedded NUL in claim (\u0000 escape): refused, never truncated into a match */
    CHECK(!admin_token(HS256, "{\"role\":\"service_role\\u0000x\"}", SECRET, err, sizeof(err)));
    CHECK(!admin_token(HS256, "{\"app_metadata\":{\"role\":\"admin\\u0000\"}}", SECRET, err,
                       sizeof(err)));
    /* role of the wrong type */
    CHECK(!admin_token(HS256, "{\"role\":[\"service_role\"]}", SECRET, err, sizeof(err)));
    CHECK_EQ_INT(jwt_is_admin(NULL), 0);
}

static void expect_fail(const char *tok, size_t len, const char *want)
{
    struct jwt_claims c;
    char err[128] = "";
    memset(&c, 0x41, sizeof(c));
    int rc = jwt_verify_hs256(tok, len, SECRET, strlen(SECRET), NOW, &c, err, sizeof(err));
    CHECK_EQ_INT(rc, -1);
    CHECK(err[0] != '\0');
    if (want && strstr(err, want) == NULL) {
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, want);
        CHECK(0);
    }
    /* claims are zeroed on failure */
    CHECK(c.role[0] == '\0' && c.app_role[0] == '\0' && !jwt_is_admin(&c));
}

static void expect_fail_tok(char *tok, const char *want)
{
    CHECK(tok != NULL);
    if (tok)
        expect_fail(tok, strlen(tok), want);
    free(tok);
}

TEST(expired_and_nbf)
{
    expect_fail_tok(make_token(HS256, "{\"role\":\"service_role\",\"exp\":1600000000}", SECRET),
                    "token expired");
    /* exp == now - leeway is expired */
    expect_fail_tok(make_token(HS256, "{\"role\":\"service_role\",\"exp\":1699999940}", SECRET),
                    "token expired");
    expect_fail_tok(make_token(HS256, "{\"role\":\"service_role\",\"exp\":-1}", SECRET),
                    "token expired");
    expect_fail_tok(make_token(HS256, "{\"role\":\"service_role\",\"exp\":\"1900000000\"}", SECRET),
                    "exp");
    expect_fail_tok(make_token(HS256, "{\"role\":\"service_role\",\"exp\":null}", SECRET), "exp");
    expect_fail_tok(make_token(HS256, "{\"role\":\"service_role\",\"exp\":NaN}", SECRET), "exp");
    expect_fail_tok(make_token(HS256, "{\"role\":\"service_role\",\"exp\":1e999}", SECRET), "exp");
    expect_fail_tok(make_token(HS256,
                               "{\"role\":\"service_role\",\"nbf\":1700000100,\"exp\":1900000000}",
                               SECRET),
                    "not yet valid");
    expect_fail_tok(make_token(HS256, "{\"role\":\"service_role\",\"nbf\":true}", SECRET), "nbf");
    /* nbf == now and fractional exp in the future are fine */
    char *t = make_token(
        HS256, "{\"role\":\"service_role\",\"nbf\":1700000000,\"exp\":1700000000.5}", SECRET);
    struct jwt_claims c;
    char err[128];
    CHECK(t && verify(t, &c, err, sizeof(err)) == 0 && jwt_is_admin(&c));
    free(t);
}

TEST(exp_required_and_leeway)
{
    /* no exp at all: refused (SPEC 1.3 "unexpired"; a token must expire) */
    expect_fail_tok(make_token(HS256, "{\"role\":\"service_role\"}", SECRET), "exp claim missing");
    expect_fail_tok(make_token(HS256, "{\"role\":\"service_role\",\"nbf\":1600000000}", SECRET),
                    "exp claim missing");
    struct jwt_claims c;
    char err[128];
    /* exp up to 60 s in the past is still accepted (clock skew leeway) */
    char *t = make_token(HS256, "{\"role\":\"service_role\",\"exp\":1699999941}", SECRET);
    CHECK(t && verify(t, &c, err, sizeof(err)) == 0 && c.has_exp && jwt_is_admin(&c));
    free(t);
    /* ... but not 60 s or more */
    expect_fail_tok(make_token(HS256, "{\"role\":\"service_role\",\"exp\":1699999940}", SECRET),
                    "token expired");
    /* nbf up to 60 s in the future is accepted, beyond is not */
    t = make_token(HS256, "{\"role\":\"service_role\",\"nbf\":1700000060,\"exp\":1900000000}",
                   SECRET);
    CHECK(t && verify(t, &c, err, sizeof(err)) == 0);
    free(t);
    expect_fail_tok(make_token(HS256,
                               "{\"role\":\"service_role\",\"nbf\":1700000061,\"exp\":1900000000}",
                               SECRET),
                    "not yet valid");
}

TEST(wrong_secret)
{
    expect_fail_tok(
        make_token(HS256, "{\"role\":\"service_role\",\"exp\":1900000000}", "another-secret"),
        "bad signature");
    /* empty / missing secret on our side */
    char *t = make_token(HS256, "{\"role\":\"service_role\",\"exp\":1900000000}", "");
    struct jwt_claims c;
    char err[128] = "";
    REQUIRE(t);
    CHECK(jwt_verify_hs256(t, strlen(t), "", 0, NOW, &c, err, sizeof(err)) == -1);
    CHECK_EQ_INT(jwt_verify_hs256(t, strlen(t), NULL, 5, NOW, &c, err, sizeof(err)), -1);
    CHECK(strstr(err, "secret") != NULL);
    free(t);
    /* the secret is used as bytes, with its length: a prefix of it is wrong */
    t = make_token(HS256, "{\"role\":\"service_role\",\"exp\":1900000000}", SECRET);
    REQUIRE(t);
    CHECK(jwt_verify_hs256(t, strlen(t), SECRET, strlen(SECRET) - 1, NOW, &c, err, sizeof(err)) ==
          -1);
    CHECK_EQ_INT(jwt_verify_hs256(t, strlen(t), SECRET, strlen(SECRET), NOW, &c, err, sizeof(err)),
                 0);
    /* no out buffer */
    CHECK(jwt_verify_hs256(t, strlen(t), SECRET, strlen(SECRET), NOW, NULL, err, sizeof(err)) ==
          -1);
    /* NULL err buffer is fine */
    CHECK(jwt_verify_hs256("x", 1, SECRET, strlen(SECRET), NOW, &c, NULL, 0) == -1);
    free(t);
}

TEST(alg_confusion)
{
    const char *pl = "{\"role\":\"service_role\",\"exp\":1900000000}";
    /* alg none, with and without a signature */
    expect_fail_tok(make_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", pl, NULL), "HS256");
    expect_fail_tok(make_token("{\"alg\":\"none\"}", pl, SECRET), "HS256");
    expect_fail_tok(make_token("{\"alg\":\"None\"}", pl, SECRET), "HS256");
    expect_fail_tok(make_token("{\"alg\":\"HS512\"}", pl, SECRET), "HS256");
    expect_fail_tok(make_token("{\"alg\":\"HS384\"}", pl, SECRET), "HS256");
    expect_fail_tok(make_token("{\"alg\":\"RS256\"}", pl, SECRET), "HS256");
    expect_fail_tok(make_token("{\"alg\":\"hs256\"}", pl, SECRET), "HS256");
    expect_fail_tok(make_token("{\"alg\":\"HS256 \"}", pl, SECRET), "HS256");
    expect_fail_tok(make_token("{\"alg\":\"HS256\\u0000\"}", pl, SECRET), "HS256");
    expect_fail_tok(make_token("{\"typ\":\"JWT\"}", pl, SECRET), "HS256");
    expect_fail_tok(make_token("{\"alg\":null}", pl, SECRET), "HS256");
    expect_fail_tok(make_token("{\"alg\":[\"HS256\"]}", pl, SECRET), "HS256");
    expect_fail_tok(make_token("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", pl, SECRET), "crit");
    expect_fail_tok(make_token("{\"alg\":\"HS256\",\"typ\":7}", pl, SECRET), "typ");
    /* "none" token with an empty signature part, by hand */
    char *t = make_token("{\"alg\":\"none\"}", pl, NULL);
    REQUIRE(t);
    CHECK(t[strlen(t) - 1] == '.');
    expect_fail(t, strlen(t), NULL);
    free(t);
    /* HS256 header but empty signature */
    t = make_token(HS256, pl, NULL);
    expect_fail_tok(t, "signature");
}

TEST(tampered)
{
    char *good = make_token(HS256, "{\"role\":\"authenticated\",\"exp\":1900000000}", SECRET);
    char *evil = make_token(HS256, "{\"role\":\"service_role\",\"exp\":1900000000}", SECRET);
    REQUIRE(good && evil);
    /* splice evil payload with good signature */
    char *d1g = strchr(good, '.'), *d2g = strchr(d1g + 1, '.');
    char *d1e = strchr(evil, '.'), *d2e = strchr(d1e + 1, '.');
    char buf[1024];
    snprintf(buf, sizeof(buf), "%.*s%s", (int)(d2e - evil), evil, d2g);
    expect_fail(buf, strlen(buf), "bad signature");
    /* flip one signature character */
    snprintf(buf, sizeof(buf), "%s", good);
    char *last = buf + strlen(buf) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    expect_fail(buf, strlen(buf), "signature");
    /* flip a payload character */
    snprintf(buf, sizeof(buf), "%s", good);
    buf[(d1g - good) + 3] ^= 1;
    expect_fail(buf, strlen(buf), NULL);
    /* signature truncated / extended */
    snprintf(buf, sizeof(buf), "%.*s", (int)strlen(good) - 4, good);
    expect_fail(buf, strlen(buf), NULL);
    snprintf(buf, sizeof(buf), "%sAAAA", good);
    expect_fail(buf, strlen(buf), "signature");
    /* non-canonical last signature character (43 chars: low 2 bits must be zero) */
    snprintf(buf, sizeof(buf), "%s", good);
    CHECK_EQ_SIZE(strlen(d2g + 1), 43);
    char *lc = buf + strlen(buf) - 1;
    /* find a sibling char that decodes to the same bytes */
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *pos = strchr(tbl, *lc);
    REQUIRE(pos);
    *lc = tbl[(pos - tbl) | 1];
    expect_fail(buf, strlen(buf), "base64url");
    /* padded signature */
    snprintf(buf, sizeof(buf), "%s=", good);
    expect_fail(buf, strlen(buf), "base64url");
    /* the good one passes, as a control */
    struct jwt_claims c;
    char err[128];
    CHECK_EQ_INT(verify(good, &c, err, sizeof(err)), 0);
    free(good);
    free(evil);
}

TEST(malformed)
{
    char *good = make_token(HS256, "{\"role\":\"service_role\",\"exp\":1900000000}", SECRET);
    REQUIRE(good);
    char buf[2048];
    expect_fail("", 0, "empty");
    expect_fail(NULL, 10, NULL);
    expect_fail("abc", 3, "3 parts");
    /* 2 parts */
    char *d2 = strrchr(good, '.');
    snprintf(buf, sizeof(buf), "%.*s", (int)(d2 - good), good);
    expect_fail(buf, strlen(buf), "3 parts");
    /* 4 parts */
    snprintf(buf, sizeof(buf), "%s.", good);
    expect_fail(buf, strlen(buf), "too many parts");
    snprintf(buf, sizeof(buf), "%s.abc", good);
    expect_fail(buf, strlen(buf), "too many parts");
    expect_fail("..", 2, NULL);
    expect_fail("...", 3, NULL);
    /* invalid base64url characters */
    snprintf(buf, sizeof(buf), "%s", good);
    buf[2] = '+';
    expect_fail(buf, strlen(buf), "base64url");
    snprintf(buf, sizeof(buf), "%s", good);
    buf[2] = '/';
    expect_fail(buf, strlen(buf), "base64url");
    snprintf(buf, sizeof(buf), " %s", good);
    expect_fail(buf, strlen(buf), "base64url");
    snprintf(buf, sizeof(buf), "%s\n", good);
    expect_fail(buf, strlen(buf), "base64url");
    /* header length 1 mod 4 */
    snprintf(buf, sizeof(buf), "A%s", good);
    expect_fail(buf, strlen(buf), NULL);
    /* padded header */
    char *t = make_token("{\"alg\":\"HS256\"} ", "{}", SECRET); /* 16 bytes: needs padding */
    REQUIRE(t);
    char *d1 = strchr(t, '.');
    snprintf(buf, sizeof(buf), "%.*s==%s", (int)(d1 - t), t, d1);
    expect_fail(buf, strlen(buf), "base64url");
    free(t);
    /* non-JSON header / payload */
    expect_fail_tok(make_token("not json", "{}", SECRET), "header");
    expect_fail_tok(make_token("[\"HS256\"]", "{}", SECRET), "header");
    expect_fail_tok(make_token("\"alg\"", "{}", SECRET), "header");
    expect_fail_tok(make_token("{\"alg\":\"HS256\"}garbage", "{}", SECRET), "header");
    expect_fail_tok(make_token("{\"alg\":\"HS256\"", "{}", SECRET), "header");
    expect_fail_tok(make_token(HS256, "not json", SECRET), "payload");
    expect_fail_tok(make_token(HS256, "[1,2]", SECRET), "payload");
    expect_fail_tok(make_token(HS256, "", SECRET), "payload");
    expect_fail_tok(make_token(HS256, "{\"role\":\"service_role\"} {}", SECRET), "payload");
    expect_fail_tok(make_token(HS256, "{\"role\":\"\xff\xfe\"}", SECRET), "payload");
    free(good);
}

TEST(embedded_nul)
{
    char *good = make_token(HS256, "{\"role\":\"service_role\",\"exp\":1900000000}", SECRET);
    REQUIRE(good);
    size_t n = strlen(good);
    char buf[1024];
    /* NUL inside the token bytes, length covers it */
    memcpy(buf, good, n + 1);
    buf[5] = '\0';
    expect_fail(buf, n, "NUL");
    /* valid token followed by NUL + garbage, length covering all */
    memcpy(buf, good, n);
    buf[n] = '\0';
    memcpy(buf + n + 1, "xyz", 3);
    expect_fail(buf, n + 4, "NUL");
    /* a raw NUL inside the decoded payload JSON */
    static const char pl[] = "{\"role\":\"service_role\"}\0{\"role\":\"x\"}";
    expect_fail_tok(make_token_n(HS256, strlen(HS256), pl, sizeof(pl) - 1, SECRET), "payload");
    static const char pl2[] = "{\"role\":\"service\0_role\"}";
    expect_fail_tok(make_token_n(HS256, strlen(HS256), pl2, sizeof(pl2) - 1, SECRET), "payload");
    /* the length is honoured: a token passed with a shorter length fails */
    expect_fail(good, n - 1, NULL);
    free(good);
}

TEST(huge_and_deep)
{
    /* huge token */
    size_t n = 1 << 20;
    char *big = malloc(n);
    REQUIRE(big);
    memset(big, 'A', n);
    big[100] = '.';
    big[200] = '.';
    expect_fail(big, n, "too long");
    expect_fail(big, JWT_MAX_TOKEN + 1, "too long");
    free(big);

    /* a big but valid-size payload: a long sub is refused as a claim, not a crash */
    char sub[600];
    memset(sub, 'x', sizeof(sub));
    char pl[800];
    snprintf(pl, sizeof(pl), "{\"sub\":\"%.*s\",\"role\":\"service_role\"}", (int)sizeof(sub), sub);
    expect_fail_tok(make_token(HS256, pl, SECRET), "sub");
    char role[100];
    memset(role, 'r', sizeof(role));
    snprintf(pl, sizeof(pl), "{\"role\":\"%.*s\"}", (int)sizeof(role), role);
    expect_fail_tok(make_token(HS256, pl, SECRET), "role");

    /* payload just over the token limit once encoded */
    size_t pn = JWT_MAX_TOKEN;
    char *p = malloc(pn + 64);
    REQUIRE(p);
    int o = snprintf(p, pn + 64, "{\"role\":\"service_role\",\"pad\":\"");
    memset(p + o, 'p', pn - (size_t)o - 2);
    memcpy(p + pn - 2, "\"}", 3);
    expect_fail_tok(make_token(HS256, p, SECRET), "too long");
    free(p);

    /* deeply nested payload (signed correctly) */
    size_t depth = 1000;
    char *deep = malloc(depth * 6 + 64);
    REQUIRE(deep);
    size_t k = 0;
    k += (size_t)snprintf(deep, 64, "{\"role\":\"service_role\",\"a\":");
    for (size_t i = 0; i < depth; i++)
        deep[k++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = '\0';
    expect_fail_tok(make_token(HS256, deep, SECRET), "payload");
    /* 20 deep is also over JWT_MAX_DEPTH */
    k = (size_t)snprintf(deep, 64, "{\"role\":\"service_role\",\"a\":");
    for (size_t i = 0; i < 20; i++)
        deep[k++] = '[';
    for (size_t i = 0; i < 20; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = '\0';
    expect_fail_tok(make_token(HS256, deep, SECRET), "payload");
    free(deep);
    /* deep header */
    expect_fail_tok(make_token("{\"alg\":\"HS256\",\"x\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}",
                               "{}", SECRET),
                    "header");
}

TEST(secret_equal)
{
    const char *k = "sb_secret_0123456789abcdef0123456789abcdef";
    size_t kl = strlen(k);
    CHECK_EQ_INT(jwt_secret_equal(k, kl, k, kl), 1);
    char copy[64];
    memcpy(copy, k, kl + 1);
    CHECK_EQ_INT(jwt_secret_equal(copy, kl, k, kl), 1);
    copy[0] ^= 1;
    CHECK_EQ_INT(jwt_secret_equal(copy, kl, k, kl), 0);
    copy[0] ^= 1;
    copy[kl - 1] ^= 1;
    CHECK_EQ_INT(jwt_secret_equal(copy, kl, k, kl), 0);
    copy[kl - 1] ^= 1;
    /* prefixes and extensions */
    CHECK_EQ_INT(jwt_secret_equal(k, kl - 1, k, kl), 0);
    CHECK_EQ_INT(jwt_secret_equal(k, kl, k, kl - 1), 0);
    CHECK_EQ_INT(jwt_secret_equal(k, 1, k, kl), 0);
    /* embedded NUL counts as content */
    char a[8] = {'a', 'b', '\0', 'c'}, b[8] = {'a', 'b', '\0', 'd'};
    CHECK_EQ_INT(jwt_secret_equal(a, 4, b, 4), 0);
    CHECK_EQ_INT(jwt_secret_equal(a, 4, a, 4), 1);
    /* empty or NULL never matches, not even itself */
    CHECK(jwt_secret_equal("", 0, "", 0) == 0);
    CHECK_EQ_INT(jwt_secret_equal(NULL, 0, NULL, 0), 0);
    CHECK_EQ_INT(jwt_secret_equal(k, kl, NULL, kl), 0);
    CHECK(jwt_secret_equal(k, kl, "", 0) == 0);
    /* long inputs */
    size_t n = 100000;
    char *x = malloc(n), *y = malloc(n);
    REQUIRE(x && y);
    memset(x, 'q', n);
    memset(y, 'q', n);
    CHECK_EQ_INT(jwt_secret_equal(x, n, y, n), 1);
    y[n / 2] = 'r';
    CHECK_EQ_INT(jwt_secret_equal(x, n, y, n), 0);
    free(x);
    free(y);
}

int main(void)
{
    RUN(valid_service_role);
    RUN(valid_admin_app_metadata);
    RUN(not_admin);
    RUN(expired_and_nbf);
    RUN(exp_required_and_leeway);
    RUN(wrong_secret);
    RUN(alg_confusion);
    RUN(tampered);
    RUN(malformed);
    RUN(embedded_nul);
    RUN(huge_and_deep);
    RUN(secret_equal);
    T_END("jwt");
}
