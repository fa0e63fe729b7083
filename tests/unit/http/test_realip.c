/* http/realip: the client a trusted proxy reports, read from the right of X-Forwarded-For or
 * Forwarded, with and without recursion. */
#include <string.h>

#include "check.h"
#include "core/pool.h"
#include "http/realip.h"

static struct pool *pool;
static struct cidr trusted[2];

/* The picked address as text, or "none". lines: field values separated by '|'. */
static const char *pick(enum realip_header h, bool recursive, const char *lines)
{
    static char out[64];
    struct realip_rules r = {trusted, 2, h, recursive};
    struct http_fields f = {0};
    str_t name = h == REALIP_FORWARDED ? STR_LIT("Forwarded") : STR_LIT("X-Forwarded-For");
    const char *p = lines;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        http_fields_add(&f, pool, name, str_make(p, n));
        if (!bar) break;
        p = bar + 1;
    }
    http_fields_add(&f, pool, STR_LIT("X-Other"), STR_LIT("192.0.2.99"));
    struct ip_addr a;
    if (!realip_pick(&r, &f, &a)) return "none";
    return ip_addr_format(&a, out, sizeof(out));
}

static void test_x_forwarded_for(void)
{
    const enum realip_header x = REALIP_X_FORWARDED_FOR;
    CHECK_STR(pick(x, false, "192.0.2.1"), "192.0.2.1");
    CHECK_STR(pick(x, false, "192.0.2.1, 10.1.1.1"), "10.1.1.1"); /* the last, trusted or not */
    CHECK_STR(pick(x, true, "192.0.2.1, 10.1.1.1"), "192.0.2.1");
    CHECK_STR(pick(x, true, "198.51.100.7, 192.0.2.1, 10.1.1.1, 10.2.2.2"), "192.0.2.1");
    CHECK_STR(pick(x, true, "10.3.3.3, 10.1.1.1"), "10.3.3.3");  /* all trusted: the first */
    CHECK_STR(pick(x, true, "192.0.2.1|10.1.1.1"), "192.0.2.1"); /* lines joined in order */
    CHECK_STR(pick(x, false, " 192.0.2.1 ,,  2001:db8::5 , "), "2001:db8::5");
    CHECK_STR(pick(x, true, "192.0.2.1,2001:db8::5"), "192.0.2.1");
    CHECK_STR(pick(x, false, "192.0.2.1:4321"), "192.0.2.1");
    CHECK_STR(pick(x, false, "[2001:db8:1::1]:80"), "2001:db8:1::1");
    CHECK_STR(pick(x, false, "::ffff:192.0.2.8"), "192.0.2.8");
    CHECK_STR(pick(x, false, "unknown"), "none");
    CHECK_STR(pick(x, true, "192.0.2.1, garbage, 10.1.1.1"), "none");
    CHECK_STR(pick(x, false, ""), "none");
    CHECK_STR(pick(x, false, "[2001:db8::1"), "none");
    CHECK_STR(pick(x, false, "192.0.2.1/24"), "none");
}

static void test_forwarded(void)
{
    const enum realip_header f = REALIP_FORWARDED;
    /* RFC 7239 §4 and §7.4's examples */
    CHECK_STR(pick(f, false, "for=\"_gazonk\""), "none");
    CHECK_STR(pick(f, false, "For=\"[2001:db8:cafe::17]:4711\""), "2001:db8:cafe::17");
    CHECK_STR(pick(f, false, "for=192.0.2.60;proto=http;by=203.0.113.43"), "192.0.2.60");
    CHECK_STR(pick(f, false, "for=192.0.2.43, for=198.51.100.17"), "198.51.100.17");
    CHECK_STR(pick(f, true, "for=192.0.2.43, for=10.9.9.9;by=x"), "192.0.2.43");
    CHECK_STR(pick(f, true, "for=192.0.2.43|for=\"10.0.0.1:80\""), "192.0.2.43");
    CHECK_STR(pick(f, false, "proto=https;by=10.0.0.1"), "none"); /* no for= */
    CHECK_STR(pick(f, false, "for=unknown"), "none");
    CHECK_STR(pick(f, false, "host=\"a;b,c\";for=192.0.2.5"), "192.0.2.5"); /* quoted ; and , */
}

int main(void)
{
    pool = pool_create(4096);
    cidr_parse("10.0.0.0/8", 10, &trusted[0]);
    cidr_parse("2001:db8::/32", 13, &trusted[1]);
    test_x_forwarded_for();
    test_forwarded();
    pool_destroy(pool);
    return check_done("http/realip");
}
