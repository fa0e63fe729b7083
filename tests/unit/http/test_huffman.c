/* Huffman coding (RFC 7541 Appendix B): the code recovered through the public API is the
 * RFC's (canonical, complete, spot-checked), the RFC's Appendix C strings, round trips, and the
 * §5.2 error cases (EOS inside a string, bad padding). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/huffman.h"
#include "check.h"

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        unsigned v;
        sscanf(p, "%2x", &v);
        out[n++] = (uint8_t)v;
        p += 2;
    }
    return n;
}

/* Recovers (code, length) of every symbol: 8 copies of a symbol take exactly `length` bytes, and
 * the symbol alone is its code followed by one-bits of padding. */
static void test_code_table(void)
{
    static uint32_t code[257];
    static unsigned len[257];
    for (unsigned s = 0; s < 256; s++) {
        uint8_t in[8], out[64];
        memset(in, (int)s, sizeof(in));
        len[s] = (unsigned)http_huffman_encoded_len(in, 8);
        CHECK_INT(http_huffman_encode(in, 8, out), len[s]);
        size_t n = http_huffman_encode(in, 1, out);
        CHECK_INT(n, (len[s] + 7) / 8);
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++)
            v = v << 8 | out[i];
        unsigned pad = (unsigned)(n * 8 - len[s]);
        CHECK_INT(v & ((1u << pad) - 1), (1u << pad) - 1); /* padding is all ones */
        code[s] = (uint32_t)(v >> pad);
    }
    code[256] = 0x3fffffff; /* EOS, never produced by the encoder */
    len[256] = 30;
    /* Appendix B spot checks, one per length and the extremes */
    static const struct {
        unsigned sym;
        uint32_t code;
        unsigned len;
    } spot[] = {
        {0, 0x1ff8, 13},      {1, 0x7fffd8, 23},    {9, 0xffffea, 24},    {10, 0x3ffffffc, 30},
        {22, 0x3ffffffe, 30}, {' ', 0x14, 6},       {'!', 0x3f8, 10},     {'#', 0xffa, 12},
        {'&', 0xf8, 8},       {'\'', 0x7fa, 11},    {'0', 0x0, 5},        {':', 0x5c, 7},
        {'<', 0x7ffc, 15},    {'\\', 0x7fff0, 19},  {'^', 0x3ffc, 14},    {'a', 0x3, 5},
        {'z', 0x7b, 7},       {127, 0xffffffc, 28}, {128, 0xfffe6, 20},   {153, 0x1fffdc, 21},
        {129, 0x3fffd2, 22},  {199, 0x1ffffec, 25}, {192, 0x3ffffe0, 26}, {203, 0x7ffffde, 27},
        {254, 0x7fffff0, 27}, {255, 0x3ffffee, 26},
    };
    for (size_t i = 0; i < sizeof(spot) / sizeof(spot[0]); i++) {
        CHECK_INT(code[spot[i].sym], spot[i].code);
        CHECK_INT(len[spot[i].sym], spot[i].len);
    }
    /* complete (Kraft sum 1) and canonical: sorted by (length, symbol), codes are consecutive */
    uint64_t kraft = 0;
    for (unsigned s = 0; s <= 256; s++)
        kraft += (uint64_t)1 << (30 - len[s]);
    CHECK_INT(kraft, (uint64_t)1 << 30);
    uint64_t next = 0;
    unsigned prev_len = 0;
    for (unsigned l = 5; l <= 30; l++)
        for (unsigned s = 0; s <= 256; s++) {
            if (len[s] != l) continue;
            next <<= l - prev_len;
            prev_len = l;
            CHECK_INT(code[s], next);
            next++;
        }
}

static void check_pair(const char *text, const char *hex)
{
    uint8_t want[256], got[256], dec[256];
    size_t n = unhex(hex, want), tl = strlen(text);
    CHECK_INT(http_huffman_encoded_len((const uint8_t *)text, tl), n);
    CHECK_INT(http_huffman_encode((const uint8_t *)text, tl, got), n);
    CHECK(memcmp(got, want, n) == 0);
    long d = http_huffman_decode(want, n, dec, sizeof(dec));
    CHECK_INT(d, (long)tl);
    if (d >= 0) CHECK_STRN((char *)dec, (size_t)d, text);
    CHECK_INT(http_huffman_decoded_len(want, n), (long)tl);
}

