/*
 * sns_certs: the SNS signing-certificate cache (SPEC 5.1-5.2).
 *
 * Certificates are keyed by their SigningCertURL (which must pass
 * sns_cert_url_check(); every entry point checks it again). A lookup uses,
 * in order: the in-memory LRU cache (at most max_entries certificates), then
 * <cert_dir>/<URL file name> (SNS_CERT_DIR, strict PEM rules of
 * sns_cert_load_pem()). sns_certs_fetch() GETs the URL asynchronously through
 * the http_client (https, no redirects, 5 s, at most 64 KiB); concurrent
 * fetches of one URL share one request. A fetched certificate is cached and
 * written to cert_dir when it is writable (temp file + rename, mode 0644).
 * A URL whose fetch failed non-transiently (bad body, bad subject, HTTP 4xx)
 * is not fetched again for SNS_CERTS_NEGATIVE_TTL seconds; one whose fetch
 * failed transiently (network, 5xx) not for SNS_CERTS_TRANSIENT_TTL (callers
 * answer 503 meanwhile), so a flood costs one fetch per second at most.
 *
 * Names never fetched successfully before (and not in cert_dir) are what a
 * flood of forgeries with random names brings: their fetches take a token
 * from a bucket (SNS_CERTS_NEW_BURST, refilled at SNS_CERTS_NEW_RATE per
 * second; a flood of 300 random names costs about 20 + its duration in
 * seconds fetches) and use at most SNS_CERTS_MAX_FETCHES - SNS_CERTS_RESERVED
 * slots, so a name that worked before always finds one. Both refusals are
 * transient (503: SNS retries, and a genuine new certificate gets a token
 * within about a second once the burst is spent). With a fetch base (tests),
 * fetched certificates stay in memory only, never written to cert_dir.
 *
 * Ownership: sns_certs_new() copies cert_dir; hc and m are borrowed and must
 * outlive the cache. X509 pointers handed out (by lookup or to a callback)
 * are borrowed: valid until the next call into sns_certs (for a callback:
 * during the callback); X509_up_ref() one to keep it. Free the cache before
 * the http_client: sns_certs_free() cancels its pending HTTP requests with
 * http_client_cancel() and drops waiters without calling them. Single
 * threaded (the event loop); callbacks must not call sns_certs_free().
 *
 * Metrics (when m != NULL): ivs_syncd_sns_cert_cache_total{result=hit|file|
 * bad_file|miss}, ivs_syncd_sns_cert_fetch_total{result=ok|transient|invalid|
 * negative|busy|limited}, ivs_syncd_sns_cert_write_total{result=ok|error}.
 */
#ifndef IVS_SNS_CERTS_H
#define IVS_SNS_CERTS_H

#include <stddef.h>

#include <openssl/x509.h>

struct http_client;
struct metrics;
struct sns_certs;

#define SNS_CERTS_DEFAULT_ENTRIES 64
#define SNS_CERTS_NEGATIVE_TTL    60   /* seconds */
#define SNS_CERTS_TRANSIENT_TTL   1    /* seconds before a URL whose host failed is fetched again */
#define SNS_CERTS_MAX_FETCHES     16   /* distinct URLs in flight */
#define SNS_CERTS_FETCH_TIMEOUT   5000 /* ms, whole transfer */
#define SNS_CERTS_RESERVED        1    /* fetch slots kept for names that worked before */
#define SNS_CERTS_NEW_BURST       20   /* fetches of new names at once, then ... */
#define SNS_CERTS_NEW_RATE        1.0  /* ... this many per second */
#define SNS_CERTS_KNOWN           256  /* names fetched successfully, remembered */

/*
 * cert: the certificate (borrowed, valid during the call) or NULL on failure;
 * transient: 1 when the failure is ours or the network's (answer 503 so SNS
 * retries), 0 when the certificate itself is bad (answer 403); err: a short
 * message (NULL on success).
 */
typedef void (*sns_certs_cb)(X509 *cert, int transient, const char *err, void *arg);

/*
 * hc: NULL disables fetching; cert_dir: NULL/"" = none; max_entries <= 0:
 * SNS_CERTS_DEFAULT_ENTRIES; m: may be NULL. Returns NULL on allocation
 * failure.
 */
struct sns_certs *sns_certs_new(struct http_client *hc, const char *cert_dir, int max_entries,
                                struct metrics *m);
void sns_certs_free(struct sns_certs *c);

/*
 * For tests: fetch from base ("http://127.0.0.1:PORT", no trailing slash)
 * instead of "https://<host>"; the URL checks still apply to the original
 * URL, the cache key stays the original URL, and what is fetched is never
 * written to cert_dir. NULL restores normal fetching.
 * Returns 0, -1 on a bad base or allocation failure.
 */
int sns_certs_set_fetch_base(struct sns_certs *c, const char *base);

/* The new-name token bucket: burst tokens (>= 1), refilled at per_second
 * (defaults SNS_CERTS_NEW_BURST, SNS_CERTS_NEW_RATE); the bucket starts full. */
void sns_certs_set_new_limit(struct sns_certs *c, double burst, double per_second);

/*
 * The certificate for url from the cache or cert_dir, or NULL. On NULL, err
 * (may be NULL) says why: "certificate not cached" (fetch it), a bad URL, or a
 * bad file in cert_dir (not cached; a fetch may replace it).
 */
X509 *sns_certs_lookup(struct sns_certs *c, const char *url, char *err, size_t errlen);

/*
 * Start (or join) the asynchronous fetch of url. Returns 0 when accepted: cb
 * is called exactly once later (never inside this call) unless cancelled or
 * the cache is freed. Otherwise cb is never called and the return says why,
 * with a message in err: -1 permanent (bad URL, URL failed recently: answer
 * 403), -2 transient (fetching disabled, too many fetches in flight, the
 * HTTP client refused: answer 503).
 */
int sns_certs_fetch(struct sns_certs *c, const char *url, sns_certs_cb cb, void *arg, char *err,
                    size_t errlen);

/*
 * Drop every waiter (cb, arg) (its request went away); its callback will not
 * be called. The fetch itself goes on and its result is cached.
 */
void sns_certs_cancel(struct sns_certs *c, sns_certs_cb cb, void *arg);

/* Number of fetches in flight (distinct URLs). */
int sns_certs_pending(const struct sns_certs *c);

#endif
