/*
 * aws_fetch: the credential sources fetched over HTTP besides the container
 * endpoint: web identity (STS AssumeRoleWithWebIdentity) and EC2 instance
 * metadata (IMDSv2). Both run through http_client and end in
 * aws_creds_fetch_ok() or aws_creds_fetch_failed().
 */
#include "aws_creds.h"
#include "aws_creds_int.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "http_client.h"
#include "iso8601.h"
#include "jsonx.h"

#define STS_TIMEOUT_MS   10000L
#define STS_CONNECT_MS   3000L
#define STS_RESPONSE_MAX 65536
#define IMDS_TIMEOUT_MS  2000L
#define IMDS_CONNECT_MS  1000L
#define IMDS_TOKEN_TTL   "21600"
#define IMDS_CREDS_PATH  "/latest/meta-data/iam/security-credentials/"
#define IMDS_MAX         65536

/* ---- STS XML (pure) ---- */

/* The text between <name ...> and </name> inside [p, end), or NULL. */
static const char *xml_elem(const char *p, const char *end, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt || (size_t)(end - lt) < nl + 2)
            return NULL;
        if (memcmp(lt + 1, name, nl) == 0 && (lt[1 + nl] == '>' || lt[1 + nl] == ' ')) {
            const char *gt = memchr(lt, '>', (size_t)(end - lt));
            if (!gt)
                return NULL;
            const char *body = gt + 1;
            if (gt[-1] == '/') { /* <name/> */
                *len = 0;
                return body;
            }
            for (const char *q = body; q < end;) {
                const char *c = memchr(q, '<', (size_t)(end - q));
                if (!c || (size_t)(end - c) < nl + 3)
                    return NULL;
                if (c[1] == '/' && memcmp(c + 2, name, nl) == 0 && c[2 + nl] == '>') {
                    *len = (size_t)(c - body);
                    return body;
                }
                q = c + 1;
            }
            return NULL;
        }
        p = lt + 1;
    }
    return NULL;
}

/* Copy text with the five predefined entities decoded; -1 when it does not fit or is odd. */
static int xml_text(const char *s, size_t n, char *dst, size_t cap)
{
    static const struct {
        const char *ent;
        char ch;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t o = 0;
    while (n > 0 && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < n;) {
        char ch = s[i];
        size_t adv = 1;
        if (ch == '&') {
            size_t k = 0;
            for (; k < sizeof(ents) / sizeof(ents[0]); k++) {
                size_t el = strlen(ents[k].ent);
                if (n - i >= el && memcmp(s + i, ents[k].ent, el) == 0) {
                    ch = ents[k].ch;
                    adv = el;
                    break;
                }
            }
            if (k == sizeof(ents) / sizeof(ents[0]))
                return -1;
        } else if (ch == '<' || ch == '\0') {
            return -1;
        }
        if (o + 1 >= cap)
            return -1;
        dst[o++] = ch;
        i += adv;
    }
    dst[o] = '\0';
    return 0;
}

int aws_creds_parse_sts_xml(const char *body, size_t len, struct aws_credentials *out, char *err,
                            size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!body || len == 0) {
        errbuf_set(err, errlen, "STS answer: empty");
        return -1;
    }
    const char *end = body + len;
    size_t n;
    const char *e = xml_elem(body, end, "ErrorResponse", &n);
    if (e) {
        char code[128] = "", msg[256] = "";
        const char *er = xml_elem(e, e + n, "Error", &n);
        const char *x;
        size_t xn;
        if (er && (x = xml_elem(er, er + n, "Code", &xn)))
            xml_text(x, xn, code, sizeof(code));
        if (er && (x = xml_elem(er, er + n, "Message", &xn)))
            xml_text(x, xn, msg, sizeof(msg));
        errbuf_set(err, errlen, "%s: %s", code[0] ? code : "error", msg[0] ? msg : "(no message)");
        return -1;
    }
    const char *r = xml_elem(body, end, "AssumeRoleWithWebIdentityResult", &n);
    const char *cr = r ? xml_elem(r, r + n, "Credentials", &n) : NULL;
    if (!cr) {
        errbuf_set(err, errlen, "STS answer: no AssumeRoleWithWebIdentityResult/Credentials");
        return -1;
    }
    const struct {
        const char *name;
        char *dst;
        size_t cap;
    } f[] = {{"AccessKeyId", out->access_key_id, sizeof(out->access_key_id)},
             {"SecretAccessKey", out->secret_access_key, sizeof(out->secret_access_key)},
             {"SessionToken", out->session_token, sizeof(out->session_token)}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        size_t vn;
        const char *v = xml_elem(cr, cr + n, f[i].name, &vn);
        if (!v) {
            errbuf_set(err, errlen, "STS answer: %s missing", f[i].name);
            goto fail;
        }
        if (xml_text(v, vn, f[i].dst, f[i].cap) != 0 || !f[i].dst[0]) {
            errbuf_set(err, errlen, "STS answer: %s empty, too long or malformed", f[i].name);
            goto fail;
        }
    }
    char exp[64];
    size_t vn;
    const char *v = xml_elem(cr, cr + n, "Expiration", &vn);
    if (!v || xml_text(v, vn, exp, sizeof(exp)) != 0 ||
        iso8601_parse(exp, strlen(exp), ISO8601_RFC3339, &out->expiration_us) != 0) {
        errbuf_set(err, errlen, "STS answer: Expiration missing or not an ISO 8601 time");
        goto fail;
    }
    return 0;
fail:
    aws_creds_wipe(out, sizeof(*out));
    return -1;
}

