/*
 * tls: the HTTPS side of the listener. One SSL_CTX made from TLS_CERT_FILE
 * (full chain, PEM) and TLS_KEY_FILE: TLS 1.2 and 1.3 only, Mozilla's
 * "intermediate" cipher list, ALPN http/1.1. tls_reload() builds a new
 * context from the same files; on success new connections use it (open ones
 * keep theirs: an SSL holds a reference to its context), on failure the old
 * one stays.
 */
#ifndef IVS_TLS_H
#define IVS_TLS_H

#include <stddef.h>

struct event_base;
struct bufferevent;
struct tls;

/* NULL with a message in err when the pair cannot be loaded. */
struct tls *tls_new(const char *cert_file, const char *key_file, char *err, size_t errlen);
void tls_free(struct tls *t);
/* 0 when the new pair is in use, -1 (old one kept) with a message in err. */
int tls_reload(struct tls *t, char *err, size_t errlen);
/* A server-side bufferevent (fd set later by evhttp), or NULL. */
struct bufferevent *tls_bufferevent(struct tls *t, struct event_base *base);
/* notAfter of the certificate in use, seconds since the epoch. */
double tls_cert_expiry(const struct tls *t);

/*
 * For doctor: "subject ..., SAN ..., expires ... (N days)" of the first
 * certificate in a PEM file. Returns the days left (may be negative), or
 * -1e9 with the reason in buf when it cannot be read.
 */
double tls_describe_cert(const char *path, char *buf, size_t len);

/*
 * doctor's "tls" line: 0 when TLS is not configured, else 1 with verdict
 * ("ok", "warn" under 14 days left, "FAIL" when the pair cannot be loaded or
 * the certificate has expired) and the text in msg.
 */
int tls_doctor(const char *cert_file, const char *key_file, const char **verdict, char *msg,
               size_t len);

#endif
