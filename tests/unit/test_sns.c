/* Unit tests for sns.c. argv[1]: the test data directory (with sns-real/). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cmd_sns.h"
#include "sns.h"
#include "t.h"

static const char *g_data = "tests/fixtures";

static char *real_path(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%s/sns-real/%s", g_data, name);
    return buf;
}

#define REAL_CERT "SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem"

static X509 *load_real_cert(void)
{
    size_t n = 0;
    char *pem = t_read_file(real_path(REAL_CERT), &n);
    X509 *x = NULL;
    char err[256];
    if (pem && sns_cert_load_pem(pem, n, &x, err, sizeof(err)) != 0)
        fprintf(stderr, "  real cert: %s\n", err);
    free(pem);
    return x;
}

static const char *real_msgs[] = {
    "test-notification-no-subject.json",   "test-notification-signature-v2.json",
    "test-notification-with-subject.json", "test-subscription-confirmation.json",
    "test-unsubscribe-confirmation.json",
};
#define N_REAL (sizeof(real_msgs) / sizeof(real_msgs[0]))

static int parse_file(const char *name, struct sns_message *m)
{
    size_t n = 0;
    char err[256] = "";
    char *body = t_read_file(real_path(name), &n);
    if (!body)
        return -1;
    int rc = sns_parse(body, n, 0, m, err, sizeof(err));
    if (rc)
        fprintf(stderr, "  %s: %s\n", name, err);
    free(body);
    return rc;
}

/* ------------------------------------------------------------ real data */

TEST(real_messages_string_to_sign_and_verify)
{
    X509 *cert = load_real_cert();
    REQUIRE(cert != NULL);
    for (size_t i = 0; i < N_REAL; i++) {
        struct sns_message m;
        char name[256], err[256] = "";
        REQUIRE(parse_file(real_msgs[i], &m) == 0);
        snprintf(name, sizeof(name), "%s.sts", real_msgs[i]);
        size_t el = 0;
        char *expect = t_read_file(real_path(name), &el);
        char *sts = NULL;
        size_t sl = 0;
        CHECK(expect != NULL);
        CHECK_EQ_INT(sns_string_to_sign(&m, &sts, &sl), 0);
        CHECK(expect && sts && sl == el && memcmp(sts, expect, el) == 0);
        CHECK_EQ_INT(sns_cert_url_check(m.signing_cert_url, err, sizeof(err)), 0);
        int rc = sns_verify(&m, cert, err, sizeof(err));
        if (rc)
            fprintf(stderr, "  %s: %s\n", real_msgs[i], err);
        CHECK_EQ_INT(rc, 0);
        if (m.type != SNS_NOTIFICATION)
            CHECK_EQ_INT(sns_url_host_check(m.subscribe_url, err, sizeof(err)), 0);
        free(expect);
        free(sts);
        sns_message_free(&m);
    }
    X509_free(cert);
}

TEST(real_message_fields)
{
    struct sns_message m;
    REQUIRE(parse_file("test-notification-no-subject.json", &m) == 0);
    CHECK_EQ_INT(m.type, SNS_NOTIFICATION);
    CHECK(m.subject == NULL);
    CHECK_EQ_INT(m.signature_version, 1);
    CHECK_STR(m.timestamp, "2026-03-06T19:55:38.903Z");
    struct tm tm = {
        .tm_year = 126, .tm_mon = 2, .tm_mday = 6, .tm_hour = 19, .tm_min = 55, .tm_sec = 38};
    CHECK(m.time == timegm(&tm));
    CHECK_EQ_INT(m.time_ms, 903);
    CHECK(m.unsubscribe_url != NULL);
    sns_message_free(&m);

    REQUIRE(parse_file("test-subscription-confirmation.json", &m) == 0);
    CHECK_EQ_INT(m.type, SNS_SUBSCRIPTION_CONFIRMATION);
    CHECK(strchr(m.message, '\n') != NULL);
    CHECK(m.token && strlen(m.token) == 256);
    sns_message_free(&m);

    REQUIRE(parse_file("test-unsubscribe-confirmation.json", &m) == 0);
    CHECK_EQ_INT(m.type, SNS_UNSUBSCRIBE_CONFIRMATION);
    CHECK_EQ_INT(m.signature_version, 2);
    sns_message_free(&m);
    sns_message_free(&m); /* twice is fine */
    sns_message_free(NULL);
}

TEST(real_cert_validity)
{
    X509 *cert = load_real_cert();
    REQUIRE(cert != NULL);
    struct tm a = {
        .tm_year = 126, .tm_mon = 9, .tm_mday = 14, .tm_hour = 23, .tm_min = 59, .tm_sec = 59};
    time_t not_after = timegm(&a);
    struct tm b = {.tm_year = 125, .tm_mon = 10, .tm_mday = 10};
    time_t not_before = timegm(&b);
    struct tm today = {.tm_year = 126, .tm_mon = 11, .tm_mday = 1};
    CHECK_EQ_INT(sns_cert_valid_at(cert, not_after), 0);
    CHECK_EQ_INT(sns_cert_valid_at(cert, not_after + 1), -1);
    CHECK_EQ_INT(sns_cert_valid_at(cert, not_before), 0);
    CHECK_EQ_INT(sns_cert_valid_at(cert, not_before - 1), -1);
    CHECK_EQ_INT(sns_cert_valid_at(cert, timegm(&today)), -1);
    CHECK_EQ_INT(sns_cert_valid_at(NULL, 0), -1);

    /* a real message whose Timestamp is moved past notAfter fails on validity */
    struct sns_message m;
    char err[256] = "";
    REQUIRE(parse_file("test-notification-signature-v2.json", &m) == 0);
    m.time = timegm(&today);
    CHECK_EQ_INT(sns_verify(&m, cert, err, sizeof(err)), -1);
    CHECK(strstr(err, "not valid at the message Timestamp") != NULL);
    sns_message_free(&m);
    X509_free(cert);
}

