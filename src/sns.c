#include "sns.h"

#include "arn.h"
#include "b64.h"
#include "errbuf.h"
#include "iso8601.h"
#include "jsonx.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#define SNS_CERT_PREFIX  "SimpleNotificationService-"
#define SNS_CERT_SUFFIX  ".pem"
#define SNS_CERT_HEX_MIN 8
#define SNS_CERT_HEX_MAX 128
#define SNS_PEM_LINE_MAX 76
#define SNS_MIN_RSA_BITS 2048

/* ------------------------------------------------------------ timestamp */

/* YYYY-MM-DDTHH:MM:SS[.d{1,9}]Z (iso8601 ISO8601_UTC), 1970 or later. */
static int sns_parse_timestamp(const char *s, time_t *t, int *ms)
{
    int64_t us;
    if (iso8601_parse(s, strlen(s), ISO8601_UTC, &us) || us < 0)
        return -1;
    int64_t secs = us / 1000000;
    if (sizeof(time_t) < 8 && secs > INT32_MAX)
        return -1;
    *t = (time_t)secs;
    *ms = (int)(us % 1000000 / 1000);
    return 0;
}

/*
 * Strict base64 (RFC 4648 section 4, b64 B64_STD), not empty. *out is malloc'd.
 */
static int sns_b64_decode(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
    unsigned char *buf = NULL;

    *out = NULL;
    *outlen = 0;
    if (n == 0 || !(buf = malloc(b64_decoded_max(n))))
        return -1;
    if (b64_decode(B64_STD, in, n, buf, b64_decoded_max(n), outlen)) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

/* ---------------------------------------------------------------- parse */

struct sns_field {
    const char *key;
    int required;
    int allow_null; /* JSON null = absent */
    int allow_nul;  /* U+0000 allowed in the value */
    int allow_empty;
    size_t max;
};

static int sns_get_str(struct json_object *obj, const struct sns_field *f, char **dst, size_t *dlen,
                       char *err, size_t errlen)
{
    struct json_object *v = NULL;

    *dst = NULL;
    if (!json_object_object_get_ex(obj, f->key, &v)) {
        if (f->required) {
            errbuf_set(err, errlen, "%s: missing", f->key);
            return -1;
        }
        return 0;
    }
    if (!v) {
        if (f->allow_null)
            return 0;
        errbuf_set(err, errlen, "%s: must be a string, not null", f->key);
        return -1;
    }
    if (!json_object_is_type(v, json_type_string)) {
        errbuf_set(err, errlen, "%s: must be a string", f->key);
        return -1;
    }
    const char *s = json_object_get_string(v);
    int sl = json_object_get_string_len(v);
    if (!s || sl < 0) {
        errbuf_set(err, errlen, "%s: unreadable", f->key);
        return -1;
    }
    size_t n = (size_t)sl;
    if (n > f->max) {
        errbuf_set(err, errlen, "%s: too long (%zu bytes, at most %zu)", f->key, n, f->max);
        return -1;
    }
    if (n == 0 && !f->allow_empty) {
        errbuf_set(err, errlen, "%s: empty", f->key);
        return -1;
    }
    if (!f->allow_nul && memchr(s, '\0', n)) {
        errbuf_set(err, errlen, "%s: contains U+0000", f->key);
        return -1;
    }
    if (!jsonx_utf8_valid(s, n)) {
        errbuf_set(err, errlen, "%s: not valid UTF-8", f->key);
        return -1;
    }
    char *c = malloc(n + 1);
    if (!c) {
        errbuf_set(err, errlen, "%s: out of memory", f->key);
        return -1;
    }
    memcpy(c, s, n);
    c[n] = '\0';
    *dst = c;
    if (dlen)
        *dlen = n;
    return 0;
}

void sns_message_free(struct sns_message *msg)
{
    if (!msg)
        return;
    free(msg->type_str);
    free(msg->message);
    free(msg->message_id);
    free(msg->topic_arn);
    free(msg->subject);
    free(msg->timestamp);
    free(msg->signature_version_str);
    free(msg->signature);
    free(msg->signing_cert_url);
    free(msg->subscribe_url);
    free(msg->token);
    free(msg->unsubscribe_url);
    memset(msg, 0, sizeof(*msg));
}

int sns_parse(const char *body, size_t len, int max_depth, struct sns_message *out, char *err,
              size_t errlen)
{
    struct json_object *obj = NULL;
    int conf;

    if (out)
        memset(out, 0, sizeof(*out));
    if (!body || !out) {
        errbuf_set(err, errlen, "body: missing");
        goto fail;
    }
    enum jsonx_error jerr =
        jsonx_parse_object(body, len, max_depth > 0 ? max_depth : SNS_DEFAULT_MAX_DEPTH, &obj);
    if (jerr != JSONX_OK) {
        errbuf_set(err, errlen, "body: %s",
                   jerr == JSONX_DEPTH ? "JSON nested too deeply" : jsonx_strerror(jerr));
        goto fail;
    }

    static const struct sns_field f_type = {"Type", 1, 0, 0, 0, 64};
    if (sns_get_str(obj, &f_type, &out->type_str, NULL, err, errlen))
        goto fail;
    if (strcmp(out->type_str, "Notification") == 0) {
        out->type = SNS_NOTIFICATION;
    } else if (strcmp(out->type_str, "SubscriptionConfirmation") == 0) {
        out->type = SNS_SUBSCRIPTION_CONFIRMATION;
    } else if (strcmp(out->type_str, "UnsubscribeConfirmation") == 0) {
        out->type = SNS_UNSUBSCRIBE_CONFIRMATION;
    } else {
        errbuf_set(err, errlen, "Type: unknown message type");
        goto fail;
    }
    conf = out->type != SNS_NOTIFICATION;

    const struct sns_field f_message = {"Message", 1, 0, 1, 1, SNS_MAX_MESSAGE};
    const struct sns_field f_id = {"MessageId", 1, 0, 0, 0, SNS_MAX_FIELD};
    const struct sns_field f_topic = {"TopicArn", 1, 0, 0, 0, SNS_MAX_FIELD};
    const struct sns_field f_subject = {"Subject", 0, 1, 0, 1, SNS_MAX_FIELD};
    const struct sns_field f_ts = {"Timestamp", 1, 0, 0, 0, 64};
    const struct sns_field f_sv = {"SignatureVersion", 1, 0, 0, 0, 16};
    const struct sns_field f_sig = {"Signature", 1, 0, 0, 0, SNS_MAX_FIELD};
    const struct sns_field f_cert = {"SigningCertURL", 1, 0, 0, 0, SNS_MAX_URL};
    const struct sns_field f_sub = {"SubscribeURL", 1, 0, 0, 0, SNS_MAX_URL};
    const struct sns_field f_token = {"Token", 1, 0, 0, 0, SNS_MAX_FIELD};
    const struct sns_field f_unsub = {"UnsubscribeURL", 0, 1, 0, 1, SNS_MAX_URL};

    if (sns_get_str(obj, &f_message, &out->message, &out->message_len, err, errlen) ||
        sns_get_str(obj, &f_id, &out->message_id, NULL, err, errlen) ||
        sns_get_str(obj, &f_topic, &out->topic_arn, NULL, err, errlen) ||
        sns_get_str(obj, &f_ts, &out->timestamp, NULL, err, errlen) ||
        sns_get_str(obj, &f_sv, &out->signature_version_str, NULL, err, errlen) ||
        sns_get_str(obj, &f_sig, &out->signature, NULL, err, errlen) ||
        sns_get_str(obj, &f_cert, &out->signing_cert_url, NULL, err, errlen))
        goto fail;
    if (conf) {
        if (sns_get_str(obj, &f_sub, &out->subscribe_url, NULL, err, errlen) ||
            sns_get_str(obj, &f_token, &out->token, NULL, err, errlen))
            goto fail;
    } else {
        if (sns_get_str(obj, &f_subject, &out->subject, NULL, err, errlen) ||
            sns_get_str(obj, &f_unsub, &out->unsubscribe_url, NULL, err, errlen))
            goto fail;
    }
    if (sns_parse_timestamp(out->timestamp, &out->time, &out->time_ms)) {
        errbuf_set(err, errlen,
                   "Timestamp: not an ISO 8601 UTC time like 2026-03-06T19:55:38.903Z");
        goto fail;
    }
    if (strcmp(out->signature_version_str, "1") == 0) {
        out->signature_version = 1;
    } else if (strcmp(out->signature_version_str, "2") == 0) {
        out->signature_version = 2;
    } else {
        errbuf_set(err, errlen, "SignatureVersion: unsupported (must be \"1\" or \"2\")");
        goto fail;
    }
    json_object_put(obj);
    return 0;
fail:
    if (obj)
        json_object_put(obj);
    if (out)
        sns_message_free(out);
    return -1;
}

/* ------------------------------------------------------- string to sign */

struct sns_kv {
    const char *key;
    const char *val;
    size_t len;
};

int sns_string_to_sign(const struct sns_message *msg, char **out, size_t *len)
{
    struct sns_kv kv[8];
    int n = 0;
    char *buf = NULL;

    if (!out || !len)
        return -1;
    *out = NULL;
    *len = 0;
    if (!msg || !msg->message || !msg->message_id || !msg->timestamp || !msg->topic_arn ||
        !msg->type_str)
        return -1;
    kv[n++] = (struct sns_kv){"Message", msg->message, msg->message_len};
    kv[n++] = (struct sns_kv){"MessageId", msg->message_id, strlen(msg->message_id)};
    if (msg->type == SNS_NOTIFICATION) {
        if (msg->subject)
            kv[n++] = (struct sns_kv){"Subject", msg->subject, strlen(msg->subject)};
        kv[n++] = (struct sns_kv){"Timestamp", msg->timestamp, strlen(msg->timestamp)};
    } else {
        if (!msg->subscribe_url || !msg->token)
            return -1;
        kv[n++] = (struct sns_kv){"SubscribeURL", msg->subscribe_url, strlen(msg->subscribe_url)};
        kv[n++] = (struct sns_kv){"Timestamp", msg->timestamp, strlen(msg->timestamp)};
        kv[n++] = (struct sns_kv){"Token", msg->token, strlen(msg->token)};
    }
    kv[n++] = (struct sns_kv){"TopicArn", msg->topic_arn, strlen(msg->topic_arn)};
    kv[n++] = (struct sns_kv){"Type", msg->type_str, strlen(msg->type_str)};

    size_t total = 1;
    for (int i = 0; i < n; i++)
        total += strlen(kv[i].key) + kv[i].len + 2;
    buf = malloc(total);
    if (!buf)
        return -1;
    size_t p = 0;
    for (int i = 0; i < n; i++) {
        size_t kl = strlen(kv[i].key);
        memcpy(buf + p, kv[i].key, kl);
        p += kl;
        buf[p++] = '\n';
        memcpy(buf + p, kv[i].val, kv[i].len);
        p += kv[i].len;
        buf[p++] = '\n';
    }
    buf[p] = '\0';
    *out = buf;
    *len = p;
    return 0;
}

/* ----------------------------------------------------------------- URLs */

static int sns_ends_with(const char *s, size_t n, const char *suf, size_t *stem)
{
    size_t sl = strlen(suf);
    if (n < sl || memcmp(s + n - sl, suf, sl) != 0)
        return 0;
    *stem = n - sl;
    return 1;
}

/*
 * <prefix><region><suffix> where suffix is ".amazonaws.com" (region not cn-)
 * or ".amazonaws.com.cn" (region cn-...). Exact lowercase bytes.
 */
static int sns_regional_name_ok(const char *h, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix), stem;
    int cn;

    if (n <= pl || memcmp(h, prefix, pl) != 0)
        return 0;
    if (sns_ends_with(h, n, ".amazonaws.com.cn", &stem))
        cn = 1;
    else if (sns_ends_with(h, n, ".amazonaws.com", &stem))
        cn = 0;
    else
        return 0;
    if (stem <= pl)
        return 0;
    const char *r = h + pl;
    size_t rl = stem - pl;
    if (!aws_region_valid(r, rl))
        return 0;
    if (cn != (rl > 3 && memcmp(r, "cn-", 3) == 0))
        return 0;
    return 1;
}

