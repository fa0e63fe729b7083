/* QPACK (RFC 9204): the static table, the Appendix B examples byte for byte (encoder stream in,
 * field sections, decoder stream out, and the encoder taking those decoder-stream bytes), and
 * every error path of the decoder and the encoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "h3/qpack.h"
#include "h3/qpack_internal.h"

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

struct got {
    char text[1024]; /* "name: value\n" lines */
    size_t len;
    int never;
};

static int collect(void *ctx, str_t name, str_t value, enum http_token token, bool never_index)
{
    struct got *g = ctx;
    if (token != HTTP_TOKEN_NONE && token != http_token_lookup(name.p, name.len))
        g->len += (size_t)snprintf(g->text + g->len, sizeof(g->text) - g->len, "BADTOKEN ");
    g->len += (size_t)snprintf(g->text + g->len, sizeof(g->text) - g->len, "%.*s: %.*s\n",
                               (int)name.len, name.p, (int)value.len, value.p);
    g->never += never_index;
    return 0;
}

static enum qpack_result enc_stream(struct qpack_decoder *d, const char *hex)
{
    uint8_t b[512];
    size_t n = unhex(hex, b);
    return qpack_decoder_encoder_stream(d, b, n);
}

static enum qpack_result section(struct qpack_decoder *d, uint64_t sid, const char *hex,
                                 struct pool *pool, struct got *g)
{
    uint8_t b[512];
    size_t n = unhex(hex, b);
    memset(g, 0, sizeof(*g));
    return qpack_decode_section(d, sid, b, n, 16384, pool, collect, g);
}

/* The decoder's pending decoder-stream bytes equal hex. */
static void check_dec_out(struct qpack_decoder *d, const char *hex)
{
    uint8_t want[64];
    size_t n = unhex(hex, want);
    struct buf out = {0};
    CHECK_INT(qpack_decoder_take_decoder_stream(d, &out), 0);
    CHECK_INT(buf_size(&out), n);
    CHECK(buf_size(&out) == n && (n == 0 || memcmp(buf_ptr(&out), want, n) == 0));
    buf_free(&out);
}

static void test_static_table(void)
{
    for (int i = 0; i < QPACK_STATIC_COUNT; i++) {
        const struct qpack_static_entry *s = &qpack_static_table[i];
        CHECK_INT(s->token, s->name.p[0] == ':' ? HTTP_TOKEN_NONE
                                                : http_token_lookup(s->name.p, s->name.len));
    }
    CHECK_STR(qpack_static_table[0].name.p, ":authority");
    CHECK_STR(qpack_static_table[98].value.p, "sameorigin");
    bool exact;
    CHECK_INT(qpack_static_find(STR_LIT(":status"), HTTP_TOKEN_NONE, STR_LIT("425"), &exact), 70);
    CHECK(exact);
    CHECK_INT(qpack_static_find(STR_LIT("server"), HTTP_TOKEN_SERVER, STR_LIT("tern"), &exact), 92);
    CHECK(!exact);
    CHECK_INT(qpack_static_find(STR_LIT("x-none"), HTTP_TOKEN_NONE, STR_LIT(""), &exact), -1);
}

static void test_integers(void)
{
    uint8_t b[16];
    size_t pos = 0;
    uint64_t v;
    /* RFC 7541 §C.1.2: 1337 with a 5-bit prefix */
    CHECK_INT(qpack_int_encode(b, 0, 5, 1337), 3);
    CHECK(b[0] == 0x1f && b[1] == 0x9a && b[2] == 0x0a);
    CHECK_INT(qpack_int_decode(b, 3, &pos, 5, &v), 1);
    CHECK_INT(v, 1337);
    pos = 0;
    CHECK_INT(qpack_int_decode(b, 2, &pos, 5, &v), 0); /* truncated */
    size_t n = qpack_int_encode(b, 0, 6, QPACK_INT_LIMIT);
    pos = 0;
    CHECK_INT(qpack_int_decode(b, n, &pos, 6, &v), 1);
    CHECK(v == QPACK_INT_LIMIT);
    n = qpack_int_encode(b, 0, 6, QPACK_INT_LIMIT + 1); /* 2^62: too large */
    pos = 0;
    CHECK_INT(qpack_int_decode(b, n, &pos, 6, &v), -1);
    memset(b, 0xff, sizeof(b));
    pos = 0;
    CHECK_INT(qpack_int_decode(b, sizeof(b), &pos, 6, &v), -1);
}

