/* Unit tests for the static handler and body sources: a temporary docroot, requests built by
 * hand, static_handle called directly, bodies drained (and decompressed) and compared. */
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "check.h"
#include "handler/static.h"
#include "http/body.h"
#include "http/header.h"
#include "http/request.h"
#include "http/response.h"
#include "server/config.h"

static char root[PATH_MAX];
static char outside[PATH_MAX];
static struct config *cfg;
static struct static_cache *cache;

/* ---- fixture ---- */

static void write_file(const char *rel, const void *data, size_t len)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        exit(2);
    }
    fwrite(data, 1, len, f);
    fclose(f);
}

static void set_mtime(const char *rel, time_t t)
{
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    utimensat(AT_FDCWD, rel, ts, 0);
}

static char *rootpath(const char *rel)
{
    static char p[4][PATH_MAX * 2];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", root, rel);
    return p[i];
}

static char *gzip_bytes(const char *in, size_t len, size_t *out_len)
{
    z_stream z = {0};
    deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, len);
    char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static char *br_bytes(const char *in, size_t len, size_t *out_len)
{
    size_t cap = BrotliEncoderMaxCompressedSize(len);
    char *out = malloc(cap);
    *out_len = cap;
    BrotliEncoderCompress(5, 22, BROTLI_MODE_TEXT, len, (const uint8_t *)in, out_len,
                          (uint8_t *)out);
    return out;
}

static char *zstd_bytes(const char *in, size_t len, size_t *out_len)
{
    size_t cap = ZSTD_compressBound(len);
    char *out = malloc(cap);
    *out_len = ZSTD_compress(out, cap, in, len, 3);
    return out;
}

static char *text_data(size_t len, unsigned seed)
{
    static const char *words[] = {"alpha ", "beta ", "gamma\n", "delta ", "epsilon ", "<p>"};
    char *p = malloc(len);
    size_t at = 0;
    while (at < len) {
        seed = seed * 1103515245 + 12345;
        const char *w = words[(seed >> 16) % 6];
        for (size_t i = 0; w[i] && at < len; i++)
            p[at++] = w[i];
    }
    return p;
}

static char *bin_data;
static char *big_txt;  /* 100 KB: compressed whole */
static char *huge_txt; /* 400 KB: streamed */
static char *pre_css;

#define BIN_LEN  10000
#define BIG_LEN  100000
#define HUGE_LEN 400000
#define PRE_LEN  5000

static void make_docroot(void)
{
    strcpy(root, "/tmp/tern-static-XXXXXX");
    strcpy(outside, "/tmp/tern-outside-XXXXXX");
    if (!mkdtemp(root) || !mkdtemp(outside)) {
        perror("mkdtemp");
        exit(2);
    }
    write_file("hello.txt", "Hello, world!\n", 14);
    bin_data = malloc(BIN_LEN);
    for (int i = 0; i < BIN_LEN; i++)
        bin_data[i] = (char)(i * 7 + i / 256);
    write_file("data.bin", bin_data, BIN_LEN);
    big_txt = text_data(BIG_LEN, 1);
    write_file("big.txt", big_txt, BIG_LEN);
    huge_txt = text_data(HUGE_LEN, 2);
    write_file("huge.txt", huge_txt, HUGE_LEN);
    write_file(".hidden.txt", "dot\n", 4);
    mkdir(rootpath(".git"), 0755);
    write_file(".git/config", "[core]\n", 7);
    mkdir(rootpath("a"), 0755);
    mkdir(rootpath("a/.hidden"), 0755);
    write_file("a/.hidden/x", "x", 1);
    mkdir(rootpath("a/b.c"), 0755);
    write_file("a/b.c/d.txt", "d", 1);
    mkdir(rootpath(".well-known"), 0755);
    write_file(".well-known/x.txt", "wk\n", 3);
    mkdir(rootpath(".well-known/.git"), 0755);
    write_file(".well-known/.git/x", "x", 1);

    pre_css = text_data(PRE_LEN, 3);
    write_file("pre.css", pre_css, PRE_LEN);
    size_t n;
    char *z = gzip_bytes(pre_css, PRE_LEN, &n);
    write_file("pre.css.gz", z, n);
    free(z);
    z = br_bytes(pre_css, PRE_LEN, &n);
    write_file("pre.css.br", z, n);
    free(z);
    z = zstd_bytes(pre_css, PRE_LEN, &n);
    write_file("pre.css.zst", z, n);
    free(z);
    time_t now = time(NULL);
    /* fresh.bin has a newer .gz; stale.bin's .gz is older than the file: ignored */
    write_file("fresh.bin", bin_data, 3000);
    z = gzip_bytes(bin_data, 3000, &n);
    write_file("fresh.bin.gz", z, n);
    write_file("stale.bin", bin_data, 3000);
    write_file("stale.bin.gz", z, n);
    free(z);
    set_mtime(rootpath("fresh.bin"), now - 100);
    set_mtime(rootpath("fresh.bin.gz"), now - 50);
    set_mtime(rootpath("stale.bin"), now - 50);
    set_mtime(rootpath("stale.bin.gz"), now - 100);

    mkdir(rootpath("sub"), 0755);
    write_file("sub/index.html", "<h1>sub</h1>\n", 13);
    write_file("sub/page.txt", "page\n", 5);
    mkdir(rootpath("list"), 0755);
    mkdir(rootpath("list/adir"), 0755);
    write_file("list/<a&b>.txt", "x", 1);
    write_file("list/z.txt", "zz", 2);
    write_file("list/.secret", "s", 1);
    write_file("noperm.txt", "no", 2);
    chmod(rootpath("noperm.txt"), 0);

    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/secret.txt", outside);
    FILE *f = fopen(p, "w");
    fputs("top secret\n", f);
    fclose(f);
    if (symlink(p, rootpath("escape.txt")) < 0 || symlink(outside, rootpath("escdir")) < 0 ||
        symlink("hello.txt", rootpath("link.txt")) < 0 ||
        symlink("../hello.txt", rootpath("sub/up.txt")) < 0 ||
        symlink("../../../../../../../../etc/passwd", rootpath("dotdot.txt")) < 0) {
        perror("symlink");
        exit(2);
    }
}

