#include "arn.h"

#include "errbuf.h"

#include <string.h>

static int is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(char c)
{
    return is_lower(c) || is_digit(c) || (c >= 'A' && c <= 'Z');
}

int aws_region_valid(const char *s, size_t n)
{
    size_t i = 0;
    if (!s || n < 6 || n > ARN_REGION_MAX)
        return 0;
    if (!is_lower(s[0]) || !is_lower(s[1]))
        return 0;
    i = 2;
    int words = 0;
    for (;;) {
        if (i >= n || s[i] != '-')
            return 0;
        i++;
        if (i < n && is_lower(s[i])) {
            while (i < n && is_lower(s[i]))
                i++;
            words++;
            continue;
        }
        break;
    }
    if (words < 1)
        return 0;
    size_t digits = 0;
    while (i < n && is_digit(s[i])) {
        i++;
        digits++;
    }
    return i == n && digits >= 1 && digits <= 2;
}

static int partition_region_ok(const char *part, const char *region)
{
    int cn = strncmp(region, "cn-", 3) == 0;
    int gov = strncmp(region, "us-gov-", 7) == 0;
    if (strcmp(part, "aws") == 0)
        return !cn && !gov;
    if (strcmp(part, "aws-cn") == 0)
        return cn;
    if (strcmp(part, "aws-us-gov") == 0)
        return gov;
    return 0;
}

/* Copy field [s, s+n) into dst (size cap incl. NUL); 0 when it does not fit. */
static int copy_field(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return 0;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 1;
}

int arn_parse_channel(const char *arn, struct arn_channel *out, char *err, size_t errlen)
{
    struct arn_channel c;
    const char *msg = "invalid channel ARN";
    memset(&c, 0, sizeof(c));
    if (out)
        memset(out, 0, sizeof(*out));
    if (!arn || !out) {
        msg = "channel ARN missing";
        goto fail;
    }
    size_t len = strnlen(arn, ARN_MAX_LEN + 1);
    if (len == 0) {
        msg = "channel ARN empty";
        goto fail;
    }
    if (len > ARN_MAX_LEN) {
        msg = "channel ARN too long";
        goto fail;
    }
    memcpy(c.arn, arn, len);
    c.arn[len] = '\0';

    if (strncmp(arn, "arn:", 4) != 0) {
        msg = "channel ARN must start with arn:";
        goto fail;
    }
    const char *p = arn + 4, *end = arn + len;

    /* partition */
    const char *q = memchr(p, ':', (size_t)(end - p));
    if (!q || !copy_field(c.partition, sizeof(c.partition), p, (size_t)(q - p)) ||
        (strcmp(c.partition, "aws") != 0 && strcmp(c.partition, "aws-cn") != 0 &&
         strcmp(c.partition, "aws-us-gov") != 0)) {
        msg = "channel ARN partition invalid";
        goto fail;
    }
    p = q + 1;

    /* service */
    if ((size_t)(end - p) < 4 || memcmp(p, "ivs:", 4) != 0) {
        msg = "channel ARN service is not ivs";
        goto fail;
    }
    p += 4;

    /* region */
    q = memchr(p, ':', (size_t)(end - p));
    if (!q || !aws_region_valid(p, (size_t)(q - p)) ||
        !copy_field(c.region, sizeof(c.region), p, (size_t)(q - p))) {
        msg = "channel ARN region invalid";
        goto fail;
    }
    if (!partition_region_ok(c.partition, c.region)) {
        msg = "channel ARN region not in partition";
        goto fail;
    }
    p = q + 1;

    /* account */
    q = memchr(p, ':', (size_t)(end - p));
    if (!q || q - p != ARN_ACCOUNT_LEN) {
        msg = "channel ARN account invalid";
        goto fail;
    }
    for (const char *r = p; r < q; r++) {
        if (!is_digit(*r)) {
            msg = "channel ARN account invalid";
            goto fail;
        }
    }
    copy_field(c.account, sizeof(c.account), p, ARN_ACCOUNT_LEN);
    p = q + 1;

    /* resource */
    if ((size_t)(end - p) < 8 || memcmp(p, "channel/", 8) != 0) {
        msg = "ARN resource is not a channel";
        goto fail;
    }
    p += 8;
    size_t idlen = (size_t)(end - p);
    if (idlen == 0 || idlen > ARN_CHANNEL_ID_MAX) {
        msg = "channel ARN id invalid";
        goto fail;
    }
    for (const char *r = p; r < end; r++) {
        if (!is_alnum(*r)) {
            msg = "channel ARN id invalid";
            goto fail;
        }
    }
    copy_field(c.id, sizeof(c.id), p, idlen);

    *out = c;
    return 0;
fail:
    errbuf_set(err, errlen, "%s", msg);
    return -1;
}

int arn_sns_topic_valid(const char *s, size_t n)
{
    static const char *const parts[] = {"arn:aws:sns:", "arn:aws-cn:sns:", "arn:aws-us-gov:sns:"};
    size_t pl = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && !pl; i++)
        if (n > strlen(parts[i]) && !memcmp(s, parts[i], strlen(parts[i])))
            pl = strlen(parts[i]);
    if (!pl)
        return 0;
    const char *r = s + pl, *end = s + n;
    const char *c = memchr(r, ':', (size_t)(end - r));
    if (!c || !aws_region_valid(r, (size_t)(c - r)))
        return 0;
    const char *a = c + 1;
    for (int i = 0; i < 12; i++)
        if (a + i >= end || !is_digit(a[i]))
            return 0;
    if (a + 12 >= end || a[12] != ':')
        return 0;
    const char *name = a + 13;
    size_t nl = (size_t)(end - name);
    if (nl > 5 && !memcmp(end - 5, ".fifo", 5))
        nl -= 5;
    if (nl < 1 || nl > 256)
        return 0;
    for (size_t i = 0; i < nl; i++)
        if (!is_alnum(name[i]) && name[i] != '_' && name[i] != '-')
            return 0;
    return 1;
}
