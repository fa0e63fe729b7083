/* http/range: RFC 9110 §14.1.2 examples, satisfiability, coalescing, limits, overflow. */
#include <string.h>

#include "check.h"
#include "http/range.h"

static struct http_range r[16];
static size_t n;

static enum http_range_result parse(const char *v, uint64_t size)
{
    return http_range_parse(str_cstr(v), size, r, 16, &n);
}

#define CHECK_RANGE(i, a, b)                                                                       \
    do {                                                                                           \
        CHECK_INT(r[i].first, a);                                                                  \
        CHECK_INT(r[i].last, b);                                                                   \
    } while (0)

static void test_rfc_examples(void)
{
    /* RFC 9110 §14.1.2, representation length 10000 */
    CHECK_INT(parse("bytes=0-499", 10000), HTTP_RANGE_OK);
    CHECK_INT(n, 1);
    CHECK_RANGE(0, 0, 499);
    CHECK_INT(parse("bytes=500-999", 10000), HTTP_RANGE_OK);
    CHECK_RANGE(0, 500, 999);
    CHECK_INT(parse("bytes=-500", 10000), HTTP_RANGE_OK);
    CHECK_RANGE(0, 9500, 9999);
    CHECK_INT(parse("bytes=9500-", 10000), HTTP_RANGE_OK);
    CHECK_RANGE(0, 9500, 9999);
    CHECK_INT(parse("bytes=0-0,-1", 10000), HTTP_RANGE_OK);
    CHECK_INT(n, 2);
    CHECK_RANGE(0, 0, 0);
    CHECK_RANGE(1, 9999, 9999);
    CHECK_INT(parse("bytes= 0-999, 4500-5499, -1000", 10000), HTTP_RANGE_OK);
    CHECK_INT(n, 3);
    CHECK_RANGE(0, 0, 999);
    CHECK_RANGE(1, 4500, 5499);
    CHECK_RANGE(2, 9000, 9999);
    /* adjacent and overlapping: coalesced (§14.3 allows it) */
    CHECK_INT(parse("bytes=500-600,601-999", 10000), HTTP_RANGE_OK);
    CHECK_INT(n, 1);
    CHECK_RANGE(0, 500, 999);
    CHECK_INT(parse("bytes=500-700,601-999", 10000), HTTP_RANGE_OK);
    CHECK_INT(n, 1);
    CHECK_RANGE(0, 500, 999);
}

static void test_satisfiable(void)
{
    CHECK_INT(parse("bytes=0-", 10), HTTP_RANGE_OK);
    CHECK_RANGE(0, 0, 9);
    CHECK_INT(parse("bytes=5-100", 10), HTTP_RANGE_OK); /* last clipped */
    CHECK_RANGE(0, 5, 9);
    CHECK_INT(parse("bytes=-100", 10), HTTP_RANGE_OK); /* suffix longer than the file */
    CHECK_RANGE(0, 0, 9);
    CHECK_INT(parse("bytes=9-9", 10), HTTP_RANGE_OK);
    CHECK_RANGE(0, 9, 9);
    CHECK_INT(parse("bytes=10-", 10), HTTP_RANGE_UNSATISFIABLE);
    CHECK_INT(n, 0);
    CHECK_INT(parse("bytes=10-20", 10), HTTP_RANGE_UNSATISFIABLE);
    CHECK_INT(parse("bytes=-0", 10), HTTP_RANGE_UNSATISFIABLE);
    CHECK_INT(parse("bytes=0-0", 0), HTTP_RANGE_UNSATISFIABLE);
    CHECK_INT(parse("bytes=-5", 0), HTTP_RANGE_UNSATISFIABLE);
    CHECK_INT(parse("bytes=0-", 0), HTTP_RANGE_UNSATISFIABLE);
    /* unsatisfiable elements are dropped, the rest served */
    CHECK_INT(parse("bytes=20-30,2-3", 10), HTTP_RANGE_OK);
    CHECK_INT(n, 1);
    CHECK_RANGE(0, 2, 3);
    CHECK_INT(parse("bytes=-0,0-0", 10), HTTP_RANGE_OK);
    CHECK_RANGE(0, 0, 0);
    /* unit is case-insensitive; OWS around commas; empty list elements */
    CHECK_INT(parse("Bytes=1-2", 10), HTTP_RANGE_OK);
    CHECK_INT(parse("BYTES=1-2 ,\t4-5", 10), HTTP_RANGE_OK);
    CHECK_INT(n, 2);
    CHECK_INT(parse("bytes=1-2,,4-5,", 10), HTTP_RANGE_OK);
    CHECK_INT(n, 2);
}

