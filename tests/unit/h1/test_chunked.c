/* Tests for src/h1/chunked.c: the RFC 9112 §7.1 grammar, extensions, trailers, splits at every
 * byte position, in-place decoding, limits and every malformed case. */
#include "h1/chunked.h"

#include <stdlib.h>

#include "check.h"

struct trailers {
    char text[4096]; /* "name=value;" for each trailer */
    size_t len;
    int count;
};

static void on_trailer(void *ctx, str_t name, str_t value)
{
    struct trailers *t = ctx;
    t->len += (size_t)snprintf(t->text + t->len, sizeof(t->text) - t->len, "%.*s=%.*s;",
                               (int)name.len, name.p, (int)value.len, value.p);
    t->count++;
}

struct result {
    enum h1_chunked_result rc;
    size_t consumed; /* total input consumed */
    char out[8192];
    size_t out_len;
    struct trailers tr;
};

static void setup(struct h1_chunked_decoder *d, struct result *r, bool bare_lf)
{
    h1_chunked_decoder_init(d);
    d->allow_bare_lf = bare_lf;
    d->on_trailer = on_trailer;
    d->ctx = &r->tr;
    memset(r, 0, sizeof(*r));
}

/* Feeds in[0..len) in pieces of at most step bytes (0: whole), out to a separate buffer. */
static void decode_steps(const char *in, size_t len, size_t step, bool bare_lf,
                         struct h1_chunked_decoder *d, struct result *r)
{
    setup(d, r, bare_lf);
    size_t pos = 0;
    r->rc = H1_CHUNKED_MORE;
    do {
        size_t n = step && len - pos > step ? step : len - pos;
        size_t used, olen;
        r->rc = h1_chunked_decode(d, in + pos, n, &used, r->out + r->out_len, &olen);
        r->out_len += olen;
        pos += used;
        if (r->rc != H1_CHUNKED_MORE) break;
        CHECK_INT(used, n);
    } while (pos < len);
    r->consumed = pos;
}

/* Decodes whole, byte by byte, split at every position and in place; all must agree. Returns
 * the whole-input result in *r. */
static void decode_all_ways(const char *in, size_t len, bool bare_lf, struct result *r)
{
    struct h1_chunked_decoder d;
    static struct result other;
    decode_steps(in, len, 0, bare_lf, &d, r);
    decode_steps(in, len, 1, bare_lf, &d, &other);
    CHECK_INT(other.rc, r->rc);
    CHECK_INT(other.consumed, r->consumed);
    CHECK(other.out_len == r->out_len && memcmp(other.out, r->out, r->out_len) == 0);
    CHECK(other.tr.len == r->tr.len && memcmp(other.tr.text, r->tr.text, r->tr.len) == 0);
    for (size_t split = 1; split < len; split++) {
        setup(&d, &other, bare_lf);
        size_t used1, olen1, used2 = 0, olen2 = 0;
        enum h1_chunked_result rc = h1_chunked_decode(&d, in, split, &used1, other.out, &olen1);
        if (rc == H1_CHUNKED_MORE)
            rc = h1_chunked_decode(&d, in + split, len - split, &used2, other.out + olen1, &olen2);
        CHECK_INT(rc, r->rc);
        CHECK_INT(used1 + used2, r->consumed);
        CHECK(olen1 + olen2 == r->out_len && memcmp(other.out, r->out, r->out_len) == 0);
        CHECK_INT(other.tr.count, r->tr.count);
    }
    /* in place, in two pieces */
    char *buf = malloc(len + 1);
    memcpy(buf, in, len);
    setup(&d, &other, bare_lf);
    size_t half = len / 2, used1, olen1, used2 = 0, olen2 = 0;
    enum h1_chunked_result rc = h1_chunked_decode(&d, buf, half, &used1, buf, &olen1);
    if (rc == H1_CHUNKED_MORE)
        rc = h1_chunked_decode(&d, buf + half, len - half, &used2, buf + half, &olen2);
    CHECK_INT(rc, r->rc);
    CHECK_INT(used1 + used2, r->consumed);
    CHECK(olen1 + olen2 == r->out_len && memcmp(buf, r->out, olen1) == 0 &&
          memcmp(buf + half, r->out + olen1, olen2) == 0);
    free(buf);
}

static struct result res;

