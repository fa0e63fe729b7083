#include "h3/varint.h"

size_t h3_varint_len(uint64_t v)
{
    if (v < 64) return 1;
    if (v < 16384) return 2;
    if (v < (UINT64_C(1) << 30)) return 4;
    if (v <= H3_VARINT_MAX) return 8;
    return 0;
}

size_t h3_varint_decode(const uint8_t *p, size_t len, uint64_t *v)
{
    if (len == 0) return 0;
    size_t n = h3_varint_size(p[0]);
    if (len < n) return 0;
    uint64_t x = p[0] & 0x3f;
    for (size_t i = 1; i < n; i++)
        x = x << 8 | p[i];
    *v = x;
    return n;
}

size_t h3_varint_encode(uint8_t *dst, size_t cap, uint64_t v)
{
    size_t n = h3_varint_len(v);
    if (n == 0 || cap < n) return 0;
    for (size_t i = n; i-- > 0;) {
        dst[i] = (uint8_t)v;
        v >>= 8;
    }
    /* the length code: 0, 1, 2, 3 for 1, 2, 4, 8 bytes */
    static const uint8_t code[9] = {0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0};
    dst[0] |= code[n];
    return n;
}

int h3_varint_append(struct buf *b, uint64_t v)
{
    if (h3_varint_len(v) == 0 || buf_reserve(b, 8) < 0) return -1;
    buf_commit(b, h3_varint_encode((uint8_t *)buf_tail(b), 8, v));
    return 0;
}
