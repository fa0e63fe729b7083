/* The reverse proxy's header rules (handler/proxy_fields.c): the request head an upstream gets
 * and the response fields a client gets, per RFC 9110 §7.6 and RFC 7239. */
#include <string.h>

#include "check.h"
#include "core/pool.h"
#include "handler/proxy_fields.h"

static void add(struct http_request *req, const char *n, const char *v)
{
    http_fields_add(&req->headers, req->pool, str_cstr(n), str_cstr(v));
}

static struct http_request make_request(struct pool *pool, int version)
{
    struct http_request req = {.pool = pool, .method = HTTP_METHOD_GET, .version = version};
    req.method_name = STR_LIT("GET");
    req.path = STR_LIT("/app/a%20b");
    req.query = STR_LIT("x=1");
    req.has_query = true;
    req.authority = STR_LIT("example.org");
    req.scheme = STR_LIT("https");
    strcpy(req.peer, "2001:db8::1");
    return req;
}

static void test_request_head(void)
{
    struct pool *pool = pool_create(4096);
    struct http_request req = make_request(pool, 20);
    add(&req, "cookie", "a=1");
    add(&req, "user-agent", "t");
    add(&req, "cookie", "b=2");
    add(&req, "connection", "x-gone");
    add(&req, "x-gone", "1");
    add(&req, "te", "trailers");
    add(&req, "forwarded", "for=192.0.2.1");
    add(&req, "max-forwards", "5");
    struct config_upstream up = {.authority = "10.0.0.1:8080", .path = "/v1/"};
    struct config_location loc = {.path = "/app/", .path_len = 5, .kind = CONFIG_LOC_PREFIX};
    struct config_proxy pc = {.forwarded = true, .x_forwarded = true, .via = true, .keepalive = 8};
    str_t target = proxy_target(&up, &loc, &req, req.path);
    CHECK_STRN(target.p, target.len, "/v1/a%20b?x=1");
    struct buf out = {0};
    CHECK_INT(proxy_request_head(&out, &pc, &up, &req, target, NULL), 0);
    buf_append(&out, "", 1);
    CHECK_STR(buf_ptr(&out), "GET /v1/a%20b?x=1 HTTP/1.1\r\n"
                             "Host: example.org\r\n"
                             "Cookie: a=1; b=2\r\n"
                             "user-agent: t\r\n"
                             "Via: 2 tern\r\n"
                             "Forwarded: for=192.0.2.1, for=\"[2001:db8::1]\";proto=https;"
                             "host=example.org\r\n"
                             "X-Forwarded-For: 2001:db8::1\r\n"
                             "X-Forwarded-Proto: https\r\n"
                             "X-Forwarded-Host: example.org\r\n\r\n");
    /* OPTIONS: Max-Forwards less one; a body gets its length; host from the URL; no pool */
    buf_clear(&out);
    req.method = HTTP_METHOD_OPTIONS;
    req.method_name = STR_LIT("OPTIONS");
    req.body = "hi";
    req.body_len = 2;
    pc = (struct config_proxy){.host_mode = CONFIG_PROXY_HOST_UPSTREAM};
    req.headers.count = 0;
    add(&req, "max-forwards", "5");
    CHECK_INT(proxy_request_head(&out, &pc, &up, &req, STR_LIT("*"), NULL), 0);
    buf_append(&out, "", 1);
    CHECK_STR(buf_ptr(&out), "OPTIONS * HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nMax-Forwards: 4\r\n"
                             "Content-Length: 2\r\nConnection: close\r\n\r\n");
    /* a URL without a path: the request's path as it came */
    struct config_upstream bare = {.authority = "u"};
    target = proxy_target(&bare, &loc, &req, req.path);
    CHECK_STRN(target.p, target.len, "/app/a%20b?x=1");
    buf_free(&out);
    pool_destroy(pool);
}

