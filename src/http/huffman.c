/* Huffman coding of HPACK and QPACK (RFC 7541 §5.2, Appendix B). The encoder packs codes into a
 * 64-bit accumulator. The decoder walks a 4-bit state machine: a state is an internal node of the
 * code tree (256 of them), and each (state, nibble) pair gives the next state and at most one
 * symbol (codes are at least 5 bits long). The machine is built once from the code table at load
 * time. */
#include "http/huffman.h"

#include <stdint.h>

/* Appendix B: code (aligned to the LSB) and length in bits for symbols 0..255 and EOS (256). The
 * code is canonical (each length's codes are consecutive, in symbol order); generated from the
 * lengths by tests/unit/h2/http_huffman_gen.py, which checks it against the RFC's printed codes,
 * and re-checked by tests/unit/http/test_huffman.c. */
/* clang-format off */
static const uint32_t huff_code[257] = {
    0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7,
    0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
    0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
    0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
    0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa,
    0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
    0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
    0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,
    0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62,
    0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
    0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,
    0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,
    0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26,
    0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7,
    0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,
    0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc,
    0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
    0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
    0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
    0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
    0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
    0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
    0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef,
    0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
    0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
    0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
    0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
    0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
    0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
    0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
    0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea,
    0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
    0x3fffffff,
};
static const uint8_t huff_len[257] = {
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
    30,
};
/* clang-format on */

#define HUFF_EOS 256

enum {
    HD_EMIT = 1,   /* this step completed a symbol */
    HD_FAIL = 2,   /* this step reached EOS (§5.2: an error inside a string) */
    HD_ACCEPT = 4, /* the resulting state may end a string: at the root, or after <= 7 one-bits */
};

struct huff_step {
    uint8_t next; /* state after the nibble */
    uint8_t sym;
    uint8_t flags;
};

static struct huff_step huff_steps[256][16];

/* Builds the code tree from the table, then the nibble transitions of each internal node. */
__attribute__((constructor)) static void huff_build(void)
{
    /* tree[n][bit]: child index; internal nodes are 0..255, a leaf is 256 + symbol */
    static uint16_t tree[256][2];
    static uint8_t depth[256], all_ones[256];
    unsigned n_nodes = 1;
    for (unsigned s = 0; s <= HUFF_EOS; s++) {
        unsigned node = 0;
        for (int b = huff_len[s] - 1; b >= 0; b--) {
            unsigned bit = (huff_code[s] >> b) & 1;
            if (b == 0) {
                tree[node][bit] = (uint16_t)(256 + s);
            } else {
                if (!tree[node][bit]) {
                    unsigned child = n_nodes++;
                    tree[node][bit] = (uint16_t)child;
                    depth[child] = (uint8_t)(depth[node] + 1);
                    all_ones[child] = (uint8_t)(bit && (node == 0 || all_ones[node]));
                }
                node = tree[node][bit];
            }
        }
    }
    for (unsigned st = 0; st < 256; st++) {
        for (unsigned nib = 0; nib < 16; nib++) {
            struct huff_step step = {0, 0, 0};
            unsigned node = st;
            for (int b = 3; b >= 0; b--) {
                unsigned child = tree[node][(nib >> b) & 1];
                if (child >= 256) {
                    if (child - 256 == HUFF_EOS) step.flags |= HD_FAIL;
                    step.sym = (uint8_t)(child - 256);
                    step.flags |= HD_EMIT;
                    node = 0;
                } else {
                    node = child;
                }
            }
            step.next = (uint8_t)node;
            if (node == 0 || (all_ones[node] && depth[node] <= 7)) step.flags |= HD_ACCEPT;
            huff_steps[st][nib] = step;
        }
    }
}

size_t http_huffman_encoded_len(const uint8_t *in, size_t len)
{
    uint64_t bits = 0;
    for (size_t i = 0; i < len; i++)
        bits += huff_len[in[i]];
    return (size_t)((bits + 7) / 8);
}

size_t http_huffman_encode(const uint8_t *in, size_t len, uint8_t *out)
{
    uint64_t acc = 0;
    unsigned bits = 0; /* pending bits in the low end of acc, < 32 between symbols */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << huff_len[in[i]]) | huff_code[in[i]];
        bits += huff_len[in[i]];
        if (bits >= 32) {
            bits -= 32;
            uint32_t w = (uint32_t)(acc >> bits);
            out[n] = (uint8_t)(w >> 24);
            out[n + 1] = (uint8_t)(w >> 16);
            out[n + 2] = (uint8_t)(w >> 8);
            out[n + 3] = (uint8_t)w;
            n += 4;
        }
    }
    while (bits >= 8) {
        bits -= 8;
        out[n++] = (uint8_t)(acc >> bits);
    }
    if (bits) /* §5.2: pad with the most significant bits of EOS (all ones) */
        out[n++] = (uint8_t)((acc << (8 - bits)) | (0xffu >> bits));
    return n;
}

/* Decodes into out (NULL: validate and count only). */
static long huff_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    unsigned state = 0, flags = HD_ACCEPT;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        for (int half = 0; half < 2; half++) {
            const struct huff_step *s = &huff_steps[state][half ? in[i] & 15 : in[i] >> 4];
            flags = s->flags;
            if (flags & (HD_EMIT | HD_FAIL)) {
                if (flags & HD_FAIL) return -1;
                if (out) {
                    if (n >= out_cap) return -1;
                    out[n] = s->sym;
                }
                n++;
            }
            state = s->next;
        }
    }
    if (!(flags & HD_ACCEPT)) return -1; /* padding too long, not all ones, or a cut code */
    return (long)n;
}

long http_huffman_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    return huff_decode(in, len, out, out_cap);
}

long http_huffman_decoded_len(const uint8_t *in, size_t len)
{
    return huff_decode(in, len, NULL, 0);
}
