/* The HTTP/2 engine in the client role: against the same engine as a server (both in memory),
 * and against hand-made server frames that break the rules (each one fails its stream or the
 * connection with the RFC 9113 code, never a crash). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "h2/session.h"

/* ---- the server side: echoes a request body, else a fixed body ---- */

static const char *body_text = "hello, world";

static void srv_request(struct h2_session *s, struct h2_stream *st)
{
    (void)s;
    st->resp.status = 200;
    http_fields_add(&st->resp.headers, st->pool, STR_LIT("content-type"), STR_LIT("text/plain"));
    if (st->req.body_len) {
        st->resp.body = body_source_mem(st->pool, st->req.body, st->req.body_len);
        st->resp.content_length = (int64_t)st->req.body_len;
    } else {
        st->resp.body = body_source_mem(st->pool, body_text, strlen(body_text));
        st->resp.content_length = (int64_t)strlen(body_text);
    }
}

static const struct h2_session_callbacks srv_cbs = {.on_request = srv_request};

static struct h2_session *server(uint32_t max_streams)
{
    struct h2_session_params p = {.h2 = {.enabled = true,
                                         .max_concurrent_streams = max_streams,
                                         .initial_window_size = 65535,
                                         .connection_window = 1 << 24,
                                         .max_frame_size = 16384,
                                         .header_table_size = 4096,
                                         .max_header_list_size = 16384,
                                         .max_resets_per_10s = 200,
                                         .max_continuations = 16,
                                         .max_idle_frames_per_10s = 1000,
                                         .max_control_queue = 65536,
                                         .preface_timeout = 10,
                                         .idle_timeout = 10,
                                         .stalled_stream_timeout = 10},
                                  .header_count = 100,
                                  .body_size = 1 << 20,
                                  .peer = "server"};
    return h2_session_new(&p, &srv_cbs, NULL, 1000);
}

/* ---- the client side: records what arrives per stream ---- */

struct result {
    int status, interim;
    char body[1 << 16];
    size_t body_len;
    bool closed, done;
    const char *error;
    uint32_t error_code;
};

static void cl_response(struct h2_session *s, struct h2_stream *st, bool interim)
{
    (void)s;
    struct result *r = st->user;
    if (interim)
        r->interim = st->resp.status;
    else
        r->status = st->resp.status;
}

static int cl_data(struct h2_session *s, struct h2_stream *st, const uint8_t *d, size_t n)
{
    (void)s;
    struct result *r = st->user;
    if (r->body_len + n > sizeof(r->body)) return -1;
    memcpy(r->body + r->body_len, d, n);
    r->body_len += n;
    return 0;
}

static void cl_close(struct h2_session *s, struct h2_stream *st)
{
    (void)s;
    struct result *r = st->user;
    r->closed = true;
    r->done = st->response_done && !st->error;
    r->error = st->error;
    r->error_code = st->error_code;
}

static const struct h2_session_callbacks cl_cbs = {
    .on_response = cl_response, .on_data = cl_data, .on_stream_close = cl_close};

static struct h2_session *client(void)
{
    struct h2_session_params p;
    h2_session_client_params(&p, true, "client");
    return h2_session_new(&p, &cl_cbs, NULL, 1000);
}

/* Moves bytes both ways until neither side has any. */
static void pump(struct h2_session *c, struct h2_session *s)
{
    for (int round = 0; round < 1000; round++) {
        h2_session_produce(c, 1 << 20);
        h2_session_produce(s, 1 << 20);
        struct buf *co = h2_session_output(c), *so = h2_session_output(s);
        if (!buf_size(co) && !buf_size(so)) return;
        if (buf_size(co))
            buf_consume(co, h2_session_recv(s, (const uint8_t *)buf_ptr(co), buf_size(co), 1000));
        if (buf_size(so))
            buf_consume(so, h2_session_recv(c, (const uint8_t *)buf_ptr(so), buf_size(so), 1000));
    }
}

static struct h2_stream *get(struct h2_session *c, const char *method, const char *path,
                             struct result *r, struct body_source *body, int64_t len)
{
    static const str_t names[] = {STR_LIT("user-agent"), STR_LIT("authorization")};
    static const str_t values[] = {STR_LIT("test"), STR_LIT("Basic dTpw")};
    struct h2_request_out rq = {.method = str_cstr(method),
                                .scheme = STR_LIT("https"),
                                .authority = STR_LIT("example.com"),
                                .path = str_cstr(path),
                                .names = names,
                                .values = values,
                                .n_fields = 2,
                                .body = body,
                                .body_length = len,
                                .user = r};
    return h2_session_submit(c, &rq);
}

