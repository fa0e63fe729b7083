/* HPACK decoder and encoder (RFC 7541): every Appendix C example with the table state after each
 * block, the error paths, the SETTINGS_MAX_HEADER_LIST_SIZE bound (HPACK bombs), the encoder's
 * representations, table size updates, and encoder -> decoder round trips. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "h2/hpack.h"
#include "h2/hpack_internal.h"

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ' || *p == '\n') {
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

#define MAX_FIELDS 64

struct got {
    size_t n;
    str_t name[MAX_FIELDS], value[MAX_FIELDS];
    enum http_token token[MAX_FIELDS];
    size_t calls;
    size_t stop_after; /* 0: never stop */
};

static int collect(void *ctx, str_t name, str_t value, enum http_token token)
{
    struct got *g = ctx;
    g->calls++;
    if (g->n < MAX_FIELDS) {
        g->name[g->n] = name;
        g->value[g->n] = value;
        g->token[g->n] = token;
        g->n++;
    }
    return g->stop_after && g->calls >= g->stop_after;
}

static struct pool *pool;

static enum hpack_result decode_hex(struct hpack_decoder *d, const char *hex, struct got *g)
{
    static uint8_t in[4096];
    size_t n = unhex(hex, in);
    memset(g, 0, sizeof(*g));
    enum hpack_result r = hpack_decode(d, in, n, 1 << 20, pool, collect, g);
    /* the input is scribbled over: emitted strings must not point into it */
    memset(in, 'Z', n);
    return r;
}

/* "name: value" lines separated by '\n' */
static void check_fields(const struct got *g, const char *expect)
{
    size_t i = 0;
    const char *p = expect;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        const char *colon = memchr(p + 1, ':', ll - 1);
        if (i >= g->n) {
            CHECK(!"missing field");
            fprintf(stderr, "  missing %.*s\n", (int)ll, p);
            return;
        }
        char name[128], value[256];
        snprintf(name, sizeof(name), "%.*s", (int)(colon - p), p);
        snprintf(value, sizeof(value), "%.*s", (int)(ll - (size_t)(colon - p) - 2), colon + 2);
        CHECK_STRN(g->name[i].p, g->name[i].len, name);
        CHECK_STRN(g->value[i].p, g->value[i].len, value);
        CHECK_INT(g->name[i].p[g->name[i].len], 0); /* NUL-terminated */
        CHECK_INT(g->value[i].p[g->value[i].len], 0);
        i++;
        p += ll + (nl ? 1 : 0);
    }
    CHECK_INT(g->n, i);
}

/* Dynamic table, newest first, as "name: value" lines, and its size. */
static void check_table(const struct hpack_table *t, const char *expect, size_t size)
{
    char buf[2048];
    size_t n = 0;
    for (size_t k = 1; k <= t->n_entries; k++) {
        const struct hpack_entry *e = hpack_table_get(t, k);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%.*s: %.*s", k > 1 ? "\n" : "",
                              (int)e->name_len, e->data, (int)e->value_len, e->data + e->name_len);
    }
    buf[n] = 0;
    CHECK_STR(buf, expect);
    CHECK_INT(t->size, size);
    CHECK(hpack_table_get(t, t->n_entries + 1) == NULL);
    CHECK(hpack_table_get(t, 0) == NULL);
}

static void test_integers(void) /* C.1 */
{
    uint8_t out[HPACK_INT_MAX], in[16];
    uint64_t v;
    size_t pos, n;
    CHECK_INT(hpack_int_encode(out, 0xe0, 5, 10), 1);
    CHECK_INT(out[0], 0xea);
    CHECK_INT(hpack_int_encode(out, 0, 5, 1337), 3);
    CHECK(out[0] == 0x1f && out[1] == 0x9a && out[2] == 0x0a);
    CHECK_INT(hpack_int_encode(out, 0, 8, 42), 1);
    CHECK_INT(out[0], 42);
    pos = 0;
    CHECK_INT(hpack_int_decode((const uint8_t *)"\xea", 1, &pos, 5, &v), 0);
    CHECK_INT(v, 10);
    CHECK_INT(pos, 1);
    pos = 0;
    CHECK_INT(hpack_int_decode(out, 1, &pos, 8, &v), 0);
    CHECK_INT(v, 42);
    n = unhex("1f9a0a", in);
    pos = 0;
    CHECK_INT(hpack_int_decode(in, n, &pos, 5, &v), 0);
    CHECK_INT(v, 1337);
    CHECK_INT(pos, 3);
    /* boundaries: 2^N - 1 needs a zero continuation octet */
    CHECK_INT(hpack_int_encode(out, 0, 5, 31), 2);
    CHECK(out[0] == 0x1f && out[1] == 0);
    /* UINT32_MAX round trips; UINT32_MAX + 1 is rejected */
    for (unsigned bits = 1; bits <= 8; bits++) {
        n = hpack_int_encode(out, 0, bits, UINT32_MAX);
        pos = 0;
        CHECK_INT(hpack_int_decode(out, n, &pos, bits, &v), 0);
        CHECK_INT(v, UINT32_MAX);
        n = hpack_int_encode(out, 0, bits, (uint64_t)UINT32_MAX + 1);
        pos = 0;
        CHECK_INT(hpack_int_decode(out, n, &pos, bits, &v), -1);
    }
    /* truncated */
    n = unhex("1f9a", in);
    pos = 0;
    CHECK_INT(hpack_int_decode(in, n, &pos, 5, &v), -1);
    CHECK_INT(pos, 0);
    pos = 0;
    CHECK_INT(hpack_int_decode(in, 0, &pos, 5, &v), -1);
    /* too many continuation octets, even for a small value */
    n = unhex("1f 80 80 80 80 80 00", in);
    pos = 0;
    CHECK_INT(hpack_int_decode(in, n, &pos, 5, &v), -1);
    n = unhex("1f 80 80 80 80 00", in);
    pos = 0;
    CHECK_INT(hpack_int_decode(in, n, &pos, 5, &v), 0);
    CHECK_INT(v, 31);
    /* 2^35-ish overflow */
    n = unhex("1f ff ff ff ff 7f", in);
    pos = 0;
    CHECK_INT(hpack_int_decode(in, n, &pos, 5, &v), -1);
}