static void rm_tree(void)
{
    char cmd[PATH_MAX * 3];
    chmod(rootpath("noperm.txt"), 0644);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", root, outside);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
}

/* ---- requests ---- */

struct rq {
    struct pool *pool;
    struct http_request req;
    struct http_response resp;
    int rc;
};

/* hdrs: name, value, name, value, ..., NULL */
static void run_loc(struct rq *r, const struct config *c, const struct config_location *loc,
                    enum http_method m, const char *path, const char *query,
                    const char *const *hdrs)
{
    memset(r, 0, sizeof(*r));
    r->pool = pool_create(4096);
    r->req.pool = r->pool;
    r->req.method = m;
    r->req.version = 11;
    r->req.path = str_cstr(path);
    if (query) {
        r->req.has_query = true;
        r->req.query = str_cstr(query);
    }
    r->req.now = time(NULL);
    for (size_t i = 0; hdrs && hdrs[i]; i += 2)
        http_fields_add(&r->req.headers, r->pool, str_cstr(hdrs[i]), str_cstr(hdrs[i + 1]));
    r->resp.content_length = -2;
    r->rc = static_handle(cache, c, loc, &r->req, path, &r->resp);
}

static void run(struct rq *r, enum http_method m, const char *path, const char *const *hdrs)
{
    run_loc(r, cfg, &cfg->servers[0].locations[0], m, path, NULL, hdrs);
}

static char *hdr(struct rq *r, enum http_token t)
{
    const struct http_field *f = http_fields_find(&r->resp.headers, t);
    return f ? pool_strndup(r->pool, f->value.p, f->value.len) : NULL;
}

/* Drains the body in uneven pieces, closes it; returns malloc'd bytes. */
static char *drain(struct rq *r, size_t *len)
{
    size_t cap = 1024, at = 0;
    char *out = malloc(cap);
    *len = 0;
    if (!r->resp.body) return out;
    static const size_t maxes[] = {7, 4096, 1, 65536, 1000};
    struct body_chunk ch;
    enum body_next_result res;
    for (int i = 0; (res = r->resp.body->next(r->resp.body, &ch, maxes[i % 5])) == BODY_CHUNK;
         i++) {
        CHECK(ch.len > 0 && ch.len <= maxes[i % 5]);
        while (at + ch.len > cap)
            out = realloc(out, cap *= 2);
        ssize_t n = body_chunk_copy(&ch, out + at, ch.len);
        CHECK_INT(n, ch.len);
        at += ch.len;
    }
    CHECK_INT(res, BODY_END);
    if (r->resp.body->close) r->resp.body->close(r->resp.body);
    r->resp.body = NULL;
    *len = at;
    return out;
}

static void done(struct rq *r)
{
    if (r->resp.body && r->resp.body->close) r->resp.body->close(r->resp.body);
    pool_destroy(r->pool);
}

static void check_body(struct rq *r, const char *want, size_t want_len)
{
    size_t n;
    char *b = drain(r, &n);
    CHECK_INT(n, want_len);
    CHECK(n == want_len && memcmp(b, want, n) == 0);
    free(b);
}

static char *decode(const char *coding, const char *in, size_t len, size_t *out_len)
{
    size_t cap = 1 << 20;
    char *out = malloc(cap);
    *out_len = 0;
    if (strcmp(coding, "gzip") == 0) {
        z_stream z = {0};
        inflateInit2(&z, 31);
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        z.next_out = (Bytef *)out;
        z.avail_out = (uInt)cap;
        int rc = inflate(&z, Z_FINISH);
        CHECK_INT(rc, Z_STREAM_END);
        *out_len = cap - z.avail_out;
        inflateEnd(&z);
    } else if (strcmp(coding, "br") == 0) {
        size_t n = cap;
        CHECK_INT(BrotliDecoderDecompress(len, (const uint8_t *)in, &n, (uint8_t *)out),
                  BROTLI_DECODER_RESULT_SUCCESS);
        *out_len = n;
    } else if (strcmp(coding, "zstd") == 0) {
        size_t n = ZSTD_decompress(out, cap, in, len);
        CHECK(!ZSTD_isError(n));
        *out_len = ZSTD_isError(n) ? 0 : n;
    }
    return out;
}

/* ---- tests ---- */

static void test_body_sources(void)
{
    struct pool *p = pool_create(1024);
    struct body_source *m = body_source_mem(p, "abcdefghij", 10);
    struct body_chunk ch;
    CHECK_INT(m->next(m, &ch, 4), BODY_CHUNK);
    CHECK_INT(ch.kind, BODY_CHUNK_MEM);
    CHECK_STRN(ch.data, ch.len, "abcd");
    CHECK_INT(m->next(m, &ch, 100), BODY_CHUNK);
    CHECK_STRN(ch.data, ch.len, "efghij");
    CHECK_INT(m->next(m, &ch, 100), BODY_END);

    int fd = open(rootpath("hello.txt"), O_RDONLY);
    struct body_source *f = body_source_file(p, fd, 7, 7);
    CHECK_INT(f->next(f, &ch, 3), BODY_CHUNK);
    CHECK_INT(ch.kind, BODY_CHUNK_FILE);
    CHECK_INT(ch.fd, fd);
    CHECK_INT(ch.offset, 7);
    CHECK_INT(ch.len, 3);
    char buf[16];
    CHECK_INT(body_chunk_copy(&ch, buf, 2), 2);
    CHECK_STRN(buf, 2, "wo");
    CHECK_INT(f->next(f, &ch, 100), BODY_CHUNK);
    CHECK_INT(ch.offset, 10);
    CHECK_INT(body_chunk_copy(&ch, buf, sizeof(buf)), 4);
    CHECK_STRN(buf, 4, "ld!\n");
    CHECK_INT(f->next(f, &ch, 100), BODY_END);
    /* a range past the end of the file cannot be copied */
    struct body_source *g = body_source_file(p, fd, 10, 20);
    CHECK_INT(g->next(g, &ch, 100), BODY_CHUNK);
    CHECK_INT(body_chunk_copy(&ch, buf, sizeof(buf)), -1);
    close(fd);
    pool_destroy(p);
}

