#include "clock.h"
#include "ratelimit.h"

#include <event2/event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#define DEFAULT_MARGIN_US 50000
#define DEFAULT_QUEUE     10000
#define WINDOW_US         1000000

struct ratelimit_waiter {
    enum ratelimit_class cls;
    int64_t deadline; /* 0 = none */
    ratelimit_cb cb;
    void *arg;
    TAILQ_ENTRY(ratelimit_waiter) link;
};

struct queue {
    TAILQ_HEAD(ratelimit_waiters, ratelimit_waiter) waiters;
    int n;
};

struct ratelimit {
    struct event_base *base;
    struct event *timer;
    double rps;
    int max_inflight;
    int max_queue[RATELIMIT_CLASSES];
    int64_t (*clock)(void *);
    void *clock_arg;

    /* sliding-window log of the last k starts */
    int k;
    int64_t window_us;
    int64_t *starts;
    int nstarts, first;

    /* token bucket */
    double tokens, capacity;
    int64_t refilled_at;

    int inflight;
    struct queue q[RATELIMIT_CLASSES];
    int turn;
};

static int64_t mono_us(void *arg)
{
    (void)arg;
    return clock_mono_us();
}

static void kick(struct ratelimit *rl)
{
    if (rl->base) {
        struct timeval tv = {0, 0};
        evtimer_add(rl->timer, &tv);
    }
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ratelimit_poll(arg);
}

struct ratelimit *ratelimit_new(struct event_base *base, const struct ratelimit_opts *o)
{
    if (!o || !(o->rps > 0) || o->rps > 1000 || o->max_inflight < 1)
        return NULL;
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->base = base;
    rl->rps = o->rps;
    rl->max_inflight = o->max_inflight;
    for (int i = 0; i < RATELIMIT_CLASSES; i++) {
        rl->max_queue[i] = o->max_queue[i] > 0 ? o->max_queue[i] : DEFAULT_QUEUE;
        TAILQ_INIT(&rl->q[i].waiters);
    }
    rl->clock = o->clock ? o->clock : mono_us;
    rl->clock_arg = o->clock_arg;
    rl->k = (int)ceil(o->rps - 1e-9);
    if (rl->k < 1)
        rl->k = 1;
    rl->window_us =
        WINDOW_US + (o->window_margin_us >= 0 ? o->window_margin_us : DEFAULT_MARGIN_US);
    rl->starts = calloc((size_t)rl->k, sizeof(int64_t));
    if (!rl->starts)
        goto fail;
    rl->capacity = rl->k;
    rl->tokens = rl->capacity;
    rl->refilled_at = rl->clock(rl->clock_arg);
    if (base) {
        rl->timer = evtimer_new(base, timer_cb, rl);
        if (!rl->timer)
            goto fail;
    }
    return rl;
fail:
    free(rl->starts);
    free(rl);
    return NULL;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < RATELIMIT_CLASSES; i++) {
        struct ratelimit_waiter *w;
        while ((w = TAILQ_FIRST(&rl->q[i].waiters))) {
            TAILQ_REMOVE(&rl->q[i].waiters, w, link);
            free(w);
        }
    }
    if (rl->timer)
        event_free(rl->timer);
    free(rl->starts);
    free(rl);
}

static void unlink_waiter(struct ratelimit *rl, struct ratelimit_waiter *w)
{
    struct queue *q = &rl->q[w->cls];
    TAILQ_REMOVE(&q->waiters, w, link);
    q->n--;
}

int ratelimit_acquire(struct ratelimit *rl, enum ratelimit_class cls, int64_t max_wait_us,
                      ratelimit_cb cb, void *arg, struct ratelimit_waiter **out)
{
    if (out)
        *out = NULL;
    if (!rl || !cb || (cls != RATELIMIT_BACKGROUND && cls != RATELIMIT_INTERACTIVE))
        return -1;
    struct queue *q = &rl->q[cls];
    if (q->n >= rl->max_queue[cls])
        return -1;
    struct ratelimit_waiter *w = calloc(1, sizeof(*w));
    if (!w)
        return -1;
    w->cls = cls;
    w->cb = cb;
    w->arg = arg;
    w->deadline = max_wait_us > 0 ? rl->clock(rl->clock_arg) + max_wait_us : 0;
    TAILQ_INSERT_TAIL(&q->waiters, w, link);
    q->n++;
    if (out)
        *out = w;
    kick(rl);
    return 0;
}

void ratelimit_cancel(struct ratelimit *rl, struct ratelimit_waiter *w)
{
    if (!rl || !w)
        return;
    unlink_waiter(rl, w);
    free(w);
    kick(rl);
}