static void test_c2(void)
{
    struct hpack_decoder d;
    struct got g;
    hpack_decoder_init(&d, 4096);
    CHECK_INT(
        decode_hex(&d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572", &g),
        HPACK_OK);
    check_fields(&g, "custom-key: custom-header");
    CHECK_INT(g.token[0], HTTP_TOKEN_NONE);
    check_table(&d.table, "custom-key: custom-header", 55);
    hpack_decoder_free(&d);

    hpack_decoder_init(&d, 4096);
    CHECK_INT(decode_hex(&d, "040c 2f73 616d 706c 652f 7061 7468", &g), HPACK_OK);
    check_fields(&g, ":path: /sample/path");
    check_table(&d.table, "", 0);
    hpack_decoder_free(&d);

    hpack_decoder_init(&d, 4096);
    CHECK_INT(decode_hex(&d, "1008 7061 7373 776f 7264 0673 6563 7265 74", &g), HPACK_OK);
    check_fields(&g, "password: secret");
    check_table(&d.table, "", 0);
    hpack_decoder_free(&d);

    hpack_decoder_init(&d, 4096);
    CHECK_INT(decode_hex(&d, "82", &g), HPACK_OK);
    check_fields(&g, ":method: GET");
    check_table(&d.table, "", 0);
    hpack_decoder_free(&d);
}

static const char *const c3_blocks[] = {
    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "8286 84be 5808 6e6f 2d63 6163 6865",
    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
};
static const char *const c4_blocks[] = {
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
};
static const char *const req_fields[] = {
    ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com",
    ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n"
    "cache-control: no-cache",
    ":method: GET\n:scheme: https\n:path: /index.html\n:authority: www.example.com\n"
    "custom-key: custom-value",
};
static const char *const req_tables[] = {
    ":authority: www.example.com",
    "cache-control: no-cache\n:authority: www.example.com",
    "custom-key: custom-value\ncache-control: no-cache\n:authority: www.example.com",
};
static const size_t req_sizes[] = {57, 110, 164};

static void test_requests(const char *const *blocks)
{
    struct hpack_decoder d;
    struct got g;
    hpack_decoder_init(&d, 4096);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(decode_hex(&d, blocks[i], &g), HPACK_OK);
        check_fields(&g, req_fields[i]);
        check_table(&d.table, req_tables[i], req_sizes[i]);
    }
    /* tokens: pseudo-headers carry none; cache-control (from the dynamic table) does */
    CHECK_INT(g.token[0], HTTP_TOKEN_NONE);
    CHECK_INT(g.token[3], HTTP_TOKEN_NONE);
    hpack_decoder_free(&d);
}

static const char *const c5_blocks[] = {
    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a "
    "3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "4803 3330 37c1 c0bf",
    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 "
    "677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 "
    "553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
};
static const char *const c6_blocks[] = {
    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e "
    "919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
    "4883 640e ffc1 c0bf",
    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 "
    "821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed "
    "4ee5 b106 3d50 07",
};
static const char *const resp_fields[] = {
    ":status: 302\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\n"
    "location: https://www.example.com",
    ":status: 307\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\n"
    "location: https://www.example.com",
    ":status: 200\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:22 GMT\n"
    "location: https://www.example.com\ncontent-encoding: gzip\n"
    "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
};
static const char *const resp_tables[] = {
    "location: https://www.example.com\ndate: Mon, 21 Oct 2013 20:13:21 GMT\n"
    "cache-control: private\n:status: 302",
    ":status: 307\nlocation: https://www.example.com\ndate: Mon, 21 Oct 2013 20:13:21 GMT\n"
    "cache-control: private",
    "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\n"
    "content-encoding: gzip\ndate: Mon, 21 Oct 2013 20:13:22 GMT",
};
static const size_t resp_sizes[] = {222, 222, 215};

static void test_responses(const char *const *blocks)
{
    struct hpack_decoder d;
    struct got g;
    hpack_decoder_init(&d, 256);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(decode_hex(&d, blocks[i], &g), HPACK_OK);
        check_fields(&g, resp_fields[i]);
        check_table(&d.table, resp_tables[i], resp_sizes[i]);
    }
    CHECK_INT(g.token[1], HTTP_TOKEN_CACHE_CONTROL);
    CHECK_INT(g.token[2], HTTP_TOKEN_DATE);
    CHECK_INT(g.token[5], HTTP_TOKEN_SET_COOKIE);
    /* names of tokenized dynamic entries are the token's static string, not pool copies */
    CHECK(g.name[1].p == http_token_info(HTTP_TOKEN_CACHE_CONTROL)->name.p);
    CHECK(g.name[3].p == http_token_info(HTTP_TOKEN_LOCATION)->name.p);
    hpack_decoder_free(&d);
}