/* Appendix B.1 to B.5 in sequence, one decoder and one encoder mirroring its table state. */
static void test_appendix_b(void)
{
    struct pool *pool = pool_create(4096);
    struct qpack_decoder d;
    struct got g;
    CHECK_INT(qpack_decoder_init(&d, 220, 1), 0);

    /* B.1 Literal Field Line with Name Reference */
    CHECK_INT(section(&d, 0, "0000 510b 2f69 6e64 6578 2e68 746d 6c", pool, &g), QPACK_OK);
    CHECK_STR(g.text, ":path: /index.html\n");
    check_dec_out(&d, "");

    /* B.2 Dynamic Table: the section arrives first and is blocked */
    CHECK_INT(section(&d, 4, "0381 10 11", pool, &g), QPACK_BLOCKED);
    uint64_t ids[4];
    CHECK_INT(qpack_decoder_take_unblocked(&d, ids, 4), 0);
    CHECK_INT(enc_stream(&d, "3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d"
                             "c10c 2f73 616d 706c 652f 7061 7468"),
              QPACK_OK);
    CHECK_INT(qpack_decoder_take_unblocked(&d, ids, 4), 1);
    CHECK_INT(ids[0], 4);
    CHECK_INT(section(&d, 4, "0381 10 11", pool, &g), QPACK_OK);
    CHECK_STR(g.text, ":authority: www.example.com\n:path: /sample/path\n");
    CHECK_INT(d.table->size, 106);
    check_dec_out(&d, "84");

    /* B.3 Speculative Insert */
    CHECK_INT(enc_stream(&d, "4a63 7573 746f 6d2d 6b65 790c 6375 7374 6f6d 2d76 616c 7565"),
              QPACK_OK);
    CHECK_INT(d.table->size, 160);
    check_dec_out(&d, "01");

    /* B.4 Duplicate Instruction, Stream Cancellation */
    CHECK_INT(enc_stream(&d, "02"), QPACK_OK);
    CHECK_INT(section(&d, 8, "0500 80 c1 81", pool, &g), QPACK_OK);
    CHECK_STR(g.text, ":authority: www.example.com\n:path: /\ncustom-key: custom-value\n");
    CHECK_INT(d.table->size, 217);
    check_dec_out(&d, "88"); /* we acknowledge what we decoded... */
    qpack_decoder_cancel_stream(&d, 8);
    check_dec_out(&d, "48"); /* ...and the example's cancellation when the stream is reset */

    /* B.5 Dynamic Table Insert, Eviction */
    CHECK_INT(enc_stream(&d, "810d 6375 7374 6f6d 2d76 616c 7565 32"), QPACK_OK);
    CHECK_INT(d.table->size, 215);
    CHECK(qpack_table_get(d.table, 0) == NULL);
    CHECK_STRN(qpack_entry_value(qpack_table_get(d.table, 4)).p,
               qpack_entry_value(qpack_table_get(d.table, 4)).len, "custom-value2");
    check_dec_out(&d, "01");
    qpack_decoder_free(&d);

    /* The encoder side of the same decoder-stream bytes: after B.2's section on stream 4, "84"
     * acknowledges it; "01" increments the Known Received Count; "48" cancels stream 8. */
    struct qpack_encoder e;
    struct buf out = {0};
    CHECK_INT(qpack_encoder_init(&e), 0);
    CHECK_INT(qpack_encoder_set_peer_settings(&e, 220, 1), 0);
    struct http_field f[] = {{STR_LIT(":authority"), STR_LIT("www.example.com"), HTTP_TOKEN_NONE}};
    CHECK_INT(qpack_encode_section(&e, 4, f, 1, &out), QPACK_OK);
    CHECK_INT(e.n_sections, 1);
    CHECK_INT(qpack_table_get(e.table, 0)->refs, 1);
    CHECK_INT(qpack_encoder_decoder_stream(&e, (const uint8_t *)"\x84", 1), QPACK_OK);
    CHECK_INT(e.known_received, 1);
    CHECK_INT(e.n_sections, 0);
    CHECK_INT(qpack_table_get(e.table, 0)->refs, 0);
    CHECK_INT(qpack_encode_section(&e, 8, f, 1, &out), QPACK_OK);
    CHECK_INT(qpack_encoder_decoder_stream(&e, (const uint8_t *)"\x48", 1), QPACK_OK);
    CHECK_INT(e.n_sections, 0);
    CHECK_INT(qpack_encoder_decoder_stream(&e, (const uint8_t *)"\x01", 1),
              QPACK_ERR_DECODER_STREAM);
    qpack_encoder_free(&e);
    buf_free(&out);
    pool_destroy(pool);
}