static void expect_body(const char *in, const char *body, bool bare_lf)
{
    size_t len = strlen(in);
    decode_all_ways(in, len, bare_lf, &res);
    if (res.rc != H1_CHUNKED_DONE) fprintf(stderr, "not DONE (%d) for \"%s\"\n", res.rc, in);
    CHECK_INT(res.rc, H1_CHUNKED_DONE);
    CHECK_INT(res.consumed, len);
    CHECK_STRN(res.out, res.out_len, body);
}

static void expect_error(const char *in, bool bare_lf, int line)
{
    decode_all_ways(in, strlen(in), bare_lf, &res);
    if (res.rc != H1_CHUNKED_ERROR)
        fprintf(stderr, "line %d: rc %d, expected an error for \"%s\"\n", line, res.rc, in);
    CHECK_INT(res.rc, H1_CHUNKED_ERROR);
}

#define BAD(in)      expect_error((in), false, __LINE__)
#define BAD_BARE(in) expect_error((in), true, __LINE__)

static void test_valid(void)
{
    expect_body("4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n",
                "Wikipedia in\r\n\r\nchunks.", false);
    expect_body("0\r\n\r\n", "", false);
    expect_body("000\r\n\r\n", "", false);
    expect_body("00005\r\nhello\r\n0\r\n\r\n", "hello", false);
    expect_body("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij", false);
    expect_body("1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n", "\r\n", false); /* CR LF as data */
    /* extensions (RFC 9112 §7.1.1), BWS around ';' and '=' */
    expect_body("5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello", false);
    expect_body("5;a;b=c;d=\"\"\r\nhello\r\n0\r\n\r\n", "hello", false);
    expect_body("5 ;a = b\r\nhello\r\n0\r\n\r\n", "hello", false);
    expect_body("5\t; a\t=\t\"x y\\\"z\\\\\" ; b\r\nhello\r\n0\r\n\r\n", "hello", false);
    expect_body("5;a=\"\xc3\xa9\"\r\nhello\r\n0\r\n\r\n", "hello", false);
    expect_body("5;a ;b\r\nhello\r\n0\r\n\r\n", "hello", false);
    /* bare LF when allowed */
    expect_body("5\nhello\n0\n\n", "hello", true);
    expect_body("5\r\nhello\n0;x=y\nT: v\n\n", "hello", true);
    CHECK_INT(res.tr.count, 1);
}

static void test_trailers(void)
{
    expect_body("3\r\nabc\r\n0\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Sum:  ab c \t\r\n"
                "Empty:\r\n\r\n",
                "abc", false);
    CHECK_INT(res.tr.count, 3);
    CHECK_STR(res.tr.text, "Expires=Wed, 21 Oct 2015 07:28:00 GMT;X-Sum=ab c;Empty=;");
    expect_body("0\r\nX: caf\xc3\xa9\r\n\r\n", "", false);
    CHECK_STR(res.tr.text, "X=caf\xc3\xa9;");
    /* data after the end is not consumed */
    struct h1_chunked_decoder d;
    setup(&d, &res, false);
    const char *in = "2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    size_t used, olen;
    CHECK_INT(h1_chunked_decode(&d, in, strlen(in), &used, res.out, &olen), H1_CHUNKED_DONE);
    CHECK_INT(used, 12);
    CHECK_STRN(res.out, olen, "hi");
    CHECK_INT(h1_chunked_decode(&d, in + used, 5, &used, res.out, &olen), H1_CHUNKED_DONE);
    CHECK_INT(used, 0);
    CHECK_INT(olen, 0);
    /* no callback set */
    h1_chunked_decoder_init(&d);
    in = "0\r\nA: b\r\n\r\n";
    CHECK_INT(h1_chunked_decode(&d, in, strlen(in), &used, res.out, &olen), H1_CHUNKED_DONE);
}