static int sns_host_ok(const char *h, size_t n)
{
    return sns_regional_name_ok(h, n, "sns.");
}

/* Splits "https://<host>" off url; *rest points after the host. */
static int sns_url_host(const char *url, const char **rest, char *err, size_t errlen)
{
    static const char scheme[] = "https://";
    size_t n;

    if (!url) {
        errbuf_set(err, errlen, "missing");
        return -1;
    }
    n = strnlen(url, SNS_MAX_URL + 1);
    if (n > SNS_MAX_URL) {
        errbuf_set(err, errlen, "too long");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\') {
            errbuf_set(err, errlen, "contains whitespace, control, backslash or non-ASCII");
            return -1;
        }
    }
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        errbuf_set(err, errlen, "not https");
        return -1;
    }
    const char *h = url + sizeof(scheme) - 1;
    size_t hl = strcspn(h, "/?#");
    if (memchr(h, '@', hl)) {
        errbuf_set(err, errlen, "userinfo not allowed");
        return -1;
    }
    if (memchr(h, ':', hl)) {
        errbuf_set(err, errlen, "port not allowed");
        return -1;
    }
    if (!sns_host_ok(h, hl)) {
        errbuf_set(err, errlen, "host not an SNS host (sns.<region>.amazonaws.com)");
        return -1;
    }
    *rest = h + hl;
    return 0;
}

