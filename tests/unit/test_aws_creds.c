/* The pure parsers of the credential chain: shared-file profiles, the STS
 * AssumeRoleWithWebIdentity XML, credential_process JSON. */
#include <string.h>

#include "aws_creds.h"
#include "t.h"

static struct aws_profile_info pi;
static char err[300];

static int resolve(const char *creds, const char *config, const char *name)
{
    err[0] = '\0';
    return aws_profile_resolve(creds, config, name, &pi, err, sizeof(err));
}

TEST(profile_static_keys)
{
    const char *creds = "# comment\n; another\n[default]\naws_access_key_id=AKIDDEF\n"
                        "aws_secret_access_key = s1\n\n[work]\n  aws_access_key_id = AKIDWORK \n"
                        "aws_secret_access_key\t=\tsecret=with=equals\r\naws_session_token = tok\n"
                        "[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = o\n";
    CHECK_EQ_INT(resolve(creds, NULL, "default"), 1);
    CHECK_STR(pi.access_key_id, "AKIDDEF");
    CHECK_STR(pi.secret_access_key, "s1");
    CHECK_STR(pi.session_token, "");
    CHECK_EQ_INT(resolve(creds, NULL, "work"), 1);
    CHECK_STR(pi.access_key_id, "AKIDWORK");
    CHECK_STR(pi.secret_access_key, "secret=with=equals");
    CHECK_STR(pi.session_token, "tok");
    CHECK_EQ_INT(resolve(creds, NULL, "nope"), 0);
    CHECK_EQ_INT(pi.found, 0);
    CHECK_EQ_INT(resolve(NULL, NULL, "default"), 0);
}

TEST(profile_config_sections)
{
    /* In config a named profile is [profile name]; [name] is not it. */
    const char *config = "[work]\naws_access_key_id = WRONG\naws_secret_access_key = w\n"
                         "[profile   work ]\naws_access_key_id = AKIDCFG\n"
                         "aws_secret_access_key = c\ns3 =\n  aws_access_key_id = NESTED\n"
                         "[default]\nregion = eu-west-1\n";
    CHECK_EQ_INT(resolve(NULL, config, "work"), 1);
    CHECK_STR(pi.access_key_id, "AKIDCFG");
    /* default names nothing: skipped, but found */
    CHECK_EQ_INT(resolve(NULL, config, "default"), 0);
    CHECK_EQ_INT(pi.found, 1);
    CHECK_EQ_INT(resolve(NULL, "[profile default]\ncredential_process = x\n", "default"), 1);
    CHECK_STR(pi.credential_process, "x");
    /* the credentials file wins over config */
    CHECK_EQ_INT(
        resolve("[work]\naws_access_key_id = A1\naws_secret_access_key = s\n", config, "work"), 1);
    CHECK_STR(pi.access_key_id, "A1");
}

TEST(profile_credential_process)
{
    const char *config = "[profile p]\ncredential_process = /usr/bin/helper --x \"a b\"\n";
    CHECK_EQ_INT(resolve(NULL, config, "p"), 1);
    CHECK_STR(pi.credential_process, "/usr/bin/helper --x \"a b\"");
    CHECK_STR(pi.access_key_id, "");
    /* static keys in the credentials file come first */
    CHECK_EQ_INT(resolve("[p]\naws_access_key_id = K\naws_secret_access_key = S\n", config, "p"),
                 1);
    CHECK_STR(pi.access_key_id, "K");
    CHECK_STR(pi.credential_process, "");
    /* credential_process comes before config's static keys */
    CHECK_EQ_INT(resolve(NULL,
                         "[profile p]\naws_access_key_id = K\naws_secret_access_key = S\n"
                         "credential_process = h\n",
                         "p"),
                 1);
    CHECK_STR(pi.credential_process, "h");
}

TEST(profile_unsupported_and_broken)
{
    CHECK_EQ_INT(resolve(NULL, "[profile corp]\nrole_arn = arn:x\nsource_profile = base\n", "corp"),
                 -1);
    CHECK(strstr(err, "profile corp: role_arn") != NULL);
    CHECK(strstr(err, "not supported") != NULL);
    CHECK_EQ_INT(resolve(NULL, "[profile s]\nsso_start_url = https://x\n", "s"), -1);
    CHECK(strstr(err, "profile s: sso_start_url") != NULL);
    CHECK_EQ_INT(resolve("[c]\ncredential_source = Environment\n", NULL, "c"), -1);
    CHECK(strstr(err, "profile c: credential_source (in the credentials file)") != NULL);
    /* even next to static keys: never silently something else */
    CHECK_EQ_INT(resolve("[d]\naws_access_key_id = K\naws_secret_access_key = S\n"
                         "web_identity_token_file = /t\n",
                         NULL, "d"),
                 -1);
    /* an unsupported key in another profile does not matter */
    CHECK_EQ_INT(resolve("[x]\nrole_arn = r\n[d]\naws_access_key_id = K\n"
                         "aws_secret_access_key = S\n",
                         NULL, "d"),
                 1);
    CHECK_EQ_INT(resolve("[d]\naws_access_key_id = K\n", NULL, "d"), -1);
    CHECK(strstr(err, "profile d: aws_access_key_id without aws_secret_access_key") != NULL);
    CHECK_EQ_INT(resolve("[d]\naws_secret_access_key = S\n", NULL, "d"), -1);
    CHECK(strstr(err, "S") == NULL); /* never the secret */
}

