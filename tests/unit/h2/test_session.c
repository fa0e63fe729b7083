/* The HTTP/2 engine driven with hand-made bytes in memory: preface and SETTINGS exchange,
 * requests and responses, stream states, flow control, and each defence's GOAWAY code. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "h2/session.h"

static int n_requests;
static uint64_t test_body_size = 1000;
static int n_closed;
static const char *body_text = "hello, world";

static void on_request(struct h2_session *s, struct h2_stream *st)
{
    (void)s;
    n_requests++;
    if (st->reject_status) {
        st->resp.status = st->reject_status;
        st->resp.content_length = 0;
        return;
    }
    st->resp.status = 200;
    http_fields_add(&st->resp.headers, st->pool, STR_LIT("Content-Type"), STR_LIT("text/plain"));
    size_t len = strlen(body_text);
    if (st->req.body_len) { /* echo uploads */
        st->resp.body = body_source_mem(st->pool, st->req.body, st->req.body_len);
        st->resp.content_length = (int64_t)st->req.body_len;
    } else {
        st->resp.body = body_source_mem(st->pool, body_text, len);
        st->resp.content_length = (int64_t)len;
    }
}

static void on_close(struct h2_session *s, struct h2_stream *st)
{
    (void)s;
    (void)st;
    n_closed++;
}

static const struct h2_session_callbacks cbs = {.on_request = on_request,
                                                .on_stream_close = on_close};

static struct config_http2 h2cfg(void)
{
    return (struct config_http2){.enabled = true,
                                 .h2c = true,
                                 .max_concurrent_streams = 128,
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
                                 .stalled_stream_timeout = 10};
}

static struct h2_session *mk(struct config_http2 c)
{
    struct h2_session_params p = {
        .h2 = c, .header_count = 100, .body_size = test_body_size, .peer = "t"};
    return h2_session_new(&p, &cbs, NULL, 1000000);
}

static struct buf in;
static struct hpack_encoder cenc;
static struct hpack_decoder cdec;

static void feed(struct h2_session *s)
{
    size_t used = h2_session_recv(s, (const uint8_t *)buf_ptr(&in), buf_size(&in), s->now_ms);
    buf_consume(&in, used);
    h2_session_produce(s, 1 << 20);
}

static void preface(struct h2_session *s)
{
    buf_clear(&in);
    buf_append(&in, H2_PREFACE, H2_PREFACE_LEN);
    h2_write_settings(&in, NULL, NULL, 0);
    h2_write_settings_ack(&in);
    feed(s);
    buf_clear(&s->out);
}

/* A request header block for method/path (extra: one more "name: value" field or NULL). */
static void request(uint32_t id, const char *method, const char *path, bool end, const char *xname,
                    const char *xvalue)
{
    struct buf blk = {0};
    hpack_encode_begin(&cenc, &blk);
    hpack_encode_field(&cenc, &blk, STR_LIT(":method"), str_cstr(method), HTTP_TOKEN_NONE, false);
    hpack_encode_field(&cenc, &blk, STR_LIT(":scheme"), STR_LIT("http"), HTTP_TOKEN_NONE, false);
    hpack_encode_field(&cenc, &blk, STR_LIT(":path"), str_cstr(path), HTTP_TOKEN_NONE, false);
    hpack_encode_field(&cenc, &blk, STR_LIT(":authority"), STR_LIT("example.org"), HTTP_TOKEN_NONE,
                       false);
    if (xname) {
        /* literal without indexing, name as given (may have upper case) */
        uint8_t b = 0x00;
        buf_append(&blk, &b, 1);
        b = (uint8_t)strlen(xname);
        buf_append(&blk, &b, 1);
        buf_append(&blk, xname, strlen(xname));
        b = (uint8_t)strlen(xvalue);
        buf_append(&blk, &b, 1);
        buf_append(&blk, xvalue, strlen(xvalue));
    }
    h2_write_headers(&in, id, 0, (const uint8_t *)buf_ptr(&blk), buf_size(&blk), end, 16384);
    buf_free(&blk);
}

struct seen {
    int n;
    struct h2_frame_header hd[64];
    uint32_t code[64]; /* RST/GOAWAY code, WINDOW_UPDATE increment */
    size_t data_bytes;
    int status;
};

