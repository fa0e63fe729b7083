/* The HTTP/3 engine's client role: the two roles of the same engine talking to each other in
 * memory (requests, uploads, interim responses, HEAD), and a client fed hand-built server
 * streams for each way a response or the server's control stream can be wrong. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "h3/session.h"
#include "h3/varint.h"

/* ---- the server side: answers with "hello, world", echoes uploads, 103 for /hints ---- */

static void on_request(struct h3_session *s, struct h3_stream *st)
{
    (void)s;
    if (st->reject_status) {
        st->resp.status = st->reject_status;
        st->resp.content_length = 0;
        return;
    }
    st->resp.status = 200;
    http_fields_add(&st->resp.headers, st->pool, STR_LIT("content-type"), STR_LIT("text/plain"));
    if (str_eq(st->req.path, STR_LIT("/hints"))) {
        struct http_fields hints = {0};
        http_fields_add(&hints, st->pool, STR_LIT("link"), STR_LIT("</a.css>; rel=preload"));
        st->req.send_interim(&st->req, 103, &hints);
    }
    const char *b = "hello, world";
    size_t len = strlen(b);
    if (st->req.body_len) b = st->req.body, len = st->req.body_len; /* echo uploads */
    st->resp.body = body_source_mem(st->pool, b, len);
    st->resp.content_length = (int64_t)len;
}

static const struct h3_session_callbacks server_cbs = {.on_request = on_request};

/* ---- the client side: what came back ---- */

struct result {
    int interim, status;
    char field[128]; /* "name: value" of the final head's first field */
    struct buf body;
    bool ended;
    uint64_t code;
    const char *why;
};

static int on_head(struct h3_session *s, struct h3_stream *st, int status, const str_t *names,
                   const str_t *values, size_t n)
{
    (void)s;
    struct result *r = st->user;
    if (status < 200) {
        r->interim = status;
        return 0;
    }
    r->status = status;
    if (n)
        snprintf(r->field, sizeof(r->field), "%.*s: %.*s", (int)names[0].len, names[0].p,
                 (int)values[0].len, values[0].p);
    return 0;
}

static int on_data(struct h3_session *s, struct h3_stream *st, const uint8_t *p, size_t len)
{
    (void)s;
    struct result *r = st->user;
    return buf_append(&r->body, p, len);
}

static void on_end(struct h3_session *s, struct h3_stream *st, uint64_t code, const char *why)
{
    (void)s;
    struct result *r = st->user;
    r->ended = true;
    r->code = code;
    r->why = why;
}

static const struct h3_session_callbacks client_cbs = {
    .on_response_head = on_head, .on_response_data = on_data, .on_response_end = on_end};

static struct h3_session *mk(bool client, const struct h3_session_callbacks *cb)
{
    struct h3_session_params p = {.max_field_section_size = 4096,
                                  .header_count = 20,
                                  .body_size = 1 << 20,
                                  .max_resets_per_10s = 50,
                                  .qpack_max_table_capacity = 4096,
                                  .qpack_blocked_streams = 16,
                                  .peer = client ? "server" : "client",
                                  .client = client};
    return h3_session_new(&p, cb, NULL, 1000000);
}

/* Moves every byte one session offers into the other (at most cap per stream per round). */
static bool move(struct h3_session *from, struct h3_session *to, size_t cap)
{
    bool moved = false;
    int64_t id = -1;
    const uint8_t *d;
    size_t len;
    bool fin;
    while (h3_session_next_output(from, &id, &d, &len, &fin)) {
        size_t n = len < cap ? len : cap;
        if (n == 0 && !fin) continue;
        h3_session_recv_stream(to, id, d, n, fin && n == len, 1000000);
        h3_session_output_consumed(from, id, n);
        moved = true;
    }
    return moved;
}

static void run(struct h3_session *c, struct h3_session *s, size_t cap)
{
    for (int i = 0; i < 10000; i++) {
        bool a = move(c, s, cap);
        bool b = move(s, c, cap);
        if (!a && !b) break;
    }
}

static const str_t UA_N[] = {STR_LIT("user-agent")}, UA_V[] = {STR_LIT("tern-test")};

static struct h3_stream *submit(struct h3_session *c, const char *method, const char *path,
                                struct body_source *body, int64_t len, struct result *r)
{
    struct h3_request_head h = {.method = str_cstr(method),
                                .scheme = STR_LIT("https"),
                                .authority = STR_LIT("example.test"),
                                .path = str_cstr(path),
                                .names = UA_N,
                                .values = UA_V,
                                .n = 1};
    return h3_session_submit(c, &h, body, len, r);
}

