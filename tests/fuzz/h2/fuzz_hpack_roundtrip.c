/* libFuzzer target: header lists derived from the input go through the HPACK encoder and back
 * through the decoder; the decoded list must equal the input (names lower-cased) and both dynamic
 * tables must agree after every block. Input: a sequence of records
 *   op byte: low 2 bits 0 = field, 1 = end of block, 2 = peer table size change, 3 = status
 *   field: name length, name, value length, value (bit 2 of op: never index)
 *   size change: one byte (x 32)      status: two bytes */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h2/hpack.h"
#include "h2/hpack_internal.h"

#define MAXF 64

struct list {
    size_t n;
    str_t name[MAXF], value[MAXF];
};

static int on_field(void *ctx, str_t name, str_t value, enum http_token token)
{
    (void)token;
    struct list *l = ctx;
    if (l->n >= MAXF) abort();
    l->name[l->n] = name;
    l->value[l->n] = value;
    l->n++;
    return 0;
}

static bool same_lower(str_t got, str_t want)
{
    if (got.len != want.len) return false;
    for (size_t i = 0; i < got.len; i++)
        if (got.p[i] != ascii_lower(want.p[i])) return false;
    return true;
}

static void check_tables(const struct hpack_table *a, const struct hpack_table *b)
{
    if (a->size != b->size || a->n_entries != b->n_entries || a->max_size != b->max_size) abort();
    for (size_t k = 1; k <= a->n_entries; k++) {
        const struct hpack_entry *x = hpack_table_get(a, k), *y = hpack_table_get(b, k);
        if (!str_eq(hpack_entry_name(x), hpack_entry_name(y)) ||
            !str_eq(hpack_entry_value(x), hpack_entry_value(y)))
            abort();
    }
}

static void flush(struct hpack_encoder *e, struct hpack_decoder *d, struct pool *pool,
                  struct buf *out, struct list *want)
{
    struct list got = {0};
    enum hpack_result r = hpack_decode(d, (const uint8_t *)buf_ptr(out), buf_size(out), 1u << 30,
                                       pool, on_field, &got);
    if (r != HPACK_OK || got.n != want->n) abort();
    for (size_t i = 0; i < got.n; i++)
        if (!same_lower(got.name[i], want->name[i]) || !str_eq(got.value[i], want->value[i]))
            abort();
    check_tables(&e->table, &d->table);
    buf_clear(out);
    pool_reset(pool);
    want->n = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hpack_encoder e;
    struct hpack_decoder d;
    hpack_encoder_init(&e);
    hpack_decoder_init(&d, 4096);
    struct pool *pool = pool_create(1024);
    struct buf out = {0};
    struct list want = {0};
    char status_buf[MAXF][4];
    size_t pos = 0;
    bool begun = false;
    while (pos < size) {
        uint8_t op = data[pos++];
        if (!begun) {
            if (hpack_encode_begin(&e, &out) < 0) abort();
            begun = true;
        }
        switch (op & 3) {
        case 0: {
            if (want.n == MAXF) break;
            size_t nl = pos < size ? data[pos++] % 40 : 0;
            if (nl > size - pos) nl = size - pos;
            str_t name = str_make((const char *)data + pos, nl);
            pos += nl;
            size_t vl = pos < size ? data[pos++] : 0;
            if (op & 0x80) vl *= 8; /* sometimes a long value (> 1 KiB: not indexed) */
            if (vl > size - pos) vl = size - pos;
            str_t value = str_make((const char *)data + pos, vl);
            pos += vl;
            enum http_token tok = (op & 8) ? http_token_lookup(name.p, name.len) : HTTP_TOKEN_NONE;
            if (hpack_encode_field(&e, &out, name, value, tok, op & 4) < 0) abort();
            want.name[want.n] = name;
            want.value[want.n++] = value;
            break;
        }
        case 1:
            flush(&e, &d, pool, &out, &want);
            begun = false;
            break;
        case 2:
            if (pos < size) {
                /* a settings change applies between blocks */
                flush(&e, &d, pool, &out, &want);
                begun = false;
                hpack_encoder_set_max_table_size(&e, (size_t)data[pos++] * 32);
            }
            break;
        case 3: {
            if (want.n == MAXF || size - pos < 2) break;
            int st = 100 + (data[pos] << 8 | data[pos + 1]) % 900;
            pos += 2;
            if (hpack_encode_status(&e, &out, st) < 0) abort();
            char *sb = status_buf[want.n];
            sb[0] = (char)('0' + st / 100);
            sb[1] = (char)('0' + st / 10 % 10);
            sb[2] = (char)('0' + st % 10);
            want.name[want.n] = STR_LIT(":status");
            want.value[want.n++] = str_make(sb, 3);
            break;
        }
        }
    }
    if (!begun && hpack_encode_begin(&e, &out) < 0) abort();
    flush(&e, &d, pool, &out, &want);
    buf_free(&out);
    pool_destroy(pool);
    hpack_encoder_free(&e);
    hpack_decoder_free(&d);
    return 0;
}
