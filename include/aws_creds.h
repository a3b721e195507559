/*
 * aws_creds: AWS credentials, looked up in the SDKs' order:
 *
 *   1. environment: cfg->aws_access_key_id + cfg->aws_secret_access_key
 *      (+ cfg->aws_session_token); static, never refreshed;
 *   2. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *      (http://169.254.170.2<uri>), else AWS_CONTAINER_CREDENTIALS_FULL_URI
 *      (https anywhere; http only to loopback 127.0.0.0/8, [::1], localhost,
 *      or the ECS/EKS hosts 169.254.170.2, 169.254.170.23, [fd00:ec2::23]),
 *      with an Authorization header from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 *      (re-read at each fetch) or AWS_CONTAINER_AUTHORIZATION_TOKEN.
 *
 * Container credentials are fetched asynchronously through http_client and
 * refreshed before their Expiration (5 min before, or at half the remaining
 * lifetime when that is shorter); a failed fetch is retried with backoff and
 * the old credentials are kept while they are still valid.
 *
 * Secrets never appear in error strings or logs.
 */
#ifndef IVS_AWS_CREDS_H
#define IVS_AWS_CREDS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct http_client;
struct config;
struct aws_creds;
struct aws_creds_waiter;

#define AWS_CREDS_KEY_MAX    128
#define AWS_CREDS_SECRET_MAX 128
#define AWS_CREDS_TOKEN_MAX  4096

enum aws_creds_state {
    AWS_CREDS_NONE = 0, /* no source configured: "AWS credentials not configured" */
    AWS_CREDS_LOADING,  /* first fetch under way */
    AWS_CREDS_READY,    /* usable credentials */
    AWS_CREDS_FAILED,   /* a source is configured but nothing valid is held (retrying) */
};

/* A plain copy, owned by the caller (wipe it after use if you care). */
struct aws_credentials {
    char access_key_id[AWS_CREDS_KEY_MAX + 1];
    char secret_access_key[AWS_CREDS_SECRET_MAX + 1];
    char session_token[AWS_CREDS_TOKEN_MAX + 1]; /* "" when none */
    int64_t expiration_us;                       /* CLOCK_REALTIME µs; 0 = never */
};

/*
 * Build the provider from cfg (read during the call only; the strings are
 * copied). hc is borrowed and must outlive the provider (may be NULL when only
 * environment credentials are possible). A container fetch starts from the
 * loop right away. Returns NULL with a message in err for an invalid
 * configuration (e.g. a FULL_URI host that is not allowed, half of a key pair).
 */
struct aws_creds *aws_creds_new(struct event_base *base, struct http_client *hc,
                                const struct config *cfg, char *err, size_t errlen);
/* Drops waiters without calling them; cancels a fetch in progress. NULL ok. */
void aws_creds_free(struct aws_creds *c);

enum aws_creds_state aws_creds_state(const struct aws_creds *c); /* NULL -> NONE */
/* Copy the current credentials into *out: 0 when READY, -1 otherwise. */
int aws_creds_get(const struct aws_creds *c, struct aws_credentials *out);
/* Last error (e.g. why the container fetch failed), "" when none. Owned by c. */
const char *aws_creds_error(const struct aws_creds *c);
/* "environment", "container" or "none". */
const char *aws_creds_source(const struct aws_creds *c);
/* Number of successful container fetches so far (for tests and metrics). */
unsigned aws_creds_fetches(const struct aws_creds *c);

/*
 * Wait for readiness: cb(ok, arg) runs once, from the loop, when the state is
 * (or becomes) anything but LOADING; ok = 1 when READY. Never called inside
 * this function. Returns a handle (owned by c; valid until cb runs or it is
 * cancelled) or NULL on allocation failure.
 */
typedef void (*aws_creds_ready_cb)(int ok, void *arg);
struct aws_creds_waiter *aws_creds_on_ready(struct aws_creds *c, aws_creds_ready_cb cb, void *arg);
/* Cancel a waiter that has not run yet; its callback is not called. */
void aws_creds_cancel(struct aws_creds *c, struct aws_creds_waiter *w);

/* Pure helpers, exposed for tests. */

/* 0 when uri is an allowed AWS_CONTAINER_CREDENTIALS_FULL_URI, else -1 and err. */
int aws_creds_check_full_uri(const char *uri, char *err, size_t errlen);
/*
 * Parse an ISO 8601 / RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)"
 * into microseconds since the epoch. 0 ok, -1 malformed.
 */
int aws_creds_parse_time(const char *s, int64_t *out_us);
/*
 * Parse a container credentials answer {AccessKeyId, SecretAccessKey, Token,
 * Expiration} into *out. 0 ok; -1 with err (never containing a secret).
 */
int aws_creds_parse_json(const char *body, size_t len, struct aws_credentials *out, char *err,
                         size_t errlen);
/*
 * When to refresh credentials expiring at exp_us, seen at now_us: the delay in
 * µs (5 min before expiry, or half the remaining lifetime when shorter; at
 * least 100 ms). exp_us = 0 (no expiry) -> -1 (never).
 */
int64_t aws_creds_refresh_delay(int64_t now_us, int64_t exp_us);

#endif
