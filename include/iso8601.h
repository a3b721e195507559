/*
 * iso8601: strict parsing of the UTC timestamps the inputs carry (SNS
 * "Timestamp", EventBridge "time", credential "Expiration", IVS "startTime").
 *
 *   YYYY-MM-DDTHH:MM:SS[.f]Z     f: 1 to 9 digits
 *
 * Years 0001-9999 of the proleptic Gregorian calendar; real dates only (no
 * month 13, no Feb 29 outside leap years, no hour 24); nothing before or after.
 * Digits beyond the sixth fraction digit are read and dropped (truncated).
 *
 * Pure: no allocation, no global state, no time zone database.
 */
#ifndef IVS_ISO8601_H
#define IVS_ISO8601_H

#include <stddef.h>
#include <stdint.h>

enum iso8601_flags {
    ISO8601_UTC = 0, /* exactly the form above, upper-case 'T' and 'Z' */
    /*
     * RFC 3339 date-time as AWS credential endpoints and APIs write it: also
     * 't' and 'z', a numeric offset "+hh:mm" / "-hh:mm" instead of 'Z', up to
     * 12 fraction digits, and a leap second ":60" (read as :59).
     */
    ISO8601_RFC3339 = 1 << 0,
};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
int64_t iso8601_days_from_civil(int64_t y, unsigned m, unsigned d);

/* 1 when y is a Gregorian leap year. */
int iso8601_leap_year(int64_t y);

/*
 * Parse s[0..n) (no NUL needed; a NUL inside is an error) with the rules of
 * flags. Returns 0 and *us (microseconds since 1970-01-01T00:00:00Z, negative
 * before it), or -1 and *us untouched. s NULL is an error.
 */
int iso8601_parse(const char *s, size_t n, unsigned flags, int64_t *us);

#endif