static void test_invalid(void)
{
    static const char *const bad[] = {
        "",
        "bytes",
        "bytes=",
        "bytes=,",
        "bytes=,,",
        "items=0-1",
        "bytes =0-1",
        "byte=0-1",
        "bytes=1",
        "bytes=-",
        "bytes=a-b",
        "bytes=5-4",
        "bytes=0-1-2",
        "bytes=0 - 1",
        "bytes=--1",
        "bytes=+1-2",
        "bytes=0-1;x",
        "bytes=0-1,x",
        "bytes=1-0,0-5",
        "bytes=\"0-1\"",
        "bytes=0x1-2",
        "bytes=-1-",
        "bytes=0-1 2",
        "bytes=99999999999999999999-", /* overflows uint64 */
        "bytes=0-99999999999999999999",
        "bytes=-99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum http_range_result res = parse(bad[i], 10000);
        if (res != HTTP_RANGE_IGNORE) fprintf(stderr, "not ignored: \"%s\"\n", bad[i]);
        CHECK_INT(res, HTTP_RANGE_IGNORE);
        CHECK_INT(n, 0);
    }
    /* an invalid element makes the whole set invalid, even with valid ones around it */
    CHECK_INT(parse("bytes=0-1,5-4,7-8", 10000), HTTP_RANGE_IGNORE);
}

static void test_huge(void)
{
    /* largest values that fit: a huge first is unsatisfiable, a huge last is clipped */
    CHECK_INT(parse("bytes=18446744073709551615-", 10000), HTTP_RANGE_UNSATISFIABLE);
    CHECK_INT(parse("bytes=0-18446744073709551615", 10000), HTTP_RANGE_OK);
    CHECK_RANGE(0, 0, 9999);
    CHECK_INT(parse("bytes=-18446744073709551615", 10000), HTTP_RANGE_OK);
    CHECK_RANGE(0, 0, 9999);
    CHECK_INT(parse("bytes=00000000000000000000000001-2", 10000), HTTP_RANGE_OK);
    CHECK_RANGE(0, 1, 2);
    /* a representation of the largest size */
    CHECK_INT(parse("bytes=18446744073709551613-", UINT64_MAX), HTTP_RANGE_OK);
    CHECK_RANGE(0, 18446744073709551613ULL, 18446744073709551614ULL);
    CHECK_INT(parse("bytes=0-1,18446744073709551614-", UINT64_MAX), HTTP_RANGE_OK);
    CHECK_INT(n, 2);
}

static void test_coalesce_and_limits(void)
{
    /* request order is kept; a merged range takes its earliest member's place */
    CHECK_INT(parse("bytes=50-60,0-10,20-30", 100), HTTP_RANGE_OK);
    CHECK_INT(n, 3);
    CHECK_RANGE(0, 50, 60);
    CHECK_RANGE(1, 0, 10);
    CHECK_RANGE(2, 20, 30);
    CHECK_INT(parse("bytes=50-60,0-10,20-30,5-55", 100), HTTP_RANGE_OK);
    CHECK_INT(n, 1);
    CHECK_RANGE(0, 0, 60);
    CHECK_INT(parse("bytes=0-1,10-11,20-21,2-9", 100), HTTP_RANGE_OK);
    CHECK_INT(n, 2);
    CHECK_RANGE(0, 0, 11);
    CHECK_RANGE(1, 20, 21);
    CHECK_INT(parse("bytes=0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-", 100),
              HTTP_RANGE_OK);
    CHECK_INT(n, 1);
    CHECK_RANGE(0, 0, 99);

    /* more disjoint ranges than max */
    char buf[1024];
    size_t len = (size_t)snprintf(buf, sizeof buf, "bytes=");
    for (int i = 0; i < 16; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%d-%d", i ? "," : "", i * 10,
                                i * 10 + 1);
    CHECK_INT(parse(buf, 1000), HTTP_RANGE_OK); /* 16 ranges fit */
    CHECK_INT(n, 16);
    CHECK_RANGE(15, 150, 151);
    snprintf(buf + len, sizeof buf - len, ",500-501");
    CHECK_INT(parse(buf, 1000), HTTP_RANGE_TOO_MANY);
    CHECK_INT(n, 0);
    snprintf(buf + len, sizeof buf - len, ",149-150"); /* coalesces: still 16 */
    CHECK_INT(parse(buf, 1000), HTTP_RANGE_OK);
    CHECK_INT(n, 16);
    CHECK_RANGE(14, 140, 141);
    CHECK_RANGE(15, 149, 151);
    snprintf(buf + len, sizeof buf - len, ",142-149"); /* bridges the last two */
    CHECK_INT(parse(buf, 1000), HTTP_RANGE_OK);
    CHECK_INT(n, 15);
    CHECK_RANGE(14, 140, 151);
    /* a later syntax error still makes the field ignorable */
    snprintf(buf, sizeof buf,
             "bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,"
             "22-22,24-24,26-26,28-28,30-30,32-32,x");
    CHECK_INT(parse(buf, 1000), HTTP_RANGE_IGNORE);
    /* max 0 */
    CHECK_INT(http_range_parse(STR_LIT("bytes=0-1"), 10, r, 0, &n), HTTP_RANGE_TOO_MANY);
    CHECK_INT(http_range_parse(STR_LIT("bytes=20-"), 10, r, 0, &n), HTTP_RANGE_UNSATISFIABLE);
}

int main(void)
{
    test_rfc_examples();
    test_satisfiable();
    test_invalid();
    test_huge();
    test_coalesce_and_limits();
    return check_done("http/range");
}
