/* config: the option table, environment + flags, validation. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arn.h"
#include "cidr.h"
#include "log.h"
#include "secret_file.h"

enum opt_type {
    T_STR,      /* string, may be empty */
    T_SECRET,   /* string, never printed */
    T_INT,      /* integer in [min, max] */
    T_SIZE,     /* bytes: 256k, 1m */
    T_SECONDS,  /* int seconds: 30, 30s, 5m, 1h, 7d */
    T_FSECONDS, /* double seconds: 2, 0.5, 500ms */
    T_DOUBLE,   /* double in [min, max] */
    T_BOOL,
    T_LISTEN,   /* host:port */
    T_STRATEGY, /* auto|list|get */
    T_LOGFMT,   /* json|text */
    T_SSEAUTH,  /* jwt|none */
    T_LOGLEVEL, /* debug|info|warn|error */
};

struct opt {
    const char *name; /* environment variable; flag is --kebab-case of it */
    const char *alt;  /* fallback environment variable, or NULL */
    enum opt_type type;
    const char *def; /* default as text, NULL = unset */
    size_t off;
    double min, max;
    const char *help;
};

#define O(f) offsetof(struct config, f)

static const struct opt opts[] = {
    {"LISTEN", NULL, T_LISTEN, "0.0.0.0:8080", 0, 0, 0, "address:port to listen on (port 0 = any)"},
    {"DATABASE_URL", NULL, T_STR, NULL, O(database_url), 0, 0,
     "libpq conninfo or URI; unset = project-local PostgreSQL under ./var"},
    {"SQL_DIR", NULL, T_STR, NULL, O(sql_dir), 0, 0,
     "directory of the migration SQL (default: ./infra/sql, else PREFIX/share/ivs-syncd/sql)"},
    {"DB_POOL_SIZE", NULL, T_INT, "4", O(db_pool_size), 1, 256, "database connections in the pool"},
    {"DB_QUEUE_MAX", NULL, T_INT, "1024", O(db_queue_max), 0, 1000000,
     "requests that may wait for a database connection (then 503)"},
    {"DB_CONNECT_TIMEOUT", NULL, T_SECONDS, "5", O(db_connect_timeout), 1, 3600,
     "deadline for one database connection attempt"},
    {"DB_STATEMENT_TIMEOUT", NULL, T_INT, "10000", O(db_statement_timeout), 0, 3600000,
     "statement_timeout in milliseconds for the daemon's queries (0 = none)"},
    {"DB_PREPARED", NULL, T_STR, "auto", O(db_prepared), 0, 0,
     "prepared statements: auto (direct only), on, off (unnamed)"},
    {"MAX_BODY", NULL, T_SIZE, "256k", O(max_body), 1024, 64 * 1024 * 1024,
     "largest request body accepted (413 past it)"},
    {"MAX_HEADERS", NULL, T_SIZE, "16k", O(max_headers), 1024, 1024 * 1024,
     "largest request header block accepted"},
    {"READ_TIMEOUT", NULL, T_SECONDS, "10", O(read_timeout), 1, 3600,
     "seconds a client may take to send a request"},
    {"WRITE_TIMEOUT", NULL, T_SECONDS, "10", O(write_timeout), 1, 3600,
     "seconds a client may take to read an answer"},
    {"KEEPALIVE_TIMEOUT", NULL, T_SECONDS, "75", O(keepalive_timeout), 1, 3600,
     "seconds an idle keep-alive connection stays open (above a load balancer's)"},
    {"MAX_CONNECTIONS", NULL, T_INT, "0", O(max_connections), 0, 1000000,
     "client connections open at once, more are closed (0 = from RLIMIT_NOFILE)"},
    {"MAX_BUFFERED_BODY", NULL, T_SIZE, "32m", O(max_buffered_body), 64 * 1024,
     1024.0 * 1024 * 1024, "request bytes buffered across all connections at most"},
    {"TRUSTED_PROXIES", NULL, T_STR, "", O(trusted_proxies), 0, 0,
     "comma-separated CIDRs of proxies whose X-Forwarded-For gives the client address in logs"},
    {"TLS_CERT_FILE", NULL, T_STR, NULL, O(tls_cert_file), 0, 0,
     "PEM certificate chain: with TLS_KEY_FILE the listener speaks HTTPS (reloaded on SIGHUP)"},
    {"TLS_KEY_FILE", NULL, T_STR, NULL, O(tls_key_file), 0, 0, "PEM private key of TLS_CERT_FILE"},
    {"JSON_MAX_DEPTH", NULL, T_INT, "32", O(json_max_depth), 2, 1000,
     "deepest JSON nesting accepted in request bodies"},
    {"CORS_ALLOW_ORIGINS", NULL, T_STR, "*", O(cors_allow_origins), 0, 0,
     "comma-separated origins allowed by CORS on the sync API, or *"},
    {"SNS_TOPIC_ARNS", NULL, T_STR, "", O(sns_topic_arns), 0, 0,
     "comma-separated SNS topic ARNs whose messages are accepted"},
    {"SNS_CERT_DIR", NULL, T_STR, NULL, O(sns_cert_dir), 0, 0,
     "directory of SNS signing certificates (pre-provisioned, and where fetched ones are kept)"},
    {"SNS_AUTO_CONFIRM", NULL, T_BOOL, "true", O(sns_auto_confirm), 0, 0,
     "confirm SNS subscriptions by visiting SubscribeURL"},
    {"SNS_MAX_AGE", NULL, T_SECONDS, "1h", O(sns_max_age), 0, 365 * 86400,
     "reject SNS messages whose Timestamp is older (0 = no limit)"},
    {"SNS_MIN_SIGNATURE_VERSION", NULL, T_INT, "1", O(sns_min_signature_version), 1, 2,
     "lowest SNS SignatureVersion accepted (1 = SHA1, 2 = SHA256)"},
    {"SNS_CERT_CACHE_SIZE", NULL, T_INT, "64", O(sns_cert_cache_size), 1, 100000,
     "signing certificates kept in memory"},
    {"SNS_FETCH_BASE_URL", NULL, T_STR, NULL, O(sns_fetch_base_url), 0, 0,
     "testing only (needs IVS_SYNCD_TESTING=1): scheme://host[:port] that replaces the SNS "
     "host when fetching; what it fetches is never written to SNS_CERT_DIR"},
    {"EVENTBRIDGE_TOKEN", NULL, T_SECRET, NULL, O(eventbridge_token), 0, 0,
     "enables POST /eventbridge; the token the API destination sends"},
    {"EVENTBRIDGE_TOKEN_HEADER", NULL, T_STR, "X-Ivs-Syncd-Token", O(eventbridge_token_header), 0,
     0, "header that carries EVENTBRIDGE_TOKEN"},
    {"AWS_ACCOUNT_IDS", NULL, T_STR, "", O(aws_account_ids), 0, 0,
     "comma-separated AWS accounts whose events are accepted (empty = any)"},
    {"SERVICE_ROLE_KEY", "SUPABASE_SERVICE_ROLE_KEY", T_SECRET, NULL, O(service_role_key), 0, 0,
     "service key accepted as a Bearer token by the sync API"},
    {"JWT_SECRET", "SUPABASE_JWT_SECRET", T_SECRET, NULL, O(jwt_secret), 0, 0,
     "HS256 secret of JWTs accepted by the sync API"},
    {"AWS_ACCESS_KEY_ID", NULL, T_SECRET, NULL, O(aws_access_key_id), 0, 0, "AWS access key"},
    {"AWS_SECRET_ACCESS_KEY", NULL, T_SECRET, NULL, O(aws_secret_access_key), 0, 0,
     "AWS secret key"},
    {"AWS_SESSION_TOKEN", NULL, T_SECRET, NULL, O(aws_session_token), 0, 0, "AWS session token"},
    {"AWS_REGION", "AWS_DEFAULT_REGION", T_STR, "us-east-1", O(aws_region), 0, 0,
     "default region (channels use the region of their ARN)"},
    {"AWS_ENDPOINT_URL_IVS", "AWS_ENDPOINT_URL", T_STR, NULL, O(aws_endpoint_url_ivs), 0, 0,
     "IVS endpoint override (default https://ivs.<region>.amazonaws.com)"},
    {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", NULL, T_STR, NULL,
     O(aws_container_credentials_relative_uri), 0, 0, "ECS container credentials path"},
    {"AWS_CONTAINER_CREDENTIALS_FULL_URI", NULL, T_STR, NULL, O(aws_container_credentials_full_uri),
     0, 0, "container credentials URL"},
    {"AWS_CONTAINER_AUTHORIZATION_TOKEN", NULL, T_SECRET, NULL,
     O(aws_container_authorization_token), 0, 0, "Authorization for the credentials URL"},
    {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", NULL, T_STR, NULL,
     O(aws_container_authorization_token_file), 0, 0, "file holding that Authorization"},
    {"AWS_ROLE_ARN", NULL, T_STR, NULL, O(aws_role_arn), 0, 0,
     "role assumed with a web identity token (EKS IRSA); with AWS_WEB_IDENTITY_TOKEN_FILE"},
    {"AWS_WEB_IDENTITY_TOKEN_FILE", NULL, T_STR, NULL, O(aws_web_identity_token_file), 0, 0,
     "file holding the web identity token, read again at every refresh"},
    {"AWS_ROLE_SESSION_NAME", NULL, T_STR, NULL, O(aws_role_session_name), 0, 0,
     "session name for web identity (unset = ivs-syncd-<unix time>)"},
    {"AWS_ENDPOINT_URL_STS", NULL, T_STR, NULL, O(aws_endpoint_url_sts), 0, 0,
     "STS endpoint override (default https://sts.<region>.amazonaws.com)"},
    {"AWS_PROFILE", NULL, T_STR, NULL, O(aws_profile), 0, 0,
     "profile of the shared credentials/config files (unset = default)"},
    {"AWS_SHARED_CREDENTIALS_FILE", NULL, T_STR, "~/.aws/credentials",
     O(aws_shared_credentials_file), 0, 0, "shared credentials file"},
    {"AWS_CONFIG_FILE", NULL, T_STR, "~/.aws/config", O(aws_config_file), 0, 0,
     "shared config file (credential_process, [profile name] sections)"},
    {"AWS_EC2_METADATA_SERVICE_ENDPOINT", NULL, T_STR, "http://169.254.169.254",
     O(aws_ec2_metadata_service_endpoint), 0, 0, "EC2 instance metadata (IMDSv2) address"},
    {"AWS_EC2_METADATA_DISABLED", NULL, T_BOOL, "false", O(aws_ec2_metadata_disabled), 0, 0,
     "true: never ask EC2 instance metadata for credentials"},
    {"AWS_MAX_ATTEMPTS", NULL, T_INT, "3", O(aws_max_attempts), 1, 10,
     "attempts per IVS call (standard retry mode)"},
    {"IVS_TIMEOUT", NULL, T_SECONDS, "10", O(ivs_timeout), 1, 300, "timeout of one IVS request"},
    {"RECONCILE_INTERVAL", NULL, T_SECONDS, "30", O(reconcile_interval), 0, 86400,
     "seconds between reconcile passes, jittered (0 = off)"},
    {"LEADER_LEASE", NULL, T_FSECONDS, "15", O(leader_lease), 1, 3600,
     "reconcile leader lease; renewed every third of it"},
    {"RECONCILE_STRATEGY", NULL, T_STRATEGY, "auto", O(reconcile_strategy), 0, 0,
     "auto, list (ListStreams) or get (GetStream per channel)"},
    {"IVS_MAX_RPS", NULL, T_DOUBLE, "4", O(ivs_max_rps), 0.1, 1000, "IVS calls per second at most"},
    {"IVS_MAX_INFLIGHT", NULL, T_INT, "8", O(ivs_max_inflight), 1, 1000,
     "IVS calls in flight at most"},
    {"END_GRACE_SECONDS", NULL, T_SECONDS, "0", O(end_grace_seconds), 0, 86400,
     "seconds a show stays live after its stream ends (0 = end at once)"},
    {"EVENT_RETENTION", NULL, T_SECONDS, "7d", O(event_retention), 60, 3650 * 86400,
     "age after which recorded events are purged"},
    {"SYNC_FRESHNESS", NULL, T_FSECONDS, "2", O(sync_freshness), 0, 3600,
     "the sync API answers from the database when the state is younger (0 = off)"},
    {"SYNC_MAX_WAIT", NULL, T_FSECONDS, "5", O(sync_max_wait), 0, 300,
     "longest wait for the IVS rate limit before 503"},
    {"SSE_HEARTBEAT", NULL, T_SECONDS, "15", O(sse_heartbeat), 1, 3600,
     "seconds between \": ping\" comments on event streams"},
    {"SSE_AUTH", NULL, T_SSEAUTH, "jwt", O(sse_auth), 0, 0,
     "event stream auth: jwt (any valid JWT_SECRET token, or the service key) or none"},
    {"SSE_MAX_SUBSCRIBERS", NULL, T_INT, "20000", O(sse_max_subscribers), 0, 1000000,
     "event stream subscribers at most (503 beyond)"},
    {"SSE_MAX_BUFFER", NULL, T_SIZE, "64k", O(sse_max_buffer), 1024, 64 * 1024 * 1024,
     "unsent bytes to one subscriber before it is dropped"},
    {"SHUTDOWN_TIMEOUT", NULL, T_SECONDS, "20", O(shutdown_timeout), 0, 3600,
     "seconds in-flight work may take after SIGTERM"},
    {"LOG_FORMAT", NULL, T_LOGFMT, "json", O(log_format), 0, 0, "json or text"},
    {"LOG_LEVEL", NULL, T_LOGLEVEL, "info", O(log_level), 0, 0, "debug, info, warn or error"},
    {"LOG_FILE", NULL, T_STR, NULL, O(log_file), 0, 0, "log to this file (reopened on SIGHUP)"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void flag_name(const char *name, char *out, size_t outlen)
{
    size_t i = 0;
    for (; name[i] && i + 1 < outlen; i++)
        out[i] = name[i] == '_' ? '-' : (char)tolower((unsigned char)name[i]);
    out[i] = '\0';
}

static int parse_suffixed(const char *s, double *out, int kind /*0 size 1 seconds*/)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0)
        return -1;
    double mul = 1;
    if (kind == 0) {
        if (!strcasecmp(end, "k") || !strcasecmp(end, "kb") || !strcasecmp(end, "kib"))
            mul = 1024;
        else if (!strcasecmp(end, "m") || !strcasecmp(end, "mb") || !strcasecmp(end, "mib"))
            mul = 1024 * 1024;
        else if (*end)
            return -1;
    } else {
        if (!strcmp(end, "ms"))
            mul = 0.001;
        else if (!strcmp(end, "s") || !*end)
            mul = 1;
        else if (!strcmp(end, "m"))
            mul = 60;
        else if (!strcmp(end, "h"))
            mul = 3600;
        else if (!strcmp(end, "d"))
            mul = 86400;
        else
            return -1;
    }
    *out = v * mul;
    return 0;
}