static void test_plain(void)
{
    struct rq r;
    run(&r, HTTP_METHOD_GET, "/hello.txt", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_INT(r.resp.status, 200);
    CHECK_INT(r.resp.content_length, 14);
    CHECK_STR(hdr(&r, HTTP_TOKEN_CONTENT_TYPE), "text/plain; charset=utf-8");
    CHECK_STR(hdr(&r, HTTP_TOKEN_ACCEPT_RANGES), "bytes");
    CHECK(hdr(&r, HTTP_TOKEN_ETAG) && hdr(&r, HTTP_TOKEN_ETAG)[0] == '"');
    CHECK(hdr(&r, HTTP_TOKEN_LAST_MODIFIED) && strlen(hdr(&r, HTTP_TOKEN_LAST_MODIFIED)) == 29);
    CHECK(hdr(&r, HTTP_TOKEN_VARY) == NULL); /* too small to compress, no siblings */
    CHECK(hdr(&r, HTTP_TOKEN_CONTENT_ENCODING) == NULL);
    CHECK(hdr(&r, HTTP_TOKEN_CACHE_CONTROL) == NULL);
    check_body(&r, "Hello, world!\n", 14);
    done(&r);

    run(&r, HTTP_METHOD_HEAD, "/hello.txt", NULL);
    CHECK_INT(r.resp.status, 200);
    CHECK_INT(r.resp.content_length, 14);
    CHECK(r.resp.body == NULL);
    done(&r);

    /* Cache-Control from the location */
    cfg->servers[0].locations[0].cache_control = "max-age=60";
    run(&r, HTTP_METHOD_GET, "/data.bin", NULL);
    CHECK_INT(r.resp.status, 200);
    CHECK_STR(hdr(&r, HTTP_TOKEN_CACHE_CONTROL), "max-age=60");
    CHECK_STR(hdr(&r, HTTP_TOKEN_CONTENT_TYPE), "application/octet-stream");
    check_body(&r, bin_data, BIN_LEN);
    done(&r);
    cfg->servers[0].locations[0].cache_control = NULL;
}

static int status_of(const char *path)
{
    struct rq r;
    run(&r, HTTP_METHOD_GET, path, NULL);
    int status = r.rc < 0 ? -1 : r.resp.status;
    done(&r);
    return status;
}

static void test_dotfiles(void)
{
    struct config_location *loc = &cfg->servers[0].locations[0];
    CHECK_INT(loc->dotfiles, false); /* the default */
    static const char *const hidden[] = {"/.hidden.txt",        "/.git/config", "/a/.hidden/x",
                                         "/.well-known/.git/x", "/.git/",       "/.git",
                                         "/list/.secret"};
    for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
        CHECK_INT(status_of(hidden[i]), 404);
        if (status_of(hidden[i]) != 404) fprintf(stderr, "  path %s\n", hidden[i]);
    }
    CHECK_INT(status_of("/.well-known/x.txt"), 200); /* RFC 8615 */
    CHECK_INT(status_of("/.well-known"), 301);
    CHECK_INT(status_of("/.well-known/nope"), 404);
    CHECK_INT(status_of("/a/b.c/d.txt"), 200); /* a dot inside a name is not a dotfile */

    loc->dotfiles = true;
    struct rq r;
    run(&r, HTTP_METHOD_GET, "/.hidden.txt", NULL);
    CHECK_INT(r.resp.status, 200);
    check_body(&r, "dot\n", 4);
    done(&r);
    CHECK_INT(status_of("/.git/config"), 200);
    CHECK_INT(status_of("/a/.hidden/x"), 200);
    CHECK_INT(status_of("/.well-known/.git/x"), 200);

    /* listings show dot entries only when dotfiles are served; never "." or ".." */
    loc->listing = true;
    for (int on = 0; on < 2; on++) {
        loc->dotfiles = on;
        run(&r, HTTP_METHOD_GET, "/list/", NULL);
        CHECK_INT(r.resp.status, 200);
        size_t n;
        char *html = drain(&r, &n);
        html = realloc(html, n + 1);
        html[n] = 0;
        CHECK_INT(strstr(html, "href=\".secret\"") != NULL, on);
        CHECK(strstr(html, "href=\"./\"") == NULL);
        const char *up = strstr(html, "href=\"../\""); /* the parent link, once */
        CHECK(up && !strstr(up + 1, "href=\"../\""));
        free(html);
        done(&r);
    }
    loc->listing = false;
    loc->dotfiles = false;
}

