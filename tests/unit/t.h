/*
 * t.h: a tiny unit-test harness. Each test file defines tests with TEST(name)
 * and lists them in main via RUN(name); T_END prints "N passed, N failed" and
 * returns the exit status. CHECK() records a failure and goes on; REQUIRE()
 * returns from the test. Comparisons print both values when they fail:
 * CHECK_EQ_INT (any integer type, as long long), CHECK_EQ_SIZE (size_t),
 * CHECK_EQ_STR (C strings; CHECK_STR is the same).
 */
#ifndef IVS_T_H
#define IVS_T_H

#include <stdio.h>
#include <string.h>

static int t_failed_checks __attribute__((unused));
static int t_passed __attribute__((unused)), t_failed __attribute__((unused));

#define TEST(name) static void name(void)
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);             \
            t_failed_checks++;                                                                     \
        }                                                                                          \
    } while (0)
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond);           \
            t_failed_checks++;                                                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long t_a = (long long)(a), t_b = (long long)(b);                                      \
        if (t_a != t_b) {                                                                          \
            fprintf(stderr, "  %s:%d: CHECK_EQ_INT(%s, %s) failed: %lld != %lld\n", __FILE__,      \
                    __LINE__, #a, #b, t_a, t_b);                                                   \
            t_failed_checks++;                                                                     \
        }                                                                                          \
    } while (0)
#define CHECK_EQ_SIZE(a, b)                                                                        \
    do {                                                                                           \
        size_t t_a = (size_t)(a), t_b = (size_t)(b);                                               \
        if (t_a != t_b) {                                                                          \
            fprintf(stderr, "  %s:%d: CHECK_EQ_SIZE(%s, %s) failed: %zu != %zu\n", __FILE__,       \
                    __LINE__, #a, #b, t_a, t_b);                                                   \
            t_failed_checks++;                                                                     \
        }                                                                                          \
    } while (0)
#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *t_a = (a), *t_b = (b);                                                         \
        if (!t_a || !t_b || strcmp(t_a, t_b) != 0) {                                               \
            fprintf(stderr, "  %s:%d: CHECK_EQ_STR(%s, %s) failed: \"%s\" != \"%s\"\n", __FILE__,  \
                    __LINE__, #a, #b, t_a ? t_a : "(null)", t_b ? t_b : "(null)");                 \
            t_failed_checks++;                                                                     \
        }                                                                                          \
    } while (0)
#define CHECK_STR(a, b) CHECK_EQ_STR(a, b)
#define RUN(name)                                                                                  \
    do {                                                                                           \
        int t_before = t_failed_checks;                                                            \
        name();                                                                                    \
        if (t_failed_checks == t_before) {                                                         \
            t_passed++;                                                                            \
        } else {                                                                                   \
            t_failed++;                                                                            \
            fprintf(stderr, "FAIL %s\n", #name);                                                   \
        }                                                                                          \
    } while (0)
#define T_END(suite)                                                                               \
    do {                                                                                           \
        printf("%s: %d passed, %d failed\n", suite, t_passed, t_failed);                           \
        return t_failed ? 1 : 0;                                                                   \
    } while (0)

/* Read a whole file into a NUL-terminated malloc'd buffer; NULL on error. */
char *t_read_file(const char *path, size_t *len);

#endif
