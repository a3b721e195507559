/* Unit tests for ratelimit, driven by a fake clock and ratelimit_poll(). */
#include <stdint.h>
#include <stdlib.h>

#include "ratelimit.h"
#include "t.h"

struct fake_clock {
    int64_t now;
};

static int64_t fake_now(void *arg)
{
    return ((struct fake_clock *)arg)->now;
}

#define MAXLOG 4096

struct log {
    int n;
    int64_t at[MAXLOG];
    int tag[MAXLOG];
    int ok[MAXLOG];
    struct fake_clock *clk;
    struct ratelimit *rl;
    int release_at_once; /* release the slot inside the callback */
};

struct waiter_arg {
    struct log *log;
    int tag;
};

static void cb(int ok, const char *err, void *arg)
{
    struct waiter_arg *w = arg;
    struct log *l = w->log;
    if (l->n < MAXLOG) {
        l->at[l->n] = l->clk->now;
        l->tag[l->n] = w->tag;
        l->ok[l->n] = ok;
        l->n++;
    }
    if (!ok)
        CHECK(err != NULL && strcmp(err, "waited too long") == 0);
    if (ok && l->release_at_once)
        ratelimit_release(l->rl);
}

static struct ratelimit *mk(struct fake_clock *clk, double rps, int inflight, int qmax)
{
    struct ratelimit_opts o = {
        .rps = rps,
        .max_inflight = inflight,
        .max_queue = {qmax, qmax},
        .window_margin_us = 0,
        .clock = fake_now,
        .clock_arg = clk,
    };
    return ratelimit_new(NULL, &o);
}

/* Run the fake clock forward, polling whenever the limiter asks, until idle or until end. */
static void run_until(struct ratelimit *rl, struct fake_clock *clk, int64_t end)
{
    for (int guard = 0; guard < 100000; guard++) {
        int64_t next = ratelimit_poll(rl);
        if (next < 0 || clk->now + next > end)
            return;
        clk->now += next > 0 ? next : 1;
    }
}

static int max_in_window(const struct log *l, int64_t window)
{
    int best = 0;
    for (int i = 0; i < l->n; i++) {
        if (!l->ok[i])
            continue;
        int c = 0;
        for (int j = i; j < l->n; j++)
            if (l->ok[j] && l->at[j] - l->at[i] < window)
                c++;
        if (c > best)
            best = c;
    }
    return best;
}

static void sliding_window_case(double rps, int expect_max)
{
    struct fake_clock clk = {.now = 1000000};
    struct ratelimit *rl = mk(&clk, rps, 1000, 1000);
    static struct log l;
    memset(&l, 0, sizeof(l));
    l.clk = &clk;
    l.rl = rl;
    l.release_at_once = 1;
    static struct waiter_arg wa[200];
    for (int i = 0; i < 200; i++) {
        wa[i].log = &l;
        wa[i].tag = i;
        REQUIRE(ratelimit_acquire(rl, RATELIMIT_BACKGROUND, 0, cb, &wa[i], NULL) == 0);
    }
    run_until(rl, &clk, INT64_MAX);
    CHECK_EQ_INT(l.n, 200);
    int m = max_in_window(&l, 1000000);
    if (m > expect_max)
        fprintf(stderr, "  rps %.2f: %d starts in one second (max %d)\n", rps, m, expect_max);
    CHECK(m <= expect_max);
    /* Long-run rate does not exceed rps. */
    double span = (double)(l.at[l.n - 1] - l.at[0]) / 1e6;
    CHECK((l.n - expect_max) / span <= rps + 1e-6);
    /* FIFO within one class */
    for (int i = 0; i < l.n; i++)
        CHECK(l.tag[i] == i);
    ratelimit_free(rl);
}

TEST(window_integer_rate)
{
    sliding_window_case(3, 3);
    sliding_window_case(4, 4);
    sliding_window_case(1, 1);
}