static void test_against_server(void)
{
    struct h2_session *c = client(), *s = server(100);
    static struct result r1, r2, r3;
    CHECK(h2_session_can_submit(c));
    CHECK(get(c, "GET", "/a", &r1, NULL, -1) != NULL);
    struct pool *pool = pool_create(4096);
    static const char upload[] = "an uploaded body";
    CHECK(get(c, "POST", "/b", &r2, body_source_mem(pool, upload, sizeof(upload) - 1),
              sizeof(upload) - 1) != NULL);
    CHECK(get(c, "HEAD", "/c", &r3, NULL, -1) != NULL);
    pump(c, s);
    CHECK(r1.done);
    CHECK_INT(r1.status, 200);
    CHECK_STRN(r1.body, r1.body_len, body_text);
    CHECK(r2.done);
    CHECK_STRN(r2.body, r2.body_len, upload);
    CHECK(r3.done);
    CHECK_INT(r3.body_len, 0);
    CHECK_INT(c->streams.count, 0);
    CHECK(!c->dead && !s->dead);
    h2_session_free(c);
    h2_session_free(s);
    pool_destroy(pool);
}

/* The server's stream limit holds submissions back until streams end. */
static void test_stream_limit(void)
{
    struct h2_session *c = client(), *s = server(2);
    static struct result r[5];
    pump(c, s); /* SETTINGS both ways */
    int n = 0;
    while (n < 5 && h2_session_can_submit(c))
        CHECK(get(c, "GET", "/", &r[n++], NULL, -1) != NULL);
    CHECK_INT(n, 2);
    pump(c, s);
    CHECK(r[0].done && r[1].done);
    while (n < 5 && h2_session_can_submit(c))
        CHECK(get(c, "GET", "/", &r[n++], NULL, -1) != NULL);
    CHECK_INT(n, 4);
    h2_session_free(c);
    h2_session_free(s);
}

/* ---- hostile servers: hand-made frames ---- */

static struct hpack_encoder henc;

static void block(struct buf *out, uint32_t id, const char *const *fields, size_t n, bool end)
{
    struct buf b = {0};
    hpack_encode_begin(&henc, &b);
    for (size_t i = 0; i + 1 < n; i += 2)
        hpack_encode_field(&henc, &b, str_cstr(fields[i]), str_cstr(fields[i + 1]), HTTP_TOKEN_NONE,
                           false);
    h2_write_headers(out, id, 0, (const uint8_t *)buf_ptr(&b), buf_size(&b), end, 16384);
    buf_free(&b);
}

/* Starts a client with one GET on stream 1 and the server's SETTINGS in out. */
static struct h2_session *hostile_start(struct result *r, struct buf *out)
{
    hpack_encoder_init(&henc);
    struct h2_session *c = client();
    get(c, "GET", "/", r, NULL, -1);
    buf_clear(h2_session_output(c));
    h2_write_settings(out, NULL, NULL, 0);
    return c;
}

static void feed(struct h2_session *c, struct buf *in)
{
    h2_session_recv(c, (const uint8_t *)buf_ptr(in), buf_size(in), 2000);
    buf_free(in);
}

static void expect_stream_error(const char *const *fields, size_t n, bool end, const char *data,
                                uint32_t code)
{
    static struct result r;
    memset(&r, 0, sizeof(r));
    struct buf in = {0};
    struct h2_session *c = hostile_start(&r, &in);
    block(&in, 1, fields, n, end);
    if (data) h2_write_data(&in, 1, data, strlen(data), true);
    feed(c, &in);
    CHECK(r.closed && !r.done);
    CHECK_INT(r.error_code, code);
    CHECK(!c->dead);
    h2_session_free(c);
    hpack_encoder_free(&henc);
}

static void expect_raw_stream_error(const char *blk, size_t len)
{
    static struct result r;
    memset(&r, 0, sizeof(r));
    struct buf in = {0};
    struct h2_session *c = hostile_start(&r, &in);
    h2_write_headers(&in, 1, 0, (const uint8_t *)blk, len, true, 16384);
    feed(c, &in);
    CHECK(r.closed && !r.done);
    CHECK_INT(r.error_code, H2_PROTOCOL_ERROR);
    h2_session_free(c);
    hpack_encoder_free(&henc);
}

static void expect_conn_error(void (*frames)(struct buf *), uint32_t code)
{
    static struct result r;
    memset(&r, 0, sizeof(r));
    struct buf in = {0};
    struct h2_session *c = hostile_start(&r, &in);
    frames(&in);
    feed(c, &in);
    CHECK(c->dead);
    CHECK_INT(c->error_code, code);
    h2_session_free(c);
    CHECK(r.closed && !r.done);
    hpack_encoder_free(&henc);
}

static void push_promise(struct buf *in)
{
    h2_write_headers(in, 1, 2, (const uint8_t *)"\x82", 1, false, 16384);
}

static void enable_push(struct buf *in)
{
    uint16_t id = H2_SETTINGS_ENABLE_PUSH;
    uint32_t v = 1;
    h2_write_settings(in, &id, &v, 1);
}