static int parse_bool(const char *s)
{
    if (!strcasecmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
        !strcasecmp(s, "on"))
        return 1;
    if (!strcasecmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") ||
        !strcasecmp(s, "off"))
        return 0;
    return -1;
}

static int set_str(char **slot, const char *v)
{
    char *d = strdup(v);
    if (!d)
        return -1;
    free(*slot);
    *slot = d;
    return 0;
}

/* A numeric option: parse v, check [min, max], store; else "NAME: problem" and -1. */
static int set_number(struct config *cfg, const struct opt *o, const char *v, FILE *err)
{
    char *base = (char *)cfg, *end, shown[64];
    double d = 0;
    long l = 0;
    int bad;
    errno = 0;
    if (o->type == T_INT) {
        l = strtol(v, &end, 10);
        bad = end == v || *end || errno;
        d = (double)l;
        snprintf(shown, sizeof(shown), "%ld", l);
    } else if (o->type == T_DOUBLE) {
        d = strtod(v, &end);
        bad = end == v || *end || errno || !isfinite(d);
        snprintf(shown, sizeof(shown), "%g", d);
    } else {
        bad = parse_suffixed(v, &d, o->type != T_SIZE) < 0;
        snprintf(shown, sizeof(shown), "%s", v);
    }
    if (bad) {
        fprintf(err, "%s: \"%s\" is not %s\n", o->name, v,
                o->type == T_INT      ? "an integer"
                : o->type == T_DOUBLE ? "a number"
                : o->type == T_SIZE   ? "a size (e.g. 256k, 1m)"
                                      : "a duration (e.g. 30, 30s, 5m, 1h, 7d)");
        return -1;
    }
    if (o->type == T_INT ? l < (long)o->min || l > (long)o->max : d < o->min || d > o->max) {
        if (o->type == T_INT || o->type == T_SIZE)
            fprintf(err, "%s: %s out of range (%.0f..%.0f%s)\n", o->name, shown, o->min, o->max,
                    o->type == T_SIZE ? " bytes" : "");
        else
            fprintf(err, "%s: %s out of range (%g..%g%s)\n", o->name, shown, o->min, o->max,
                    o->type == T_DOUBLE ? "" : " seconds");
        return -1;
    }
    if (o->type == T_SECONDS && d != floor(d)) {
        fprintf(err, "%s: %s is not a whole number of seconds\n", o->name, v);
        return -1;
    }
    if (o->type == T_INT || o->type == T_SECONDS)
        *(int *)(base + o->off) = o->type == T_INT ? (int)l : (int)d;
    else if (o->type == T_SIZE)
        *(size_t *)(base + o->off) = (size_t)d;
    else
        *(double *)(base + o->off) = d; // cppcheck-suppress invalidPointerCast
    return 0;
}