static struct seen scan(struct h2_session *s)
{
    struct seen r;
    memset(&r, 0, sizeof(r));
    const uint8_t *p = (const uint8_t *)buf_ptr(&s->out);
    size_t len = buf_size(&s->out), off = 0;
    while (len - off >= 9 && r.n < 64) {
        struct h2_frame_header hd;
        h2_frame_header_parse(p + off, &hd);
        const uint8_t *pl = p + off + 9;
        r.hd[r.n] = hd;
        if (hd.type == H2_RST_STREAM || hd.type == H2_WINDOW_UPDATE)
            r.code[r.n] = (uint32_t)pl[0] << 24 | pl[1] << 16 | pl[2] << 8 | pl[3];
        if (hd.type == H2_GOAWAY)
            r.code[r.n] = (uint32_t)pl[4] << 24 | pl[5] << 16 | pl[6] << 8 | pl[7];
        if (hd.type == H2_DATA) r.data_bytes += hd.length;
        r.n++;
        off += 9 + hd.length;
    }
    return r;
}

static uint32_t code_of(struct seen *r, uint8_t type)
{
    for (int i = 0; i < r->n; i++)
        if (r->hd[i].type == type) return r->code[i];
    return 0xffffffff;
}

static int count_of(struct seen *r, uint8_t type)
{
    int n = 0;
    for (int i = 0; i < r->n; i++)
        n += r->hd[i].type == type;
    return n;
}

/* The last stream id of the last GOAWAY in the session's output (0xffffffff: none). */
static uint32_t goaway_last_id(struct h2_session *s)
{
    const uint8_t *p = (const uint8_t *)buf_ptr(&s->out);
    size_t len = buf_size(&s->out), off = 0;
    uint32_t id = 0xffffffff;
    while (len - off >= 9) {
        struct h2_frame_header hd;
        h2_frame_header_parse(p + off, &hd);
        const uint8_t *pl = p + off + 9;
        if (hd.type == H2_GOAWAY)
            id = ((uint32_t)pl[0] << 24 | pl[1] << 16 | pl[2] << 8 | pl[3]) & 0x7fffffffu;
        off += 9 + hd.length;
    }
    return id;
}

/* A fresh session after the preface, with a fresh client HPACK state. */
static struct h2_session *fresh(struct config_http2 c)
{
    hpack_encoder_free(&cenc);
    hpack_encoder_init(&cenc);
    struct h2_session *s = mk(c);
    preface(s);
    return s;
}

static void expect_goaway(struct config_http2 c, void (*build)(void), uint32_t code, int line)
{
    struct h2_session *s = fresh(c);
    buf_clear(&in);
    build();
    feed(s);
    struct seen r = scan(s);
    if (code_of(&r, H2_GOAWAY) != code || !h2_session_done(s))
        fprintf(stderr, "line %d: GOAWAY code %u, expected %u\n", line,
                (unsigned)code_of(&r, H2_GOAWAY), (unsigned)code);
    CHECK_INT(code_of(&r, H2_GOAWAY), code);
    CHECK(h2_session_done(s));
    h2_session_free(s);
}