static void test_static_tokens(void)
{
    for (int i = 1; i <= HPACK_STATIC_COUNT; i++) {
        const struct hpack_static_entry *s = &hpack_static_table[i];
        enum http_token t = http_token_lookup(s->name.p, s->name.len);
        CHECK_INT(s->token, t);
        CHECK_INT(s->name.p[s->name.len], 0);
        if (i <= 14) {
            CHECK_INT(s->token, HTTP_TOKEN_NONE);
            CHECK_INT(s->name.p[0], ':');
        } else {
            CHECK(s->token != HTTP_TOKEN_NONE);
            CHECK(str_eq(http_token_info(s->token)->name, s->name));
            if (i != 16) CHECK_INT(http_token_info(s->token)->hpack_index, i);
        }
    }
    CHECK_INT(http_token_info(HTTP_TOKEN_ACCEPT_ENCODING)->hpack_index, 16);
    /* a static entry is emitted as the table's own strings with its token */
    struct hpack_decoder d;
    struct got g;
    hpack_decoder_init(&d, 4096);
    CHECK_INT(decode_hex(&d, "90 bf 00", &g), HPACK_ERR_COMPRESSION); /* 0x00: truncated */
    CHECK_INT(decode_hex(&d, "90 9f", &g), HPACK_OK);
    check_fields(&g, "accept-encoding: gzip, deflate\ncontent-type: ");
    CHECK_INT(g.token[0], HTTP_TOKEN_ACCEPT_ENCODING);
    CHECK_INT(g.token[1], HTTP_TOKEN_CONTENT_TYPE);
    CHECK(g.name[0].p == hpack_static_table[16].name.p);
    CHECK(g.value[0].p == hpack_static_table[16].value.p);
    /* a literal name gets its token; an upper-case one is passed on as received */
    CHECK_INT(decode_hex(&d, "000c 436f 6e74 656e 742d 5479 7065 0161", &g), HPACK_OK);
    check_fields(&g, "Content-Type: a");
    CHECK_INT(g.token[0], HTTP_TOKEN_CONTENT_TYPE);
    hpack_decoder_free(&d);
}

static enum hpack_result decode_fresh(const char *hex, size_t table)
{
    struct hpack_decoder d;
    struct got g;
    hpack_decoder_init(&d, table);
    enum hpack_result r = decode_hex(&d, hex, &g);
    hpack_decoder_free(&d);
    return r;
}

static void test_errors(void)
{
    CHECK_INT(decode_fresh("80", 4096), HPACK_ERR_COMPRESSION);   /* index 0 */
    CHECK_INT(decode_fresh("be", 4096), HPACK_ERR_COMPRESSION);   /* 62, empty dynamic table */
    CHECK_INT(decode_fresh("bd", 4096), HPACK_OK);                /* 61 is the last static */
    CHECK_INT(decode_fresh("ff", 4096), HPACK_ERR_COMPRESSION);   /* truncated integer */
    CHECK_INT(decode_fresh("ff80", 4096), HPACK_ERR_COMPRESSION); /* truncated integer */
    CHECK_INT(decode_fresh("ff ff ff ff ff 7f", 4096), HPACK_ERR_COMPRESSION); /* overflow */
    CHECK_INT(decode_fresh("7f 80 01 00", 4096), HPACK_ERR_COMPRESSION);       /* name index 191 */
    CHECK_INT(decode_fresh("40", 4096), HPACK_ERR_COMPRESSION);                /* no name */
    CHECK_INT(decode_fresh("400a 6375 7374", 4096), HPACK_ERR_COMPRESSION);    /* cut name */
    CHECK_INT(decode_fresh("4001 61", 4096), HPACK_ERR_COMPRESSION);           /* no value */
    CHECK_INT(decode_fresh("4001 6105 6162", 4096), HPACK_ERR_COMPRESSION);    /* cut value */
    CHECK_INT(decode_fresh("0f2f 0161", 4096), HPACK_ERR_COMPRESSION); /* name idx 62 (4-bit) */
    CHECK_INT(decode_fresh("1f2f 0161", 4096), HPACK_ERR_COMPRESSION);
    CHECK_INT(decode_fresh("0f2e 0161", 4096), HPACK_OK); /* 61: www-authenticate */
    /* Huffman: bad padding, EOS, in names and values */
    CHECK_INT(decode_fresh("4481 18 0161", 4096), HPACK_ERR_COMPRESSION);         /* 'a' + 000 */
    CHECK_INT(decode_fresh("4401 61 82 1fff", 4096), HPACK_ERR_COMPRESSION);      /* 11-bit pad */
    CHECK_INT(decode_fresh("4401 61 84 ffff ffff", 4096), HPACK_ERR_COMPRESSION); /* EOS */
    CHECK_INT(decode_fresh("0081 ff 0161", 4096), HPACK_ERR_COMPRESSION);
    CHECK_INT(decode_fresh("0081 1f 0161", 4096), HPACK_OK);
    /* size updates: above the setting, after a field, not at the start of a later block */
    CHECK_INT(decode_fresh("3fe1 1f", 4096), HPACK_OK);              /* 4096 */
    CHECK_INT(decode_fresh("3fe2 1f", 4096), HPACK_ERR_COMPRESSION); /* 4097 */
    CHECK_INT(decode_fresh("3fe1 1f", 100), HPACK_ERR_COMPRESSION);
    CHECK_INT(decode_fresh("20 3f45 82", 4096), HPACK_OK); /* two updates, then a field */
    CHECK_INT(decode_fresh("82 20", 4096), HPACK_ERR_COMPRESSION);
    CHECK_INT(decode_fresh("3f", 4096), HPACK_ERR_COMPRESSION); /* truncated */

    /* after our setting shrinks, the next block must start with an update (§4.2) */
    struct hpack_decoder d;
    struct got g;
    hpack_decoder_init(&d, 4096);
    CHECK_INT(decode_hex(&d, "4001 6101 62", &g), HPACK_OK);
    CHECK_INT(d.table.size, 34);
    hpack_decoder_set_max_table_size(&d, 16);
    CHECK_INT(decode_hex(&d, "82", &g), HPACK_ERR_COMPRESSION);
    hpack_decoder_free(&d);
    hpack_decoder_init(&d, 4096);
    CHECK_INT(decode_hex(&d, "4001 6101 62", &g), HPACK_OK);
    hpack_decoder_set_max_table_size(&d, 16);
    CHECK_INT(decode_hex(&d, "3f01 82", &g), HPACK_ERR_COMPRESSION); /* 32 > 16 */
    hpack_decoder_free(&d);
    hpack_decoder_init(&d, 4096);
    CHECK_INT(decode_hex(&d, "4001 6101 62", &g), HPACK_OK);
    hpack_decoder_set_max_table_size(&d, 16);
    CHECK_INT(decode_hex(&d, "2f 82", &g), HPACK_OK); /* 15 */
    check_table(&d.table, "", 0);
    CHECK_INT(d.table.max_size, 15);
    CHECK_INT(decode_hex(&d, "82", &g), HPACK_OK);           /* no longer required */
    CHECK_INT(decode_hex(&d, "4001 6101 62", &g), HPACK_OK); /* 34 > 15: not added */
    check_table(&d.table, "", 0);
    check_fields(&g, "a: b");
    hpack_decoder_free(&d);

    /* growing the setting needs no update; the table is just allowed to grow */
    hpack_decoder_init(&d, 100);
    hpack_decoder_set_max_table_size(&d, 4096);
    CHECK_INT(decode_hex(&d, "82", &g), HPACK_OK);
    CHECK_INT(decode_hex(&d, "3fe1 1f", &g), HPACK_OK);
    hpack_decoder_free(&d);
}