TEST(real_offline)
{
    char dir[4096], why[512];
    snprintf(dir, sizeof(dir), "%s/sns-real", g_data);
    for (size_t i = 0; i < N_REAL; i++) {
        size_t n = 0;
        char *body = t_read_file(real_path(real_msgs[i]), &n);
        REQUIRE(body != NULL);
        int rc = cmd_sns_verify_offline(body, n, dir, 1, why, sizeof(why));
        if (rc)
            fprintf(stderr, "  %s: %s\n", real_msgs[i], why);
        CHECK_EQ_INT(rc, 0);
        CHECK(strncmp(why, "valid: ", 7) == 0);
        struct sns_message m;
        REQUIRE(parse_file(real_msgs[i], &m) == 0);
        rc = cmd_sns_verify_offline(body, n, dir, 2, why, sizeof(why));
        CHECK(rc == (m.signature_version == 2 ? 0 : -1));
        if (m.signature_version == 1)
            CHECK(strstr(why, "SignatureVersion 1 below") != NULL);
        CHECK(cmd_sns_verify_offline(body, n, "/nonexistent-dir", 1, why, sizeof(why)) == -1);
        CHECK(strncmp(why, "invalid: certificate cannot open", 32) == 0);
        CHECK_EQ_INT(cmd_sns_verify_offline(body, n, NULL, 1, why, sizeof(why)), -1);
        sns_message_free(&m);
        free(body);
    }
    CHECK(cmd_sns_verify_offline("{}", 2, dir, 1, why, sizeof(why)) == -1);
    CHECK_STR(why, "invalid: Type: missing");
}

static void flip(char *s)
{
    s[0] ^= 0x01;
}

TEST(flipped_fields_fail)
{
    X509 *cert = load_real_cert();
    REQUIRE(cert != NULL);
    for (size_t i = 0; i < N_REAL; i++) {
        char err[256];
        for (int f = 0; f < 8; f++) {
            struct sns_message m;
            REQUIRE(parse_file(real_msgs[i], &m) == 0);
            char *target = NULL;
            switch (f) {
            case 0:
                target = m.message + m.message_len / 2;
                break;
            case 1:
                target = m.message_id + 3;
                break;
            case 2:
                target = m.subject;
                break;
            case 3:
                target = m.timestamp + strlen(m.timestamp) - 2; /* a ms digit */
                break;
            case 4:
                target = m.topic_arn + strlen(m.topic_arn) - 1;
                break;
            case 5:
                target = m.type_str;
                break;
            case 6:
                target = m.subscribe_url ? m.subscribe_url + strlen(m.subscribe_url) - 1 : NULL;
                break;
            case 7:
                target = m.token ? m.token + 10 : NULL;
                break;
            }
            if (target) {
                flip(target);
                CHECK_EQ_INT(sns_verify(&m, cert, err, sizeof(err)), -1);
                CHECK_STR(err, "signature does not match");
            }
            sns_message_free(&m);
        }
        /* the signature itself: flip one base64 character (still valid base64) */
        struct sns_message m;
        REQUIRE(parse_file(real_msgs[i], &m) == 0);
        m.signature[20] = m.signature[20] == 'A' ? 'B' : 'A';
        CHECK_EQ_INT(sns_verify(&m, cert, err, sizeof(err)), -1);
        /* Subject added to / removed from a notification */
        if (m.type == SNS_NOTIFICATION) {
            m.signature[20] = 'x';
            sns_message_free(&m);
            REQUIRE(parse_file(real_msgs[i], &m) == 0);
            if (m.subject) {
                free(m.subject);
                m.subject = NULL;
            } else {
                m.subject = strdup("added");
            }
            CHECK_EQ_INT(sns_verify(&m, cert, err, sizeof(err)), -1);
        }
        /* signature version swapped: same bytes, other hash */
        sns_message_free(&m);
        REQUIRE(parse_file(real_msgs[i], &m) == 0);
        m.signature_version = m.signature_version == 1 ? 2 : 1;
        CHECK_EQ_INT(sns_verify(&m, cert, err, sizeof(err)), -1);
        m.signature_version = 3;
        CHECK_EQ_INT(sns_verify(&m, cert, err, sizeof(err)), -1);
        sns_message_free(&m);
    }
    X509_free(cert);
}

TEST(flipped_raw_body_fails)
{
    char dir[4096], why[512];
    snprintf(dir, sizeof(dir), "%s/sns-real", g_data);
    size_t n = 0;
    char *body = t_read_file(real_path("test-notification-with-subject.json"), &n);
    REQUIRE(body != NULL);
    char *p = strstr(body, "My message subject");
    REQUIRE(p != NULL);
    p[0] = 'm';
    CHECK_EQ_INT(cmd_sns_verify_offline(body, n, dir, 1, why, sizeof(why)), -1);
    CHECK_STR(why, "invalid: signature does not match");
    p[0] = 'M';
    p = strstr(body, "sns.us-west-2.amazonaws.com/Simple");
    REQUIRE(p != NULL);
    memcpy(p, "sms", 3);
    CHECK_EQ_INT(cmd_sns_verify_offline(body, n, dir, 1, why, sizeof(why)), -1);
    CHECK(strstr(why, "SigningCertURL: host not an SNS host") != NULL);
    free(body);
}

/* ------------------------------------------------------------------ URLs */