static void headers_on_idle(struct buf *in)
{
    static const char *const f[] = {":status", "200"};
    block(in, 3, f, 2, true);
}

static void data_on_even(struct buf *in)
{
    h2_write_data(in, 2, "x", 1, true);
}

static void priority_update(struct buf *in)
{
    h2_write_priority_update(in, 1, "u=1", 3);
}

static void test_hostile(void)
{
    static const char *const no_status[] = {"content-type", "text/plain"};
    expect_stream_error(no_status, 2, true, NULL, H2_PROTOCOL_ERROR);
    static const char *const two_status[] = {":status", "200", ":status", "204"};
    expect_stream_error(two_status, 4, true, NULL, H2_PROTOCOL_ERROR);
    static const char *const req_pseudo[] = {":status", "200", ":path", "/"};
    expect_stream_error(req_pseudo, 4, true, NULL, H2_PROTOCOL_ERROR);
    expect_raw_stream_error("\x88\x00\x07X-Upper\x01x", 12); /* the encoder lower-cases */
    static const char *const conn[] = {":status", "200", "connection", "close"};
    expect_stream_error(conn, 4, true, NULL, H2_PROTOCOL_ERROR);
    static const char *const bad_status[] = {":status", "2000"};
    expect_stream_error(bad_status, 2, true, NULL, H2_PROTOCOL_ERROR);
    static const char *const switching[] = {":status", "101"};
    expect_stream_error(switching, 2, false, NULL, H2_PROTOCOL_ERROR);
    static const char *const interim_end[] = {":status", "103"};
    expect_stream_error(interim_end, 2, true, NULL, H2_PROTOCOL_ERROR);
    static const char *const short_body[] = {":status", "200", "content-length", "10"};
    expect_stream_error(short_body, 4, false, "abc", H2_PROTOCOL_ERROR);
    static const char *const long_body[] = {":status", "200", "content-length", "1"};
    expect_stream_error(long_body, 4, false, "abc", H2_PROTOCOL_ERROR);
    static const char *const two_lengths[] = {":status",        "200", "content-length", "1",
                                              "content-length", "2"};
    expect_stream_error(two_lengths, 6, false, "a", H2_PROTOCOL_ERROR);
    expect_conn_error(push_promise, H2_PROTOCOL_ERROR);
    expect_conn_error(enable_push, H2_PROTOCOL_ERROR);
    expect_conn_error(headers_on_idle, H2_PROTOCOL_ERROR);
    expect_conn_error(data_on_even, H2_PROTOCOL_ERROR);
    expect_conn_error(priority_update, H2_PROTOCOL_ERROR);
}

/* Interim responses are handed on and the final one follows; a GOAWAY fails the streams it
 * did not take. */
static void test_interim_and_goaway(void)
{
    static struct result r, r2;
    struct buf in = {0};
    struct h2_session *c = hostile_start(&r, &in);
    get(c, "GET", "/second", &r2, NULL, -1);
    static const char *const early[] = {":status", "103", "link", "</a.css>; rel=preload"};
    static const char *const ok[] = {":status", "200", "content-length", "2"};
    block(&in, 1, early, 4, false);
    block(&in, 1, ok, 4, false);
    h2_write_data(&in, 1, "ok", 2, true);
    h2_write_goaway(&in, 1, H2_NO_ERROR, NULL);
    feed(c, &in);
    CHECK_INT(r.interim, 103);
    CHECK_INT(r.status, 200);
    CHECK(r.done);
    CHECK_STRN(r.body, r.body_len, "ok");
    CHECK(r2.closed && !r2.done);
    CHECK_INT(r2.error_code, H2_REFUSED_STREAM);
    CHECK(!h2_session_can_submit(c));
    CHECK(h2_session_done(c));
    h2_session_free(c);
    hpack_encoder_free(&henc);
}

/* A response head larger than the client's limit fails its stream, and HPACK stays in sync. */
static void test_oversized_head(void)
{
    static struct result r;
    struct buf in = {0};
    struct h2_session *c = hostile_start(&r, &in);
    static char big[70000];
    memset(big, 'a', sizeof(big) - 1);
    const char *fields[] = {":status", "200", "x-big", big};
    struct buf b = {0};
    hpack_encode_begin(&henc, &b);
    for (size_t i = 0; i < 4; i += 2)
        hpack_encode_field(&henc, &b, str_cstr(fields[i]), str_cstr(fields[i + 1]), HTTP_TOKEN_NONE,
                           false);
    h2_write_headers(&in, 1, 0, (const uint8_t *)buf_ptr(&b), buf_size(&b), true, 16384);
    buf_free(&b);
    feed(c, &in);
    CHECK(r.closed && !r.done);
    h2_session_free(c);
    hpack_encoder_free(&henc);
}

int main(void)
{
    test_against_server();
    test_stream_limit();
    test_hostile();
    test_interim_and_goaway();
    test_oversized_head();
    return check_done("h2/client");
}