#define STS_OK                                                                                     \
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"    \
    "  <AssumeRoleWithWebIdentityResult>\n"                                                        \
    "    <SubjectFromWebIdentityToken>system:serviceaccount:a:b</SubjectFromWebIdentityToken>\n"   \
    "    <Credentials>\n"                                                                          \
    "      <SessionToken>FwoG&amp;token+/=</SessionToken>\n"                                       \
    "      <SecretAccessKey>wJal/secret</SecretAccessKey>\n"                                       \
    "      <Expiration>2030-01-02T03:04:05Z</Expiration>\n"                                        \
    "      <AccessKeyId>ASIASTS</AccessKeyId>\n"                                                   \
    "    </Credentials>\n"                                                                         \
    "  </AssumeRoleWithWebIdentityResult>\n"                                                       \
    "</AssumeRoleWithWebIdentityResponse>\n"

TEST(sts_xml)
{
    struct aws_credentials c;
    CHECK_EQ_INT(aws_creds_parse_sts_xml(STS_OK, strlen(STS_OK), &c, err, sizeof(err)), 0);
    CHECK_STR(c.access_key_id, "ASIASTS");
    CHECK_STR(c.secret_access_key, "wJal/secret");
    CHECK_STR(c.session_token, "FwoG&token+/=");
    CHECK(c.expiration_us == 1893553445LL * 1000000);

    const char *e = "<ErrorResponse xmlns=\"x\"><Error><Type>Sender</Type>"
                    "<Code>InvalidIdentityToken</Code><Message>Token expired</Message></Error>"
                    "<RequestId>1</RequestId></ErrorResponse>";
    CHECK_EQ_INT(aws_creds_parse_sts_xml(e, strlen(e), &c, err, sizeof(err)), -1);
    CHECK_STR(err, "InvalidIdentityToken: Token expired");

    const char *bad[] = {
        "",
        "<html>nope</html>",
        "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A</AccessKeyId>"
        "</Credentials></AssumeRoleWithWebIdentityResult>",
        /* no Expiration */
        "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A</AccessKeyId>"
        "<SecretAccessKey>S</SecretAccessKey><SessionToken>T</SessionToken>"
        "</Credentials></AssumeRoleWithWebIdentityResult>",
        /* unterminated */
        "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A",
        /* a stray entity */
        "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A&x;</AccessKeyId>"
        "<SecretAccessKey>S</SecretAccessKey><SessionToken>T</SessionToken>"
        "<Expiration>2030-01-02T03:04:05Z</Expiration>"
        "</Credentials></AssumeRoleWithWebIdentityResult>",
        /* Credentials outside the result */
        "<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
        "<SessionToken>T</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"
        "</Credentials>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CHECK_EQ_INT(aws_creds_parse_sts_xml(bad[i], strlen(bad[i]), &c, err, sizeof(err)), -1);
        CHECK(err[0] != '\0');
        CHECK_STR(c.access_key_id, "");
    }
}

TEST(process_json)
{
    struct aws_credentials c;
    const char *j = "{\"Version\": 1, \"AccessKeyId\": \"ASIAP\", \"SecretAccessKey\": \"s\","
                    " \"SessionToken\": \"t\", \"Expiration\": \"2030-01-02T03:04:05Z\"}";
    CHECK_EQ_INT(aws_creds_parse_process_json(j, strlen(j), &c, err, sizeof(err)), 0);
    CHECK_STR(c.access_key_id, "ASIAP");
    CHECK_STR(c.session_token, "t");
    CHECK(c.expiration_us == 1893553445LL * 1000000);
    j = "{\"Version\": 1, \"AccessKeyId\": \"AKID\", \"SecretAccessKey\": \"s\"}";
    CHECK_EQ_INT(aws_creds_parse_process_json(j, strlen(j), &c, err, sizeof(err)), 0);
    CHECK(c.expiration_us == 0 && c.session_token[0] == '\0');
    const char *bad[] = {
        "{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\"}",
        "{\"Version\": \"1\", \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\"}",
        "{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\"}",
        "{\"Version\": 1, \"SecretAccessKey\": \"s\"}",
        "{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": 5}",
        "{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\", \"Expiration\": "
        "\"tomorrow\"}",
        "[1]",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CHECK_EQ_INT(aws_creds_parse_process_json(bad[i], strlen(bad[i]), &c, err, sizeof(err)),
                     -1);
        CHECK(err[0] != '\0');
    }
}

int main(void)
{
    RUN(profile_static_keys);
    RUN(profile_config_sections);
    RUN(profile_credential_process);
    RUN(profile_unsupported_and_broken);
    RUN(sts_xml);
    RUN(process_json);
    T_END("aws_creds");
}
