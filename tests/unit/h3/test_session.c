/* The HTTP/3 engine driven with hand-built stream bytes: a client control stream with SETTINGS,
 * requests QPACK-encoded by the real encoder, responses decoded back per stream, and each
 * connection and stream error code the session raises. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "h3/session.h"
#include "h3/varint.h"

static uint64_t body_limit = 1000;
static int64_t header_timeout_ms, send_timeout_ms; /* for the next mk() */
static int n_requests, n_closed;
static const char *big_body;
static size_t big_len;

struct event {
    int64_t id;
    uint64_t code;
};
static struct event resets[64], stops[64];
static int n_resets, n_stops;

static bool last_early; /* req.early_data of the last request seen */
static int n_handled;   /* requests that reached the "handler" (no reject_status) */

static void on_request(struct h3_session *s, struct h3_stream *st)
{
    (void)s;
    n_requests++;
    last_early = st->req.early_data;
    if (st->reject_status) {
        st->resp.status = st->reject_status;
        st->resp.content_length = 0;
        return;
    }
    n_handled++;
    st->resp.status = 200;
    http_fields_add(&st->resp.headers, st->pool, STR_LIT("content-type"), STR_LIT("text/plain"));
    if (str_eq(st->req.path, STR_LIT("/hints"))) {
        struct http_fields hints = {0};
        http_fields_add(&hints, st->pool, STR_LIT("link"), STR_LIT("</a.css>; rel=preload"));
        st->req.send_interim(&st->req, 103, &hints);
    }
    const char *b = "hello, world";
    size_t len = strlen(b);
    if (big_body && str_eq(st->req.path, STR_LIT("/big"))) b = big_body, len = big_len;
    if (st->req.body_len) b = st->req.body, len = st->req.body_len; /* echo uploads */
    st->resp.body = body_source_mem(st->pool, b, len);
    st->resp.content_length = (int64_t)len;
}

static void on_close(struct h3_session *s, struct h3_stream *st)
{
    (void)s, (void)st;
    n_closed++;
}

static void on_reset(void *ud, int64_t id, uint64_t code)
{
    (void)ud;
    if (n_resets < 64) resets[n_resets++] = (struct event){id, code};
}

static void on_stop(void *ud, int64_t id, uint64_t code)
{
    (void)ud;
    if (n_stops < 64) stops[n_stops++] = (struct event){id, code};
}

static struct {
    int64_t id;
    struct http_priority prio;
} prios[16];
static int n_prios;

static void on_priority(void *ud, int64_t id, struct http_priority prio)
{
    (void)ud;
    if (n_prios < 16) prios[n_prios].id = id, prios[n_prios++].prio = prio;
}

static const struct h3_session_callbacks cbs = {.on_request = on_request,
                                                .on_stream_close = on_close,
                                                .reset_stream = on_reset,
                                                .stop_sending = on_stop,
                                                .set_priority = on_priority};

/* Output the session produced, per stream id (ids below 64). */
static struct buf outs[64];
static bool fins[64];

static struct h3_session *mk(void)
{
    struct h3_session_params p = {.max_field_section_size = 4096,
                                  .header_count = 20,
                                  .body_size = body_limit,
                                  .max_resets_per_10s = 50,
                                  .qpack_max_table_capacity = 0,
                                  .qpack_blocked_streams = 0,
                                  .header_timeout_ms = header_timeout_ms,
                                  .send_timeout_ms = send_timeout_ms,
                                  .peer = "t"};
    for (int i = 0; i < 64; i++)
        buf_free(&outs[i]), fins[i] = false;
    n_resets = n_stops = n_requests = n_closed = 0;
    return h3_session_new(&p, &cbs, NULL, 1000000);
}

/* Takes every byte the session offers (or at most cap per stream per round). */
static void drain(struct h3_session *s, size_t cap)
{
    int64_t id = -1;
    const uint8_t *d;
    size_t len;
    bool fin;
    while (h3_session_next_output(s, &id, &d, &len, &fin)) {
        size_t n = len < cap ? len : cap;
        if (id < 64) {
            buf_append(&outs[id], d, n);
            if (fin && n == len) fins[id] = true;
        }
        h3_session_output_consumed(s, id, n);
    }
}

static int feed(struct h3_session *s, int64_t id, const void *p, size_t len, bool fin)
{
    return h3_session_recv_stream(s, id, p, len, fin, 1000000);
}

/* A client control stream with an empty SETTINGS frame on stream 2. */
static void control(struct h3_session *s)
{
    CHECK_INT(feed(s, 2, "\x00\x04\x00", 3, false), 0);
}

