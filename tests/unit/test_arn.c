#include <stdlib.h>
#include <string.h>

#include "arn.h"
#include "t.h"

static int parses(const char *s)
{
    struct arn_channel c;
    char err[128];
    return arn_parse_channel(s, &c, err, sizeof(err)) == 0;
}

TEST(good_standard)
{
    struct arn_channel c;
    char err[128] = "";
    REQUIRE(arn_parse_channel("arn:aws:ivs:us-east-1:123456789012:channel/AbCdef1G2hij", &c, err,
                              sizeof(err)) == 0);
    CHECK_STR(c.arn, "arn:aws:ivs:us-east-1:123456789012:channel/AbCdef1G2hij");
    CHECK_STR(c.partition, "aws");
    CHECK_STR(c.region, "us-east-1");
    CHECK_STR(c.account, "123456789012");
    CHECK_STR(c.id, "AbCdef1G2hij");
}

TEST(good_partitions)
{
    struct arn_channel c;
    char err[128];
    REQUIRE(arn_parse_channel("arn:aws-cn:ivs:cn-north-1:000000000000:channel/x", &c, err,
                              sizeof(err)) == 0);
    CHECK_STR(c.partition, "aws-cn");
    CHECK_STR(c.region, "cn-north-1");
    CHECK_STR(c.id, "x");
    REQUIRE(arn_parse_channel("arn:aws-us-gov:ivs:us-gov-west-1:999999999999:channel/Z9", &c, err,
                              sizeof(err)) == 0);
    CHECK_STR(c.region, "us-gov-west-1");
    CHECK(parses("arn:aws:ivs:ap-southeast-2:123456789012:channel/abc"));
    CHECK(parses("arn:aws:ivs:eu-central-1:123456789012:channel/abc"));
    CHECK(parses("arn:aws:ivs:us-west-22:123456789012:channel/abc"));
}

TEST(good_max_id)
{
    char buf[256];
    char id[65];
    memset(id, 'a', 64);
    id[64] = '\0';
    snprintf(buf, sizeof(buf), "arn:aws:ivs:us-east-1:123456789012:channel/%s", id);
    struct arn_channel c;
    char err[64];
    REQUIRE(arn_parse_channel(buf, &c, err, sizeof(err)) == 0);
    CHECK_STR(c.id, id);
    /* 65 characters: too long */
    snprintf(buf, sizeof(buf), "arn:aws:ivs:us-east-1:123456789012:channel/%sa", id);
    CHECK(!parses(buf));
}

