/* tls: SSL_CTX from TLS_CERT_FILE/TLS_KEY_FILE, reloadable; bufferevents for evhttp. */
#include "tls.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tls {
    char *cert_file, *key_file;
    SSL_CTX *ctx;  /* the one new connections get */
    double expiry; /* notAfter of its certificate */
};

/* Mozilla "intermediate" (TLS 1.2 part; TLS 1.3 suites are OpenSSL's defaults, the same list) */
static const char CIPHERS[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                              "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
                              "DHE-RSA-CHACHA20-POLY1305";

static void ssl_err(char *err, size_t errlen, const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    char reason[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    snprintf(err, errlen, "%s %s: %s", what, path, reason);
}

/* ALPN: http/1.1 when the client offers it; otherwise no ALPN at all (not an alert). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char h11[] = "\x08http/1.1";
    unsigned char *o = NULL;
    if (SSL_select_next_proto(&o, outlen, h11, sizeof(h11) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

static double asn1_epoch(const ASN1_TIME *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (double)timegm(&tm);
}

static SSL_CTX *ctx_load(const char *cert, const char *key, double *expiry, char *err,
                         size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_err(err, errlen, "TLS:", "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, CIPHERS) != 1 ||
        SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
        ssl_err(err, errlen, "TLS:", "cipher list");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ssl_err(err, errlen, "TLS_CERT_FILE", cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ssl_err(err, errlen, "TLS_KEY_FILE", key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, errlen, "TLS_KEY_FILE does not match TLS_CERT_FILE:", key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    X509 *x = SSL_CTX_get0_certificate(ctx);
    *expiry = x ? asn1_epoch(X509_get0_notAfter(x)) : 0;
    return ctx;
}

struct tls *tls_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    struct tls *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "TLS: out of memory");
        return NULL;
    }
    t->cert_file = strdup(cert_file);
    t->key_file = strdup(key_file);
    if (!t->cert_file || !t->key_file) {
        snprintf(err, errlen, "TLS: out of memory");
        tls_free(t);
        return NULL;
    }
    t->ctx = ctx_load(cert_file, key_file, &t->expiry, err, errlen);
    if (!t->ctx) {
        tls_free(t);
        return NULL;
    }
    return t;
}

void tls_free(struct tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t->cert_file);
    free(t->key_file);
    free(t);
}

int tls_reload(struct tls *t, char *err, size_t errlen)
{
    double expiry = 0;
    SSL_CTX *ctx = ctx_load(t->cert_file, t->key_file, &expiry, err, errlen);
    if (!ctx)
        return -1;
    SSL_CTX_free(t->ctx); /* open connections' SSLs keep their reference */
    t->ctx = ctx;
    t->expiry = expiry;
    return 0;
}

struct bufferevent *tls_bufferevent(struct tls *t, struct event_base *base)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    /* a client that closes without close_notify is an ordinary end of a connection */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

double tls_cert_expiry(const struct tls *t)
{
    return t->expiry;
}

double tls_describe_cert(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(buf, len, "cannot read %s", path);
        return -1e9;
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x) {
        ERR_clear_error();
        snprintf(buf, len, "%s holds no PEM certificate", path);
        return -1e9;
    }
    char subject[256] = "";
    X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
    char san[512] = "";
    size_t n = 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && n + 1 < sizeof(san); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS) {
            const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
            n += (size_t)snprintf(san + n, sizeof(san) - n, "%sDNS:%.*s", n ? "," : "",
                                  ASN1_STRING_length(g->d.dNSName), (const char *)d);
        } else if (g->type == GEN_IPADD) {
            char ip[INET6_ADDRSTRLEN] = "?";
            int l = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);
            if (l == 4 || l == 16)
                inet_ntop(l == 4 ? AF_INET : AF_INET6, a, ip, sizeof(ip));
            n += (size_t)snprintf(san + n, sizeof(san) - n, "%sIP:%s", n ? "," : "", ip);
        }
    }
    GENERAL_NAMES_free(names);
    double not_after = asn1_epoch(X509_get0_notAfter(x));
    X509_free(x);
    double days = (not_after - (double)time(NULL)) / 86400.0;
    char when[32] = "?";
    time_t na = (time_t)not_after;
    struct tm tm;
    if (gmtime_r(&na, &tm))
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(buf, len, "subject %s, SAN %s, expires %s (%.0f days)", subject, n ? san : "(none)",
             when, days);
    return days;
}

int tls_doctor(const char *cert_file, const char *key_file, const char **verdict, char *msg,
               size_t len)
{
    if (!cert_file || !*cert_file)
        return 0;
    char err[512];
    struct tls *t = tls_new(cert_file, key_file, err, sizeof(err));
    if (!t) {
        *verdict = "FAIL";
        snprintf(msg, len, "%s", err);
        return 1;
    }
    tls_free(t);
    char desc[768];
    double days = tls_describe_cert(cert_file, desc, sizeof(desc));
    *verdict = days < 0 ? "FAIL" : days < 14 ? "warn" : "ok";
    snprintf(msg, len, "%s%s", desc,
             days < 0    ? ": expired"
             : days < 14 ? ": renew it (under 14 days left)"
                         : "");
    return 1;
}
