/*
 * aws_creds: AWS credentials, looked up in the SDKs' order (first match wins):
 *
 *   1. environment: cfg->aws_access_key_id + cfg->aws_secret_access_key
 *      (+ cfg->aws_session_token); static, never refreshed;
 *   2. web identity: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
 *      (+ AWS_ROLE_SESSION_NAME): STS AssumeRoleWithWebIdentity, an unsigned
 *      form POST to https://sts.<region>.amazonaws.com (AWS_ENDPOINT_URL_STS
 *      overrides it); the token file is read again at every refresh;
 *   3. shared files: AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE
 *      (defaults ~/.aws/credentials, ~/.aws/config), profile AWS_PROFILE
 *      else "default": static keys (+ aws_session_token), or
 *      credential_process (run by /bin/sh -c off the loop, with a timeout;
 *      its JSON has Version 1, AccessKeyId, SecretAccessKey, SessionToken,
 *      Expiration). A profile needing something unsupported (role_arn,
 *      source_profile, credential_source, sso_*, web_identity_token_file) is a
 *      start-up error naming the profile and the key; a profile naming no
 *      credentials is skipped;
 *   4. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *      (http://169.254.170.2<uri>), else AWS_CONTAINER_CREDENTIALS_FULL_URI
 *      (https anywhere; http only to loopback 127.0.0.0/8, [::1], localhost,
 *      or the ECS/EKS hosts 169.254.170.2, 169.254.170.23, [fd00:ec2::23]),
 *      with an Authorization header from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 *      (re-read at each fetch) or AWS_CONTAINER_AUTHORIZATION_TOKEN;
 *   5. EC2 instance metadata, IMDSv2 only (PUT /latest/api/token, then the
 *      role and its credentials with X-aws-ec2-metadata-token), at
 *      cfg->aws_ec2_metadata_service_endpoint (NULL = off) unless
 *      cfg->aws_ec2_metadata_disabled; 1 s connect timeout. Until instance
 *      metadata has answered once, a failed probe leaves the state NONE
 *      (nothing found) and it is probed again with backoff.
 *
 * Temporary credentials from any source are fetched asynchronously and
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
/*
 * The source in use: "environment", "web identity", "profile <name>",
 * "credential_process (profile <name>)", "container",
 * "instance metadata (role <role>)" ("instance metadata" before the role is
 * known), or "none".
 */
const char *aws_creds_source(const struct aws_creds *c);
/* Number of successful fetches so far (for tests and metrics). */
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

/*
 * Parse an STS AssumeRoleWithWebIdentity answer (XML): the
 * AssumeRoleWithWebIdentityResult's Credentials (AccessKeyId,
 * SecretAccessKey, SessionToken, Expiration, all required). 0 ok; -1 with err:
 * "Code: Message" for an ErrorResponse, else what is malformed.
 */
int aws_creds_parse_sts_xml(const char *body, size_t len, struct aws_credentials *out, char *err,
                            size_t errlen);
/*
 * Parse credential_process output {Version: 1, AccessKeyId, SecretAccessKey,
 * SessionToken?, Expiration?}. 0 ok; -1 with err (never a secret).
 */
int aws_creds_parse_process_json(const char *body, size_t len, struct aws_credentials *out,
                                 char *err, size_t errlen);

/* One profile of the shared files, as far as ivs-syncd uses it. */
struct aws_profile_info {
    int found; /* the section exists in one of the files */
    char access_key_id[AWS_CREDS_KEY_MAX + 1];
    char secret_access_key[AWS_CREDS_SECRET_MAX + 1];
    char session_token[AWS_CREDS_TOKEN_MAX + 1];
    char credential_process[2048];
};
/*
 * Resolve profile name from the text of the credentials file and of the
 * config file (either may be NULL; in config the section is "[profile name]",
 * "[default]" for default). A key in the credentials file wins over the same
 * key in config. Returns 1 when the profile names credentials (static keys or
 * credential_process), 0 when it names none, -1 with err naming the profile
 * and the key for an unsupported key or a broken profile (e.g. a key id
 * without a secret).
 */
int aws_profile_resolve(const char *creds_text, const char *config_text, const char *name,
                        struct aws_profile_info *out, char *err, size_t errlen);

#endif