/* §4.4: an entry that references the name of the entry it evicts, and an entry bigger than the
 * whole table. */
static void test_eviction(void)
{
    struct hpack_decoder d;
    struct got g;
    hpack_decoder_init(&d, 4096);
    CHECK_INT(decode_hex(&d, "3f17", &g), HPACK_OK); /* size 31 + 23 = 54 */
    CHECK_INT(d.table.max_size, 54);
    CHECK_INT(decode_hex(&d, "4003 6162 6301 31", &g), HPACK_OK); /* abc: 1, size 36 */
    check_table(&d.table, "abc: 1", 36);
    CHECK_INT(decode_hex(&d, "7e 0132", &g), HPACK_OK); /* name index 62 (abc) evicted by add */
    check_fields(&g, "abc: 2");
    check_table(&d.table, "abc: 2", 36);
    /* 4f bytes of value: 3 + 32 + 20 = 55 > 54 empties the table and adds nothing */
    CHECK_INT(decode_hex(&d, "7e 14 3031 3233 3435 3637 3839 3031 3233 3435 3637 3839", &g),
              HPACK_OK);
    check_fields(&g, "abc: 01234567890123456789");
    check_table(&d.table, "", 0);
    CHECK_INT(decode_hex(&d, "be", &g), HPACK_ERR_COMPRESSION);
    hpack_decoder_free(&d);
}

/* Many references to a big entry: bounded emission and pool use, table kept in sync. */
static void test_bomb(void)
{
    struct hpack_decoder d;
    hpack_decoder_init(&d, 4096);
    size_t big = 4000, refs = 10000;
    uint8_t *in = malloc(16 + big + refs);
    size_t n = 0;
    in[n++] = 0x40;
    in[n++] = 5;
    memcpy(in + n, "x-big", 5);
    n += 5;
    n += hpack_int_encode(in + n, 0, 7, big);
    memset(in + n, 'v', big);
    n += big;
    memset(in + n, 0xbe, refs);
    n += refs;
    struct got g = {0};
    pool_reset(pool);
    size_t limit = 16384;
    CHECK_INT(hpack_decode(&d, in, n, limit, pool, collect, &g), HPACK_ERR_TOO_LARGE);
    CHECK_INT(g.calls, 4); /* 4 x 4037 <= 16384 < 5 x 4037 */
    CHECK(pool_used(pool) <= limit + 1024);
    CHECK_INT(d.table.n_entries, 1);
    CHECK_INT(d.table.size, 5 + big + 32);
    free(in);

    /* the table is in sync: the next block can reference the entry */
    memset(&g, 0, sizeof(g));
    CHECK_INT(hpack_decode(&d, (const uint8_t *)"\xbe", 1, limit, pool, collect, &g), HPACK_OK);
    CHECK_INT(g.n, 1);
    CHECK_INT(g.value[0].len, big);
    hpack_decoder_free(&d);

    /* the limit is exact: name + value + 32 per field */
    hpack_decoder_init(&d, 4096);
    uint8_t blk[64];
    n = unhex("4003 6162 6301 31 be be", blk); /* 3 x 36 = 108 */
    memset(&g, 0, sizeof(g));
    CHECK_INT(hpack_decode(&d, blk, n, 108, pool, collect, &g), HPACK_OK);
    CHECK_INT(g.calls, 3);
    memset(&g, 0, sizeof(g));
    CHECK_INT(hpack_decode(&d, blk + 7, 2, 71, pool, collect, &g), HPACK_ERR_TOO_LARGE);
    CHECK_INT(g.calls, 1);
    hpack_decoder_free(&d);

    /* literals past the limit are not copied but still indexed (Huffman and not) */
    hpack_decoder_init(&d, 4096);
    n = unhex("4003 6162 6301 31 4082 1c64 82 1c64 8286", blk); /* abc: 1, abc: abc */
    memset(&g, 0, sizeof(g));
    CHECK_INT(hpack_decode(&d, blk, n, 40, pool, collect, &g), HPACK_ERR_TOO_LARGE);
    CHECK_INT(g.calls, 1);
    check_table(&d.table, "abc: abc\nabc: 1", 74);
    hpack_decoder_free(&d);

    /* the callback can stop emission; decoding goes on */
    hpack_decoder_init(&d, 4096);
    memset(&g, 0, sizeof(g));
    g.stop_after = 1;
    n = unhex("82 4003 6162 6301 31 86", blk);
    CHECK_INT(hpack_decode(&d, blk, n, 1000, pool, collect, &g), HPACK_OK);
    CHECK_INT(g.calls, 1);
    check_table(&d.table, "abc: 1", 36);
    hpack_decoder_free(&d);
}

