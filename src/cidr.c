/* cidr: network lists and the X-Forwarded-For client address. */
#include "cidr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct net {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
};

struct cidr_list {
    size_t n;
    struct net nets[];
};

/* An address as 16 bytes (IPv4 and IPv4-mapped IPv6 both as AF_INET, 4 bytes). */
static int parse_addr(const char *s, int *family, unsigned char out[16])
{
    if (inet_pton(AF_INET, s, out) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(out, mapped, 12)) {
            memmove(out, out + 12, 4);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return 0;
    }
    return -1;
}

static int parse_net(const char *item, struct net *n)
{
    char buf[64];
    size_t len = strlen(item);
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, item, len + 1);
    char *slash = strchr(buf, '/');
    int bits = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || b < 0 || b > 128)
            return -1;
        bits = (int)b;
    }
    if (parse_addr(buf, &n->family, n->addr) < 0)
        return -1;
    int max = n->family == AF_INET ? 32 : 128;
    if (bits > max)
        return -1;
    n->bits = bits < 0 ? max : bits;
    return 0;
}

struct cidr_list *cidr_list_parse(const char *text, char *err, size_t errlen)
{
    size_t cap = 1;
    for (const char *p = text ? text : ""; *p; p++)
        cap += *p == ',';
    struct cidr_list *l = calloc(1, sizeof(*l) + cap * sizeof(struct net));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *p = text ? text : "";
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (len) {
            char item[80];
            int bad = len >= sizeof(item);
            if (!bad) {
                memcpy(item, p, len);
                item[len] = '\0';
                bad = parse_net(item, &l->nets[l->n]) < 0;
            }
            if (bad) {
                snprintf(err, errlen, "\"%.*s\" is not an IP address or CIDR network",
                         (int)(len > 64 ? 64 : len), p);
                free(l);
                return NULL;
            }
            l->n++;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return l;
}

void cidr_list_free(struct cidr_list *l)
{
    free(l);
}

int cidr_list_empty(const struct cidr_list *l)
{
    return !l || l->n == 0;
}

int cidr_list_match(const struct cidr_list *l, const char *ip)
{
    int family;
    unsigned char a[16];
    if (!l || !ip || parse_addr(ip, &family, a) < 0)
        return 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct net *n = &l->nets[i];
        if (n->family != family)
            continue;
        int full = n->bits / 8, rest = n->bits % 8;
        if (memcmp(a, n->addr, (size_t)full))
            continue;
        if (rest) {
            unsigned char mask = (unsigned char)(0xff << (8 - rest));
            if ((a[full] & mask) != (n->addr[full] & mask))
                continue;
        }
        return 1;
    }
    return 0;
}

void cidr_client_address(const struct cidr_list *trusted, const char *peer, const char *xff,
                         char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", peer ? peer : "");
    if (!xff || !peer || !cidr_list_match(trusted, peer))
        return;
    /* right to left: each hop was added by the proxy before it */
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && isspace((unsigned char)xff[a]))
            a++;
        while (b > a && isspace((unsigned char)xff[b - 1]))
            b--;
        char hop[64];
        int fam;
        unsigned char tmp[16];
        if (b - a == 0 || b - a >= sizeof(hop))
            return; /* not an address: the last good one stands */
        memcpy(hop, xff + a, b - a);
        hop[b - a] = '\0';
        if (parse_addr(hop, &fam, tmp) < 0)
            return;
        snprintf(out, outlen, "%s", hop);
        if (!cidr_list_match(trusted, hop))
            return;
        end = start > 0 ? start - 1 : 0;
    }
}