int sns_cert_url_check(const char *url, char *err, size_t errlen)
{
    const char *p;
    char sub[160];

    if (sns_url_host(url, &p, sub, sizeof(sub))) {
        errbuf_set(err, errlen, "SigningCertURL: %s", sub);
        return -1;
    }
    size_t pl = strlen(SNS_CERT_PREFIX);
    if (p[0] != '/' || strncmp(p + 1, SNS_CERT_PREFIX, pl) != 0) {
        errbuf_set(err, errlen, "SigningCertURL: path not /SimpleNotificationService-<hex>.pem");
        return -1;
    }
    const char *hex = p + 1 + pl;
    size_t hn = 0;
    while ((hex[hn] >= '0' && hex[hn] <= '9') || (hex[hn] >= 'a' && hex[hn] <= 'f'))
        hn++;
    if (hn < SNS_CERT_HEX_MIN || hn > SNS_CERT_HEX_MAX || strcmp(hex + hn, SNS_CERT_SUFFIX) != 0) {
        errbuf_set(err, errlen, "SigningCertURL: path not /SimpleNotificationService-<hex>.pem");
        return -1;
    }
    return 0;
}

int sns_url_host_check(const char *url, char *err, size_t errlen)
{
    const char *p;
    char sub[160];

    if (sns_url_host(url, &p, sub, sizeof(sub))) {
        errbuf_set(err, errlen, "SubscribeURL: %s", sub);
        return -1;
    }
    if (p[0] != '/') {
        errbuf_set(err, errlen, "SubscribeURL: path missing after the host");
        return -1;
    }
    if (strchr(p, '#')) {
        errbuf_set(err, errlen, "SubscribeURL: fragment not allowed");
        return -1;
    }
    return 0;
}