/* Strings from RFC 7541 C.4 and C.6. */
static void test_rfc_strings(void)
{
    check_pair("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff");
    check_pair("no-cache", "a8eb 1064 9cbf");
    check_pair("custom-key", "25a8 49e9 5ba9 7d7f");
    check_pair("custom-value", "25a8 49e9 5bb8 e8b4 bf");
    check_pair("302", "6402");
    check_pair("307", "640e ff");
    check_pair("private", "aec3 771a 4b");
    check_pair("Mon, 21 Oct 2013 20:13:21 GMT",
               "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff");
    check_pair("Mon, 21 Oct 2013 20:13:22 GMT",
               "d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff");
    check_pair("https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3");
    check_pair("gzip", "9bd9 ab");
    check_pair("foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
               "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 "
               "3160 65c0 03ed 4ee5 b106 3d50 07");
    check_pair("", "");
}

static int round_trip(const uint8_t *in, size_t len)
{
    size_t el = http_huffman_encoded_len(in, len);
    uint8_t *enc = malloc(el + 1), *dec = malloc(len + 1);
    size_t n = http_huffman_encode(in, len, enc);
    long d = http_huffman_decode(enc, n, dec, len);
    int ok = n == el && d == (long)len && memcmp(dec, in, len) == 0 &&
             http_huffman_decoded_len(enc, n) == (long)len;
    free(enc);
    free(dec);
    return ok;
}

static void test_round_trips(void)
{
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    CHECK(round_trip(all, sizeof(all)));
    for (int i = 0; i < 256; i++) { /* each byte alone, and repeated (odd bit lengths) */
        uint8_t r[9];
        memset(r, i, sizeof(r));
        for (size_t k = 1; k <= sizeof(r); k++)
            if (!round_trip(r, k)) CHECK(!"single byte round trip");
    }
    uint32_t seed = 12345;
    uint8_t buf[600];
    int bad = 0;
    for (int iter = 0; iter < 2000; iter++) {
        size_t len = (seed = seed * 1103515245u + 12345u) >> 16 & 511;
        int printable = iter & 1;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = printable ? (uint8_t)(32 + (seed >> 16) % 95) : (uint8_t)(seed >> 16);
        }
        if (!round_trip(buf, len)) bad++;
    }
    CHECK_INT(bad, 0);
}

static void test_errors(void)
{
    uint8_t in[16], out[64];
    size_t n;
    /* EOS (30 one-bits) inside the string */
    n = unhex("ffff ffff", in);
    CHECK_INT(http_huffman_decode(in, n, out, sizeof(out)), -1);
    CHECK_INT(http_huffman_decoded_len(in, n), -1);
    n = unhex("1fff ffff ff", in); /* 'a' then EOS */
    CHECK_INT(http_huffman_decode(in, n, out, sizeof(out)), -1);
    /* 'a' (00011) then 11 one-bits of padding: longer than 7 bits */
    n = unhex("1fff", in);
    CHECK_INT(http_huffman_decode(in, n, out, sizeof(out)), -1);
    /* a whole octet of padding alone */
    n = unhex("ff", in);
    CHECK_INT(http_huffman_decode(in, n, out, sizeof(out)), -1);
    /* 'a' then padding 000: not the EOS prefix */
    n = unhex("18", in);
    CHECK_INT(http_huffman_decode(in, n, out, sizeof(out)), -1);
    n = unhex("1e", in); /* padding 110 */
    CHECK_INT(http_huffman_decode(in, n, out, sizeof(out)), -1);
    /* a cut 10-bit code: 11111110 */
    n = unhex("fe", in);
    CHECK_INT(http_huffman_decode(in, n, out, sizeof(out)), -1);
    /* valid: 'a' + 111 padding, and 7 bits of padding after a byte-aligned code */
    n = unhex("1f", in);
    CHECK_INT(http_huffman_decode(in, n, out, sizeof(out)), 1);
    CHECK_INT(out[0], 'a');
    /* out_cap too small */
    n = unhex("f1e3 c2e5 f23a 6ba0 ab90 f4ff", in);
    CHECK_INT(http_huffman_decode(in, n, out, 14), -1);
    CHECK_INT(http_huffman_decode(in, n, out, 15), 15);
    CHECK_INT(http_huffman_decode(in, 0, out, 0), 0);
}

int main(void)
{
    test_code_table();
    test_rfc_strings();
    test_round_trips();
    test_errors();
    return check_done("http/huffman");
}
