/* test_log: every line is valid UTF-8 and (LOG_FORMAT=json) valid JSON, even with
 * raw bytes >= 0x80 and lines longer than the buffer; text lines are logfmt with
 * a journald <N> prefix when JOURNAL_STREAM is set. */
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "t.h"

static char path[64];

/* Read the log file, return its content (malloc'd) and empty it. */
static char *slurp(void)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (truncate(path, 0) != 0)
        CHECK(0);
    return strdup(buf);
}

static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t k = *p < 0x80             ? 1
                   : (*p & 0xe0) == 0xc0 ? 2
                   : (*p & 0xf0) == 0xe0 ? 3
                   : (*p & 0xf8) == 0xf0 ? 4
                                         : 0;
        if (!k || (k == 2 && *p < 0xc2))
            return 0;
        for (size_t i = 1; i < k; i++)
            if ((p[i] & 0xc0) != 0x80)
                return 0;
        p += k;
    }
    return 1;
}

/* One line (with its newline), valid UTF-8 and a JSON object; returns it parsed. */
static struct json_object *one_json_line(const char *text)
{
    size_t n = strlen(text);
    CHECK(n > 0 && text[n - 1] == '\n' && strchr(text, '\n') == text + n - 1);
    CHECK(n <= 4096);
    CHECK(valid_utf8(text));
    struct json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)n - 1);
    int ok = o && json_tokener_get_error(tok) == json_tokener_success &&
             json_object_is_type(o, json_type_object);
    json_tokener_free(tok);
    if (!ok)
        fprintf(stderr, "  not JSON: %.300s\n", text);
    CHECK(ok);
    return o;
}

static const char *str(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

TEST(json_utf8)
{
    REQUIRE(log_init(LOG_LEVEL_DEBUG, 1, path) == 0);
    /* invalid bytes in the message, the request id and a field value */
    log_write(LOG_LEVEL_INFO, "rid-\xff", "\"ua\":\"curl\xc3\x28\",\"n\":3",
              "bad \x80\xfe bytes, good \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80, overlong \xc0\xaf, "
              "surrogate \xed\xa0\x80, cut \xe2\x82");
    char *t = slurp();
    struct json_object *o = one_json_line(t);
    if (o) {
        CHECK(strstr(str(o, "msg"), "good \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80,") != NULL);
        CHECK(strstr(str(o, "msg"), "bad \xef\xbf\xbd\xef\xbf\xbd bytes") != NULL);
        CHECK_EQ_STR(str(o, "request_id"), "rid-\xef\xbf\xbd");
        CHECK_EQ_STR(str(o, "ua"), "curl\xef\xbf\xbd(");
        CHECK_EQ_STR(str(o, "level"), "info");
        json_object_put(o);
    }
    free(t);
    /* fields that are not JSON at all still give a JSON line */
    log_write(LOG_LEVEL_WARN, NULL, "\"broken\":\"x", "m");
    t = slurp();
    o = one_json_line(t);
    if (o) {
        CHECK_EQ_STR(str(o, "fields"), "\"broken\":\"x");
        json_object_put(o);
    }
    free(t);
}

TEST(json_long_lines)
{
    REQUIRE(log_init(LOG_LEVEL_DEBUG, 1, path) == 0);
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char *fields = malloc(20000);
    REQUIRE(fields);
    /* a long message and long fields: one line, cut inside a value, still JSON */
    snprintf(fields, 20000, "\"a\":\"%s\",\"b\":\"%s\",\"n\":12345,\"c\":\"%s\"", big, big, big);
    log_write(LOG_LEVEL_ERROR, "r1", fields, "%s", big);
    char *t = slurp();
    struct json_object *o = one_json_line(t);
    if (o) {
        struct json_object *v;
        CHECK(json_object_object_get_ex(o, "truncated", &v) && json_object_get_boolean(v));
        CHECK_EQ_STR(str(o, "request_id"), "r1");
        json_object_put(o);
    }
    free(t);
    /* control bytes expand 6x when escaped: still bounded and valid */
    char ctl[2000];
    memset(ctl, 1, sizeof(ctl) - 1);
    ctl[sizeof(ctl) - 1] = '\0';
    snprintf(fields, 20000, "\"x\":\"%s\"", ctl);
    log_write(LOG_LEVEL_ERROR, NULL, fields, "%s", ctl);
    t = slurp();
    o = one_json_line(t);
    json_object_put(o);
    free(t);
    /* multi-byte characters are never split by the cut */
    char wide[2040];
    for (size_t i = 0; i + 3 < sizeof(wide); i += 3)
        memcpy(wide + i, "\xe2\x82\xac", 3);
    wide[sizeof(wide) - 3] = '\0';
    snprintf(fields, 20000, "\"w\":\"%s\",\"v\":\"%s\"", wide, wide);
    log_write(LOG_LEVEL_INFO, NULL, fields, "%s", wide);
    t = slurp();
    o = one_json_line(t);
    json_object_put(o);
    free(t);
    free(fields);
}

TEST(text_logfmt_and_journal)
{
    unsetenv("JOURNAL_STREAM");
    REQUIRE(log_init(LOG_LEVEL_DEBUG, 0, path) == 0);
    log_write(LOG_LEVEL_INFO, "r-1", "\"route\":\"/sns\",\"status\":200,\"why\":\"a b=\\\"c\\\"\"",
              "request done");
    char *t = slurp();
    CHECK(strncmp(t, "time=", 5) == 0);
    CHECK(strstr(t, " level=info msg=\"request done\" request_id=r-1 route=/sns status=200 "
                    "why=\"a b=\\\"c\\\"\"\n") != NULL);
    CHECK(strchr(t, '{') == NULL);
    free(t);
    /* journald: JOURNAL_STREAM set and logging to stderr -> <N> prefix by level */
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_APPEND);
    REQUIRE(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    setenv("JOURNAL_STREAM", "8:12345", 1);
    log_close();
    REQUIRE(log_init(LOG_LEVEL_DEBUG, 0, NULL) == 0);
    log_write(LOG_LEVEL_ERROR, NULL, NULL, "e");
    log_write(LOG_LEVEL_WARN, NULL, NULL, "w");
    log_write(LOG_LEVEL_INFO, NULL, NULL, "i");
    log_write(LOG_LEVEL_DEBUG, NULL, NULL, "d");
    dup2(saved, 2);
    close(saved);
    unsetenv("JOURNAL_STREAM");
    t = slurp();
    const char *want[] = {"<3>time=", "<4>time=", "<6>time=", "<7>time="};
    const char *p = t;
    for (int i = 0; i < 4; i++) {
        CHECK(p && strncmp(p, want[i], strlen(want[i])) == 0);
        p = p ? strchr(p, '\n') : NULL;
        p = p ? p + 1 : NULL;
    }
    free(t);
    /* text lines stay valid UTF-8 too */
    REQUIRE(log_init(LOG_LEVEL_DEBUG, 0, path) == 0);
    log_write(LOG_LEVEL_INFO, "\xff", "\"k\":\"\xfe\"", "m\x80");
    t = slurp();
    CHECK(valid_utf8(t) && strncmp(t, "time=", 5) == 0);
    free(t);
}

int main(void)
{
    snprintf(path, sizeof(path), "/tmp/test_log.%d", (int)getpid());
    RUN(json_utf8);
    RUN(json_long_lines);
    RUN(text_logfmt_and_journal);
    log_close();
    unlink(path);
    T_END("log");
}
