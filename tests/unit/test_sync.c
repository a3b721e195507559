/* The sync API's answer shaping (the old function's exact JSON) and its auth decision. */
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "observe.h"
#include "sync.h"
#include "t.h"

#define ID     "0b7e3a52-6a0f-4b0e-9a36-1f6c7f0b2d11"
#define SECRET "super-secret-jwt-token-with-at-least-32-characters-long"
#define NOW    1700000000LL

static const char *plain(struct json_object *o)
{
    return json_object_to_json_string_ext(o,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* The single-show answer for one result object, as the text the client gets. */
static char *answer(struct json_object *result)
{
    struct json_object *a = sync_single_answer(result);
    char *s = strdup(plain(a));
    json_object_put(a);
    json_object_put(result);
    return s;
}

TEST(single_went_live)
{
    char *s = answer(observe_result_json(ID, "offline", "live", 1, 1, 42, NULL));
    CHECK_STR(s, "{\"success\":true,\"summary\":{\"total\":1,\"changed\":1,\"errors\":0,"
                 "\"live\":1,\"offline\":0},\"results\":{\"showId\":\"" ID "\","
                 "\"previousStatus\":\"offline\",\"newStatus\":\"live\",\"changed\":true,"
                 "\"viewerCount\":42}}");
    free(s);
}

TEST(single_unchanged_offline)
{
    /* no previous status: null; no viewer count: absent */
    char *s = answer(observe_result_json(ID, NULL, "offline", 0, 0, 0, NULL));
    CHECK_STR(s, "{\"success\":true,\"summary\":{\"total\":1,\"changed\":0,\"errors\":0,"
                 "\"live\":0,\"offline\":1},\"results\":{\"showId\":\"" ID "\","
                 "\"previousStatus\":null,\"newStatus\":\"offline\",\"changed\":false}}");
    free(s);
}

TEST(single_error)
{
    /* an IVS error: the show keeps its status, no viewer count, counted as an error only */
    char *s = answer(observe_result_json(ID, "live", "live", 0, 1, 7,
                                         "IVS AccessDeniedException (IAM policy lacks "
                                         "ivs:GetStream / ivs:ListStreams?)"));
    CHECK_STR(s, "{\"success\":true,\"summary\":{\"total\":1,\"changed\":0,\"errors\":1,"
                 "\"live\":0,\"offline\":0},\"results\":{\"showId\":\"" ID "\","
                 "\"previousStatus\":\"live\",\"newStatus\":\"live\",\"changed\":false,"
                 "\"error\":\"IVS AccessDeniedException (IAM policy lacks ivs:GetStream / "
                 "ivs:ListStreams?)\"}}");
    free(s);
    /* no channel configured: newStatus defaults to offline */
    s = answer(observe_result_json(ID, NULL, NULL, 0, 0, 0, "No IVS channel configured"));
    CHECK_STR(s, "{\"success\":true,\"summary\":{\"total\":1,\"changed\":0,\"errors\":1,"
                 "\"live\":0,\"offline\":0},\"results\":{\"showId\":\"" ID "\","
                 "\"previousStatus\":null,\"newStatus\":\"offline\",\"changed\":false,"
                 "\"error\":\"No IVS channel configured\"}}");
    free(s);
}

TEST(single_results_is_an_object)
{
    /* the reference: "When syncing a single show, results is a single object" */
    struct json_object *r = observe_result_json(ID, "live", "offline", 1, 1, 0, NULL);
    struct json_object *a = sync_single_answer(r);
    struct json_object *res = json_object_object_get(a, "results");
    CHECK(json_object_is_type(res, json_type_object));
    CHECK(res == r); /* the same object, referenced */
    CHECK(json_object_get_boolean(json_object_object_get(a, "success")));
    CHECK_STR(plain(json_object_object_get(a, "summary")),
              "{\"total\":1,\"changed\":1,\"errors\":0,\"live\":0,\"offline\":1}");
    CHECK_STR(json_object_get_string(json_object_object_get(res, "viewerCount")), "0");
    json_object_put(a);
    json_object_put(r); /* still valid after the answer is freed */
}

TEST(uuid)
{
    CHECK(sync_uuid_ok(ID));
    CHECK(sync_uuid_ok("0B7E3A52-6A0F-4B0E-9A36-1F6C7F0B2D11"));
    CHECK(!sync_uuid_ok(""));
    CHECK(!sync_uuid_ok("0b7e3a52-6a0f-4b0e-9a36-1f6c7f0b2d1"));
    CHECK(!sync_uuid_ok("0b7e3a52-6a0f-4b0e-9a36-1f6c7f0b2d111"));
    CHECK(!sync_uuid_ok("0b7e3a526a0f-4b0e-9a36-1f6c7f0b2d11-"));
    CHECK(!sync_uuid_ok("0b7e3a52-6a0f-4b0e-9a36-1f6c7f0b2d1g"));
    CHECK(!sync_uuid_ok("{b7e3a52-6a0f-4b0e-9a36-1f6c7f0b2d11"));
}

static size_t b64url(const char *in, size_t n, char *out, size_t cap)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        size_t k = n - i >= 3 ? 4 : n - i + 1;
        for (size_t j = 0; j < k && o + 1 < cap; j++)
            out[o++] = tbl[(v >> (18 - 6 * j)) & 63];
    }
    out[o] = '\0';
    return o;
}