/* ---- web identity ---- */

/* application/x-www-form-urlencoded value (RFC 3986 unreserved kept). */
static int form_append(char **buf, size_t *len, size_t *cap, const char *key, const char *val)
{
    size_t need = *len + strlen(key) + 2 + strlen(val) * 3 + 1;
    if (need > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < need)
            nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return -1;
        /* realloc may have moved a secret: the old block is freed unwiped; the
         * token is short-lived and the buffer is sized generously up front. */
        *buf = nb;
        *cap = nc;
    }
    char *o = *buf + *len;
    if (*len)
        *o++ = '&';
    size_t kl = strlen(key);
    memcpy(o, key, kl);
    o += kl;
    *o++ = '=';
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    *len = (size_t)(o - *buf);
    return 0;
}

static void sts_done(const struct http_response *resp, void *arg)
{
    struct aws_creds *c = arg;
    struct aws_credentials nc;
    char perr[240];
    if (resp->failed) {
        snprintf(c->err, sizeof(c->err), "STS unreachable: %s",
                 resp->error ? resp->error : "transport error");
        aws_creds_fetch_failed(c);
        return;
    }
    int prc = aws_creds_parse_sts_xml(resp->body, resp->body_len, &nc, perr, sizeof(perr));
    if (prc != 0 || resp->status != 200) {
        if (prc == 0)
            aws_creds_wipe(&nc, sizeof(nc));
        snprintf(c->err, sizeof(c->err), "STS AssumeRoleWithWebIdentity (HTTP %ld): %s",
                 resp->status, prc != 0 ? perr : "unexpected status");
        aws_creds_fetch_failed(c);
        return;
    }
    aws_creds_fetch_ok(c, &nc);
}

