#include "b64.h"

int b64_value(enum b64_alphabet a, unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (a == B64_URL ? '-' : '+'))
        return 62;
    if (c == (a == B64_URL ? '_' : '/'))
        return 63;
    return -1;
}

size_t b64_decoded_max(size_t n)
{
    return n / 4 * 3 + 2;
}

int b64_decode(enum b64_alphabet a, const char *in, size_t n, unsigned char *out, size_t cap,
               size_t *outlen)
{
    if (a == B64_STD) {
        /* padded: whole quads; drop at most two final '=' */
        if (n % 4 != 0)
            return -1;
        for (int pad = 0; pad < 2 && n > 0 && in[n - 1] == '='; pad++)
            n--;
    }
    size_t rem = n % 4;
    size_t need = n / 4 * 3 + (rem == 2 ? 1 : rem == 3 ? 2 : 0);
    if (rem == 1 || need > cap)
        return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(a, (unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-canonical: unused bits set */
        return -1;
    *outlen = o;
    return 0;
}