/* The index of v among the words of a choice option (in the order of its enum
 * in config.h); else "NAME: "v" is not a or b" (or "one of a, b, c") and -1. */
static int choice(const struct opt *o, const char *v, FILE *err)
{
    static const char *const strategy[] = {"auto", "list", "get", NULL};
    static const char *const logfmt[] = {"json", "text", NULL};
    static const char *const sseauth[] = {"jwt", "none", NULL};
    const char *const *w = o->type == T_STRATEGY ? strategy
                           : o->type == T_LOGFMT ? logfmt
                                                 : sseauth;
    size_t n = 0;
    for (; w[n]; n++)
        if (!strcmp(v, w[n]))
            return (int)n;
    char list[64] = "";
    for (size_t i = 0, l = 0; i < n && l < sizeof(list); i++)
        l += (size_t)snprintf(list + l, sizeof(list) - l, "%s%s",
                              !i       ? ""
                              : n == 2 ? " or "
                                       : ", ",
                              w[i]);
    fprintf(err, "%s: \"%s\" is not %s%s\n", o->name, v, n == 2 ? "" : "one of ", list);
    return -1;
}

/* Parse v into the option's slot; on error write "NAME: problem" and return -1. */
static int opt_set(struct config *cfg, const struct opt *o, const char *v, FILE *err)
{
    char *base = (char *)cfg;
    switch (o->type) {
    case T_STR:
    case T_SECRET:
        if (set_str((char **)(base + o->off), v) < 0)
            goto oom;
        return 0;
    case T_INT:
    case T_DOUBLE:
    case T_SIZE:
    case T_SECONDS:
    case T_FSECONDS:
        return set_number(cfg, o, v, err);
    case T_BOOL: {
        int b = parse_bool(v);
        if (b < 0) {
            fprintf(err, "%s: \"%s\" is not a boolean (true/false)\n", o->name, v);
            return -1;
        }
        *(int *)(base + o->off) = b;
        return 0;
    }
    case T_LISTEN: {
        const char *colon = strrchr(v, ':');
        if (!colon || colon == v) {
            fprintf(err, "%s: \"%s\" is not host:port\n", o->name, v);
            return -1;
        }
        char *end;
        errno = 0;
        long l = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end || errno) {
            fprintf(err, "%s: port \"%s\" is not a number\n", o->name, colon + 1);
            return -1;
        }
        if (l < 0 || l > 65535) {
            fprintf(err, "%s: port %ld out of range\n", o->name, l);
            return -1;
        }
        size_t hl = (size_t)(colon - v);
        const char *h = v;
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        char *host = strndup(h, hl);
        if (!host)
            goto oom;
        free(cfg->listen_host);
        cfg->listen_host = host;
        cfg->listen_port = (int)l;
        return 0;
    }
    case T_STRATEGY:
    case T_LOGFMT:
    case T_SSEAUTH: {
        int i = choice(o, v, err);
        if (i < 0)
            return -1;
        if (o->type == T_STRATEGY)
            cfg->reconcile_strategy = (enum reconcile_strategy)i;
        else if (o->type == T_LOGFMT)
            cfg->log_format = (enum log_format)i;
        else
            cfg->sse_auth = (enum sse_auth)i;
        return 0;
    }
    case T_LOGLEVEL: {
        int lv = log_level_parse(v);
        if (lv < 0) {
            fprintf(err, "%s: \"%s\" is not one of debug, info, warn, error\n", o->name, v);
            return -1;
        }
        cfg->log_level = lv;
        return 0;
    }
    }
    return 0;
