/* cmd_sns: ivs-syncd verify-sns, one SNS message checked offline. */
#include "cmd_sns.h"

#include "errbuf.h"
#include "sns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/x509.h>

static int read_small_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t n;

    *out = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (!f) {
        errbuf_set(err, errlen, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    buf = malloc(SNS_MAX_CERT_FILE + 1);
    if (!buf) {
        errbuf_set(err, errlen, "out of memory");
        goto fail;
    }
    n = fread(buf, 1, SNS_MAX_CERT_FILE + 1, f);
    if (ferror(f)) {
        errbuf_set(err, errlen, "cannot read %s", path);
        goto fail;
    }
    if (n > SNS_MAX_CERT_FILE) {
        errbuf_set(err, errlen, "%s: larger than %d bytes", path, SNS_MAX_CERT_FILE);
        goto fail;
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
fail:
    if (f)
        fclose(f);
    free(buf);
    return -1;
}

static void fmt_time(const ASN1_TIME *a, char *buf, size_t n)
{
    struct tm tm;
    if (!a || ASN1_TIME_to_tm(a, &tm) != 1 || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, n, "?");
}

/*
 * The shape SNS messages have in Lambda events and SQS bodies, as operators
 * paste them from logs: "SigningCertUrl" / "UnsubscribeUrl" instead of
 * "...URL", and "Subject": null when there is none. Returns a malloc'd body in
 * the HTTPS shape that sns_parse accepts (values untouched, so the
 * string-to-sign, built from values, is the same), or NULL when body needs no
 * change (or is not a JSON object: sns_parse then says why). Only verify-sns
 * does this: POST /sns accepts what SNS itself sends, nothing else.
 */
static char *https_shape(const char *body, size_t len)
{
    static const char *const keys[][2] = {{"SigningCertUrl", "SigningCertURL"},
                                          {"UnsubscribeUrl", "UnsubscribeURL"}};
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *o =
        len <= (size_t)4 * 1024 * 1024 ? json_tokener_parse_ex(tok, body, (int)len) : NULL;
    json_tokener_free(tok);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    int changed = 0;
    struct json_object *v = NULL;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (json_object_object_get_ex(o, keys[i][0], &v) &&
            !json_object_object_get_ex(o, keys[i][1], NULL)) {
            json_object_object_add(o, keys[i][1], json_object_get(v));
            json_object_object_del(o, keys[i][0]);
            changed = 1;
        }
    if (json_object_object_get_ex(o, "Subject", &v) && v == NULL) {
        json_object_object_del(o, "Subject");
        changed = 1;
    }
    char *out = NULL;
    if (changed) {
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
        out = t ? strdup(t) : NULL;
    }
    json_object_put(o);
    return out;
}

int cmd_sns_verify_offline(const char *body, size_t len, const char *cert_dir, int min_sigver,
                           char *why, size_t whylen)
{
    struct sns_message msg;
    char err[256], name[SNS_CERT_NAME_MAX], path[4096 + SNS_CERT_NAME_MAX];
    char *pem = NULL;
    size_t peml = 0;
    X509 *cert = NULL;

    memset(&msg, 0, sizeof(msg));
    char *reshaped = https_shape(body, len);
    if (reshaped) {
        body = reshaped;
        len = strlen(reshaped);
    }
    int pr = sns_parse(body, len, SNS_DEFAULT_MAX_DEPTH, &msg, err, sizeof(err));
    free(reshaped);
    if (pr) {
        errbuf_set(why, whylen, "invalid: %s", err);
        goto fail;
    }
    if (msg.signature_version < min_sigver) {
        errbuf_set(why, whylen, "invalid: SignatureVersion %d below the required minimum %d",
                   msg.signature_version, min_sigver);
        goto fail;
    }
    if (sns_cert_url_check(msg.signing_cert_url, err, sizeof(err))) {
        errbuf_set(why, whylen, "invalid: %s", err);
        goto fail;
    }
    if (!cert_dir || !cert_dir[0]) {
        errbuf_set(why, whylen, "invalid: no certificate directory (SNS_CERT_DIR) set");
        goto fail;
    }
    if (sns_cert_filename(msg.signing_cert_url, name, sizeof(name))) {
        errbuf_set(why, whylen, "invalid: SigningCertURL: no file name");
        goto fail;
    }
    int pn = snprintf(path, sizeof(path), "%s/%s", cert_dir, name);
    if (pn < 0 || (size_t)pn >= sizeof(path)) {
        errbuf_set(why, whylen, "invalid: certificate path too long");
        goto fail;
    }
    if (read_small_file(path, &pem, &peml, err, sizeof(err))) {
        errbuf_set(why, whylen, "invalid: certificate %s", err);
        goto fail;
    }
    if (sns_cert_load_pem(pem, peml, &cert, err, sizeof(err))) {
        errbuf_set(why, whylen, "invalid: %s (%s)", err, path);
        goto fail;
    }
    if (sns_verify(&msg, cert, err, sizeof(err))) {
        errbuf_set(why, whylen, "invalid: %s", err);
        goto fail;
    }
    char nb[32], na[32];
    fmt_time(X509_get0_notBefore(cert), nb, sizeof(nb));
    fmt_time(X509_get0_notAfter(cert), na, sizeof(na));
    errbuf_set(why, whylen,
               "valid: %s %s from %s at %s, SignatureVersion %d, certificate %s (valid %s .. %s)",
               msg.type_str, msg.message_id, msg.topic_arn, msg.timestamp, msg.signature_version,
               name, nb, na);
    X509_free(cert);
    free(pem);
    sns_message_free(&msg);
    return 0;
fail:
    X509_free(cert);
    free(pem);
    sns_message_free(&msg);
    return -1;
}