TEST(window_fractional_rate)
{
    sliding_window_case(2.5, 3);
    sliding_window_case(0.5, 1);
}

TEST(burst_then_wait)
{
    struct fake_clock clk = {.now = 0};
    struct ratelimit *rl = mk(&clk, 4, 100, 100);
    static struct log l;
    memset(&l, 0, sizeof(l));
    l.clk = &clk;
    l.rl = rl;
    l.release_at_once = 1;
    struct waiter_arg wa[6];
    for (int i = 0; i < 6; i++) {
        wa[i] = (struct waiter_arg){&l, i};
        ratelimit_acquire(rl, RATELIMIT_INTERACTIVE, 0, cb, &wa[i], NULL);
    }
    CHECK_EQ_INT(l.n, 0); /* never inside acquire */
    int64_t next = ratelimit_poll(rl);
    CHECK_EQ_INT(l.n, 4); /* a burst of ceil(rps) */
    CHECK(next >= 999000 && next <= 1000000);
    clk.now += next;
    ratelimit_poll(rl);
    CHECK(l.n >= 5);
    ratelimit_free(rl);
}

TEST(inflight_cap)
{
    struct fake_clock clk = {.now = 0};
    struct ratelimit *rl = mk(&clk, 1000, 2, 100);
    static struct log l;
    memset(&l, 0, sizeof(l));
    l.clk = &clk;
    l.rl = rl;
    struct waiter_arg wa[5];
    for (int i = 0; i < 5; i++) {
        wa[i] = (struct waiter_arg){&l, i};
        ratelimit_acquire(rl, RATELIMIT_BACKGROUND, 0, cb, &wa[i], NULL);
    }
    CHECK_EQ_INT(ratelimit_poll(rl), -1); /* blocked by in-flight only: wait for release */
    CHECK_EQ_INT(l.n, 2);
    CHECK_EQ_INT(ratelimit_inflight(rl), 2);
    CHECK_EQ_INT(ratelimit_waiting(rl), 3);
    clk.now += 10000;
    ratelimit_poll(rl);
    CHECK_EQ_INT(l.n, 2);
    ratelimit_release(rl);
    clk.now += 1000;
    ratelimit_poll(rl);
    CHECK_EQ_INT(l.n, 3);
    CHECK_EQ_INT(ratelimit_inflight(rl), 2);
    ratelimit_free(rl);
}

TEST(deadline_waited_too_long)
{
    struct fake_clock clk = {.now = 0};
    struct ratelimit *rl = mk(&clk, 1, 100, 100);
    static struct log l;
    memset(&l, 0, sizeof(l));
    l.clk = &clk;
    l.rl = rl;
    l.release_at_once = 1;
    struct waiter_arg wa[3];
    for (int i = 0; i < 3; i++) {
        wa[i] = (struct waiter_arg){&l, i};
        ratelimit_acquire(rl, RATELIMIT_INTERACTIVE, 500000, cb, &wa[i], NULL);
    }
    int64_t next = ratelimit_poll(rl);
    REQUIRE(l.n == 1);
    CHECK_EQ_INT(l.ok[0], 1);
    CHECK_EQ_INT(next, 500000); /* the deadline comes before the next token */
    clk.now += next;
    ratelimit_poll(rl);
    REQUIRE(l.n == 3);
    CHECK(l.ok[1] == 0 && l.ok[2] == 0);
    CHECK_EQ_INT(ratelimit_waiting(rl), 0);
    CHECK(ratelimit_retry_after(rl, RATELIMIT_INTERACTIVE) >= 1);
    ratelimit_free(rl);
}

