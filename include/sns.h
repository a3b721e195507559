/*
 * sns: the Amazon SNS HTTP(S) envelope, its string-to-sign, the signature
 * check (OpenSSL EVP) and the certificate URL / certificate rules
 * (SPEC 1.1, 5.1-5.2).
 *
 * Pure logic: no global state, no I/O (the verify-sns command, which reads a
 * certificate file, is cmd_sns). Errors are returned as values with a short message in
 * the caller's buffer (err, errlen; err may be NULL or errlen 0).
 *
 * Ownership: struct sns_message is filled by sns_parse() and owns all its
 * strings (malloc'd); release it with sns_message_free(). X509 objects
 * returned by sns_cert_load_pem() belong to the caller (X509_free()).
 */
#ifndef IVS_SNS_H
#define IVS_SNS_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#define SNS_DEFAULT_MAX_DEPTH 32
#define SNS_MAX_MESSAGE       (256 * 1024) /* bytes of the decoded Message */
#define SNS_MAX_FIELD         8192         /* bytes of any other decoded field */
#define SNS_MAX_URL           1024         /* SigningCertURL / SubscribeURL */
#define SNS_MAX_CERT_FILE     (64 * 1024)  /* a PEM certificate body */
#define SNS_CERT_NAME_MAX     200          /* buffer for sns_cert_filename() */

enum sns_type {
    SNS_NOTIFICATION = 1,
    SNS_SUBSCRIPTION_CONFIRMATION,
    SNS_UNSUBSCRIBE_CONFIRMATION,
};

struct sns_message {
    enum sns_type type;
    char *type_str; /* "Notification", ... */
    char *message;  /* decoded; may contain newlines (no NUL unless message_len says so) */
    size_t message_len;
    char *message_id;
    char *topic_arn;
    char *subject;               /* NULL when absent or JSON null */
    char *timestamp;             /* as received, e.g. "2026-03-06T19:55:38.903Z" */
    time_t time;                 /* Timestamp, seconds since the epoch (UTC) */
    int time_ms;                 /* Timestamp milliseconds, 0..999 */
    char *signature_version_str; /* "1" or "2" */
    int signature_version;       /* 1 or 2 */
    char *signature;             /* base64, as received */
    char *signing_cert_url;
    char *subscribe_url;   /* confirmation types only, else NULL */
    char *token;           /* confirmation types only, else NULL */
    char *unsubscribe_url; /* Notification, optional, NULL when absent */
};

/*
 * Parse the JSON envelope body[0..len). max_depth: JSON nesting limit (<= 0:
 * SNS_DEFAULT_MAX_DEPTH). Strict: valid UTF-8, no NUL bytes, one JSON object
 * and nothing but whitespace after it; Type one of the three types; the signed
 * fields of that type plus SignatureVersion, Signature and SigningCertURL are
 * required and must be JSON strings (Subject may be absent or null;
 * UnsubscribeURL optional; other members ignored). Only Message may contain
 * U+0000. Timestamp must be YYYY-MM-DDTHH:MM:SS[.fraction]Z with valid ranges.
 * SignatureVersion must be "1" or "2".
 * Returns 0 and fills *out (free with sns_message_free()), or -1 with a
 * message and *out zeroed (nothing to free).
 */
int sns_parse(const char *body, size_t len, int max_depth, struct sns_message *out, char *err,
              size_t errlen);
/* Free the strings of *msg and zero it; NULL and a zeroed message are fine. */
void sns_message_free(struct sns_message *msg);

/*
 * The exact AWS string-to-sign ("Key\nValue\n" for each signed key, in order).
 * *out is malloc'd and NUL-terminated (caller frees), *len its length without
 * the NUL. Returns 0, or -1 (allocation failure, missing field).
 */
int sns_string_to_sign(const struct sns_message *msg, char **out, size_t *len);

/*
 * SigningCertURL rule: exactly
 *   https://sns.<region>.amazonaws.com/SimpleNotificationService-<hex>.pem
 * or the same with host sns.cn-<...>.amazonaws.com.cn; region lowercase like
 * "us-east-1" / "us-gov-west-1" ([a-z]{2}(-[a-z]+)+-[0-9]{1,2}); hex 8-128 of
 * [0-9a-f]. No port, userinfo, query, fragment, percent-encoding, whitespace
 * or anything else. Returns 0 ok, -1 with a message.
 */
int sns_cert_url_check(const char *url, char *err, size_t errlen);
/*
 * SubscribeURL rule: "https://" + an SNS host (same rule) + "/" + any
 * printable ASCII except space, backslash and '#'. No port, no userinfo.
 * Returns 0 ok, -1 with a message.
 */
int sns_url_host_check(const char *url, char *err, size_t errlen);
/*
 * Copy the file name of a valid SigningCertURL
 * ("SimpleNotificationService-<hex>.pem") into out. Returns 0, or -1 if the
 * URL fails sns_cert_url_check() or out is too small (SNS_CERT_NAME_MAX is).
 */
int sns_cert_filename(const char *url, char *out, size_t outlen);

/*
 * Strict certificate load: pem[0..len) must be exactly one
 * "-----BEGIN CERTIFICATE-----" ... "-----END CERTIFICATE-----" block of
 * canonical base64 lines (<= 76 chars, LF or CRLF), with only whitespace
 * around it; the DER must be one complete X.509 certificate; its subject CN
 * or a SAN DNS name must be sns.amazonaws.com or sns.<region>.amazonaws.com[.cn]
 * (case-insensitive); its key must be RSA >= 2048 bits. Validity dates are NOT
 * checked here (see sns_cert_valid_at()). Returns 0 and a new X509 in *out
 * (caller frees), or -1 with a message and *out = NULL.
 */
int sns_cert_load_pem(const char *pem, size_t len, X509 **out, char *err, size_t errlen);
/* 0 if notBefore <= t <= notAfter, -1 otherwise (or unreadable dates). */
int sns_cert_valid_at(const X509 *cert, time_t t);

/*
 * Verify msg with cert: the certificate must be valid at msg->time, its key
 * RSA; Signature must be strict base64 (no whitespace, canonical padding);
 * RSA PKCS#1 v1.5 with SHA1 (SignatureVersion 1) or SHA256 (2) over
 * sns_string_to_sign(). Does NOT check the URL, the topic, the message age or
 * SNS_MIN_SIGNATURE_VERSION (callers compare msg->signature_version).
 * Returns 0 valid, -1 with a message.
 */
int sns_verify(const struct sns_message *msg, X509 *cert, char *err, size_t errlen);

#endif
