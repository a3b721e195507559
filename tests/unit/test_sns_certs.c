/*
 * Unit tests for sns_certs.c: the cache and cert_dir without fetching, then
 * fetching through the real http_client from a local evhttp server.
 * argv[1]: the test data directory (with sns-real/).
 */
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "http_client.h"
#include "metrics.h"
#include "sns.h"
#include "sns_certs.h"
#include "t.h"

static const char *g_data = "tests/fixtures";

#define HEX_GOOD    "7506a1e35b36ef5a444dd1a8e7cc3ed8"
#define URL_OF(hex) "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-" hex ".pem"

static char *real_pem(size_t *n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/sns-real/SimpleNotificationService-" HEX_GOOD ".pem", g_data);
    return t_read_file(path, n);
}

static void write_file(const char *dir, const char *name, const char *s, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(s, 1, n, f);
    fclose(f);
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* ------------------------------------------------------ without fetching */

static void noop_cb(X509 *cert, int transient, const char *err, void *arg)
{
    (void)cert;
    (void)transient;
    (void)err;
    *(int *)arg += 1;
}

TEST(cache_from_cert_dir)
{
    char dir[4096], err[256];
    snprintf(dir, sizeof(dir), "%s/sns-real", g_data);
    struct metrics *m = metrics_new();
    struct sns_certs *c = sns_certs_new(NULL, dir, 4, m);
    REQUIRE(c != NULL);
    X509 *a = sns_certs_lookup(c, URL_OF(HEX_GOOD), err, sizeof(err));
    CHECK(a != NULL);
    X509 *b = sns_certs_lookup(c, URL_OF(HEX_GOOD), err, sizeof(err));
    CHECK(a == b);
    CHECK(metrics_get(m, "ivs_syncd_sns_cert_cache_total", "result=\"file\"") == 1);
    CHECK(metrics_get(m, "ivs_syncd_sns_cert_cache_total", "result=\"hit\"") == 1);

    CHECK(sns_certs_lookup(c, URL_OF("0123456789abcdef"), err, sizeof(err)) == NULL);
    CHECK_STR(err, "certificate not cached");
    CHECK(metrics_get(m, "ivs_syncd_sns_cert_cache_total", "result=\"miss\"") == 1);
    CHECK(sns_certs_lookup(c, "https://sns.evil.com/SimpleNotificationService-" HEX_GOOD ".pem",
                           err, sizeof(err)) == NULL);
    CHECK(strncmp(err, "SigningCertURL: host", 20) == 0);
    CHECK(sns_certs_lookup(c, NULL, NULL, 0) == NULL);

    /* no HTTP client: fetching is refused at once, transiently */
    int calls = 0;
    CHECK(sns_certs_fetch(c, URL_OF("0123456789abcdef"), noop_cb, &calls, err, sizeof(err)) == -2);
    CHECK_STR(err, "certificate not in SNS_CERT_DIR and fetching is disabled");
    CHECK_EQ_INT(calls, 0);
    CHECK_EQ_INT(sns_certs_pending(c), 0);
    sns_certs_free(c);
    metrics_free(m);

    /* no cert_dir, no metrics */
    c = sns_certs_new(NULL, NULL, 0, NULL);
    REQUIRE(c != NULL);
    CHECK(sns_certs_lookup(c, URL_OF(HEX_GOOD), err, sizeof(err)) == NULL);
    CHECK(sns_certs_set_fetch_base(c, "ftp://x") == -1);
    CHECK(sns_certs_set_fetch_base(c, "http://127.0.0.1:1/") == -1);
    CHECK(sns_certs_set_fetch_base(c, "http://127.0.0.1:1") == 0);
    CHECK_EQ_INT(sns_certs_set_fetch_base(c, NULL), 0);
    sns_certs_free(c);
    sns_certs_free(NULL);
}

TEST(bad_file_is_not_cached)
{
    char dir[] = "/tmp/test_sns_certs.XXXXXX", err[512];
    REQUIRE(mkdtemp(dir) != NULL);
    size_t n;
    char *pem = real_pem(&n);
    REQUIRE(pem != NULL);
    const char *name = "SimpleNotificationService-0123456789abcdef.pem";
    char *junk = malloc(n + 10);
    memcpy(junk, "junk\n", 5);
    memcpy(junk + 5, pem, n);
    write_file(dir, name, junk, n + 5);
    struct metrics *m = metrics_new();
    struct sns_certs *c = sns_certs_new(NULL, dir, 4, m);
    REQUIRE(c != NULL);
    CHECK(sns_certs_lookup(c, URL_OF("0123456789abcdef"), err, sizeof(err)) == NULL);
    CHECK(strstr(err, "certificate file") && strstr(err, "not a PEM CERTIFICATE"));
    CHECK(metrics_get(m, "ivs_syncd_sns_cert_cache_total", "result=\"bad_file\"") == 1);
    write_file(dir, name, pem, n);
    CHECK(sns_certs_lookup(c, URL_OF("0123456789abcdef"), err, sizeof(err)) != NULL);
    sns_certs_free(c);
    metrics_free(m);
    free(junk);
    free(pem);
    rm_dir(dir);
}

TEST(lru_bounded)
{
    char dir[] = "/tmp/test_sns_certs.XXXXXX", err[256];
    REQUIRE(mkdtemp(dir) != NULL);
    size_t n;
    char *pem = real_pem(&n);
    REQUIRE(pem != NULL);
    static const char *hex[] = {"aaaaaaaa", "bbbbbbbb", "cccccccc"};
    char urls[3][200];
    for (int i = 0; i < 3; i++) {
        char name[100];
        snprintf(name, sizeof(name), "SimpleNotificationService-%s.pem", hex[i]);
        write_file(dir, name, pem, n);
        snprintf(urls[i], sizeof(urls[i]), "https://sns.us-east-1.amazonaws.com/%s", name);
    }
    struct sns_certs *c = sns_certs_new(NULL, dir, 2, NULL);
    REQUIRE(c != NULL);
    CHECK(sns_certs_lookup(c, urls[0], err, sizeof(err)) != NULL);
    CHECK(sns_certs_lookup(c, urls[1], err, sizeof(err)) != NULL);
    CHECK(sns_certs_lookup(c, urls[0], err, sizeof(err)) != NULL); /* A is now newest */
    CHECK(sns_certs_lookup(c, urls[2], err, sizeof(err)) != NULL); /* evicts B */
    rm_dir(dir);
    CHECK(sns_certs_lookup(c, urls[0], err, sizeof(err)) != NULL);
    CHECK(sns_certs_lookup(c, urls[2], err, sizeof(err)) != NULL);
    CHECK(sns_certs_lookup(c, urls[1], err, sizeof(err)) == NULL);
    sns_certs_free(c);
    free(pem);
}

/* --------------------------------------------------------- with fetching */

struct server {
    struct event_base *base;
    struct evhttp *http;
    int port;
    int hits;
    char *pem;
    size_t pem_len;
    char *evil_pem;
    size_t evil_len;
};

static void serve(struct evhttp_request *req, void *arg)
{
    struct server *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *out = evbuffer_new();
    int code = 200;
    s->hits++;
    if (strstr(uri, HEX_GOOD) || strstr(uri, "aaaa0000")) {
        evbuffer_add(out, s->pem, s->pem_len);
    } else if (strstr(uri, "e0e0e0e0")) {
        evbuffer_add(out, s->evil_pem, s->evil_len);
    } else if (strstr(uri, "50350350")) {
        code = 503;
    } else if (strstr(uri, "40440440")) {
        code = 404;
    } else if (strstr(uri, "30230230")) {
        code = 302;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location",
                          "http://127.0.0.1:1/x.pem");
    } else {
        evbuffer_add_printf(out, "<html>not a certificate</html>");
    }
    evhttp_send_reply(req, code, "x", out);
    evbuffer_free(out);
}

