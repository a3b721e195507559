/*
 * ingest_load: the load generator of the ingest benchmark (tests/bench/ingest.py).
 *
 *   ingest_load sign  --key KEY --cert-url URL --topic ARN --account ID --run TAG
 *                     --channels N --rounds R [--first-round R0] [-j JOBS] --out FILE
 *       Pre-builds and signs (SignatureVersion 2, RSA SHA256) R rounds of SNS
 *       notifications for N channels: round r of channel c is "Stream Start" of
 *       stream st-<tag>-<c>-<r/2> at base+r seconds (r even) or its "Stream End"
 *       (r odd); record order is round-major (every channel once per round).
 *       Each record is the whole HTTP/1.1 request, ready to write(2).
 *
 *   ingest_load drive --port P --in FILE [--from I] [--count N] [--conns C]
 *                     [--rate R] [--duration S] [--results OUT]
 *       Sends the records over C keep-alive loopback connections, one request
 *       in flight per connection, and never two in flight for one channel (so
 *       the events of a channel reach the daemon in order). --rate 0: as fast as
 *       answers come back (closed loop; latency = send -> answer). --rate R:
 *       open loop, event k is due at t0 + k/R and its latency is measured from
 *       that due time (no coordinated omission). Stops after --count records or
 *       --duration seconds. Prints one JSON summary line; --results writes one
 *       line per record sent: "index status latency_us outcome".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct rec_hdr {
    uint32_t len; /* request bytes following the header */
    uint32_t channel;
    uint32_t round;
    uint32_t pad;
};

static void die(const char *m)
{
    fprintf(stderr, "ingest_load: %s\n", m);
    exit(2);
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 2; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return def;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- sign */

struct buf {
    char *p;
    size_t n, cap;
};

static void b_add(struct buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            die("out of memory");
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void b_str(struct buf *b, const char *s)
{
    b_add(b, s, strlen(s));
}

/* s as the body of a JSON string */
static void b_json(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            char e[2] = {'\\', *s};
            b_add(b, e, 2);
        } else {
            b_add(b, s, 1);
        }
    }
}

