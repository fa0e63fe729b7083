/* http/cache_rules: RFC 9111 Cache-Control parsing, storability, freshness, age, reuse, Vary,
 * invalidation and 304 updates; RFC 5861 stale-*; RFC 9211 Cache-Status. */
#include <string.h>

#include "check.h"
#include "core/pool.h"
#include "http/cache_rules.h"
#include "http/date.h"

#define T0 1700000000 /* a response_time */

static struct pool *pool;

/* Fields from alternating name/value pairs, NULL-terminated. */
static struct http_fields fields(const char *const *h)
{
    struct http_fields f = {0};
    for (size_t i = 0; h && h[i]; i += 2)
        http_fields_add(&f, pool, str_cstr(h[i]), str_cstr(h[i + 1]));
    return f;
}

#define H(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE   ((const char *const *)NULL)

static const char *date(time_t t)
{
    char *s = pool_alloc(pool, HTTP_DATE_LEN + 1);
    http_date_format(t, s);
    return s;
}

static struct cache_control res_cc(const char *v)
{
    struct cache_control cc;
    struct http_fields f = fields(H("Cache-Control", v));
    cache_control_parse(&f, false, &cc);
    return cc;
}

static struct cache_control req_cc(const char *v)
{
    struct cache_control cc;
    struct http_fields f = fields(H("Cache-Control", v));
    cache_control_parse(&f, true, &cc);
    return cc;
}

static void test_parse_response(void)
{
    struct cache_control cc = res_cc("max-age=60, public");
    CHECK_INT(cc.flags, CACHE_CC_MAX_AGE | CACHE_CC_PUBLIC);
    CHECK_INT(cc.max_age, 60);
    CHECK(!cc.freshness_invalid);
    /* case-insensitive names, OWS around commas, empty elements */
    cc = res_cc(" ,MAX-AGE=5 ,, S-MaxAge=7,NO-STORE ");
    CHECK_INT(cc.flags, CACHE_CC_MAX_AGE | CACHE_CC_S_MAXAGE | CACHE_CC_NO_STORE);
    CHECK_INT(cc.max_age, 5);
    CHECK_INT(cc.s_maxage, 7);
    /* quoted argument accepted (§5.2: recipients accept the quoted form) */
    cc = res_cc("max-age=\"10\"");
    CHECK_INT(cc.max_age, 10);
    CHECK(!cc.freshness_invalid);
    /* duplicates: equal values are fine, different ones make it stale (§4.2.1) */
    cc = res_cc("max-age=10, max-age=10");
    CHECK(!cc.freshness_invalid);
    CHECK_INT(cc.max_age, 10);
    cc = res_cc("max-age=10, max-age=20");
    CHECK(cc.freshness_invalid);
    struct http_fields two = fields(H("Cache-Control", "max-age=10", "Cache-Control", "max-age=5"));
    cache_control_parse(&two, false, &cc);
    CHECK(cc.freshness_invalid);
    /* malformed max-age is stale, not absent */
    CHECK(res_cc("max-age=-1").freshness_invalid);
    CHECK(res_cc("max-age=abc").freshness_invalid);
    CHECK(res_cc("max-age").freshness_invalid);
    CHECK(res_cc("max-age=").freshness_invalid);
    CHECK(res_cc("max-age=1.5").freshness_invalid);
    CHECK(res_cc("max-age=\"10").freshness_invalid);
    CHECK(res_cc("max-age=\"1\"0").freshness_invalid);
    CHECK(res_cc("s-maxage=x").freshness_invalid);
    CHECK(res_cc("max-age =5").freshness_invalid); /* no whitespace around '=' */
    CHECK(res_cc("max-age= 5").freshness_invalid);
    /* overflow caps at 2^31 (§1.2.2) */
    cc = res_cc("max-age=99999999999999999999999");
    CHECK(!cc.freshness_invalid);
    CHECK_INT(cc.max_age, CACHE_DELTA_MAX);
    CHECK_INT(res_cc("max-age=2147483647").max_age, 2147483647);
    CHECK_INT(res_cc("max-age=2147483648").max_age, CACHE_DELTA_MAX);
    /* unknown extensions and request-only directives are ignored */
    cc = res_cc("foo, bar=\"a, b\", community=\"UCI\", max-stale=5, only-if-cached, max-age=3");
    CHECK_INT(cc.flags, CACHE_CC_MAX_AGE);
    CHECK_INT(cc.max_age, 3);
    /* all the flags */
    cc = res_cc("no-transform, must-revalidate, proxy-revalidate, must-understand, immutable");
    CHECK_INT(cc.flags, CACHE_CC_NO_TRANSFORM | CACHE_CC_MUST_REVALIDATE |
                            CACHE_CC_PROXY_REVALIDATE | CACHE_CC_MUST_UNDERSTAND |
                            CACHE_CC_IMMUTABLE);
    /* public takes no argument: one with an argument is ignored; no-store counts anyway */
    CHECK_INT(res_cc("public=yes").flags, 0);
    CHECK_INT(res_cc("no-store=1").flags, CACHE_CC_NO_STORE);
    /* RFC 5861 */
    cc = res_cc("stale-while-revalidate=30, stale-if-error=600");
    CHECK_INT(cc.flags, CACHE_CC_STALE_WHILE_REVALIDATE | CACHE_CC_STALE_IF_ERROR);
    CHECK_INT(cc.stale_while_revalidate, 30);
    CHECK_INT(cc.stale_if_error, 600);
    CHECK_INT(res_cc("stale-while-revalidate").flags, 0);
    CHECK_INT(res_cc("stale-if-error=10, stale-if-error=5").stale_if_error, 5);
}