oom:
    fprintf(err, "%s: out of memory\n", o->name);
    return -1;
}

static const struct opt *find_flag(const char *flag, size_t len)
{
    char fn[96];
    for (size_t i = 0; i < NOPTS; i++) {
        flag_name(opts[i].name, fn, sizeof(fn));
        if (strlen(fn) == len && !memcmp(fn, flag, len))
            return &opts[i];
    }
    return NULL;
}

static void print_version(FILE *out)
{
    fprintf(out, "ivs-syncd %s (%s)\n", IVS_VERSION, IVS_GIT_REV);
}

/* A secret from <NAME>_FILE or $CREDENTIALS_DIRECTORY/<NAME>, if one is set
 * there (secret_file); *where names the place ("" when none). 0 = none or set, -1 = error. */
static int load_secret_file(struct config *cfg, const struct opt *o, const char *env_src,
                            char *where, size_t wherelen, FILE *err)
{
    char *v = NULL;
    if (secret_file_load(o->name, env_src, &v, where, wherelen, err) < 0)
        return -1;
    if (!v)
        return 0;
    int r = opt_set(cfg, o, v, err);
    memset(v, 0, strlen(v));
    free(v);
    return r;
}

static int account_id_valid(const char *s, size_t n)
{
    if (n != 12)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* 1 when s[0..n) is "*" or an origin: scheme://host[:port] (no path, no blanks). */
static int origin_valid(const char *s, size_t n)
{
    if (n == 1 && s[0] == '*')
        return 1;
    const char *end = s + n, *p = s;
    if (p >= end || !isalpha((unsigned char)*p))
        return 0;
    while (p < end && (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.'))
        p++;
    if (end - p < 4 || memcmp(p, "://", 3) != 0)
        return 0;
    p += 3;
    const char *h = p;
    if (*p == '[') { /* IPv6 literal */
        while (p < end && (isxdigit((unsigned char)*p) || *p == ':' || *p == '[' || *p == '.'))
            p++;
        if (p >= end || *p != ']')
            return 0;
        p++;
    } else {
        while (p < end && (isalnum((unsigned char)*p) || *p == '-' || *p == '.'))
            p++;
    }
    if (p == h)
        return 0;
    if (p < end && *p == ':') {
        const char *d = ++p;
        long port = 0;
        while (p < end && isdigit((unsigned char)*p) && p - d < 6)
            port = port * 10 + (*p++ - '0');
        if (p == d || port < 1 || port > 65535)
            return 0;
    }
    return p == end;
}

/* The next entry of a comma-separated list at *p, blanks around it trimmed and
 * empty entries skipped: its start and length, and *p moved past it. 0 at the end. */
static int list_next(const char **p, const char **start, size_t *len)
{
    const char *s = *p;
    while (*s == ',' || *s == ' ')
        s++;
    const char *e = s;
    while (*e && *e != ',')
        e++;
    const char *t = e;
    while (t > s && t[-1] == ' ')
        t--;
    *p = e;
    *start = s;
    *len = (size_t)(t - s);
    return t > s;
}

/* Check each entry of the option name's list with ok(); print one line and
 * return -1 on the first bad one. */
static int check_list(const char *name, const char *list, int (*ok)(const char *, size_t),
                      const char *what, FILE *err)
{
    const char *p = list ? list : "", *item;
    size_t n;
    while (list_next(&p, &item, &n))
        if (!ok(item, n)) {
            fprintf(err, "%s: \"%.*s\" is not %s\n", name, (int)(n > 200 ? 200 : n), item, what);
            return -1;
        }
    return 0;
}

int config_load(struct config *cfg, int *argc, char **argv, FILE *err)
{
    memset(cfg, 0, sizeof(*cfg));
    char from_file[NOPTS][96]; /* where a file secret came from, "" = not from a file */
    const char *from_env[NOPTS];
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].def && opt_set(cfg, &opts[i], opts[i].def, err) < 0)
            return -1;
    for (size_t i = 0; i < NOPTS; i++) {
        const char *v = getenv(opts[i].name);
        const char *src = opts[i].name;
        if ((!v || !*v) && opts[i].alt) {
            v = getenv(opts[i].alt);
            src = opts[i].alt;
        }
        from_env[i] = v && *v ? src : NULL;
        from_file[i][0] = '\0';
        if (v && (*v || opts[i].type == T_STR || opts[i].type == T_SECRET) &&
            opt_set(cfg, &opts[i], v, err) < 0)
            return -1;
        if (secret_file_accepts(opts[i].name) &&
            load_secret_file(cfg, &opts[i], from_env[i], from_file[i], sizeof(from_file[i]), err) <
                0)
            return -1;
    }
    int kept = 1, rest = 0;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (!rest && (!strcmp(a, "-h") || !strcmp(a, "-V")))
            a = a[1] == 'h' ? "--help" : "--version"; /* short aliases */
        if (rest || strncmp(a, "--", 2) != 0 || !a[2]) {
            if (!strcmp(a, "--") && !rest) {
                rest = 1;
                continue;
            }
            argv[kept++] = argv[i]; /* a command or its argument */
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            config_print_help(stdout);
            return 1;
        }
        if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            print_version(stdout);
            return 1;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = find_flag(name, nl);
        if (!o) {
            argv[kept++] = argv[i]; /* command-specific (e.g. --once); the command decides */
            continue;
        }
        if (secret_file_accepts(o->name)) {
            size_t k = (size_t)(o - opts);
            const char *other = from_file[k][0] ? from_file[k] : from_env[k];
            if (other) {
                fprintf(err, "%s: set in both --%.*s and %s; give a secret in one place only\n",
                        o->name, (int)nl, name, other);
                return -1;
            }
            fprintf(err,
                    "warning: %s given as --%.*s is visible to other users in the process list; "
                    "use %s_FILE, $CREDENTIALS_DIRECTORY or the environment\n",
                    o->name, (int)nl, name, o->name);
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (o->type == T_BOOL) {
            v = "true";
        } else {
            if (i + 1 >= *argc) {
                fprintf(err, "%s: --%.*s needs a value\n", o->name, (int)nl, name);
                return -1;
            }
            v = argv[++i];
        }
        if (opt_set(cfg, o, v, err) < 0)
            return -1;
    }
    *argc = kept;
    argv[kept] = NULL;
    cfg->embedded_db = cfg->database_url == NULL || !*cfg->database_url;
    if ((cfg->aws_access_key_id && *cfg->aws_access_key_id) !=
        (cfg->aws_secret_access_key && *cfg->aws_secret_access_key)) {
        fprintf(err, "AWS_ACCESS_KEY_ID: set together with AWS_SECRET_ACCESS_KEY\n");
        return -1;
    }
    char cerr[160];
    struct cidr_list *proxies = cidr_list_parse(cfg->trusted_proxies, cerr, sizeof(cerr));
    if (!proxies) {
        fprintf(err, "TRUSTED_PROXIES: %s\n", cerr);
        return -1;
    }
    cidr_list_free(proxies);
    if ((cfg->tls_cert_file && *cfg->tls_cert_file) != (cfg->tls_key_file && *cfg->tls_key_file)) {
        fprintf(err, "TLS_CERT_FILE: set together with TLS_KEY_FILE\n");
        return -1;
    }
    if (cfg->aws_endpoint_url_ivs && *cfg->aws_endpoint_url_ivs &&
        strncmp(cfg->aws_endpoint_url_ivs, "https://", 8) != 0 &&
        strncmp(cfg->aws_endpoint_url_ivs, "http://", 7) != 0) {
        fprintf(err, "AWS_ENDPOINT_URL_IVS: \"%s\" is not an http(s) URL\n",
                cfg->aws_endpoint_url_ivs);
        return -1;
    }
    static const struct {
        const char *name;
        size_t off;
    } urls[] = {{"AWS_ENDPOINT_URL_STS", O(aws_endpoint_url_sts)},
                {"AWS_EC2_METADATA_SERVICE_ENDPOINT", O(aws_ec2_metadata_service_endpoint)}};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        const char *u = *(char **)((char *)cfg + urls[i].off);
        if (u && *u && strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0) {
            fprintf(err, "%s: \"%s\" is not an http(s) URL\n", urls[i].name, u);
            return -1;
        }
    }
    if ((cfg->aws_role_arn && *cfg->aws_role_arn) !=
        (cfg->aws_web_identity_token_file && *cfg->aws_web_identity_token_file)) {
        fprintf(err, "%s: set together with %s\n",
                cfg->aws_role_arn && *cfg->aws_role_arn ? "AWS_ROLE_ARN"
                                                        : "AWS_WEB_IDENTITY_TOKEN_FILE",
                cfg->aws_role_arn && *cfg->aws_role_arn ? "AWS_WEB_IDENTITY_TOKEN_FILE"
                                                        : "AWS_ROLE_ARN");
        return -1;
    }
    if (check_list("SNS_TOPIC_ARNS", cfg->sns_topic_arns, arn_sns_topic_valid,
                   "an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", err) < 0 ||
        check_list("AWS_ACCOUNT_IDS", cfg->aws_account_ids, account_id_valid,
                   "an AWS account id (12 digits)", err) < 0 ||
        check_list("CORS_ALLOW_ORIGINS", cfg->cors_allow_origins, origin_valid,
                   "an origin (scheme://host[:port]) or *", err) < 0)
        return -1;
    /* A testing knob (plain http, no certificate chain check): an explicit
     * switch that no production set-up has, so it cannot be left on by mistake. */
    if (cfg->sns_fetch_base_url && *cfg->sns_fetch_base_url) {
        const char *t = getenv("IVS_SYNCD_TESTING");
        if (!t || strcmp(t, "1") != 0) {
            fprintf(err, "SNS_FETCH_BASE_URL: a testing knob (certificates over plain http, no "
                         "chain check); refused unless IVS_SYNCD_TESTING=1 is set too\n");
            return -1;
        }
    }
    return 0;
}

