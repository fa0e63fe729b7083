/* Tests for src/h1/parser.c: valid heads, every rejection with its status, resumption (each
 * case is also fed byte by byte into a growing buffer and must give the same answer) and the
 * limits at exactly the limit and one over. */
#include "h1/parser.h"

#include <stdlib.h>

#include "check.h"

#define MAXF 64

static struct h1_parse_options defaults(void)
{
    return (struct h1_parse_options){
        .max_request_line = 8192, .max_head_size = 16384, .max_fields = MAXF};
}

static char whole_buf[1 << 17];
static char grow_buf[1 << 17];
static struct h1_field whole_fields[MAXF + 8];
static struct h1_field grow_fields[MAXF + 8];

/* Parses s[0..len) one-shot (result in *h / *e) and byte by byte; CHECKs the two agree. */
static int run_opts(const char *s, size_t len, const struct h1_parse_options *o,
                    struct h1_request_head *h, struct h1_error *e)
{
    struct h1_parser p = {0};
    memcpy(whole_buf, s, len);
    memset(h, 0, sizeof(*h));
    h->fields = whole_fields;
    *e = (struct h1_error){0};
    int rc = h1_parse_request_head(&p, whole_buf, len, o, h, e);

    struct h1_parser q;
    h1_parser_reset(&q);
    struct h1_request_head g = {.fields = grow_fields};
    struct h1_error ge = {0};
    int grc = 0;
    for (size_t n = 0; n <= len && grc == 0; n++) {
        if (n) grow_buf[n - 1] = s[n - 1];
        grc = h1_parse_request_head(&q, grow_buf, n, o, &g, &ge);
    }
    CHECK_INT(grc, rc);
    if (grc == rc && rc < 0) {
        CHECK_INT(ge.status, e->status);
        CHECK(ge.reason && e->reason && strcmp(ge.reason, e->reason) == 0);
    }
    if (grc == rc && rc > 0) {
        CHECK(str_eq(g.method, (str_t){grow_buf + (h->method.p - whole_buf), h->method.len}));
        CHECK(g.target.len == h->target.len && g.target.p - grow_buf == h->target.p - whole_buf);
        CHECK_INT(g.version, h->version);
        CHECK_INT(g.n_fields, h->n_fields);
        for (size_t i = 0; i < g.n_fields && i < h->n_fields; i++) {
            CHECK(g.fields[i].name.p - grow_buf == h->fields[i].name.p - whole_buf);
            CHECK_INT(g.fields[i].value.len, h->fields[i].value.len);
        }
        CHECK_INT(g.chunked, h->chunked);
        CHECK_INT(g.content_length, h->content_length);
        CHECK_INT(g.keep_alive, h->keep_alive);
        CHECK_INT(g.upgrade, h->upgrade);
        CHECK_INT(g.expect_continue, h->expect_continue);
        CHECK_INT(g.expect_unsupported, h->expect_unsupported);
        CHECK_INT(g.target_form, h->target_form);
    }
    return rc;
}

static int run(const char *s, struct h1_request_head *h, struct h1_error *e)
{
    struct h1_parse_options o = defaults();
    return run_opts(s, strlen(s), &o, h, e);
}

/* Expected status of a rejected head under options o (NULL: defaults). */
static void expect_status_opts(const char *s, const struct h1_parse_options *o, int status,
                               int line)
{
    struct h1_parse_options d = defaults();
    struct h1_request_head h;
    struct h1_error e;
    int rc = run_opts(s, strlen(s), o ? o : &d, &h, &e);
    if (rc != -1 || e.status != status) {
        fprintf(stderr, "line %d: rc %d status %d (%s), expected %d for \"%s\"\n", line, rc,
                e.status, e.reason ? e.reason : "", status, s);
    }
    CHECK_INT(rc, -1);
    CHECK_INT(e.status, status);
}