/* Appends a HEADERS frame with the fields (name, value pairs; NULL ends) to b. */
static void headers(struct buf *b, const char *const *nv)
{
    struct qpack_encoder enc;
    qpack_encoder_init(&enc);
    struct http_field f[32];
    size_t n = 0;
    for (; nv[2 * n]; n++) {
        str_t name = str_cstr(nv[2 * n]);
        f[n] = (struct http_field){name, str_cstr(nv[2 * n + 1]),
                                   name.p[0] == ':' ? HTTP_TOKEN_NONE
                                                    : http_token_lookup(name.p, name.len)};
    }
    struct buf blk = {0};
    CHECK_INT(qpack_encode_section(&enc, 0, f, n, &blk), QPACK_OK);
    h3_write_headers(b, buf_ptr(&blk), buf_size(&blk));
    buf_free(&blk);
    qpack_encoder_free(&enc);
}

static const char *const GET[] = {":method",      "GET",   ":scheme", "https", ":authority",
                                  "example.test", ":path", "/",       NULL};

static int send_get(struct h3_session *s, int64_t id, const char *const *nv, bool fin)
{
    struct buf b = {0};
    headers(&b, nv ? nv : GET);
    int rc = feed(s, id, buf_ptr(&b), buf_size(&b), fin);
    buf_free(&b);
    return rc;
}

struct resp {
    int status;
    char ctype[32];
    int64_t clen;
    char body[256];
    size_t body_len;
    int n_headers;
    bool interim;
};

static int on_resp_field(void *ctx, str_t name, str_t value, enum http_token t, bool ni)
{
    (void)t, (void)ni;
    struct resp *r = ctx;
    if (str_eq(name, STR_LIT(":status"))) {
        int st = atoi(value.p);
        if (st < 200)
            r->interim = true;
        else
            r->status = st;
    } else if (str_eq(name, STR_LIT("content-type"))) {
        snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)value.len, value.p);
    } else if (str_eq(name, STR_LIT("content-length"))) {
        r->clen = atoll(value.p);
    }
    return 0;
}

/* Parses the frames of a response stream. */
static struct resp parse_resp(int64_t id)
{
    struct resp r = {.clen = -1};
    struct qpack_decoder dec;
    qpack_decoder_init(&dec, 0, 0);
    struct pool *pool = pool_create(4096);
    const uint8_t *p = (const uint8_t *)buf_ptr(&outs[id]);
    size_t len = buf_size(&outs[id]), off = 0;
    while (off < len) {
        struct h3_frame_header hd;
        size_t n = h3_frame_header_parse(p + off, len - off, &hd);
        if (!n || hd.length > len - off - n) break;
        off += n;
        if (hd.type == H3_FRAME_HEADERS) {
            CHECK_INT(qpack_decode_section(&dec, (uint64_t)id, p + off, hd.length, 65536, pool,
                                           on_resp_field, &r),
                      QPACK_OK);
            r.n_headers++;
        } else if (hd.type == H3_FRAME_DATA && r.body_len + hd.length <= sizeof(r.body)) {
            memcpy(r.body + r.body_len, p + off, hd.length);
            r.body_len += hd.length;
        }
        off += hd.length;
    }
    pool_destroy(pool);
    qpack_decoder_free(&dec);
    return r;
}

static void test_get(void)
{
    struct h3_session *s = mk();
    drain(s, SIZE_MAX);
    /* our uni streams: control (SETTINGS first), QPACK encoder, QPACK decoder */
    CHECK(buf_size(&outs[3]) > 2 && buf_ptr(&outs[3])[0] == 0x00 && buf_ptr(&outs[3])[1] == 0x04);
    CHECK(buf_size(&outs[7]) == 1 && buf_ptr(&outs[7])[0] == 0x02);
    CHECK(buf_size(&outs[11]) == 1 && buf_ptr(&outs[11])[0] == 0x03);
    struct h3_settings st;
    struct h3_frame_header hd;
    size_t hn = h3_frame_header_parse((const uint8_t *)buf_ptr(&outs[3]) + 1, 8, &hd);
    CHECK_INT(h3_settings_parse((const uint8_t *)buf_ptr(&outs[3]) + 1 + hn, hd.length, &st), 0);
    CHECK_INT(st.max_field_section_size, 4096);
    control(s);
    /* the request one byte at a time */
    struct buf b = {0};
    headers(&b, GET);
    for (size_t i = 0; i < buf_size(&b); i++)
        CHECK_INT(feed(s, 0, buf_ptr(&b) + i, 1, false), 0);
    CHECK_INT(n_requests, 0);
    CHECK_INT(feed(s, 0, "", 0, true), 0);
    CHECK_INT(n_requests, 1);
    buf_free(&b);
    drain(s, SIZE_MAX);
    struct resp r = parse_resp(0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.ctype, "text/plain");
    CHECK_INT(r.clen, 12);
    CHECK_STRN(r.body, r.body_len, "hello, world");
    CHECK(fins[0]);
    CHECK_INT(n_closed, 1);
    CHECK(!h3_session_done(s));
    CHECK(h3_session_error_code(s) == UINT64_MAX);
    /* HEAD: headers and FIN, no DATA; 103 Early Hints before the final response */
    const char *const head[] = {":method", "HEAD",  ":scheme", "https", ":authority",
                                "a",       ":path", "/",       NULL};
    CHECK_INT(send_get(s, 4, head, true), 0);
    const char *const hints[] = {":method", "GET",   ":scheme", "https", ":authority",
                                 "a",       ":path", "/hints",  NULL};
    CHECK_INT(send_get(s, 8, hints, true), 0);
    drain(s, SIZE_MAX);
    r = parse_resp(4);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.clen, 12);
    CHECK_INT(r.body_len, 0);
    CHECK(fins[4]);
    r = parse_resp(8);
    CHECK(r.interim);
    CHECK_INT(r.n_headers, 2);
    CHECK_INT(r.status, 200);
    h3_session_free(s);
}

