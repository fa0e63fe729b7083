/* http/cidr: IPv4 and IPv6 prefixes, their edges (/0, /32, /128), host bits, mapped addresses
 * and malformed input. */
#include <string.h>

#include "check.h"
#include "http/cidr.h"

static enum cidr_result parse(const char *s, struct cidr *c)
{
    return cidr_parse(s, strlen(s), c);
}

static bool in(const char *prefix, const char *addr)
{
    struct cidr c;
    struct ip_addr a;
    if (parse(prefix, &c) != CIDR_OK || !ip_addr_parse(addr, strlen(addr), &a)) return false;
    return cidr_match(&c, &a);
}

static const char *fmt(const char *prefix)
{
    static char out[64];
    struct cidr c;
    cidr_parse(prefix, strlen(prefix), &c);
    return cidr_format(&c, out, sizeof(out));
}

static void test_v4(void)
{
    CHECK(in("10.0.0.0/8", "10.1.2.3"));
    CHECK(in("10.0.0.0/8", "10.255.255.255"));
    CHECK(!in("10.0.0.0/8", "11.0.0.0"));
    CHECK(!in("10.0.0.0/8", "9.255.255.255"));
    CHECK(in("0.0.0.0/0", "1.2.3.4"));
    CHECK(in("0.0.0.0/0", "255.255.255.255"));
    CHECK(!in("0.0.0.0/0", "::1")); /* an IPv4 prefix never matches an IPv6 client */
    CHECK(in("127.0.0.1", "127.0.0.1"));
    CHECK(!in("127.0.0.1", "127.0.0.2"));
    CHECK(in("127.0.0.1/32", "127.0.0.1"));
    CHECK(in("192.168.1.128/25", "192.168.1.200"));
    CHECK(!in("192.168.1.128/25", "192.168.1.127"));
    CHECK(in("172.16.0.0/12", "172.31.255.1"));
    CHECK(!in("172.16.0.0/12", "172.32.0.1"));
    CHECK_STR(fmt("10.0.0.0/8"), "10.0.0.0/8");
    CHECK_STR(fmt("127.0.0.1"), "127.0.0.1/32");
}

static void test_v6(void)
{
    CHECK(in("2001:db8::/32", "2001:db8::1"));
    CHECK(in("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    CHECK(!in("2001:db8::/32", "2001:db9::1"));
    CHECK(in("::/0", "::1"));
    CHECK(in("::/0", "fe80::1"));
    CHECK(!in("::/0", "10.0.0.1"));
    CHECK(in("::1", "::1"));
    CHECK(in("::1/128", "::1"));
    CHECK(!in("::1/128", "::2"));
    CHECK(in("fe80::/10", "febf::1"));
    CHECK(!in("fe80::/10", "fec0::1"));
    CHECK(in("2001:db8::/33", "2001:db8:7fff::1"));
    CHECK(!in("2001:db8::/33", "2001:db8:8000::1"));
    CHECK_STR(fmt("2001:db8::/32"), "2001:db8::/32");
    CHECK_STR(fmt("::1"), "::1/128");
}

static void test_mapped(void)
{
    /* a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; IPv4 rules match them */
    CHECK(in("127.0.0.0/8", "::ffff:127.0.0.1"));
    CHECK(in("10.0.0.0/8", "::ffff:10.9.8.7"));
    CHECK(!in("::/0", "::ffff:10.9.8.7"));
    struct ip_addr a;
    CHECK(ip_addr_parse("::ffff:1.2.3.4", 14, &a));
    CHECK_INT(a.family, IP_V4);
    CHECK_INT(a.bytes[0], 1);
    CHECK_INT(a.bytes[3], 4);
    CHECK_INT(a.bytes[4], 0);
    /* a mapped prefix of /96 or longer is the IPv4 prefix it covers */
    CHECK(in("::ffff:10.0.0.0/104", "10.1.1.1"));
    CHECK_STR(fmt("::ffff:10.0.0.0/104"), "10.0.0.0/8");
    CHECK_STR(fmt("::ffff:0.0.0.0/96"), "0.0.0.0/0");
}

static void test_all(void)
{
    struct cidr all = cidr_all();
    struct ip_addr a;
    CHECK(ip_addr_parse("1.2.3.4", 7, &a) && cidr_match(&all, &a));
    CHECK(ip_addr_parse("2001:db8::5", 11, &a) && cidr_match(&all, &a));
    char out[64];
    CHECK_STR(cidr_format(&all, out, sizeof(out)), "all");
}

static void test_errors(void)
{
    struct cidr c;
    CHECK_INT(parse("10.0.0.1/8", &c), CIDR_HOST_BITS);
    CHECK_STR(cidr_format(&c, (char[64]){0}, 64), "10.0.0.0/8");
    CHECK_INT(parse("2001:db8::1/32", &c), CIDR_HOST_BITS);
    CHECK_INT(parse("0.0.0.1/0", &c), CIDR_HOST_BITS);
    CHECK_INT(parse("10.0.0.0/33", &c), CIDR_BAD_LENGTH);
    CHECK_INT(parse("::/129", &c), CIDR_BAD_LENGTH);
    CHECK_INT(parse("10.0.0.0/999", &c), CIDR_BAD_LENGTH);
    static const char *const bad[] = {"",
                                      "/8",
                                      "10.0.0.0/",
                                      "10.0.0.0/08",
                                      "10.0.0.0/+8",
                                      "10.0.0.0/-1",
                                      "10.0.0.0/8/8",
                                      "10.0.0.0/1000",
                                      "10.0.0",
                                      "10.0.0.256",
                                      "010.0.0.1",
                                      "10.0.0.0 ",
                                      " 10.0.0.0",
                                      "localhost",
                                      "all",
                                      "2001:db8:::/32",
                                      "[::1]",
                                      "fe80::1%eth0",
                                      "::1/ 8",
                                      "1.2.3.4.5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(parse(bad[i], &c), CIDR_MALFORMED);
        if (parse(bad[i], &c) != CIDR_MALFORMED) fprintf(stderr, "  accepted '%s'\n", bad[i]);
    }
    CHECK_INT(cidr_parse("10.0.0.0\0/8", 11, &c), CIDR_MALFORMED);
    struct ip_addr a;
    CHECK(!ip_addr_parse("-", 1, &a));
    CHECK(!ip_addr_parse("", 0, &a));
    CHECK(!ip_addr_parse("1.2.3.4/32", 10, &a));
    CHECK(ip_addr_parse("fe80::1%eth0", 12, &a) && a.family == IP_V6 && a.bytes[15] == 1);
    CHECK(!ip_addr_parse("%eth0", 5, &a));
}

int main(void)
{
    test_v4();
    test_v6();
    test_mapped();
    test_all();
    test_errors();
    return check_done("http/cidr");
}