#define REJECT(s, st)         expect_status_opts((s), NULL, (st), __LINE__)
#define REJECT_OPTS(s, o, st) expect_status_opts((s), (o), (st), __LINE__)
#define ACCEPT(s)             accept_opts((s), NULL, __LINE__)
#define ACCEPT_OPTS(s, o)     accept_opts((s), (o), __LINE__)

static struct h1_request_head last;

static void accept_opts(const char *s, const struct h1_parse_options *o, int line)
{
    struct h1_parse_options d = defaults();
    struct h1_error e = {0};
    int rc = run_opts(s, strlen(s), o ? o : &d, &last, &e);
    if (rc != (int)strlen(s))
        fprintf(stderr, "line %d: rc %d (%d %s) for \"%s\"\n", line, rc, e.status,
                e.reason ? e.reason : "", s);
    CHECK_INT(rc, strlen(s));
}

static void test_basic_get(void)
{
    const char *req = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
                      "User-Agent: test/1.0\r\nAccept:*/*\r\nX-Pad:  a b \t\r\n\r\n";
    struct h1_request_head h;
    struct h1_error e;
    int rc = run(req, &h, &e);
    CHECK_INT(rc, strlen(req));
    CHECK_STRN(h.method.p, h.method.len, "GET");
    CHECK_STRN(h.target.p, h.target.len, "/index.html?q=1");
    CHECK_INT(h.version, 11);
    CHECK_INT(h.target_form, H1_TARGET_ORIGIN);
    CHECK_INT(h.n_fields, 4);
    CHECK_STRN(h.fields[0].name.p, h.fields[0].name.len, "Host");
    CHECK_STRN(h.fields[0].value.p, h.fields[0].value.len, "example.com");
    CHECK_STRN(h.fields[1].name.p, h.fields[1].name.len, "User-Agent");
    CHECK_STRN(h.fields[1].value.p, h.fields[1].value.len, "test/1.0");
    CHECK_STRN(h.fields[2].value.p, h.fields[2].value.len, "*/*");
    CHECK_STRN(h.fields[3].value.p, h.fields[3].value.len, "a b");
    CHECK_STRN(h.host.p, h.host.len, "example.com");
    CHECK(h.keep_alive);
    CHECK(!h.chunked);
    CHECK_INT(h.content_length, -1);
    CHECK(!h.expect_continue && !h.expect_unsupported && !h.upgrade);
}

