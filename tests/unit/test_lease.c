/* Pure parts of the lease leader and of the pool's pooler handling (issue 14). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "leader.h"
#include "t.h"

TEST(renew_interval)
{
    CHECK_EQ_INT(leader_renew_interval(15000), 5000); /* default LEADER_LEASE 15 s: 5 s */
    CHECK_EQ_INT(leader_renew_interval(3000), 1000);
    CHECK_EQ_INT(leader_renew_interval(1000), 333);
    CHECK_EQ_INT(leader_renew_interval(100), 100); /* never below 100 ms */
    /* a renewal always lands before the expiry, with two more chances */
    for (int ttl = 1000; ttl <= 3600000; ttl = ttl * 3 + 7)
        CHECK(3 * leader_renew_interval(ttl) <= ttl);
}

TEST(holder_id)
{
    char a[128], b[128], pid[32];
    leader_holder_id(a, sizeof(a));
    leader_holder_id(b, sizeof(b));
    snprintf(pid, sizeof(pid), ":%ld:", (long)getpid());
    CHECK(strstr(a, pid) != NULL); /* host:pid:random */
    CHECK(strcmp(a, b) != 0);      /* the random part differs */
    char small[8];
    leader_holder_id(small, sizeof(small));
    CHECK_EQ_INT(strlen(small), 7); /* truncated, terminated */
}

TEST(pooler_detection)
{
    CHECK_EQ_INT(db_pooled_pid(4242, 4242), 0);  /* direct: the key is the server's pid */
    CHECK_EQ_INT(db_pooled_pid(77777, 4242), 1); /* PgBouncer, Supavisor: a key of their own */
    CHECK_EQ_INT(db_pooled_pid(0, 4242), 1);     /* no key at all: not a plain server */
    CHECK_EQ_INT(db_pooled_pid(4242, 0), 1);
}

TEST(prepared_mode)
{
    CHECK_EQ_INT(db_prepared_mode("auto"), -1);
    CHECK_EQ_INT(db_prepared_mode(""), -1);
    CHECK_EQ_INT(db_prepared_mode(NULL), -1);
    CHECK_EQ_INT(db_prepared_mode("on"), 1);
    CHECK_EQ_INT(db_prepared_mode("off"), 0);
    CHECK_EQ_INT(db_prepared_mode("sometimes"), -2);
    CHECK(strstr(db_pooler_text(1), "pooler") != NULL);
    CHECK(strstr(db_pooler_text(0), "direct") != NULL);
}

int main(void)
{
    RUN(renew_interval);
    RUN(holder_id);
    RUN(pooler_detection);
    RUN(prepared_mode);
    T_END("lease");
}
