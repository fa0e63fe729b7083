/* The HTTP/3 session in the client role fed what a server could send: three requests are
 * submitted (GET, HEAD, a POST with a body), then the input is a sequence of records
 * [stream selector, flags, length, bytes...]. The selector's low bits pick the kind of stream
 * (0 a request stream, 1 a server unidirectional stream, 2 a server bidirectional one, 3 one of
 * our unidirectional ones: the last two are errors), the rest its ordinal; flags pick FIN, a
 * reset by the server, another request submitted, and how much output is taken. */
#include <stdlib.h>
#include <string.h>

#include "h3/session.h"

static int on_head(struct h3_session *s, struct h3_stream *st, int status, const str_t *names,
                   const str_t *values, size_t n)
{
    (void)s, (void)st, (void)names, (void)values;
    return status == 299 || n == 15 ? -1 : 0; /* the reader refuses some */
}

static int on_data(struct h3_session *s, struct h3_stream *st, const uint8_t *p, size_t len)
{
    (void)s, (void)st, (void)p;
    return len == 13 ? -1 : 0;
}

static void on_end(struct h3_session *s, struct h3_stream *st, uint64_t code, const char *why)
{
    (void)s, (void)code;
    if (!why || !st->user) abort(); /* every submitted stream ends once, with a reason */
    st->user = NULL;
}

static const struct h3_session_callbacks cbs = {
    .on_response_head = on_head, .on_response_data = on_data, .on_response_end = on_end};

static void drain(struct h3_session *s, size_t cap)
{
    int64_t id = -1;
    const uint8_t *d;
    size_t len;
    bool fin;
    while (h3_session_next_output(s, &id, &d, &len, &fin))
        h3_session_output_consumed(s, id, len < cap ? len : cap);
}

static const char upload[] = "a request body that goes out in DATA frames";
static const str_t names[] = {STR_LIT("accept"), STR_LIT("content-type")};
static const str_t values[] = {STR_LIT("*/*"), STR_LIT("text/plain")};

static void submit(struct h3_session *s, struct pool *pool, const char *method, bool body)
{
    static int marker;
    struct h3_request_head h = {.method = str_cstr(method),
                                .scheme = STR_LIT("https"),
                                .authority = STR_LIT("fuzz.test"),
                                .path = STR_LIT("/x"),
                                .names = names,
                                .values = values,
                                .n = 2};
    struct body_source *src = body ? body_source_mem(pool, upload, sizeof(upload) - 1) : NULL;
    h3_session_submit(s, &h, src, body ? (int64_t)sizeof(upload) - 1 : -1, &marker);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct h3_session_params p = {.max_field_section_size = 2048,
                                  .header_count = 16,
                                  .body_size = 256,
                                  .max_resets_per_10s = 20,
                                  .qpack_max_table_capacity = 256,
                                  .qpack_blocked_streams = 2,
                                  .peer = "fuzz",
                                  .client = true};
    struct h3_session *s = h3_session_new(&p, &cbs, NULL, 0);
    struct pool *pool = pool_create(1024);
    if (!s || !pool) {
        h3_session_free(s);
        if (pool) pool_destroy(pool);
        return 0;
    }
    submit(s, pool, "GET", false);
    submit(s, pool, "HEAD", false);
    submit(s, pool, "POST", true);
    drain(s, SIZE_MAX);
    size_t off = 0;
    int64_t now = 0;
    while (off + 3 <= size && !h3_session_done(s)) {
        uint8_t sel = data[off], flags = data[off + 1];
        size_t len = data[off + 2];
        off += 3;
        if (len > size - off) len = size - off;
        static const int64_t kind[4] = {0, 3, 1, 2};
        int64_t id = (int64_t)(sel >> 2) * 4 + kind[sel & 3];
        now += 10;
        if (flags & 0x10)
            h3_session_stream_reset(s, id, flags & 0x40 ? H3_REQUEST_REJECTED : H3_NO_ERROR, now);
        else
            h3_session_recv_stream(s, id, data + off, len, flags & 1, now);
        off += len;
        if (flags & 0x20) submit(s, pool, flags & 0x80 ? "PUT" : "GET", flags & 0x80);
        drain(s, flags & 2 ? 7 : SIZE_MAX);
    }
    h3_session_free(s);
    pool_destroy(pool);
    return 0;
}
