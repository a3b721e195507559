/* Small helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c). */
#ifndef IVS_FUZZ_UTIL_H
#define IVS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* data[0..size) as a malloc'd NUL-terminated string (stops at an inner NUL when used as one). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* An exact-size heap copy, so ASan sees any read past the end (no NUL added). */
static inline char *fuzz_exact(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    return s;
}

/* The error buffers must always come back NUL-terminated and in bounds. */
static inline void fuzz_check_err(const char *err, size_t cap)
{
    if (!memchr(err, '\0', cap))
        abort();
}

#endif
