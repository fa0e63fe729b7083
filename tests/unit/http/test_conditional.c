/* http/conditional: RFC 9110 §13.2.2 evaluation order, §13.1.x details, If-Range §13.1.5. */
#include <string.h>

#include "check.h"
#include "core/pool.h"
#include "http/conditional.h"

#define LM  784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */
#define NOW 1700000000

static struct pool *pool;

/* A request with alternating name/value header pairs, NULL-terminated. */
static struct http_request make(enum http_method method, const char *const *hdrs)
{
    struct http_request req;
    memset(&req, 0, sizeof req);
    req.pool = pool;
    req.method = method;
    req.now = NOW;
    for (size_t i = 0; hdrs && hdrs[i]; i += 2)
        http_fields_add(&req.headers, pool, str_cstr(hdrs[i]), str_cstr(hdrs[i + 1]));
    return req;
}

static int eval(enum http_method method, const struct http_validators *v, const char *const *h)
{
    struct http_request req = make(method, h);
    return http_conditional_eval(&req, v);
}

static bool if_range(const struct http_validators *v, const char *const *h)
{
    struct http_request req = make(HTTP_METHOD_GET, h);
    return http_if_range_allows(&req, v);
}

#define H(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct http_validators file = {{"\"abc\"", 5}, LM, true};
static const struct http_validators weakfile = {{"W/\"abc\"", 7}, LM, true};
static const struct http_validators noetag = {{"", 0}, LM, true};
static const struct http_validators nodate = {{"\"abc\"", 5}, 0, true};
static const struct http_validators missing = {{"", 0}, 0, false};

static void test_if_match(void)
{
    CHECK_INT(eval(HTTP_METHOD_GET, &file, NULL), 0);
    CHECK_INT(eval(HTTP_METHOD_PUT, &file, H("If-Match", "\"abc\"")), 0);
    CHECK_INT(eval(HTTP_METHOD_PUT, &file, H("If-Match", "\"x\", \"abc\"")), 0);
    CHECK_INT(eval(HTTP_METHOD_PUT, &file, H("If-Match", "\"x\"")), 412);
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-Match", "\"x\"")), 412);     /* not 304 */
    CHECK_INT(eval(HTTP_METHOD_PUT, &file, H("If-Match", "W/\"abc\"")), 412); /* strong */
    CHECK_INT(eval(HTTP_METHOD_PUT, &weakfile, H("If-Match", "W/\"abc\"")), 412);
    CHECK_INT(eval(HTTP_METHOD_PUT, &file, H("If-Match", "*")), 0);
    CHECK_INT(eval(HTTP_METHOD_PUT, &noetag, H("If-Match", "*")), 0);
    CHECK_INT(eval(HTTP_METHOD_PUT, &missing, H("If-Match", "*")), 412);
    CHECK_INT(eval(HTTP_METHOD_PUT, &missing, H("If-Match", "\"abc\"")), 412);
    CHECK_INT(eval(HTTP_METHOD_PUT, &file, H("If-Match", "abc")), 412); /* malformed */
    /* a list split over two field lines */
    CHECK_INT(eval(HTTP_METHOD_PUT, &file, H("If-Match", "\"x\"", "If-Match", "\"abc\"")), 0);
    /* If-Match decides, If-Unmodified-Since is then not evaluated (step 2 is "else") */
    CHECK_INT(
        eval(HTTP_METHOD_PUT, &file,
             H("If-Match", "\"abc\"", "If-Unmodified-Since", "Sat, 01 Jan 1994 00:00:00 GMT")),
        0);
    /* If-Match true, If-None-Match then evaluated */
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-Match", "\"abc\"", "If-None-Match", "\"abc\"")),
              304);
    CHECK_INT(eval(HTTP_METHOD_POST, &file, H("If-Match", "\"abc\"", "If-None-Match", "\"abc\"")),
              412);
    /* If-Match false wins over a matching If-None-Match */
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-None-Match", "\"abc\"", "If-Match", "\"x\"")),
              412);
}

static void test_if_unmodified_since(void)
{
    CHECK_INT(
        eval(HTTP_METHOD_PUT, &file, H("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")), 0);
    CHECK_INT(
        eval(HTTP_METHOD_PUT, &file, H("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")),
        412);
    CHECK_INT(
        eval(HTTP_METHOD_GET, &file, H("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")),
        412);
    CHECK_INT(
        eval(HTTP_METHOD_PUT, &file, H("If-Unmodified-Since", "Sunday, 06-Nov-94 08:49:37 GMT")),
        0);
    /* invalid, repeated, or no Last-Modified: ignored */
    CHECK_INT(eval(HTTP_METHOD_PUT, &file, H("If-Unmodified-Since", "yesterday")), 0);
    CHECK_INT(eval(HTTP_METHOD_PUT, &file,
                   H("If-Unmodified-Since", "Sat, 01 Jan 1994 00:00:00 GMT", "If-Unmodified-Since",
                     "Sat, 01 Jan 1994 00:00:00 GMT")),
              0);
    CHECK_INT(
        eval(HTTP_METHOD_PUT, &nodate, H("If-Unmodified-Since", "Sat, 01 Jan 1994 00:00:00 GMT")),
        0);
}