/* Encoder output for a static-only field list decodes back, and never-index is carried. */
static void test_encode_static(void)
{
    struct pool *pool = pool_create(4096);
    struct qpack_encoder e;
    struct qpack_decoder d;
    struct buf out = {0};
    struct got g;
    CHECK_INT(qpack_encoder_init(&e), 0);
    CHECK_INT(qpack_decoder_init(&d, 0, 0), 0);
    struct http_field f[] = {
        {STR_LIT(":status"), STR_LIT("200"), HTTP_TOKEN_NONE},
        {STR_LIT("Content-Type"), STR_LIT("text/css"), HTTP_TOKEN_CONTENT_TYPE},
        {STR_LIT("Server"), STR_LIT("tern"), HTTP_TOKEN_SERVER},
        {STR_LIT("X-Custom"), STR_LIT("Value"), HTTP_TOKEN_NONE},
        {STR_LIT("authorization"), STR_LIT("secret"), HTTP_TOKEN_AUTHORIZATION},
    };
    CHECK_INT(qpack_encode_section(&e, 0, f, 5, &out), QPACK_OK);
    /* 0000, :status 200 is static 25 (0xd9), text/css static 51 (0xf3) */
    const uint8_t *p = (const uint8_t *)buf_ptr(&out);
    CHECK(p[0] == 0 && p[1] == 0 && p[2] == 0xd9 && p[3] == 0xf3);
    memset(&g, 0, sizeof(g));
    CHECK_INT(qpack_decode_section(&d, 0, p, buf_size(&out), 16384, pool, collect, &g), QPACK_OK);
    CHECK_STR(g.text, ":status: 200\ncontent-type: text/css\nserver: tern\nx-custom: Value\n"
                      "authorization: secret\n");
    CHECK_INT(g.never, 1);
    struct buf eo = {0};
    CHECK_INT(qpack_encoder_take_encoder_stream(&e, &eo), 0);
    CHECK_INT(buf_size(&eo), 0);
    /* too large: decoded in full, nothing emitted past the limit */
    memset(&g, 0, sizeof(g));
    CHECK_INT(qpack_decode_section(&d, 0, p, buf_size(&out), 60, pool, collect, &g),
              QPACK_TOO_LARGE);
    CHECK_STR(g.text, ":status: 200\n");
    qpack_encoder_free(&e);
    qpack_decoder_free(&d);
    buf_free(&out);
    buf_free(&eo);
    pool_destroy(pool);
}