TEST(cert_url_rules)
{
    static const char *good[] = {
        "https://sns.us-west-2.amazonaws.com/"
        "SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem",
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.ap-southeast-5.amazonaws.com/SimpleNotificationService-deadbeef.pem",
    };
    static const char *bad[] = {
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "HTTPS://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.evil.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com.evil.com/"
        "SimpleNotificationService-0123456789abcdef.pem",
        "https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/"
        "SimpleNotificationService-01234567.pem",
        "https://s3.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://evil.com/sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789.pem",
        "https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-0123456789abcdef.pem",
        "https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com@evil.com/SimpleNotificationService-0123456789ab.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.crt",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem?x=1",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem#x",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789ABCDEF.pem",
        "https://SNS.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.US-EAST-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcde%66.pem",
        "https://sns.us-east-1.amazonaws%2ecom/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com\\@evil.com/SimpleNotificationService-01234567.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem ",
        " https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com /SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com./SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com//SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com/a/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com/../SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
        "https://sns.us-east-1.amazonaws.com/simplenotificationservice-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com",
        "https://sns.us-east-1.amazonaws.com/",
        "https://sns.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com.cn/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.cn-north-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.x.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-123.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.evil.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcd.pem",
        "https://sns.us-east-1.amazonaws.com\t/SimpleNotificationService-0123456789abcdef.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem\n",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem/",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.PEM",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdéf.pem",
        "https:/sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "//sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "",
    };
    char err[256];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int rc = sns_cert_url_check(good[i], err, sizeof(err));
        if (rc)
            fprintf(stderr, "  good rejected: %s: %s\n", good[i], err);
        CHECK_EQ_INT(rc, 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        int rc = sns_cert_url_check(bad[i], err, sizeof(err));
        if (rc == 0)
            fprintf(stderr, "  bad accepted: %s\n", bad[i]);
        CHECK_EQ_INT(rc, -1);
        CHECK(strncmp(err, "SigningCertURL: ", 16) == 0);
    }
    CHECK_EQ_INT(sns_cert_url_check(NULL, err, sizeof(err)), -1);
    CHECK_EQ_INT(sns_cert_url_check(bad[0], NULL, 0), -1);
    CHECK_EQ_INT(sns_cert_url_check(bad[2], err, sizeof(err)), -1);
    CHECK_STR(err, "SigningCertURL: host not an SNS host (sns.<region>.amazonaws.com)");
    CHECK_EQ_INT(sns_cert_url_check(bad[7], err, sizeof(err)), -1);
    CHECK_STR(err, "SigningCertURL: port not allowed");
    CHECK_EQ_INT(sns_cert_url_check(bad[0], err, sizeof(err)), -1);
    CHECK_STR(err, "SigningCertURL: not https");

    /* long URL */
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "https://sns.us-east-1.amazonaws.com/", 36);
    CHECK_EQ_INT(sns_cert_url_check(big, err, sizeof(err)), -1);
    CHECK_EQ_INT(sns_url_host_check(big, err, sizeof(err)), -1);

    char name[SNS_CERT_NAME_MAX];
    CHECK_EQ_INT(sns_cert_filename(good[0], name, sizeof(name)), 0);
    CHECK_STR(name, REAL_CERT);
    CHECK_EQ_INT(sns_cert_filename(bad[3], name, sizeof(name)), -1);
    CHECK_EQ_INT(sns_cert_filename(good[0], name, 10), -1);
}

TEST(subscribe_url_rules)
{
    char err[256];
    CHECK(sns_url_host_check("https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&"
                             "TopicArn=arn:aws:sns:us-west-2:1:t&Token=abc",
                             err, sizeof(err)) == 0);
    CHECK(sns_url_host_check("https://sns.cn-north-1.amazonaws.com.cn/?Action=X", err,
                             sizeof(err)) == 0);
    static const char *bad[] = {
        "http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
        "https://sns.us-west-2.amazonaws.com:443/?Action=ConfirmSubscription",
        "https://a:b@sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
        "https://sns.us-west-2.amazonaws.com.evil.com/?Action=ConfirmSubscription",
        "https://evil.com/?x=https://sns.us-west-2.amazonaws.com/",
        "https://sns.us-west-2.amazonaws.com?Action=ConfirmSubscription",
        "https://sns.us-west-2.amazonaws.com",
        "https://sns.us-west-2.amazonaws.com/?a=b c",
        "https://sns.us-west-2.amazonaws.com/\\evil",
        "https://sns.us-west-2.amazonaws.com/#frag",
        "https://sns.us-west-2.amazonaws.com/\r\nHost: evil",
        NULL,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CHECK_EQ_INT(sns_url_host_check(bad[i], err, sizeof(err)), -1);
        CHECK(strncmp(err, "SubscribeURL: ", 14) == 0);
    }
}

/* ------------------------------------------------------------------ PEM */

static char *cat3(const char *a, const char *b, const char *c, size_t *n)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *r = malloc(la + lb + lc + 1);
    memcpy(r, a, la);
    memcpy(r + la, b, lb);
    memcpy(r + la + lb, c, lc + 1);
    *n = la + lb + lc;
    return r;
}

static int load_str(const char *s, size_t n, char *err, size_t errlen)
{
    X509 *x = NULL;
    int rc = sns_cert_load_pem(s, n, &x, err, errlen);
    if (rc == 0)
        CHECK(x != NULL);
    else
        CHECK(x == NULL);
    X509_free(x);
    return rc;
}

static char *crlf(const char *s, size_t *n)
{
    size_t l = strlen(s), o = 0;
    char *r = malloc(2 * l + 1);
    for (size_t i = 0; i < l; i++) {
        if (s[i] == '\n')
            r[o++] = '\r';
        r[o++] = s[i];
    }
    r[o] = '\0';
    *n = o;
    return r;
}