static void test_post(void)
{
    struct h3_session *s = mk();
    control(s);
    const char *const post[] = {":method", "POST", ":scheme",        "https", ":authority", "a",
                                ":path",   "/up",  "content-length", "6",     NULL};
    struct buf b = {0};
    headers(&b, post);
    h3_write_data(&b, "abc", 3);
    h3_write_frame_header(&b, 0x21, 2); /* reserved type: skipped (§7.2.8) */
    buf_append(&b, "zz", 2);
    h3_write_data(&b, "def", 3);
    const char *const trailers[] = {"x-checksum", "1", NULL};
    headers(&b, trailers);
    CHECK_INT(feed(s, 0, buf_ptr(&b), buf_size(&b), true), 0);
    drain(s, SIZE_MAX);
    struct resp r = parse_resp(0);
    CHECK_INT(r.status, 200);
    CHECK_STRN(r.body, r.body_len, "abcdef");
    buf_free(&b);
    /* Content-Length against DATA: a stream error H3_MESSAGE_ERROR (§4.1.2) */
    headers(&b, post);
    h3_write_data(&b, "abc", 3);
    CHECK_INT(feed(s, 4, buf_ptr(&b), buf_size(&b), true), 0);
    CHECK_INT(n_resets, 1);
    CHECK(resets[0].id == 4 && resets[0].code == H3_MESSAGE_ERROR);
    buf_free(&b);
    /* over the body limit: 413; the rest of the upload is read and dropped (no STOP_SENDING:
     * sent with the response, src/quic never sends the response) */
    const char *const big[] = {":method", "POST",  ":scheme", "https", ":authority",
                               "a",       ":path", "/up",     NULL};
    headers(&b, big);
    static char junk[1500];
    h3_write_data(&b, junk, sizeof(junk));
    CHECK_INT(feed(s, 8, buf_ptr(&b), buf_size(&b), false), 0);
    drain(s, SIZE_MAX);
    CHECK_INT(parse_resp(8).status, 413);
    CHECK(n_stops == 0 || stops[n_stops - 1].id != 8);
    CHECK_INT(feed(s, 8, "\x00\x01x", 3, true), 0); /* late bytes are dropped */
    buf_free(&b);
    CHECK(h3_session_error_code(s) == UINT64_MAX);
    h3_session_free(s);
}

static int recv_early(struct h3_session *s, int64_t id, const void *p, size_t len, bool fin)
{
    return h3_session_recv_early(s, id, p, len, fin, 1000000);
}

/* A request with method m and an optional body, as one buffer. */
static void request(struct buf *b, const char *m, const char *body)
{
    const char *const nv[] = {":method", m,       ":scheme", "https", ":authority",
                              "a",       ":path", "/",       NULL};
    headers(b, nv);
    if (body) h3_write_data(b, body, strlen(body));
}

/* Early data (0-RTT): requests in it are marked; unsafe ones get 425 Too Early without
 * reaching the handler (RFC 8470 §5.2); safe ones are served. */
