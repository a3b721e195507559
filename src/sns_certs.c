#include "clock.h"
#include "sns_certs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errbuf.h"
#include "http_client.h"
#include "metrics.h"
#include "sns.h"

#define SNS_CERTS_CACHE_METRIC "ivs_syncd_sns_cert_cache_total"
#define SNS_CERTS_FETCH_METRIC "ivs_syncd_sns_cert_fetch_total"
#define SNS_CERTS_WRITE_METRIC "ivs_syncd_sns_cert_write_total"

struct sns_certs_entry {
    char *url;
    X509 *cert;
    unsigned long long used; /* LRU tick */
};

struct sns_certs_neg {
    char *url;
    char *err;
    double until;  /* monotonic seconds */
    int transient; /* the host failed: retry soon, but not at every request */
};

struct sns_certs_waiter {
    sns_certs_cb cb;
    void *arg;
    TAILQ_ENTRY(sns_certs_waiter) link;
};

struct sns_certs_fetch {
    struct sns_certs *owner;
    char *url;
    int is_new;     /* a name never fetched before (counts against the new-name limits) */
    int delivering; /* the answer is being handed out: do not join */
    TAILQ_HEAD(sns_certs_waiters, sns_certs_waiter) waiters;
    TAILQ_ENTRY(sns_certs_fetch) link;
};

struct sns_certs {
    struct http_client *hc;
    struct metrics *m;
    char *cert_dir;
    char *fetch_base;
    int max;
    unsigned long long tick;
    struct sns_certs_entry *entries;
    int n_entries;
    struct sns_certs_neg *neg;
    int n_neg;
    TAILQ_HEAD(sns_certs_fetches, sns_certs_fetch) fetches;
    int n_fetches;
    int n_new_fetches; /* of n_fetches, for names never fetched before */
    /* names fetched successfully before (ring): they skip the new-name limits */
    char *known[SNS_CERTS_KNOWN];
    int known_next;
    /* token bucket for fetches of new names */
    double burst, rate, tokens, refilled;
};

static void sns_certs_count(struct sns_certs *c, const char *name, const char *result)
{
    char labels[64];
    if (!c->m)
        return;
    snprintf(labels, sizeof(labels), "result=\"%s\"", result);
    metrics_inc(c->m, name, labels);
}

struct sns_certs *sns_certs_new(struct http_client *hc, const char *cert_dir, int max_entries,
                                struct metrics *m)
{
    struct sns_certs *c = calloc(1, sizeof(*c));
    if (!c)
        goto fail;
    c->hc = hc;
    c->m = m;
    TAILQ_INIT(&c->fetches);
    c->max = max_entries > 0 ? max_entries : SNS_CERTS_DEFAULT_ENTRIES;
    c->burst = c->tokens = SNS_CERTS_NEW_BURST;
    c->rate = SNS_CERTS_NEW_RATE;
    c->refilled = clock_mono();
    if (cert_dir && cert_dir[0]) {
        c->cert_dir = strdup(cert_dir);
        if (!c->cert_dir)
            goto fail;
    }
    c->entries = calloc((size_t)c->max, sizeof(*c->entries));
    c->neg = calloc((size_t)c->max, sizeof(*c->neg));
    if (!c->entries || !c->neg)
        goto fail;
    if (m) {
        metrics_declare(m, SNS_CERTS_CACHE_METRIC, METRIC_COUNTER,
                        "SNS certificate lookups by result (hit, file, bad_file, miss).");
        metrics_declare(m, SNS_CERTS_FETCH_METRIC, METRIC_COUNTER,
                        "SNS certificate fetches by result (ok, transient, invalid, negative, "
                        "busy, limited).");
        metrics_declare(m, SNS_CERTS_WRITE_METRIC, METRIC_COUNTER,
                        "Fetched SNS certificates written to SNS_CERT_DIR (ok, error).");
        static const char *const cache[] = {"hit", "file", "bad_file", "miss"};
        static const char *const fetch[] = {"ok",       "transient", "invalid",
                                            "negative", "busy",      "limited"};
        static const char *const write[] = {"ok", "error"};
        char l[64];
        for (size_t i = 0; i < sizeof(cache) / sizeof(cache[0]); i++) {
            snprintf(l, sizeof(l), "result=\"%s\"", cache[i]);
            metrics_add(m, SNS_CERTS_CACHE_METRIC, l, 0);
        }
        for (size_t i = 0; i < sizeof(fetch) / sizeof(fetch[0]); i++) {
            snprintf(l, sizeof(l), "result=\"%s\"", fetch[i]);
            metrics_add(m, SNS_CERTS_FETCH_METRIC, l, 0);
        }
        for (size_t i = 0; i < sizeof(write) / sizeof(write[0]); i++) {
            snprintf(l, sizeof(l), "result=\"%s\"", write[i]);
            metrics_add(m, SNS_CERTS_WRITE_METRIC, l, 0);
        }
    }
    return c;
fail:
    if (c) {
        free(c->cert_dir);
        free(c->entries);
        free(c->neg);
        free(c);
    }
    return NULL;
}