static void test_errors(void)
{
    struct rq r;
    run(&r, HTTP_METHOD_GET, "/nope.txt", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_INT(r.resp.status, 404);
    done(&r);
    run(&r, HTTP_METHOD_GET, "/hello.txt/", NULL);
    CHECK_INT(r.resp.status, 404);
    done(&r);
    run(&r, HTTP_METHOD_GET, "/nodir/x.txt", NULL);
    CHECK_INT(r.resp.status, 404);
    done(&r);
    if (geteuid() != 0) { /* root reads anything */
        run(&r, HTTP_METHOD_GET, "/noperm.txt", NULL);
        CHECK_INT(r.resp.status, 403);
        done(&r);
    }
    /* a directory without index and without listing: 403 as nginx */
    run(&r, HTTP_METHOD_GET, "/list/", NULL);
    CHECK_INT(r.resp.status, 403);
    done(&r);
}

static void check_coded(const char *path, const char *ae, const char *want_coding, const char *orig,
                        size_t orig_len, bool known_length);

static void test_symlinks(void)
{
    struct rq r;
    run(&r, HTTP_METHOD_GET, "/escape.txt", NULL);
    CHECK_INT(r.resp.status, 404);
    done(&r);
    run(&r, HTTP_METHOD_GET, "/escdir/secret.txt", NULL);
    CHECK_INT(r.resp.status, 404);
    done(&r);
    run(&r, HTTP_METHOD_GET, "/dotdot.txt", NULL);
    CHECK_INT(r.resp.status, 404);
    done(&r);
    run(&r, HTTP_METHOD_GET, "/link.txt", NULL);
    CHECK_INT(r.resp.status, 200);
    check_body(&r, "Hello, world!\n", 14);
    done(&r);
    run(&r, HTTP_METHOD_GET, "/sub/up.txt", NULL);
    CHECK_INT(r.resp.status, 200);
    check_body(&r, "Hello, world!\n", 14);
    done(&r);

    /* a precompressed sibling that is a symlink out of the root is not used */
    char *css = text_data(3000, 9), sp[PATH_MAX * 2];
    write_file("leak.css", css, 3000);
    snprintf(sp, sizeof(sp), "%s/secret.gz", outside);
    FILE *f = fopen(sp, "w");
    fputs("not gzip, secret", f);
    fclose(f);
    CHECK_INT(symlink(sp, rootpath("leak.css.gz")), 0);
    check_coded("/leak.css", "gzip", "gzip", css, 3000, true);
    free(css);

    /* a location that trusts symlinks follows them out */
    cfg->servers[0].locations[0].symlinks_outside_root = true;
    run(&r, HTTP_METHOD_GET, "/escape.txt", NULL);
    CHECK_INT(r.resp.status, 200);
    check_body(&r, "top secret\n", 11);
    done(&r);
    cfg->servers[0].locations[0].symlinks_outside_root = false;
    run(&r, HTTP_METHOD_GET, "/escape.txt", NULL); /* and the strict one still refuses */
    CHECK_INT(r.resp.status, 404);
    done(&r);
}

static void test_conditionals(void)
{
    struct rq r;
    run(&r, HTTP_METHOD_GET, "/hello.txt", NULL);
    char etag[80], lm[40];
    snprintf(etag, sizeof(etag), "%s", hdr(&r, HTTP_TOKEN_ETAG));
    snprintf(lm, sizeof(lm), "%s", hdr(&r, HTTP_TOKEN_LAST_MODIFIED));
    done(&r);

    cfg->servers[0].locations[0].cache_control = "no-cache";
    run(&r, HTTP_METHOD_GET, "/hello.txt", (const char *[]){"If-None-Match", etag, NULL});
    CHECK_INT(r.resp.status, 304);
    CHECK_INT(r.resp.content_length, -1);
    CHECK(r.resp.body == NULL);
    CHECK_STR(hdr(&r, HTTP_TOKEN_ETAG), etag);
    CHECK_STR(hdr(&r, HTTP_TOKEN_CACHE_CONTROL), "no-cache");
    done(&r);
    cfg->servers[0].locations[0].cache_control = NULL;

    run(&r, HTTP_METHOD_HEAD, "/hello.txt", (const char *[]){"If-Modified-Since", lm, NULL});
    CHECK_INT(r.resp.status, 304);
    done(&r);

    run(&r, HTTP_METHOD_GET, "/hello.txt",
        (const char *[]){"If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT", NULL});
    CHECK_INT(r.resp.status, 200);
    done(&r);

    run(&r, HTTP_METHOD_GET, "/hello.txt", (const char *[]){"If-Match", "\"nope\"", NULL});
    CHECK_INT(r.resp.status, 412);
    done(&r);

    run(&r, HTTP_METHOD_GET, "/hello.txt", (const char *[]){"If-Match", etag, NULL});
    CHECK_INT(r.resp.status, 200);
    done(&r);
}

static void test_ranges(void)
{
    struct rq r;
    run(&r, HTTP_METHOD_GET, "/data.bin", (const char *[]){"Range", "bytes=10-19", NULL});
    CHECK_INT(r.resp.status, 206);
    CHECK_INT(r.resp.content_length, 10);
    CHECK_STR(hdr(&r, HTTP_TOKEN_CONTENT_RANGE), "bytes 10-19/10000");
    CHECK_STR(hdr(&r, HTTP_TOKEN_CONTENT_TYPE), "application/octet-stream");
    check_body(&r, bin_data + 10, 10);
    done(&r);

    run(&r, HTTP_METHOD_GET, "/data.bin", (const char *[]){"Range", "bytes=-5", NULL});
    CHECK_INT(r.resp.status, 206);
    CHECK_STR(hdr(&r, HTTP_TOKEN_CONTENT_RANGE), "bytes 9995-9999/10000");
    check_body(&r, bin_data + 9995, 5);
    done(&r);

    /* HEAD ignores Range */
    run(&r, HTTP_METHOD_HEAD, "/data.bin", (const char *[]){"Range", "bytes=10-19", NULL});
    CHECK_INT(r.resp.status, 200);
    CHECK_INT(r.resp.content_length, BIN_LEN);
    done(&r);

    run(&r, HTTP_METHOD_GET, "/data.bin",
        (const char *[]){"Range", "bytes=0-9,100-109,9990-", NULL});
    CHECK_INT(r.resp.status, 206);
    const char *ct = hdr(&r, HTTP_TOKEN_CONTENT_TYPE);
    const char *bpre = "multipart/byteranges; boundary=";
    CHECK(ct && strncmp(ct, bpre, strlen(bpre)) == 0);
    CHECK(hdr(&r, HTTP_TOKEN_CONTENT_RANGE) == NULL);
    if (ct && strncmp(ct, bpre, strlen(bpre)) == 0) {
        const char *b = ct + strlen(bpre);
        CHECK_INT(strlen(b), 16);
        char want[4096];
        size_t at = 0;
        const unsigned first[] = {0, 100, 9990}, last[] = {9, 109, 9999};
        for (int i = 0; i < 3; i++) {
            at += (size_t)snprintf(want + at, sizeof(want) - at,
                                   "%s--%s\r\nContent-Type: application/octet-stream\r\n"
                                   "Content-Range: bytes %u-%u/10000\r\n\r\n",
                                   i ? "\r\n" : "", b, first[i], last[i]);
            memcpy(want + at, bin_data + first[i], last[i] - first[i] + 1);
            at += last[i] - first[i] + 1;
        }
        at += (size_t)snprintf(want + at, sizeof(want) - at, "\r\n--%s--\r\n", b);
        CHECK_INT(r.resp.content_length, at);
        check_body(&r, want, at);
    }
    done(&r);

    /* boundaries differ per response */
    struct rq r2;
    run(&r, HTTP_METHOD_GET, "/data.bin", (const char *[]){"Range", "bytes=0-1,5-6", NULL});
    run(&r2, HTTP_METHOD_GET, "/data.bin", (const char *[]){"Range", "bytes=0-1,5-6", NULL});
    CHECK(strcmp(hdr(&r, HTTP_TOKEN_CONTENT_TYPE), hdr(&r2, HTTP_TOKEN_CONTENT_TYPE)) != 0);
    done(&r);
    done(&r2);

    run(&r, HTTP_METHOD_GET, "/data.bin", (const char *[]){"Range", "bytes=20000-30000", NULL});
    CHECK_INT(r.resp.status, 416);
    CHECK_STR(hdr(&r, HTTP_TOKEN_CONTENT_RANGE), "bytes */10000");
    done(&r);

    /* more ranges than limits.ranges */
    size_t saved = cfg->limits.ranges;
    cfg->limits.ranges = 2;
    run(&r, HTTP_METHOD_GET, "/data.bin", (const char *[]){"Range", "bytes=0-1,10-11,20-21", NULL});
    CHECK_INT(r.resp.status, 416);
    done(&r);
    cfg->limits.ranges = saved;

    run(&r, HTTP_METHOD_GET, "/data.bin", (const char *[]){"Range", "items=0-5", NULL});
    CHECK_INT(r.resp.status, 200);
    CHECK_INT(r.resp.content_length, BIN_LEN);
    done(&r);

    /* If-Range with a stale validator: the whole representation */
    run(&r, HTTP_METHOD_GET, "/data.bin",
        (const char *[]){"Range", "bytes=0-9", "If-Range", "\"other\"", NULL});
    CHECK_INT(r.resp.status, 200);
    CHECK_INT(r.resp.content_length, BIN_LEN);
    check_body(&r, bin_data, BIN_LEN);
    done(&r);

    /* If-Range with the current ETag: honoured */
    run(&r, HTTP_METHOD_GET, "/data.bin", NULL);
    char etag[80];
    snprintf(etag, sizeof(etag), "%s", hdr(&r, HTTP_TOKEN_ETAG));
    done(&r);
    run(&r, HTTP_METHOD_GET, "/data.bin",
        (const char *[]){"Range", "bytes=0-9", "If-Range", etag, NULL});
    CHECK_INT(r.resp.status, 206);
    done(&r);

    /* a Range on a compressible file gets identity bytes, still with Vary */
    run(&r, HTTP_METHOD_GET, "/big.txt",
        (const char *[]){"Range", "bytes=100-199", "Accept-Encoding", "gzip, br", NULL});
    CHECK_INT(r.resp.status, 206);
    CHECK(hdr(&r, HTTP_TOKEN_CONTENT_ENCODING) == NULL);
    CHECK_STR(hdr(&r, HTTP_TOKEN_VARY), "Accept-Encoding");
    check_body(&r, big_txt + 100, 100);
    done(&r);
}

static void test_directories(void)
{
    struct rq r;
    run(&r, HTTP_METHOD_GET, "/sub", NULL);
    CHECK_INT(r.resp.status, 301);
    CHECK_STR(hdr(&r, HTTP_TOKEN_LOCATION), "/sub/");
    done(&r);
    run_loc(&r, cfg, &cfg->servers[0].locations[0], HTTP_METHOD_GET, "/sub", "a=1&b", NULL);
    CHECK_INT(r.resp.status, 301);
    CHECK_STR(hdr(&r, HTTP_TOKEN_LOCATION), "/sub/?a=1&b");
    done(&r);
    mkdir(rootpath("we ird"), 0755);
    run(&r, HTTP_METHOD_GET, "/we ird", NULL);
    CHECK_INT(r.resp.status, 301);
    CHECK_STR(hdr(&r, HTTP_TOKEN_LOCATION), "/we%20ird/");
    done(&r);

    run(&r, HTTP_METHOD_GET, "/sub/", NULL);
    CHECK_INT(r.resp.status, 200);
    CHECK_STR(hdr(&r, HTTP_TOKEN_CONTENT_TYPE), "text/html; charset=utf-8");
    check_body(&r, "<h1>sub</h1>\n", 13);
    done(&r);

    cfg->servers[0].locations[0].listing = true;
    run(&r, HTTP_METHOD_GET, "/list/", NULL);
    CHECK_INT(r.resp.status, 200);
    CHECK_STR(hdr(&r, HTTP_TOKEN_CONTENT_TYPE), "text/html; charset=utf-8");
    size_t n;
    char *html = drain(&r, &n);
    html = realloc(html, n + 1);
    html[n] = 0;
    CHECK_INT(r.resp.content_length, n);
    CHECK(strstr(html, "&lt;a&amp;b&gt;.txt") != NULL);
    CHECK(strstr(html, "<a&b>") == NULL);
    CHECK(strstr(html, "href=\"%3Ca%26b%3E.txt\"") != NULL);
    CHECK(strstr(html, "href=\"adir/\"") != NULL);
    CHECK(strstr(html, ".secret") == NULL);
    char *adir = strstr(html, "adir/"), *ab = strstr(html, "%3Ca"), *zt = strstr(html, "z.txt");
    CHECK(adir && ab && zt && adir < ab && ab < zt); /* directories first, then by name */
    CHECK(strstr(html, "Index of /list/") != NULL);
    CHECK(strstr(html, "href=\"../\"") != NULL);
    free(html);
    done(&r);
    run(&r, HTTP_METHOD_HEAD, "/list/", NULL);
    CHECK_INT(r.resp.status, 200);
    CHECK(r.resp.content_length > 0);
    CHECK(r.resp.body == NULL);
    done(&r);
    cfg->servers[0].locations[0].listing = false;
}

static void check_coded(const char *path, const char *ae, const char *want_coding, const char *orig,
                        size_t orig_len, bool known_length)
{
    struct rq r;
    run(&r, HTTP_METHOD_GET, path, (const char *[]){"Accept-Encoding", ae, NULL});
    CHECK_INT(r.resp.status, 200);
    const char *ce = hdr(&r, HTTP_TOKEN_CONTENT_ENCODING);
    CHECK(ce && strcmp(ce, want_coding) == 0);
    CHECK_STR(hdr(&r, HTTP_TOKEN_VARY), "Accept-Encoding");
    const char *etag = hdr(&r, HTTP_TOKEN_ETAG);
    CHECK(etag && strstr(etag, want_coding) != NULL); /* own strong tag per coding */
    size_t n, dn;
    int64_t cl = r.resp.content_length;
    char *body = drain(&r, &n);
    if (known_length)
        CHECK_INT(cl, n);
    else
        CHECK_INT(cl, -1);
    char *plain = decode(want_coding, body, n, &dn);
    CHECK_INT(dn, orig_len);
    CHECK(dn == orig_len && memcmp(plain, orig, dn) == 0);
    free(plain);
    free(body);
    done(&r);
}

static void test_codings(void)
{
    /* on the fly, small enough to compress whole */
    check_coded("/big.txt", "gzip", "gzip", big_txt, BIG_LEN, true);
    check_coded("/big.txt", "br", "br", big_txt, BIG_LEN, true);
    check_coded("/big.txt", "zstd", "zstd", big_txt, BIG_LEN, true);
    check_coded("/big.txt", "gzip", "gzip", big_txt, BIG_LEN, true); /* kept copy */
    check_coded("/big.txt", "gzip;q=0.5, br;q=0.8, zstd;q=0.1", "br", big_txt, BIG_LEN, true);
    /* streamed */
    check_coded("/huge.txt", "gzip", "gzip", huge_txt, HUGE_LEN, false);
    check_coded("/huge.txt", "br", "br", huge_txt, HUGE_LEN, false);
    check_coded("/huge.txt", "zstd", "zstd", huge_txt, HUGE_LEN, false);
    /* precompressed siblings by q-value */
    check_coded("/pre.css", "gzip;q=1, br;q=0.5", "gzip", pre_css, PRE_LEN, true);
    check_coded("/pre.css", "gzip;q=0.5, br", "br", pre_css, PRE_LEN, true);
    check_coded("/pre.css", "zstd, gzip;q=0.9", "zstd", pre_css, PRE_LEN, true);

    struct rq r;
    /* the sibling's own bytes are sent, with its length */
    run(&r, HTTP_METHOD_GET, "/pre.css", (const char *[]){"Accept-Encoding", "gzip", NULL});
    struct stat st;
    stat(rootpath("pre.css.gz"), &st);
    CHECK_INT(r.resp.content_length, st.st_size);
    char gz_etag[80];
    snprintf(gz_etag, sizeof(gz_etag), "%s", hdr(&r, HTTP_TOKEN_ETAG));
    done(&r);
    /* 304 against the coded representation's tag */
    run(&r, HTTP_METHOD_GET, "/pre.css",
        (const char *[]){"Accept-Encoding", "gzip", "If-None-Match", gz_etag, NULL});
    CHECK_INT(r.resp.status, 304);
    CHECK_STR(hdr(&r, HTTP_TOKEN_VARY), "Accept-Encoding");
    done(&r);
    /* ... which does not match the identity one */
    run(&r, HTTP_METHOD_GET, "/pre.css", (const char *[]){"If-None-Match", gz_etag, NULL});
    CHECK_INT(r.resp.status, 200);
    CHECK(hdr(&r, HTTP_TOKEN_CONTENT_ENCODING) == NULL);
    CHECK_STR(hdr(&r, HTTP_TOKEN_VARY), "Accept-Encoding");
    check_body(&r, pre_css, PRE_LEN);
    done(&r);

    /* compressible but no Accept-Encoding: identity, still Vary */
    run(&r, HTTP_METHOD_GET, "/big.txt", NULL);
    CHECK_INT(r.resp.status, 200);
    CHECK(hdr(&r, HTTP_TOKEN_CONTENT_ENCODING) == NULL);
    CHECK_STR(hdr(&r, HTTP_TOKEN_VARY), "Accept-Encoding");
    check_body(&r, big_txt, BIG_LEN);
    done(&r);

    /* HEAD with a coding: length of the coded body, no body */
    run(&r, HTTP_METHOD_HEAD, "/big.txt", (const char *[]){"Accept-Encoding", "gzip", NULL});
    CHECK_INT(r.resp.status, 200);
    CHECK_STR(hdr(&r, HTTP_TOKEN_CONTENT_ENCODING), "gzip");
    CHECK(r.resp.content_length > 0 && r.resp.content_length < BIG_LEN);
    CHECK(r.resp.body == NULL);
    done(&r);
    run(&r, HTTP_METHOD_HEAD, "/huge.txt", (const char *[]){"Accept-Encoding", "gzip", NULL});
    CHECK_INT(r.resp.content_length, -1);
    CHECK(r.resp.body == NULL);
    done(&r);

    /* binary types are not compressed on the fly (and have no Vary) */
    run(&r, HTTP_METHOD_GET, "/data.bin", (const char *[]){"Accept-Encoding", "gzip", NULL});
    CHECK(hdr(&r, HTTP_TOKEN_CONTENT_ENCODING) == NULL);
    CHECK(hdr(&r, HTTP_TOKEN_VARY) == NULL);
    done(&r);
    /* ... but a fresh sibling is used; a stale one is ignored */
    run(&r, HTTP_METHOD_GET, "/fresh.bin", (const char *[]){"Accept-Encoding", "gzip", NULL});
    CHECK_STR(hdr(&r, HTTP_TOKEN_CONTENT_ENCODING), "gzip");
    done(&r);
    run(&r, HTTP_METHOD_GET, "/stale.bin", (const char *[]){"Accept-Encoding", "gzip", NULL});
    CHECK(hdr(&r, HTTP_TOKEN_CONTENT_ENCODING) == NULL);
    CHECK(hdr(&r, HTTP_TOKEN_VARY) == NULL);
    done(&r);

    /* identity refused and nothing else available: identity anyway (§12.5.3) */
    run(&r, HTTP_METHOD_GET, "/data.bin",
        (const char *[]){"Accept-Encoding", "identity;q=0", NULL});
    CHECK_INT(r.resp.status, 200);
    CHECK_INT(r.resp.content_length, BIN_LEN);
    done(&r);

    /* per-location switch and global switches */
    cfg->servers[0].locations[0].compress = false;
    run(&r, HTTP_METHOD_GET, "/big.txt", (const char *[]){"Accept-Encoding", "gzip", NULL});
    CHECK(hdr(&r, HTTP_TOKEN_CONTENT_ENCODING) == NULL);
    done(&r);
    cfg->servers[0].locations[0].compress = true;
    cfg->compression.max_size = 1000;
    run(&r, HTTP_METHOD_GET, "/big.txt", (const char *[]){"Accept-Encoding", "gzip", NULL});
    CHECK(hdr(&r, HTTP_TOKEN_CONTENT_ENCODING) == NULL);
    done(&r);
    cfg->compression.max_size = 8u << 20;
}

/* A response keeps reading its file after the cache evicted the entry. */
static void test_eviction(void)
{
    struct static_cache *saved = cache;
    cache = static_cache_create(1);
    struct rq a, b;
    run(&a, HTTP_METHOD_GET, "/data.bin", NULL);
    run(&b, HTTP_METHOD_GET, "/big.txt", (const char *[]){"Accept-Encoding", "gzip", NULL});
    check_body(&a, bin_data, BIN_LEN);
    struct rq c2;
    run(&c2, HTTP_METHOD_GET, "/hello.txt", NULL);
    size_t n, dn;
    char *gz = drain(&b, &n);
    char *plain = decode("gzip", gz, n, &dn);
    CHECK(dn == BIG_LEN && memcmp(plain, big_txt, dn) == 0);
    free(gz);
    free(plain);
    /* destroying the cache with a response in flight */
    static_cache_destroy(cache);
    check_body(&c2, "Hello, world!\n", 14);
    done(&a);
    done(&b);
    done(&c2);
    /* and with caching off */
    cache = static_cache_create(0);
    run(&a, HTTP_METHOD_GET, "/hello.txt", NULL);
    CHECK_INT(a.resp.status, 200);
    check_body(&a, "Hello, world!\n", 14);
    done(&a);
    run(&a, HTTP_METHOD_GET, "/big.txt", (const char *[]){"Accept-Encoding", "br", NULL});
    CHECK_STR(hdr(&a, HTTP_TOKEN_CONTENT_ENCODING), "br");
    done(&a); /* body never drained nor closed: the pool releases everything */
    static_cache_destroy(cache);
    cache = saved;
}

static void test_revalidation(void)
{
    struct rq r;
    write_file("change.txt", "version one\n", 12);
    run(&r, HTTP_METHOD_GET, "/change.txt", NULL);
    check_body(&r, "version one\n", 12);
    char etag[80];
    snprintf(etag, sizeof(etag), "%s", hdr(&r, HTTP_TOKEN_ETAG));
    done(&r);
    /* replace in place, same size, same second: only mtime nanoseconds / ctime differ */
    write_file("change.txt", "version two\n", 12);
    sleep(1);
    nanosleep(&(struct timespec){0, 150 * 1000 * 1000}, NULL);
    run(&r, HTTP_METHOD_GET, "/change.txt", NULL);
    check_body(&r, "version two\n", 12);
    CHECK(strcmp(hdr(&r, HTTP_TOKEN_ETAG), etag) != 0);
    done(&r);
    /* deleted: 404 after the next check */
    unlink(rootpath("change.txt"));
    sleep(1);
    nanosleep(&(struct timespec){0, 150 * 1000 * 1000}, NULL);
    run(&r, HTTP_METHOD_GET, "/change.txt", NULL);
    CHECK_INT(r.resp.status, 404);
    done(&r);
}

/* A location with its own root strips its prefix. */
static void test_location_root(void)
{
    char subroot[PATH_MAX * 2];
    snprintf(subroot, sizeof(subroot), "%s/sub", root);
    char *index[] = {"index.html"};
    struct config_location locs[2] = {
        {.path = "/static/",
         .path_len = 8,
         .root = subroot,
         .index = index,
         .n_index = 1,
         .compress = true,
         .own_root = true},
        {.path = "/", .path_len = 1, .root = root, .index = index, .n_index = 1, .compress = true},
    };
    struct config_server srv = {.root = root, .locations = locs, .n_locations = 2};
    struct config c = *cfg;
    c.servers = &srv;
    c.n_servers = 1;
    struct rq r;
    run_loc(&r, &c, &locs[0], HTTP_METHOD_GET, "/static/page.txt", NULL, NULL);
    CHECK_INT(r.resp.status, 200);
    check_body(&r, "page\n", 5);
    done(&r);
    run_loc(&r, &c, &locs[0], HTTP_METHOD_GET, "/static/", NULL, NULL);
    CHECK_INT(r.resp.status, 200);
    check_body(&r, "<h1>sub</h1>\n", 13);
    done(&r);
    run_loc(&r, &c, &locs[0], HTTP_METHOD_GET, "/static/up.txt", NULL, NULL);
    CHECK_INT(r.resp.status, 404); /* ../hello.txt is outside this location's root */
    done(&r);
    run_loc(&r, &c, &locs[1], HTTP_METHOD_GET, "/sub/page.txt", NULL, NULL);
    CHECK_INT(r.resp.status, 200);
    done(&r);
}

/* The lowest descriptor number free now: with RLIMIT_NOFILE at this value every new open fails
 * with EMFILE; one above it, exactly one more open succeeds. */
static rlim_t lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    close(fd);
    return (rlim_t)fd;
}

