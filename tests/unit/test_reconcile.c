/* reconcile's pass planning: channels grouped by region, strategy and its fallback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "t.h"

#define A_USE1 "arn:aws:ivs:us-east-1:123456789012:channel/aaaa"
#define B_USE1 "arn:aws:ivs:us-east-1:123456789012:channel/bbbb"
#define C_EUW1 "arn:aws:ivs:eu-west-1:123456789012:channel/cccc"
#define D_USW2 "arn:aws:ivs:us-west-2:123456789012:channel/dddd"

TEST(groups_by_region)
{
    /* shows in id order: two regions interleaved, a duplicate channel, bad ARNs */
    const char *arns[] = {B_USE1, C_EUW1, "not-an-arn", A_USE1, B_USE1, NULL, D_USW2, C_EUW1};
    struct reconcile_plan pl;
    REQUIRE(reconcile_plan_build(&pl, arns, sizeof(arns) / sizeof(arns[0])) == 0);
    /* unique, valid, sorted by ARN */
    REQUIRE(pl.nchans == 4);
    CHECK_STR(pl.chans[0].arn, C_EUW1);
    CHECK_STR(pl.chans[1].arn, A_USE1);
    CHECK_STR(pl.chans[2].arn, B_USE1);
    CHECK_STR(pl.chans[3].arn, D_USW2);
    /* one sweep per region, in order of first appearance among the shows */
    REQUIRE(pl.nregions == 3);
    CHECK_STR(pl.regions[0], "us-east-1");
    CHECK_STR(pl.regions[1], "eu-west-1");
    CHECK_STR(pl.regions[2], "us-west-2");
    CHECK(pl.chans[0].region == 1);
    CHECK(pl.chans[1].region == 0);
    CHECK(pl.chans[2].region == 0);
    CHECK(pl.chans[3].region == 2);
    /* each show finds its channel; a malformed ARN finds none */
    CHECK(reconcile_plan_find(&pl, B_USE1) == 2);
    CHECK(reconcile_plan_find(&pl, C_EUW1) == 0);
    CHECK(reconcile_plan_find(&pl, "not-an-arn") == -1);
    CHECK(reconcile_plan_find(&pl, "arn:aws:ivs:us-east-1:123456789012:channel/zzzz") == -1);
    reconcile_plan_free(&pl);
    CHECK(pl.chans == NULL && pl.nchans == 0 && pl.nregions == 0);
}

TEST(empty_and_all_bad)
{
    struct reconcile_plan pl;
    REQUIRE(reconcile_plan_build(&pl, NULL, 0) == 0);
    CHECK(pl.nchans == 0 && pl.nregions == 0);
    reconcile_plan_free(&pl);
    const char *bad[] = {"", "arn:aws:ivs:us-east-1:123456789012:stream-key/x",
                         "arn:aws:s3:us-east-1:123456789012:channel/x"};
    REQUIRE(reconcile_plan_build(&pl, bad, 3) == 0);
    CHECK(pl.nchans == 0 && pl.nregions == 0);
    reconcile_plan_free(&pl);
}

TEST(one_region_many_channels)
{
    enum { N = 300 };
    static char buf[N][80];
    const char *arns[N];
    for (int i = 0; i < N; i++) {
        /* reversed and each twice over the array's halves: sorting and merging matter */
        snprintf(buf[i], sizeof(buf[i]), "arn:aws:ivs:eu-central-1:123456789012:channel/c%03d",
                 (N - 1 - i) % (N / 2));
        arns[i] = buf[i];
    }
    struct reconcile_plan pl;
    REQUIRE(reconcile_plan_build(&pl, arns, N) == 0);
    CHECK(pl.nchans == N / 2);
    CHECK(pl.nregions == 1);
    CHECK_STR(pl.regions[0], "eu-central-1");
    int sorted = 1;
    for (size_t i = 1; i < pl.nchans; i++)
        sorted &= strcmp(pl.chans[i - 1].arn, pl.chans[i].arn) < 0;
    CHECK(sorted);
    reconcile_plan_free(&pl);
}

TEST(strategy)
{
    /* list: always ListStreams; get: never; auto: ListStreams until it was denied */
    CHECK(reconcile_use_list(RECONCILE_LIST, 0) == 1);
    CHECK(reconcile_use_list(RECONCILE_LIST, 1) == 1);
    CHECK(reconcile_use_list(RECONCILE_GET, 0) == 0);
    CHECK(reconcile_use_list(RECONCILE_GET, 1) == 0);
    CHECK(reconcile_use_list(RECONCILE_AUTO, 0) == 1);
    CHECK(reconcile_use_list(RECONCILE_AUTO, 1) == 0);
}

TEST(fallback_list_to_get)
{
    /* auto + ListStreams denied on its first page: GetStream per channel */
    CHECK(reconcile_list_fallback(RECONCILE_AUTO, 0, IVS_ERR_ACCESS_DENIED, 1) == 1);
    CHECK(reconcile_list_fallback(RECONCILE_AUTO, 0, IVS_ERR_ACCESS_DENIED, 0) == 1);
    /* denied on a later page: a policy cannot deny half a sweep; an error, no fallback */
    CHECK(reconcile_list_fallback(RECONCILE_AUTO, 0, IVS_ERR_ACCESS_DENIED, 2) == 0);
    /* list is what the operator asked for: report the denial */
    CHECK(reconcile_list_fallback(RECONCILE_LIST, 0, IVS_ERR_ACCESS_DENIED, 1) == 0);
    /* other failures and complete sweeps never fall back */
    CHECK(reconcile_list_fallback(RECONCILE_AUTO, 0, IVS_ERR_THROTTLED, 1) == 0);
    CHECK(reconcile_list_fallback(RECONCILE_AUTO, 0, IVS_ERR_RETRYABLE, 1) == 0);
    CHECK(reconcile_list_fallback(RECONCILE_AUTO, 1, IVS_OK, 1) == 0);
    /* and after the fallback, auto passes use GetStream */
    CHECK(reconcile_use_list(RECONCILE_AUTO, 1) == 0);
}

TEST(get_window)
{
    CHECK(reconcile_get_window(0) == 2);
    CHECK(reconcile_get_window(0.5) == 2);
    CHECK(reconcile_get_window(5) == 10);
    CHECK(reconcile_get_window(10.4) == 20);
    CHECK(reconcile_get_window(32) == 64);
    CHECK(reconcile_get_window(1000) == 64);
}

int main(void)
{
    RUN(groups_by_region);
    RUN(empty_and_all_bad);
    RUN(one_region_many_channels);
    RUN(strategy);
    RUN(fallback_list_to_get);
    RUN(get_window);
    T_END("reconcile");
}