static void sns_certs_fetch_free(struct sns_certs_fetch *f)
{
    struct sns_certs_waiter *w;
    while ((w = TAILQ_FIRST(&f->waiters))) {
        TAILQ_REMOVE(&f->waiters, w, link);
        free(w);
    }
    free(f->url);
    free(f);
}

void sns_certs_free(struct sns_certs *c)
{
    if (!c)
        return;
    struct sns_certs_fetch *f;
    while ((f = TAILQ_FIRST(&c->fetches))) {
        TAILQ_REMOVE(&c->fetches, f, link);
        if (c->hc)
            http_client_cancel(c->hc, f);
        sns_certs_fetch_free(f);
    }
    for (int i = 0; i < c->n_entries; i++) {
        free(c->entries[i].url);
        X509_free(c->entries[i].cert);
    }
    for (int i = 0; i < c->n_neg; i++) {
        free(c->neg[i].url);
        free(c->neg[i].err);
    }
    for (int i = 0; i < SNS_CERTS_KNOWN; i++)
        free(c->known[i]);
    free(c->entries);
    free(c->neg);
    free(c->cert_dir);
    free(c->fetch_base);
    free(c);
}

void sns_certs_set_new_limit(struct sns_certs *c, double burst, double per_second)
{
    if (!c)
        return;
    c->burst = c->tokens = burst > 1 ? burst : 1;
    c->rate = per_second > 0 ? per_second : 0;
    c->refilled = clock_mono();
}

int sns_certs_set_fetch_base(struct sns_certs *c, const char *base)
{
    char *b = NULL;

    if (!c)
        return -1;
    if (base) {
        size_t n = strlen(base);
        if ((strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) || n < 9 ||
            base[n - 1] == '/')
            return -1;
        b = strdup(base);
        if (!b)
            return -1;
    }
    free(c->fetch_base);
    c->fetch_base = b;
    return 0;
}

int sns_certs_pending(const struct sns_certs *c)
{
    return c ? c->n_fetches : 0;
}

/* ---------------------------------------------------------------- cache */

static struct sns_certs_entry *sns_certs_find(struct sns_certs *c, const char *url)
{
    for (int i = 0; i < c->n_entries; i++) {
        if (strcmp(c->entries[i].url, url) == 0)
            return &c->entries[i];
    }
    return NULL;
}

/* Takes ownership of cert (freed on failure). Returns the cached pointer or NULL. */
static X509 *sns_certs_insert(struct sns_certs *c, const char *url, X509 *cert)
{
    struct sns_certs_entry *e = sns_certs_find(c, url);
    char *u;

    if (e) {
        X509_free(e->cert);
        e->cert = cert;
        e->used = ++c->tick;
        return cert;
    }
    u = strdup(url);
    if (!u) {
        X509_free(cert);
        return NULL;
    }
    if (c->n_entries < c->max) {
        e = &c->entries[c->n_entries++];
    } else {
        e = &c->entries[0];
        for (int i = 1; i < c->n_entries; i++) {
            if (c->entries[i].used < e->used)
                e = &c->entries[i];
        }
        free(e->url);
        X509_free(e->cert);
    }
    e->url = u;
    e->cert = cert;
    e->used = ++c->tick;
    return cert;
}

static int sns_certs_path(const struct sns_certs *c, const char *url, char *path, size_t n)
{
    char name[SNS_CERT_NAME_MAX];
    if (!c->cert_dir || sns_cert_filename(url, name, sizeof(name)))
        return -1;
    int w = snprintf(path, n, "%s/%s", c->cert_dir, name);
    return (w < 0 || (size_t)w >= n) ? -1 : 0;
}

