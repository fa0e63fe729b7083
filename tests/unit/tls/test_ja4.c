/* JA4 against the worked example of its specification (FoxIO, technical_details/JA4.md): the
 * ClientHello below carries that example's ciphers, extensions and signature algorithms in
 * their original order, plus GREASE values that must count nowhere. Then the edge rules: ALPN
 * characters, no SNI, TLS 1.2 without supported_versions, no extensions, malformed input. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "tls/ja4.h"

struct hello {
    uint8_t b[4096];
    size_t n;
};

static void put8(struct hello *h, unsigned v)
{
    h->b[h->n++] = (uint8_t)v;
}
static void put16(struct hello *h, unsigned v)
{
    put8(h, v >> 8), put8(h, v & 0xff);
}
static void put_at16(struct hello *h, size_t at, size_t v)
{
    h->b[at] = (uint8_t)(v >> 8), h->b[at + 1] = (uint8_t)v;
}

/* Starts a ClientHello: header, legacy version, random, empty session id, ciphers. */
static void begin(struct hello *h, unsigned legacy, const unsigned *ciphers, size_t n)
{
    h->n = 0;
    put8(h, 1), put8(h, 0), put8(h, 0), put8(h, 0); /* length set by finish() */
    put16(h, legacy);
    for (int i = 0; i < 32; i++)
        put8(h, (unsigned)i);
    put8(h, 0);
    put16(h, (unsigned)(2 * n));
    for (size_t i = 0; i < n; i++)
        put16(h, ciphers[i]);
    put8(h, 1), put8(h, 0); /* compression: null */
}

static size_t ext_start(struct hello *h, unsigned type)
{
    put16(h, type);
    put16(h, 0);
    return h->n;
}
static void ext_end(struct hello *h, size_t start)
{
    put_at16(h, start - 2, h->n - start);
}

static void finish(struct hello *h, size_t exts_at)
{
    if (exts_at) put_at16(h, exts_at - 2, h->n - exts_at);
    size_t body = h->n - 4;
    h->b[1] = (uint8_t)(body >> 16), h->b[2] = (uint8_t)(body >> 8), h->b[3] = (uint8_t)body;
}

static void alpn(struct hello *h, const uint8_t *first, size_t n)
{
    size_t e = ext_start(h, 0x0010);
    put16(h, (unsigned)(n + 1 + 3));
    put8(h, (unsigned)n);
    for (size_t i = 0; i < n; i++)
        put8(h, first[i]);
    put8(h, 2), put8(h, 'x'), put8(h, 'y'); /* a second value, never looked at */
    ext_end(h, e);
}

static void spec_example(void)
{
    static const unsigned ciphers[] = {0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
                                       0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
                                       0x009c, 0x009d, 0x002f, 0x0035};
    static const unsigned order[] = {0x0a0a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469,
                                     0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
                                     0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0xfafa};
    static const unsigned sigs[] = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
    struct hello h;
    begin(&h, 0x0303, ciphers, sizeof(ciphers) / sizeof(ciphers[0]));
    put16(&h, 0); /* the extensions block's length, set by finish() */
    size_t all = h.n;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        unsigned t = order[i];
        if (t == 0x0010) {
            alpn(&h, (const uint8_t *)"h2", 2);
            continue;
        }
        size_t e = ext_start(&h, t);
        if (t == 0x0000) {
            put16(&h, 14), put8(&h, 0), put16(&h, 11);
            memcpy(h.b + h.n, "example.org", 11), h.n += 11;
        } else if (t == 0x002b) {
            put8(&h, 8), put16(&h, 0x3a3a), put16(&h, 0x0304), put16(&h, 0x0303), put16(&h, 0x0302);
        } else if (t == 0x000d) {
            put16(&h, 2 * 8);
            for (int i = 0; i < 8; i++)
                put16(&h, sigs[i]);
        }
        ext_end(&h, e);
    }
    finish(&h, all);
    char out[JA4_LEN + 1];
    CHECK_INT(ja4_from_client_hello('t', h.b, h.n, out), JA4_LEN);
    CHECK_STRN(out, strlen(out), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    CHECK_INT(ja4_from_client_hello('q', h.b, h.n, out), JA4_LEN);
    CHECK_STRN(out, strlen(out), "q13d1516h2_8daaf6152771_e5627efa2ab1");
    /* every truncation is refused, never read past */
    for (size_t n = 0; n < h.n; n++)
        CHECK_INT(ja4_from_client_hello('t', h.b, n, out), 0);
}

static void alpn_rules(void)
{
    static const unsigned ciphers[] = {0x1301};
    static const struct {
        const char *value;
        size_t n;
        const char *want;
    } cases[] = {{"http/1.1", 8, "h1"},
                 {"h2", 2, "h2"},
                 {"x", 1, "xx"},
                 {"\xab", 1, "ab"},
                 {"\xab\xcd", 2, "ad"},
                 {"\x30\xab", 2, "3b"},
                 {"\x30\x31\xab\xcd", 4, "3d"},
                 {"\x30\xab\xcd\x31", 4, "01"},
                 {"", 0, "00"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hello h;
        begin(&h, 0x0303, ciphers, 1);
        put16(&h, 0);
        size_t all = h.n;
        alpn(&h, (const uint8_t *)cases[i].value, cases[i].n);
        finish(&h, all);
        char out[JA4_LEN + 1];
        CHECK_INT(ja4_from_client_hello('t', h.b, h.n, out), JA4_LEN);
        /* no SNI: "i"; TLS 1.2 from the legacy version; one cipher, one extension (ALPN); the
         * sorted extension list is then empty: all zeros */
        char want[64], b[13];
        ja4_hash12("1301", 4, b);
        snprintf(want, sizeof(want), "t12i0101%s_%s_000000000000", cases[i].want, b);
        CHECK_STRN(out, strlen(out), want);
    }
}

static void no_extensions(void)
{
    static const unsigned ciphers[] = {0x00ff, 0xc02f, 0x1a1a};
    struct hello h;
    begin(&h, 0x0301, ciphers, 3);
    finish(&h, 0);
    char out[JA4_LEN + 1], b[13];
    CHECK_INT(ja4_from_client_hello('t', h.b, h.n, out), JA4_LEN);
    ja4_hash12("00ff,c02f", 9, b);
    char want[64];
    snprintf(want, sizeof(want), "t10i020000_%s_000000000000", b);
    CHECK_STRN(out, strlen(out), want);
    /* not a ClientHello */
    h.b[0] = 2;
    CHECK_INT(ja4_from_client_hello('t', h.b, h.n, out), 0);
    CHECK(out[0] == '\0');
}

static void hash_examples(void)
{
    char out[13];
    /* the specification's example without signature algorithms */
    const char *s = "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01";
    ja4_hash12(s, strlen(s), out);
    CHECK_STRN(out, 12, "6d807ffa2a79");
    ja4_hash12("", 0, out);
    CHECK_STRN(out, 12, "000000000000");
}

int main(void)
{
    spec_example();
    alpn_rules();
    no_extensions();
    hash_examples();
    return check_done("tls/ja4");
}
