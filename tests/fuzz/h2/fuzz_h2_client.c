/* libFuzzer target: the HTTP/2 engine in the client role fed raw server bytes (after the
 * requests it submitted: a GET, a HEAD and a POST with a body), in pieces whose sizes come from
 * the input, handing response heads and data to callbacks that keep a little of each. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "h2/session.h"

static size_t seen;

static void on_response(struct h2_session *s, struct h2_stream *st, bool interim)
{
    (void)s;
    (void)interim;
    for (size_t i = 0; i < st->resp.headers.count; i++)
        seen += st->resp.headers.items[i].name.len + st->resp.headers.items[i].value.len;
}

static int on_data(struct h2_session *s, struct h2_stream *st, const uint8_t *data, size_t len)
{
    (void)s;
    (void)st;
    seen += len ? data[len - 1] : 0;
    return len > 60000 ? -1 : 0; /* a sink that fails now and then */
}

static const struct h2_session_callbacks cbs = {.on_response = on_response, .on_data = on_data};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    struct h2_session_params p;
    h2_session_client_params(&p, true, "fuzz");
    int64_t now = 1000000;
    struct h2_session *s = h2_session_new(&p, &cbs, NULL, now);
    if (!s) return 0;
    static const str_t names[] = {STR_LIT("accept"), STR_LIT("authorization")};
    static const str_t values[] = {STR_LIT("*/*"), STR_LIT("Basic eDp5")};
    static const char upload[] = "a request body of a few bytes";
    struct pool *pool = pool_create(1024);
    const char *methods[] = {"GET", "HEAD", "POST"};
    for (int i = 0; i < 3; i++) {
        struct h2_request_out rq = {.method = str_cstr(methods[i]),
                                    .scheme = STR_LIT("https"),
                                    .authority = STR_LIT("fuzz.test"),
                                    .path = STR_LIT("/x"),
                                    .names = names,
                                    .values = values,
                                    .n_fields = 2};
        if (i == 2) {
            rq.body = body_source_mem(pool, upload, sizeof(upload) - 1);
            rq.body_length = sizeof(upload) - 1;
        }
        h2_session_submit(s, &rq);
    }
    uint8_t step = data[0] | 1;
    data++;
    size--;
    struct buf in = {0};
    size_t off = 0;
    while (off < size && !h2_session_done(s)) {
        size_t n = size - off < step ? size - off : step;
        buf_append(&in, data + off, n);
        off += n;
        size_t used = h2_session_recv(s, (const uint8_t *)buf_ptr(&in), buf_size(&in), now);
        buf_consume(&in, used);
        h2_session_produce(s, 32768);
        buf_clear(h2_session_output(s)); /* the server reads everything */
        now += 100;
        if (n == step) step = (uint8_t)(step * 7 + 3) | 1;
    }
    h2_session_timeout(s, now + 40000);
    h2_session_shutdown(s, false, now);
    h2_session_free(s);
    pool_destroy(pool);
    buf_free(&in);
    return 0;
}