static void test_malformed(void)
{
    BAD("\r\n");
    BAD(";a\r\n");
    BAD(" 5\r\n");
    BAD("g\r\n");
    BAD("-5\r\n");
    BAD("+5\r\n");
    BAD("0x5\r\n");
    BAD("5 \r\nhello\r\n0\r\n\r\n");
    BAD("5\t\r\nhello\r\n0\r\n\r\n");
    BAD("5x\r\n");
    BAD("5;\r\n");
    BAD("5; \r\n");
    BAD("5;=a\r\n");
    BAD("5;a=\r\n");
    BAD("5;a =\r\n");
    BAD("5;a \r\n");
    BAD("5;a=b \r\n");
    BAD("5;a b\r\n");
    BAD("5;a=b c\r\n");
    BAD("5;a=\"x\r\n");
    BAD("5;a=\"x\"y\r\n");
    BAD("5;a=\"\x01\"\r\n");
    BAD("5;a=\"\\\x01\"\r\n");
    BAD("5;a(=b\r\n");
    BAD("5;a=b(\r\n");
    BAD("5;a,b\r\n");
    BAD("5\rhello\r\n");
    BAD("5\r\r\n");
    BAD("5\r\nhelloX\r\n0\r\n\r\n");
    BAD("5\r\nhello\r0\r\n\r\n");
    BAD("5\r\nhello\n0\r\n\r\n");
    BAD("5\nhello\r\n0\r\n\r\n");
    BAD("5\r\nhello\r\n0\n\r\n");
    BAD("5\r\nhello\r\n0\r\n\n");
    BAD("0\r\nA: b\n\r\n");
    BAD("0\r\nA: b\rc\r\n\r\n");
    BAD("0\r\n\r\r\n");
    BAD("0\r\nA : b\r\n\r\n");
    BAD("0\r\n: b\r\n\r\n");
    BAD("0\r\nAb\r\n\r\n");
    BAD("0\r\nA: b\r\n c\r\n\r\n");
    BAD("0\r\n c\r\n\r\n");
    BAD("0\r\nA: \x7f\r\n\r\n");
    BAD("0\r\nA: \x01\r\n\r\n");
    BAD_BARE("5\r\nhello\r0\n\n");
    BAD_BARE("5\rx\n");
    /* sizes: 2^63 - 1 is accepted (then more data is awaited), 2^63 is not */
    decode_all_ways("7fffffffffffffff\r\n", 18, false, &res);
    CHECK_INT(res.rc, H1_CHUNKED_MORE);
    decode_all_ways("000007FFFFFFFFFFFFFFF\r\n", 23, false, &res);
    CHECK_INT(res.rc, H1_CHUNKED_MORE);
    BAD("8000000000000000\r\n");
    BAD("ffffffffffffffff\r\n");
    BAD("10000000000000000\r\n");
    BAD("100000000000000000000000000000000\r\n");
    /* NUL inside a line */
    struct h1_chunked_decoder d;
    size_t used, olen;
    char out[16];
    h1_chunked_decoder_init(&d);
    CHECK_INT(h1_chunked_decode(&d, "5\0\r\n", 4, &used, out, &olen), H1_CHUNKED_ERROR);
    CHECK(d.error != NULL);
    CHECK_INT(h1_chunked_decode(&d, "0\r\n\r\n", 5, &used, out, &olen), H1_CHUNKED_ERROR);
    CHECK_INT(used, 0);
    h1_chunked_decoder_init(&d);
    CHECK_INT(h1_chunked_decode(&d, "0\r\nA: \0\r\n\r\n", 11, &used, out, &olen), H1_CHUNKED_ERROR);
}