static void test_if_none_match(void)
{
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-None-Match", "\"abc\"")), 304);
    CHECK_INT(eval(HTTP_METHOD_HEAD, &file, H("If-None-Match", "\"abc\"")), 304);
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-None-Match", "W/\"abc\"")), 304); /* weak */
    CHECK_INT(eval(HTTP_METHOD_GET, &weakfile, H("If-None-Match", "\"abc\"")), 304);
    CHECK_INT(eval(HTTP_METHOD_POST, &file, H("If-None-Match", "\"abc\"")), 412);
    CHECK_INT(eval(HTTP_METHOD_DELETE, &file, H("If-None-Match", "\"abc\"")), 412);
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-None-Match", "\"x\"")), 0);
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-None-Match", "*")), 304);
    CHECK_INT(eval(HTTP_METHOD_PUT, &file, H("If-None-Match", "*")), 412);
    CHECK_INT(eval(HTTP_METHOD_PUT, &missing, H("If-None-Match", "*")), 0); /* create-only PUT */
    CHECK_INT(eval(HTTP_METHOD_GET, &noetag, H("If-None-Match", "\"abc\"")), 0);
    /* If-None-Match present: If-Modified-Since is ignored, even when it would give 304 */
    CHECK_INT(
        eval(HTTP_METHOD_GET, &file,
             H("If-None-Match", "\"x\"", "If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")),
        0);
    CHECK_INT(
        eval(HTTP_METHOD_GET, &file,
             H("If-None-Match", "\"abc\"", "If-Modified-Since", "Sat, 01 Jan 1994 00:00:00 GMT")),
        304);
    /* a malformed If-None-Match is ignored: If-Modified-Since applies */
    CHECK_INT(eval(HTTP_METHOD_GET, &file,
                   H("If-None-Match", "abc", "If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")),
              304);
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-None-Match", "abc")), 0);
    /* If-Unmodified-Since true, then If-None-Match */
    CHECK_INT(
        eval(HTTP_METHOD_GET, &file,
             H("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT", "If-None-Match", "\"abc\"")),
        304);
}

static void test_if_modified_since(void)
{
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")),
              304);
    CHECK_INT(
        eval(HTTP_METHOD_HEAD, &file, H("If-Modified-Since", "Mon, 07 Nov 1994 08:49:37 GMT")),
        304);
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-Modified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")),
              0);
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-Modified-Since", "Sun Nov  6 08:49:37 1994")),
              304);
    /* only for GET and HEAD */
    CHECK_INT(
        eval(HTTP_METHOD_POST, &file, H("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")), 0);
    CHECK_INT(eval(HTTP_METHOD_PUT, &file, H("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")),
              0);
    /* invalid dates and dates after now are ignored */
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-Modified-Since", "06 Nov 1994")), 0);
    CHECK_INT(eval(HTTP_METHOD_GET, &file, H("If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT")),
              0);
    CHECK_INT(
        eval(HTTP_METHOD_GET, &nodate, H("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")), 0);
    CHECK_INT(
        eval(HTTP_METHOD_GET, &missing, H("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")),
        0);
}

static void test_if_range(void)
{
    CHECK(if_range(&file, NULL));
    CHECK(if_range(&file, H("If-Range", "\"abc\"")));
    CHECK(!if_range(&file, H("If-Range", "\"abd\"")));
    CHECK(!if_range(&file, H("If-Range", "W/\"abc\""))); /* weak never matches */
    CHECK(!if_range(&weakfile, H("If-Range", "W/\"abc\"")));
    CHECK(!if_range(&noetag, H("If-Range", "\"abc\"")));
    CHECK(if_range(&file, H("If-Range", "Sun, 06 Nov 1994 08:49:37 GMT")));
    CHECK(!if_range(&file, H("If-Range", "Sun, 06 Nov 1994 08:49:38 GMT"))); /* exact only */
    CHECK(!if_range(&file, H("If-Range", "Sun, 06 Nov 1994 08:49:36 GMT")));
    CHECK(!if_range(&nodate, H("If-Range", "Sun, 06 Nov 1994 08:49:37 GMT")));
    CHECK(!if_range(&file, H("If-Range", "garbage")));
    /* a date starting with 'W' is not a weak entity-tag */
    static const struct http_validators wed = {{"\"abc\"", 5}, 942189160, true};
    CHECK(if_range(&wed, H("If-Range", "Wed, 09 Nov 1999 23:12:40 GMT")));
    CHECK(if_range(&wed, H("If-Range", "Wednesday, 09-Nov-99 23:12:40 GMT")));
    CHECK(!if_range(&missing, H("If-Range", "\"abc\"")));
    CHECK(!if_range(&file, H("If-Range", "\"abc\"", "If-Range", "\"abc\"")));
}

int main(void)
{
    pool = pool_create(4096);
    test_if_match();
    test_if_unmodified_since();
    test_if_none_match();
    test_if_modified_since();
    test_if_range();
    pool_destroy(pool);
    return check_done("http/conditional");
}