/* Encoder --------------------------------------------------------------------------------- */

struct field {
    const char *name, *value;
};

static void encode_fields(struct hpack_encoder *e, struct buf *out, const struct field *f, size_t n)
{
    CHECK_INT(hpack_encode_begin(e, out), 0);
    for (size_t i = 0; i < n; i++)
        CHECK_INT(hpack_encode_field(e, out, str_cstr(f[i].name), str_cstr(f[i].value),
                                     HTTP_TOKEN_NONE, false),
                  0);
}

/* Decodes out with d and compares with f (names lower-cased). */
static void check_round_trip(struct hpack_decoder *d, struct buf *out, const struct field *f,
                             size_t n)
{
    struct got g = {0};
    CHECK_INT(
        hpack_decode(d, (const uint8_t *)buf_ptr(out), buf_size(out), 1 << 20, pool, collect, &g),
        HPACK_OK);
    CHECK_INT(g.n, n);
    for (size_t i = 0; i < n && i < g.n; i++) {
        char low[128];
        size_t l = strlen(f[i].name);
        for (size_t k = 0; k <= l; k++)
            low[k] = ascii_lower(f[i].name[k]);
        CHECK_STRN(g.name[i].p, g.name[i].len, low);
        CHECK_STRN(g.value[i].p, g.value[i].len, f[i].value);
    }
}

static void check_same_tables(const struct hpack_table *a, const struct hpack_table *b)
{
    CHECK_INT(a->size, b->size);
    CHECK_INT(a->max_size, b->max_size);
    CHECK_INT(a->n_entries, b->n_entries);
    for (size_t k = 1; k <= a->n_entries && k <= b->n_entries; k++) {
        const struct hpack_entry *x = hpack_table_get(a, k), *y = hpack_table_get(b, k);
        CHECK(str_eq(hpack_entry_name(x), hpack_entry_name(y)));
        CHECK(str_eq(hpack_entry_value(x), hpack_entry_value(y)));
    }
}

static void test_encode_requests(void)
{
    static const struct field reqs[3][5] = {
        {{":method", "GET"},
         {":scheme", "http"},
         {":path", "/"},
         {":authority", "www.example.com"}},
        {{":method", "GET"},
         {":scheme", "http"},
         {":path", "/"},
         {":authority", "www.example.com"},
         {"cache-control", "no-cache"}},
        {{":method", "GET"},
         {":scheme", "https"},
         {":path", "/index.html"},
         {":authority", "www.example.com"},
         {"custom-key", "custom-value"}},
    };
    static const size_t counts[3] = {4, 5, 5};
    struct hpack_encoder e;
    struct hpack_decoder d;
    hpack_encoder_init(&e);
    hpack_decoder_init(&d, 4096);
    for (int i = 0; i < 3; i++) {
        struct buf out = {0};
        encode_fields(&e, &out, reqs[i], counts[i]);
        check_round_trip(&d, &out, reqs[i], counts[i]);
        check_same_tables(&e.table, &d.table);
        check_table(&d.table, req_tables[i], req_sizes[i]); /* same choices as the RFC here */
        buf_free(&out);
    }
    /* the encoder makes the RFC's choices for these, so the bytes match C.4 */
    hpack_encoder_free(&e);
    hpack_encoder_init(&e);
    for (int i = 0; i < 3; i++) {
        struct buf out = {0};
        uint8_t want[128];
        size_t n = unhex(c4_blocks[i], want);
        encode_fields(&e, &out, reqs[i], counts[i]);
        CHECK_INT(buf_size(&out), n);
        CHECK(buf_size(&out) == n && memcmp(buf_ptr(&out), want, n) == 0);
        buf_free(&out);
    }
    hpack_encoder_free(&e);
    hpack_decoder_free(&d);
}