static void test_parse_qualified(void)
{
    struct cache_control cc = res_cc("private=\"Set-Cookie, X-User\", max-age=5");
    CHECK(cc.flags & CACHE_CC_PRIVATE);
    CHECK_STRN(cc.private_fields.p, cc.private_fields.len, "Set-Cookie, X-User");
    cc = res_cc("no-cache=\"set-cookie\"");
    CHECK(cc.flags & CACHE_CC_NO_CACHE);
    CHECK_STRN(cc.no_cache_fields.p, cc.no_cache_fields.len, "set-cookie");
    cc = res_cc("no-cache=set-cookie"); /* token form accepted */
    CHECK_STRN(cc.no_cache_fields.p, cc.no_cache_fields.len, "set-cookie");
    cc = res_cc("no-cache");
    CHECK(cc.flags & CACHE_CC_NO_CACHE);
    CHECK_INT(cc.no_cache_fields.len, 0);
    /* the unqualified form wins, as do malformed and empty lists */
    CHECK_INT(res_cc("no-cache=\"a\", no-cache").no_cache_fields.len, 0);
    CHECK_INT(res_cc("no-cache, no-cache=\"a\"").no_cache_fields.len, 0);
    CHECK_INT(res_cc("private=\"a b\"").private_fields.len, 0);
    CHECK_INT(res_cc("private=\"\"").private_fields.len, 0);
    CHECK(res_cc("private=\"\"").flags & CACHE_CC_PRIVATE);
}

static void test_parse_request(void)
{
    struct cache_control cc = req_cc("max-age=0");
    CHECK_INT(cc.flags, CACHE_CC_MAX_AGE);
    CHECK_INT(cc.max_age, 0);
    cc = req_cc("max-stale");
    CHECK_INT(cc.flags, CACHE_CC_MAX_STALE_ANY);
    cc = req_cc("max-stale=30, min-fresh=10, no-cache, no-store, no-transform, only-if-cached, "
                "stale-if-error=5");
    CHECK_INT(cc.flags, CACHE_CC_MAX_STALE | CACHE_CC_MIN_FRESH | CACHE_CC_NO_CACHE |
                            CACHE_CC_NO_STORE | CACHE_CC_NO_TRANSFORM | CACHE_CC_ONLY_IF_CACHED |
                            CACHE_CC_STALE_IF_ERROR);
    CHECK_INT(cc.max_stale, 30);
    CHECK_INT(cc.min_fresh, 10);
    CHECK_INT(cc.stale_if_error, 5);
    /* malformed request max-age asks for validation; duplicates take the strictest */
    cc = req_cc("max-age=x");
    CHECK_INT(cc.flags, CACHE_CC_MAX_AGE);
    CHECK_INT(cc.max_age, 0);
    CHECK_INT(req_cc("max-age=10, max-age=5").max_age, 5);
    CHECK_INT(req_cc("min-fresh=10, min-fresh=50").min_fresh, 50);
    CHECK_INT(req_cc("max-stale=10, max-stale=5").max_stale, 5);
    CHECK_INT(req_cc("min-fresh=-3").flags, 0);
    /* response-only directives are ignored in a request */
    CHECK_INT(req_cc("public, private, s-maxage=5, must-revalidate").flags, 0);
    /* Pragma: no-cache only without Cache-Control (§5.4) */
    struct http_fields f = fields(H("Pragma", "no-cache"));
    cache_control_parse(&f, true, &cc);
    CHECK_INT(cc.flags, CACHE_CC_NO_CACHE);
    f = fields(H("Pragma", "no-cache", "Cache-Control", "max-age=5"));
    cache_control_parse(&f, true, &cc);
    CHECK_INT(cc.flags, CACHE_CC_MAX_AGE);
    f = fields(H("Pragma", "no-cache"));
    cache_control_parse(&f, false, &cc);
    CHECK_INT(cc.flags, 0);
}

