/* QUIC variable-length integers (RFC 9000 §16): 1, 2, 4 or 8 bytes, the two high bits of the
 * first byte giving the length; values up to 2^62-1. HTTP/3 frames and stream types use them. */
#ifndef TERN_H3_VARINT_H
#define TERN_H3_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define H3_VARINT_MAX ((UINT64_C(1) << 62) - 1)

/* Bytes the integer starting with this first byte takes (1, 2, 4 or 8). */
static inline size_t h3_varint_size(uint8_t first)
{
    return (size_t)1 << (first >> 6);
}
/* Bytes the shortest encoding of v takes, or 0 when v > H3_VARINT_MAX. */
size_t h3_varint_len(uint64_t v);
/* Decodes one integer from p[0..len). Returns the bytes it took, or 0 when len is too short
 * (every byte sequence long enough is a valid integer). */
size_t h3_varint_decode(const uint8_t *p, size_t len, uint64_t *v);
/* Writes the shortest encoding of v into dst (cap bytes). Returns bytes written, or 0 when
 * v > H3_VARINT_MAX or cap is too small. */
size_t h3_varint_encode(uint8_t *dst, size_t cap, uint64_t v);
/* Appends the shortest encoding of v to b. 0, or -1 on OOM or v > H3_VARINT_MAX. */
int h3_varint_append(struct buf *b, uint64_t v);

#endif