static void test_encode_representations(void)
{
    struct hpack_encoder e;
    hpack_encoder_init(&e);
    struct buf out = {0};
    static const int st[] = {200, 204, 206, 304, 400, 404, 500};
    for (int i = 0; i < 7; i++) {
        buf_clear(&out);
        CHECK_INT(hpack_encode_status(&e, &out, st[i]), 0);
        CHECK_INT(buf_size(&out), 1);
        CHECK_INT((uint8_t)buf_ptr(&out)[0], 0x88 + i);
    }
    buf_clear(&out);
    CHECK_INT(hpack_encode_status(&e, &out, 302), 0);
    CHECK_INT(buf_size(&out), 4); /* 48 82 6402: indexed name 8, Huffman "302" */
    CHECK_INT((uint8_t)buf_ptr(&out)[0], 0x48);
    buf_clear(&out);
    CHECK_INT(hpack_encode_status(&e, &out, 302), 0);
    CHECK_INT(buf_size(&out), 1);
    CHECK_INT((uint8_t)buf_ptr(&out)[0], 0xbe);

    /* date: with incremental indexing, static name 33 (6-bit prefix: 61); the second time it is
     * one indexed byte */
    buf_clear(&out);
    CHECK_INT(hpack_encode_field(&e, &out, STR_LIT("date"),
                                 STR_LIT("Mon, 21 Oct 2013 20:13:21 GMT"), HTTP_TOKEN_DATE, false),
              0);
    CHECK_INT((uint8_t)buf_ptr(&out)[0], 0x40 | 33);
    CHECK_INT((uint8_t)buf_ptr(&out)[1], 0x80 | 22); /* Huffman, 22 bytes */
    buf_clear(&out);
    CHECK_INT(hpack_encode_field(&e, &out, STR_LIT("date"),
                                 STR_LIT("Mon, 21 Oct 2013 20:13:21 GMT"), HTTP_TOKEN_DATE, false),
              0);
    CHECK_INT(buf_size(&out), 1);
    CHECK_INT((uint8_t)buf_ptr(&out)[0], 0x80 | 62); /* the newest dynamic entry */
    /* set-cookie: never indexed, static name 55 (1f 28) */
    buf_clear(&out);
    CHECK_INT(
        hpack_encode_field(&e, &out, STR_LIT("Set-Cookie"), STR_LIT("a=b"), HTTP_TOKEN_NONE, false),
        0);
    CHECK((uint8_t)buf_ptr(&out)[0] == 0x1f && (uint8_t)buf_ptr(&out)[1] == 0x28);
    /* never_index on an ordinary field; literal name */
    buf_clear(&out);
    CHECK_INT(
        hpack_encode_field(&e, &out, STR_LIT("x-secret"), STR_LIT("s"), HTTP_TOKEN_NONE, true), 0);
    CHECK_INT((uint8_t)buf_ptr(&out)[0], 0x10);
    /* a full static match: accept-encoding: gzip, deflate */
    buf_clear(&out);
    CHECK_INT(hpack_encode_field(&e, &out, STR_LIT("accept-encoding"), STR_LIT("gzip, deflate"),
                                 HTTP_TOKEN_ACCEPT_ENCODING, false),
              0);
    CHECK_INT(buf_size(&out), 1);
    CHECK_INT((uint8_t)buf_ptr(&out)[0], 0x90);
    /* upper-case names are lower-cased; big fields are not indexed */
    size_t before = e.table.n_entries;
    buf_clear(&out);
    char bigv[1100];
    memset(bigv, 'q', sizeof(bigv));
    CHECK_INT(hpack_encode_field(&e, &out, STR_LIT("X-Big"), str_make(bigv, sizeof(bigv)),
                                 HTTP_TOKEN_NONE, false),
              0);
    CHECK_INT(e.table.n_entries, before);
    CHECK_INT((uint8_t)buf_ptr(&out)[0], 0x00);
    struct hpack_decoder d;
    hpack_decoder_init(&d, 4096);
    struct got g = {0};
    CHECK_INT(hpack_decode(&d, (const uint8_t *)buf_ptr(&out), buf_size(&out), 1 << 20, pool,
                           collect, &g),
              HPACK_OK);
    CHECK_STRN(g.name[0].p, g.name[0].len, "x-big");
    CHECK_INT(g.value[0].len, sizeof(bigv));
    /* a long mixed-case name goes through the heap lowering path */
    char longname[300];
    memset(longname, 'N', sizeof(longname));
    buf_clear(&out);
    CHECK_INT(hpack_encode_field(&e, &out, str_make(longname, sizeof(longname)), STR_LIT("v"),
                                 HTTP_TOKEN_NONE, false),
              0);
    CHECK((uint8_t)buf_ptr(&out)[0] == 0x40);
    buf_free(&out);
    hpack_decoder_free(&d);
    hpack_encoder_free(&e);
}

/* The second of two similar responses costs one byte per repeated field. */
static void test_encode_repeated_responses(void)
{
    static const struct field r1[] = {
        {"server", "tern/0.1"},
        {"date", "Mon, 21 Oct 2013 20:13:21 GMT"},
        {"content-type", "text/html; charset=utf-8"},
        {"content-length", "1234"},
        {"last-modified", "Sun, 20 Oct 2013 10:00:00 GMT"},
        {"etag", "\"5265-4d2\""},
        {"cache-control", "max-age=3600"},
        {"vary", "accept-encoding"},
        {"accept-ranges", "bytes"},
        {"content-encoding", "br"},
        {"access-control-allow-origin", "*"},
        {"x-content-type-options", "nosniff"},
        {"strict-transport-security", "max-age=63072000"},
    };
    static const struct field r2[] = {
        {"server", "tern/0.1"},
        {"date", "Mon, 21 Oct 2013 20:13:22 GMT"},
        {"content-type", "text/html; charset=utf-8"},
        {"content-length", "98765"},
        {"last-modified", "Sun, 20 Oct 2013 10:00:00 GMT"},
        {"etag", "\"5265-181cd\""},
        {"cache-control", "max-age=3600"},
        {"vary", "accept-encoding"},
        {"accept-ranges", "bytes"},
        {"content-encoding", "br"},
        {"access-control-allow-origin", "*"},
        {"x-content-type-options", "nosniff"},
        {"strict-transport-security", "max-age=63072000"},
    };
    size_t n = sizeof(r1) / sizeof(r1[0]);
    struct hpack_encoder e;
    struct hpack_decoder d;
    hpack_encoder_init(&e);
    hpack_decoder_init(&d, 4096);
    struct buf out = {0};
    CHECK_INT(hpack_encode_status(&e, &out, 200), 0);
    encode_fields(&e, &out, r1, n);
    size_t first = buf_size(&out);
    struct got g = {0};
    CHECK_INT(hpack_decode(&d, (const uint8_t *)buf_ptr(&out), buf_size(&out), 1 << 20, pool,
                           collect, &g),
              HPACK_OK);
    CHECK_INT(g.n, n + 1);
    buf_clear(&out);
    CHECK_INT(hpack_encode_begin(&e, &out), 0);
    CHECK_INT(hpack_encode_status(&e, &out, 200), 0);
    size_t varying = 0;
    for (size_t i = 0; i < n; i++) {
        size_t at = buf_size(&out);
        CHECK_INT(hpack_encode_field(&e, &out, str_cstr(r2[i].name), str_cstr(r2[i].value),
                                     HTTP_TOKEN_NONE, false),
                  0);
        size_t cost = buf_size(&out) - at;
        if (!strcmp(r2[i].name, "date") || !strcmp(r2[i].name, "content-length") ||
            !strcmp(r2[i].name, "etag") || !strcmp(r2[i].name, "last-modified"))
            varying += cost;
        else
            CHECK_INT(cost, 1);
    }
    /* date 25, last-modified 25, content-length 7, etag 13: Huffman literals, static names */
    CHECK(varying <= 72);
    CHECK_INT(buf_size(&out), 10 + varying); /* 1 byte for :status and each repeated field */
    fprintf(stderr, "repeated response: first %zu bytes, second %zu bytes\n", first,
            buf_size(&out));
    struct field all[16] = {{":status", "200"}};
    memcpy(all + 1, r2, sizeof(r2));
    check_round_trip(&d, &out, all, n + 1);
    check_same_tables(&e.table, &d.table);
    buf_free(&out);
    hpack_encoder_free(&e);
    hpack_decoder_free(&d);
}

