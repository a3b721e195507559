#include <string.h>

#include "b64.h"
#include "t.h"

/* decode NUL-terminated s; the decoded bytes as a string in out, or NULL */
static const char *dec(enum b64_alphabet a, const char *s, char *out, size_t cap)
{
    size_t n = 0;
    if (cap == 0 || b64_decode(a, s, strlen(s), (unsigned char *)out, cap - 1, &n) != 0)
        return NULL;
    out[n] = '\0';
    return out;
}

TEST(std_good)
{
    char b[64];
    CHECK_EQ_STR(dec(B64_STD, "", b, sizeof(b)), "");
    CHECK_EQ_STR(dec(B64_STD, "Zg==", b, sizeof(b)), "f");
    CHECK_EQ_STR(dec(B64_STD, "Zm8=", b, sizeof(b)), "fo");
    CHECK_EQ_STR(dec(B64_STD, "Zm9v", b, sizeof(b)), "foo");
    CHECK_EQ_STR(dec(B64_STD, "Zm9vYg==", b, sizeof(b)), "foob");
    CHECK_EQ_STR(dec(B64_STD, "Zm9vYmE=", b, sizeof(b)), "fooba");
    CHECK_EQ_STR(dec(B64_STD, "Zm9vYmFy", b, sizeof(b)), "foobar");
    unsigned char raw[3];
    size_t n = 0;
    CHECK_EQ_INT(b64_decode(B64_STD, "+/8=", 4, raw, sizeof(raw), &n), 0);
    CHECK_EQ_SIZE(n, 2);
    CHECK_EQ_INT(raw[0], 0xfb);
    CHECK_EQ_INT(raw[1], 0xff);
}

TEST(std_bad)
{
    char b[64];
    static const char *const bads[] = {
        "Zg",       /* no padding */
        "Zg=",      /* short padding */
        "Zg===",    /* too much */
        "Z===",     /* three pads */
        "====",     /* only padding */
        "Zm9v=",    /* length not a multiple of 4 */
        "Zh==",     /* unused bits set: not canonical */
        "Zm9=",     /* unused bits set */
        "Zg==Zg==", /* padding in the middle */
        "Z=g=",     /* data after '=' */
        "Zm 9v",    /* whitespace */
        "Zm9v\n",   /* newline */
        "Zm9-",     /* url alphabet */
        "Zm9_",     /* url alphabet */
        "Zm9*",     /* not base64 */
        "Zm9\x80",  /* non-ASCII */
    };
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        if (dec(B64_STD, bads[i], b, sizeof(b)) != NULL) {
            fprintf(stderr, "  accepted: \"%s\"\n", bads[i]);
            t_failed_checks++;
        }
    }
    /* a NUL inside */
    unsigned char raw[8];
    size_t n = 0;
    CHECK_EQ_INT(b64_decode(B64_STD, "Zm\0v", 4, raw, sizeof(raw), &n), -1);
}

TEST(url_good_and_bad)
{
    char b[64];
    CHECK_EQ_STR(dec(B64_URL, "", b, sizeof(b)), "");
    CHECK_EQ_STR(dec(B64_URL, "Zg", b, sizeof(b)), "f");
    CHECK_EQ_STR(dec(B64_URL, "Zm8", b, sizeof(b)), "fo");
    CHECK_EQ_STR(dec(B64_URL, "Zm9vYmFy", b, sizeof(b)), "foobar");
    unsigned char raw[3];
    size_t n = 0;
    CHECK_EQ_INT(b64_decode(B64_URL, "-_8", 3, raw, sizeof(raw), &n), 0);
    CHECK_EQ_SIZE(n, 2);
    CHECK_EQ_INT(raw[0], 0xfb);
    CHECK_EQ_INT(raw[1], 0xff);
    CHECK(dec(B64_URL, "Zg==", b, sizeof(b)) == NULL);  /* padding */
    CHECK(dec(B64_URL, "Zm8=", b, sizeof(b)) == NULL);  /* padding */
    CHECK(dec(B64_URL, "Zm9vY", b, sizeof(b)) == NULL); /* 1 mod 4: truncated */
    CHECK(dec(B64_URL, "Z", b, sizeof(b)) == NULL);
    CHECK(dec(B64_URL, "Zh", b, sizeof(b)) == NULL);   /* unused bits */
    CHECK(dec(B64_URL, "Zm9", b, sizeof(b)) == NULL);  /* unused bits */
    CHECK(dec(B64_URL, "+/8", b, sizeof(b)) == NULL);  /* std alphabet */
    CHECK(dec(B64_URL, "Zm 9", b, sizeof(b)) == NULL); /* whitespace */
}

TEST(capacity_and_values)
{
    unsigned char raw[8];
    size_t n = 99;
    CHECK_EQ_INT(b64_decode(B64_STD, "Zm9vYmFy", 8, raw, 5, &n), -1); /* needs 6 */
    CHECK_EQ_INT(b64_decode(B64_STD, "Zm9vYmFy", 8, raw, 6, &n), 0);
    CHECK_EQ_SIZE(n, 6);
    CHECK_EQ_INT(b64_decode(B64_URL, "Zm9vYmE", 7, raw, 4, &n), -1); /* needs 5 */
    CHECK(b64_decoded_max(8) >= 6);
    CHECK(b64_decoded_max(7) >= 5);
    CHECK_EQ_INT(b64_value(B64_STD, '+'), 62);
    CHECK_EQ_INT(b64_value(B64_URL, '+'), -1);
    CHECK_EQ_INT(b64_value(B64_URL, '_'), 63);
    CHECK_EQ_INT(b64_value(B64_STD, '='), -1);
}

int main(void)
{
    RUN(std_good);
    RUN(std_bad);
    RUN(url_good_and_bad);
    RUN(capacity_and_values);
    T_END("b64");
}