static void b_ping7(void)
{
    h2_frame_header_write((uint8_t *)buf_tail(&in), 7, H2_PING, 0, 0);
    buf_reserve(&in, 16);
    memset(buf_tail(&in) + 9, 0, 7);
    buf_commit(&in, 16);
}
static void b_data_idle(void)
{
    h2_write_data(&in, 5, "x", 1, false);
}
static void b_even(void)
{
    request(2, "GET", "/", true, NULL, NULL);
}
static void b_push_promise(void)
{
    request(1, "GET", "/", false, NULL, NULL);
    h2_write_headers(&in, 1, 2, (const uint8_t *)"\x82", 1, false, 16384);
}
static void b_interleave(void)
{
    h2_write_headers(&in, 1, 0, (const uint8_t *)"\x82\x86\x84\x41", 4, false, 2);
    uint8_t ping[8] = {0};
    /* the first frame only: drop the CONTINUATION, insert a PING */
    in.len = in.start + 9 + 2;
    h2_write_ping(&in, ping, false);
}
static void b_continuation_alone(void)
{
    uint8_t *p;
    buf_reserve(&in, 10);
    p = (uint8_t *)buf_tail(&in);
    h2_frame_header_write(p, 1, H2_CONTINUATION, H2_FLAG_END_HEADERS, 1);
    p[9] = 0x82;
    buf_commit(&in, 10);
}
static void b_too_big(void)
{
    buf_reserve(&in, 9);
    h2_frame_header_write((uint8_t *)buf_tail(&in), 16385, H2_DATA, 0, 1);
    buf_commit(&in, 9);
}
static void b_wu_zero_conn(void)
{
    buf_reserve(&in, 13);
    h2_frame_header_write((uint8_t *)buf_tail(&in), 4, H2_WINDOW_UPDATE, 0, 0);
    memset(buf_tail(&in) + 9, 0, 4);
    buf_commit(&in, 13);
}
static void b_wu_overflow(void)
{
    h2_write_window_update(&in, 0, 0x7fffffff);
}
static void b_settings_bad_push(void)
{
    uint16_t id = H2_SETTINGS_ENABLE_PUSH;
    uint32_t v = 2;
    h2_write_settings(&in, &id, &v, 1);
}
static void b_settings_big_window(void)
{
    uint16_t id = H2_SETTINGS_INITIAL_WINDOW_SIZE;
    uint32_t v = 0x80000000u;
    h2_write_settings(&in, &id, &v, 1);
}
static void b_rapid_reset(void)
{
    for (uint32_t i = 0; i < 30; i++) {
        request(1 + 2 * i, "GET", "/", false, NULL, NULL);
        h2_write_rst_stream(&in, 1 + 2 * i, H2_CANCEL);
    }
}
static void b_ping_flood(void)
{
    uint8_t ping[8] = {0};
    for (int i = 0; i < 30; i++)
        h2_write_ping(&in, ping, false);
}
static void b_continuation_flood(void)
{
    h2_write_headers(&in, 1, 0, (const uint8_t *)"\x82", 1, false, 16384);
    in.data[in.len - 10 + 4] = 0; /* clear END_HEADERS */
    for (int i = 0; i < 20; i++) {
        buf_reserve(&in, 9);
        h2_frame_header_write((uint8_t *)buf_tail(&in), 0, H2_CONTINUATION, 0, 1);
        buf_commit(&in, 9);
    }
}
static void b_hpack_garbage(void)
{
    h2_write_headers(&in, 1, 0, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", 6, true, 16384);
}
static void b_data_over_window(void)
{
    request(1, "POST", "/", false, NULL, NULL);
    static char big[2000]; /* one frame larger than the 1000-byte window */
    h2_write_data(&in, 1, big, sizeof(big), false);
}
static void b_headers_closed(void)
{
    request(1, "HEAD", "/", true, NULL, NULL); /* closed at once: no body */
    request(1, "GET", "/", true, NULL, NULL);
}

int main(void)
{
    hpack_encoder_init(&cenc);
    hpack_decoder_init(&cdec, 4096);
    struct config_http2 c = h2cfg();

    /* our preface: SETTINGS then WINDOW_UPDATE to the connection window */
    struct h2_session *s = mk(c);
    struct seen r = scan(s);
    CHECK_INT(r.hd[0].type, H2_SETTINGS);
    CHECK_INT(r.hd[1].type, H2_WINDOW_UPDATE);
    CHECK_INT(r.code[1], (1 << 24) - 65535);
    buf_clear(&s->out);
    /* preface byte by byte, then SETTINGS: answered with an ACK */
    buf_clear(&in);
    buf_append(&in, H2_PREFACE, H2_PREFACE_LEN);
    h2_write_settings(&in, NULL, NULL, 0);
    for (size_t i = 1, off = 0; i <= buf_size(&in); i++)
        off += h2_session_recv(s, (const uint8_t *)buf_ptr(&in) + off, i - off, 1000000);
    CHECK(s->settings_in);
    r = scan(s);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.hd[0].type, H2_SETTINGS);
    CHECK_INT(r.hd[0].flags, H2_FLAG_ACK);
    h2_session_free(s);

    /* a wrong preface closes without a word */
    s = mk(c);
    buf_clear(&s->out);
    CHECK_INT(h2_session_recv(s, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, 1000000), 16);
    CHECK(h2_session_done(s));
    CHECK_INT(buf_size(&s->out), 0);
    h2_session_free(s);

    /* a GET: HEADERS then DATA with END_STREAM; the stream closes */
    s = fresh(c);
    n_requests = n_closed = 0;
    buf_clear(&in);
    request(1, "GET", "/a?b=c", true, NULL, NULL);
    feed(s);
    r = scan(s);
    CHECK_INT(n_requests, 1);
    CHECK_INT(n_closed, 1);
    CHECK_INT(r.n, 2);
    CHECK_INT(r.hd[0].type, H2_HEADERS);
    CHECK_INT(r.hd[0].flags, H2_FLAG_END_HEADERS);
    CHECK_INT(r.hd[1].type, H2_DATA);
    CHECK_INT(r.hd[1].flags, H2_FLAG_END_STREAM);
    CHECK_INT(r.data_bytes, strlen(body_text));
    CHECK_INT(s->streams.count, 0);
    /* HEAD: no DATA, END_STREAM on HEADERS */
    buf_clear(&s->out);
    request(3, "HEAD", "/", true, NULL, NULL);
    feed(s);
    r = scan(s);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.hd[0].flags, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM);
    /* malformed requests: RST_STREAM PROTOCOL_ERROR, the connection lives */
    const char *bad[][2] = {{"Accept", "x"},
                            {"connection", "close"},
                            {"te", "gzip"},
                            {"x", " lead"},
                            {"x", "a\rb"},
                            {":foo", "x"},
                            {"transfer-encoding", "chunked"},
                            {"upgrade", "h2c"}};
    uint32_t id = 5;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++, id += 2) {
        buf_clear(&s->out);
        request(id, "GET", "/", true, bad[i][0], bad[i][1]);
        feed(s);
        r = scan(s);
        CHECK_INT(code_of(&r, H2_RST_STREAM), H2_PROTOCOL_ERROR);
        CHECK(!h2_session_done(s));
    }
    buf_clear(&s->out);
    request(id, "GET", "", true, NULL, NULL); /* empty :path */
    feed(s);
    r = scan(s);
    CHECK_INT(code_of(&r, H2_RST_STREAM), H2_PROTOCOL_ERROR);
    id += 2;
    buf_clear(&s->out);
    request(id, "GET", "/", true, "te", "trailers"); /* allowed */
    feed(s);
    r = scan(s);
    CHECK_INT(count_of(&r, H2_RST_STREAM), 0);
    CHECK_INT(count_of(&r, H2_HEADERS), 1);
    id += 2;
    /* content-length disagreeing with DATA */
    buf_clear(&s->out);
    request(id, "POST", "/", false, "content-length", "5");
    h2_write_data(&in, id, "abc", 3, true);
    feed(s);
    r = scan(s);
    CHECK_INT(code_of(&r, H2_RST_STREAM), H2_PROTOCOL_ERROR);
    id += 2;
    /* a POST body echoed back; trailers accepted */
    buf_clear(&s->out);
    request(id, "POST", "/", false, NULL, NULL);
    h2_write_data(&in, id, "0123456789", 10, false);
    {
        struct buf blk = {0};
        hpack_encode_begin(&cenc, &blk);
        hpack_encode_field(&cenc, &blk, STR_LIT("x-trailer"), STR_LIT("1"), HTTP_TOKEN_NONE, false);
        h2_write_headers(&in, id, 0, (const uint8_t *)buf_ptr(&blk), buf_size(&blk), true, 16384);
        buf_free(&blk);
    }
    feed(s);
    r = scan(s);
    CHECK_INT(count_of(&r, H2_HEADERS), 1);
    CHECK_INT(r.data_bytes, 10);
    id += 2;
    /* DATA on a half-closed (remote) stream: STREAM_CLOSED (the response is held by a 0 window) */
    {
        uint16_t sid = H2_SETTINGS_INITIAL_WINDOW_SIZE;
        uint32_t v = 0;
        h2_write_settings(&in, &sid, &v, 1);
    }
    request(id, "GET", "/", true, NULL, NULL);
    h2_write_data(&in, id, "x", 1, false);
    buf_clear(&s->out);
    feed(s);
    r = scan(s);
    CHECK_INT(code_of(&r, H2_RST_STREAM), H2_STREAM_CLOSED);
    CHECK(!h2_session_done(s));
    h2_session_free(s);

    /* flow control: a 0 initial window holds DATA; WINDOW_UPDATE releases it bit by bit; a
     * SETTINGS change makes the window negative */
    body_text = "0123456789abcdefghij";
    s = fresh(c);
    buf_clear(&in);
    {
        uint16_t sid = H2_SETTINGS_INITIAL_WINDOW_SIZE;
        uint32_t v = 5;
        h2_write_settings(&in, &sid, &v, 1);
    }
    request(1, "GET", "/", true, NULL, NULL);
    feed(s);
    r = scan(s);
    CHECK_INT(r.data_bytes, 5);
    buf_clear(&s->out);
    h2_write_window_update(&in, 1, 7);
    feed(s);
    r = scan(s);
    CHECK_INT(r.data_bytes, 7);
    buf_clear(&s->out);
    {
        uint16_t sid = H2_SETTINGS_INITIAL_WINDOW_SIZE;
        uint32_t v = 0; /* window 0 - 5 = -5 */
        h2_write_settings(&in, &sid, &v, 1);
    }
    feed(s);
    struct h2_stream *st = h2_stream_find(&s->streams, 1);
    CHECK(st != NULL);
    if (st) CHECK_INT(st->send_window, -5);
    buf_clear(&s->out);
    h2_write_window_update(&in, 1, 10); /* now 5 */
    feed(s);
    r = scan(s);
    CHECK_INT(r.data_bytes, 5);
    /* the stalled stream is cancelled after stalled_stream_timeout */
    buf_clear(&s->out);
    h2_session_produce(s, 1 << 20);
    int64_t d = h2_session_next_deadline(s);
    CHECK(d > 0);
    h2_session_timeout(s, 1000000 + 11000);
    r = scan(s);
    CHECK_INT(code_of(&r, H2_RST_STREAM), H2_CANCEL);
    h2_session_free(s);
    body_text = "hello, world";

    /* a large upload gets WINDOW_UPDATEs; an oversized one is answered 413 */
    s = fresh(c);
    buf_clear(&in);
    request(1, "POST", "/", false, NULL, NULL);
    static char chunk[2000];
    h2_write_data(&in, 1, chunk, sizeof(chunk), false);
    feed(s);
    r = scan(s);
    CHECK_INT(count_of(&r, H2_HEADERS), 1); /* 413 at once */
    CHECK_INT(n_requests > 0, 1);
    h2_session_free(s);

    /* the concurrency limit refuses streams */
    struct config_http2 c2 = h2cfg();
    c2.max_concurrent_streams = 2;
    s = fresh(c2);
    buf_clear(&in);
    request(1, "POST", "/", false, NULL, NULL);
    request(3, "POST", "/", false, NULL, NULL);
    request(5, "POST", "/", false, NULL, NULL);
    feed(s);
    r = scan(s);
    CHECK_INT(code_of(&r, H2_RST_STREAM), H2_REFUSED_STREAM);
    CHECK_INT(r.hd[0].stream_id, 5);
    CHECK(!h2_session_done(s));
    /* graceful shutdown, RFC 9113 §6.8: GOAWAY NO_ERROR with 2^31-1 and a PING first */
    buf_clear(&s->out);
    h2_session_shutdown(s, true, 1000);
    r = scan(s);
    CHECK_INT(code_of(&r, H2_GOAWAY), H2_NO_ERROR);
    CHECK_INT(count_of(&r, H2_PING), 1);
    CHECK_INT(goaway_last_id(s), H2_MAX_STREAM_ID);
    CHECK(!h2_session_done(s));
    h2_write_data(&in, 1, "", 0, true);
    h2_write_data(&in, 3, "", 0, true);
    feed(s);
    CHECK(!h2_session_done(s)); /* the final GOAWAY is not out yet */
    /* a stream the client opened before it saw the GOAWAY is still served */
    buf_clear(&s->out);
    request(7, "POST", "/", false, NULL, NULL);
    feed(s);
    CHECK(h2_stream_find(&s->streams, 7) != NULL);
    /* the PING's ack: the final GOAWAY names the last stream taken */
    buf_clear(&s->out);
    h2_write_ping(&in, (const uint8_t *)H2_GOAWAY_PING, true);
    feed(s);
    CHECK_INT(goaway_last_id(s), 7);
    /* streams after it are ignored; done when stream 7 ends */
    request(9, "POST", "/", false, NULL, NULL);
    feed(s);
    CHECK(h2_stream_find(&s->streams, 9) == NULL);
    CHECK(!h2_session_done(s));
    h2_write_data(&in, 7, "", 0, true);
    feed(s);
    CHECK(h2_session_done(s));
    h2_session_free(s);

    /* without the PING's ack, the final GOAWAY follows after H2_GOAWAY_GRACE_MS */
    s = fresh(c2);
    buf_clear(&in);
    request(1, "POST", "/", false, NULL, NULL);
    feed(s);
    buf_clear(&s->out);
    h2_session_shutdown(s, true, 5000);
    CHECK_INT(goaway_last_id(s), H2_MAX_STREAM_ID);
    CHECK(h2_session_next_deadline(s) <= 5000 + H2_GOAWAY_GRACE_MS);
    buf_clear(&s->out);
    h2_session_timeout(s, 5000 + H2_GOAWAY_GRACE_MS);
    CHECK_INT(goaway_last_id(s), 1);
    h2_write_data(&in, 1, "", 0, true);
    feed(s);
    CHECK(h2_session_done(s));
    h2_session_free(s);

    /* connection errors and defences */
    expect_goaway(c, b_ping7, H2_FRAME_SIZE_ERROR, __LINE__);
    expect_goaway(c, b_data_idle, H2_PROTOCOL_ERROR, __LINE__);
    expect_goaway(c, b_even, H2_PROTOCOL_ERROR, __LINE__);
    expect_goaway(c, b_push_promise, H2_PROTOCOL_ERROR, __LINE__);
    expect_goaway(c, b_interleave, H2_PROTOCOL_ERROR, __LINE__);
    expect_goaway(c, b_continuation_alone, H2_PROTOCOL_ERROR, __LINE__);
    expect_goaway(c, b_too_big, H2_FRAME_SIZE_ERROR, __LINE__);
    expect_goaway(c, b_wu_zero_conn, H2_PROTOCOL_ERROR, __LINE__);
    expect_goaway(c, b_wu_overflow, H2_FLOW_CONTROL_ERROR, __LINE__);
    expect_goaway(c, b_settings_bad_push, H2_PROTOCOL_ERROR, __LINE__);
    expect_goaway(c, b_settings_big_window, H2_FLOW_CONTROL_ERROR, __LINE__);
    expect_goaway(c, b_hpack_garbage, H2_COMPRESSION_ERROR, __LINE__);
    test_body_size = 1 << 20;
    struct config_http2 cw = h2cfg();
    cw.initial_window_size = 1000;
    expect_goaway(cw, b_data_over_window, H2_FLOW_CONTROL_ERROR, __LINE__);
    test_body_size = 1000;
    expect_goaway(c, b_headers_closed, H2_STREAM_CLOSED, __LINE__);
    struct config_http2 cd = h2cfg();
    cd.max_resets_per_10s = 20;
    cd.max_idle_frames_per_10s = 20;
    cd.max_continuations = 10;
    expect_goaway(cd, b_rapid_reset, H2_ENHANCE_YOUR_CALM, __LINE__);
    expect_goaway(cd, b_ping_flood, H2_ENHANCE_YOUR_CALM, __LINE__);
    expect_goaway(cd, b_continuation_flood, H2_ENHANCE_YOUR_CALM, __LINE__);

    /* timeouts: SETTINGS never acknowledged; idle connection */
    s = mk(c);
    buf_clear(&in);
    buf_append(&in, H2_PREFACE, H2_PREFACE_LEN);
    h2_write_settings(&in, NULL, NULL, 0);
    feed(s);
    buf_clear(&s->out);
    h2_session_timeout(s, 1000000 + 10001);
    r = scan(s);
    CHECK_INT(code_of(&r, H2_GOAWAY), H2_SETTINGS_TIMEOUT);
    h2_session_free(s);
    s = fresh(c);
    buf_clear(&in);
    request(1, "GET", "/", true, NULL, NULL);
    feed(s);
    buf_clear(&s->out);
    h2_session_timeout(s, s->idle_deadline_ms);
    r = scan(s);
    CHECK_INT(code_of(&r, H2_GOAWAY), H2_NO_ERROR);
    CHECK(h2_session_done(s));
    h2_session_free(s);
    /* a header block trickling past preface_timeout */
    s = fresh(c);
    buf_clear(&in);
    h2_write_headers(&in, 1, 0, (const uint8_t *)"\x82", 1, false, 16384);
    in.data[in.len - 10 + 4] = 0;
    feed(s);
    h2_session_timeout(s, 1000000 + 10001);
    r = scan(s);
    CHECK_INT(code_of(&r, H2_GOAWAY), H2_ENHANCE_YOUR_CALM);
    h2_session_free(s);

    hpack_encoder_free(&cenc);
    hpack_decoder_free(&cdec);
    buf_free(&in);
    return check_done("h2/session");
}