static void test_early_data(void)
{
    struct h3_session *s = mk();
    recv_early(s, 2, "\x00\x04\x00", 3, false); /* the control stream may come early too */
    n_handled = 0;
    struct buf b = {0};
    /* GET, HEAD and OPTIONS in early data are served, and marked */
    static const char *const safe[] = {"GET", "HEAD", "OPTIONS"};
    for (int i = 0; i < 3; i++) {
        buf_free(&b);
        request(&b, safe[i], NULL);
        last_early = false;
        CHECK_INT(recv_early(s, 4 * i, buf_ptr(&b), buf_size(&b), true), 0);
        CHECK(last_early);
    }
    CHECK_INT(n_handled, 3);
    drain(s, SIZE_MAX);
    CHECK_INT(parse_resp(0).status, 200);
    CHECK_INT(parse_resp(8).status, 200);
    /* POST, PUT, DELETE, TRACE and an unknown method: 425, the handler never sees them; the
     * answer does not wait for the body */
    static const char *const unsafe[] = {"POST", "PUT", "DELETE", "TRACE", "BREW"};
    for (int i = 0; i < 5; i++) {
        int64_t id = 12 + 4 * i;
        buf_free(&b);
        request(&b, unsafe[i], NULL);
        CHECK_INT(recv_early(s, id, buf_ptr(&b), buf_size(&b), false), 0);
        CHECK(last_early);
        drain(s, SIZE_MAX);
        CHECK_INT(parse_resp(id).status, 425);
        CHECK(fins[id]);
        CHECK_INT(feed(s, id,
                       "\x00\x03"
                       "abc",
                       5, true),
                  0); /* the body, after the handshake */
    }
    CHECK_INT(n_handled, 3);
    /* the same POST in 1-RTT is served, not marked */
    buf_free(&b);
    request(&b, "POST", "abc");
    CHECK_INT(feed(s, 32, buf_ptr(&b), buf_size(&b), true), 0);
    CHECK(!last_early);
    CHECK_INT(n_handled, 4);
    drain(s, SIZE_MAX);
    CHECK_INT(parse_resp(32).status, 200);
    /* the first bytes early, the rest after the handshake: still early, still 425 */
    CHECK_INT(recv_early(s, 36, buf_ptr(&b), 3, false), 0);
    CHECK_INT(feed(s, 36, buf_ptr(&b) + 3, buf_size(&b) - 3, true), 0);
    CHECK(last_early);
    drain(s, SIZE_MAX);
    CHECK_INT(parse_resp(36).status, 425);
    CHECK_INT(n_handled, 4);
    CHECK(h3_session_error_code(s) == UINT64_MAX);
    buf_free(&b);
    h3_session_free(s);
}

static void test_stream_errors(void)
{
    struct h3_session *s = mk();
    control(s);
    /* malformed requests: H3_MESSAGE_ERROR on both directions */
    const char *const bad[][12] = {
        {":method", "GET", ":scheme", "https", ":authority", "a", NULL},
        {":method", "GET", ":scheme", "https", ":path", "/", "connection", "close", NULL},
        {":method", "GET", ":scheme", "https", ":path", "/", "te", "gzip", NULL},
        {":method", "GET", ":path", "/", ":scheme", "https", ":foo", "x", NULL},
    };
    for (int i = 0; i < 4; i++) {
        n_resets = n_stops = 0;
        CHECK_INT(send_get(s, 4 * i, bad[i], true), 0);
        CHECK_INT(n_resets, 1);
        CHECK_INT(resets[0].code, H3_MESSAGE_ERROR);
    }
    /* a request stream that ends without HEADERS: H3_REQUEST_INCOMPLETE */
    n_resets = n_stops = 0;
    CHECK_INT(feed(s, 16, "\x21\x00", 2, true), 0);
    CHECK(n_resets == 1 && resets[0].code == H3_REQUEST_INCOMPLETE);
    /* too many fields: 431 */
    const char *many[2 * 25 + 9] = {":method",    "GET", ":scheme", "https",
                                    ":authority", "a",   ":path",   "/"};
    for (int i = 0; i < 25; i++)
        many[8 + 2 * i] = "x-a", many[9 + 2 * i] = "1";
    CHECK_INT(send_get(s, 20, many, true), 0);
    drain(s, SIZE_MAX);
    CHECK_INT(parse_resp(20).status, 431);
    /* the client cancels a request: our side is reset with H3_REQUEST_CANCELLED */
    n_resets = 0;
    CHECK_INT(send_get(s, 24, NULL, false), 0);
    h3_session_stream_reset(s, 24, H3_REQUEST_CANCELLED, 1000000);
    CHECK(n_resets == 1 && resets[0].id == 24 && resets[0].code == H3_REQUEST_CANCELLED);
    /* unknown uni stream type: STOP_SENDING H3_STREAM_CREATION_ERROR, the rest ignored */
    n_stops = 0;
    CHECK_INT(feed(s, 6, "\x40\x21junk", 6, false), 0);
    CHECK(n_stops == 1 && stops[0].id == 6 && stops[0].code == H3_STREAM_CREATION_ERROR);
    CHECK_INT(feed(s, 6, "more", 4, true), 0);
    CHECK(h3_session_error_code(s) == UINT64_MAX);
    h3_session_free(s);
}

