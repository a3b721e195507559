#include <stdint.h>
#include <string.h>

#include "iso8601.h"
#include "t.h"

/* parse NUL-terminated s with flags; -2 sentinel so a failed parse is visible */
static int64_t us_of(const char *s, unsigned flags)
{
    int64_t us = -2;
    if (iso8601_parse(s, strlen(s), flags, &us) != 0)
        return -1;
    return us;
}

static int bad(const char *s, unsigned flags)
{
    int64_t us = 42;
    return iso8601_parse(s, strlen(s), flags, &us) == -1 && us == 42;
}

TEST(epoch_and_known_values)
{
    CHECK_EQ_INT(us_of("1970-01-01T00:00:00Z", ISO8601_UTC), 0);
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26Z", ISO8601_UTC), 1725898646000000LL);
    CHECK_EQ_INT(us_of("1969-12-31T23:59:59Z", ISO8601_UTC), -1000000LL);
    CHECK_EQ_INT(us_of("0001-01-01T00:00:00Z", ISO8601_UTC), -62135596800000000LL);
    CHECK_EQ_INT(us_of("9999-12-31T23:59:59Z", ISO8601_UTC), 253402300799000000LL);
    CHECK_EQ_INT(us_of("2038-01-19T03:14:08Z", ISO8601_UTC), 2147483648000000LL);
}

TEST(leap_years)
{
    CHECK_EQ_INT(iso8601_leap_year(2000), 1);
    CHECK_EQ_INT(iso8601_leap_year(2024), 1);
    CHECK_EQ_INT(iso8601_leap_year(1900), 0);
    CHECK_EQ_INT(iso8601_leap_year(2100), 0);
    CHECK_EQ_INT(iso8601_leap_year(2023), 0);
    CHECK_EQ_INT(us_of("2000-02-29T00:00:00Z", ISO8601_UTC), 951782400000000LL);
    CHECK_EQ_INT(us_of("2024-02-29T00:00:00Z", ISO8601_UTC), 1709164800000000LL);
    CHECK_EQ_INT(us_of("2024-03-01T00:00:00Z", ISO8601_UTC), 1709251200000000LL);
    CHECK(bad("1900-02-29T00:00:00Z", ISO8601_UTC));
    CHECK(bad("2100-02-29T00:00:00Z", ISO8601_UTC));
    CHECK(bad("2023-02-29T00:00:00Z", ISO8601_UTC));
    CHECK(bad("2024-02-30T00:00:00Z", ISO8601_UTC));
    CHECK(bad("2000-02-30T00:00:00Z", ISO8601_RFC3339));
    CHECK_EQ_INT(us_of("2100-02-28T23:59:59Z", ISO8601_UTC) + 1000000,
                 us_of("2100-03-01T00:00:00Z", ISO8601_UTC));
    CHECK_EQ_INT(us_of("1900-03-01T00:00:00Z", ISO8601_UTC) -
                     us_of("1900-02-28T00:00:00Z", ISO8601_UTC),
                 86400000000LL);
    /* days_from_civil directly */
    CHECK_EQ_INT(iso8601_days_from_civil(1970, 1, 1), 0);
    CHECK_EQ_INT(iso8601_days_from_civil(2000, 3, 1), 11017);
    CHECK_EQ_INT(iso8601_days_from_civil(1969, 12, 31), -1);
}

TEST(fractions)
{
    const int64_t base = 1725898646000000LL;
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26.5Z", ISO8601_UTC), base + 500000);
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26.12Z", ISO8601_UTC), base + 120000);
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26.123Z", ISO8601_UTC), base + 123000);
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26.1234Z", ISO8601_UTC), base + 123400);
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26.12345Z", ISO8601_UTC), base + 123450);
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26.123456Z", ISO8601_UTC), base + 123456);
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26.1234567Z", ISO8601_UTC), base + 123456);
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26.12345678Z", ISO8601_UTC), base + 123456);
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26.123456789Z", ISO8601_UTC), base + 123456);
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26.999999999Z", ISO8601_UTC), base + 999999);
    CHECK_EQ_INT(us_of("1969-12-31T23:59:59.5Z", ISO8601_UTC), -500000);
    CHECK(bad("2024-09-09T16:17:26.1234567890Z", ISO8601_UTC)); /* 10 digits */
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26.123456789012Z", ISO8601_RFC3339), base + 123456);
    CHECK(bad("2024-09-09T16:17:26.1234567890123Z", ISO8601_RFC3339));
    CHECK(bad("2024-09-09T16:17:26.Z", ISO8601_UTC));
    CHECK(bad("2024-09-09T16:17:26.Z", ISO8601_RFC3339));
    CHECK(bad("2024-09-09T16:17:26,5Z", ISO8601_UTC));
    CHECK(bad("2024-09-09T16:17:26.5.5Z", ISO8601_UTC));
}