static void test_encoder_size_updates(void)
{
    struct hpack_encoder e;
    struct hpack_decoder d;
    struct buf out = {0};
    hpack_encoder_init(&e);
    hpack_decoder_init(&d, 4096);
    static const struct field f[] = {{"server", "tern"}, {"x-a", "1"}};
    encode_fields(&e, &out, f, 2);
    check_round_trip(&d, &out, f, 2);
    CHECK_INT(e.table.n_entries, 2);

    /* the same size: nothing to signal */
    hpack_encoder_set_max_table_size(&e, 4096);
    hpack_encoder_set_max_table_size(&e, 1 << 20); /* capped at 4096 */
    buf_clear(&out);
    CHECK_INT(hpack_encode_begin(&e, &out), 0);
    CHECK_INT(buf_size(&out), 0);

    /* shrink to 0 then grow back before a block: 0 first, then the final size */
    hpack_encoder_set_max_table_size(&e, 0);
    CHECK_INT(e.table.n_entries, 0);
    hpack_encoder_set_max_table_size(&e, 8192);
    buf_clear(&out);
    CHECK_INT(hpack_encode_begin(&e, &out), 0);
    CHECK_INT(buf_size(&out), 4);
    CHECK(memcmp(buf_ptr(&out), "\x20\x3f\xe1\x1f", 4) == 0);
    for (int i = 0; i < 2; i++)
        CHECK_INT(hpack_encode_field(&e, &out, str_cstr(f[i].name), str_cstr(f[i].value),
                                     HTTP_TOKEN_NONE, false),
                  0);
    check_round_trip(&d, &out, f, 2);
    check_same_tables(&e.table, &d.table);
    /* only once */
    buf_clear(&out);
    CHECK_INT(hpack_encode_begin(&e, &out), 0);
    CHECK_INT(buf_size(&out), 0);

    /* shrink to 100: one update; the table keeps what fits */
    hpack_encoder_set_max_table_size(&e, 100);
    buf_clear(&out);
    CHECK_INT(hpack_encode_begin(&e, &out), 0);
    CHECK(buf_size(&out) == 2 && memcmp(buf_ptr(&out), "\x3f\x45", 2) == 0);
    CHECK_INT(hpack_encode_field(&e, &out, STR_LIT("x-b"), STR_LIT("2"), HTTP_TOKEN_NONE, false),
              0);
    check_round_trip(&d, &out, (const struct field[]){{"x-b", "2"}}, 1);
    check_same_tables(&e.table, &d.table);
    CHECK_INT(e.table.max_size, 100);

    /* with a 0 table nothing is indexed, and nothing breaks */
    hpack_encoder_set_max_table_size(&e, 0);
    buf_clear(&out);
    encode_fields(&e, &out, f, 2);
    check_round_trip(&d, &out, f, 2);
    check_same_tables(&e.table, &d.table);
    CHECK_INT(e.table.n_entries, 0);
    buf_free(&out);
    hpack_encoder_free(&e);
    hpack_decoder_free(&d);
}