/* Streams whose first bytes arrive after a higher-numbered stream's (RFC 9000 §3.2: the higher
 * one opened them) are new streams, not late bytes of closed ones. */
static void test_out_of_order(void)
{
    struct h3_session *s = mk();
    CHECK_INT(feed(s, 10, "\x03", 1, false), 0); /* QPACK decoder stream first */
    CHECK_INT(feed(s, 6, "\x02", 1, false), 0);  /* then the encoder stream */
    control(s);                                  /* and the control stream last */
    CHECK(s->settings_in && s->have_qpack_enc && s->have_qpack_dec);
    CHECK_INT(send_get(s, 8, NULL, true), 0);
    CHECK_INT(send_get(s, 0, NULL, true), 0);
    CHECK_INT(send_get(s, 4, NULL, true), 0);
    CHECK_INT(n_requests, 3);
    drain(s, SIZE_MAX);
    for (int64_t id = 0; id <= 8; id += 4)
        CHECK_INT(parse_resp(id).status, 200);
    CHECK_INT(send_get(s, 4, NULL, true), 0); /* answered and closed: dropped */
    CHECK_INT(n_requests, 3);
    CHECK(h3_session_error_code(s) == UINT64_MAX);
    h3_session_free(s);
}

/* Feeds bytes on a stream of a fresh session (with or without a control stream first) and
 * returns the connection error code. */
static uint64_t conn_err(bool with_control, int64_t id, const char *p, size_t len, bool fin)
{
    struct h3_session *s = mk();
    if (with_control) control(s);
    feed(s, id, p, len, fin);
    uint64_t code = h3_session_error_code(s);
    CHECK(code == UINT64_MAX || h3_session_done(s));
    h3_session_free(s);
    return code;
}

/* RFC 9218: the Priority field of a request, then PRIORITY_UPDATE frames on the control
 * stream (which win over the field), reach the transport; misuse is a connection error. */
static void test_priorities(void)
{
    struct h3_session *s = mk();
    n_prios = 0;
    control(s);
    const char *const urgent[] = {":method", "GET", ":scheme",  "https",  ":authority", "a",
                                  ":path",   "/",   "priority", "u=1, i", NULL};
    CHECK_INT(send_get(s, 0, urgent, false), 0);
    CHECK_INT(n_prios, 1);
    CHECK(prios[0].id == 0 && prios[0].prio.urgency == 1 && prios[0].prio.incremental);
    /* PRIORITY_UPDATE (type 0xf0700: varint 0x80 0x0f 0x07 0x00) for stream 0: u=6 */
    CHECK_INT(feed(s, 2, "\x80\x0f\x07\x00\x04\x00u=6", 9, false), 0);
    CHECK_INT(n_prios, 2);
    CHECK(prios[1].id == 0 && prios[1].prio.urgency == 6 && !prios[1].prio.incremental);
    /* for a stream not open: nothing; for a push with no MAX_PUSH_ID: H3_ID_ERROR */
    CHECK_INT(feed(s, 2, "\x80\x0f\x07\x00\x05\x40\x40u=0", 10, false), 0);
    CHECK_INT(n_prios, 2);
    CHECK(h3_session_error_code(s) == UINT64_MAX);
    h3_session_free(s);
    /* a request without a Priority field: nothing to tell (the transport keeps the default) */
    s = mk();
    n_prios = 0;
    control(s);
    CHECK_INT(send_get(s, 0, NULL, false), 0);
    CHECK_INT(n_prios, 0);
    h3_session_free(s);
    /* errors: an id that is not a request stream, a push beyond MAX_PUSH_ID, the frame on a
     * request stream, a malformed or oversized frame */
    CHECK_INT(conn_err(true, 2, "\x80\x0f\x07\x00\x02\x02x", 7, false), H3_ID_ERROR);
    CHECK_INT(conn_err(true, 2, "\x80\x0f\x07\x01\x01\x05", 6, false), H3_ID_ERROR);
    CHECK_INT(conn_err(true, 0, "\x80\x0f\x07\x00\x01\x00", 6, false), H3_FRAME_UNEXPECTED);
    CHECK_INT(conn_err(true, 2, "\x80\x0f\x07\x00\x00", 5, false), H3_FRAME_ERROR);
    CHECK_INT(conn_err(true, 2, "\x80\x0f\x07\x00\x48\x00", 6, false), H3_FRAME_ERROR);
}