static void test_limits(void)
{
    struct h1_chunked_decoder d;
    size_t used, olen;
    char out[4096];
    /* size line: exactly max_line bytes before CRLF, then one more */
    const char *ok = "5;aaaaaaa\r\nhello\r\n0\r\n\r\n"; /* 9 bytes */
    h1_chunked_decoder_init(&d);
    d.max_line = 9;
    CHECK_INT(h1_chunked_decode(&d, ok, strlen(ok), &used, out, &olen), H1_CHUNKED_DONE);
    const char *bad = "5;aaaaaaaa\r\nhello\r\n0\r\n\r\n";
    h1_chunked_decoder_init(&d);
    d.max_line = 9;
    CHECK_INT(h1_chunked_decode(&d, bad, strlen(bad), &used, out, &olen), H1_CHUNKED_ERROR);
    CHECK_STR(d.error, "chunk size line too long");
    CHECK_INT(used, 10); /* found without waiting for the line end */
    /* the default: 4096 */
    static char big[10000];
    memset(big, '0', sizeof(big));
    h1_chunked_decoder_init(&d);
    CHECK_INT(h1_chunked_decode(&d, big, 4096, &used, out, &olen), H1_CHUNKED_MORE);
    CHECK_INT(h1_chunked_decode(&d, big, 1, &used, out, &olen), H1_CHUNKED_ERROR);
    /* trailers: "A: b\r\n" is 6 bytes; limit 12 allows two, not three */
    const char *t2 = "0\r\nA: b\r\nB: c\r\n\r\n";
    const char *t3 = "0\r\nA: b\r\nB: c\r\nC: d\r\n\r\n";
    h1_chunked_decoder_init(&d);
    d.max_trailer = 12;
    CHECK_INT(h1_chunked_decode(&d, t2, strlen(t2), &used, out, &olen), H1_CHUNKED_DONE);
    h1_chunked_decoder_init(&d);
    d.max_trailer = 12;
    CHECK_INT(h1_chunked_decode(&d, t3, strlen(t3), &used, out, &olen), H1_CHUNKED_ERROR);
    CHECK_STR(d.error, "trailer section too large");
    CHECK_INT(used, 16); /* the first byte past the limit */
    /* a trailer line longer than the decoder's line buffer */
    h1_chunked_decoder_init(&d);
    memcpy(big, "0\r\nX: ", 6);
    memset(big + 6, 'v', sizeof(d.line) - 3);
    memcpy(big + 6 + sizeof(d.line) - 3, "\r\n\r\n", 4);
    CHECK_INT(h1_chunked_decode(&d, big, 6 + sizeof(d.line) - 3 + 4, &used, out, &olen),
              H1_CHUNKED_DONE);
    h1_chunked_decoder_init(&d);
    memset(big + 6, 'v', sizeof(d.line) - 2);
    memcpy(big + 6 + sizeof(d.line) - 2, "\r\n\r\n", 4);
    CHECK_INT(h1_chunked_decode(&d, big, 6 + sizeof(d.line) - 2 + 4, &used, out, &olen),
              H1_CHUNKED_ERROR);
    CHECK_STR(d.error, "trailer line too long");
}

static void test_large_in_place(void)
{
    /* many chunks of varying sizes, encoded with h1_chunk_header, decoded in place */
    static char body[70000], enc[80000];
    size_t blen = 0, elen = 0;
    for (size_t sz = 1; blen + sz < sizeof(body) - 20000; sz = sz * 3 + 1) {
        for (size_t i = 0; i < sz; i++)
            body[blen + i] = (char)('a' + (blen + i) % 26);
        elen += h1_chunk_header(enc + elen, sz);
        memcpy(enc + elen, body + blen, sz);
        elen += sz;
        memcpy(enc + elen, "\r\n", 2);
        elen += 2;
        blen += sz;
    }
    memcpy(enc + elen, H1_CHUNKED_END, 5);
    elen += 5;
    struct h1_chunked_decoder d;
    h1_chunked_decoder_init(&d);
    size_t pos = 0, olen_total = 0;
    enum h1_chunked_result rc = H1_CHUNKED_MORE;
    while (rc == H1_CHUNKED_MORE && pos < elen) {
        size_t n = elen - pos < 777 ? elen - pos : 777, used, olen;
        rc = h1_chunked_decode(&d, enc + pos, n, &used, enc + olen_total, &olen);
        pos += used;
        olen_total += olen;
    }
    CHECK_INT(rc, H1_CHUNKED_DONE);
    CHECK_INT(pos, elen);
    CHECK(olen_total == blen && memcmp(enc, body, blen) == 0);
}

static void test_header(void)
{
    char out[20];
    size_t n = h1_chunk_header(out, 0);
    CHECK_STRN(out, n, "0\r\n");
    n = h1_chunk_header(out, 1);
    CHECK_STRN(out, n, "1\r\n");
    n = h1_chunk_header(out, 255);
    CHECK_STRN(out, n, "ff\r\n");
    n = h1_chunk_header(out, 4096);
    CHECK_STRN(out, n, "1000\r\n");
    n = h1_chunk_header(out, 0xabcdef);
    CHECK_STRN(out, n, "abcdef\r\n");
    n = h1_chunk_header(out, SIZE_MAX);
    CHECK_INT(n, sizeof(size_t) * 2 + 2);
    CHECK_STRN(out, 4, "ffff");
    CHECK_STR(H1_CHUNKED_END, "0\r\n\r\n");
}

int main(void)
{
    test_valid();
    test_trailers();
    test_malformed();
    test_limits();
    test_large_in_place();
    test_header();
    return check_done("h1/chunked");
}
