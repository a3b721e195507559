/*
 * SNS envelope: sns_parse() + sns_string_to_sign(), and the URL rules on the
 * parsed SigningCertURL / SubscribeURL / UnsubscribeURL. When the real SNS
 * certificate of the seeds can be read (run from the top directory, or
 * FUZZ_SNS_CERT=path), sns_verify() runs on every parsed message too
 * (strict base64 of Signature, validity at Timestamp, RSA verify).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "sns.h"

static X509 *cert;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *path = getenv("FUZZ_SNS_CERT");
    if (!path)
        path = "tests/fuzz/seeds/sns_cert/SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem";
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    static char buf[SNS_MAX_CERT_FILE];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (sns_cert_load_pem(buf, n, &cert, NULL, 0) != 0)
        cert = NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = fuzz_exact(data, size);
    char err[128];
    struct sns_message m;
    /* depth: the default, and a small one (json-c's depth handling) */
    int depth = size > 0 && (data[size - 1] & 1) ? 4 : 0;
    if (sns_parse(body, size, depth, &m, err, sizeof(err)) == 0) {
        if (!m.type_str || !m.message || !m.message_id || !m.topic_arn || !m.timestamp ||
            !m.signature || !m.signing_cert_url || !m.signature_version_str)
            abort();
        if (m.signature_version != 1 && m.signature_version != 2)
            abort();
        if (m.time_ms < 0 || m.time_ms > 999)
            abort();
        char *sts = NULL;
        size_t n = 0;
        if (sns_string_to_sign(&m, &sts, &n) == 0) {
            if (strlen(sts) > n || sts[n] != '\0')
                abort();
            free(sts);
        }
        if (cert) {
            if (sns_verify(&m, cert, err, sizeof(err)) != 0)
                fuzz_check_err(err, sizeof(err));
        }
        char name[SNS_CERT_NAME_MAX];
        sns_cert_url_check(m.signing_cert_url, err, sizeof(err));
        sns_cert_filename(m.signing_cert_url, name, sizeof(name));
        if (m.subscribe_url)
            sns_url_host_check(m.subscribe_url, err, sizeof(err));
        if (m.unsubscribe_url)
            sns_url_host_check(m.unsubscribe_url, err, sizeof(err));
        sns_message_free(&m);
        sns_message_free(&m); /* zeroed: must be a no-op */
    } else {
        fuzz_check_err(err, sizeof(err));
        /* *out must be zeroed on failure */
        static const struct sns_message zero;
        if (memcmp(&m, &zero, sizeof(m)) != 0)
            abort();
    }
    /* a short error buffer and none at all */
    if (sns_parse(body, size, 0, &m, err, 1) == 0)
        sns_message_free(&m);
    if (sns_parse(body, size, 0, &m, NULL, 0) == 0)
        sns_message_free(&m);
    free(body);
    return 0;
}