static void test_conn_errors(void)
{
    /* control stream (§6.2.1, §7.2.4) */
    CHECK_INT(conn_err(false, 2, "\x00\x07\x01\x00", 4, false), H3_MISSING_SETTINGS);
    CHECK_INT(conn_err(true, 2, "\x04\x00", 2, false), H3_FRAME_UNEXPECTED);
    CHECK_INT(conn_err(false, 2, "\x00\x04\x02\x02\x00", 5, false), H3_SETTINGS_ERROR);
    CHECK_INT(conn_err(false, 2, "\x00\x04\x04\x06\x01\x06\x01", 7, false), H3_SETTINGS_ERROR);
    CHECK_INT(conn_err(false, 2, "\x00\x04\x01\x06", 4, false), H3_FRAME_ERROR);
    CHECK_INT(conn_err(true, 2, "", 0, true), H3_CLOSED_CRITICAL_STREAM);
    CHECK_INT(conn_err(true, 2, "\x00\x00", 2, false), H3_FRAME_UNEXPECTED); /* DATA */
    CHECK_INT(conn_err(true, 2, "\x06\x00", 2, false), H3_FRAME_UNEXPECTED); /* h2 PING */
    CHECK_INT(conn_err(true, 2, "\x03\x01\x00", 3, false), H3_ID_ERROR);     /* CANCEL_PUSH */
    CHECK_INT(conn_err(true, 2, "\x0d\x01\x05\x0d\x01\x04", 6, false), H3_ID_ERROR);
    CHECK_INT(conn_err(true, 2, "\x07\x01\x05\x07\x01\x09", 6, false), H3_ID_ERROR);
    CHECK_INT(conn_err(true, 2, "\x07\x02\x05\x00", 4, false), H3_FRAME_ERROR);
    CHECK(conn_err(true, 2, "\x0d\x01\x05\x03\x01\x05\x07\x01\x04\x21\x01x", 12, false) ==
          UINT64_MAX);
    /* uni stream types (§6.2) */
    CHECK_INT(conn_err(true, 6, "\x00", 1, false), H3_STREAM_CREATION_ERROR);
    CHECK_INT(conn_err(true, 6, "\x01\x00", 2, false), H3_STREAM_CREATION_ERROR);
    CHECK_INT(conn_err(true, 6, "\x02", 1, true), H3_CLOSED_CRITICAL_STREAM);
    CHECK_INT(conn_err(true, 6, "\x02\x21", 2, false), QPACK_H3_ENCODER_STREAM_ERROR);
    /* request streams (§4.1, §7.1) */
    CHECK_INT(conn_err(true, 0, "\x00\x01x", 3, false), H3_FRAME_UNEXPECTED);
    CHECK_INT(conn_err(true, 0, "\x04\x00", 2, false), H3_FRAME_UNEXPECTED);
    CHECK_INT(conn_err(true, 0, "\x05\x01\x00", 3, false), H3_FRAME_UNEXPECTED);
    CHECK_INT(conn_err(true, 0, "\x01\x05\x00\x00", 4, true), H3_FRAME_ERROR);
    CHECK_INT(conn_err(true, 0, "\x01\x02\xff\xff", 4, true), QPACK_H3_DECOMPRESSION_FAILED);
    CHECK_INT(conn_err(true, 0, "\x01\x80\x01\x00\x00", 5, false), H3_EXCESSIVE_LOAD);
    CHECK_INT(conn_err(true, 1, "x", 1, false), H3_STREAM_CREATION_ERROR);
    /* a critical stream reset */
    struct h3_session *s = mk();
    control(s);
    h3_session_stream_reset(s, 2, H3_NO_ERROR, 1000000);
    CHECK_INT(h3_session_error_code(s), H3_CLOSED_CRITICAL_STREAM);
    h3_session_free(s);
    /* Rapid Reset: requests opened and cancelled beyond the budget */
    s = mk();
    control(s);
    for (int64_t i = 0; i < 60 && !h3_session_done(s); i++) {
        send_get(s, 4 * i, NULL, false);
        h3_session_stream_reset(s, 4 * i, H3_REQUEST_CANCELLED, 1000000);
    }
    CHECK_INT(h3_session_error_code(s), H3_EXCESSIVE_LOAD);
    h3_session_free(s);
}

static const char GOAWAY_MAX[] = "\x07\x08\xff\xff\xff\xff\xff\xff\xff\xfc"; /* 2^62-4 */