TEST(hostile)
{
    static const char *bad[] = {
        "",
        "arn",
        "arn:",
        "arn:aws",
        "arn:aws:ivs",
        "arn:aws:ivs:us-east-1:123456789012",
        "arn:aws:ivs:us-east-1:123456789012:channel/",
        "arn:aws:ivs:us-east-1:123456789012:channel",
        "ARN:aws:ivs:us-east-1:123456789012:channel/abc",
        " arn:aws:ivs:us-east-1:123456789012:channel/abc",
        "arn:aws:ivs:us-east-1:123456789012:channel/abc ",
        "arn:aws:ivs:us-east-1:123456789012:channel/abc\n",
        "arn:aws:ivs:us-east-1:123456789012:channel/abc/def",
        "arn:aws:ivs:us-east-1:123456789012:channel/ab-c",
        "arn:aws:ivs:us-east-1:123456789012:channel/ab_c",
        "arn:aws:ivs:us-east-1:123456789012:channel/ab%2e",
        "arn:aws:ivs:us-east-1:123456789012:stream-key/abc",
        "arn:aws:ivs:us-east-1:123456789012:channel:abc",
        "arn:aws:s3:us-east-1:123456789012:channel/abc",
        "arn:aws:IVS:us-east-1:123456789012:channel/abc",
        "arn:aws:ivs::123456789012:channel/abc",
        "arn:aws:ivs:US-EAST-1:123456789012:channel/abc",
        "arn:aws:ivs:us-east:123456789012:channel/abc",
        "arn:aws:ivs:us-east-123:123456789012:channel/abc",
        "arn:aws:ivs:us--east-1:123456789012:channel/abc",
        "arn:aws:ivs:-us-east-1:123456789012:channel/abc",
        "arn:aws:ivs:us-east-1-:123456789012:channel/abc",
        "arn:aws:ivs:u-east-1:123456789012:channel/abc",
        "arn:aws:ivs:us_east_1:123456789012:channel/abc",
        "arn:aws:ivs:us-east-1:12345678901:channel/abc",
        "arn:aws:ivs:us-east-1:1234567890123:channel/abc",
        "arn:aws:ivs:us-east-1:12345678901a:channel/abc",
        "arn:aws:ivs:us-east-1::channel/abc",
        "arn:aws:ivs:us-east-1:-12345678901:channel/abc",
        "arn:aws-iso:ivs:us-east-1:123456789012:channel/abc",
        "arn:awsx:ivs:us-east-1:123456789012:channel/abc",
        "arn::ivs:us-east-1:123456789012:channel/abc",
        "arn:aws:ivs:cn-north-1:123456789012:channel/abc",
        "arn:aws-cn:ivs:us-east-1:123456789012:channel/abc",
        "arn:aws-us-gov:ivs:us-east-1:123456789012:channel/abc",
        "arn:aws:ivs:us-gov-west-1:123456789012:channel/abc",
        "arn:aws:ivs:us-east-1:123456789012:channel/\xc3\xa9",
        "arn:aws:ivs:us-east-1:123456789012:channel/abc\x01",
        "arn:aws:ivs:us-east-1:123456789012:channel/abc:def",
        "arn:aws:ivs:us-east-1:123456789012:channel/abc;DROP TABLE shows",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct arn_channel c;
        char err[128] = "";
        memset(&c, 0x55, sizeof(c));
        int rc = arn_parse_channel(bad[i], &c, err, sizeof(err));
        if (rc == 0)
            fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
        CHECK_EQ_INT(rc, -1);
        CHECK(err[0] != '\0');
        CHECK(c.arn[0] == '\0' && c.id[0] == '\0' && c.region[0] == '\0');
    }
}

TEST(null_and_long)
{
    struct arn_channel c;
    char err[128] = "";
    CHECK_EQ_INT(arn_parse_channel(NULL, &c, err, sizeof(err)), -1);
    CHECK(err[0] != '\0');
    CHECK(arn_parse_channel("arn:aws:ivs:us-east-1:123456789012:channel/a", NULL, err,
                            sizeof(err)) == -1);
    /* err may be NULL / zero length */
    CHECK(arn_parse_channel("bad", &c, NULL, 0) == -1);
    char tiny[4];
    CHECK(arn_parse_channel("bad", &c, tiny, sizeof(tiny)) == -1);
    CHECK_EQ_SIZE(strlen(tiny), 3);

    /* a huge string: rejected without reading all of it */
    size_t n = 1 << 20;
    char *big = malloc(n + 1);
    REQUIRE(big);
    memset(big, 'a', n);
    memcpy(big, "arn:aws:ivs:us-east-1:123456789012:channel/", 43);
    big[n] = '\0';
    CHECK_EQ_INT(arn_parse_channel(big, &c, err, sizeof(err)), -1);
    CHECK_STR(err, "channel ARN too long");
    free(big);

    /* exactly ARN_MAX_LEN is fine as long as fields are valid: longest region + 64-char id */
    char buf[256];
    char id[65];
    memset(id, 'B', 64);
    id[64] = '\0';
    snprintf(buf, sizeof(buf), "arn:aws-us-gov:ivs:us-gov-west-1:123456789012:channel/%s", id);
    CHECK(strlen(buf) <= ARN_MAX_LEN);
    CHECK(parses(buf));
}