TEST(offsets)
{
    const int64_t base = 1725898646000000LL;
    CHECK_EQ_INT(us_of("2024-09-09T18:17:26+02:00", ISO8601_RFC3339), base);
    CHECK_EQ_INT(us_of("2024-09-09T14:17:26-02:00", ISO8601_RFC3339), base);
    CHECK_EQ_INT(us_of("2024-09-09T16:17:26+00:00", ISO8601_RFC3339), base);
    CHECK_EQ_INT(us_of("2024-09-09T21:47:26.25+05:30", ISO8601_RFC3339), base + 250000);
    CHECK_EQ_INT(us_of("2024-09-10T00:17:26+08:00", ISO8601_RFC3339), base); /* day before */
    CHECK_EQ_INT(us_of("2024-09-09t16:17:26z", ISO8601_RFC3339), base);
    CHECK_EQ_INT(us_of("2016-12-31T23:59:60Z", ISO8601_RFC3339),
                 us_of("2016-12-31T23:59:59Z", ISO8601_UTC));
    /* the strict form takes none of these */
    CHECK(bad("2024-09-09T18:17:26+02:00", ISO8601_UTC));
    CHECK(bad("2024-09-09t16:17:26Z", ISO8601_UTC));
    CHECK(bad("2024-09-09T16:17:26z", ISO8601_UTC));
    CHECK(bad("2016-12-31T23:59:60Z", ISO8601_UTC));
    /* malformed offsets */
    CHECK(bad("2024-09-09T18:17:26+24:00", ISO8601_RFC3339));
    CHECK(bad("2024-09-09T18:17:26+02:60", ISO8601_RFC3339));
    CHECK(bad("2024-09-09T18:17:26+0200", ISO8601_RFC3339));
    CHECK(bad("2024-09-09T18:17:26+02", ISO8601_RFC3339));
    CHECK(bad("2024-09-09T18:17:26+02:0", ISO8601_RFC3339));
    CHECK(bad("2024-09-09T18:17:26+02:00Z", ISO8601_RFC3339));
    CHECK(bad("2024-09-09T18:17:26 +02:00", ISO8601_RFC3339));
    CHECK(bad("2024-09-09T18:17:26Z+02:00", ISO8601_RFC3339));
    CHECK(bad("2024-09-09T18:17:26.5+02:00x", ISO8601_RFC3339));
}

TEST(bad_input)
{
    static const char *const bads[] = {
        "",
        "2024",
        "2024-09-09",
        "2024-09-09T16:17:26",   /* no Z */
        "2024-09-09T16:17:26Zx", /* trailing garbage */
        "2024-09-09T16:17:26Z ",
        " 2024-09-09T16:17:26Z",
        "2024-09-09T16:17:2Z", /* truncated */
        "2024-09-09T16:17Z",
        "2024-9-9T16:17:26Z",
        "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-32T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-09-09T24:00:00Z",
        "2024-09-09T23:60:00Z",
        "2024-09-09T23:59:61Z",
        "0000-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z", /* huge year */
        "99999-12-31T23:59:59Z",
        "+2024-09-09T16:17:26Z",
        "-2024-09-09T16:17:26Z",
        "2024-09-09 16:17:26Z",
        "2024/09/09T16:17:26Z",
        "2024-09-09T16-17-26Z",
        "2024-09-09T16:17:26ZZ",
        "2O24-09-09T16:17:26Z",
        "2024-09-09T16:17:+6Z",
    };
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        if (!bad(bads[i], ISO8601_UTC) || !bad(bads[i], ISO8601_RFC3339)) {
            fprintf(stderr, "  accepted: \"%s\"\n", bads[i]);
            t_failed_checks++;
        }
    }
    int64_t us = 7;
    CHECK_EQ_INT(iso8601_parse(NULL, 20, ISO8601_UTC, &us), -1);
    /* the length bounds the string: no read past n, a NUL inside is an error */
    const char *s = "2024-09-09T16:17:26Z";
    CHECK_EQ_INT(iso8601_parse(s, 19, ISO8601_UTC, &us), -1);
    CHECK_EQ_INT(iso8601_parse("2024-09-09T16:17:26.5Z", 21, ISO8601_UTC, &us), -1);
    CHECK_EQ_INT(iso8601_parse("2024-09-09T16:17:26Z\0", 21, ISO8601_UTC, &us), -1);
    CHECK_EQ_INT(iso8601_parse("2024-09-09T16:17:26.\0Z", 22, ISO8601_UTC, &us), -1);
    CHECK_EQ_INT(us, 7);
}

int main(void)
{
    RUN(epoch_and_known_values);
    RUN(leap_years);
    RUN(fractions);
    RUN(offsets);
    RUN(bad_input);
    T_END("iso8601");
}
