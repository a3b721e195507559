/*
 * errbuf: the caller-supplied error buffer (char *err, size_t errlen) that
 * the parsers and validators fill with a short message.
 */
#ifndef IVS_ERRBUF_H
#define IVS_ERRBUF_H

#include <stddef.h>

/*
 * printf into err (len bytes, truncated, always NUL-terminated). Does nothing
 * when err is NULL or len is 0, so callers may pass (NULL, 0).
 */
void errbuf_set(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
