/* doctor: one line per check of what the daemon needs; non-zero exit on failure. */
#include "doctor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arn.h"
#include "aws_creds.h"
#include "config.h"
#include "db.h"
#include "http_client.h"
#include "ivs.h"
#include "leader.h"
#include "migrate.h"
#include "rolecheck.h"
#include "tls.h"

struct doc {
    FILE *out;
    int failed;
    struct event_base *base;
    int pending;
    char channel[ARN_MAX_LEN + 1];
};

static void line(struct doc *d, const char *verdict, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void line(struct doc *d, const char *verdict, const char *what, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
        msg[--l] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    fprintf(d->out, "%-4s %-12s %s\n", verdict, what, msg);
    if (!strcmp(verdict, "FAIL"))
        d->failed = 1;
}

/* rolecheck_report's lines (the role, RLS, policies, privileges). */
static void role_line(void *arg, const char *verdict, const char *what, const char *msg)
{
    line(arg, verdict, what, "%s", msg);
}

static void check_database(struct doc *d, const struct config *cfg)
{
    const char *ci = config_conninfo(cfg);
    const char *kw[] = {"dbname", "connect_timeout", NULL};
    const char *vals[] = {ci, "5", NULL};
    PGconn *pg = PQconnectdbParams(kw, vals, 1);
    if (PQstatus(pg) != CONNECTION_OK) {
        line(d, "FAIL", "database", "cannot connect: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return;
    }
    int v = PQserverVersion(pg); /* 150018 -> 15.18; 90624 -> 9.6.24 */
    if (v >= 100000)
        line(d, "ok", "database", "reachable (PostgreSQL %d.%d, database %s)", v / 10000, v % 10000,
             PQdb(pg));
    else
        line(d, "ok", "database", "reachable (PostgreSQL %d.%d.%d, database %s)", v / 10000,
             v / 100 % 100, v % 100, PQdb(pg));
    PGresult *r = PQexec(pg, "SELECT ivs_channel_arn FROM public.shows WHERE ivs_channel_arn "
                             "IS NOT NULL AND ivs_channel_arn <> '' LIMIT 1");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        snprintf(d->channel, sizeof(d->channel), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    int pooled = db_detect_pooler(pg);
    line(d, pooled >= 0 ? "ok" : "warn", "pooler", "%s", db_pooler_text(pooled));
    char lease[320];
    int held = leader_describe(pg, lease, sizeof(lease));
    line(d, held < 0 ? "warn" : "ok", "leader", "%s", lease);
    char why[512];
    int m = migrate_check(ci, cfg, why, sizeof(why));
    line(d, m == 1 ? "ok" : "FAIL", "migrations", "%s", why);
    if (m == 1)
        rolecheck_report(pg, role_line, d);
    PQfinish(pg);
}

static void check_sns(struct doc *d, const struct config *cfg)
{
    const char *t = cfg->sns_topic_arns;
    if (!t || !*t) {
        line(d, "FAIL", "sns", "SNS_TOPIC_ARNS is empty: every SNS message will be refused");
    } else {
        int n = 0, bad = 0;
        const char *p = t;
        while (*p) {
            while (*p == ',' || *p == ' ')
                p++;
            if (!*p)
                break;
            const char *e = p;
            while (*e && *e != ',')
                e++;
            n++;
            if (strncmp(p, "arn:aws", 7) != 0 || !memmem(p, (size_t)(e - p), ":sns:", 5))
                bad++;
            p = e;
        }
        if (bad)
            line(d, "FAIL", "sns", "SNS_TOPIC_ARNS: %d of %d entries are not SNS topic ARNs", bad,
                 n);
        else
            line(d, "ok", "sns", "%d topic%s allowed", n, n == 1 ? "" : "s");
    }
    const char *dir = cfg->sns_cert_dir;
    if (!dir || !*dir) {
        line(d, "warn", "certificates",
             "SNS_CERT_DIR unset: certificates are fetched from SNS "
             "and kept in memory only");
        return;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        line(d, "FAIL", "certificates", "SNS_CERT_DIR %s is not a directory", dir);
        return;
    }
    int r = access(dir, R_OK | X_OK) == 0, w = access(dir, W_OK) == 0;
    if (!r)
        line(d, "FAIL", "certificates", "SNS_CERT_DIR %s is not readable", dir);
    else
        line(d, w ? "ok" : "warn", "certificates", "SNS_CERT_DIR %s readable%s", dir,
             w ? " and writable" : ", not writable (fetched certificates are not kept)");
}

/* 1 when GET /healthz on sa (0.0.0.0 -> 127.0.0.1) answers ivs-syncd's 200
 * {"status":"ok"} within two seconds: the port is held by our own daemon. */
static int healthz_answers(const struct sockaddr_in *where)
{
    struct sockaddr_in sa = *where;
    if (sa.sin_addr.s_addr == htonl(INADDR_ANY))
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    static const char req[] = "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n";
    char buf[1024];
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
        ssize_t n;
        while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
            got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return !strncmp(buf, "HTTP/1.", 7) && !strncmp(buf + 8, " 200", 4) &&
           strstr(buf, "{\"status\":\"ok\"}") != NULL;
}

static void check_listen(struct doc *d, const struct config *cfg)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->listen_port)};
    if (inet_pton(AF_INET, cfg->listen_host, &sa.sin_addr) != 1) {
        line(d, "warn", "listen", "%s:%d (not an IPv4 address: not checked)", cfg->listen_host,
             cfg->listen_port);
        return;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        line(d, "ok", "listen", "%s:%d is free", cfg->listen_host, cfg->listen_port);
    else if (errno == EADDRINUSE && healthz_answers(&sa))
        line(d, "ok", "listen", "%s:%d is in use by a running ivs-syncd (/healthz answers)",
             cfg->listen_host, cfg->listen_port);
    else
        line(d, "FAIL", "listen", "%s:%d cannot be bound: %s", cfg->listen_host, cfg->listen_port,
             strerror(errno));
    if (fd >= 0)
        close(fd);
}

static void done_one(struct doc *d)
{
    if (--d->pending == 0)
        event_base_loopexit(d->base, NULL);
}

static void got_stream(const struct ivs_get_result *res, void *arg)
{
    struct doc *d = arg;
    switch (res->outcome) {
    case IVS_OK:
    case IVS_OFFLINE:
    case IVS_ERR_NOT_FOUND:
        line(d, "ok", "ivs:GetStream", "allowed (%s: %s)", res->channel_arn,
             res->outcome == IVS_OK        ? "live"
             : res->outcome == IVS_OFFLINE ? "offline"
                                           : "no such channel");
        break;
    default:
        line(d, "FAIL", "ivs:GetStream", "%s: %s", ivs_outcome_name(res->outcome),
             res->error ? res->error : "");
    }
    done_one(d);
}

static void got_list(const struct ivs_list_result *res, void *arg)
{
    struct doc *d = arg;
    if (res->outcome == IVS_OK)
        line(d, "ok", "ivs:ListStreams", "allowed (%zu live on the first page)", res->n);
    else if (res->outcome == IVS_ERR_ACCESS_DENIED)
        line(d, "warn", "ivs:ListStreams",
             "denied: reconciliation falls back to GetStream per channel (slower)");
    else
        line(d, "FAIL", "ivs:ListStreams", "%s: %s", ivs_outcome_name(res->outcome),
             res->error ? res->error : "");
    done_one(d);
}

static void creds_ready(int ok, void *arg)
{
    (void)ok;
    struct doc *d = arg;
    event_base_loopexit(d->base, NULL);
}

static void check_aws(struct doc *d, const struct config *cfg)
{
    char err[256] = "";
    d->base = event_base_new();
    struct http_client *hc = d->base ? http_client_new(d->base) : NULL;
    struct aws_creds *creds = hc ? aws_creds_new(d->base, hc, cfg, err, sizeof(err)) : NULL;
    struct ivs *ivs = NULL;
    if (!creds) {
        line(d, "FAIL", "aws", "credentials: %s", err[0] ? err : "cannot initialise");
        goto done;
    }
    if (aws_creds_state(creds) == AWS_CREDS_LOADING) {
        struct timeval tv = {15, 0};
        aws_creds_on_ready(creds, creds_ready, d);
        event_base_loopexit(d->base, &tv);
        event_base_dispatch(d->base);
    }
    if (aws_creds_state(creds) == AWS_CREDS_NONE) {
        /* Nothing in the chain; instance metadata, when probed, did not answer. */
        line(d, "warn", "aws",
             "no AWS credentials (environment, web identity, profile, container, instance "
             "metadata%s%s): reconciliation and sync calls to IVS are off",
             aws_creds_error(creds)[0] ? ": " : "", aws_creds_error(creds));
        goto done;
    }
    if (aws_creds_state(creds) != AWS_CREDS_READY) {
        line(d, "FAIL", "aws", "credentials from %s unusable: %s", aws_creds_source(creds),
             aws_creds_error(creds));
        goto done;
    }
    line(d, "ok", "aws", "credentials from %s", aws_creds_source(creds));
    ivs = ivs_new(d->base, hc, creds, cfg, NULL);
    if (!ivs) {
        line(d, "FAIL", "ivs", "client could not start");
        goto done;
    }
    if (!d->channel[0])
        snprintf(d->channel, sizeof(d->channel), "arn:aws:ivs:%s:000000000000:channel/doctorCheck",
                 cfg->aws_region);
    struct arn_channel ac;
    char e[128];
    const char *region =
        arn_parse_channel(d->channel, &ac, e, sizeof(e)) == 0 ? ac.region : cfg->aws_region;
    d->pending = 2;
    if (ivs_get_stream(ivs, d->channel, RATELIMIT_INTERACTIVE, got_stream, d) < 0)
        done_one(d);
    if (ivs_list_streams(ivs, region, NULL, RATELIMIT_INTERACTIVE, got_list, d) < 0)
        done_one(d);
    if (d->pending > 0) {
        struct timeval tv = {60, 0};
        event_base_loopexit(d->base, &tv);
        event_base_dispatch(d->base);
    }
    if (d->pending > 0)
        line(d, "FAIL", "ivs", "no answer from IVS within 60 s");
done:
    ivs_free(ivs);
    aws_creds_free(creds);
    http_client_free(hc);
    if (d->base)
        event_base_free(d->base);
}

int doctor_run(const struct config *cfg, FILE *out)
{
    struct doc d = {.out = out};
    check_database(&d, cfg);
    check_sns(&d, cfg);
    check_listen(&d, cfg);
    const char *tls_verdict; /* TLS_CERT_FILE: subject, SAN, expiry (tls.c) */
    char tls_msg[1024];
    if (tls_doctor(cfg->tls_cert_file, cfg->tls_key_file, &tls_verdict, tls_msg, sizeof(tls_msg)))
        line(&d, tls_verdict, "tls", "%s", tls_msg);
    check_aws(&d, cfg);
    fprintf(out, "%s\n", d.failed ? "doctor: some checks FAILED" : "doctor: all checks passed");
    return d.failed ? 1 : 0;
}