static void test_delta_age_expires(void)
{
    int64_t v;
    CHECK(cache_delta_parse(STR_LIT("0"), &v) && v == 0);
    CHECK(cache_delta_parse(STR_LIT("0042"), &v) && v == 42);
    CHECK(!cache_delta_parse(STR_LIT(""), &v));
    CHECK(!cache_delta_parse(STR_LIT("-1"), &v));
    CHECK(!cache_delta_parse(STR_LIT("+1"), &v));
    CHECK(!cache_delta_parse(STR_LIT("1 "), &v));
    CHECK(cache_delta_parse(STR_LIT("18446744073709551617"), &v) && v == CACHE_DELTA_MAX);
    struct http_fields f = fields(H("Age", "120"));
    CHECK_INT(cache_age_value(&f), 120);
    f = fields(NONE);
    CHECK_INT(cache_age_value(&f), 0);
    f = fields(H("Age", "x"));
    CHECK_INT(cache_age_value(&f), CACHE_DELTA_MAX);
    f = fields(H("Age", "1", "Age", "2"));
    CHECK_INT(cache_age_value(&f), CACHE_DELTA_MAX);
    f = fields(H("Age", "99999999999"));
    CHECK_INT(cache_age_value(&f), CACHE_DELTA_MAX);
    char out[16];
    CHECK_STRN(out, cache_age_format(0, out), "0");
    CHECK_STRN(out, cache_age_format(-5, out), "0");
    CHECK_STRN(out, cache_age_format(3600, out), "3600");
    CHECK_STRN(out, cache_age_format(INT64_MAX, out), "2147483648");
    time_t t;
    f = fields(H("Expires", "Thu, 01 Dec 1994 16:00:00 GMT"));
    CHECK(cache_expires(&f, &t) && t == 786297600);
    f = fields(H("Expires", "0")); /* §5.3: invalid means already expired */
    CHECK(cache_expires(&f, &t) && t == 0);
    f = fields(H("Expires", "Thu, 01 Dec 1994 16:00:00 GMT", "Expires",
                 "Fri, 02 Dec 1994 16:00:00 GMT")); /* differing lines: stale (§4.2.1) */
    CHECK(cache_expires(&f, &t) && t == 0);
    f = fields(
        H("Expires", "Thu, 01 Dec 1994 16:00:00 GMT", "Expires", "Thu, 01 Dec 1994 16:00:00 GMT"));
    CHECK(cache_expires(&f, &t) && t == 786297600);
    f = fields(NONE);
    CHECK(!cache_expires(&f, &t));
}

/* cache_storable cases: method, one request field, status, one response field. */
static const struct {
    enum http_method method;
    const char *req_name, *req_value;
    int status;
    const char *res_name, *res_value;
    enum cache_nostore want;
} storable_cases[] = {
    {HTTP_METHOD_GET, NULL, NULL, 200, NULL, NULL, CACHE_STORABLE},
    {HTTP_METHOD_HEAD, NULL, NULL, 200, NULL, NULL, CACHE_STORABLE},
    {HTTP_METHOD_POST, NULL, NULL, 200, "Cache-Control", "max-age=60", CACHE_NOSTORE_METHOD},
    {HTTP_METHOD_PUT, NULL, NULL, 200, NULL, NULL, CACHE_NOSTORE_METHOD},
    /* final, understood statuses */
    {HTTP_METHOD_GET, NULL, NULL, 103, NULL, NULL, CACHE_NOSTORE_STATUS},
    {HTTP_METHOD_GET, NULL, NULL, 304, NULL, NULL, CACHE_NOSTORE_STATUS},
    {HTTP_METHOD_GET, NULL, NULL, 206, "Cache-Control", "max-age=9", CACHE_NOSTORE_STATUS},
    /* an unknown status with explicit freshness, unless must-understand */
    {HTTP_METHOD_GET, NULL, NULL, 299, "Cache-Control", "max-age=9", CACHE_STORABLE},
    {HTTP_METHOD_GET, NULL, NULL, 299, "Cache-Control", "max-age=9, must-understand",
     CACHE_NOSTORE_STATUS},
    /* heuristically cacheable statuses need nothing more; the others need freshness */
    {HTTP_METHOD_GET, NULL, NULL, 404, NULL, NULL, CACHE_STORABLE},
    {HTTP_METHOD_GET, NULL, NULL, 302, NULL, NULL, CACHE_NOSTORE_NO_FRESHNESS},
    {HTTP_METHOD_GET, NULL, NULL, 500, NULL, NULL, CACHE_NOSTORE_NO_FRESHNESS},
    {HTTP_METHOD_GET, NULL, NULL, 302, "Cache-Control", "max-age=5", CACHE_STORABLE},
    {HTTP_METHOD_GET, NULL, NULL, 302, "Cache-Control", "s-maxage=5", CACHE_STORABLE},
    {HTTP_METHOD_GET, NULL, NULL, 302, "Cache-Control", "public", CACHE_STORABLE},
    {HTTP_METHOD_GET, NULL, NULL, 302, "Expires", "0", CACHE_STORABLE},
    /* no-store in either message */
    {HTTP_METHOD_GET, "Cache-Control", "no-store", 200, NULL, NULL, CACHE_NOSTORE_REQ_NO_STORE},
    {HTTP_METHOD_GET, NULL, NULL, 200, "Cache-Control", "no-store, max-age=5",
     CACHE_NOSTORE_NO_STORE},
    /* §5.2.2.3: must-understand with an understood status overrides no-store */
    {HTTP_METHOD_GET, NULL, NULL, 200, "Cache-Control", "must-understand, no-store",
     CACHE_STORABLE},
    /* private: the unqualified form forbids a shared cache; the qualified one strips fields */
    {HTTP_METHOD_GET, NULL, NULL, 200, "Cache-Control", "private, max-age=5",
     CACHE_NOSTORE_PRIVATE},
    {HTTP_METHOD_GET, NULL, NULL, 200, "Cache-Control", "private=\"set-cookie\"", CACHE_STORABLE},
    /* §3.5 Authorization */
    {HTTP_METHOD_GET, "Authorization", "Basic YTpi", 200, "Cache-Control", "max-age=60",
     CACHE_NOSTORE_AUTHORIZATION},
    {HTTP_METHOD_GET, "Authorization", "Basic YTpi", 200, NULL, NULL, CACHE_NOSTORE_AUTHORIZATION},
    {HTTP_METHOD_GET, "Authorization", "Basic YTpi", 200, "Cache-Control", "public",
     CACHE_STORABLE},
    {HTTP_METHOD_GET, "Authorization", "Basic YTpi", 200, "Cache-Control", "s-maxage=5",
     CACHE_STORABLE},
    {HTTP_METHOD_GET, "Authorization", "Basic YTpi", 200, "Cache-Control", "must-revalidate",
     CACHE_STORABLE},
};

