/* QUIC varints against RFC 9000 Appendix A.1's examples, plus bounds. */
#include "check.h"
#include "h3/varint.h"

struct vec {
    const char *hex;
    uint64_t value;
};

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

int main(void)
{
    /* RFC 9000 Appendix A.1 */
    static const struct vec vecs[] = {
        {"c2197c5eff14e88c", 151288809941952652ull},
        {"9d7f3e7d", 494878333},
        {"7bbd", 15293},
        {"25", 37},
    };
    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
        uint8_t in[8], out[8];
        size_t n = unhex(vecs[i].hex, in);
        uint64_t v = 0;
        CHECK_INT(h3_varint_decode(in, n, &v), n);
        CHECK(v == vecs[i].value);
        CHECK_INT(h3_varint_size(in[0]), n);
        for (size_t short_len = 0; short_len < n; short_len++)
            CHECK_INT(h3_varint_decode(in, short_len, &v), 0);
        CHECK_INT(h3_varint_encode(out, sizeof(out), vecs[i].value), n);
        CHECK(memcmp(in, out, n) == 0);
    }
    /* "the two-byte sequence 0x40 0x25 also decodes to 37" (A.1): not minimal, still valid */
    uint64_t v = 0;
    CHECK_INT(h3_varint_decode((const uint8_t *)"\x40\x25", 2, &v), 2);
    CHECK_INT(v, 37);
    /* bounds of each length */
    static const uint64_t edges[] = {0,        63,           64, 16383, 16384, (1u << 30) - 1,
                                     1u << 30, H3_VARINT_MAX};
    static const size_t lens[] = {1, 1, 2, 2, 4, 4, 8, 8};
    for (size_t i = 0; i < 8; i++) {
        uint8_t out[8];
        CHECK_INT(h3_varint_len(edges[i]), lens[i]);
        CHECK_INT(h3_varint_encode(out, sizeof(out), edges[i]), lens[i]);
        CHECK_INT(h3_varint_encode(out, lens[i] - 1, edges[i]), 0);
        CHECK_INT(h3_varint_decode(out, lens[i], &v), lens[i]);
        CHECK(v == edges[i]);
    }
    uint8_t out[8];
    CHECK_INT(h3_varint_len(H3_VARINT_MAX + 1), 0);
    CHECK_INT(h3_varint_encode(out, sizeof(out), H3_VARINT_MAX + 1), 0);
    struct buf b = {0};
    CHECK_INT(h3_varint_append(&b, 15293), 0);
    CHECK_INT(h3_varint_append(&b, UINT64_MAX), -1);
    CHECK_INT(buf_size(&b), 2);
    CHECK(memcmp(buf_ptr(&b), "\x7b\xbd", 2) == 0);
    buf_free(&b);
    return check_done("h3/varint");
}