static int no_take(struct http_request *r, int *fd, struct tls_conn **tls, char **b, size_t *n)
{
    (void)r, (void)fd, (void)tls, (void)b, (void)n;
    return -1;
}

/* HTTP/2 upstreams: the same fields, lower-case, without the connection-specific ones (RFC
 * 9113 §8.2.2), Host as the authority; the body length from the framing tern chose. */
static void test_request_h2(void)
{
    struct pool *pool = pool_create(4096);
    struct http_request req = make_request(pool, 11);
    add(&req, "Cookie", "a=1");
    add(&req, "Connection", "x-gone, upgrade");
    add(&req, "X-Gone", "1");
    add(&req, "Upgrade", "websocket");
    add(&req, "TE", "trailers");
    add(&req, "X-Keep", "kept");
    req.take_connection = no_take; /* an h1 client that could switch: not asked of an h2 hop */
    struct body_source src = {0};
    req.body_in = &src;
    req.body_in_length = -1;
    req.method = HTTP_METHOD_POST;
    req.method_name = STR_LIT("POST");
    struct config_upstream up = {.authority = "10.0.0.1:8080"};
    struct config_proxy pc = {.via = true};
    struct proxy_h2_head h;
    CHECK_INT(proxy_request_h2(&h, &pc, &up, &req, STR_LIT("/x")), 0);
    CHECK_STRN(h.authority.p, h.authority.len, "example.org");
    CHECK_INT((int)h.body_length, -1);
    const char *want[][2] = {{"cookie", "a=1"}, {"x-keep", "kept"}, {"via", "1.1 tern"}};
    CHECK_INT((int)h.n, 3);
    for (size_t i = 0; i < h.n && i < 3; i++) {
        CHECK_STRN(h.names[i].p, h.names[i].len, want[i][0]);
        CHECK_STRN(h.values[i].p, h.values[i].len, want[i][1]);
    }
    /* a known length goes as content-length; host: upstream is the URL's authority */
    req.body_in_length = 12;
    pc.host_mode = CONFIG_PROXY_HOST_UPSTREAM;
    CHECK_INT(proxy_request_h2(&h, &pc, &up, &req, STR_LIT("/x")), 0);
    CHECK_STRN(h.authority.p, h.authority.len, "10.0.0.1:8080");
    CHECK_INT((int)h.body_length, 12);
    CHECK_STRN(h.names[h.n - 1].p, h.names[h.n - 1].len, "content-length");
    pool_destroy(pool);
}

static void test_response_fields(void)
{
    struct pool *pool = pool_create(4096);
    struct h1_field f[] = {
        {STR_LIT("Connection"), STR_LIT("X-Hop, keep-alive")},
        {STR_LIT("X-Hop"), STR_LIT("1")},
        {STR_LIT("Keep-Alive"), STR_LIT("timeout=5")},
        {STR_LIT("Content-Length"), STR_LIT("2")},
        {STR_LIT("Date"), STR_LIT("x")},
        {STR_LIT("Via"), STR_LIT("1.0 a")},
        {STR_LIT("Set-Cookie"), STR_LIT("s=1")},
        {STR_LIT("Server"), STR_LIT("up")},
    };
    struct h1_response_head head = {.version = 11, .status = 200, .fields = f, .n_fields = 8};
    struct config_proxy pc = {.via = true};
    struct http_response resp = {0};
    CHECK_INT(proxy_response_fields(&resp, pool, &pc, &head), 0);
    CHECK_INT((int)resp.headers.count, 3);
    CHECK_STRN(resp.headers.items[0].name.p, resp.headers.items[0].name.len, "Set-Cookie");
    CHECK_STRN(resp.headers.items[1].name.p, resp.headers.items[1].name.len, "Server");
    CHECK_STRN(resp.headers.items[2].value.p, resp.headers.items[2].value.len, "1.0 a, 1.1 tern");
    pool_destroy(pool);
}

int main(void)
{
    test_request_head();
    test_request_h2();
    test_response_fields();
    return check_done("handler/proxy_fields");
}