static void fmt_time(char *out, size_t n, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void sign_range(EVP_PKEY *key, int argc, char **argv, long lo, long hi, const char *path)
{
    const char *cert_url = arg(argc, argv, "--cert-url", NULL);
    const char *topic = arg(argc, argv, "--topic", NULL);
    const char *account = arg(argc, argv, "--account", "123456789012");
    const char *tag = arg(argc, argv, "--run", "r");
    long nch = atol(arg(argc, argv, "--channels", "100"));
    long r0 = atol(arg(argc, argv, "--first-round", "0"));
    time_t base = (time_t)atol(arg(argc, argv, "--base-time", "1767261600")); /* 2026-01-01T10Z */
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot write output");
    char ts[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    struct buf msg = {0}, sts = {0}, body = {0}, req = {0};
    unsigned char sig[1024];
    char b64[2048];
    for (long i = lo; i < hi; i++) {
        long ch = i % nch, round = r0 + i / nch;
        char id[96], mid[96], arn[160], stream[96], t[40];
        snprintf(id, sizeof(id), "bench-%s-%ld-%ld", tag, ch, round);
        snprintf(mid, sizeof(mid), "%08lx-%04lx-4000-8000-%012lx", (unsigned long)round & 0xffffffffUL,
                 (unsigned long)(ch >> 16) & 0xffff, (unsigned long)ch);
        snprintf(arn, sizeof(arn), "arn:aws:ivs:us-east-1:%s:channel/bench%08ld", account, ch);
        snprintf(stream, sizeof(stream), "st-%s-%ld-%ld", tag, ch, round / 2);
        fmt_time(t, sizeof(t), base + round);
        msg.n = 0;
        b_str(&msg, "{\"version\":\"0\",\"id\":\"");
        b_str(&msg, id);
        b_str(&msg, "\",\"detail-type\":\"IVS Stream State Change\",\"source\":\"aws.ivs\","
                    "\"account\":\"");
        b_str(&msg, account);
        b_str(&msg, "\",\"time\":\"");
        b_str(&msg, t);
        b_str(&msg, "\",\"region\":\"us-east-1\",\"resources\":[\"");
        b_str(&msg, arn);
        b_str(&msg, "\"],\"detail\":{\"event_name\":\"");
        b_str(&msg, round % 2 ? "Stream End" : "Stream Start");
        b_str(&msg, "\",\"channel_name\":\"bench\",\"stream_id\":\"");
        b_str(&msg, stream);
        b_str(&msg, "\"}}");
        sts.n = 0;
        b_str(&sts, "Message\n");
        b_str(&sts, msg.p);
        b_str(&sts, "\nMessageId\n");
        b_str(&sts, mid);
        b_str(&sts, "\nTimestamp\n");
        b_str(&sts, ts);
        b_str(&sts, "\nTopicArn\n");
        b_str(&sts, topic);
        b_str(&sts, "\nType\nNotification\n");
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        size_t sl = sizeof(sig);
        if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
            EVP_DigestSign(md, sig, &sl, (const unsigned char *)sts.p, sts.n) != 1)
            die("signing failed");
        EVP_MD_CTX_free(md);
        EVP_EncodeBlock((unsigned char *)b64, sig, (int)sl);
        body.n = 0;
        b_str(&body, "{\"Type\":\"Notification\",\"MessageId\":\"");
        b_str(&body, mid);
        b_str(&body, "\",\"TopicArn\":\"");
        b_str(&body, topic);
        b_str(&body, "\",\"Message\":\"");
        b_json(&body, msg.p);
        b_str(&body, "\",\"Timestamp\":\"");
        b_str(&body, ts);
        b_str(&body, "\",\"SignatureVersion\":\"2\",\"Signature\":\"");
        b_str(&body, b64);
        b_str(&body, "\",\"SigningCertURL\":\"");
        b_str(&body, cert_url);
        b_str(&body, "\",\"UnsubscribeURL\":\"https://sns.us-east-1.amazonaws.com/"
                     "?Action=Unsubscribe&SubscriptionArn=");
        b_str(&body, topic);
        b_str(&body, ":bench\"}");
        req.n = 0;
        char h[512];
        int hl = snprintf(h, sizeof(h),
                          "POST /sns HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Content-Type: text/plain; charset=UTF-8\r\n"
                          "x-amz-sns-message-type: Notification\r\n"
                          "x-amz-sns-message-id: %s\r\nx-amz-sns-topic-arn: %s\r\n"
                          "User-Agent: Amazon Simple Notification Service Agent\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          mid, topic, body.n);
        b_add(&req, h, (size_t)hl);
        b_add(&req, body.p, body.n);
        struct rec_hdr rh = {(uint32_t)req.n, (uint32_t)ch, (uint32_t)round, 0};
        if (fwrite(&rh, sizeof(rh), 1, f) != 1 || fwrite(req.p, 1, req.n, f) != req.n)
            die("write failed");
    }
    if (fclose(f) != 0)
        die("write failed");
    free(msg.p);
    free(sts.p);
    free(body.p);
    free(req.p);
}

static int cmd_sign(int argc, char **argv)
{
    const char *keyf = arg(argc, argv, "--key", NULL);
    const char *out = arg(argc, argv, "--out", NULL);
    if (!keyf || !out || !arg(argc, argv, "--cert-url", NULL) || !arg(argc, argv, "--topic", NULL))
        die("sign: --key, --cert-url, --topic and --out are required");
    long nch = atol(arg(argc, argv, "--channels", "100"));
    long rounds = atol(arg(argc, argv, "--rounds", "10"));
    int jobs = atoi(arg(argc, argv, "-j", "1"));
    if (nch < 1 || rounds < 1 || jobs < 1 || jobs > 64)
        die("sign: bad --channels/--rounds/-j");
    FILE *kf = fopen(keyf, "r");
    if (!kf)
        die("cannot read key");
    EVP_PKEY *key = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
    fclose(kf);
    if (!key)
        die("bad key");
    long total = nch * rounds;
    pid_t pids[64];
    char part[4096];
    for (int k = 0; k < jobs; k++) {
        snprintf(part, sizeof(part), "%s.part%d", out, k);
        pid_t p = fork();
        if (p < 0)
            die("fork failed");
        if (p == 0) {
            sign_range(key, argc, argv, total * k / jobs, total * (k + 1) / jobs, part);
            _exit(0);
        }
        pids[k] = p;
    }
    int ok = 1;
    for (int k = 0; k < jobs; k++) {
        int st;
        if (waitpid(pids[k], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            ok = 0;
    }
    if (!ok)
        die("a signing worker failed");
    FILE *f = fopen(out, "wb");
    if (!f)
        die("cannot write output");
    static char io[1 << 16];
    for (int k = 0; k < jobs; k++) {
        snprintf(part, sizeof(part), "%s.part%d", out, k);
        FILE *pf = fopen(part, "rb");
        if (!pf)
            die("lost a part file");
        size_t n;
        while ((n = fread(io, 1, sizeof(io), pf)) > 0)
            if (fwrite(io, 1, n, f) != n)
                die("write failed");
        fclose(pf);
        unlink(part);
    }
    if (fclose(f) != 0)
        die("write failed");
    EVP_PKEY_free(key);
    printf("{\"signed\":%ld}\n", total);
    return 0;
}

/* ---------------------------------------------------------------- drive */

struct rec {
    const char *req;
    uint32_t len, channel;
};

struct conn {
    int fd;
    long idx; /* record in flight, -1 = idle */
    size_t sent;
    double t_start;
    char in[8192];
    size_t in_n;
};

struct result {
    int status;
    int lat_us;
    char outcome;
};

static struct rec *recs;
static long nrecs;
static struct result *res;
static const char *host = "127.0.0.1";
static int port;
static int epfd;
static unsigned char *ch_busy;
static long n_ok, n_err, n_done, n_stall, n_reconnect;

static int conn_open(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    c->idx = -1;
    c->in_n = 0;
    return 0;
}

static void finish(struct conn *c, int status, char outcome, double t_base)
{
    long i = c->idx;
    double now = now_s();
    res[i].status = status;
    res[i].lat_us = (int)((now - t_base) * 1e6);
    res[i].outcome = outcome;
    ch_busy[recs[i].channel] = 0;
    if (status >= 200 && status < 300)
        n_ok++;
    else
        n_err++;
    n_done++;
    c->idx = -1;
}

static void conn_try_write(struct conn *c)
{
    if (c->idx < 0)
        return;
    const struct rec *r = &recs[c->idx];
    while (c->sent < r->len) {
        ssize_t w = send(c->fd, r->req + c->sent, r->len - c->sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ENOTCONN)
                return;
            return; /* the read side will see the error */
        }
        c->sent += (size_t)w;
    }
}

static double *t_due; /* per record: the time latency is measured from */

static void conn_reset(struct conn *c)
{
    if (c->idx >= 0)
        finish(c, 0, '-', t_due[c->idx]);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    n_reconnect++;
    if (conn_open(c) < 0)
        die("reconnect failed");
}

/* Parse whole responses out of c->in; returns -1 when the connection must go. */
static int conn_parse(struct conn *c)
{
    for (;;) {
        if (c->in_n == 0)
            return 0;
        char *end = memmem(c->in, c->in_n, "\r\n\r\n", 4);
        if (!end)
            return c->in_n >= sizeof(c->in) ? -1 : 0;
        size_t hlen = (size_t)(end - c->in) + 4;
        int status = 0;
        if (c->in_n < 12 || sscanf(c->in, "HTTP/1.%*d %d", &status) != 1)
            return -1;
        size_t clen = 0;
        int close_after = 0;
        for (char *p = c->in; p < end; p++) {
            if (*p != '\n')
                continue;
            if (!strncasecmp(p + 1, "Content-Length:", 15))
                clen = strtoul(p + 16, NULL, 10);
            else if (!strncasecmp(p + 1, "Connection: close", 17))
                close_after = 1;
        }
        if (c->in_n < hlen + clen)
            return c->in_n >= sizeof(c->in) ? -1 : 0;
        char outcome = '?';
        char *o = memmem(c->in + hlen, clen, "\"outcome\":\"", 11);
        if (o)
            outcome = o[11];
        if (c->idx >= 0)
            finish(c, status, outcome, t_due[c->idx]);
        memmove(c->in, c->in + hlen + clen, c->in_n - hlen - clen);
        c->in_n -= hlen + clen;
        if (close_after)
            return -1;
    }
}

static void conn_read(struct conn *c)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->in + c->in_n, sizeof(c->in) - c->in_n, 0);
        if (r > 0) {
            c->in_n += (size_t)r;
            if (conn_parse(c) < 0) {
                conn_reset(c);
                return;
            }
            continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            conn_reset(c);
            return;
        }
        return;
    }
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmd_drive(int argc, char **argv)
{
    const char *in = arg(argc, argv, "--in", NULL);
    port = atoi(arg(argc, argv, "--port", "0"));
    host = arg(argc, argv, "--host", "127.0.0.1");
    long from = atol(arg(argc, argv, "--from", "0"));
    long count = atol(arg(argc, argv, "--count", "-1"));
    int nconn = atoi(arg(argc, argv, "--conns", "32"));
    double rate = atof(arg(argc, argv, "--rate", "0"));
    double duration = atof(arg(argc, argv, "--duration", "10"));
    const char *out = arg(argc, argv, "--results", NULL);
    if (!in || port <= 0 || nconn < 1)
        die("drive: --in and --port are required");
    signal(SIGPIPE, SIG_IGN);
    int fd = open(in, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        die("cannot open --in");
    const char *m = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : NULL;
    if (st.st_size && m == MAP_FAILED)
        die("mmap failed");
    long cap = 1024;
    recs = malloc((size_t)cap * sizeof(*recs));
    uint32_t maxch = 0;
    for (off_t off = 0; off + (off_t)sizeof(struct rec_hdr) <= st.st_size;) {
        struct rec_hdr h;
        memcpy(&h, m + off, sizeof(h));
        if (nrecs == cap) {
            cap *= 2;
            recs = realloc(recs, (size_t)cap * sizeof(*recs));
            if (!recs)
                die("out of memory");
        }
        recs[nrecs].req = m + off + sizeof(h);
        recs[nrecs].len = h.len;
        recs[nrecs].channel = h.channel;
        if (h.channel > maxch)
            maxch = h.channel;
        nrecs++;
        off += (off_t)sizeof(h) + h.len;
    }
    if (from > nrecs)
        from = nrecs;
    long last = count < 0 || from + count > nrecs ? nrecs : from + count;
    res = calloc((size_t)nrecs, sizeof(*res));
    t_due = calloc((size_t)nrecs, sizeof(*t_due));
    ch_busy = calloc((size_t)maxch + 1, 1);
    if (!res || !t_due || !ch_busy)
        die("out of memory");
    epfd = epoll_create1(0);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);
    struct conn *conns = calloc((size_t)nconn, sizeof(*conns));
    struct conn **idle = calloc((size_t)nconn, sizeof(*idle));
    for (int i = 0; i < nconn; i++)
        if (conn_open(&conns[i]) < 0)
            die("connect failed");
    long next = from;
    double t0 = now_s(), t_end = t0 + duration;
    long inflight;
    int timer_armed = 0;
    for (;;) {
        double now = now_s();
        int stop_sending = next >= last || now >= t_end;
        /* send what is due on idle connections */
        int nidle = 0;
        inflight = 0;
        for (int i = 0; i < nconn; i++) {
            if (conns[i].idx < 0)
                idle[nidle++] = &conns[i];
            else
                inflight++;
        }
        while (!stop_sending && nidle > 0) {
            double due = rate > 0 ? t0 + (double)(next - from) / rate : now;
            if (due > now)
                break;
            if (ch_busy[recs[next].channel]) {
                n_stall++;
                break;
            }
            struct conn *c = idle[--nidle];
            c->idx = next;
            c->sent = 0;
            t_due[next] = rate > 0 ? due : now;
            ch_busy[recs[next].channel] = 1;
            conn_try_write(c);
            inflight++;
            next++;
            stop_sending = next >= last || now >= t_end;
        }
        if (stop_sending && inflight == 0)
            break;
        if (now > t_end + 30)
            break; /* answers never came: stop anyway */
        int tmo = 100;
        if (!stop_sending && rate > 0 && nidle > 0) {
            double due = t0 + (double)(next - from) / rate;
            struct itimerspec its = {0};
            double d = due - now;
            if (d < 1e-6)
                d = 1e-6;
            its.it_value.tv_sec = (time_t)d;
            its.it_value.tv_nsec = (long)((d - (double)(time_t)d) * 1e9);
            timerfd_settime(tfd, 0, &its, NULL);
            timer_armed = 1;
        }
        struct epoll_event evs[256];
        int n = epoll_wait(epfd, evs, 256, tmo);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                uint64_t x;
                if (read(tfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
                    die("timerfd");
                timer_armed = 0;
                continue;
            }
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                conn_reset(c);
                continue;
            }
            if (evs[i].events & EPOLLOUT)
                conn_try_write(c);
            if (evs[i].events & EPOLLIN)
                conn_read(c);
        }
    }
    (void)timer_armed;
    double elapsed = now_s() - t0;
    /* stats over the records answered */
    long sent = next - from;
    int *lat = malloc((size_t)(sent > 0 ? sent : 1) * sizeof(int));
    long nl = 0;
    for (long i = from; i < next; i++)
        if (res[i].status >= 200 && res[i].status < 300)
            lat[nl++] = res[i].lat_us;
    qsort(lat, (size_t)nl, sizeof(int), cmp_int);
#define PCT(p) (nl ? lat[(long)((double)(nl - 1) * (p))] / 1000.0 : 0.0)
    long unanswered = sent - n_done;
    printf("{\"sent\":%ld,\"ok\":%ld,\"errors\":%ld,\"unanswered\":%ld,\"elapsed\":%.3f,"
           "\"rate\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
           "\"stalls\":%ld,\"reconnects\":%ld,\"next\":%ld}\n",
           sent, n_ok, n_err, unanswered, elapsed, (double)n_ok / elapsed, PCT(0.50), PCT(0.90),
           PCT(0.99), nl ? lat[nl - 1] / 1000.0 : 0.0, n_stall, n_reconnect - 0, next);
    if (out) {
        FILE *f = fopen(out, "w");
        if (!f)
            die("cannot write --results");
        for (long i = from; i < next; i++)
            fprintf(f, "%ld %d %d %c\n", i, res[i].status, res[i].lat_us,
                    res[i].outcome ? res[i].outcome : '-');
        fclose(f);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "sign"))
        return cmd_sign(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "drive"))
        return cmd_drive(argc, argv);
    fprintf(stderr, "usage: ingest_load sign|drive ... (see the comment at the top of "
                    "tests/bench/ingest_load.c)\n");
    return 2;
}
