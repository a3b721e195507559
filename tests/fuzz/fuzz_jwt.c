/*
 * jwt_verify_hs256() with a fixed secret. The first byte picks how the rest
 * of the input becomes a token, so that the payload checks (reached only
 * after a good signature) are fuzzed too:
 *   byte0 % 3 == 0: the rest is the token, as is;
 *   byte0 % 3 == 1: the rest is "<header JSON>\n<payload JSON>": both are
 *                   base64url-encoded and the token is signed with the secret;
 *   byte0 % 3 == 2: the rest is "<b64 header>.<b64 payload>", signed.
 * Bits of byte0 above also vary "now" and the error buffer size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz_util.h"
#include "jwt.h"

static const char SECRET[] = "fuzz-secret-0123456789abcdef";

static size_t b64url(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
    }
    return o;
}

/* tok holds "<h>.<p>" (hp bytes); append ".<sig>" */
static size_t sign(char *tok, size_t hp)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)tok, hp, mac,
              &maclen))
        abort();
    tok[hp] = '.';
    return hp + 1 + b64url(mac, maclen, tok + hp + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const uint8_t *rest = data + 1;
    size_t rn = size - 1;
    /* room for base64 growth + a signature */
    char *tok = malloc(rn * 2 + 128);
    if (!tok)
        abort();
    size_t len = 0;

    switch (mode % 3) {
    case 0:
        memcpy(tok, rest, rn);
        len = rn;
        break;
    case 1: {
        const uint8_t *nl = memchr(rest, '\n', rn);
        size_t hn = nl ? (size_t)(nl - rest) : rn;
        size_t pn = nl ? rn - hn - 1 : 0;
        len = b64url(rest, hn, tok);
        tok[len++] = '.';
        len += b64url(nl ? nl + 1 : rest + rn, pn, tok + len);
        len = sign(tok, len);
        break;
    }
    default:
        memcpy(tok, rest, rn);
        len = sign(tok, rn);
        break;
    }

    /* exact-size copy: any read past len is caught */
    char *exact = fuzz_exact((const uint8_t *)tok, len);
    free(tok);

    static const time_t nows[4] = {1725898646, 0, -1, 4102444800};
    time_t now = nows[(mode >> 2) & 3];
    char err[96];
    size_t errlen = (mode & 0x10) ? 1 : sizeof(err);
    struct jwt_claims c;
    if (jwt_verify_hs256(exact, len, SECRET, strlen(SECRET), now, &c, err, errlen) == 0) {
        if (!memchr(c.role, '\0', sizeof(c.role)) || !memchr(c.sub, '\0', sizeof(c.sub)) ||
            !memchr(c.app_role, '\0', sizeof(c.app_role)))
            abort();
        if (c.has_exp && !(c.exp > (double)now))
            abort();
        jwt_is_admin(&c);
    } else {
        fuzz_check_err(err, errlen);
        static const struct jwt_claims zero;
        if (memcmp(&c, &zero, sizeof(c)) != 0)
            abort();
    }
    /* wrong secret: must never verify a token we signed with SECRET */
    if ((mode % 3) != 0 && jwt_verify_hs256(exact, len, "x", 1, now, &c, NULL, 0) == 0)
        abort();
    /* the secret comparison helper on two halves of the input */
    jwt_secret_equal((const char *)rest, rn / 2, (const char *)rest + rn / 2, rn - rn / 2);
    free(exact);
    return 0;
}
