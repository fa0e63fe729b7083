/* The client address a trusted proxy reports (as nginx's realip module): when the peer is one
 * of the configured proxies, the address it names in X-Forwarded-For, or in the `for=`
 * parameters of Forwarded (RFC 7239 §5.2), stands for the client. The header's elements are
 * read from the right (each proxy appends the address it saw); without recursion the last
 * element is the client, with it the last one that is not itself a trusted proxy (all trusted:
 * the first). An element that is not an address ("unknown", an obfuscated name, garbage) ends
 * the search with no answer: the peer stays the client. I/O-free. */
#ifndef TERN_HTTP_REALIP_H
#define TERN_HTTP_REALIP_H

#include <stdbool.h>
#include <stddef.h>

#include "http/cidr.h"
#include "http/header.h"

enum realip_header { REALIP_X_FORWARDED_FOR, REALIP_FORWARDED };

struct realip_rules {
    const struct cidr *trusted; /* the proxies believed */
    size_t n_trusted;
    enum realip_header header;
    bool recursive;
};

/* Is addr one of the trusted proxies? */
bool realip_trusted(const struct realip_rules *r, const struct ip_addr *addr);
/* The client address the request's fields report (all their lines, in order), per r; false
 * when there is none to believe. */
bool realip_pick(const struct realip_rules *r, const struct http_fields *fields,
                 struct ip_addr *out);
/* Writes addr as text (inet_ntop's form) into out (cap >= 46); returns out. */
const char *ip_addr_format(const struct ip_addr *addr, char *out, size_t cap);

#endif
