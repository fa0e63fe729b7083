/* server/config_guard: `allow`, `deny` (kept in file order) and `rate_limit` of a location,
 * and their errors with file:line. */
#include <string.h>

#include "check.h"
#include "server/config.h"

static struct config *load(const char *yaml, char *err, size_t errlen)
{
    return config_load_buffer("t.yaml", yaml, strlen(yaml), err, errlen);
}

#define EXPECT_ERROR(yaml, want)                                                                   \
    do {                                                                                           \
        char err_[512] = "";                                                                       \
        struct config *c_ = load((yaml), err_, sizeof(err_));                                      \
        CHECK(c_ == NULL);                                                                         \
        config_free(c_);                                                                           \
        CHECK_STR(err_, (want));                                                                   \
    } while (0)

#define LOC "servers:\n  - root: /\n    locations:\n      - path: /p/\n" /* lines 1-4 */

static const struct config_location *find(const struct config *cfg, const char *path)
{
    return config_find_location(&cfg->servers[0], path, strlen(path));
}

static bool allowed(const struct config_location *loc, const char *addr)
{
    struct ip_addr a;
    CHECK(ip_addr_parse(addr, strlen(addr), &a));
    for (size_t i = 0; i < loc->n_access; i++)
        if (cidr_match(&loc->access[i].net, &a)) return loc->access[i].allow;
    return true;
}

static void test_access(void)
{
    char err[512] = "";
    struct config *cfg = load(LOC "        allow: [10.0.0.0/8, \"2001:db8::/32\", 127.0.0.1]\n"
                                  "        deny: [all]\n"
                                  "      - path: /d/\n"
                                  "        deny: 192.168.0.0/16\n"
                                  "        allow: all\n",
                              err, sizeof(err));
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    const struct config_location *p = find(cfg, "/p/x");
    CHECK_INT(p->n_access, 4);
    CHECK(p->access[0].allow && p->access[0].line == 5);
    CHECK(!p->access[3].allow && p->access[3].line == 6);
    CHECK(allowed(p, "10.2.3.4"));
    CHECK(allowed(p, "2001:db8::7"));
    CHECK(allowed(p, "127.0.0.1"));
    CHECK(allowed(p, "::ffff:127.0.0.1"));
    CHECK(!allowed(p, "127.0.0.2"));
    CHECK(!allowed(p, "::1"));
    /* deny before allow: the order of the file decides */
    const struct config_location *d = find(cfg, "/d/");
    CHECK_INT(d->n_access, 2);
    CHECK(!d->access[0].allow);
    CHECK(!allowed(d, "192.168.3.4"));
    CHECK(allowed(d, "10.0.0.1"));
    CHECK_INT(find(cfg, "/")->n_access, 0);
    CHECK(allowed(find(cfg, "/"), "1.2.3.4"));
    config_free(cfg);
}

static void test_rate_limit(void)
{
    char err[512] = "";
    struct config *cfg = load(LOC "        rate_limit: {rate: 5/s, burst: 7}\n"
                                  "      - path: /m/\n"
                                  "        rate_limit: {rate: 30/m, key: address}\n",
                              err, sizeof(err));
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(cfg->rate_table != NULL);
    CHECK_INT(cfg->n_rate_limits, 2);
    const struct config_location *p = find(cfg, "/p/"), *m = find(cfg, "/m/");
    CHECK(p->rate_limit.id != 0 && m->rate_limit.id != 0 && p->rate_limit.id != m->rate_limit.id);
    CHECK_INT(p->rate_limit.spec.count, 5);
    CHECK_INT(p->rate_limit.spec.period_ms, 1000);
    CHECK_INT(p->rate_limit.spec.burst, 7);
    CHECK_INT(m->rate_limit.spec.count, 30);
    CHECK_INT(m->rate_limit.spec.period_ms, 60000);
    CHECK_INT(m->rate_limit.spec.burst, 30); /* default: one period's worth */
    CHECK_INT(find(cfg, "/")->rate_limit.id, 0);
    config_free(cfg);
    cfg = load(LOC "        rate_limit: {rate: 5/s}\n        limit_conn: 3\n", err, sizeof(err));
    CHECK(cfg && cfg->rate_table);
    if (cfg) {
        p = find(cfg, "/p/");
        CHECK_INT(p->limit_conn.max, 3);
        CHECK(p->limit_conn.id != 0 && p->limit_conn.id != p->rate_limit.id);
        CHECK_INT(find(cfg, "/")->limit_conn.id, 0);
    }
    config_free(cfg);
    cfg = load("root: /\n", err, sizeof(err));
    CHECK(cfg && !cfg->rate_table);
    config_free(cfg);
}

