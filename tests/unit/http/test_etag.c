/* http/etag: generation and the comparison table of RFC 9110 §8.8.3.2. */
#include <string.h>

#include "check.h"
#include "http/etag.h"

static bool list(const char *field, const char *etag, bool weak, bool *malformed)
{
    return http_etag_list_match(str_cstr(field), str_cstr(etag), weak, malformed);
}

static void test_make(void)
{
    char buf[HTTP_ETAG_MAX];
    size_t n = http_etag_make(buf, 0x5f3a, 0x24e, 0x1b2c);
    CHECK_STRN(buf, n, "\"5f3a-24e-1b2c\"");
    CHECK_INT(strlen(buf), n);
    n = http_etag_make(buf, 0, 0, 0);
    CHECK_STR(buf, "\"0-0-0\"");
    n = http_etag_make(buf, -1, INT64_MAX, UINT64_MAX);
    CHECK_STR(buf, "\"ffffffffffffffff-7fffffffffffffff-ffffffffffffffff\"");
    CHECK(n < HTTP_ETAG_MAX);
    n = http_etag_make_coded(buf, 0x5f3a, 0x24e, 0x1b2c, "br");
    CHECK_STR(buf, "\"5f3a-24e-1b2c-br\"");
    n = http_etag_make_coded(buf, 0x5f3a, 0x24e, 0x1b2c, "-gzip");
    CHECK_STR(buf, "\"5f3a-24e-1b2c-gzip\"");
    n = http_etag_make_coded(buf, 1, 2, 3, "");
    CHECK_STR(buf, "\"1-2-3\"");
    n = http_etag_make_coded(buf, -1, INT64_MAX, UINT64_MAX, "a\"very-long-coding-name-xyz");
    CHECK(n == strlen(buf) && n < HTTP_ETAG_MAX);
    CHECK(buf[n - 1] == '"' && strchr(buf + 1, '"') == buf + n - 1);
    /* every change of mtime, size or inode changes the tag */
    char a[HTTP_ETAG_MAX], b[HTTP_ETAG_MAX], c[HTTP_ETAG_MAX], d[HTTP_ETAG_MAX];
    http_etag_make(a, 1000, 10, 7);
    http_etag_make(b, 1001, 10, 7);
    http_etag_make(c, 1000, 11, 7);
    http_etag_make(d, 1000, 10, 8);
    CHECK(strcmp(a, b) && strcmp(a, c) && strcmp(a, d));
    /* generated tags are valid strong entity-tags */
    CHECK(http_etag_strong_eq(str_cstr(a), str_cstr(a)));
}

static void test_compare(void)
{
    /* RFC 9110 §8.8.3.2 table */
    CHECK(!http_etag_strong_eq(STR_LIT("W/\"1\""), STR_LIT("W/\"1\"")));
    CHECK(http_etag_weak_eq(STR_LIT("W/\"1\""), STR_LIT("W/\"1\"")));
    CHECK(!http_etag_strong_eq(STR_LIT("W/\"1\""), STR_LIT("W/\"2\"")));
    CHECK(!http_etag_weak_eq(STR_LIT("W/\"1\""), STR_LIT("W/\"2\"")));
    CHECK(!http_etag_strong_eq(STR_LIT("W/\"1\""), STR_LIT("\"1\"")));
    CHECK(http_etag_weak_eq(STR_LIT("W/\"1\""), STR_LIT("\"1\"")));
    CHECK(http_etag_strong_eq(STR_LIT("\"1\""), STR_LIT("\"1\"")));
    CHECK(http_etag_weak_eq(STR_LIT("\"1\""), STR_LIT("\"1\"")));
    /* malformed never compares equal */
    CHECK(!http_etag_strong_eq(STR_LIT("1"), STR_LIT("1")));
    CHECK(!http_etag_weak_eq(STR_LIT("w/\"1\""), STR_LIT("\"1\""))); /* W is case-sensitive */
    CHECK(!http_etag_strong_eq(STR_LIT("\"1"), STR_LIT("\"1")));
    CHECK(!http_etag_strong_eq(STR_LIT("\"a b\""), STR_LIT("\"a b\""))); /* SP not etagc */
    CHECK(!http_etag_strong_eq(STR_LIT("\"1\"x"), STR_LIT("\"1\"x")));
    CHECK(http_etag_strong_eq(STR_LIT(" \"1\" "), STR_LIT("\"1\"")));
    CHECK(http_etag_strong_eq(STR_LIT("\"\""), STR_LIT("\"\""))); /* empty opaque-tag */
    CHECK(!http_etag_strong_eq(STR_LIT("\"abc\""), STR_LIT("\"abd\"")));
}

static void test_list(void)
{
    bool m;
    CHECK(list("*", "\"x\"", false, &m) && !m);
    CHECK(list(" * ", "", false, &m) && !m); /* existence is the caller's business */
    CHECK(list("\"x\"", "\"x\"", false, &m) && !m);
    CHECK(list("\"a\", \"b\",\"x\"", "\"x\"", false, &m) && !m);
    CHECK(!list("\"a\", \"b\"", "\"x\"", false, &m) && !m);
    CHECK(!list("W/\"x\"", "\"x\"", false, &m) && !m); /* strong: weak never matches */
    CHECK(list("W/\"x\"", "\"x\"", true, &m) && !m);
    CHECK(!list("\"x\"", "W/\"x\"", false, &m) && !m);
    CHECK(list("\"x\"", "W/\"x\"", true, &m) && !m);
    CHECK(list("W/\"x\"", "W/\"x\"", true, &m) && !m);
    CHECK(!list("\"x\"", "", true, &m) && !m);              /* no ETag: nothing matches */
    CHECK(!list("", "\"x\"", true, &m) && !m);              /* empty list */
    CHECK(list(" , ,\"x\" , ", "\"x\"", true, &m) && !m);   /* empty elements */
    CHECK(list("\"a,b\", \"x\"", "\"x\"", true, &m) && !m); /* comma inside a tag */
    CHECK(list("\"a,b\"", "\"a,b\"", false, &m) && !m);
    /* malformed lists */
    CHECK(!list("x", "\"x\"", true, &m) && m);
    CHECK(!list("\"x\", *", "\"x\"", true, &m) && m);
    CHECK(!list("*, \"x\"", "\"x\"", true, &m) && m);
    CHECK(!list("\"x\" \"y\"", "\"x\"", true, &m) && m);
    CHECK(!list("\"x", "\"x\"", true, &m) && m);
    CHECK(!list("\"x\"; a", "\"x\"", true, &m) && m);
    CHECK(!list("W/ \"x\"", "\"x\"", true, &m) && m);
}

int main(void)
{
    test_make();
    test_compare();
    test_list();
    return check_done("http/etag");
}
