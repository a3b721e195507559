#include <string.h>

#include <json-c/json.h>

#include "jsonx.h"
#include "t.h"

static struct json_object *obj(const char *s)
{
    struct json_object *o = NULL;
    if (jsonx_parse_object(s, strlen(s), 16, &o) != JSONX_OK)
        return NULL;
    return o;
}

TEST(get_string)
{
    struct json_object *o =
        obj("{\"a\":\"x\",\"e\":\"\",\"n\":null,\"i\":1,\"o\":{},\"z\":\"a\\u0000b\"}");
    REQUIRE(o != NULL);
    const char *s = NULL;
    size_t n = 99;
    CHECK_EQ_INT(jsonx_get_string(o, "a", &s, &n), JSONX_MEMBER_STRING);
    CHECK_EQ_STR(s, "x");
    CHECK_EQ_SIZE(n, 1);
    CHECK_EQ_INT(jsonx_get_string(o, "e", &s, &n), JSONX_MEMBER_STRING);
    CHECK_EQ_SIZE(n, 0);
    s = "untouched";
    n = 7;
    CHECK_EQ_INT(jsonx_get_string(o, "missing", &s, &n), JSONX_MEMBER_ABSENT);
    CHECK_EQ_INT(jsonx_get_string(o, "n", &s, &n), JSONX_MEMBER_NULL);
    CHECK_EQ_INT(jsonx_get_string(o, "i", &s, &n), JSONX_MEMBER_NOT_STRING);
    CHECK_EQ_INT(jsonx_get_string(o, "o", &s, &n), JSONX_MEMBER_NOT_STRING);
    CHECK_EQ_STR(s, "untouched");
    CHECK_EQ_SIZE(n, 7);
    CHECK_EQ_INT(jsonx_get_string(o, "z", &s, &n), JSONX_MEMBER_NUL);
    CHECK_EQ_SIZE(n, 3);
    CHECK_EQ_INT(jsonx_get_string(NULL, "a", &s, &n), JSONX_MEMBER_ABSENT);
    json_object_put(o);
}

TEST(parse_object_errors)
{
    struct json_object *o = NULL;
    CHECK_EQ_INT(jsonx_parse_object("", 0, 16, &o), JSONX_EMPTY);
    CHECK_EQ_INT(jsonx_parse_object("[]", 2, 16, &o), JSONX_NOT_OBJECT);
    CHECK_EQ_INT(jsonx_parse_object("{} x", 4, 16, &o), JSONX_TRAILING);
    CHECK_EQ_INT(jsonx_parse_object("{\"a\":", 5, 16, &o), JSONX_TRUNCATED);
    CHECK_EQ_INT(jsonx_parse_object("{}\0", 3, 16, &o), JSONX_NUL);
    CHECK(o == NULL);
    CHECK_EQ_INT(jsonx_parse_object("{} \n", 4, 16, &o), JSONX_OK);
    json_object_put(o);
}

int main(void)
{
    RUN(get_string);
    RUN(parse_object_errors);
    T_END("jsonx");
}