TEST(queue_bound)
{
    struct fake_clock clk = {.now = 0};
    struct ratelimit *rl = mk(&clk, 1, 1, 2);
    struct log l;
    memset(&l, 0, sizeof(l));
    l.clk = &clk;
    struct waiter_arg wa = {&l, 0};
    CHECK_EQ_INT(ratelimit_acquire(rl, RATELIMIT_BACKGROUND, 0, cb, &wa, NULL), 0);
    CHECK_EQ_INT(ratelimit_acquire(rl, RATELIMIT_BACKGROUND, 0, cb, &wa, NULL), 0);
    CHECK_EQ_INT(ratelimit_acquire(rl, RATELIMIT_BACKGROUND, 0, cb, &wa, NULL), -1);
    /* the other class has its own bound */
    CHECK_EQ_INT(ratelimit_acquire(rl, RATELIMIT_INTERACTIVE, 0, cb, &wa, NULL), 0);
    ratelimit_free(rl); /* drops waiters without calling them */
    CHECK_EQ_INT(l.n, 0);
}

TEST(classes_alternate)
{
    struct fake_clock clk = {.now = 0};
    struct ratelimit *rl = mk(&clk, 10, 100, 100);
    static struct log l;
    memset(&l, 0, sizeof(l));
    l.clk = &clk;
    l.rl = rl;
    l.release_at_once = 1;
    static struct waiter_arg wa[20];
    for (int i = 0; i < 10; i++) { /* background first, all queued before interactive */
        wa[i] = (struct waiter_arg){&l, 100 + i};
        ratelimit_acquire(rl, RATELIMIT_BACKGROUND, 0, cb, &wa[i], NULL);
    }
    for (int i = 0; i < 10; i++) {
        wa[10 + i] = (struct waiter_arg){&l, 200 + i};
        ratelimit_acquire(rl, RATELIMIT_INTERACTIVE, 0, cb, &wa[10 + i], NULL);
    }
    run_until(rl, &clk, INT64_MAX);
    REQUIRE(l.n == 20);
    for (int i = 0; i + 1 < 20; i++)
        CHECK(l.tag[i] / 100 != l.tag[i + 1] / 100); /* strictly alternating */
    int nb = 0, ni = 0;
    for (int i = 0; i < 20; i++) {
        if (l.tag[i] / 100 == 1)
            CHECK(l.tag[i] == 100 + nb++);
        else
            CHECK(l.tag[i] == 200 + ni++);
    }
    ratelimit_free(rl);
}

TEST(cancel_waiter)
{
    struct fake_clock clk = {.now = 0};
    struct ratelimit *rl = mk(&clk, 1, 1, 10);
    struct log l;
    memset(&l, 0, sizeof(l));
    l.clk = &clk;
    l.rl = rl;
    struct waiter_arg a = {&l, 1}, b = {&l, 2};
    struct ratelimit_waiter *wa = NULL, *wb = NULL;
    ratelimit_acquire(rl, RATELIMIT_BACKGROUND, 0, cb, &a, &wa);
    ratelimit_acquire(rl, RATELIMIT_BACKGROUND, 0, cb, &b, &wb);
    CHECK(wa && wb);
    ratelimit_cancel(rl, wa);
    ratelimit_poll(rl);
    REQUIRE(l.n == 1);
    CHECK_EQ_INT(l.tag[0], 2);
    ratelimit_release(rl);
    CHECK_EQ_INT(ratelimit_inflight(rl), 0);
    ratelimit_free(rl);
}

TEST(bad_options)
{
    struct ratelimit_opts o = {.rps = 0, .max_inflight = 1};
    CHECK(ratelimit_new(NULL, &o) == NULL);
    o.rps = 1;
    o.max_inflight = 0;
    CHECK(ratelimit_new(NULL, &o) == NULL);
    CHECK(ratelimit_new(NULL, NULL) == NULL);
}

int main(void)
{
    RUN(window_integer_rate);
    RUN(window_fractional_rate);
    RUN(burst_then_wait);
    RUN(inflight_cap);
    RUN(deadline_waited_too_long);
    RUN(queue_bound);
    RUN(classes_alternate);
    RUN(cancel_waiter);
    RUN(bad_options);
    T_END("ratelimit");
}