int sns_cert_filename(const char *url, char *out, size_t outlen)
{
    if (!out || outlen == 0)
        return -1;
    out[0] = '\0';
    if (sns_cert_url_check(url, NULL, 0))
        return -1;
    const char *slash = strrchr(url, '/');
    size_t n = strlen(slash + 1);
    if (n + 1 > outlen)
        return -1;
    memcpy(out, slash + 1, n + 1);
    return 0;
}

/* ---------------------------------------------------------- certificate */

static int sns_pem_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Consumes "\n" or "\r\n" at *p; 0 if none. */
static int sns_eol(const char *s, size_t len, size_t *p)
{
    if (*p < len && s[*p] == '\n') {
        (*p)++;
        return 1;
    }
    if (*p + 1 < len && s[*p] == '\r' && s[*p + 1] == '\n') {
        *p += 2;
        return 1;
    }
    return 0;
}

/* Signing names a certificate may carry (lowercased before the check). */
static int sns_signing_name_ok(const char *name, size_t n)
{
    if ((n == 17 && memcmp(name, "sns.amazonaws.com", 17) == 0) ||
        (n == 20 && memcmp(name, "sns.amazonaws.com.cn", 20) == 0))
        return 1;
    return sns_regional_name_ok(name, n, "sns.") || sns_regional_name_ok(name, n, "sns-") ||
           sns_regional_name_ok(name, n, "sns-signing.");
}

