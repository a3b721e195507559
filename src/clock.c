/* clock: see clock.h. */
#include "clock.h"

#include <time.h>

static struct timespec clock_read(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts;
}

double clock_mono(void)
{
    struct timespec ts = clock_read(CLOCK_MONOTONIC);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t clock_mono_us(void)
{
    struct timespec ts = clock_read(CLOCK_MONOTONIC);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_real_us(void)
{
    struct timespec ts = clock_read(CLOCK_REALTIME);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double clock_real(void)
{
    struct timespec ts = clock_read(CLOCK_REALTIME);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