void config_free(struct config *cfg)
{
    char *base = (char *)cfg;
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].type == T_STR || opts[i].type == T_SECRET) {
            char **slot = (char **)(base + opts[i].off);
            if (*slot && opts[i].type == T_SECRET)
                memset(*slot, 0, strlen(*slot));
            free(*slot);
            *slot = NULL;
        }
    free(cfg->listen_host);
    cfg->listen_host = NULL;
}

/* Print text as lines of at most 80 columns, each indented by indent blanks,
 * broken at blanks (a word longer than a line stays whole). */
static void print_wrapped(FILE *out, const char *text, int indent)
{
    const int width = 80 - indent;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *brk = NULL, *q = p;
        while (*q && q - p <= width) {
            if (*q == ' ')
                brk = q;
            q++;
        }
        const char *e = (!*q && q - p <= width) ? q : brk ? brk : q;
        if (!brk && *q) /* one long word: up to the next blank */
            for (e = q; *e && *e != ' ';)
                e++;
        fprintf(out, "%*s%.*s\n", indent, "", (int)(e - p), p);
        p = e;
    }
}

void config_print_help(FILE *out)
{
    print_version(out);
    fprintf(out, "\nusage: ivs-syncd [options] [command]\n\n"
                 "commands:\n"
                 "  serve                   run the daemon (default)\n"
                 "  migrate                 apply infra/sql to DATABASE_URL\n"
                 "  reconcile --once        one reconcile pass, print the result as JSON\n"
                 "  verify-sns FILE|-       verify one SNS message offline (SNS_CERT_DIR)\n"
                 "  ivs get-stream ARN...   call IVS GetStream and print the answer\n"
                 "  ivs list-streams [--region R]\n"
                 "  doctor                  check database, credentials, IVS, SNS set-up\n"
                 "  -h, --help, -V, --version\n\n"
                 "options (environment variable, or --flag which wins):\n");
    char fn[96];
    for (size_t i = 0; i < NOPTS; i++) {
        flag_name(opts[i].name, fn, sizeof(fn));
        if (strlen(opts[i].name) <= 40 && 45 + strlen(fn) <= 80)
            fprintf(out, "  %-40s --%s\n", opts[i].name, fn);
        else
            fprintf(out, "  %s\n  --%s\n", opts[i].name, fn);
        char text[1024];
        int n = snprintf(text, sizeof(text), "%s", opts[i].help);
        if (opts[i].alt && n >= 0 && (size_t)n < sizeof(text))
            n += snprintf(text + n, sizeof(text) - (size_t)n, " (also read from %s)", opts[i].alt);
        if (secret_file_accepts(opts[i].name) && n >= 0 && (size_t)n < sizeof(text))
            n += snprintf(text + n, sizeof(text) - (size_t)n,
                          "; or from %s_FILE or $CREDENTIALS_DIRECTORY/%s", opts[i].name,
                          opts[i].name);
        if (n >= 0 && (size_t)n < sizeof(text))
            snprintf(text + n, sizeof(text) - (size_t)n, " [default: %s]",
                     opts[i].def ? (*opts[i].def ? opts[i].def : "empty") : "unset");
        print_wrapped(out, text, 6);
    }
}