static void test_roles_together(void)
{
    struct h3_session *c = mk(true, &client_cbs), *s = mk(false, &server_cbs);
    struct result r[4] = {0};
    struct h3_stream *st = submit(c, "GET", "/", NULL, -1, &r[0]);
    CHECK(st != NULL);
    CHECK_INT((int)st->id, 0);
    size_t big_len = 200000;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + i % 26);
    struct pool *pool = pool_create(1024);
    st = submit(c, "POST", "/up", body_source_mem(pool, big, big_len), (int64_t)big_len, &r[1]);
    CHECK_INT((int)st->id, 4);
    submit(c, "HEAD", "/", NULL, -1, &r[2]);
    submit(c, "GET", "/hints", NULL, -1, &r[3]);
    run(c, s, 1000);
    CHECK(r[0].ended && r[0].code == H3_NO_ERROR);
    CHECK_INT(r[0].status, 200);
    CHECK_STRN(buf_ptr(&r[0].body), buf_size(&r[0].body), "hello, world");
    CHECK_STR(r[0].field, "content-type: text/plain");
    CHECK(r[1].ended && r[1].code == H3_NO_ERROR);
    CHECK_INT((int)buf_size(&r[1].body), (int)big_len);
    CHECK(buf_size(&r[1].body) == big_len && !memcmp(buf_ptr(&r[1].body), big, big_len));
    CHECK(r[2].ended && r[2].code == H3_NO_ERROR && r[2].status == 200);
    CHECK_INT((int)buf_size(&r[2].body), 0);
    CHECK_INT(r[3].interim, 103);
    CHECK_INT(r[3].status, 200);
    CHECK(!h3_session_done(c) && !h3_session_done(s));
    /* the server stops: GOAWAY, and a request after it is refused at once */
    h3_session_shutdown(s, true); /* GOAWAY 2^62-4 first */
    run(c, s, 1000);
    struct result late = {0};
    CHECK(submit(c, "GET", "/", NULL, -1, &late) == NULL);
    for (int i = 0; i < 4; i++)
        buf_free(&r[i].body);
    h3_session_free(c);
    h3_session_free(s);
    pool_destroy(pool);
    free(big);
}

/* ---- a client fed hand-built server streams ---- */

static struct qpack_encoder enc;

/* A HEADERS frame with the fields (name, value pairs; NULL ends) on stream id. */
static void headers(struct buf *b, int64_t id, const char *const *nv)
{
    struct http_field f[32];
    size_t n = 0;
    for (; nv[2 * n]; n++)
        f[n] = (struct http_field){str_cstr(nv[2 * n]), str_cstr(nv[2 * n + 1]),
                                   http_token_lookup(nv[2 * n], strlen(nv[2 * n]))};
    struct buf blk = {0};
    qpack_encode_section(&enc, (uint64_t)id, f, n, &blk);
    h3_write_headers(b, buf_ptr(&blk), buf_size(&blk));
    buf_free(&blk);
}

/* A client with one GET submitted (stream 0) and the server's control stream (SETTINGS). */
static struct h3_session *client_with_request(struct result *r)
{
    memset(r, 0, sizeof(*r));
    struct h3_session *c = mk(true, &client_cbs);
    submit(c, "GET", "/", NULL, -1, r);
    CHECK_INT(h3_session_recv_stream(c, 3, (const uint8_t *)"\x00\x04\x00", 3, false, 1000000), 0);
    return c;
}

/* Feeds a response (fields, then body bytes as one DATA frame when body is not NULL). */
static void respond_with(struct h3_session *c, const char *const *nv, const char *body)
{
    struct buf b = {0};
    headers(&b, 0, nv);
    if (body) h3_write_data(&b, body, strlen(body));
    h3_session_recv_stream(c, 0, (const uint8_t *)buf_ptr(&b), buf_size(&b), true, 1000000);
    buf_free(&b);
}

static void check_stream_error(const char *const *nv, const char *body, uint64_t code)
{
    struct result r;
    struct h3_session *c = client_with_request(&r);
    respond_with(c, nv, body);
    CHECK(r.ended);
    CHECK_INT((int)r.code, (int)code);
    CHECK(!h3_session_done(c)); /* a stream error: the connection goes on */
    buf_free(&r.body);
    h3_session_free(c);
}