TEST(pem_strict)
{
    size_t n = 0, m = 0;
    char err[256];
    char *pem = t_read_file(real_path(REAL_CERT), &n);
    REQUIRE(pem != NULL);
    CHECK_EQ_INT(load_str(pem, n, err, sizeof(err)), 0);

    char *s = cat3("\n\n  \t", pem, "\n\n  ", &m);
    CHECK_EQ_INT(load_str(s, m, err, sizeof(err)), 0);
    free(s);
    s = crlf(pem, &m);
    CHECK_EQ_INT(load_str(s, m, err, sizeof(err)), 0);
    free(s);

    static const char *before[] = {"hello\n", "Bag Attributes\n    localKeyID: 01\n", "x",
                                   "-----BEGIN CERTIFICATE-----\n"};
    for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
        s = cat3(before[i], pem, "", &m);
        CHECK_EQ_INT(load_str(s, m, err, sizeof(err)), -1);
        free(s);
    }
    s = cat3("", pem, "trailing junk\n", &m);
    CHECK_EQ_INT(load_str(s, m, err, sizeof(err)), -1);
    CHECK_STR(err, "certificate: text after the PEM block");
    free(s);
    s = cat3(pem, "\n", pem, &m); /* two certificates */
    CHECK_EQ_INT(load_str(s, m, err, sizeof(err)), -1);
    free(s);
    s = cat3("", pem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", &m);
    CHECK_EQ_INT(load_str(s, m, err, sizeof(err)), -1);
    free(s);
    CHECK_EQ_INT(load_str(pem, n - 10, err, sizeof(err)), -1); /* truncated END line */
    CHECK_EQ_INT(load_str(pem, 200, err, sizeof(err)), -1);    /* truncated body */
    CHECK(load_str("", 0, err, sizeof(err)) == -1);
    CHECK_EQ_INT(load_str(NULL, 0, err, sizeof(err)), -1);

    /* other PEM types and header tricks */
    char *body = strstr(pem, "\n") + 1;
    char *endl = strstr(pem, "-----END");
    REQUIRE(body && endl);
    size_t bl = (size_t)(endl - body);
    char *mid = malloc(bl + 1);
    memcpy(mid, body, bl);
    mid[bl] = '\0';
    static const char *types[][2] = {
        {"-----BEGIN TRUSTED CERTIFICATE-----\n", "-----END TRUSTED CERTIFICATE-----\n"},
        {"-----BEGIN X509 CERTIFICATE-----\n", "-----END X509 CERTIFICATE-----\n"},
        {"-----BEGIN PUBLIC KEY-----\n", "-----END PUBLIC KEY-----\n"},
        {"-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n", "-----END CERTIFICATE-----\n"},
        {"-----BEGIN CERTIFICATE-----\n\n", "-----END CERTIFICATE-----\n"},
        {"-----BEGIN CERTIFICATE----- \n", "-----END CERTIFICATE-----\n"},
        {"-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE----\n"},
        {"-----BEGIN CERTIFICATE-----\n", "\n-----END CERTIFICATE-----\n"},
        {"-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----x\n"},
        {"-----BEGIN CERTIFICATE-----\n", "-----END PUBLIC KEY-----\n"},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        s = cat3(types[i][0], mid, types[i][1], &m);
        CHECK_EQ_INT(load_str(s, m, err, sizeof(err)), -1);
        free(s);
    }
    s = cat3("-----BEGIN CERTIFICATE-----\n", mid, "-----END CERTIFICATE-----\n", &m);
    CHECK_EQ_INT(load_str(s, m, err, sizeof(err)), 0);
    /* junk character and a space inside the base64 */
    s[100] = '*';
    CHECK_EQ_INT(load_str(s, m, err, sizeof(err)), -1);
    s[100] = ' ';
    CHECK_EQ_INT(load_str(s, m, err, sizeof(err)), -1);
    free(s);
    /* extra DER bytes after the certificate (valid base64, longer body) */
    s = cat3("-----BEGIN CERTIFICATE-----\n", mid, "AAAA\n-----END CERTIFICATE-----\n", &m);
    CHECK_EQ_INT(load_str(s, m, err, sizeof(err)), -1);
    free(s);
    free(mid);
    free(pem);
}

/* ------------------------------------------------------ self-made certs */

static EVP_PKEY *rsa_key(unsigned bits)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

/* Self-signed certificate; san may be NULL. Validity [now+nb, now+na] seconds. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san, long nb, long na)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    X509_gmtime_adj(X509_getm_notBefore(x), nb);
    X509_gmtime_adj(X509_getm_notAfter(x), na);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Test", -1, -1, 0);
    if (cn)
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (san) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(x, key, EVP_sha256());
    return x;
}

static char *cert_pem(X509 *x, size_t *n)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *p;
    long l = BIO_get_mem_data(b, &p);
    char *r = malloc((size_t)l + 1);
    memcpy(r, p, (size_t)l);
    r[l] = '\0';
    *n = (size_t)l;
    BIO_free(b);
    return r;
}

static int pem_roundtrip(X509 *x, char *err, size_t errlen)
{
    size_t n;
    char *p = cert_pem(x, &n);
    int rc = load_str(p, n, err, errlen);
    free(p);
    return rc;
}

/* Sign msg with key (v1 SHA1 / v2 SHA256), replacing msg->signature. */
static void sign_msg(struct sns_message *msg, EVP_PKEY *key)
{
    char *sts;
    size_t sl, sigl = 0;
    REQUIRE(sns_string_to_sign(msg, &sts, &sl) == 0);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, NULL, msg->signature_version == 1 ? EVP_sha1() : EVP_sha256(), NULL,
                       key);
    EVP_DigestSign(md, NULL, &sigl, (unsigned char *)sts, sl);
    unsigned char *sig = malloc(sigl);
    CHECK_EQ_INT(EVP_DigestSign(md, sig, &sigl, (unsigned char *)sts, sl), 1);
    char *b64 = malloc(4 * ((sigl + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, sig, (int)sigl);
    free(msg->signature);
    msg->signature = b64;
    free(sig);
    free(sts);
    EVP_MD_CTX_free(md);
}

/* A JSON envelope; the key/value pairs are strings (value NULL = JSON null). */
static char *envelope(const char *const *kv, size_t *n)
{
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; kv[i]; i += 2)
        json_object_object_add(o, kv[i], kv[i + 1] ? json_object_new_string(kv[i + 1]) : NULL);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char *r = strdup(s);
    *n = strlen(r);
    json_object_put(o);
    return r;
}