static void test_storable(void)
{
    for (size_t i = 0; i < sizeof storable_cases / sizeof storable_cases[0]; i++) {
        struct http_fields rq = fields(H(storable_cases[i].req_name, storable_cases[i].req_value));
        struct http_fields rs = fields(H(storable_cases[i].res_name, storable_cases[i].res_value));
        struct cache_control qc, sc;
        cache_control_parse(&rq, true, &qc);
        cache_control_parse(&rs, false, &sc);
        enum cache_nostore got =
            cache_storable(storable_cases[i].method, &rq, &qc, storable_cases[i].status, &rs, &sc);
        if (got != storable_cases[i].want) fprintf(stderr, "storable case %zu: ", i);
        CHECK_INT(got, storable_cases[i].want);
    }
    CHECK_STR(cache_nostore_name(CACHE_NOSTORE_AUTHORIZATION), "authorization");
    CHECK_STR(cache_nostore_name(CACHE_NOSTORE_NO_STORE), "no-store");
}

static int64_t lifetime(int status, const char *const *res, bool *heuristic)
{
    struct http_fields f = fields(res);
    struct cache_control cc;
    cache_control_parse(&f, false, &cc);
    return cache_freshness_lifetime(&f, &cc, status, T0, 86400, heuristic);
}

static void test_freshness(void)
{
    bool h;
    CHECK_INT(lifetime(200, H("Cache-Control", "max-age=60"), &h), 60);
    CHECK(!h);
    /* s-maxage beats max-age in a shared cache, max-age beats Expires (§5.3) */
    CHECK_INT(lifetime(200, H("Cache-Control", "max-age=60, s-maxage=10"), NULL), 10);
    CHECK_INT(lifetime(200, H("Cache-Control", "max-age=60", "Expires", date(T0 + 1000)), NULL),
              60);
    CHECK_INT(lifetime(200, H("Date", date(T0 - 100), "Expires", date(T0 + 1000)), NULL), 1100);
    /* without Date, the response time */
    CHECK_INT(lifetime(200, H("Expires", date(T0 + 1000)), NULL), 1000);
    CHECK_INT(lifetime(200, H("Date", "garbage", "Expires", date(T0 + 1000)), NULL), 1000);
    CHECK_INT(lifetime(200, H("Expires", "0"), NULL), 0);
    CHECK_INT(lifetime(200, H("Date", date(T0), "Expires", date(T0 - 50)), NULL), 0);
    /* Expires wins over the heuristic even when invalid */
    CHECK_INT(lifetime(200, H("Expires", "0", "Last-Modified", date(T0 - 10000)), NULL), 0);
    /* invalid freshness is stale, whatever else */
    CHECK_INT(lifetime(200, H("Cache-Control", "max-age=10, max-age=20"), NULL), 0);
    CHECK_INT(lifetime(200, H("Cache-Control", "max-age=-5", "Expires", date(T0 + 99)), NULL), 0);
    /* §4.2.2 heuristic: 10% of Date - Last-Modified, capped, listed statuses or public only */
    CHECK_INT(lifetime(200, H("Date", date(T0), "Last-Modified", date(T0 - 10000)), &h), 1000);
    CHECK(h);
    CHECK_INT(lifetime(404, H("Last-Modified", date(T0 - 10000)), &h), 1000);
    CHECK_INT(lifetime(200, H("Last-Modified", date(T0 - 100 * 86400)), &h), 86400);
    CHECK_INT(lifetime(302, H("Last-Modified", date(T0 - 10000)), &h), 0);
    CHECK(!h);
    CHECK_INT(lifetime(500, H("Last-Modified", date(T0 - 10000)), &h), 0);
    CHECK_INT(lifetime(302, H("Cache-Control", "public", "Last-Modified", date(T0 - 10000)), &h),
              1000);
    CHECK_INT(lifetime(200, NONE, &h), 0); /* nothing to base a heuristic on */
    CHECK_INT(lifetime(200, H("Last-Modified", date(T0 + 500)), &h), 0); /* in the future */
    static const int heuristic[] = {200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501};
    for (size_t i = 0; i < sizeof heuristic / sizeof heuristic[0]; i++)
        CHECK(cache_status_heuristic(heuristic[i]));
    CHECK(!cache_status_heuristic(302));
    CHECK(!cache_status_heuristic(307));
    CHECK(!cache_status_heuristic(201));
    CHECK(!cache_status_heuristic(500));
}