static void test_forms(void)
{
    ACCEPT("GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n");
    CHECK_INT(last.target_form, H1_TARGET_ABSOLUTE);
    CHECK_STRN(last.target.p, last.target.len, "http://example.com/x?y");
    ACCEPT("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(last.target_form, H1_TARGET_ASTERISK);
    ACCEPT("OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n");
    ACCEPT("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    CHECK_INT(last.target_form, H1_TARGET_AUTHORITY);
    ACCEPT("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n");
    ACCEPT("CONNECT 10.0.0.1:1 HTTP/1.1\r\nHost: a\r\n\r\n");
    ACCEPT("get / HTTP/1.1\r\nHost: a\r\n\r\n"); /* methods are case-sensitive tokens */
    CHECK_STRN(last.method.p, last.method.len, "get");
    REJECT("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("CONNECT http://a:1/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("CONNECT a:99999 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_request_line_errors(void)
{
    REJECT("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    struct h1_parse_options o = defaults();
    o.allow_target_obs_text = true;
    ACCEPT_OPTS("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", &o);
    REJECT("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET\r\n\r\n", 400);
    REJECT("GET \r\n\r\n", 400);
    REJECT("/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\n\r\n", 400); /* bare LF */
    REJECT("GET / HTTP/1.1\r\r\n\r\n", 400);
    REJECT("\x16\x03\x01\x02\x05\x01\x7f\x01\xfc\x03\x03\n", 400); /* TLS on a plain port */
}

static void test_versions(void)
{
    ACCEPT("GET / HTTP/1.0\r\n\r\n");
    CHECK_INT(last.version, 10);
    CHECK(!last.keep_alive);
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(last.version, 11);
    /* RFC 9110 §2.5: a higher 1.x minor version is handled as 1.1 */
    ACCEPT("GET / HTTP/1.2\r\nHost: a\r\n\r\n");
    CHECK_INT(last.version, 11);
    ACCEPT("GET / HTTP/1.9\r\nHost: a\r\n\r\n");
    CHECK_INT(last.version, 11);
    REJECT("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    REJECT("GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505);
    REJECT("GET / HTTP/0.9\r\n\r\n", 505);
    REJECT("GET / HTTP/9.9\r\n\r\n", 505);
    REJECT("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/11\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1,1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/a.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTPS/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n", 400);
}

static void test_http09(void)
{
    struct h1_parse_options o = defaults();
    o.http09 = true;
    ACCEPT_OPTS("GET /path\r\n", &o);
    CHECK_INT(last.version, 9);
    CHECK_STRN(last.target.p, last.target.len, "/path");
    CHECK_INT(last.n_fields, 0);
    CHECK(!last.keep_alive);
    /* the head ends at the line: what follows is not part of it */
    struct h1_request_head h;
    struct h1_error e;
    const char *s = "GET /x\r\nHost: a\r\n\r\n";
    CHECK_INT(run_opts(s, strlen(s), &o, &h, &e), 8);
    REJECT_OPTS("POST /path\r\n", &o, 400);
    REJECT_OPTS("get /path\r\n", &o, 400);
    REJECT_OPTS("GET *\r\n", &o, 400);
    REJECT_OPTS("GET /path\n", &o, 400);
    o.allow_bare_lf = true;
    ACCEPT_OPTS("GET /path\n", &o);
    REJECT("GET /path\r\n", 400); /* http09 off: no version is malformed (RFC 9112 §3) */
    REJECT("GET /path\r\n\r\n", 400);
}

static void test_leading_empty_lines(void)
{
    ACCEPT("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_STRN(last.method.p, last.method.len, "GET");
    CHECK_STRN(last.target.p, last.target.len, "/");
    REJECT("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT("\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    REJECT(" \r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    struct h1_parse_options o = defaults();
    o.allow_bare_lf = true;
    ACCEPT_OPTS("\n\r\nGET / HTTP/1.1\nHost: a\n\n", &o);
    CHECK_INT(last.n_fields, 1);
    CHECK_STRN(last.fields[0].value.p, last.fields[0].value.len, "a");
}

static void test_pipelined(void)
{
    static char buf[256];
    const char *a = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *b = "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
    size_t la = strlen(a), lb = strlen(b);
    memcpy(buf, a, la);
    memcpy(buf + la, b, lb);
    struct h1_parse_options o = defaults();
    struct h1_parser p;
    struct h1_field f[MAXF];
    struct h1_request_head h = {.fields = f};
    struct h1_error e;
    h1_parser_reset(&p);
    CHECK_INT(h1_parse_request_head(&p, buf, la + lb, &o, &h, &e), la);
    CHECK_STRN(h.target.p, h.target.len, "/a");
    h1_parser_reset(&p);
    int rc = h1_parse_request_head(&p, buf + la, lb, &o, &h, &e);
    CHECK_INT(rc, lb - 3);
    CHECK_STRN(h.method.p, h.method.len, "POST");
    CHECK_INT(h.content_length, 3);
    /* the first head split mid-way, then moved to a new buffer before the next call */
    static char moved[256];
    h1_parser_reset(&p);
    CHECK_INT(h1_parse_request_head(&p, buf, 20, &o, &h, &e), 0);
    memcpy(moved, buf, la + lb);
    CHECK_INT(h1_parse_request_head(&p, moved, la + lb, &o, &h, &e), la);
    CHECK(h.target.p == moved + 4);
}

static void test_field_errors(void)
{
    REJECT("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX(: b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX\r: b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\n\rX: b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: b\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: a\x1b[0m\r\n\r\n", 400);
    /* NUL (strlen would stop at it, so give the length) */
    {
        static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
        struct h1_parse_options o = defaults();
        struct h1_request_head h;
        struct h1_error e;
        CHECK_INT(run_opts(s, sizeof(s) - 1, &o, &h, &e), -1);
        CHECK_INT(e.status, 400);
        static const char s2[] = "GET / HTTP/1.1\r\nHost: a\r\nX\0: b\r\n\r\n";
        CHECK_INT(run_opts(s2, sizeof(s2) - 1, &o, &h, &e), -1);
        CHECK_INT(e.status, 400);
        static const char s3[] = "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n";
        CHECK_INT(run_opts(s3, sizeof(s3) - 1, &o, &h, &e), -1);
        CHECK_INT(e.status, 400);
    }
    /* obs-fold */
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
    struct h1_parse_options o = defaults();
    o.allow_obs_fold = true;
    ACCEPT_OPTS("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n \t c \r\nY: d\r\n\r\n", &o);
    CHECK_INT(last.n_fields, 3);
    CHECK_STRN(last.fields[1].value.p, last.fields[1].value.len, "a   b   \t c");
    CHECK_STRN(last.fields[2].value.p, last.fields[2].value.len, "d");
    ACCEPT_OPTS("GET / HTTP/1.1\r\nHost: a\r\nX:\r\n b\r\n\r\n", &o);
    CHECK_STRN(last.fields[1].value.p, last.fields[1].value.len, "b");
    REJECT_OPTS("GET / HTTP/1.1\r\n Host: a\r\n\r\n", &o, 400);
    REJECT_OPTS("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n 2\r\n\r\n", &o, 400);
    REJECT_OPTS("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\rc\r\n\r\n", &o, 400);
}

static void test_field_values(void)
{
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9 \xff\x80\r\n\r\n");
    CHECK_STRN(last.fields[1].value.p, last.fields[1].value.len, "caf\xc3\xa9 \xff\x80");
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\nX:\ta\tb\t\r\nEmpty:\r\nE2:   \r\n\r\n");
    CHECK_STRN(last.fields[1].value.p, last.fields[1].value.len, "a\tb");
    CHECK_INT(last.fields[2].value.len, 0);
    CHECK_INT(last.fields[3].value.len, 0);
    ACCEPT("GET / HTTP/1.1\r\nhOsT: a\r\n!#$%&'*+-.^_`|~09aZ: \"x\"\r\n\r\n");
    CHECK_STRN(last.host.p, last.host.len, "a");
    struct h1_parse_options o = defaults();
    o.allow_bare_lf = true;
    ACCEPT_OPTS("GET / HTTP/1.1\nHost: a\r\nX: b\n\r\n", &o);
    CHECK_INT(last.n_fields, 2);
    CHECK_STRN(last.fields[1].value.p, last.fields[1].value.len, "b");
    REJECT_OPTS("GET / HTTP/1.1\nHost: a\rX: b\n\n", &o, 400);
}

static void test_host(void)
{
    REJECT("GET / HTTP/1.1\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: \r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 400);
    REJECT("GET / HTTP/1.0\r\nHost: [::1\r\n\r\n", 400);
    REJECT("GET http://a/ HTTP/1.1\r\n\r\n", 400); /* RFC 9112 §3.2.2 */
    ACCEPT("GET / HTTP/1.0\r\n\r\n");
    CHECK_INT(last.host.len, 0);
    ACCEPT("GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n");
    CHECK_STRN(last.host.p, last.host.len, "[2001:db8::1]:8080");

    CHECK(h1_host_is_valid(STR_LIT("example.com")));
    CHECK(h1_host_is_valid(STR_LIT("EXAMPLE.com:80")));
    CHECK(h1_host_is_valid(STR_LIT("127.0.0.1:65535")));
    CHECK(h1_host_is_valid(STR_LIT("a:")));
    CHECK(h1_host_is_valid(STR_LIT("ex%41mple_-~.!$&'()*+,;=")));
    CHECK(h1_host_is_valid(STR_LIT("[::1]")));
    CHECK(h1_host_is_valid(STR_LIT("[::ffff:1.2.3.4]:1")));
    CHECK(h1_host_is_valid(STR_LIT("[v1.fe:x]")));
    CHECK(!h1_host_is_valid(STR_LIT("")));
    CHECK(!h1_host_is_valid(STR_LIT(":80")));
    CHECK(!h1_host_is_valid(STR_LIT("a:65536")));
    CHECK(!h1_host_is_valid(STR_LIT("a:000080")));
    CHECK(!h1_host_is_valid(STR_LIT("a:8x")));
    CHECK(!h1_host_is_valid(STR_LIT("a:1:2")));
    CHECK(!h1_host_is_valid(STR_LIT("ex%4")));
    CHECK(!h1_host_is_valid(STR_LIT("ex%zz")));
    CHECK(!h1_host_is_valid(STR_LIT("[::1]x")));
    CHECK(!h1_host_is_valid(STR_LIT("[::g]")));
    CHECK(!h1_host_is_valid(STR_LIT("[]")));
    CHECK(!h1_host_is_valid(STR_LIT("[v.x]")));
    CHECK(!h1_host_is_valid(STR_LIT("[fe80::1%25eth0]")));
    CHECK(!h1_host_is_valid(STR_LIT("a\"b")));
    CHECK(!h1_host_is_valid(STR_LIT("caf\xc3\xa9")));
}

static void test_content_length(void)
{
    ACCEPT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
    CHECK_INT(last.content_length, 5);
    ACCEPT("POST / HTTP/1.1\r\nHost: a\r\ncontent-length:0\r\n\r\n");
    CHECK_INT(last.content_length, 0);
    ACCEPT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  007 \r\n\r\n");
    CHECK_INT(last.content_length, 7);
    ACCEPT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n");
    CHECK_INT(last.content_length, INT64_MAX);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
    /* strict: even identical duplicates are rejected */
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400);
    REJECT("POST / HTTP/1.0\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400);
}

static void test_transfer_encoding(void)
{
    ACCEPT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(last.chunked);
    CHECK_INT(last.content_length, -1);
    ACCEPT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n");
    CHECK(last.chunked);
    ACCEPT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked, \r\n\r\n");
    CHECK(last.chunked);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
           "chunked\r\n\r\n",
           501);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x-foo, chunked\r\n\r\n", 501);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
           "gzip\r\n\r\n",
           400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
           "chunked\r\n\r\n",
           400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunk ed\r\n\r\n", 400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
           "5\r\n\r\n",
           400);
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: "
           "gzip, chunked\r\n\r\n",
           400);
    REJECT("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

static void test_connection(void)
{
    ACCEPT("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK(last.keep_alive);
    ACCEPT("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    CHECK(last.keep_alive);
    ACCEPT("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
    CHECK(!last.keep_alive);
    ACCEPT("GET / HTTP/1.0\r\nConnection: foo\r\n\r\n");
    CHECK(!last.keep_alive);
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n");
    CHECK(!last.keep_alive);
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: close\r\n\r\n");
    CHECK(!last.keep_alive);
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n");
    CHECK(last.keep_alive);
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
           "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n");
    CHECK(last.upgrade);
    CHECK(last.keep_alive);
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n");
    CHECK(!last.upgrade);
    ACCEPT("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
    CHECK(!last.upgrade);
    ACCEPT("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    CHECK(!last.upgrade); /* RFC 9110 §7.8: ignored in 1.0 */
}

static void test_expect(void)
{
    ACCEPT("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    CHECK(last.expect_continue);
    CHECK(!last.expect_unsupported);
    ACCEPT("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n");
    CHECK(last.expect_continue);
    ACCEPT("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n");
    CHECK(!last.expect_continue);
    CHECK(last.expect_unsupported);
    ACCEPT("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n");
    CHECK(last.expect_unsupported);
    ACCEPT("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
    CHECK(!last.expect_continue); /* RFC 9110 §10.1.1 */
    CHECK(!last.expect_unsupported);
}

static void test_limits(void)
{
    static char req[40000];
    struct h1_parse_options o = defaults();
    o.max_request_line = 64;
    o.max_head_size = 1024;
    o.max_fields = 4;
    /* request line of exactly 64 bytes, then 65 */
    char target[80];
    memset(target, 'a', sizeof(target));
    target[0] = '/';
    snprintf(req, sizeof(req), "GET %.*s HTTP/1.1\r\nHost: a\r\n\r\n", 64 - 13, target);
    ACCEPT_OPTS(req, &o);
    snprintf(req, sizeof(req), "GET %.*s HTTP/1.1\r\nHost: a\r\n\r\n", 65 - 13, target);
    REJECT_OPTS(req, &o, 414);
    /* incomplete line: 414 as soon as it is too long */
    snprintf(req, sizeof(req), "GET %.*s", 61, target);
    REJECT_OPTS(req, &o, 414);
    snprintf(req, sizeof(req), "GET %.*s", 60, target); /* exactly 64: wait */
    {
        struct h1_request_head h;
        struct h1_error e;
        CHECK_INT(run_opts(req, strlen(req), &o, &h, &e), 0);
        strcat(req, "\r");
        CHECK_INT(run_opts(req, strlen(req), &o, &h, &e), 0);
    }
    /* fields: 4 ok, 5 too many */
    ACCEPT_OPTS("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &o);
    REJECT_OPTS("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", &o, 431);
    REJECT_OPTS("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n", &o, 431);
    /* whole head of exactly 1024 bytes, then 1025 */
    const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    size_t fill = 1024 - strlen(pre) - 4;
    snprintf(req, sizeof(req), "%s%s\r\n\r\n", pre, "");
    memset(req + strlen(pre), 'x', fill);
    memcpy(req + strlen(pre) + fill, "\r\n\r\n", 5);
    CHECK_INT(strlen(req), 1024);
    ACCEPT_OPTS(req, &o);
    memset(req + strlen(pre), 'x', fill + 1);
    memcpy(req + strlen(pre) + fill + 1, "\r\n\r\n", 5);
    REJECT_OPTS(req, &o, 431);
    /* incomplete head: 431 as soon as it must exceed */
    req[1024] = '\0';
    REJECT_OPTS(req, &o, 431);
    req[1023] = '\0';
    {
        struct h1_request_head h;
        struct h1_error e;
        CHECK_INT(run_opts(req, 1023, &o, &h, &e), 0);
    }
    /* leading empty lines count towards the head size */
    memset(req, 0, sizeof(req));
    for (int i = 0; i < 600; i++)
        memcpy(req + 2 * i, "\r\n", 2);
    strcat(req, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    REJECT_OPTS(req, &o, 431);
    /* a long request line against a small head limit: whichever is crossed first */
    o.max_request_line = 100;
    o.max_head_size = 60;
    snprintf(req, sizeof(req), "GET /%0120d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    REJECT_OPTS(req, &o, 431);
    o.max_request_line = 20;
    REJECT_OPTS(req, &o, 414);
    o.max_request_line = 59;
    REJECT_OPTS(req, &o, 414); /* crossed at offset 60, the head limit at 60 too: 414 first */
    o.max_request_line = 60;
    REJECT_OPTS(req, &o, 431);
    /* defaults: a big head still parses */
    o = defaults();
    size_t n = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < MAXF - 1; i++)
        n += (size_t)snprintf(req + n, sizeof(req) - n, "X-Field-%d: %0200d\r\n", i, i);
    n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
    o.max_head_size = n;
    ACCEPT_OPTS(req, &o);
    CHECK_INT(last.n_fields, MAXF);
    o.max_head_size = n - 1;
    REJECT_OPTS(req, &o, 431);
}

int main(void)
{
    test_basic_get();
    test_forms();
    test_request_line_errors();
    test_versions();
    test_http09();
    test_leading_empty_lines();
    test_pipelined();
    test_field_errors();
    test_field_values();
    test_host();
    test_content_length();
    test_transfer_encoding();
    test_connection();
    test_expect();
    test_limits();
    return check_done("h1/parser");
}