static enum qpack_result sec_err(const char *hex, size_t cap)
{
    struct pool *pool = pool_create(4096);
    struct qpack_decoder d;
    struct got g;
    qpack_decoder_init(&d, cap, 1);
    enc_stream(&d, "3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d"); /* 1 insert if cap */
    enum qpack_result r = section(&d, 0, hex, pool, &g);
    qpack_decoder_free(&d);
    pool_destroy(pool);
    return r;
}

static enum qpack_result enc_err(const char *hex)
{
    struct qpack_decoder d;
    qpack_decoder_init(&d, 220, 1);
    enum qpack_result r = enc_stream(&d, hex);
    qpack_decoder_free(&d);
    return r;
}

static void test_decoder_errors(void)
{
    /* encoder stream (§4.3) */
    CHECK_INT(enc_err("3fbe01"), QPACK_ERR_ENCODER_STREAM);        /* capacity 221 > 220 */
    CHECK_INT(enc_err("c00f77"), QPACK_OK);                        /* partial: kept */
    CHECK_INT(enc_err("ff24 00"), QPACK_ERR_ENCODER_STREAM);       /* static index 99 */
    CHECK_INT(enc_err("3fbd01 8000"), QPACK_ERR_ENCODER_STREAM);   /* dynamic name, empty table */
    CHECK_INT(enc_err("3fbd01 00"), QPACK_ERR_ENCODER_STREAM);     /* duplicate, empty table */
    CHECK_INT(enc_err("c000"), QPACK_ERR_ENCODER_STREAM);          /* insert with capacity 0 */
    CHECK_INT(enc_err("3f01 c000"), QPACK_ERR_ENCODER_STREAM);     /* entry larger than 32 */
    CHECK_INT(enc_err("3fbd01 c081ff"), QPACK_ERR_ENCODER_STREAM); /* bad Huffman (EOS) */
    CHECK_INT(enc_err("3fbd01 41 61 00 3f00"), QPACK_OK); /* a: "" then capacity 31 evicts it */
    CHECK_INT(enc_err("3fbd01 c0 ffffffffffffffffffff01"), QPACK_ERR_ENCODER_STREAM);
    /* field sections (§4.5) */
    CHECK_INT(sec_err("", 220), QPACK_ERR_DECOMPRESSION);
    CHECK_INT(sec_err("00", 220), QPACK_ERR_DECOMPRESSION);
    CHECK_INT(sec_err("0080", 220), QPACK_ERR_DECOMPRESSION);      /* sign with RIC 0 */
    CHECK_INT(sec_err("0100", 0), QPACK_ERR_DECOMPRESSION);        /* RIC with no table */
    CHECK_INT(sec_err("0e00", 220), QPACK_ERR_DECOMPRESSION);      /* 13 > 2 * MaxEntries */
    CHECK_INT(sec_err("0000 ff24", 220), QPACK_ERR_DECOMPRESSION); /* static 99 */
    CHECK_INT(sec_err("0000 80", 220), QPACK_ERR_DECOMPRESSION);   /* dynamic with RIC 0 */
    CHECK_INT(sec_err("0000 10", 220), QPACK_ERR_DECOMPRESSION);   /* post-base with RIC 0 */
    CHECK_INT(sec_err("0200 80", 220), QPACK_OK);                  /* RIC 1, Base 1, abs 0 */
    CHECK_INT(sec_err("0200 81", 220), QPACK_ERR_DECOMPRESSION);   /* relative past Base */
    CHECK_INT(sec_err("0200 c1", 220), QPACK_ERR_DECOMPRESSION);   /* RIC larger than needed */
    CHECK_INT(sec_err("0201 80", 220), QPACK_ERR_DECOMPRESSION);   /* Base 2: abs 1 >= RIC */
    CHECK_INT(sec_err("0280 10", 220), QPACK_OK);                  /* Base 0, post-base 0 */
    CHECK_INT(sec_err("0281 10", 220), QPACK_ERR_DECOMPRESSION);   /* Base negative */
    CHECK_INT(sec_err("0300", 220), QPACK_BLOCKED);                /* RIC 2 > 1 insert */
    CHECK_INT(sec_err("0000 5f", 220), QPACK_ERR_DECOMPRESSION);   /* truncated */
    CHECK_INT(sec_err("0000 51 05 2f", 220), QPACK_ERR_DECOMPRESSION);
    CHECK_INT(sec_err("0000 51 81 ff", 220), QPACK_ERR_DECOMPRESSION);    /* bad Huffman */
    CHECK_INT(sec_err("0000 27 01 61 00", 220), QPACK_ERR_DECOMPRESSION); /* name len 8, short */
    CHECK_INT(sec_err("0000 21 61 00", 220), QPACK_OK);
    CHECK_INT(sec_err("0200 4000", 220), QPACK_OK); /* dynamic name ref */
    CHECK_INT(sec_err("0280 0000", 220), QPACK_OK); /* post-base name ref */
    CHECK_INT(sec_err("0280 0100", 220), QPACK_ERR_DECOMPRESSION);

    /* blocked streams beyond SETTINGS_QPACK_BLOCKED_STREAMS (§2.2.1) */
    struct pool *pool = pool_create(4096);
    struct qpack_decoder d;
    struct got g;
    qpack_decoder_init(&d, 220, 1);
    CHECK_INT(section(&d, 0, "0200 80", pool, &g), QPACK_BLOCKED);
    CHECK_INT(section(&d, 0, "0200 80", pool, &g), QPACK_BLOCKED); /* same stream: still one */
    CHECK_INT(section(&d, 4, "0200 80", pool, &g), QPACK_ERR_DECOMPRESSION);
    qpack_decoder_cancel_stream(&d, 0);
    CHECK_INT(section(&d, 4, "0200 80", pool, &g), QPACK_BLOCKED);
    check_dec_out(&d, "40");
    qpack_decoder_free(&d);
    qpack_decoder_init(&d, 0, 0);
    qpack_decoder_cancel_stream(&d, 0); /* no table: nothing to say */
    check_dec_out(&d, "");
    qpack_decoder_free(&d);
    pool_destroy(pool);
    CHECK_INT(qpack_result_h3_error(QPACK_ERR_DECOMPRESSION), 0x200);
    CHECK_INT(qpack_result_h3_error(QPACK_ERR_ENCODER_STREAM), 0x201);
    CHECK_INT(qpack_result_h3_error(QPACK_ERR_DECODER_STREAM), 0x202);
    CHECK_INT(qpack_result_h3_error(QPACK_OK), 0);
}