static void test_age(void)
{
    /* §4.2.3: no Age, Date = response time, no delay */
    CHECK_INT(cache_age_compute(0, T0, T0, T0, T0), 0);
    CHECK_INT(cache_age_compute(0, T0, T0, T0, T0 + 30), 30);
    /* apparent age from a Date in the past */
    CHECK_INT(cache_age_compute(0, T0 - 20, T0, T0, T0 + 5), 25);
    /* corrected age: Age plus the response delay */
    CHECK_INT(cache_age_compute(100, T0, T0 - 2, T0, T0 + 5), 107);
    /* the larger of the two */
    CHECK_INT(cache_age_compute(10, T0 - 50, T0 - 1, T0, T0), 50);
    /* a Date in the future and a clock going backwards do not make it negative */
    CHECK_INT(cache_age_compute(0, T0 + 500, T0, T0, T0 - 10), 0);
    /* overflow caps at 2^31 */
    CHECK_INT(cache_age_compute(CACHE_DELTA_MAX, T0, 0, T0, T0 + 1000000), CACHE_DELTA_MAX);
    struct http_fields f = fields(H("Age", "60", "Date", date(T0 - 10)));
    CHECK_INT(cache_current_age(&f, T0 - 1, T0, T0 + 100), 161);
    f = fields(H("Age", "bogus"));
    CHECK_INT(cache_current_age(&f, T0, T0, T0), CACHE_DELTA_MAX);
}

/* cache_use_decide cases: request and response Cache-Control, lifetime, age, origin error. */
static const struct {
    const char *req, *res;
    int64_t lifetime, age;
    bool error;
    enum cache_use want;
} use_cases[] = {
    {"", "max-age=60", 60, 10, false, CACHE_USE_FRESH},
    {"", "max-age=60", 60, 60, false, CACHE_USE_VALIDATE}, /* age == lifetime */
    {"", "max-age=60", 60, 70, false, CACHE_USE_VALIDATE},
    /* request limits */
    {"max-age=5", "max-age=60", 60, 10, false, CACHE_USE_VALIDATE},
    {"max-age=10", "max-age=60", 60, 10, false, CACHE_USE_FRESH},
    {"min-fresh=55", "max-age=60", 60, 10, false, CACHE_USE_VALIDATE},
    {"min-fresh=50", "max-age=60", 60, 10, false, CACHE_USE_FRESH},
    {"no-cache", "max-age=60", 60, 10, false, CACHE_USE_VALIDATE},
    /* max-stale */
    {"max-stale", "max-age=60", 60, 1000, false, CACHE_USE_STALE},
    {"max-stale=20", "max-age=60", 60, 80, false, CACHE_USE_STALE},
    {"max-stale=20", "max-age=60", 60, 81, false, CACHE_USE_VALIDATE},
    {"max-stale, max-age=30", "max-age=60", 60, 80, false, CACHE_USE_VALIDATE},
    /* response no-cache: always validate, strictly */
    {"", "no-cache, max-age=60", 60, 0, false, CACHE_USE_VALIDATE_STRICT},
    {"", "no-cache, max-age=60", 60, 0, true, CACHE_USE_VALIDATE_STRICT},
    {"", "no-cache=\"set-cookie\", max-age=60", 60, 0, false, CACHE_USE_FRESH},
    /* must-revalidate, proxy-revalidate and s-maxage forbid stale use, even with max-stale */
    {"max-stale", "max-age=60, must-revalidate", 60, 70, false, CACHE_USE_VALIDATE_STRICT},
    {"max-stale", "max-age=60, proxy-revalidate", 60, 70, false, CACHE_USE_VALIDATE_STRICT},
    {"max-stale", "s-maxage=60", 60, 70, false, CACHE_USE_VALIDATE_STRICT},
    {"", "max-age=60, must-revalidate", 60, 10, false, CACHE_USE_FRESH},
    /* RFC 5861 stale-while-revalidate */
    {"", "max-age=60, stale-while-revalidate=30", 60, 90, false, CACHE_USE_STALE_REVALIDATE},
    {"", "max-age=60, stale-while-revalidate=30", 60, 91, false, CACHE_USE_VALIDATE},
    {"no-cache", "max-age=60, stale-while-revalidate=30", 60, 70, false, CACHE_USE_VALIDATE},
    /* RFC 5861 stale-if-error: only on an error, from either side */
    {"", "max-age=60, stale-if-error=100", 60, 100, false, CACHE_USE_VALIDATE},
    {"", "max-age=60, stale-if-error=100", 60, 100, true, CACHE_USE_STALE},
    {"", "max-age=60, stale-if-error=100", 60, 161, true, CACHE_USE_VALIDATE},
    {"stale-if-error=200", "max-age=60", 60, 200, true, CACHE_USE_STALE},
    {"", "max-age=60", 60, 61, true, CACHE_USE_VALIDATE},
    {"", "max-age=60, must-revalidate, stale-if-error=100", 60, 70, true,
     CACHE_USE_VALIDATE_STRICT},
    /* a fresh response beats an origin error */
    {"max-age=0", "max-age=60", 60, 10, true, CACHE_USE_FRESH},
};