static void test_goaway(void)
{
    struct h3_session *s = mk();
    control(s);
    drain(s, SIZE_MAX);
    size_t ctl = buf_size(&outs[3]);
    CHECK_INT(send_get(s, 0, NULL, false), 0); /* in flight at the stop */
    h3_session_shutdown(s, true);
    drain(s, SIZE_MAX);
    /* §5.2, first step: GOAWAY with the largest client bidi id refuses nothing yet */
    CHECK_INT(buf_size(&outs[3]) - ctl, 10);
    CHECK(memcmp(buf_ptr(&outs[3]) + ctl, GOAWAY_MAX, 10) == 0);
    CHECK_INT(h3_session_next_deadline(s), 1000000 + H3_GOAWAY_GRACE_MS);
    h3_session_shutdown(s, true); /* a second stop sends nothing more */
    drain(s, SIZE_MAX);
    CHECK_INT(buf_size(&outs[3]) - ctl, 10);
    /* a request that crossed the first GOAWAY is still served */
    CHECK_INT(send_get(s, 4, NULL, false), 0);
    CHECK_INT(n_resets, 0);
    h3_session_timeout(s, 1000000 + H3_GOAWAY_GRACE_MS - 1);
    drain(s, SIZE_MAX);
    CHECK_INT(buf_size(&outs[3]) - ctl, 10);
    CHECK(!h3_session_done(s));
    /* second step: the first request stream id not processed, 8 */
    h3_session_timeout(s, 1000000 + H3_GOAWAY_GRACE_MS);
    drain(s, SIZE_MAX);
    CHECK_INT(buf_size(&outs[3]) - ctl, 13);
    CHECK(memcmp(buf_ptr(&outs[3]) + ctl + 10, "\x07\x01\x08", 3) == 0);
    CHECK_INT(h3_session_next_deadline(s), 0);
    CHECK(!h3_session_done(s));
    n_resets = 0;
    CHECK_INT(send_get(s, 8, NULL, true), 0);
    CHECK(n_resets == 1 && resets[0].id == 8 && resets[0].code == H3_REQUEST_REJECTED);
    CHECK_INT(n_requests, 0);
    CHECK_INT(feed(s, 0, "", 0, true), 0);
    CHECK_INT(feed(s, 4, "", 0, true), 0);
    drain(s, SIZE_MAX);
    CHECK_INT(parse_resp(0).status, 200);
    CHECK_INT(parse_resp(4).status, 200);
    CHECK(h3_session_done(s));
    CHECK(h3_session_error_code(s) == UINT64_MAX);
    h3_session_free(s);

    /* a client that has not sent SETTINGS gets the final GOAWAY at once */
    s = mk();
    drain(s, SIZE_MAX);
    ctl = buf_size(&outs[3]);
    h3_session_shutdown(s, true);
    drain(s, SIZE_MAX);
    CHECK_INT(buf_size(&outs[3]) - ctl, 3);
    CHECK(memcmp(buf_ptr(&outs[3]) + ctl, "\x07\x01\x00", 3) == 0);
    CHECK(h3_session_done(s));
    h3_session_free(s);

    /* fast: the final GOAWAY, even after the first one */
    s = mk();
    control(s);
    drain(s, SIZE_MAX);
    ctl = buf_size(&outs[3]);
    h3_session_shutdown(s, true);
    h3_session_shutdown(s, false);
    CHECK(h3_session_done(s));
    CHECK_INT(h3_session_error_code(s), H3_NO_ERROR);
    h3_session_free(s);
}

static void test_header_deadline(void)
{
    header_timeout_ms = 10000;
    struct h3_session *s = mk();
    header_timeout_ms = 0;
    control(s);
    drain(s, SIZE_MAX);
    CHECK_INT(h3_session_next_deadline(s), 0);
    /* stream 0: a HEADERS frame that never completes; stream 4: a whole request, no FIN */
    CHECK_INT(feed(s, 0, "\x01\x20\x00", 3, false), 0);
    CHECK_INT(h3_session_recv_stream(s, 4, (const uint8_t *)"", 0, false, 1002000), 0);
    CHECK_INT(h3_session_next_deadline(s), 1010000);
    struct buf b = {0};
    headers(&b, GET);
    CHECK_INT(
        h3_session_recv_stream(s, 4, (const uint8_t *)buf_ptr(&b), buf_size(&b), false, 1003000),
        0);
    buf_free(&b);
    CHECK_INT(h3_session_next_deadline(s), 1010000);
    h3_session_timeout(s, 1009999);
    CHECK_INT(n_resets + n_stops, 0);
    h3_session_timeout(s, 1010000);
    /* §4.1.2: stream 0 is dropped with H3_REQUEST_INCOMPLETE both ways; 4 goes on */
    CHECK(n_resets == 1 && resets[0].id == 0 && resets[0].code == H3_REQUEST_INCOMPLETE);
    CHECK(n_stops == 1 && stops[0].id == 0 && stops[0].code == H3_REQUEST_INCOMPLETE);
    CHECK_INT(h3_session_next_deadline(s), 0);
    CHECK(h3_session_error_code(s) == UINT64_MAX);
    /* late bytes of the dropped stream are ignored */
    CHECK_INT(send_get(s, 0, NULL, true), 0);
    CHECK_INT(n_requests, 0);
    CHECK_INT(feed(s, 4, "", 0, true), 0);
    drain(s, SIZE_MAX);
    CHECK_INT(parse_resp(4).status, 200);
    h3_session_free(s);
}