static int sns_asn1_name_ok(const ASN1_STRING *s)
{
    unsigned char *u = NULL;
    int n = ASN1_STRING_to_UTF8(&u, s);
    int ok = 0;

    if (n <= 0 || n > 253)
        goto done;
    for (int i = 0; i < n; i++) {
        if (u[i] >= 'A' && u[i] <= 'Z')
            u[i] = (unsigned char)(u[i] - 'A' + 'a');
    }
    ok = sns_signing_name_ok((const char *)u, (size_t)n);
done:
    OPENSSL_free(u);
    return ok;
}

static int sns_cert_names_ok(X509 *x)
{
    X509_NAME *subj = X509_get_subject_name(x);
    int idx = -1;

    while (subj && (idx = X509_NAME_get_index_by_NID(subj, NID_commonName, idx)) >= 0) {
        X509_NAME_ENTRY *e = X509_NAME_get_entry(subj, idx);
        if (e && sns_asn1_name_ok(X509_NAME_ENTRY_get_data(e)))
            return 1;
    }
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int ok = 0;
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && !ok; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS && sns_asn1_name_ok(g->d.dNSName))
            ok = 1;
    }
    GENERAL_NAMES_free(sans);
    return ok;
}

int sns_cert_load_pem(const char *pem, size_t len, X509 **out, char *err, size_t errlen)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    char *b64 = NULL;
    unsigned char *der = NULL;
    size_t b64n = 0, dern = 0, p = 0;
    X509 *x = NULL;

    if (out)
        *out = NULL;
    if (!pem || !out) {
        errbuf_set(err, errlen, "certificate: missing");
        goto fail;
    }
    if (len == 0 || len > SNS_MAX_CERT_FILE) {
        errbuf_set(err, errlen, "certificate: empty or larger than %d bytes", SNS_MAX_CERT_FILE);
        goto fail;
    }
    while (p < len && sns_pem_ws(pem[p]))
        p++;
    if (len - p < sizeof(begin) - 1 || memcmp(pem + p, begin, sizeof(begin) - 1) != 0) {
        errbuf_set(err, errlen, "certificate: not a PEM CERTIFICATE (other text before it?)");
        goto fail;
    }
    p += sizeof(begin) - 1;
    if (!sns_eol(pem, len, &p)) {
        errbuf_set(err, errlen, "certificate: bad PEM header line");
        goto fail;
    }
    b64 = malloc(len);
    if (!b64) {
        errbuf_set(err, errlen, "certificate: out of memory");
        goto fail;
    }
    for (;;) {
        if (p >= len) {
            errbuf_set(err, errlen, "certificate: PEM END line missing");
            goto fail;
        }
        if (pem[p] == '-')
            break;
        size_t ls = p;
        while (p < len && (b64_value(B64_STD, (unsigned char)pem[p]) >= 0 || pem[p] == '='))
            p++;
        size_t ll = p - ls;
        if (ll == 0 || ll > SNS_PEM_LINE_MAX || !sns_eol(pem, len, &p)) {
            errbuf_set(err, errlen, "certificate: bad PEM body line (headers or junk?)");
            goto fail;
        }
        memcpy(b64 + b64n, pem + ls, ll);
        b64n += ll;
    }
    if (len - p < sizeof(end) - 1 || memcmp(pem + p, end, sizeof(end) - 1) != 0) {
        errbuf_set(err, errlen, "certificate: bad PEM END line");
        goto fail;
    }
    p += sizeof(end) - 1;
    while (p < len && sns_pem_ws(pem[p]))
        p++;
    if (p != len) {
        errbuf_set(err, errlen, "certificate: text after the PEM block");
        goto fail;
    }
    if (sns_b64_decode(b64, b64n, &der, &dern)) {
        errbuf_set(err, errlen, "certificate: PEM body is not strict base64");
        goto fail;
    }
    const unsigned char *dp = der;
    x = d2i_X509(NULL, &dp, (long)dern);
    if (!x || dp != der + dern) {
        errbuf_set(err, errlen, "certificate: not one DER X.509 certificate");
        goto fail;
    }
    EVP_PKEY *pk = X509_get0_pubkey(x);
    if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
        errbuf_set(err, errlen, "certificate: key is not RSA");
        goto fail;
    }
    if (EVP_PKEY_get_bits(pk) < SNS_MIN_RSA_BITS) {
        errbuf_set(err, errlen, "certificate: RSA key shorter than %d bits", SNS_MIN_RSA_BITS);
        goto fail;
    }
    if (!sns_cert_names_ok(x)) {
        errbuf_set(err, errlen, "certificate: subject is not sns.amazonaws.com");
        goto fail;
    }
    free(b64);
    free(der);
    *out = x;
    return 0;