/* Pseudo-random headers through encoder and decoder, comparing lists and tables each block. */
static void test_random_round_trips(void)
{
    static const char *const names[] = {
        "server",        "content-type", "x-request-id",  "date",  "set-cookie",
        "cookie",        "vary",         ":status",       ":path", ":authority",
        "X-Mixed-Case",  "location",     "cache-control", "etag",  "accept-encoding",
        "authorization", "x-a",          "custom-key",
    };
    static const char *const values[] = {
        "",
        "a",
        "gzip, deflate",
        "text/html",
        "200",
        "/",
        "no-cache",
        "max-age=0",
        "\x01\x02\xff binary",
        "https://www.example.com/a/b?c=d",
        "tern/0.1",
    };
    uint32_t seed = 7;
    struct hpack_encoder e;
    struct hpack_decoder d;
    hpack_encoder_init(&e);
    hpack_decoder_init(&d, 4096);
    struct buf out = {0};
    int bad = 0;
    for (int block = 0; block < 500; block++) {
        struct field f[16];
        char vbuf[16][64];
        size_t n = 1 + (seed = seed * 1103515245u + 12345u) % 16;
        if (block % 50 == 0) {
            seed = seed * 1103515245u + 12345u;
            hpack_encoder_set_max_table_size(&e, (seed >> 8) % 5000);
        }
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            f[i].name = names[(seed >> 8) % (sizeof(names) / sizeof(names[0]))];
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 8) % 3 == 0) {
                snprintf(vbuf[i], sizeof(vbuf[i]), "v%u", (seed >> 12) % 1000);
                f[i].value = vbuf[i];
            } else {
                f[i].value = values[(seed >> 8) % (sizeof(values) / sizeof(values[0]))];
            }
        }
        buf_clear(&out);
        encode_fields(&e, &out, f, n);
        int before = check_failures;
        check_round_trip(&d, &out, f, n);
        check_same_tables(&e.table, &d.table);
        if (check_failures != before) bad++;
        pool_reset(pool);
        if (bad > 3) break;
    }
    CHECK_INT(bad, 0);
    buf_free(&out);
    hpack_encoder_free(&e);
    hpack_decoder_free(&d);
}

/* The encoder's caches (token -> dynamic entry, token+value -> literal bytes) must give exactly
 * the bytes of a full search, through evictions and table size changes. */
static void test_encoder_caches(void)
{
    struct hpack_encoder e, ref;
    struct hpack_decoder d;
    hpack_encoder_init(&e);
    hpack_encoder_init(&ref);
    hpack_decoder_init(&d, 4096);
    struct buf a = {0}, b = {0};
    for (int i = 0; i < 400; i++) {
        char ct[64], date[64], etag[64], len[24], big[200];
        snprintf(ct, sizeof(ct), "text/x-type-%d", (i * 7) % 45);
        snprintf(date, sizeof(date), "Sun, 22 Nov 2026 01:%02d:%02d GMT", i / 600, i / 10 % 60);
        snprintf(etag, sizeof(etag), "\"etag-%d\"", i % 3);
        snprintf(len, sizeof(len), "%d", 100 + i % 4);
        memset(big, 'a' + i % 26, sizeof(big) - 1);
        big[i % 2 ? 60 : sizeof(big) - 1] = '\0'; /* over the literal cache's value size */
        struct field f[] = {{"content-type", ct},       {"date", date},     {"etag", etag},
                            {"content-length", len},    {"server", "tern"}, {"last-modified", big},
                            {"accept-ranges", "bytes"}, {"etag", ""}};
        size_t n = sizeof(f) / sizeof(f[0]);
        if (i == 150) {
            hpack_encoder_set_max_table_size(&e, 256);
            hpack_encoder_set_max_table_size(&ref, 256);
        } else if (i == 250) {
            hpack_encoder_set_max_table_size(&e, 4096);
            hpack_encoder_set_max_table_size(&ref, 4096);
        }
        buf_clear(&a);
        buf_clear(&b);
        encode_fields(&e, &a, f, n);
        /* the reference forgets its caches before each field: a full search every time */
        CHECK_INT(hpack_encode_begin(&ref, &b), 0);
        for (size_t k = 0; k < n; k++) {
            memset(ref.slot_seq, 0, sizeof(ref.slot_seq));
            memset(ref.lit, 0, sizeof(ref.lit));
            CHECK_INT(hpack_encode_field(&ref, &b, str_cstr(f[k].name), str_cstr(f[k].value),
                                         HTTP_TOKEN_NONE, false),
                      0);
        }
        CHECK_INT(buf_size(&a), buf_size(&b));
        CHECK(buf_size(&a) == buf_size(&b) && memcmp(buf_ptr(&a), buf_ptr(&b), buf_size(&a)) == 0);
        check_round_trip(&d, &a, f, n);
        check_same_tables(&e.table, &d.table);
        pool_reset(pool);
    }
    buf_free(&a);
    buf_free(&b);
    hpack_encoder_free(&e);
    hpack_encoder_free(&ref);
    hpack_decoder_free(&d);
}

/* The decoder remembers its last short Huffman literal: repeated, alternating and unrelated
 * literals (and the same bytes as a name) must all decode right. */
static void test_decoder_cache(void)
{
    struct hpack_encoder e;
    struct hpack_decoder d;
    hpack_encoder_init(&e);
    hpack_decoder_init(&d, 4096);
    static const char *paths[] = {"/small.html",
                                  "/small.html",
                                  "/a.css",
                                  "/small.html",
                                  "/a-much-longer-path/that-is-not-remembered/at-all.html",
                                  "/a.css",
                                  "/a.css",
                                  "/"};
    struct buf out = {0};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct field f[] = {{":method", "GET"}, {":path", paths[i]}, {"x-small-html", paths[i]}};
        buf_clear(&out);
        encode_fields(&e, &out, f, 3);
        check_round_trip(&d, &out, f, 3);
        pool_reset(pool);
    }
    buf_free(&out);
    hpack_encoder_free(&e);
    hpack_decoder_free(&d);
}

int main(void)
{
    pool = pool_create(4096);
    test_integers();
    test_c2();
    test_requests(c3_blocks);
    test_requests(c4_blocks);
    test_responses(c5_blocks);
    test_responses(c6_blocks);
    test_static_tokens();
    test_errors();
    test_eviction();
    test_bomb();
    test_encode_requests();
    test_encode_representations();
    test_encode_repeated_responses();
    test_encoder_size_updates();
    test_encoder_caches();
    test_decoder_cache();
    test_random_round_trips();
    pool_destroy(pool);
    return check_done("h2/hpack");
}