static const char *own_url = "https://sns.us-east-1.amazonaws.com/"
                             "SimpleNotificationService-00112233445566778899aabbccddeeff.pem";

static void fmt_now(char *buf, size_t n, long off)
{
    time_t t = time(NULL) + off;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%S.123Z", &tm);
}

TEST(self_signed_names_and_keys)
{
    char err[256];
    EVP_PKEY *key = rsa_key(2048);
    REQUIRE(key != NULL);
    static const struct {
        const char *cn, *san;
        int ok;
    } cases[] = {
        {"sns.amazonaws.com", NULL, 1},
        {"SNS.AmazonAWS.com", NULL, 1},
        {"sns.us-east-1.amazonaws.com", NULL, 1},
        {"sns-signing.ap-east-1.amazonaws.com", NULL, 1},
        {"sns-cn-north-1.amazonaws.com.cn", NULL, 1},
        {"sns.cn-north-1.amazonaws.com.cn", NULL, 1},
        {"whatever", "DNS:sns.amazonaws.com", 1},
        {NULL, "DNS:evil.com,DNS:sns.amazonaws.com", 1},
        {"evil.com", NULL, 0},
        {"sns.amazonaws.com.evil.com", NULL, 0},
        {"sns.evil.com", NULL, 0},
        {"evil.sns.amazonaws.com", NULL, 0},
        {"s3.amazonaws.com", NULL, 0},
        {"*.amazonaws.com", NULL, 0},
        {"sns.us-east-1.amazonaws.com.cn", NULL, 0},
        {"evil.com", "DNS:evil.com,email:sns.amazonaws.com", 0},
        {NULL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *x = make_cert(key, cases[i].cn, cases[i].san, -3600, 3600);
        int rc = pem_roundtrip(x, err, sizeof(err));
        if ((rc == 0) != cases[i].ok)
            fprintf(stderr, "  case %zu (%s): rc %d %s\n", i, cases[i].cn ? cases[i].cn : "-", rc,
                    err);
        CHECK((rc == 0) == cases[i].ok);
        if (!cases[i].ok)
            CHECK_STR(err, "certificate: subject is not sns.amazonaws.com");
        X509_free(x);
    }
    EVP_PKEY_free(key);

    /* non-RSA and short RSA keys */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    REQUIRE(ec != NULL);
    X509 *x = make_cert(ec, "sns.amazonaws.com", NULL, -3600, 3600);
    CHECK_EQ_INT(pem_roundtrip(x, err, sizeof(err)), -1);
    CHECK_STR(err, "certificate: key is not RSA");
    X509_free(x);
    EVP_PKEY_free(ec);
    EVP_PKEY *small = rsa_key(1024);
    REQUIRE(small != NULL);
    x = make_cert(small, "sns.amazonaws.com", NULL, -3600, 3600);
    CHECK_EQ_INT(pem_roundtrip(x, err, sizeof(err)), -1);
    X509_free(x);
    EVP_PKEY_free(small);
}

TEST(self_signed_verify_v1_v2)
{
    char err[256], ts[64], ts_old[64], why[512];
    EVP_PKEY *key = rsa_key(2048), *other = rsa_key(2048);
    REQUIRE(key && other);
    X509 *cert = make_cert(key, "sns.amazonaws.com", NULL, -3600, 3600);
    X509 *wrong = make_cert(other, "sns.amazonaws.com", NULL, -3600, 3600);
    X509 *expired = make_cert(key, "sns.amazonaws.com", NULL, -7200, -3600);
    fmt_now(ts, sizeof(ts), 0);
    fmt_now(ts_old, sizeof(ts_old), -5400); /* inside the expired cert's window */

    char dir[] = "/tmp/test_sns.XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char cpath[256];
    snprintf(cpath, sizeof(cpath), "%s/%s", dir, strrchr(own_url, '/') + 1);
    size_t pl;
    char *pem = cert_pem(cert, &pl);
    FILE *f = fopen(cpath, "wb");
    REQUIRE(f != NULL);
    fwrite(pem, 1, pl, f);
    fclose(f);
    free(pem);

    for (int v = 1; v <= 2; v++) {
        for (int type = 0; type < 3; type++) {
            const char *tn = type == 0   ? "Notification"
                             : type == 1 ? "SubscriptionConfirmation"
                                         : "UnsubscribeConfirmation";
            const char *kv[] = {"Type",
                                tn,
                                "MessageId",
                                "id-1",
                                "TopicArn",
                                "arn:aws:sns:us-east-1:123456789012:t",
                                "Message",
                                "{\"detail\":\"ünïcødé\\n\"}\nline2\r\n",
                                "Timestamp",
                                ts,
                                "SignatureVersion",
                                v == 1 ? "1" : "2",
                                "Signature",
                                "AAAA",
                                "SigningCertURL",
                                own_url,
                                type ? "SubscribeURL" : "Subject",
                                type ? "https://sns.us-east-1.amazonaws.com/?Action=Confirm" : "Sü",
                                type ? "Token" : NULL,
                                "tok",
                                NULL};
            size_t n;
            char *body = envelope(kv, &n);
            struct sns_message m;
            REQUIRE(sns_parse(body, n, 0, &m, err, sizeof(err)) == 0);
            free(body);
            sign_msg(&m, key);
            CHECK_EQ_INT(sns_verify(&m, cert, err, sizeof(err)), 0);
            CHECK_EQ_INT(sns_verify(&m, wrong, err, sizeof(err)), -1);
            CHECK_STR(err, "signature does not match");
            CHECK_EQ_INT(sns_verify(&m, expired, err, sizeof(err)), -1);
            CHECK_STR(err, "certificate: not valid at the message Timestamp");

            /* end to end through the offline verifier */
            const char *kv2[22];
            memcpy(kv2, kv, sizeof(kv));
            kv2[13] = m.signature;
            body = envelope(kv2, &n);
            int rc = cmd_sns_verify_offline(body, n, dir, 1, why, sizeof(why));
            if (rc)
                fprintf(stderr, "  offline v%d %s: %s\n", v, tn, why);
            CHECK_EQ_INT(rc, 0);
            CHECK(cmd_sns_verify_offline(body, n, dir, 2, why, sizeof(why)) == (v == 2 ? 0 : -1));
            free(body);
            sns_message_free(&m);

            /* a message signed within the expired cert's window verifies with it */
            kv2[9] = ts_old;
            kv2[13] = "AAAA";
            body = envelope(kv2, &n);
            REQUIRE(sns_parse(body, n, 0, &m, err, sizeof(err)) == 0);
            free(body);
            sign_msg(&m, key);
            CHECK_EQ_INT(sns_verify(&m, expired, err, sizeof(err)), 0);
            CHECK_EQ_INT(sns_verify(&m, cert, err, sizeof(err)), -1);
            sns_message_free(&m);
        }
    }
    /* SignatureVersion 3 never parses */
    const char *kv3[] = {"Type",
                         "Notification",
                         "MessageId",
                         "x",
                         "TopicArn",
                         "t",
                         "Message",
                         "m",
                         "Timestamp",
                         ts,
                         "SignatureVersion",
                         "3",
                         "Signature",
                         "AAAA",
                         "SigningCertURL",
                         own_url,
                         NULL};
    size_t n;
    char *body = envelope(kv3, &n);
    struct sns_message m;
    CHECK_EQ_INT(sns_parse(body, n, 0, &m, err, sizeof(err)), -1);
    CHECK_STR(err, "SignatureVersion: unsupported (must be \"1\" or \"2\")");
    free(body);

    unlink(cpath);
    rmdir(dir);
    X509_free(cert);
    X509_free(wrong);
    X509_free(expired);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

TEST(signature_base64_strict)
{
    X509 *cert = load_real_cert();
    REQUIRE(cert != NULL);
    struct sns_message m;
    char err[256];
    REQUIRE(parse_file("test-notification-no-subject.json", &m) == 0);
    char *orig = strdup(m.signature);
    size_t l = strlen(orig);
    static const char *mods[] = {" ", "\n", "=", "A", "*"};
    for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
        free(m.signature);
        m.signature = malloc(l + 2);
        memcpy(m.signature, orig, 10);
        m.signature[10] = mods[i][0];
        memcpy(m.signature + 11, orig + 10, l - 10 + 1);
        CHECK_EQ_INT(sns_verify(&m, cert, err, sizeof(err)), -1);
        CHECK_STR(err, "Signature: not strict base64");
    }
    /* non-canonical last character ("==" padding with unused bits set) */
    free(m.signature);
    m.signature = strdup(orig);
    CHECK(m.signature[l - 1] == '=' && m.signature[l - 2] == '=');
    if (m.signature[l - 1] == '=' && m.signature[l - 2] == '=') {
        m.signature[l - 3] = m.signature[l - 3] == 'g' ? 'h' : 'g';
        CHECK_EQ_INT(sns_verify(&m, cert, err, sizeof(err)), -1);
        CHECK_STR(err, "Signature: not strict base64");
    }
    free(orig);
    sns_message_free(&m);
    X509_free(cert);
}

/* ----------------------------------------------------------- malformed */

static const char *base_kv[] = {"Type",
                                "Notification",
                                "MessageId",
                                "id",
                                "TopicArn",
                                "arn:aws:sns:us-east-1:123456789012:t",
                                "Message",
                                "hello",
                                "Timestamp",
                                "2026-03-06T19:55:38.903Z",
                                "SignatureVersion",
                                "1",
                                "Signature",
                                "AAAA",
                                "SigningCertURL",
                                "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-"
                                "0123456789abcdef.pem",
                                NULL};

static int parse_str(const char *s, char *err, size_t errlen)
{
    struct sns_message m;
    int rc = sns_parse(s, strlen(s), 0, &m, err, errlen);
    sns_message_free(&m);
    return rc;
}

static int parse_with(const char *key, const char *json_value, char *err, size_t errlen)
{
    /* base envelope with key replaced by a raw JSON value (NULL: key removed) */
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; base_kv[i]; i += 2) {
        if (strcmp(base_kv[i], key) == 0)
            continue;
        json_object_object_add(o, base_kv[i], json_object_new_string(base_kv[i + 1]));
    }
    char *body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    if (json_value) {
        size_t bl = strlen(body), kl = strlen(key), vl = strlen(json_value);
        char *nb = malloc(bl + kl + vl + 8);
        int w = snprintf(nb, bl + kl + vl + 8, "{\"%s\":%s,%s", key, json_value, body + 1);
        (void)w;
        free(body);
        body = nb;
    }
    int rc = parse_str(body, err, errlen);
    free(body);
    return rc;
}

