/*
 * log: one line per event, JSON (default) or text, to stderr or LOG_FILE.
 *
 * The LOG_* macros check the level before formatting, so filtered messages
 * cost one comparison. Never pass secrets. The logger is process-wide (set
 * once at start-up, reopened on SIGHUP).
 */
#ifndef IVS_LOG_H
#define IVS_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

int log_init(int level, int json, const char *file); /* 0 ok, -1 (errno) */
int log_reopen(void);                                /* SIGHUP */
void log_close(void);
int log_enabled(int level);
int log_level_parse(const char *s); /* -1 when unknown */

/*
 * Write one line. rid: request id or NULL. fields: extra JSON members,
 * already escaped, without braces (e.g. "\"route\":\"/sns\",\"status\":200")
 * or NULL. fmt: the message.
 */
void log_write(int level, const char *rid, const char *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG_AT(lvl, rid, fields, ...)                                                              \
    do {                                                                                           \
        if (log_enabled(lvl))                                                                      \
            log_write(lvl, rid, fields, __VA_ARGS__);                                              \
    } while (0)
#define LOG_DEBUG(rid, ...) LOG_AT(LOG_LEVEL_DEBUG, rid, NULL, __VA_ARGS__)
#define LOG_INFO(rid, ...)  LOG_AT(LOG_LEVEL_INFO, rid, NULL, __VA_ARGS__)
#define LOG_WARN(rid, ...)  LOG_AT(LOG_LEVEL_WARN, rid, NULL, __VA_ARGS__)
#define LOG_ERROR(rid, ...) LOG_AT(LOG_LEVEL_ERROR, rid, NULL, __VA_ARGS__)

#endif
