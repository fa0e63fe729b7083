/* libFuzzer target: the whole HTTP/2 connection engine fed raw bytes after the client preface,
 * in pieces whose sizes come from the input, with a stub request handler. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "h2/session.h"

static const char body[] = "fuzz response body, long enough to need a few frames? no.";

static void on_request(struct h2_session *s, struct h2_stream *st)
{
    (void)s;
    if (st->req.h2_fingerprint && strnlen(st->req.h2_fingerprint, H2_FP_TEXT) >= H2_FP_TEXT)
        __builtin_trap(); /* the fingerprint text stays within its buffer */
    st->resp.status = st->reject_status ? st->reject_status : 200;
    if (st->reject_status || st->req.method == HTTP_METHOD_HEAD) {
        st->resp.content_length = 0;
        return;
    }
    http_fields_add(&st->resp.headers, st->pool, STR_LIT("Link"), STR_LIT("</p.css>; rel=preload"));
    st->resp.body = body_source_mem(st->pool, body, sizeof(body) - 1);
    st->resp.content_length = sizeof(body) - 1;
    if (!st->pushed) h2_session_push(s, st, STR_LIT("/p.css"));
}

static const struct h2_session_callbacks cbs = {.on_request = on_request};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    struct h2_session_params p = {
        .h2 = {.enabled = true,
               .h2c = true,
               .max_concurrent_streams = 16,
               .initial_window_size = 65535,
               .connection_window = 1 << 20,
               .max_frame_size = 16384,
               .header_table_size = 4096,
               .max_header_list_size = 8192,
               .max_resets_per_10s = 50,
               .max_continuations = 8,
               .max_idle_frames_per_10s = 100,
               .max_control_queue = 4096,
               .preface_timeout = 10,
               .idle_timeout = 10,
               .stalled_stream_timeout = 10},
        .header_count = 50,
        .body_size = 4096,
        .peer = "fuzz",
        .extended_connect = (data[0] & 2) != 0, /* :protocol accepted or not (RFC 8441) */
        .fingerprint = (data[0] & 4) != 0,      /* the client's Akamai fingerprint kept */
    };
    int64_t now = 1000000;
    struct h2_session *s = h2_session_new(&p, &cbs, NULL, now);
    if (!s) return 0;
    uint8_t step = data[0] | 1;
    data++;
    size--;
    struct buf in = {0};
    buf_append(&in, H2_PREFACE, H2_PREFACE_LEN);
    size_t off = 0;
    while (off < size && !h2_session_done(s)) {
        size_t n = size - off < step ? size - off : step;
        buf_append(&in, data + off, n);
        off += n;
        size_t used = h2_session_recv(s, (const uint8_t *)buf_ptr(&in), buf_size(&in), now);
        buf_consume(&in, used);
        h2_session_produce(s, 32768);
        buf_clear(h2_session_output(s)); /* the peer reads everything */
        now += 100;
        if (n == step) step = (uint8_t)(step * 7 + 3) | 1;
    }
    h2_session_timeout(s, now + 20000);
    h2_session_shutdown(s, true, 0);
    h2_session_free(s);
    buf_free(&in);
    return 0;
}