fail:
    X509_free(x);
    free(b64);
    free(der);
    return -1;
}

static int sns_asn1_time_t(const ASN1_TIME *a, long long *t)
{
    struct tm tm;

    if (!a || ASN1_TIME_to_tm(a, &tm) != 1)
        return -1;
    *t = iso8601_days_from_civil(tm.tm_year + 1900LL, (unsigned)tm.tm_mon + 1,
                                 (unsigned)tm.tm_mday) *
             86400LL +
         tm.tm_hour * 3600LL + tm.tm_min * 60LL + tm.tm_sec;
    return 0;
}

int sns_cert_valid_at(const X509 *cert, time_t t)
{
    long long nb, na;

    if (!cert || sns_asn1_time_t(X509_get0_notBefore(cert), &nb) ||
        sns_asn1_time_t(X509_get0_notAfter(cert), &na))
        return -1;
    return ((long long)t >= nb && (long long)t <= na) ? 0 : -1;
}

int sns_verify(const struct sns_message *msg, X509 *cert, char *err, size_t errlen)
{
    unsigned char *sig = NULL;
    size_t sigl = 0;
    char *sts = NULL;
    size_t stsl = 0;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *alg;

    if (!msg || !cert || !msg->signature) {
        errbuf_set(err, errlen, "signature: message or certificate missing");
        goto fail;
    }
    if (msg->signature_version == 1) {
        alg = EVP_sha1();
    } else if (msg->signature_version == 2) {
        alg = EVP_sha256();
    } else {
        errbuf_set(err, errlen, "SignatureVersion: unsupported (must be 1 or 2)");
        goto fail;
    }
    if (sns_cert_valid_at(cert, msg->time)) {
        errbuf_set(err, errlen, "certificate: not valid at the message Timestamp");
        goto fail;
    }
    EVP_PKEY *pk = X509_get0_pubkey(cert);
    if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
        errbuf_set(err, errlen, "certificate: key is not RSA");
        goto fail;
    }
    if (sns_b64_decode(msg->signature, strlen(msg->signature), &sig, &sigl)) {
        errbuf_set(err, errlen, "Signature: not strict base64");
        goto fail;
    }
    if (sns_string_to_sign(msg, &sts, &stsl)) {
        errbuf_set(err, errlen, "signature: cannot build the string to sign");
        goto fail;
    }
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestVerifyInit(md, &pctx, alg, NULL, pk) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        errbuf_set(err, errlen, "signature: OpenSSL verify setup failed");
        goto fail;
    }
    if (EVP_DigestVerify(md, sig, sigl, (const unsigned char *)sts, stsl) != 1) {
        errbuf_set(err, errlen, "signature does not match");
        goto fail;
    }
    EVP_MD_CTX_free(md);
    free(sig);
    free(sts);
    return 0;
fail:
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    free(sig);
    free(sts);
    return -1;
}