/* 1 loaded, 0 no such file, -1 bad file (err set). */
static int sns_certs_load_file(struct sns_certs *c, const char *url, X509 **out, char *err,
                               size_t errlen)
{
    char path[4096], lerr[200];
    char *buf = NULL;
    FILE *f = NULL;
    int rc = -1;

    *out = NULL;
    if (sns_certs_path(c, url, path, sizeof(path)))
        return 0;
    f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        errbuf_set(err, errlen, "certificate file %s: %s", path, strerror(errno));
        goto done;
    }
    buf = malloc(SNS_MAX_CERT_FILE + 1);
    if (!buf) {
        errbuf_set(err, errlen, "certificate file %s: out of memory", path);
        goto done;
    }
    size_t n = fread(buf, 1, SNS_MAX_CERT_FILE + 1, f);
    if (ferror(f) || n > SNS_MAX_CERT_FILE) {
        errbuf_set(err, errlen, "certificate file %s: unreadable or too large", path);
        goto done;
    }
    if (sns_cert_load_pem(buf, n, out, lerr, sizeof(lerr))) {
        errbuf_set(err, errlen, "certificate file %s: %s", path, lerr);
        goto done;
    }
    rc = 1;
done:
    if (f)
        fclose(f);
    free(buf);
    return rc;
}

X509 *sns_certs_lookup(struct sns_certs *c, const char *url, char *err, size_t errlen)
{
    X509 *x = NULL;

    if (!c) {
        errbuf_set(err, errlen, "certificate cache missing");
        return NULL;
    }
    if (sns_cert_url_check(url, err, errlen))
        return NULL;
    struct sns_certs_entry *e = sns_certs_find(c, url);
    if (e) {
        e->used = ++c->tick;
        sns_certs_count(c, SNS_CERTS_CACHE_METRIC, "hit");
        return e->cert;
    }
    int rc = sns_certs_load_file(c, url, &x, err, errlen);
    if (rc < 0) {
        sns_certs_count(c, SNS_CERTS_CACHE_METRIC, "bad_file");
        return NULL;
    }
    if (rc == 0) {
        sns_certs_count(c, SNS_CERTS_CACHE_METRIC, "miss");
        errbuf_set(err, errlen, "certificate not cached");
        return NULL;
    }
    sns_certs_count(c, SNS_CERTS_CACHE_METRIC, "file");
    x = sns_certs_insert(c, url, x);
    if (!x)
        errbuf_set(err, errlen, "certificate cache: out of memory");
    return x;
}

/* ------------------------------------------------------- negative cache */

static struct sns_certs_neg *sns_certs_neg_find(struct sns_certs *c, const char *url)
{
    double now = clock_mono();
    for (int i = 0; i < c->n_neg; i++) {
        if (strcmp(c->neg[i].url, url) == 0)
            return c->neg[i].until > now ? &c->neg[i] : NULL;
    }
    return NULL;
}

static void sns_certs_neg_add(struct sns_certs *c, const char *url, const char *why, int transient)
{
    struct sns_certs_neg *n = NULL;
    double now = clock_mono();
    char *u = strdup(url), *e = strdup(why);

    if (!u || !e)
        goto fail;
    for (int i = 0; i < c->n_neg && !n; i++) {
        if (strcmp(c->neg[i].url, url) == 0 || c->neg[i].until <= now)
            n = &c->neg[i];
    }
    if (!n && c->n_neg < c->max)
        n = &c->neg[c->n_neg++];
    if (!n) {
        n = &c->neg[0];
        for (int i = 1; i < c->n_neg; i++) {
            if (c->neg[i].until < n->until)
                n = &c->neg[i];
        }
    }
    if (n->url) {
        free(n->url);
        free(n->err);
    }
    n->url = u;
    n->err = e;
    n->until = now + (transient ? SNS_CERTS_TRANSIENT_TTL : SNS_CERTS_NEGATIVE_TTL);
    n->transient = transient;
    return;
fail:
    free(u);
    free(e);
}

/* ------------------------------------------------------ new-name limits */

static int sns_certs_known(const struct sns_certs *c, const char *url)
{
    for (int i = 0; i < SNS_CERTS_KNOWN; i++)
        if (c->known[i] && strcmp(c->known[i], url) == 0)
            return 1;
    /* a file in SNS_CERT_DIR (maybe a bad one a fetch would replace) */
    char path[4096];
    struct stat st;
    return !sns_certs_path(c, url, path, sizeof(path)) && stat(path, &st) == 0;
}

static void sns_certs_remember(struct sns_certs *c, const char *url)
{
    for (int i = 0; i < SNS_CERTS_KNOWN; i++)
        if (c->known[i] && strcmp(c->known[i], url) == 0)
            return;
    char *u = strdup(url);
    if (!u)
        return;
    free(c->known[c->known_next]);
    c->known[c->known_next] = u;
    c->known_next = (c->known_next + 1) % SNS_CERTS_KNOWN;
}

