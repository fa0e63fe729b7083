/* IP addresses and CIDR prefixes: parsing, masking and matching. */
#include "http/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* IPv4-mapped IPv6 (RFC 4291 §2.5.5.2) -> the IPv4 address it carries. */
static void unmap(struct ip_addr *a)
{
    if (a->family != IP_V6 || memcmp(a->bytes, v4_mapped_prefix, 12) != 0) return;
    uint8_t v4[4];
    memcpy(v4, a->bytes + 12, 4);
    memset(a->bytes, 0, sizeof(a->bytes));
    memcpy(a->bytes, v4, 4);
    a->family = IP_V4;
}

bool ip_addr_parse(const char *s, size_t len, struct ip_addr *out)
{
    char text[INET6_ADDRSTRLEN];
    memset(out, 0, sizeof(*out));
    const char *zone = memchr(s, '%', len); /* getnameinfo's "fe80::1%eth0": the zone is local */
    if (zone) len = (size_t)(zone - s);
    if (len == 0 || len >= sizeof(text) || memchr(s, '\0', len)) return false;
    memcpy(text, s, len);
    text[len] = '\0';
    if (inet_pton(AF_INET, text, out->bytes) == 1) {
        out->family = IP_V4;
        return true;
    }
    if (inet_pton(AF_INET6, text, out->bytes) == 1) {
        out->family = IP_V6;
        unmap(out);
        return true;
    }
    memset(out, 0, sizeof(*out));
    return false;
}

/* Decimal 0-999 without sign or leading zeros; -1 otherwise. */
static int parse_length(const char *s, size_t len)
{
    if (len == 0 || len > 3 || (len > 1 && s[0] == '0')) return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Clears the bits after the first `bits`; true when any was set. */
static bool mask_host_bits(uint8_t *bytes, size_t n, unsigned bits)
{
    bool had = false;
    for (size_t i = 0; i < n; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * (unsigned)i : 0;
        uint8_t mask = (uint8_t)(keep ? 0xff << (8 - keep) : 0);
        if (bytes[i] & ~mask) had = true;
        bytes[i] &= mask;
    }
    return had;
}

enum cidr_result cidr_parse(const char *s, size_t len, struct cidr *out)
{
    memset(out, 0, sizeof(*out));
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    struct ip_addr a;
    char text[INET6_ADDRSTRLEN];
    if (alen == 0 || alen >= sizeof(text) || memchr(s, '\0', len)) return CIDR_MALFORMED;
    memcpy(text, s, alen);
    text[alen] = '\0';
    memset(&a, 0, sizeof(a));
    if (inet_pton(AF_INET, text, a.bytes) == 1)
        a.family = IP_V4;
    else if (inet_pton(AF_INET6, text, a.bytes) == 1)
        a.family = IP_V6;
    else
        return CIDR_MALFORMED;
    int max = a.family == IP_V4 ? 32 : 128;
    int bits = max;
    if (slash) {
        bits = parse_length(slash + 1, len - alen - 1);
        if (bits < 0) return CIDR_MALFORMED;
        if (bits > max) return CIDR_BAD_LENGTH;
    }
    bool host_bits = mask_host_bits(a.bytes, a.family == IP_V4 ? 4 : 16, (unsigned)bits);
    if (a.family == IP_V6 && bits >= 96 && memcmp(a.bytes, v4_mapped_prefix, 12) == 0) {
        unmap(&a); /* ::ffff:10.0.0.0/104 is 10.0.0.0/8 */
        bits -= 96;
    }
    out->addr = a;
    out->bits = (uint8_t)bits;
    return host_bits ? CIDR_HOST_BITS : CIDR_OK;
}

struct cidr cidr_all(void)
{
    struct cidr c;
    memset(&c, 0, sizeof(c));
    return c;
}

bool cidr_list_match(const struct cidr *list, size_t n, const struct ip_addr *addr)
{
    for (size_t i = 0; i < n; i++)
        if (cidr_match(&list[i], addr)) return true;
    return false;
}

bool cidr_match(const struct cidr *c, const struct ip_addr *addr)
{
    if (c->addr.family == IP_NONE) return true;
    if (c->addr.family != addr->family) return false;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr.bytes, addr->bytes, full) != 0) return false;
    if (!rest) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr->bytes[full] & mask) == c->addr.bytes[full];
}

const char *cidr_format(const struct cidr *c, char *out, size_t cap)
{
    char text[INET6_ADDRSTRLEN] = "?";
    if (c->addr.family == IP_NONE) {
        snprintf(out, cap, "all");
        return out;
    }
    inet_ntop(c->addr.family == IP_V4 ? AF_INET : AF_INET6, c->addr.bytes, text, sizeof(text));
    snprintf(out, cap, "%s/%u", text, (unsigned)c->bits);
    return out;
}
