/* The HTTP/3 server session fed stream chunks: the input is a sequence of records
 * [stream selector, flags, length, bytes...]; the selector picks a client stream id (request
 * or uni), flags pick FIN, early data (0-RTT), a peer reset, a graceful stop, and how much
 * output is taken. */
#include <stdlib.h>
#include <string.h>

#include "h3/session.h"

static void on_request(struct h3_session *s, struct h3_stream *st)
{
    (void)s;
    if (st->reject_status) {
        st->resp.status = st->reject_status;
        st->resp.content_length = 0;
        return;
    }
    static const char body[] = "fuzz response body";
    st->resp.status = 200;
    if (st->req.send_interim) st->req.send_interim(&st->req, 103, NULL);
    st->resp.body = body_source_mem(st->pool, body, sizeof(body) - 1);
    st->resp.content_length = st->req.path.len % 2 ? -1 : (int64_t)sizeof(body) - 1;
}

static const struct h3_session_callbacks cbs = {.on_request = on_request};

static void drain(struct h3_session *s, size_t cap)
{
    int64_t id = -1;
    const uint8_t *d;
    size_t len;
    bool fin;
    while (h3_session_next_output(s, &id, &d, &len, &fin))
        h3_session_output_consumed(s, id, len < cap ? len : cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct h3_session_params p = {.max_field_section_size = 2048,
                                  .header_count = 16,
                                  .body_size = 256,
                                  .max_resets_per_10s = 20,
                                  .qpack_max_table_capacity = 256,
                                  .qpack_blocked_streams = 2,
                                  .peer = "fuzz"};
    struct h3_session *s = h3_session_new(&p, &cbs, NULL, 0);
    if (!s) return 0;
    size_t off = 0;
    int64_t now = 0;
    while (off + 3 <= size && !h3_session_done(s)) {
        uint8_t sel = data[off], flags = data[off + 1];
        size_t len = data[off + 2];
        off += 3;
        if (len > size - off) len = size - off;
        /* low bits: 0 request, 2 uni; the rest: the stream's ordinal */
        int64_t id = (int64_t)(sel >> 1) * 4 + (sel & 1 ? 2 : 0);
        now += 10;
        if (flags & 0x10)
            h3_session_stream_reset(s, id, H3_REQUEST_CANCELLED, now);
        else if (flags & 0x08)
            h3_session_recv_early(s, id, data + off, len, flags & 1, now);
        else
            h3_session_recv_stream(s, id, data + off, len, flags & 1, now);
        off += len;
        if (flags & 0x20) h3_session_shutdown(s, !(flags & 0x40));
        drain(s, flags & 2 ? 7 : SIZE_MAX);
    }
    h3_session_free(s);
    return 0;
}