static char *make_evil_pem(size_t *n)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"evil.com", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, key, EVP_sha256());
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *p;
    long l = BIO_get_mem_data(b, &p);
    char *r = malloc((size_t)l);
    memcpy(r, p, (size_t)l);
    *n = (size_t)l;
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(key);
    return r;
}

static int server_start(struct server *s)
{
    memset(s, 0, sizeof(*s));
    s->base = event_base_new();
    s->http = evhttp_new(s->base);
    if (!s->base || !s->http)
        return -1;
    struct evhttp_bound_socket *h = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    if (!h)
        return -1;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    if (getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    s->port = ntohs(sa.sin_port);
    evhttp_set_gencb(s->http, serve, s);
    s->pem = real_pem(&s->pem_len);
    s->evil_pem = make_evil_pem(&s->evil_len);
    return s->pem ? 0 : -1;
}

static void server_stop(struct server *s)
{
    if (s->http)
        evhttp_free(s->http);
    if (s->base)
        event_base_free(s->base);
    free(s->pem);
    free(s->evil_pem);
}

struct result {
    int called;
    int got_cert;
    int transient;
    char err[256];
    struct sns_certs *certs; /* for re-entrant checks */
};

static void on_cert(X509 *cert, int transient, const char *err, void *arg)
{
    struct result *r = arg;
    r->called++;
    r->got_cert = cert != NULL;
    r->transient = transient;
    snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
    if (cert && r->certs) {
        /* a lookup inside the callback must not invalidate cert */
        char e[128];
        sns_certs_lookup(r->certs, URL_OF("ffffffff"), e, sizeof(e));
        CHECK(X509_get0_pubkey(cert) != NULL);
    }
}

static void run_until(struct server *s, struct sns_certs *c)
{
    for (int i = 0; i < 2000 && sns_certs_pending(c) > 0; i++)
        event_base_loop(s->base, EVLOOP_ONCE);
}

TEST(fetch_through_http_client)
{
    struct server s;
    char base[64], err[256], dir[] = "/tmp/test_sns_certs.XXXXXX";
    REQUIRE(server_start(&s) == 0);
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", s.port);
    struct http_client *hc = http_client_new(s.base);
    REQUIRE(hc != NULL);
    struct metrics *m = metrics_new();
    struct sns_certs *c = sns_certs_new(hc, dir, 8, m);
    REQUIRE(c != NULL);
    REQUIRE(sns_certs_set_fetch_base(c, base) == 0);
    sns_certs_set_new_limit(c, 1000, 0); /* the new-name limits are tested below */

    /* two waiters, one request; cached, and (fetched through a testing base) never
     * written to cert_dir */
    struct result r1 = {.certs = c}, r2 = {0};
    CHECK(sns_certs_lookup(c, URL_OF(HEX_GOOD), err, sizeof(err)) == NULL);
    CHECK_EQ_INT(sns_certs_fetch(c, URL_OF(HEX_GOOD), on_cert, &r1, err, sizeof(err)), 0);
    CHECK_EQ_INT(sns_certs_fetch(c, URL_OF(HEX_GOOD), on_cert, &r2, err, sizeof(err)), 0);
    CHECK(r1.called == 0 && r2.called == 0);
    CHECK_EQ_INT(sns_certs_pending(c), 1);
    run_until(&s, c);
    CHECK(r1.called == 1 && r1.got_cert && r1.transient == 0);
    CHECK(r2.called == 1 && r2.got_cert);
    CHECK_EQ_INT(s.hits, 1);
    CHECK(sns_certs_lookup(c, URL_OF(HEX_GOOD), err, sizeof(err)) != NULL);
    CHECK(metrics_get(m, "ivs_syncd_sns_cert_fetch_total", "result=\"ok\"") == 1);
    CHECK(metrics_get(m, "ivs_syncd_sns_cert_write_total", "result=\"ok\"") == 0);
    CHECK_EQ_INT(count_files(dir), 0);

    /* a body that is not a certificate: permanent, then negatively cached */
    struct result r3 = {0};
    CHECK(sns_certs_fetch(c, URL_OF("0badbad0"), on_cert, &r3, err, sizeof(err)) == 0);
    run_until(&s, c);
    CHECK(r3.called == 1 && !r3.got_cert && r3.transient == 0);
    CHECK(strncmp(r3.err, "fetched certificate: not a PEM", 30) == 0);
    int hits = s.hits;
    CHECK(sns_certs_fetch(c, URL_OF("0badbad0"), on_cert, &r3, err, sizeof(err)) == -1);
    CHECK(strstr(err, "failed recently") != NULL);
    CHECK(s.hits == hits);
    CHECK(metrics_get(m, "ivs_syncd_sns_cert_fetch_total", "result=\"negative\"") == 1);

    /* a certificate with the wrong subject, 404, a redirect: permanent */
    static const char *perm[] = {"e0e0e0e0", "40440440", "30230230"};
    for (int i = 0; i < 3; i++) {
        struct result r = {0};
        char url[200];
        snprintf(url, sizeof(url), URL_OF("%s"), perm[i]);
        CHECK_EQ_INT(sns_certs_fetch(c, url, on_cert, &r, err, sizeof(err)), 0);
        run_until(&s, c);
        CHECK(r.called == 1 && !r.got_cert && r.transient == 0);
        CHECK_EQ_INT(sns_certs_fetch(c, url, on_cert, &r, err, sizeof(err)), -1);
    }

    /* 503: transient; refused transiently (no new fetch) for a second, then retried */
    struct result r4 = {0};
    CHECK(sns_certs_fetch(c, URL_OF("50350350"), on_cert, &r4, err, sizeof(err)) == 0);
    run_until(&s, c);
    CHECK(r4.called == 1 && !r4.got_cert && r4.transient == 1);
    CHECK(sns_certs_fetch(c, URL_OF("50350350"), on_cert, &r4, err, sizeof(err)) == -2);
    usleep((SNS_CERTS_TRANSIENT_TTL * 1000 + 100) * 1000);
    CHECK(sns_certs_fetch(c, URL_OF("50350350"), on_cert, &r4, err, sizeof(err)) == 0);
    run_until(&s, c);
    CHECK(r4.called == 2 && r4.transient == 1);

    /* cancel one of two waiters */
    struct result r5 = {0}, r6 = {0};
    CHECK(sns_certs_fetch(c, URL_OF("aaaa0000"), on_cert, &r5, err, sizeof(err)) == 0);
    CHECK(sns_certs_fetch(c, URL_OF("aaaa0000"), on_cert, &r6, err, sizeof(err)) == 0);
    sns_certs_cancel(c, on_cert, &r5);
    run_until(&s, c);
    CHECK_EQ_INT(r5.called, 0);
    CHECK(r6.called == 1 && r6.got_cert);

    /* URL checks apply to the original URL even with a fetch base */
    CHECK(sns_certs_fetch(c, "https://evil.com/SimpleNotificationService-aaaa0000.pem", on_cert,
                          &r6, err, sizeof(err)) == -1);

    /* connection refused: transient */
    struct result r7 = {0};
    CHECK(sns_certs_set_fetch_base(c, "http://127.0.0.1:1") == 0);
    CHECK(sns_certs_fetch(c, URL_OF("cccc0000"), on_cert, &r7, err, sizeof(err)) == 0);
    run_until(&s, c);
    CHECK(r7.called == 1 && r7.transient == 1);
    CHECK_EQ_INT(sns_certs_set_fetch_base(c, base), 0);

    /* bounded number of fetches in flight; new names leave SNS_CERTS_RESERVED
     * slots to names that worked before */
    struct result r8 = {0};
    for (int i = 0; i < SNS_CERTS_MAX_FETCHES - SNS_CERTS_RESERVED; i++) {
        char url[200];
        snprintf(url, sizeof(url), URL_OF("dd%06d"), i);
        CHECK_EQ_INT(sns_certs_fetch(c, url, on_cert, &r8, err, sizeof(err)), 0);
    }
    CHECK(sns_certs_fetch(c, URL_OF("ee000000"), on_cert, &r8, err, sizeof(err)) == -2);
    CHECK_STR(err, "too many certificate fetches in flight");
    /* HEX_GOOD was fetched before: the reserved slot is its */
    CHECK_EQ_INT(sns_certs_fetch(c, URL_OF(HEX_GOOD), on_cert, &r8, err, sizeof(err)), 0);
    CHECK(sns_certs_fetch(c, URL_OF("aaaa0000"), on_cert, &r8, err, sizeof(err)) == -2);
    CHECK_EQ_INT(http_client_pending(hc), SNS_CERTS_MAX_FETCHES);

    /* freeing with fetches in flight: no callback, requests cancelled */
    sns_certs_free(c);
    CHECK_EQ_INT(http_client_pending(hc), 0);
    for (int i = 0; i < 20; i++)
        event_base_loop(s.base, EVLOOP_NONBLOCK);
    CHECK_EQ_INT(r8.called, 0);

    http_client_free(hc);
    metrics_free(m);
    server_stop(&s);
    rm_dir(dir);
}

TEST(fetch_unwritable_dir)
{
    struct server s;
    char base[64], err[256];
    REQUIRE(server_start(&s) == 0);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", s.port);
    struct http_client *hc = http_client_new(s.base);
    struct metrics *m = metrics_new();
    struct sns_certs *c = sns_certs_new(hc, "/nonexistent-dir/x", 2, m);
    REQUIRE(hc && c);
    REQUIRE(sns_certs_set_fetch_base(c, base) == 0);
    struct result r = {0};
    CHECK_EQ_INT(sns_certs_fetch(c, URL_OF(HEX_GOOD), on_cert, &r, err, sizeof(err)), 0);
    run_until(&s, c);
    CHECK(r.called == 1 && r.got_cert);
    /* through a testing fetch base nothing is written (not even tried) */
    CHECK(metrics_get(m, "ivs_syncd_sns_cert_write_total", "result=\"error\"") == 0);
    CHECK(sns_certs_lookup(c, URL_OF(HEX_GOOD), err, sizeof(err)) != NULL);
    sns_certs_free(c);
    http_client_free(hc);
    metrics_free(m);
    server_stop(&s);
}

TEST(new_name_limits)
{
    struct server s;
    char base[64], err[256];
    REQUIRE(server_start(&s) == 0);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", s.port);
    struct http_client *hc = http_client_new(s.base);
    struct metrics *m = metrics_new();
    struct sns_certs *c = sns_certs_new(hc, NULL, 8, m);
    REQUIRE(hc && c);
    REQUIRE(sns_certs_set_fetch_base(c, base) == 0);
    /* a genuine certificate, fetched once: known from then on */
    struct result r = {0};
    CHECK_EQ_INT(sns_certs_fetch(c, URL_OF(HEX_GOOD), on_cert, &r, err, sizeof(err)), 0);
    run_until(&s, c);
    CHECK(r.called == 1 && r.got_cert);
    /* a flood of 300 new random names: the burst (less the one above), then refused */
    int accepted = 0, limited = 0;
    for (int i = 0; i < 300; i++) {
        char url[200];
        snprintf(url, sizeof(url), URL_OF("f1%06x"), i);
        struct result rr = {0};
        int rc = sns_certs_fetch(c, url, on_cert, &rr, err, sizeof(err));
        if (rc == 0) {
            accepted++;
            run_until(&s, c);
        } else {
            CHECK_EQ_INT(rc, -2); /* transient: SNS retries a genuine one */
            limited += strstr(err, "new certificate names") != NULL;
        }
    }
    CHECK(accepted >= SNS_CERTS_NEW_BURST - 1 && accepted <= SNS_CERTS_NEW_BURST + 2);
    CHECK_EQ_INT(limited, 300 - accepted);
    CHECK(metrics_get(m, "ivs_syncd_sns_cert_fetch_total", "result=\"limited\"") == limited);
    CHECK_EQ_INT(s.hits, 1 + accepted);
    /* a name that worked before is not limited */
    struct result r2 = {0};
    CHECK_EQ_INT(sns_certs_fetch(c, URL_OF(HEX_GOOD), on_cert, &r2, err, sizeof(err)), 0);
    run_until(&s, c);
    CHECK(r2.called == 1 && r2.got_cert);
    /* a second later a new name gets a token again */
    usleep(1100 * 1000);
    struct result r3 = {0};
    CHECK_EQ_INT(sns_certs_fetch(c, URL_OF("aaaa0000"), on_cert, &r3, err, sizeof(err)), 0);
    run_until(&s, c);
    CHECK(r3.called == 1 && r3.got_cert);
    sns_certs_free(c);
    http_client_free(hc);
    metrics_free(m);
    server_stop(&s);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        g_data = argv[1];
    RUN(cache_from_cert_dir);
    RUN(bad_file_is_not_cached);
    RUN(lru_bounded);
    RUN(fetch_through_http_client);
    RUN(fetch_unwritable_dir);
    RUN(new_name_limits);
    T_END("test_sns_certs");
}
