#include "http/realip.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define MAX_ELEMENTS 64 /* the last ones of a longer chain are what counts */

bool realip_trusted(const struct realip_rules *r, const struct ip_addr *addr)
{
    return cidr_list_match(r->trusted, r->n_trusted, addr);
}

/* An address with an optional port: "192.0.2.1", "192.0.2.1:80", "2001:db8::1",
 * "[2001:db8::1]", "[2001:db8::1]:80". */
static bool parse_node(str_t v, struct ip_addr *out)
{
    out->family = IP_NONE;
    if (v.len && v.p[0] == '[') {
        const char *rb = memchr(v.p, ']', v.len);
        if (!rb) return false;
        size_t after = v.len - (size_t)(rb - v.p) - 1;
        if (after && rb[1] != ':') return false;
        return ip_addr_parse(v.p + 1, (size_t)(rb - v.p) - 1, out) && out->family;
    }
    const char *colon = memchr(v.p, ':', v.len);
    if (colon && !memchr(colon + 1, ':', v.len - (size_t)(colon - v.p) - 1))
        v.len = (size_t)(colon - v.p); /* one colon: IPv4 and a port */
    return ip_addr_parse(v.p, v.len, out) && out->family;
}

/* The for= value of one Forwarded element ("for=192.0.2.60;proto=http;by=203.0.113.43"), its
 * quotes removed; STR_NULL when it has none. */
static str_t forwarded_for(str_t el)
{
    size_t i = 0;
    str_t pair;
    while (i < el.len && http_split_next(el, &i, ';', &pair)) {
        const char *eq = memchr(pair.p, '=', pair.len);
        if (!eq) continue;
        str_t name = str_trim_ows(str_make(pair.p, (size_t)(eq - pair.p)));
        if (!str_eq_nocase(name, STR_LIT("for"))) continue;
        str_t v = str_trim_ows(str_make(eq + 1, pair.len - (size_t)(eq - pair.p) - 1));
        if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"') v = str_make(v.p + 1, v.len - 2);
        return v;
    }
    return STR_NULL;
}

/* The list elements of value (RFC 9110 §5.6.1, empty ones skipped) appended to the ring els:
 * *n counts them all, the last MAX_ELEMENTS stay. */
static void split_list(str_t value, str_t *els, size_t *n)
{
    size_t pos = 0;
    str_t el;
    while (http_list_next(value, &pos, &el))
        els[(*n)++ % MAX_ELEMENTS] = el;
}

bool realip_pick(const struct realip_rules *r, const struct http_fields *fields,
                 struct ip_addr *out)
{
    enum http_token token =
        r->header == REALIP_FORWARDED ? HTTP_TOKEN_FORWARDED : HTTP_TOKEN_X_FORWARDED_FOR;
    str_t els[MAX_ELEMENTS];
    size_t n = 0;
    for (size_t i = 0; i < fields->count; i++)
        if (fields->items[i].token == token) split_list(fields->items[i].value, els, &n);
    size_t first = n > MAX_ELEMENTS ? n - MAX_ELEMENTS : 0; /* the ring keeps the last ones */
    for (size_t k = n; k-- > first;) {
        str_t el = els[k % MAX_ELEMENTS];
        str_t node = r->header == REALIP_FORWARDED ? forwarded_for(el) : el;
        if (!node.p || !parse_node(node, out)) return false;
        if (!r->recursive || k == first || !realip_trusted(r, out)) return true;
    }
    return false;
}

const char *ip_addr_format(const struct ip_addr *addr, char *out, size_t cap)
{
    if (!inet_ntop(addr->family == IP_V4 ? AF_INET : AF_INET6, addr->bytes, out, (socklen_t)cap))
        snprintf(out, cap, "-");
    return out;
}