static int region(const char *s)
{
    return aws_region_valid(s, strlen(s));
}

TEST(regions)
{
    CHECK_EQ_INT(region("us-east-1"), 1);
    CHECK_EQ_INT(region("us-gov-west-1"), 1);
    CHECK_EQ_INT(region("cn-north-1"), 1);
    CHECK_EQ_INT(region("ap-southeast-12"), 1);
    CHECK_EQ_INT(region("eu-central-1"), 1);
    CHECK_EQ_INT(region(""), 0);
    CHECK_EQ_INT(region("us-east"), 0);
    CHECK_EQ_INT(region("us-east-123"), 0);
    CHECK_EQ_INT(region("us-1"), 0);
    CHECK_EQ_INT(region("US-east-1"), 0);
    CHECK_EQ_INT(region("u-east-1"), 0);
    CHECK_EQ_INT(region("use-east-1"), 0);
    CHECK_EQ_INT(region("us--east-1"), 0);
    CHECK_EQ_INT(region("us-east-1-"), 0);
    CHECK_EQ_INT(region("us-east-1a"), 0);
    CHECK_EQ_INT(region("us-east_1"), 0);
    CHECK_EQ_INT(region("us-eastxxxxxxxxxxxxxxxxxxxxxxx-1"), 0); /* 32 bytes */
    CHECK_EQ_INT(region("us-eastxxxxxxxxxxxxxxxxxxxxxx-1"), 1);  /* 31 bytes */
    CHECK_EQ_INT(aws_region_valid("us-east-1", 7), 0);           /* the length bounds it */
    CHECK_EQ_INT(aws_region_valid(NULL, 9), 0);
}

static int topic(const char *s)
{
    return arn_sns_topic_valid(s, strlen(s));
}

static void sns_topics(void)
{
    CHECK_EQ_INT(topic("arn:aws:sns:us-east-1:123456789012:ivs-events"), 1);
    CHECK_EQ_INT(topic("arn:aws-cn:sns:cn-north-1:123456789012:a"), 1);
    CHECK_EQ_INT(topic("arn:aws-us-gov:sns:us-gov-west-1:123456789012:T_1.fifo"), 1);
    CHECK_EQ_INT(topic("arn:aws:sns:us-east-1:123456789012:"), 0);
    CHECK_EQ_INT(topic("arn:aws:sns:us-east-1:123456789012:.fifo"), 0);
    CHECK_EQ_INT(topic("arn:aws:sns:us-east-1:12345678901:t"), 0);
    CHECK_EQ_INT(topic("arn:aws:sns:us-east-1:1234567890123:t"), 0);
    CHECK_EQ_INT(topic("arn:aws:sns:useast1:123456789012:t"), 0);
    CHECK_EQ_INT(topic("arn:aws:sqs:us-east-1:123456789012:t"), 0);
    CHECK_EQ_INT(topic("arn:aws:sns:us-east-1:123456789012:a b"), 0);
    CHECK_EQ_INT(topic("arn:aws:sns:us-east-1:123456789012:a/b"), 0);
    char big[400];
    int n = snprintf(big, sizeof(big), "arn:aws:sns:us-east-1:123456789012:");
    memset(big + n, 'x', 256);
    big[n + 256] = '\0';
    CHECK_EQ_INT(topic(big), 1);
    big[n + 256] = 'x';
    big[n + 257] = '\0';
    CHECK_EQ_INT(topic(big), 0);
    /* only the first n bytes count */
    CHECK_EQ_INT(arn_sns_topic_valid("arn:aws:sns:us-east-1:123456789012:t trailing", 36), 1);
}

int main(void)
{
    RUN(good_standard);
    RUN(good_partitions);
    RUN(good_max_id);
    RUN(hostile);
    RUN(null_and_long);
    RUN(regions);
    RUN(sns_topics);
    T_END("arn");
}
