/* HPACK decoder (RFC 7541 §3, §6): turns a header block into fields, keeping the dynamic table in
 * step with the peer's encoder. Past SETTINGS_MAX_HEADER_LIST_SIZE it keeps decoding (so the
 * table stays in sync) but stops emitting and copying, so memory stays bounded whatever the block
 * references. */
#include "h2/hpack.h"

#include <string.h>

#include "h2/hpack_internal.h"
#include "http/huffman.h"

void hpack_decoder_init(struct hpack_decoder *d, size_t max_table_size)
{
    memset(d, 0, sizeof(*d));
    hpack_table_init(&d->table, max_table_size);
    d->settings_max = max_table_size;
    d->first_field = true;
    d->update_required = false;
}

void hpack_decoder_free(struct hpack_decoder *d)
{
    hpack_table_free(&d->table);
}

void hpack_decoder_set_max_table_size(struct hpack_decoder *d, size_t max_table_size)
{
    d->settings_max = max_table_size;
    if (max_table_size < d->table.max_size) d->update_required = true;
}

/* A string literal as it sits in the block (§5.2). */
struct lit {
    const uint8_t *p;
    size_t len;
    bool huff;
};

/* State of one hpack_decode call. */
struct dec {
    struct hpack_decoder *d;
    const uint8_t *in;
    size_t len, pos;
    size_t max_list, running;
    struct pool *pool;
    hpack_emit_fn emit;
    void *ctx;
    bool stopped; /* the callback asked to stop */
};

#define FAIL HPACK_ERR_COMPRESSION

static int read_lit(struct dec *x, struct lit *l)
{
    if (x->pos >= x->len) return FAIL;
    l->huff = x->in[x->pos] & 0x80;
    uint64_t n;
    if (hpack_int_decode(x->in, x->len, &x->pos, 7, &n) < 0) return FAIL;
    if (n > x->len - x->pos) return FAIL; /* the block ends inside the string */
    l->p = x->in + x->pos;
    l->len = (size_t)n;
    x->pos += (size_t)n;
    return 0;
}

/* Most bytes the literal can decode to: codes are at least 5 bits long. */
static size_t lit_bound(const struct lit *l)
{
    return l->huff ? l->len / 5 * 8 + l->len % 5 * 8 / 5 : l->len;
}

/* Exact decoded length (validating Huffman), or -1. */
static long lit_len(const struct lit *l)
{
    return l->huff ? http_huffman_decoded_len(l->p, l->len) : (long)l->len;
}

/* Decodes into dst (room for cap >= decoded length bytes); returns the length or -1. */
static long lit_copy(struct hpack_decoder *d, const struct lit *l, char *dst, size_t cap)
{
    if (!l->huff) {
        if (l->len) memcpy(dst, l->p, l->len);
        return (long)l->len;
    }
    if (l->len == 0 || l->len > HPACK_DEC_CACHE_IN)
        return http_huffman_decode(l->p, l->len, (uint8_t *)dst, cap);
    if (d->huff_in_len == l->len && memcmp(d->huff_in, l->p, l->len) == 0 &&
        d->huff_out_len <= cap) {
        memcpy(dst, d->huff_out, d->huff_out_len);
        return d->huff_out_len;
    }
    long n = http_huffman_decode(l->p, l->len, (uint8_t *)dst, cap);
    if (n >= 0 && (size_t)n <= sizeof(d->huff_out)) {
        d->huff_in_len = (uint8_t)l->len;
        memcpy(d->huff_in, l->p, l->len);
        d->huff_out_len = (uint8_t)n;
        memcpy(d->huff_out, dst, (size_t)n);
    }
    return n;
}

/* NUL-terminated pool copy of the decoded literal; cap bounds its decoded length. */
static int lit_to_pool(struct dec *x, const struct lit *l, size_t cap, str_t *out)
{
    char *p = pool_alloc(x->pool, cap + 1);
    if (!p) return FAIL;
    long n = lit_copy(x->d, l, p, cap);
    if (n < 0) return FAIL;
    p[n] = '\0';
    *out = str_make(p, (size_t)n);
    return 0;
}

static int str_to_pool(struct dec *x, str_t s, str_t *out)
{
    char *p = pool_strndup(x->pool, s.len ? s.p : "", s.len);
    if (!p) return FAIL;
    *out = str_make(p, s.len);
    return 0;
}

/* Adds the field's size to the running total; true when it may still be emitted. */
static bool account(struct dec *x, size_t name_len, size_t value_len)
{
    size_t add = name_len + value_len + HPACK_ENTRY_OVERHEAD;
    x->running = x->running > SIZE_MAX - add ? SIZE_MAX : x->running + add;
    return !x->stopped && x->running <= x->max_list;
}

static void emit(struct dec *x, str_t name, str_t value, enum http_token token)
{
    if (x->emit(x->ctx, name, value, token) != 0) x->stopped = true;
}

/* True when a field of at most this size fits under the limit (no accounting yet). */
static bool fits(const struct dec *x, size_t name_bound, size_t value_bound)
{
    if (x->stopped || x->running > x->max_list) return false;
    size_t room = x->max_list - x->running;
    return name_bound <= room && value_bound <= room - name_bound &&
           HPACK_ENTRY_OVERHEAD <= room - name_bound - value_bound;
}

/* Looks up absolute index i (§2.3.3). */
static int lookup(struct dec *x, uint64_t i, str_t *name, str_t *value, enum http_token *token,
                  bool *name_static, bool *value_static)
{
    if (i == 0) return FAIL; /* §6.1 */
    if (i <= HPACK_STATIC_COUNT) {
        const struct hpack_static_entry *s = &hpack_static_table[i];
        *name = s->name;
        *value = s->value;
        *token = s->token;
        *name_static = *value_static = true;
        return 0;
    }
    const struct hpack_entry *e = hpack_table_get(&x->d->table, i - HPACK_STATIC_COUNT);
    if (!e) return FAIL; /* §2.3.3: beyond both tables */
    *token = e->token;
    *name_static = e->name_static;
    *name = e->name_static ? http_token_info(e->token)->name : hpack_entry_name(e);
    *value = hpack_entry_value(e);
    *value_static = false;
    return 0;
}