int aws_fetch_web_identity(struct aws_creds *c)
{
    char *token = aws_creds_read_token(c, "AWS_WEB_IDENTITY_TOKEN_FILE", c->web_token_file);
    if (!token)
        return -1;
    size_t len = 0, cap = strlen(token) * 3 + strlen(c->role_arn) * 3 + 512;
    char *body = malloc(cap);
    int rc = -1;
    if (!body || form_append(&body, &len, &cap, "Action", "AssumeRoleWithWebIdentity") ||
        form_append(&body, &len, &cap, "Version", "2011-06-15") ||
        form_append(&body, &len, &cap, "RoleArn", c->role_arn) ||
        form_append(&body, &len, &cap, "RoleSessionName", c->session_name) ||
        form_append(&body, &len, &cap, "WebIdentityToken", token)) {
        snprintf(c->err, sizeof(c->err), "out of memory");
        goto done;
    }
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
                          "Accept: text/xml", NULL};
    struct http_request req = {
        .method = "POST",
        .url = c->sts_url,
        .body = body,
        .body_len = len,
        .headers = hdrs,
        .timeout_ms = STS_TIMEOUT_MS,
        .connect_timeout_ms = STS_CONNECT_MS,
        .max_response = STS_RESPONSE_MAX,
        .allow_http = 1, /* only an explicit AWS_ENDPOINT_URL_STS can say http */
    };
    if (http_client_request(c->hc, &req, sts_done, c) != 0) {
        snprintf(c->err, sizeof(c->err), "cannot start the STS request");
        goto done;
    }
    rc = 0;
done:
    if (body) {
        aws_creds_wipe(body, cap);
        free(body);
    }
    aws_creds_wipe(token, strlen(token));
    free(token);
    return rc;
}

/* ---- instance metadata (IMDSv2) ---- */

static int imds_request(struct aws_creds *c, const char *method, const char *path, http_done_cb cb);

/* The session token is wiped: it serves one fetch. */
static void imds_drop_token(struct aws_creds *c)
{
    if (c->imds_token) {
        aws_creds_wipe(c->imds_token, strlen(c->imds_token));
        free(c->imds_token);
        c->imds_token = NULL;
    }
}

/* The fetch failed with c->err set: the token wiped, the chain told. */
static void imds_failed(struct aws_creds *c)
{
    imds_drop_token(c);
    c->imds_step = 0;
    aws_creds_fetch_failed(c);
}

static void imds_fail(struct aws_creds *c, const char *what, const struct http_response *resp)
{
    if (resp->failed)
        snprintf(c->err, sizeof(c->err), "instance metadata unreachable (%s): %s", what,
                 resp->error ? resp->error : "transport error");
    else
        snprintf(c->err, sizeof(c->err), "instance metadata %s: HTTP %ld", what, resp->status);
    imds_failed(c);
}

static void imds_creds_done(const struct http_response *resp, void *arg)
{
    struct aws_creds *c = arg;
    struct aws_credentials nc;
    char perr[200];
    if (resp->failed || resp->status != 200) {
        imds_fail(c, "credentials", resp);
        return;
    }
    imds_drop_token(c);
    c->imds_step = 0;
    /* {"Code":"Success","AccessKeyId":..,"SecretAccessKey":..,"Token":..,"Expiration":..} */
    json_object *root = NULL;
    const char *code = NULL;
    size_t cn = 0;
    if (jsonx_parse_object(resp->body, resp->body_len, 16, &root) == JSONX_OK &&
        jsonx_get_string(root, "Code", &code, &cn) == JSONX_MEMBER_STRING &&
        !(cn == 7 && memcmp(code, "Success", 7) == 0)) {
        snprintf(c->err, sizeof(c->err), "instance metadata: role %s: Code %.*s", c->imds_role,
                 (int)(cn > 64 ? 64 : cn), code);
        json_object_put(root);
        aws_creds_fetch_failed(c);
        return;
    }
    json_object_put(root);
    if (aws_creds_parse_json(resp->body, resp->body_len, &nc, perr, sizeof(perr)) != 0) {
        snprintf(c->err, sizeof(c->err), "instance metadata: %s", perr);
        aws_creds_fetch_failed(c);
        return;
    }
    snprintf(c->source_name, sizeof(c->source_name), "instance metadata (role %s)", c->imds_role);
    aws_creds_fetch_ok(c, &nc);
}

