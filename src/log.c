/* log: JSON or text lines, one per event. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The one process-wide logger: set at start-up, reopened on SIGHUP. */
static struct {
    int level;
    int json;
    int fd;
    char *file;
} lg = {LOG_LEVEL_INFO, 1, 2, NULL};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, level_names[i]))
            return i;
    if (!strcasecmp(s, "warning"))
        return LOG_LEVEL_WARN;
    return -1;
}

int log_enabled(int level)
{
    return level >= lg.level;
}

static int open_file(const char *file)
{
    return open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int log_init(int level, int json, const char *file)
{
    lg.level = level;
    lg.json = json;
    if (file && *file) {
        int fd = open_file(file);
        if (fd < 0)
            return -1;
        free(lg.file);
        lg.file = strdup(file);
        if (lg.fd > 2)
            close(lg.fd);
        lg.fd = fd;
    }
    return 0;
}

int log_reopen(void)
{
    if (!lg.file)
        return 0;
    int fd = open_file(lg.file);
    if (fd < 0)
        return -1;
    if (lg.fd > 2)
        close(lg.fd);
    lg.fd = fd;
    return 0;
}

void log_close(void)
{
    if (lg.fd > 2)
        close(lg.fd);
    lg.fd = 2;
    free(lg.file);
    lg.file = NULL;
}

/* Append s JSON-escaped to buf at *n (bounded by cap). */
static void esc(char *buf, size_t cap, size_t *n, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)s; *p && *n + 7 < cap; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            buf[(*n)++] = '\\';
            buf[(*n)++] = (char)c;
        } else if (c == '\n') {
            buf[(*n)++] = '\\';
            buf[(*n)++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            buf[(*n)++] = '\\';
            buf[(*n)++] = 'u';
            buf[(*n)++] = '0';
            buf[(*n)++] = '0';
            buf[(*n)++] = hex[c >> 4];
            buf[(*n)++] = hex[c & 15];
        } else {
            buf[(*n)++] = (char)c;
        }
    }
}

static void put(char *buf, size_t cap, size_t *n, const char *s)
{
    size_t l = strlen(s);
    if (*n + 1 >= cap)
        return;
    if (*n + l >= cap)
        l = cap - *n - 1;
    memcpy(buf + *n, s, l);
    *n += l;
}

void log_write(int level, const char *rid, const char *fields, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof(ts) - tl, ".%03ldZ", (long)(tv.tv_usec / 1000));

    char line[4096];
    size_t n = 0;
    const char *lv = level_names[level < 0 ? 0 : level > 3 ? 3 : level];
    if (lg.json) {
        put(line, sizeof(line), &n, "{\"time\":\"");
        put(line, sizeof(line), &n, ts);
        put(line, sizeof(line), &n, "\",\"level\":\"");
        put(line, sizeof(line), &n, lv);
        put(line, sizeof(line), &n, "\",\"msg\":\"");
        esc(line, sizeof(line), &n, msg);
        put(line, sizeof(line), &n, "\"");
        if (rid) {
            put(line, sizeof(line), &n, ",\"request_id\":\"");
            esc(line, sizeof(line), &n, rid);
            put(line, sizeof(line), &n, "\"");
        }
        if (fields && *fields) {
            put(line, sizeof(line), &n, ",");
            put(line, sizeof(line), &n, fields);
        }
        put(line, sizeof(line), &n, "}");
    } else {
        put(line, sizeof(line), &n, ts);
        put(line, sizeof(line), &n, " ");
        put(line, sizeof(line), &n, lv);
        put(line, sizeof(line), &n, " ");
        if (rid) {
            put(line, sizeof(line), &n, "[");
            put(line, sizeof(line), &n, rid);
            put(line, sizeof(line), &n, "] ");
        }
        put(line, sizeof(line), &n, msg);
        if (fields && *fields) {
            put(line, sizeof(line), &n, " ");
            put(line, sizeof(line), &n, fields);
        }
    }
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(lg.fd, line, n);
    (void)w;
}