/* §6.1 Indexed Header Field. */
static int indexed(struct dec *x)
{
    uint64_t i;
    if (hpack_int_decode(x->in, x->len, &x->pos, 7, &i) < 0) return FAIL;
    str_t name, value;
    enum http_token token;
    bool name_static, value_static;
    if (lookup(x, i, &name, &value, &token, &name_static, &value_static) < 0) return FAIL;
    if (!account(x, name.len, value.len)) return 0;
    if (!name_static && str_to_pool(x, name, &name) < 0) return FAIL;
    if (!value_static && str_to_pool(x, value, &value) < 0) return FAIL;
    emit(x, name, value, token);
    return 0;
}

/* Adds a field that is not emitted: decodes the literals straight into the new entry. */
static int add_unemitted(struct dec *x, str_t name, const struct lit *nlit, size_t name_len,
                         const struct lit *vlit, size_t value_len)
{
    struct hpack_entry *e;
    if (hpack_table_add(&x->d->table, nlit ? NULL : name.p, name_len, NULL, value_len,
                        HTTP_TOKEN_NONE, &e) < 0)
        return FAIL;
    if (!e) return 0; /* larger than the table: it was emptied */
    if (nlit && lit_copy(x->d, nlit, e->data, name_len) < 0) return FAIL;
    if (lit_copy(x->d, vlit, e->data + name_len, value_len) < 0) return FAIL;
    hpack_entry_set_token(e);
    return 0;
}

/* §6.2 Literal Header Field (with incremental indexing, without indexing, never indexed). */
static int literal(struct dec *x, unsigned prefix_bits, bool indexing)
{
    uint64_t i;
    if (hpack_int_decode(x->in, x->len, &x->pos, prefix_bits, &i) < 0) return FAIL;
    str_t name = STR_NULL, unused;
    enum http_token token = HTTP_TOKEN_NONE;
    bool name_static = false, value_static;
    struct lit nlit, vlit;
    bool name_lit = i == 0;
    if (name_lit) {
        if (read_lit(x, &nlit) < 0) return FAIL;
    } else if (lookup(x, i, &name, &unused, &token, &name_static, &value_static) < 0) {
        return FAIL;
    }
    if (read_lit(x, &vlit) < 0) return FAIL;

    size_t ncap = name_lit ? lit_bound(&nlit) : name.len, vcap = lit_bound(&vlit);
    if (!fits(x, ncap, vcap)) {
        /* near or past the limit: validate and measure first, copy only what is emitted */
        long nl = name_lit ? lit_len(&nlit) : (long)name.len, vl = lit_len(&vlit);
        if (nl < 0 || vl < 0) return FAIL;
        if (!fits(x, (size_t)nl, (size_t)vl)) {
            account(x, (size_t)nl, (size_t)vl);
            if (!indexing) return 0;
            return add_unemitted(x, name, name_lit ? &nlit : NULL, (size_t)nl, &vlit, (size_t)vl);
        }
        ncap = (size_t)nl;
        vcap = (size_t)vl;
    }
    str_t value;
    if (name_lit && lit_to_pool(x, &nlit, ncap, &name) < 0) return FAIL;
    if (lit_to_pool(x, &vlit, vcap, &value) < 0) return FAIL;
    if (!name_lit && !name_static && str_to_pool(x, name, &name) < 0) return FAIL;
    if (name_lit) token = http_token_lookup(name.p, name.len);
    account(x, name.len, value.len);
    if (indexing) {
        struct hpack_entry *e;
        if (hpack_table_add(&x->d->table, name.p, name.len, value.p, value.len, token, &e) < 0)
            return FAIL;
    }
    emit(x, name, value, token);
    return 0;
}

/* §6.3 Dynamic Table Size Update. */
static int size_update(struct dec *x, bool at_start)
{
    uint64_t v;
    if (!at_start) return FAIL; /* §4.2: only at the beginning of a block */
    if (hpack_int_decode(x->in, x->len, &x->pos, 5, &v) < 0) return FAIL;
    if (v > x->d->settings_max) return FAIL;
    hpack_table_set_max(&x->d->table, (size_t)v);
    x->d->update_required = false;
    return 0;
}

enum hpack_result hpack_decode(struct hpack_decoder *d, const uint8_t *in, size_t len,
                               size_t max_list_size, struct pool *pool, hpack_emit_fn emit_fn,
                               void *ctx)
{
    struct dec x = {
        .d = d,
        .in = in,
        .len = len,
        .max_list = max_list_size,
        .pool = pool,
        .emit = emit_fn,
        .ctx = ctx,
    };
    d->first_field = true;
    while (x.pos < len) {
        uint8_t b = in[x.pos];
        int rc;
        if ((b & 0xe0) == 0x20) {
            rc = size_update(&x, d->first_field);
        } else {
            if (d->first_field && d->update_required) return FAIL;
            d->first_field = false;
            if (b & 0x80)
                rc = indexed(&x);
            else if (b & 0x40)
                rc = literal(&x, 6, true);
            else /* 0000: without indexing, 0001: never indexed */
                rc = literal(&x, 4, false);
        }
        if (rc < 0) return FAIL;
    }
    if (d->update_required) return FAIL;
    d->first_field = true;
    return x.running > max_list_size ? HPACK_ERR_TOO_LARGE : HPACK_OK;
}