static void test_bad_responses(void)
{
    qpack_encoder_init(&enc);
    static const char *const ok[] = {":status", "200", "content-length", "2", NULL};
    struct result r;
    struct h3_session *c = client_with_request(&r);
    respond_with(c, ok, "hi");
    CHECK(r.ended && r.code == H3_NO_ERROR);
    CHECK_STRN(buf_ptr(&r.body), buf_size(&r.body), "hi");
    buf_free(&r.body);
    h3_session_free(c);

    /* §4.1.2: content-length and DATA disagree, both ways */
    check_stream_error(ok, "hello", H3_MESSAGE_ERROR);
    check_stream_error(ok, "h", H3_MESSAGE_ERROR);
    /* §4.2: an upper-case name (hand-encoded: the encoder writes names in lower case):
     * section prefix 0 0, :status 200 (static 25), literal name "X-Big", value "1" */
    c = client_with_request(&r);
    static const uint8_t upper[] = {0x01, 0x0b, 0x00, 0x00, 0xd9, 0x25, 'X',
                                    '-',  'B',  'i',  'g',  0x01, '1'};
    h3_session_recv_stream(c, 0, upper, sizeof(upper), true, 1000000);
    CHECK(r.ended);
    CHECK_INT((int)r.code, H3_MESSAGE_ERROR);
    h3_session_free(c);
    static const char *const conn[] = {":status", "200", "connection", "close", NULL};
    check_stream_error(conn, NULL, H3_MESSAGE_ERROR);
    static const char *const reqpseudo[] = {":status", "200", ":path", "/", NULL};
    check_stream_error(reqpseudo, NULL, H3_MESSAGE_ERROR);
    static const char *const nostatus[] = {"server", "x", NULL};
    check_stream_error(nostatus, NULL, H3_MESSAGE_ERROR);
    static const char *const late[] = {"server", "x", ":status", "200", NULL};
    check_stream_error(late, NULL, H3_MESSAGE_ERROR);
    static const char *const bad_status[] = {":status", "20", NULL};
    check_stream_error(bad_status, NULL, H3_MESSAGE_ERROR);
    /* a header section over max_field_section_size (4096) fails the stream, bounded */
    static char big[5000];
    memset(big, 'v', sizeof(big) - 1);
    const char *const huge[] = {":status", "200", "x-big", big, NULL};
    check_stream_error(huge, NULL, H3_EXCESSIVE_LOAD);
    /* a stream of interim responses is cut off (H3_MAX_INTERIM) */
    c = client_with_request(&r);
    static const char *const early[] = {":status", "103", "link", "</a.css>", NULL};
    struct buf b = {0};
    for (int i = 0; i <= H3_MAX_INTERIM; i++)
        headers(&b, 0, early);
    h3_session_recv_stream(c, 0, (const uint8_t *)buf_ptr(&b), buf_size(&b), false, 1000000);
    buf_free(&b);
    CHECK(r.ended);
    CHECK_INT((int)r.code, H3_EXCESSIVE_LOAD);
    h3_session_free(c);
    qpack_encoder_free(&enc);
}

/* A connection error from bytes on a server stream: returns the code the session died with. */
static uint64_t conn_err(int64_t id, const char *p, size_t len)
{
    struct result r;
    struct h3_session *c = client_with_request(&r);
    h3_session_recv_stream(c, id, (const uint8_t *)p, len, false, 1000000);
    uint64_t code = h3_session_done(c) ? h3_session_error_code(c) : 0;
    h3_session_free(c);
    CHECK(r.ended); /* the request fails with the connection */
    buf_free(&r.body);
    return code;
}

static void test_bad_server_streams(void)
{
    /* §4.6: a push stream, though we never sent MAX_PUSH_ID */
    CHECK_INT((int)conn_err(7, "\x01\x00", 2), H3_ID_ERROR);
    /* a PUSH_PROMISE on the request stream */
    CHECK_INT((int)conn_err(0, "\x05\x02\x00\x00", 4), H3_ID_ERROR);
    /* control frames the server may not send: MAX_PUSH_ID, CANCEL_PUSH, PRIORITY_UPDATE */
    CHECK_INT((int)conn_err(3, "\x0d\x01\x00", 3), H3_FRAME_UNEXPECTED);
    CHECK_INT((int)conn_err(3, "\x03\x01\x00", 3), H3_ID_ERROR);
    /* GOAWAY with an id that is no request stream's */
    CHECK_INT((int)conn_err(3, "\x07\x01\x02", 3), H3_ID_ERROR);
    /* data on a request stream never opened, and on a server bidi stream */
    CHECK_INT((int)conn_err(8, "\x01\x00", 2), H3_STREAM_CREATION_ERROR);
    CHECK_INT((int)conn_err(1, "\x01\x00", 2), H3_STREAM_CREATION_ERROR);
    /* DATA before HEADERS */
    CHECK_INT((int)conn_err(0, "\x00\x01x", 3), H3_FRAME_UNEXPECTED);

    /* GOAWAY 0: the request on stream 0 was not processed and may be retried */
    struct result r;
    struct h3_session *c = client_with_request(&r);
    CHECK_INT(h3_session_recv_stream(c, 3, (const uint8_t *)"\x07\x01\x00", 3, false, 1000000), 0);
    CHECK(r.ended);
    CHECK_INT((int)r.code, H3_REQUEST_REJECTED);
    h3_session_free(c);
    /* the server resets the stream */
    c = client_with_request(&r);
    h3_session_stream_reset(c, 0, H3_INTERNAL_ERROR, 1000000);
    CHECK(r.ended);
    CHECK_INT((int)r.code, H3_INTERNAL_ERROR);
    h3_session_free(c);
}

int main(void)
{
    test_roles_together();
    test_bad_responses();
    test_bad_server_streams();
    return check_done("h3/session_client");
}