static void set_nofile(rlim_t cur, const struct rlimit *saved)
{
    struct rlimit rl = {cur, saved->rlim_max};
    CHECK_INT(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* A file that cannot be opened for lack of descriptors is a 503 with Retry-After (RFC 9110
 * §15.6.4, §10.2.3), and neither that failure nor an entry missing a sibling for the same
 * reason is cached: once descriptors are back, the same requests are served in full. */
static void test_out_of_descriptors(void)
{
    struct static_cache *main_cache = cache;
    struct config_location *loc = &cfg->servers[0].locations[0];
    struct rlimit saved;
    CHECK_INT(getrlimit(RLIMIT_NOFILE, &saved), 0);
    cache = static_cache_create(64); /* empty: nothing to give back, so open fails for real */
    struct rq r;
    run(&r, HTTP_METHOD_GET, "/nope.txt", NULL); /* opens the root, caches nothing */
    CHECK_INT(r.resp.status, 404);
    done(&r);

    set_nofile(lowest_free_fd(), &saved);
    run(&r, HTTP_METHOD_GET, "/hello.txt", NULL);
    CHECK_INT(r.rc, 0);
    CHECK_INT(r.resp.status, 503);
    CHECK_STR(hdr(&r, HTTP_TOKEN_RETRY_AFTER), "1");
    done(&r);
    run(&r, HTTP_METHOD_GET, "/sub/", NULL); /* a directory too */
    CHECK_INT(r.resp.status, 503);
    done(&r);
    set_nofile(saved.rlim_cur, &saved);
    run(&r, HTTP_METHOD_GET, "/hello.txt", NULL);
    CHECK_INT(r.resp.status, 200);
    check_body(&r, "Hello, world!\n", 14);
    done(&r);

    /* room for the file but not its precompressed siblings: identity now, br later */
    loc->compress = false; /* only the sibling can give br */
    const char *const br[] = {"Accept-Encoding", "br", NULL};
    set_nofile(lowest_free_fd() + 1, &saved);
    run(&r, HTTP_METHOD_GET, "/pre.css", br);
    set_nofile(saved.rlim_cur, &saved);
    CHECK_INT(r.resp.status, 200);
    CHECK(hdr(&r, HTTP_TOKEN_CONTENT_ENCODING) == NULL);
    check_body(&r, pre_css, PRE_LEN);
    done(&r);
    run(&r, HTTP_METHOD_GET, "/pre.css", br);
    CHECK_INT(r.resp.status, 200);
    const char *ce = hdr(&r, HTTP_TOKEN_CONTENT_ENCODING);
    CHECK(ce && strcmp(ce, "br") == 0);
    done(&r);
    loc->compress = true;

    /* with entries to give back, the cache closes them and the open succeeds */
    run(&r, HTTP_METHOD_GET, "/data.bin", NULL);
    CHECK_INT(r.resp.status, 200);
    done(&r);
    set_nofile(lowest_free_fd(), &saved);
    run(&r, HTTP_METHOD_GET, "/big.txt", NULL);
    set_nofile(saved.rlim_cur, &saved);
    CHECK_INT(r.resp.status, 200);
    done(&r);

    static_cache_destroy(cache);
    cache = main_cache;
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

int main(void)
{
    make_docroot();
    int fds_before = count_fds();
    cfg = config_default(root);
    cache = static_cache_create(64);
    if (!cfg || !cache) {
        fprintf(stderr, "setup failed\n");
        return 2;
    }
    test_body_sources();
    test_plain();
    test_errors();
    test_dotfiles();
    test_symlinks();
    test_conditionals();
    test_ranges();
    test_directories();
    test_codings();
    test_eviction();
    test_location_root();
    test_revalidation();
    test_out_of_descriptors();
    static_cache_destroy(cache);
    CHECK_INT(count_fds(), fds_before); /* every cached or in-flight fd was closed */
    config_free(cfg);
    free(bin_data);
    free(big_txt);
    free(huge_txt);
    free(pre_css);
    rm_tree();
    return check_done("handler/static");
}