static void test_use(void)
{
    for (size_t i = 0; i < sizeof use_cases / sizeof use_cases[0]; i++) {
        struct cache_control q = req_cc(use_cases[i].req), r = res_cc(use_cases[i].res);
        enum cache_use got =
            cache_use_decide(&q, &r, use_cases[i].lifetime, use_cases[i].age, use_cases[i].error);
        if (got != use_cases[i].want)
            fprintf(stderr, "use case %zu (%s | %s): ", i, use_cases[i].req, use_cases[i].res);
        CHECK_INT(got, use_cases[i].want);
    }
}

/* The calls a caching proxy makes, in order, on the examples of RFC 5861 §3.1 and §4.1. */
static enum cache_use pipeline(const char *cache_control, int64_t resident, bool error,
                               int64_t *ttl)
{
    struct http_fields rq = fields(NONE);
    struct http_fields rs = fields(H("Cache-Control", cache_control, "Date", date(T0)));
    struct cache_control qc, sc;
    cache_control_parse(&rq, true, &qc);
    cache_control_parse(&rs, false, &sc);
    CHECK_INT(cache_storable(HTTP_METHOD_GET, &rq, &qc, 200, &rs, &sc), CACHE_STORABLE);
    int64_t lifetime = cache_freshness_lifetime(&rs, &sc, 200, T0, 86400, NULL);
    int64_t age = cache_current_age(&rs, T0, T0, T0 + resident);
    *ttl = lifetime - age;
    return cache_use_decide(&qc, &sc, lifetime, age, error);
}

static void test_rfc5861_examples(void)
{
    int64_t ttl;
    /* §3.1: max-age=600, stale-while-revalidate=30 */
    CHECK_INT(pipeline("max-age=600, stale-while-revalidate=30", 599, false, &ttl),
              CACHE_USE_FRESH);
    CHECK_INT(ttl, 1);
    CHECK_INT(pipeline("max-age=600, stale-while-revalidate=30", 615, false, &ttl),
              CACHE_USE_STALE_REVALIDATE);
    CHECK_INT(ttl, -15);
    CHECK_INT(pipeline("max-age=600, stale-while-revalidate=30", 631, false, &ttl),
              CACHE_USE_VALIDATE);
    /* §4.1: max-age=600, stale-if-error=1200; an error 900 s later serves it, after 1800 not */
    CHECK_INT(pipeline("max-age=600, stale-if-error=1200", 900, false, &ttl), CACHE_USE_VALIDATE);
    CHECK_INT(pipeline("max-age=600, stale-if-error=1200", 900, true, &ttl), CACHE_USE_STALE);
    CHECK_INT(pipeline("max-age=600, stale-if-error=1200", 1800, true, &ttl), CACHE_USE_STALE);
    CHECK_INT(pipeline("max-age=600, stale-if-error=1200", 1801, true, &ttl), CACHE_USE_VALIDATE);
}

static bool vary(const char *const *res, const char *const *stored, const char *const *fresh)
{
    struct http_fields rs = fields(res), a = fields(stored), b = fields(fresh);
    return cache_vary_match(&rs, &a, &b);
}

static void test_vary(void)
{
    CHECK(vary(NONE, NONE, H("Accept", "x")));
    CHECK(!vary(H("Vary", "*"), NONE, NONE));
    CHECK(!vary(H("Vary", "accept, *"), NONE, NONE));
    CHECK(!vary(H("Vary", "accept", "Vary", "*"), NONE, NONE));
    CHECK(!vary(H("Vary", "acc ept"), NONE, NONE));
    CHECK(vary(H("Vary", "Accept-Encoding"), H("accept-encoding", "gzip"),
               H("Accept-Encoding", "gzip")));
    CHECK(!vary(H("Vary", "Accept-Encoding"), H("Accept-Encoding", "gzip"),
                H("Accept-Encoding", "br")));
    /* absent only matches absent; empty is not absent */
    CHECK(vary(H("Vary", "Accept-Encoding"), NONE, NONE));
    CHECK(!vary(H("Vary", "Accept-Encoding"), NONE, H("Accept-Encoding", "gzip")));
    CHECK(!vary(H("Vary", "Accept-Encoding"), H("Accept-Encoding", ""), NONE));
    /* two fields, OWS differences and split lines are the same (§4.1) */
    CHECK(vary(
        H("Vary", "Accept-Encoding,  Accept-Language"),
        H("Accept-Encoding", "gzip,br", "Accept-Language", "en;q=1, fr"),
        H("Accept-Language", "en ; q=1 ,fr", "Accept-Encoding", "gzip", "Accept-Encoding", " br")));
    CHECK(!vary(H("Vary", "Accept-Encoding, Accept-Language"),
                H("Accept-Encoding", "gzip", "Accept-Language", "en"),
                H("Accept-Encoding", "gzip", "Accept-Language", "fr")));
    /* order of elements matters; quoted strings are compared as they are */
    CHECK(!vary(H("Vary", "A"), H("A", "x, y"), H("A", "y, x")));
    CHECK(!vary(H("Vary", "A"), H("A", "\"a ; b\""), H("A", "\"a;b\"")));
    CHECK(vary(H("Vary", "A"), H("A", "\"a, b\""), H("A", " \"a, b\" ")));
    /* the value is case-sensitive in general */
    CHECK(!vary(H("Vary", "A"), H("A", "X"), H("A", "x")));
}

