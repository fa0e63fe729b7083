/* libFuzzer target for the QPACK decoder. Byte 0 picks the mode: even, the rest is field sections
 * alone; odd, encoder-stream chunks are interleaved with them. Byte 1 picks our
 * SETTINGS_QPACK_MAX_TABLE_CAPACITY (x 16), byte 2 SETTINGS_QPACK_BLOCKED_STREAMS (mod 8). Then
 * chunks, each led by one byte: its length in the low 7 bits and, in interleaved mode, the top
 * bit set for an encoder-stream chunk. Checks: strings NUL-terminated, tokens match names, the
 * emitted size stays within the limit, the table within its capacity, blocked streams within
 * the setting. */
#include <stdint.h>
#include <stdlib.h>

#include "h3/qpack.h"
#include "h3/qpack_internal.h"

struct sink {
    size_t emitted, limit;
};

static int on_field(void *ctx, str_t name, str_t value, enum http_token token, bool never)
{
    struct sink *s = ctx;
    (void)never;
    if (name.p[name.len] != 0 || value.p[value.len] != 0) abort();
    if (token != HTTP_TOKEN_NONE && token != http_token_lookup(name.p, name.len)) abort();
    s->emitted += name.len + value.len + 32;
    if (s->emitted > s->limit) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    bool interleave = data[0] & 1;
    size_t cap = (size_t)data[1] * 16, blocked = data[2] % 8;
    struct qpack_decoder d;
    if (qpack_decoder_init(&d, cap, blocked) < 0) abort();
    struct pool *pool = pool_create(1024);
    struct buf out = {0};
    uint64_t stream = 0, ids[8];
    size_t pos = 3;
    while (pos < size) {
        uint8_t h = data[pos++];
        size_t n = h & 0x7f;
        if (n > size - pos) n = size - pos;
        enum qpack_result r;
        if (interleave && (h & 0x80)) {
            r = qpack_decoder_encoder_stream(&d, data + pos, n);
            qpack_decoder_take_unblocked(&d, ids, 8);
        } else {
            struct sink s = {0, 256};
            r = qpack_decode_section(&d, stream, data + pos, n, s.limit, pool, on_field, &s);
            stream += 4;
            pool_reset(pool);
        }
        pos += n;
        if (d.table->size > d.table->capacity || d.table->capacity > cap) abort();
        if (d.n_blocked > blocked) abort();
        if (qpack_decoder_take_decoder_stream(&d, &out) < 0) abort();
        buf_clear(&out);
        if (r < 0) break;
    }
    buf_free(&out);
    pool_destroy(pool);
    qpack_decoder_free(&d);
    return 0;
}