static void test_errors(void)
{
    EXPECT_ERROR(LOC "        limit_conn: 0\n",
                 "t.yaml:5: 'limit_conn' must be between 1 and 1000000, not '0'");
    EXPECT_ERROR(LOC "        limit_conn: {max: 2}\n",
                 "t.yaml:5: 'limit_conn' must be a single value, not a mapping");
    EXPECT_ERROR(LOC "        allow: 10.0.0.1/8\n",
                 "t.yaml:5: 'allow' value '10.0.0.1/8' has bits set after its prefix length; "
                 "write 10.0.0.0/8");
    EXPECT_ERROR(LOC "        deny: [all, 2001:db8::1/32]\n",
                 "t.yaml:5: 'deny' value '2001:db8::1/32' has bits set after its prefix length; "
                 "write 2001:db8::/32");
    EXPECT_ERROR(LOC "        allow:\n          - 10.0.0.0/8\n          - 10.0.0.0/33\n",
                 "t.yaml:7: 'allow' value '10.0.0.0/33' has a prefix length beyond the address "
                 "(at most 32 for IPv4, 128 for IPv6)");
    EXPECT_ERROR(LOC "        deny: localhost\n",
                 "t.yaml:5: 'deny' value 'localhost' is not an IP address, a CIDR prefix (like "
                 "10.0.0.0/8 or 2001:db8::/32) or 'all'");
    EXPECT_ERROR(LOC "        deny: {all: 1}\n",
                 "t.yaml:5: 'deny' must be an address, a prefix, 'all' or a list of them");
    EXPECT_ERROR(LOC "        allow:\n", "t.yaml:5: 'allow' has no value");
    EXPECT_ERROR(LOC "        deny: all\n        allow: 10.0.0.0/8\n        deny: 1.2.3.4\n",
                 "t.yaml:7: duplicate key 'deny' in location");
    EXPECT_ERROR(LOC "        rate_limit: 5/s\n",
                 "t.yaml:5: 'rate_limit' must be a mapping, not a value");
    EXPECT_ERROR(LOC "        rate_limit: {burst: 5}\n",
                 "t.yaml:5: 'rate_limit' has no 'rate' (like 10/s or 100/m)");
    EXPECT_ERROR(LOC "        rate_limit:\n          rate: 5/h\n",
                 "t.yaml:6: 'rate' must be requests per second or minute, like 10/s or 100/m, "
                 "not '5/h'");
    EXPECT_ERROR(LOC "        rate_limit: {rate: five/s}\n",
                 "t.yaml:5: 'rate' must be requests per second or minute, like 10/s or 100/m, "
                 "not 'five/s'");
    EXPECT_ERROR(LOC "        rate_limit: {rate: 0/s}\n",
                 "t.yaml:5: 'rate' must count between 1 and 1000000 requests, not '0/s'");
    EXPECT_ERROR(LOC "        rate_limit: {rate: 5/s, burst: 0}\n",
                 "t.yaml:5: 'burst' must be between 1 and 1000000, not '0'");
    EXPECT_ERROR(LOC "        rate_limit: {rate: 5/s, key: header}\n",
                 "t.yaml:5: 'key' of 'rate_limit' must be 'address', not 'header'");
    EXPECT_ERROR(LOC "        rate_limit: {rate: 5/s, zone: x}\n",
                 "t.yaml:5: unknown key 'zone' in rate_limit");
}

int main(void)
{
    test_access();
    test_rate_limit();
    test_errors();
    return check_done("server/config_guard");
}