static void test_invalidation(void)
{
    CHECK(cache_invalidates(HTTP_METHOD_POST, 200));
    CHECK(cache_invalidates(HTTP_METHOD_PUT, 204));
    CHECK(cache_invalidates(HTTP_METHOD_DELETE, 303));
    CHECK(cache_invalidates(HTTP_METHOD_PATCH, 201));
    CHECK(cache_invalidates(HTTP_METHOD_UNKNOWN, 200));
    CHECK(!cache_invalidates(HTTP_METHOD_POST, 404));
    CHECK(!cache_invalidates(HTTP_METHOD_POST, 500));
    CHECK(!cache_invalidates(HTTP_METHOD_POST, 100));
    CHECK(!cache_invalidates(HTTP_METHOD_GET, 200));
    CHECK(!cache_invalidates(HTTP_METHOD_HEAD, 200));
    CHECK(!cache_invalidates(HTTP_METHOD_OPTIONS, 200));
    str_t p;
    str_t http = STR_LIT("http"), host = STR_LIT("example.com");
    CHECK(cache_invalidation_uri(http, host, STR_LIT("/a/b?c"), &p));
    CHECK_STRN(p.p, p.len, "/a/b?c");
    CHECK(cache_invalidation_uri(http, host, STR_LIT("http://EXAMPLE.com:80/x#frag"), &p));
    CHECK_STRN(p.p, p.len, "/x");
    CHECK(cache_invalidation_uri(http, host, STR_LIT("HTTP://example.com"), &p));
    CHECK_STRN(p.p, p.len, "/");
    CHECK(cache_invalidation_uri(http, host, STR_LIT("//example.com/y"), &p));
    CHECK_STRN(p.p, p.len, "/y");
    CHECK(!cache_invalidation_uri(http, host, STR_LIT("https://example.com/x"), &p));
    CHECK(!cache_invalidation_uri(http, host, STR_LIT("http://example.com:8080/x"), &p));
    CHECK(!cache_invalidation_uri(http, host, STR_LIT("http://other.example/x"), &p));
    CHECK(!cache_invalidation_uri(http, host, STR_LIT("http://u@example.com/x"), &p));
    CHECK(!cache_invalidation_uri(http, host, STR_LIT("relative/x"), &p));
    CHECK(!cache_invalidation_uri(http, host, STR_LIT(""), &p));
    CHECK(cache_invalidation_uri(STR_LIT("https"), STR_LIT("[::1]:443"), STR_LIT("https://[::1]/z"),
                                 &p));
    CHECK_STRN(p.p, p.len, "/z");
}

static const char *get(const struct http_fields *f, const char *name)
{
    const struct http_field *h = http_fields_find_name(f, str_cstr(name));
    return h ? pool_strndup(pool, h->value.p, h->value.len) : "(none)";
}

static void test_fields(void)
{
    struct cache_control cc = res_cc("private=\"X-User\", no-cache=\"set-cookie\"");
    struct http_fields f = fields(
        H("Content-Type", "text/plain", "Connection", "close, X-Hop", "X-Hop", "1", "Keep-Alive",
          "timeout=5", "Set-Cookie", "a=b", "X-User", "bob", "Transfer-Encoding", "chunked", "ETag",
          "\"1\"", "Proxy-Authenticate", "Basic", "proxy-authentication-info", "x"));
    cache_fields_for_store(&f, &cc);
    CHECK_INT(f.count, 2);
    CHECK_STR(get(&f, "content-type"), "text/plain");
    CHECK_STR(get(&f, "etag"), "\"1\"");
    /* without Cache-Control, the qualified lists are empty */
    f = fields(H("Set-Cookie", "a=b", "Upgrade", "h2c", "Vary", "accept"));
    cache_fields_for_store(&f, NULL);
    CHECK_INT(f.count, 2);
    CHECK_STR(get(&f, "vary"), "accept");

    /* §4.3.4: the 304's fields replace the stored ones, but not Content-Length (§3.2) */
    struct http_fields stored = fields(H("Content-Length", "10", "ETag", "\"1\"", "Cache-Control",
                                         "max-age=5", "X-A", "1", "X-A", "2", "Date", "old"));
    struct http_fields fresh =
        fields(H("Content-Length", "0", "Cache-Control", "max-age=60", "x-a", "3", "Date", "new",
                 "Connection", "x-b", "X-B", "hop", "Keep-Alive", "1", "X-C", "c"));
    CHECK_INT(cache_fields_update(&stored, pool, &fresh), 0);
    CHECK_STR(get(&stored, "content-length"), "10");
    CHECK_STR(get(&stored, "etag"), "\"1\"");
    CHECK_STR(get(&stored, "cache-control"), "max-age=60");
    CHECK_STR(get(&stored, "x-a"), "3");
    CHECK_STR(get(&stored, "date"), "new");
    CHECK_STR(get(&stored, "x-b"), "(none)");
    CHECK_STR(get(&stored, "connection"), "(none)");
    CHECK_STR(get(&stored, "keep-alive"), "(none)");
    CHECK_STR(get(&stored, "x-c"), "c");
    CHECK_INT(stored.count, 6);
}

