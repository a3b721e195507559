#include "iso8601.h"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* n decimal digits at s[0..n) -> *v; 0 when one is not a digit */
static int digits(const char *s, int n, int *v)
{
    int r = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
        r = r * 10 + (s[i] - '0');
    }
    *v = r;
    return 1;
}

int iso8601_leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int64_t iso8601_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int iso8601_parse(const char *s, size_t n, unsigned flags, int64_t *us)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const int rfc = (flags & ISO8601_RFC3339) != 0;
    int y, mo, d, h, mi, se;

    if (!s || n < 20)
        return -1;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || !(s[10] == 'T' || (rfc && s[10] == 't')) ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &se))
        return -1;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > (rfc ? 60 : 59))
        return -1;
    if (d > mdays[mo - 1] + (mo == 2 && iso8601_leap_year(y)))
        return -1;
    if (se == 60)
        se = 59; /* a leap second: read as the second before it */

    size_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < n && is_digit(s[i])) {
            if (i - start < 6)
                frac = frac * 10 + (s[i] - '0');
            i++;
        }
        size_t nd = i - start;
        if (nd < 1 || nd > (rfc ? 12u : 9u))
            return -1;
        for (size_t k = nd; k < 6; k++)
            frac *= 10;
    }

    int64_t off = 0;
    if (i < n && (s[i] == 'Z' || (rfc && s[i] == 'z'))) {
        i++;
    } else if (rfc && i < n && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (n - i < 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = (s[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
        i += 6;
    } else {
        return -1;
    }
    if (i != n)
        return -1;

    int64_t secs = iso8601_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
                   mi * 60 + se - off;
    *us = secs * 1000000 + frac;
    return 0;
}