void config_print_markdown(FILE *out)
{
    fprintf(out, "| Variable | Flag | Default | Meaning |\n| --- | --- | --- | --- |\n");
    char fn[96];
    for (size_t i = 0; i < NOPTS; i++) {
        flag_name(opts[i].name, fn, sizeof(fn));
        const char *d = opts[i].def ? (*opts[i].def ? opts[i].def : "empty") : "unset";
        const char *q = opts[i].def && *opts[i].def ? "`" : "";
        fprintf(out, "| `%s` | `--%s` | %s%s%s | %s", opts[i].name, fn, q, d, q, opts[i].help);
        if (opts[i].alt)
            fprintf(out, "; also read from `%s`", opts[i].alt);
        if (secret_file_accepts(opts[i].name))
            fprintf(out, "; also from `%s_FILE` or `$CREDENTIALS_DIRECTORY/%s`", opts[i].name,
                    opts[i].name);
        fprintf(out, " |\n");
    }
}

int config_list_contains(const char *list, const char *item, size_t item_len)
{
    if (!list || !item || !item_len)
        return 0;
    const char *p = list, *e;
    size_t n;
    while (list_next(&p, &e, &n))
        if (n == item_len && !memcmp(e, item, item_len))
            return 1;
    return 0;
}

const char *config_conninfo(const struct config *cfg)
{
    if (!cfg->embedded_db)
        return cfg->database_url;
    static char buf[PATH_MAX + 128];
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        snprintf(cwd, sizeof(cwd), ".");
    snprintf(buf, sizeof(buf), "host=%s/var/run port=54329 user=ivs_syncd dbname=ivs_syncd", cwd);
    return buf;
}