static void test_send_deadline(void)
{
    big_len = 300000;
    char *big = calloc(1, big_len);
    big_body = big;
    send_timeout_ms = 5000;
    struct h3_session *s = mk();
    send_timeout_ms = 0;
    control(s);
    drain(s, SIZE_MAX);
    const char *const get[] = {":method", "GET",   ":scheme", "https", ":authority",
                               "a",       ":path", "/big",    NULL};
    CHECK_INT(send_get(s, 0, get, true), 0);
    CHECK_INT(send_get(s, 4, NULL, true), 0); /* small: taken at once, never stalls */
    /* the transport takes 1000 bytes at 1000000, then nothing */
    drain(s, 1000);
    CHECK_INT(fins[4], true);
    drain(s, 0);
    CHECK_INT(h3_session_next_deadline(s), 1005000);
    /* progress at 1003000 starts the clock again */
    h3_session_set_time(s, 1003000);
    drain(s, 1000);
    drain(s, 0);
    CHECK_INT(h3_session_next_deadline(s), 1008000);
    h3_session_timeout(s, 1007999);
    CHECK_INT(n_resets, 0);
    h3_session_timeout(s, 1008000);
    CHECK(n_resets == 1 && resets[0].id == 0 && resets[0].code == H3_REQUEST_CANCELLED);
    CHECK_INT(n_stops, 0); /* the request was read whole */
    CHECK_INT(n_closed, 2);
    CHECK_INT(h3_session_next_deadline(s), 0);
    CHECK(h3_session_error_code(s) == UINT64_MAX);
    int64_t id = -1;
    const uint8_t *d;
    size_t len;
    bool fin;
    CHECK(!h3_session_next_output(s, &id, &d, &len, &fin) || id != 0);
    h3_session_free(s);
    big_body = NULL;
    free(big);
}

static void test_backpressure(void)
{
    big_len = 200000;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + i % 26);
    big_body = big;
    struct h3_session *s = mk();
    control(s);
    drain(s, SIZE_MAX);
    const char *const get[] = {":method", "GET",   ":scheme", "https", ":authority",
                               "a",       ":path", "/big",    NULL};
    CHECK_INT(send_get(s, 0, get, true), 0);
    int64_t id = -1;
    const uint8_t *d;
    size_t len;
    bool fin;
    CHECK(h3_session_next_output(s, &id, &d, &len, &fin));
    CHECK_INT(id, 0);
    CHECK(len <= H3_STREAM_HIGH_WATER + 64 && len >= H3_STREAM_HIGH_WATER - H3_DATA_FRAME_MAX);
    CHECK(!fin);
    /* nothing taken: the next round offers the same bytes, no more pulled */
    size_t first = len;
    id = -1;
    CHECK(h3_session_next_output(s, &id, &d, &len, &fin));
    CHECK_INT(len, first);
    /* taken in 1000-byte bites: the whole body arrives, byte for byte */
    for (int i = 0; i < 2000 && !fins[0]; i++)
        drain(s, 1000);
    CHECK(fins[0]);
    const uint8_t *p = (const uint8_t *)buf_ptr(&outs[0]);
    size_t off = 0, got = 0;
    bool same = true;
    while (off < buf_size(&outs[0])) {
        struct h3_frame_header hd;
        off += h3_frame_header_parse(p + off, buf_size(&outs[0]) - off, &hd);
        if (hd.type == H3_FRAME_DATA) {
            same = same && memcmp(p + off, big + got, hd.length) == 0;
            got += hd.length;
        }
        off += hd.length;
    }
    CHECK_INT(got, big_len);
    CHECK(same);
    h3_session_free(s);
    big_body = NULL;
    free(big);
}

int main(void)
{
    test_get();
    test_post();
    test_early_data();
    test_stream_errors();
    test_out_of_order();
    test_priorities();
    test_conn_errors();
    test_goaway();
    test_header_deadline();
    test_send_deadline();
    test_backpressure();
    for (int i = 0; i < 64; i++)
        buf_free(&outs[i]);
    return check_done("h3/session");
}