void ratelimit_release(struct ratelimit *rl)
{
    if (!rl)
        return;
    if (rl->inflight > 0)
        rl->inflight--;
    kick(rl);
}

static void refill(struct ratelimit *rl, int64_t now)
{
    if (now > rl->refilled_at) {
        rl->tokens += (double)(now - rl->refilled_at) * rl->rps / 1e6;
        if (rl->tokens > rl->capacity)
            rl->tokens = rl->capacity;
    }
    rl->refilled_at = now;
}

/* µs until a start is allowed by rate (0 = now); ignores the in-flight cap. */
static int64_t rate_wait(struct ratelimit *rl, int64_t now)
{
    int64_t w = 0;
    if (rl->tokens < 1.0) {
        w = (int64_t)ceil((1.0 - rl->tokens) * 1e6 / rl->rps);
        if (w < 1)
            w = 1;
    }
    if (rl->nstarts >= rl->k) {
        int64_t oldest = rl->starts[rl->first];
        int64_t ww = oldest + rl->window_us - now;
        if (ww > w)
            w = ww;
    }
    return w;
}

static void record_start(struct ratelimit *rl, int64_t now)
{
    rl->tokens -= 1.0;
    if (rl->nstarts < rl->k) {
        rl->starts[(rl->first + rl->nstarts) % rl->k] = now;
        rl->nstarts++;
    } else {
        rl->starts[rl->first] = now;
        rl->first = (rl->first + 1) % rl->k;
    }
    rl->inflight++;
}

static struct ratelimit_waiter *first_expired(struct ratelimit *rl, int64_t now)
{
    struct ratelimit_waiter *w;
    for (int c = 0; c < RATELIMIT_CLASSES; c++)
        for (w = TAILQ_FIRST(&rl->q[c].waiters); w; w = TAILQ_NEXT(w, link))
            if (w->deadline && now >= w->deadline)
                return w;
    return NULL;
}

int64_t ratelimit_poll(struct ratelimit *rl)
{
    if (!rl)
        return -1;
    int64_t now = rl->clock(rl->clock_arg);
    struct ratelimit_waiter *w;

    /* Deadlines first: a waiter past its deadline is never granted. */
    while ((w = first_expired(rl, now))) {
        unlink_waiter(rl, w);
        ratelimit_cb cb = w->cb;
        void *arg = w->arg;
        free(w);
        cb(0, "waited too long", arg);
        now = rl->clock(rl->clock_arg);
    }

    for (;;) {
        refill(rl, now);
        if (rl->q[0].n + rl->q[1].n == 0 || rl->inflight >= rl->max_inflight ||
            rate_wait(rl, now) > 0)
            break;
        int c = rl->q[rl->turn].n ? rl->turn : 1 - rl->turn;
        w = TAILQ_FIRST(&rl->q[c].waiters);
        unlink_waiter(rl, w);
        rl->turn = 1 - c;
        record_start(rl, now);
        ratelimit_cb cb = w->cb;
        void *arg = w->arg;
        free(w);
        cb(1, NULL, arg);
        now = rl->clock(rl->clock_arg);
    }

    int64_t next = -1;
    if (rl->q[0].n + rl->q[1].n > 0) {
        if (rl->inflight < rl->max_inflight)
            next = rate_wait(rl, now);
        for (int c = 0; c < RATELIMIT_CLASSES; c++)
            for (w = TAILQ_FIRST(&rl->q[c].waiters); w; w = TAILQ_NEXT(w, link))
                if (w->deadline) {
                    int64_t d = w->deadline - now;
                    if (d < 0)
                        d = 0;
                    if (next < 0 || d < next)
                        next = d;
                }
    }
    if (rl->base) {
        if (next >= 0) {
            struct timeval tv = {.tv_sec = next / 1000000, .tv_usec = next % 1000000};
            evtimer_add(rl->timer, &tv);
        } else {
            evtimer_del(rl->timer);
        }
    }
    return next;
}

int ratelimit_waiting(const struct ratelimit *rl)
{
    return rl ? rl->q[0].n + rl->q[1].n : 0;
}

int ratelimit_inflight(const struct ratelimit *rl)
{
    return rl ? rl->inflight : 0;
}

double ratelimit_retry_after(const struct ratelimit *rl, enum ratelimit_class cls)
{
    if (!rl)
        return 1;
    int other = rl->q[1 - cls].n;
    int mine = rl->q[cls].n;
    int ahead = mine + (other < mine + 1 ? other : mine + 1);
    double s = (ahead + 1) / rl->rps;
    return s < 1 ? 1 : ceil(s);
}