static void test_validation(void)
{
    /* §4.3.1: the stored validators replace the client's */
    struct http_fields req = fields(H("If-None-Match", "\"client\"", "Accept", "*/*"));
    struct http_fields stored =
        fields(H("ETag", "W/\"v1\"", "Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"));
    CHECK_INT(cache_add_validators(&req, pool, &stored), 0);
    CHECK_INT(req.count, 3);
    CHECK_STR(get(&req, "if-none-match"), "W/\"v1\"");
    CHECK_STR(get(&req, "if-modified-since"), "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK_STR(get(&req, "accept"), "*/*");
    req = fields(H("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"));
    stored = fields(NONE);
    CHECK_INT(cache_add_validators(&req, pool, &stored), 0);
    CHECK_INT(req.count, 0);

    /* §4.3.4: which stored response a 304 freshens */
    struct http_fields strong = fields(H("ETag", "\"a\"")), weak = fields(H("ETag", "W/\"a\""));
    struct http_fields lm = fields(H("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"));
    struct http_fields none = fields(NONE);
    struct http_fields r = fields(H("ETag", "\"a\""));
    CHECK(cache_304_selects(&strong, &r));
    CHECK(!cache_304_selects(&weak, &r)); /* a strong validator needs a strong match */
    CHECK(!cache_304_selects(&none, &r));
    r = fields(H("ETag", "W/\"a\""));
    CHECK(cache_304_selects(&weak, &r));
    CHECK(cache_304_selects(&strong, &r));
    r = fields(H("ETag", "\"b\""));
    CHECK(!cache_304_selects(&strong, &r));
    r = fields(H("Last-Modified", "Sunday, 06-Nov-94 08:49:37 GMT"));
    CHECK(cache_304_selects(&lm, &r));
    CHECK(!cache_304_selects(&none, &r));
    r = fields(H("Last-Modified", "Sun, 06 Nov 1994 08:49:38 GMT"));
    CHECK(!cache_304_selects(&lm, &r));
    r = fields(NONE);
    CHECK(cache_304_selects(&none, &r));
    CHECK(!cache_304_selects(&strong, &r));
    CHECK(!cache_304_selects(&lm, &r));
}

static struct buf b;

static const char *status(const char *name, struct cache_status st)
{
    buf_clear(&b);
    CHECK_INT(cache_status_format(&b, str_cstr(name), &st), 0);
    return pool_strndup(pool, buf_ptr(&b), buf_size(&b));
}

static void test_cache_status(void)
{
    CHECK_STR(status("tern", (struct cache_status){.hit = true}), "tern; hit");
    CHECK_STR(status("tern", (struct cache_status){.hit = true, .has_ttl = true, .ttl = 376}),
              "tern; hit; ttl=376");
    CHECK_STR(status("tern", (struct cache_status){.fwd = CACHE_FWD_URI_MISS, .stored = true}),
              "tern; fwd=uri-miss; stored");
    CHECK_STR(status("tern", (struct cache_status){.fwd = CACHE_FWD_STALE, .fwd_status = 304}),
              "tern; fwd=stale; fwd-status=304");
    CHECK_STR(status("tern", (struct cache_status){.fwd = CACHE_FWD_BYPASS}), "tern; fwd=bypass");
    CHECK_STR(status("tern", (struct cache_status){.hit = true, .has_ttl = true, .ttl = -12}),
              "tern; hit; ttl=-12");
    CHECK_STR(status("tern", (struct cache_status){.fwd = CACHE_FWD_VARY_MISS, .collapsed = true}),
              "tern; fwd=vary-miss; collapsed");
    CHECK_STR(
        status("tern", (struct cache_status){.fwd = CACHE_FWD_MISS,
                                             .detail = cache_nostore_name(CACHE_NOSTORE_NO_STORE)}),
        "tern; fwd=miss; detail=no-store");
    /* a name that is not an sf-token becomes an sf-string */
    CHECK_STR(status("my cache \"1\"", (struct cache_status){.hit = true}),
              "\"my cache \\\"1\\\"\"; hit");
    CHECK_STR(status("tern", (struct cache_status){.fwd = CACHE_FWD_METHOD}), "tern; fwd=method");
    CHECK_STR(status("tern", (struct cache_status){.fwd = CACHE_FWD_REQUEST}), "tern; fwd=request");
    CHECK_STR(status("tern", (struct cache_status){.fwd = CACHE_FWD_PARTIAL}), "tern; fwd=partial");
}

int main(void)
{
    pool = pool_create(4096);
    test_parse_response();
    test_parse_qualified();
    test_parse_request();
    test_delta_age_expires();
    test_storable();
    test_freshness();
    test_age();
    test_use();
    test_rfc5861_examples();
    test_vary();
    test_invalidation();
    test_fields();
    test_validation();
    test_cache_status();
    buf_free(&b);
    pool_destroy(pool);
    return check_done("http/cache_rules");
}
