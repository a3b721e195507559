/*
 * push_load: the event-stream load client of `make bench-push` (tests/bench/push.py).
 *
 *   push_load PORT TOKEN SHOWS_FILE N ADMIN_EVERY MILESTONES CHANGES
 *
 * Opens N event streams on 127.0.0.1:PORT with raw non-blocking sockets and
 * epoll (one thread): connection i follows /v1/stream (every show) when
 * i % ADMIN_EVERY == ADMIN_EVERY - 1, else /v1/shows/{show i % S}/stream, S
 * being the number of ids in SHOWS_FILE (one per line). At most 256
 * connections are being opened at once; one counts as subscribed when its
 * first event (a show stream) or its hello comment (an admin stream) came.
 * At each milestone (comma list, e.g. 1000,10000) it prints "AT n" and waits
 * for a line on stdin. After the last, it prints "READY" and counts events:
 * change k (0-based) is about show k % S, so the j-th event after the first
 * on a stream of show s is change s + j*S, and the j-th event on an admin
 * stream is change j. On stdin EOF (or when every change reached every
 * subscriber) it prints, per change, "CHANGE k delivered expected first last"
 * with CLOCK_MONOTONIC seconds, then "DROPPED n" (streams that closed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXCH 4096

struct conn {
    int fd;
    int show; /* -1: admin */
    int state; /* 0 connecting/sending, 1 waiting for first, 2 subscribed, 3 closed */
    int events;
    char tail[16]; /* the end of what was read, for markers split across reads */
    size_t tail_len;
    char req[12288];
    size_t req_len, req_off;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long delivered[MAXCH], expected[MAXCH];
static double first_at[MAXCH], last_at[MAXCH];
static int nshows, nchanges, ready;
static long subscribed, closed_after;

/* Count "event: show" markers in buf (with the previous tail prepended). */
static int count_markers(struct conn *c, const char *buf, size_t n)
{
    static const char mark[] = "event: show";
    const size_t ml = sizeof(mark) - 1;
    char scan[65536 + 32];
    memcpy(scan, c->tail, c->tail_len);
    memcpy(scan + c->tail_len, buf, n);
    size_t len = c->tail_len + n;
    int found = 0;
    for (const char *p = scan; (p = memmem(p, (size_t)(scan + len - p), mark, ml)) != NULL;
         p += ml)
        found++;
    size_t keep = len < ml - 1 ? len : ml - 1;
    memcpy(c->tail, scan + len - keep, keep);
    c->tail_len = keep;
    return found;
}

