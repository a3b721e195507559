/*
 * ratelimit: the start-rate limit and in-flight cap every IVS call passes.
 *
 * A call may start when (1) a token bucket (rate rps, capacity ceil(rps)) has
 * a token, (2) fewer than ceil(rps) calls started in the last 1 s + margin
 * (a sliding-window log, so no 1-second window ever sees more than ceil(rps)
 * starts, even with some network jitter), and (3) fewer than max_inflight
 * granted calls are not yet released.
 *
 * Waiters queue FIFO per class; when both classes wait they are served
 * alternately. Each waiter has a deadline; past it its callback gets
 * ok = 0, "waited too long". Queues are bounded (acquire refuses).
 *
 * Callbacks never run inside ratelimit_acquire(); they run from the loop (or
 * from ratelimit_poll() when built without an event base, as unit tests do).
 */
#ifndef IVS_RATELIMIT_H
#define IVS_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ratelimit;
struct ratelimit_waiter;

enum ratelimit_class {
    RATELIMIT_BACKGROUND = 0,  /* the reconciler */
    RATELIMIT_INTERACTIVE = 1, /* sync API, targeted checks, command line */
};
#define RATELIMIT_CLASSES 2

struct ratelimit_opts {
    double rps;                       /* > 0; at most 1000 */
    int max_inflight;                 /* >= 1 */
    int max_queue[RATELIMIT_CLASSES]; /* per class; 0 = 10000 */
    int64_t window_margin_us;         /* added to the 1 s window; < 0 = default 50 ms */
    /* monotonic clock in µs; NULL = CLOCK_MONOTONIC */
    int64_t (*clock)(void *clock_arg);
    void *clock_arg;
};

/*
 * ok = 1: a slot was granted; the caller must call ratelimit_release() once
 * the call is over. ok = 0: err says why ("waited too long"). The waiter
 * handle is freed before the callback runs.
 */
typedef void (*ratelimit_cb)(int ok, const char *err, void *arg);

/* base may be NULL: then nothing runs until ratelimit_poll() is called. */
struct ratelimit *ratelimit_new(struct event_base *base, const struct ratelimit_opts *opts);
/* Drops waiters without calling them. NULL ok. */
void ratelimit_free(struct ratelimit *rl);

/*
 * Queue a request for a slot. max_wait_us: deadline from now (0 = none).
 * Returns 0 when queued (cb runs later; *out, if out is not NULL, gets a
 * handle valid until cb runs or it is cancelled), -1 when the class's queue
 * is full (cb will not run).
 */
int ratelimit_acquire(struct ratelimit *rl, enum ratelimit_class cls, int64_t max_wait_us,
                      ratelimit_cb cb, void *arg, struct ratelimit_waiter **out);
/* Remove a queued waiter without calling it. */
void ratelimit_cancel(struct ratelimit *rl, struct ratelimit_waiter *w);
/* Give back a granted slot. */
void ratelimit_release(struct ratelimit *rl);

/*
 * Expire deadlines and grant what can be granted now (calls callbacks).
 * Returns µs until the next poll is useful, or -1 when nothing waits. Called
 * by the internal timer; unit tests with a fake clock call it directly.
 */
int64_t ratelimit_poll(struct ratelimit *rl);

int ratelimit_waiting(const struct ratelimit *rl); /* both classes */
int ratelimit_inflight(const struct ratelimit *rl);
/* Estimated seconds until a new waiter of that class could start (for Retry-After). */
double ratelimit_retry_after(const struct ratelimit *rl, enum ratelimit_class cls);

#endif
