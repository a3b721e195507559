/*
 * cidr: lists of IPv4/IPv6 networks ("10.0.0.0/8, 2001:db8::/32, 192.0.2.1")
 * and the client address behind trusted proxies (X-Forwarded-For).
 */
#ifndef IVS_CIDR_H
#define IVS_CIDR_H

#include <stddef.h>

struct cidr_list;

/* NULL with the offending item in err when an item is not an address or network.
 * An empty or NULL text gives an empty list (not NULL). */
struct cidr_list *cidr_list_parse(const char *text, char *err, size_t errlen);
void cidr_list_free(struct cidr_list *l);
int cidr_list_empty(const struct cidr_list *l);
/* 1 when the textual address ip is in one of the networks. */
int cidr_list_match(const struct cidr_list *l, const char *ip);

/*
 * The client address of a request that came from peer with the given
 * X-Forwarded-For value (or NULL): peer itself unless peer is trusted; then
 * the rightmost address of the header that is not a trusted proxy (the
 * leftmost one when all are). Writes a NUL-terminated address to out.
 */
void cidr_client_address(const struct cidr_list *trusted, const char *peer, const char *xff,
                         char *out, size_t outlen);

#endif