static void imds_role_done(const struct http_response *resp, void *arg)
{
    struct aws_creds *c = arg;
    if (resp->failed || resp->status != 200) {
        if (!resp->failed && resp->status == 404) {
            snprintf(c->err, sizeof(c->err), "instance metadata: no IAM role attached");
            imds_failed(c);
            return;
        }
        imds_fail(c, "role", resp);
        return;
    }
    /* The first line is the role name. */
    size_t n = 0;
    while (n < resp->body_len && resp->body[n] != '\n' && resp->body[n] != '\r')
        n++;
    int ok = n > 0 && n < sizeof(c->imds_role);
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char ch = (unsigned char)resp->body[i];
        ok = ch > ' ' && ch < 127 && ch != '/' && ch != '?' && ch != '#' && ch != '%';
    }
    if (!ok) {
        snprintf(c->err, sizeof(c->err), "instance metadata: the role name is missing or odd");
        imds_failed(c);
        return;
    }
    memcpy(c->imds_role, resp->body, n);
    c->imds_role[n] = '\0';
    char path[sizeof(IMDS_CREDS_PATH) + sizeof(c->imds_role)];
    snprintf(path, sizeof(path), "%s%s", IMDS_CREDS_PATH, c->imds_role);
    c->imds_step = 3;
    if (imds_request(c, "GET", path, imds_creds_done) != 0)
        aws_creds_fetch_failed(c);
}

static void imds_token_done(const struct http_response *resp, void *arg)
{
    struct aws_creds *c = arg;
    if (resp->failed || resp->status != 200) {
        imds_fail(c, "token", resp);
        return;
    }
    size_t n = resp->body_len;
    while (n > 0 && (resp->body[n - 1] == '\n' || resp->body[n - 1] == '\r'))
        n--;
    if (n == 0 || n > 4096 || memchr(resp->body, '\n', n) || memchr(resp->body, '\r', n) ||
        memchr(resp->body, '\0', n)) {
        snprintf(c->err, sizeof(c->err), "instance metadata: malformed session token");
        imds_failed(c);
        return;
    }
    c->imds_token = malloc(n + 1);
    if (!c->imds_token) {
        snprintf(c->err, sizeof(c->err), "out of memory");
        imds_failed(c);
        return;
    }
    memcpy(c->imds_token, resp->body, n);
    c->imds_token[n] = '\0';
    c->imds_step = 2;
    if (imds_request(c, "GET", IMDS_CREDS_PATH, imds_role_done) != 0)
        aws_creds_fetch_failed(c);
}

static int imds_request(struct aws_creds *c, const char *method, const char *path, http_done_cb cb)
{
    char url[1024], *hdr = NULL;
    snprintf(url, sizeof(url), "%s%s", c->imds_base, path);
    const char *hdrs[2] = {NULL, NULL};
    if (c->imds_token) {
        size_t n = strlen(c->imds_token) + sizeof("X-aws-ec2-metadata-token: ");
        hdr = malloc(n);
        if (!hdr) {
            snprintf(c->err, sizeof(c->err), "out of memory");
            return -1;
        }
        snprintf(hdr, n, "X-aws-ec2-metadata-token: %s", c->imds_token);
        hdrs[0] = hdr;
    } else {
        hdrs[0] = "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL;
    }
    struct http_request req = {
        .method = method,
        .url = url,
        .headers = hdrs,
        .timeout_ms = IMDS_TIMEOUT_MS,
        .connect_timeout_ms = IMDS_CONNECT_MS,
        .max_response = IMDS_MAX,
        .allow_http = 1,
    };
    int rc = http_client_request(c->hc, &req, cb, c);
    if (hdr) {
        aws_creds_wipe(hdr, strlen(hdr));
        free(hdr);
    }
    if (rc != 0)
        snprintf(c->err, sizeof(c->err), "cannot start the instance metadata request");
    return rc;
}

int aws_fetch_imds(struct aws_creds *c)
{
    imds_drop_token(c);
    c->imds_step = 1;
    return imds_request(c, "PUT", "/latest/api/token", imds_token_done);
}
