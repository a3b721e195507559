#include <stdlib.h>

#include "cidr.h"
#include "t.h"

static struct cidr_list *parse(const char *s)
{
    char err[128];
    return cidr_list_parse(s, err, sizeof(err));
}

TEST(parse_and_match)
{
    struct cidr_list *l = parse(" 10.0.0.0/8, 192.0.2.1 ,2001:db8::/32,172.16.0.0/12");
    REQUIRE(l);
    CHECK(!cidr_list_empty(l));
    CHECK(cidr_list_match(l, "10.1.2.3"));
    CHECK(!cidr_list_match(l, "11.0.0.1"));
    CHECK(cidr_list_match(l, "192.0.2.1"));
    CHECK(!cidr_list_match(l, "192.0.2.2"));
    CHECK(cidr_list_match(l, "172.31.255.255"));
    CHECK(!cidr_list_match(l, "172.32.0.0"));
    CHECK(cidr_list_match(l, "2001:db8:1::5"));
    CHECK(!cidr_list_match(l, "2001:db9::1"));
    CHECK(cidr_list_match(l, "::ffff:10.0.0.1")); /* IPv4-mapped */
    CHECK(!cidr_list_match(l, "not-an-ip"));
    CHECK(!cidr_list_match(l, NULL));
    cidr_list_free(l);
    l = parse("");
    REQUIRE(l);
    CHECK(cidr_list_empty(l));
    CHECK(!cidr_list_match(l, "10.0.0.1"));
    cidr_list_free(l);
    l = parse("0.0.0.0/0");
    REQUIRE(l);
    CHECK(cidr_list_match(l, "8.8.8.8"));
    CHECK(!cidr_list_match(l, "::1"));
    cidr_list_free(l);
}

TEST(parse_bad)
{
    char err[128];
    const char *bad[] = {"10.0.0.0/33", "10.0.0.0/",   "10.0.0/8",   "host.example",
                         "::1/129",     "10.0.0.1/-1", "10.0.0.0/8x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cidr_list *l = cidr_list_parse(bad[i], err, sizeof(err));
        CHECK(l == NULL);
        cidr_list_free(l);
    }
    CHECK(cidr_list_parse("10.0.0.0/8,bogus", err, sizeof(err)) == NULL);
    CHECK(strstr(err, "bogus") != NULL);
}

TEST(client_address)
{
    struct cidr_list *t = parse("127.0.0.1, 10.0.0.0/8");
    REQUIRE(t);
    char out[64];
    /* an untrusted peer: its header is ignored */
    cidr_client_address(t, "198.51.100.9", "203.0.113.7", out, sizeof(out));
    CHECK_EQ_STR(out, "198.51.100.9");
    /* a trusted peer: the rightmost untrusted hop */
    cidr_client_address(t, "127.0.0.1", "203.0.113.7", out, sizeof(out));
    CHECK_EQ_STR(out, "203.0.113.7");
    cidr_client_address(t, "127.0.0.1", "1.1.1.1, 203.0.113.7, 10.2.3.4", out, sizeof(out));
    CHECK_EQ_STR(out, "203.0.113.7");
    /* all trusted: the leftmost */
    cidr_client_address(t, "127.0.0.1", "10.9.9.9,10.2.3.4", out, sizeof(out));
    CHECK_EQ_STR(out, "10.9.9.9");
    /* garbage: the last good hop stands */
    cidr_client_address(t, "127.0.0.1", "evil, 10.2.3.4", out, sizeof(out));
    CHECK_EQ_STR(out, "10.2.3.4");
    cidr_client_address(t, "127.0.0.1", "", out, sizeof(out));
    CHECK_EQ_STR(out, "127.0.0.1");
    cidr_client_address(t, "127.0.0.1", NULL, out, sizeof(out));
    CHECK_EQ_STR(out, "127.0.0.1");
    cidr_list_free(t);
}

int main(void)
{
    RUN(parse_and_match);
    RUN(parse_bad);
    RUN(client_address);
    T_END("cidr");
}
