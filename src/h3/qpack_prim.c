/* QPACK wire primitives (RFC 9204 §4.1): prefixed integers and string literals, with the
 * Huffman code shared with HPACK. */
#include <stdlib.h>
#include <string.h>

#include "h3/qpack_internal.h"
#include "http/huffman.h"

int qpack_int_decode(const uint8_t *in, size_t len, size_t *pos, unsigned prefix_bits,
                     uint64_t *value)
{
    size_t i = *pos;
    if (i >= len) return 0;
    uint64_t max = (UINT64_C(1) << prefix_bits) - 1;
    uint64_t v = in[i++] & max;
    if (v == max) {
        unsigned shift = 0;
        for (;;) {
            if (i >= len) return 0;
            uint8_t b = in[i++];
            /* 62-bit values need at most 9 continuation octets; refuse before overflow */
            if (shift > 56) return -1;
            v += (uint64_t)(b & 0x7f) << shift;
            if (v > QPACK_INT_LIMIT) return -1;
            shift += 7;
            if (!(b & 0x80)) break;
        }
    }
    *pos = i;
    *value = v;
    return 1;
}

size_t qpack_int_encode(uint8_t *out, uint8_t first, unsigned prefix_bits, uint64_t v)
{
    uint64_t max = (UINT64_C(1) << prefix_bits) - 1;
    if (v < max) {
        out[0] = (uint8_t)(first | v);
        return 1;
    }
    out[0] = (uint8_t)(first | max);
    v -= max;
    size_t n = 1;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

int qpack_int_append(struct buf *out, uint8_t first, unsigned prefix_bits, uint64_t v)
{
    if (buf_reserve(out, QPACK_INT_MAX) < 0) return -1;
    buf_commit(out, qpack_int_encode((uint8_t *)buf_tail(out), first, prefix_bits, v));
    return 0;
}

int qpack_lit_parse(const uint8_t *in, size_t len, size_t *pos, unsigned prefix_bits,
                    struct qpack_lit *lit)
{
    size_t i = *pos;
    if (i >= len) return 0;
    lit->huff = (in[i] >> prefix_bits) & 1;
    uint64_t n;
    int r = qpack_int_decode(in, len, &i, prefix_bits, &n);
    if (r <= 0) return r;
    if (n > len - i) return 0;
    lit->p = in + i;
    lit->len = (size_t)n;
    *pos = i + (size_t)n;
    return 1;
}

long qpack_lit_decoded_len(const struct qpack_lit *lit)
{
    return lit->huff ? http_huffman_decoded_len(lit->p, lit->len) : (long)lit->len;
}

long qpack_lit_decode(const struct qpack_lit *lit, char *dst, size_t cap)
{
    if (lit->huff) return http_huffman_decode(lit->p, lit->len, (uint8_t *)dst, cap);
    if (lit->len > cap) return -1;
    if (lit->len) memcpy(dst, lit->p, lit->len);
    return (long)lit->len;
}

int qpack_lit_encode(struct buf *out, uint8_t first, unsigned prefix_bits, str_t s, bool lower)
{
    char small[256];
    char *tmp = NULL;
    const uint8_t *p = (const uint8_t *)s.p;
    if (lower && s.len) {
        tmp = s.len <= sizeof(small) ? small : malloc(s.len);
        if (!tmp) return -1;
        for (size_t i = 0; i < s.len; i++)
            tmp[i] = ascii_lower(s.p[i]);
        p = (const uint8_t *)tmp;
    }
    size_t hlen = http_huffman_encoded_len(p, s.len);
    bool huff = hlen < s.len;
    size_t body = huff ? hlen : s.len;
    int rc = -1;
    if (buf_reserve(out, QPACK_INT_MAX + body) == 0) {
        uint8_t *o = (uint8_t *)buf_tail(out);
        uint8_t h = huff ? (uint8_t)(1u << prefix_bits) : 0;
        size_t n = qpack_int_encode(o, first | h, prefix_bits, body);
        if (huff)
            http_huffman_encode(p, s.len, o + n);
        else if (s.len)
            memcpy(o + n, p, s.len);
        buf_commit(out, n + body);
        rc = 0;
    }
    if (tmp && tmp != small) free(tmp);
    return rc;
}
