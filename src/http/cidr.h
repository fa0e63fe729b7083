/* IP addresses and CIDR prefixes (RFC 4632, RFC 4291 §2.3) for access rules: parse once at
 * configuration load, match per request without allocation. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) is taken as the IPv4 address it carries, so IPv4 rules
 * match clients of a dual-stack socket. */
#ifndef TERN_HTTP_CIDR_H
#define TERN_HTTP_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ip_family { IP_NONE = 0, IP_V4 = 4, IP_V6 = 6 };

/* An address: IPv4 in bytes[0..3], IPv6 in bytes[0..15]; unused bytes are zero. */
struct ip_addr {
    uint8_t family; /* enum ip_family */
    uint8_t bytes[16];
};

/* A prefix: the first `bits` bits of addr; family IP_NONE with bits 0 matches every address. */
struct cidr {
    struct ip_addr addr;
    uint8_t bits;
};

enum cidr_result {
    CIDR_OK = 0,
    CIDR_MALFORMED,  /* not an address, or a prefix length that is not 0-32 / 0-128 digits */
    CIDR_HOST_BITS,  /* bits set after the prefix ("10.0.0.1/8"): refused, likely a typo */
    CIDR_BAD_LENGTH, /* prefix length beyond the family's (33 for IPv4, 129 for IPv6) */
};

/* Parses "ADDR" (a host: /32 or /128) or "ADDR/LEN" from s[0..len). The length is decimal
 * without sign or leading zeros. An IPv4-mapped IPv6 prefix of /96 or longer becomes the IPv4
 * prefix it covers. On CIDR_HOST_BITS, out holds the masked prefix (for a helpful message). */
enum cidr_result cidr_parse(const char *s, size_t len, struct cidr *out);
/* The prefix that matches every address ("all"). */
struct cidr cidr_all(void);
/* True when addr lies in c. */
bool cidr_match(const struct cidr *c, const struct ip_addr *addr);
/* True when some prefix of list (n of them) holds addr. */
bool cidr_list_match(const struct cidr *list, size_t n, const struct ip_addr *addr);
/* Parses a textual address as inet_ntop or getnameinfo write it (no brackets; a "%zone" suffix
 * is ignored); mapped IPv6 becomes IPv4. Returns false (family IP_NONE) when s is not an address.
 */
bool ip_addr_parse(const char *s, size_t len, struct ip_addr *out);
/* Writes c as "ADDR/LEN" (or "all") into out; returns out. cap >= 50 is always enough. */
const char *cidr_format(const struct cidr *c, char *out, size_t cap);

#endif
