/*
 * clock: the project's two clocks, read in one place.
 * Monotonic time measures intervals and deadlines (never jumps);
 * real (wall) time is what events, certificates and the database compare.
 */
#ifndef IVS_CLOCK_H
#define IVS_CLOCK_H

#include <stdint.h>

/* Monotonic seconds (CLOCK_MONOTONIC), for deadlines and durations. */
double clock_mono(void);
/* Monotonic microseconds. */
int64_t clock_mono_us(void);
/* Wall-clock microseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_real_us(void);
/* Wall-clock seconds since the Unix epoch, with fractions. */
double clock_real(void);

#endif