static void on_data(struct conn *c, const char *buf, size_t n)
{
    if (c->state == 1) {
        int first = c->show < 0 ? memmem(buf, n, "every show", 10) != NULL
                                : count_markers(c, buf, n) > 0;
        if (first) {
            c->state = 2;
            subscribed++;
            c->tail_len = 0;
        }
        return;
    }
    int m = count_markers(c, buf, n);
    if (!m || !ready)
        return;
    double t = now();
    for (int i = 0; i < m; i++) {
        int j = c->events++;
        int k = c->show < 0 ? j : c->show + j * nshows;
        if (k < 0 || k >= MAXCH)
            continue;
        if (!delivered[k]++)
            first_at[k] = t;
        last_at[k] = t;
    }
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: push_load PORT TOKEN SHOWS_FILE N ADMIN_EVERY MILESTONES "
                        "CHANGES\n");
        return 2;
    }
    int port = atoi(argv[1]);
    const char *token = argv[2];
    int n = atoi(argv[4]);
    int admin_every = atoi(argv[5]);
    nchanges = atoi(argv[7]);
    if (nchanges > MAXCH)
        nchanges = MAXCH;
    char shows[512][40];
    FILE *f = fopen(argv[3], "r");
    if (!f)
        return 2;
    while (nshows < 512 && fgets(shows[nshows], sizeof(shows[0]), f)) {
        shows[nshows][strcspn(shows[nshows], "\r\n")] = '\0';
        if (shows[nshows][0])
            nshows++;
    }
    fclose(f);
    long milestones[16];
    int nm = 0;
    for (char *p = argv[6]; *p && nm < 16;) {
        milestones[nm++] = strtol(p, &p, 10);
        if (*p == ',')
            p++;
    }
    struct conn *cs = calloc((size_t)n, sizeof(*cs));
    int ep = epoll_create1(0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int opened = 0, mi = 0;
    struct epoll_event evs[1024];
    char buf[65536];
    for (;;) {
        /* open more, at most 256 not yet subscribed */
        while (opened < n && opened - subscribed - closed_after < 256 &&
               (mi >= nm || opened < milestones[mi])) {
            struct conn *c = &cs[opened];
            c->show = admin_every > 0 && opened % admin_every == admin_every - 1
                          ? -1
                          : opened % nshows;
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (c->fd < 0) {
                perror("socket");
                return 1;
            }
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            if (c->show < 0)
                c->req_len = (size_t)snprintf(c->req, sizeof(c->req),
                                              "GET /v1/stream HTTP/1.1\r\nHost: x\r\n"
                                              "Accept: text/event-stream\r\n"
                                              "Authorization: Bearer %s\r\n\r\n",
                                              token);
            else
                c->req_len = (size_t)snprintf(c->req, sizeof(c->req),
                                              "GET /v1/shows/%s/stream HTTP/1.1\r\nHost: x\r\n"
                                              "Accept: text/event-stream\r\n"
                                              "Authorization: Bearer %s\r\n\r\n",
                                              shows[c->show], token);
            connect(c->fd, (struct sockaddr *)&sa, sizeof(sa));
            struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)opened};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
            opened++;
        }
        if (mi < nm && subscribed + closed_after >= milestones[mi]) {
            printf("AT %ld\n", subscribed);
            fflush(stdout);
            char line[64];
            if (!fgets(line, sizeof(line), stdin))
                break;
            mi++;
            continue;
        }
        if (!ready && mi >= nm && opened == n && subscribed + closed_after >= n) {
            ready = 1;
            for (int i = 0; i < n; i++)
                if (cs[i].state == 2)
                    for (int k = 0; k < nchanges; k++)
                        if (cs[i].show < 0 || k % nshows == cs[i].show)
                            expected[k]++;
            printf("READY %ld\n", subscribed);
            fflush(stdout);
            struct epoll_event e = {.events = EPOLLIN, .data.u32 = 0xffffffffu};
            epoll_ctl(ep, EPOLL_CTL_ADD, 0, &e);
        }
        if (ready) {
            int done = 1;
            for (int k = 0; k < nchanges; k++)
                if (delivered[k] < expected[k])
                    done = 0;
            if (done)
                break;
        }
        int k = epoll_wait(ep, evs, 1024, 1000);
        int stdin_eof = 0;
        for (int i = 0; i < k; i++) {
            if (evs[i].data.u32 == 0xffffffffu) {
                char line[64];
                ssize_t r = read(0, line, sizeof(line));
                if (r <= 0)
                    stdin_eof = 1;
                continue;
            }
            struct conn *c = &cs[evs[i].data.u32];
            if (c->state == 0 && (evs[i].events & EPOLLOUT)) {
                ssize_t w = write(c->fd, c->req + c->req_off, c->req_len - c->req_off);
                if (w > 0)
                    c->req_off += (size_t)w;
                if (c->req_off == c->req_len) {
                    c->state = 1;
                    struct epoll_event e = {.events = EPOLLIN, .data.u32 = evs[i].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    ssize_t r = read(c->fd, buf, sizeof(buf));
                    if (r > 0) {
                        on_data(c, buf, (size_t)r);
                        continue;
                    }
                    if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                        if (c->state != 3) {
                            c->state = 3;
                            closed_after++;
                            close(c->fd);
                        }
                    }
                    break;
                }
            }
        }
        if (stdin_eof)
            break;
    }
    for (int k = 0; k < nchanges; k++)
        printf("CHANGE %d %ld %ld %.6f %.6f\n", k, delivered[k], expected[k], first_at[k],
               last_at[k]);
    printf("DROPPED %ld\n", closed_after);
    fflush(stdout);
    return 0;
}