/* Take one token for a new name; 0 when none is left. */
static int sns_certs_take_token(struct sns_certs *c)
{
    double now = clock_mono();
    c->tokens += (now - c->refilled) * c->rate;
    if (c->tokens > c->burst)
        c->tokens = c->burst;
    c->refilled = now;
    if (c->tokens < 1)
        return 0;
    c->tokens -= 1;
    return 1;
}

/* ---------------------------------------------------------------- fetch */

static void sns_certs_write_file(struct sns_certs *c, const char *url, const char *body, size_t len)
{
    char path[4096], tmp[4096 + 16];
    int fd = -1;

    if (sns_certs_path(c, url, path, sizeof(path)))
        return;
    const char *slash = strrchr(path, '/');
    int w = snprintf(tmp, sizeof(tmp), "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1);
    if (w < 0 || (size_t)w >= sizeof(tmp))
        goto fail;
    fd = mkstemp(tmp);
    if (fd < 0)
        goto fail_nofile;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, body + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        off += (size_t)n;
    }
    if (fchmod(fd, 0644) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    sns_certs_count(c, SNS_CERTS_WRITE_METRIC, "ok");
    return;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
fail_nofile:
    sns_certs_count(c, SNS_CERTS_WRITE_METRIC, "error");
}

static void sns_certs_done(const struct http_response *resp, void *arg)
{
    struct sns_certs_fetch *f = arg;
    struct sns_certs *c = f->owner;
    char err[256] = "", lerr[200];
    int transient = 0;
    X509 *cert = NULL, *hold = NULL;

    if (resp->failed || resp->status == 0) {
        transient = 1;
        errbuf_set(err, sizeof(err), "certificate fetch failed: %s",
                   resp->error ? resp->error : "transport error");
    } else if (resp->status >= 500 || resp->status == 429) {
        transient = 1;
        errbuf_set(err, sizeof(err), "certificate fetch failed: HTTP %ld", resp->status);
    } else if (resp->status != 200) {
        errbuf_set(err, sizeof(err), "certificate fetch failed: HTTP %ld", resp->status);
    } else if (sns_cert_load_pem(resp->body, resp->body_len, &cert, lerr, sizeof(lerr))) {
        errbuf_set(err, sizeof(err), "fetched %s", lerr);
    }
    if (cert) {
        if (X509_up_ref(cert) == 1)
            hold = cert;
        if (!hold || !sns_certs_insert(c, f->url, cert)) {
            X509_free(hold);
            hold = NULL;
            transient = 1;
            errbuf_set(err, sizeof(err), "certificate cache: out of memory");
        } else {
            sns_certs_remember(c, f->url);
            /* fetched over a testing base (maybe plain http, no chain check): kept in
             * memory for this run only, never made durable in SNS_CERT_DIR */
            if (!c->fetch_base)
                sns_certs_write_file(c, f->url, resp->body, resp->body_len);
        }
    }
    if (hold) {
        sns_certs_count(c, SNS_CERTS_FETCH_METRIC, "ok");
    } else if (transient) {
        sns_certs_count(c, SNS_CERTS_FETCH_METRIC, "transient");
        sns_certs_neg_add(c, f->url, err, 1);
    } else {
        sns_certs_count(c, SNS_CERTS_FETCH_METRIC, "invalid");
        sns_certs_neg_add(c, f->url, err, 0);
    }
    /* deliver; waiters may cancel others or start new fetches meanwhile */
    f->delivering = 1;
    struct sns_certs_waiter *w;
    while ((w = TAILQ_FIRST(&f->waiters))) {
        TAILQ_REMOVE(&f->waiters, w, link);
        w->cb(hold, hold ? 0 : transient, hold ? NULL : err, w->arg);
        free(w);
    }
    TAILQ_REMOVE(&c->fetches, f, link);
    c->n_fetches--;
    if (f->is_new)
        c->n_new_fetches--;
    sns_certs_fetch_free(f);
    X509_free(hold);
}

int sns_certs_fetch(struct sns_certs *c, const char *url, sns_certs_cb cb, void *arg, char *err,
                    size_t errlen)
{
    struct sns_certs_fetch *f = NULL;
    struct sns_certs_waiter *w = NULL;
    char *fetch_url = NULL;
    int rc = -2;

    if (!c || !cb) {
        errbuf_set(err, errlen, "certificate fetch: bad arguments");
        return -2;
    }
    if (sns_cert_url_check(url, err, errlen))
        return -1;
    struct sns_certs_neg *n = sns_certs_neg_find(c, url);
    if (n) {
        sns_certs_count(c, SNS_CERTS_FETCH_METRIC, "negative");
        errbuf_set(err, errlen, "%s (failed recently, not retried yet)", n->err);
        return n->transient ? -2 : -1;
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        errbuf_set(err, errlen, "certificate fetch: out of memory");
        goto fail;
    }
    w->cb = cb;
    w->arg = arg;
    for (f = TAILQ_FIRST(&c->fetches); f; f = TAILQ_NEXT(f, link)) {
        if (!f->delivering && strcmp(f->url, url) == 0) {
            TAILQ_INSERT_TAIL(&f->waiters, w, link);
            return 0;
        }
    }
    if (!c->hc) {
        errbuf_set(err, errlen, "certificate not in SNS_CERT_DIR and fetching is disabled");
        goto fail;
    }
    /* Names never fetched before are what a flood of forgeries names: they get
     * at most SNS_CERTS_MAX_FETCHES - SNS_CERTS_RESERVED slots (the rest stays
     * free for names that worked before) and a token bucket (a burst, then a
     * steady rate). Refusals are transient: SNS retries a genuine message. */
    int is_new = !sns_certs_known(c, url);
    if (c->n_fetches >= SNS_CERTS_MAX_FETCHES ||
        (is_new && c->n_new_fetches >= SNS_CERTS_MAX_FETCHES - SNS_CERTS_RESERVED)) {
        sns_certs_count(c, SNS_CERTS_FETCH_METRIC, "busy");
        errbuf_set(err, errlen, "too many certificate fetches in flight");
        goto fail;
    }
    if (is_new && !sns_certs_take_token(c)) {
        sns_certs_count(c, SNS_CERTS_FETCH_METRIC, "limited");
        errbuf_set(err, errlen, "too many new certificate names, try again later");
        goto fail;
    }
    f = calloc(1, sizeof(*f));
    if (!f || !(f->url = strdup(url))) {
        errbuf_set(err, errlen, "certificate fetch: out of memory");
        goto fail;
    }
    f->owner = c;
    TAILQ_INIT(&f->waiters);
    const char *req_url = url;
    if (c->fetch_base) {
        const char *path = strchr(url + strlen("https://"), '/');
        size_t bl = strlen(c->fetch_base), pl = strlen(path);
        fetch_url = malloc(bl + pl + 1);
        if (!fetch_url) {
            errbuf_set(err, errlen, "certificate fetch: out of memory");
            goto fail;
        }
        memcpy(fetch_url, c->fetch_base, bl);
        memcpy(fetch_url + bl, path, pl + 1);
        req_url = fetch_url;
    }
    struct http_request req = {
        .method = "GET",
        .url = req_url,
        .timeout_ms = SNS_CERTS_FETCH_TIMEOUT,
        .connect_timeout_ms = SNS_CERTS_FETCH_TIMEOUT / 2,
        .max_response = SNS_MAX_CERT_FILE,
        .allow_http = c->fetch_base && strncmp(c->fetch_base, "http://", 7) == 0,
    };
    if (http_client_request(c->hc, &req, sns_certs_done, f) != 0) {
        sns_certs_count(c, SNS_CERTS_FETCH_METRIC, "transient");
        errbuf_set(err, errlen, "certificate fetch: HTTP client refused the request");
        goto fail;
    }
    free(fetch_url);
    TAILQ_INSERT_TAIL(&f->waiters, w, link);
    TAILQ_INSERT_HEAD(&c->fetches, f, link);
    c->n_fetches++;
    f->is_new = is_new;
    c->n_new_fetches += is_new;
    return 0;
fail:
    free(fetch_url);
    if (f) {
        free(f->url);
        free(f);
    }
    free(w);
    return rc;
}

void sns_certs_cancel(struct sns_certs *c, sns_certs_cb cb, void *arg)
{
    if (!c)
        return;
    struct sns_certs_fetch *f;
    for (f = TAILQ_FIRST(&c->fetches); f; f = TAILQ_NEXT(f, link)) {
        struct sns_certs_waiter *w = TAILQ_FIRST(&f->waiters), *next;
        for (; w; w = next) {
            next = TAILQ_NEXT(w, link);
            if (w->cb == cb && w->arg == arg) {
                TAILQ_REMOVE(&f->waiters, w, link);
                free(w);
            }
        }
    }
}
