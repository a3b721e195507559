/*
 * SNS certificate rules: sns_cert_url_check(), sns_url_host_check(),
 * sns_cert_filename() on the input as a string, and the strict PEM loader
 * sns_cert_load_pem() on the raw bytes. An input that starts like DER (0x30,
 * a SEQUENCE) is also wrapped into a well-formed PEM block, so that the DER
 * checks (one certificate, RSA >= 2048, SNS subject / SAN names, validity
 * dates) are fuzzed directly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "fuzz_util.h"
#include "sns.h"

static void load(const char *pem, size_t len)
{
    char err[128];
    X509 *cert = (X509 *)1;
    if (sns_cert_load_pem(pem, len, &cert, err, sizeof(err)) == 0) {
        if (!cert)
            abort();
        sns_cert_valid_at(cert, 0);
        sns_cert_valid_at(cert, 1725898646);
        X509_free(cert);
    } else {
        if (cert)
            abort();
        fuzz_check_err(err, sizeof(err));
    }
}

/* der -> "-----BEGIN CERTIFICATE-----\n" 64-column base64 "-----END CERTIFICATE-----\n" */
static void load_der(const uint8_t *der, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t cap = 64 + n / 48 * 66 + 70;
    char *pem = malloc(cap);
    if (!pem)
        abort();
    size_t o = 0, col = 0;
    memcpy(pem, "-----BEGIN CERTIFICATE-----\n", 28);
    o = 28;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)der[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)der[i + 1] << 8;
        if (i + 2 < n)
            v |= der[i + 2];
        pem[o++] = tab[v >> 18 & 63];
        pem[o++] = tab[v >> 12 & 63];
        pem[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        pem[o++] = i + 2 < n ? tab[v & 63] : '=';
        col += 4;
        if (col == 64) {
            pem[o++] = '\n';
            col = 0;
        }
    }
    if (col)
        pem[o++] = '\n';
    memcpy(pem + o, "-----END CERTIFICATE-----\n", 26);
    o += 26;
    if (o > cap)
        abort();
    load(pem, o);
    free(pem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    char *s = fuzz_cstr(data, size);

    int ok = sns_cert_url_check(s, err, sizeof(err)) == 0;
    if (!ok)
        fuzz_check_err(err, sizeof(err));
    sns_url_host_check(s, err, sizeof(err));
    fuzz_check_err(err, sizeof(err));
    sns_url_host_check(s, NULL, 0);

    char name[SNS_CERT_NAME_MAX];
    int fn = sns_cert_filename(s, name, sizeof(name));
    if (fn == 0) {
        if (!ok || !memchr(name, '\0', sizeof(name)))
            abort();
        if (strncmp(name, "SimpleNotificationService-", 26) != 0 || strchr(name, '/'))
            abort();
    }
    /* too small buffers must fail cleanly */
    char small[16];
    size_t cap = size ? (size_t)data[0] % sizeof(small) : 0;
    if (sns_cert_filename(s, small, cap) == 0 && !memchr(small, '\0', cap))
        abort();
    free(s);

    char *pem = fuzz_exact(data, size);
    load(pem, size);
    free(pem);
    if (size > 0 && data[0] == 0x30)
        load_der(data, size);
    return 0;
}