TEST(malformed_envelopes)
{
    char err[256];
    size_t n;
    char *good = envelope(base_kv, &n);
    CHECK_EQ_INT(parse_str(good, err, sizeof(err)), 0);

    /* truncated at every length */
    for (size_t cut = 0; cut < n; cut++) {
        struct sns_message m;
        CHECK_EQ_INT(sns_parse(good, cut, 0, &m, err, sizeof(err)), -1);
        CHECK(m.message == NULL && m.type_str == NULL);
    }
    struct sns_message m;
    CHECK_EQ_INT(sns_parse(good, n - 1, 0, &m, err, sizeof(err)), -1);
    CHECK_STR(err, "body: truncated JSON");
    CHECK_EQ_INT(sns_parse(good, 0, 0, &m, err, sizeof(err)), -1);
    CHECK_STR(err, "body: empty");
    CHECK_EQ_INT(sns_parse(NULL, 10, 0, &m, err, sizeof(err)), -1);

    /* not an object */
    static const char *notobj[] = {"[]", "\"str\"", "1", "null", "true", "[{}]"};
    for (size_t i = 0; i < sizeof(notobj) / sizeof(notobj[0]); i++) {
        CHECK_EQ_INT(parse_str(notobj[i], err, sizeof(err)), -1);
        CHECK_STR(err, "body: not a JSON object");
    }
    /* trailing garbage, whitespace, comments, non-strict JSON */
    char *s = malloc(n + 20);
    snprintf(s, n + 20, "%s x", good);
    CHECK_EQ_INT(parse_str(s, err, sizeof(err)), -1);
    CHECK_STR(err, "body: trailing data after the JSON object");
    snprintf(s, n + 20, "%s{}", good);
    CHECK_EQ_INT(parse_str(s, err, sizeof(err)), -1);
    snprintf(s, n + 20, " \r\n%s \n\t", good);
    CHECK_EQ_INT(parse_str(s, err, sizeof(err)), 0);
    free(s);
    CHECK(parse_str("{/*c*/\"Type\":\"Notification\"}", err, sizeof(err)) == -1);
    CHECK(parse_str("{'Type':'Notification'}", err, sizeof(err)) == -1);
    CHECK(parse_str("{\"Type\":\"Notification\",}", err, sizeof(err)) == -1);

    /* wrong-typed fields */
    static const char *keys[] = {"Type",      "MessageId",        "TopicArn",  "Message",
                                 "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"};
    static const char *vals[] = {"1", "{}", "[]", "true", "null", "1.5"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
            CHECK_EQ_INT(parse_with(keys[k], vals[v], err, sizeof(err)), -1);
            CHECK(strncmp(err, keys[k], strlen(keys[k])) == 0 && strstr(err, "must be a string"));
        }
        /* missing */
        CHECK_EQ_INT(parse_with(keys[k], NULL, err, sizeof(err)), -1);
        char want[64];
        snprintf(want, sizeof(want), "%s: missing", keys[k]);
        CHECK_STR(err, want);
        /* empty (Message may be empty) */
        int rc = parse_with(keys[k], "\"\"", err, sizeof(err));
        CHECK(rc == (strcmp(keys[k], "Message") == 0 ? 0 : -1));
    }
    CHECK(parse_with("Subject", "5", err, sizeof(err)) == -1);
    CHECK_STR(err, "Subject: must be a string");
    CHECK(parse_with("MessageAttributes", "{\"a\":{\"Type\":\"String\",\"Value\":\"v\"}}", err,
                     sizeof(err)) == 0);
    CHECK(parse_with("Type", "\"Other\"", err, sizeof(err)) == -1);
    CHECK_STR(err, "Type: unknown message type");
    CHECK(parse_with("Type", "\"notification\"", err, sizeof(err)) == -1);
    CHECK(parse_with("Type", "\"SubscriptionConfirmation\"", err, sizeof(err)) == -1);
    CHECK_STR(err, "SubscribeURL: missing");
    CHECK(parse_with("SignatureVersion", "\"3\"", err, sizeof(err)) == -1);
    CHECK(parse_with("SignatureVersion", "\"01\"", err, sizeof(err)) == -1);
    CHECK(parse_with("SignatureVersion", "\"1 \"", err, sizeof(err)) == -1);

    /* Subject null = absent */
    {
        char body[2048];
        snprintf(body, sizeof(body), "{\"Subject\":null,%s", good + 1);
        REQUIRE(sns_parse(body, strlen(body), 0, &m, err, sizeof(err)) == 0);
        CHECK(m.subject == NULL);
        char *sts;
        size_t sl;
        CHECK_EQ_INT(sns_string_to_sign(&m, &sts, &sl), 0);
        CHECK(strstr(sts, "Subject") == NULL);
        free(sts);
        sns_message_free(&m);
        snprintf(body, sizeof(body), "{\"Subject\":\"\",%s", good + 1);
        REQUIRE(sns_parse(body, strlen(body), 0, &m, err, sizeof(err)) == 0);
        CHECK(m.subject && m.subject[0] == '\0');
        CHECK_EQ_INT(sns_string_to_sign(&m, &sts, &sl), 0);
        CHECK(strstr(sts, "Subject\n\nTimestamp") != NULL);
        free(sts);
        sns_message_free(&m);
    }

    /* deeply nested */
    {
        size_t depth = 100;
        char *deep = malloc(n + 2 * depth + 32);
        size_t o = 0;
        o += (size_t)snprintf(deep, 32, "{\"X\":");
        for (size_t i = 0; i < depth; i++)
            deep[o++] = '[';
        for (size_t i = 0; i < depth; i++)
            deep[o++] = ']';
        deep[o++] = ',';
        memcpy(deep + o, good + 1, n);
        o += n - 1;
        deep[o] = '\0';
        CHECK_EQ_INT(sns_parse(deep, o, 32, &m, err, sizeof(err)), -1);
        CHECK_STR(err, "body: JSON nested too deeply");
        CHECK_EQ_INT(sns_parse(deep, o, 200, &m, err, sizeof(err)), 0);
        sns_message_free(&m);
        free(deep);
    }

    /* non-UTF-8 and NULs */
    static const char *badutf[] = {"\xff",     "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                   "\xe2\x82", "\x80"};
    for (size_t i = 0; i < sizeof(badutf) / sizeof(badutf[0]); i++) {
        char v[32];
        snprintf(v, sizeof(v), "\"a%sb\"", badutf[i]);
        CHECK(parse_with("Message", v, err, sizeof(err)) == -1);
        CHECK_STR(err, "body: not valid UTF-8");
    }
    CHECK(parse_with("Message", "\"\xe2\x82\xac \xf0\x9f\x98\x80\"", err, sizeof(err)) == 0);
    {
        char body[2048];
        int bl = snprintf(body, sizeof(body), "%s", good);
        body[5] = '\0';
        CHECK_EQ_INT(sns_parse(body, (size_t)bl, 0, &m, err, sizeof(err)), -1);
        CHECK_STR(err, "body: contains a NUL byte");
    }
    CHECK(parse_with("MessageId", "\"a\\u0000b\"", err, sizeof(err)) == -1);
    CHECK_STR(err, "MessageId: contains U+0000");
    {
        char body[2048];
        snprintf(body, sizeof(body), "{\"Message\":\"a\\u0000b\\n\\\"\",%s", good + 1);
        char *p = strstr(body, ",\"Message\":\"hello\"");
        REQUIRE(p != NULL);
        memmove(p, p + 18, strlen(p + 18) + 1);
        REQUIRE(sns_parse(body, strlen(body), 0, &m, err, sizeof(err)) == 0);
        CHECK(m.message_len == 5 && memcmp(m.message, "a\0b\n\"", 5) == 0);
        char *sts;
        size_t sl;
        CHECK_EQ_INT(sns_string_to_sign(&m, &sts, &sl), 0);
        CHECK(sl > 20 && memcmp(sts, "Message\na\0b\n\"\nMessageId\n", 24) == 0);
        free(sts);
        sns_message_free(&m);
    }

    /* huge strings */
    {
        size_t big = SNS_MAX_MESSAGE + 10;
        char *v = malloc(big + 3);
        v[0] = '"';
        memset(v + 1, 'a', big);
        v[big + 1] = '"';
        v[big + 2] = '\0';
        CHECK(parse_with("Message", v, err, sizeof(err)) == -1);
        CHECK(strncmp(err, "Message: too long", 17) == 0);
        v[SNS_MAX_MESSAGE + 1] = '"';
        v[SNS_MAX_MESSAGE + 2] = '\0';
        CHECK(parse_with("Message", v, err, sizeof(err)) == 0);
        v[SNS_MAX_FIELD + 2] = '"';
        v[SNS_MAX_FIELD + 3] = '\0';
        CHECK(parse_with("MessageId", v, err, sizeof(err)) == -1);
        CHECK(strncmp(err, "MessageId: too long", 19) == 0);
        CHECK(parse_with("SigningCertURL", v, err, sizeof(err)) == -1);
        free(v);
    }

    /* timestamps */
    static const char *badts[] = {
        "\"2026-02-29T00:00:00.000Z\"",
        "\"2026-13-01T00:00:00.000Z\"",
        "\"2026-03-06 19:55:38.903Z\"",
        "\"2026-03-06T19:55:38.903\"",
        "\"2026-03-06T19:55:38.903+00:00\"",
        "\"2026-03-06T24:00:00.000Z\"",
        "\"2026-03-06t19:55:38.903Z\"",
        "\"2026-03-06T19:55:38.903Zx\"",
        "\"2026-03-06T19:55:38.Z\"",
        "\"2026-03-06T19:55:60.000Z\"",
        "\"1969-12-31T23:59:59.000Z\"",
        "\"+2026-03-06T19:55:38.903Z\"",
        "\"2026-3-06T19:55:38.903Z\"",
        "\"2026-03-06T19:55:38.1234567890Z\"",
        "\"2026-00-06T19:55:38.903Z\"",
        "\"2026-03-00T19:55:38.903Z\"",
        "\"\"",
        "\"now\"",
    };
    for (size_t i = 0; i < sizeof(badts) / sizeof(badts[0]); i++) {
        int rc = parse_with("Timestamp", badts[i], err, sizeof(err));
        if (rc == 0)
            fprintf(stderr, "  accepted %s\n", badts[i]);
        CHECK_EQ_INT(rc, -1);
        CHECK(strncmp(err, "Timestamp: ", 11) == 0);
    }
    CHECK(parse_with("Timestamp", "\"2024-02-29T23:59:59Z\"", err, sizeof(err)) == 0);
    CHECK(parse_with("Timestamp", "\"2026-03-06T19:55:38.9Z\"", err, sizeof(err)) == 0);
    {
        const char *kv[sizeof(base_kv) / sizeof(base_kv[0])];
        memcpy(kv, base_kv, sizeof(base_kv));
        kv[9] = "2000-02-29T12:00:00.5Z";
        size_t bl;
        char *body = envelope(kv, &bl);
        REQUIRE(sns_parse(body, bl, 0, &m, err, sizeof(err)) == 0);
        CHECK_EQ_INT(m.time, 951825600);
        CHECK_EQ_INT(m.time_ms, 500);
        sns_message_free(&m);
        free(body);
    }
    free(good);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        g_data = argv[1];
    RUN(real_messages_string_to_sign_and_verify);
    RUN(real_message_fields);
    RUN(real_cert_validity);
    RUN(real_offline);
    RUN(flipped_fields_fail);
    RUN(flipped_raw_body_fails);
    RUN(cert_url_rules);
    RUN(subscribe_url_rules);
    RUN(pem_strict);
    RUN(self_signed_names_and_keys);
    RUN(self_signed_verify_v1_v2);
    RUN(signature_base64_strict);
    RUN(malformed_envelopes);
    T_END("test_sns");
}