static void test_encoder_errors(void)
{
    struct qpack_encoder e;
    qpack_encoder_init(&e);
    qpack_encoder_set_peer_settings(&e, 4096, 0);
    CHECK_INT(qpack_encoder_decoder_stream(&e, (const uint8_t *)"\x80", 1),
              QPACK_ERR_DECODER_STREAM); /* ack with nothing outstanding */
    qpack_encoder_free(&e);
    qpack_encoder_init(&e);
    CHECK_INT(qpack_encoder_decoder_stream(&e, (const uint8_t *)"\x00", 1),
              QPACK_ERR_DECODER_STREAM); /* increment 0 */
    qpack_encoder_free(&e);
    qpack_encoder_init(&e);
    CHECK_INT(qpack_encoder_decoder_stream(&e, (const uint8_t *)"\x41", 1), QPACK_OK);
    CHECK_INT(qpack_encoder_decoder_stream(&e, (const uint8_t *)"\x7f", 1), QPACK_OK); /* part */
    CHECK_INT(qpack_encoder_decoder_stream(&e,
                                           (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff"
                                                            "\xff\xff\xff\xff\xff\xff\xff",
                                           15),
              QPACK_ERR_DECODER_STREAM); /* over 62 bits */
    qpack_encoder_free(&e);
}

int main(void)
{
    test_static_table();
    test_integers();
    test_appendix_b();
    test_encode_static();
    test_decoder_errors();
    test_encoder_errors();
    return check_done("h3/qpack");
}