/* "Bearer <HS256 JWT of payload, signed with SECRET>" */
static void bearer(const char *payload, char *out, size_t cap)
{
    static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char t[1024];
    size_t o = b64url(hdr, strlen(hdr), t, sizeof(t));
    t[o++] = '.';
    o += b64url(payload, strlen(payload), t + o, sizeof(t) - o);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)t, o, mac, &ml);
    t[o++] = '.';
    b64url((const char *)mac, ml, t + o, sizeof(t) - o);
    snprintf(out, cap, "Bearer %s", t);
}

TEST(auth)
{
    struct config cfg;
    memset(&cfg, 0, sizeof(cfg));
    char key[] = "service-role-key", secret[] = SECRET;
    cfg.service_role_key = key;
    char why[128];
    CHECK(sync_authorized(&cfg, "Bearer service-role-key", NOW, why, sizeof(why)) == 1);
    CHECK(sync_authorized(&cfg, "bearer   service-role-key", NOW, why, sizeof(why)) == 1);
    CHECK(sync_authorized(&cfg, "Bearer service-role-kez", NOW, why, sizeof(why)) == 0);
    CHECK_STR(why, ""); /* no JWT_SECRET: nothing was verified */
    CHECK(sync_authorized(&cfg, NULL, NOW, why, sizeof(why)) == 0);
    CHECK(sync_authorized(&cfg, "service-role-key", NOW, why, sizeof(why)) == 0);
    CHECK(sync_authorized(&cfg, "Bearer ", NOW, why, sizeof(why)) == 0);

    cfg.jwt_secret = secret;
    char h[1200];
    bearer("{\"role\":\"authenticated\",\"app_metadata\":{\"role\":\"admin\"},\"exp\":1700003600}",
           h, sizeof(h));
    CHECK(sync_authorized(&cfg, h, NOW, why, sizeof(why)) == 1);
    /* expired: the verifier's reason */
    CHECK(sync_authorized(&cfg, h, NOW + 7200, why, sizeof(why)) == 0);
    CHECK(why[0] != '\0');
    /* a valid JWT without the admin role: refused, and the reason is set (was uninitialised) */
    memset(why, 'x', sizeof(why) - 1);
    why[sizeof(why) - 1] = '\0';
    bearer("{\"role\":\"authenticated\",\"app_metadata\":{\"role\":\"viewer\"},\"exp\":1700003600}",
           h, sizeof(h));
    CHECK(sync_authorized(&cfg, h, NOW, why, sizeof(why)) == 0);
    CHECK_STR(why, "the token does not grant the admin role");
}

int main(void)
{
    RUN(single_went_live);
    RUN(single_unchanged_offline);
    RUN(single_error);
    RUN(single_results_is_an_object);
    RUN(uuid);
    RUN(auth);
    T_END("sync");
}
