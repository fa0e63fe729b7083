/* QPACK decoder (RFC 9204 §2.2, §4.3 in, §4.4 out, §4.5): applies the peer's encoder-stream
 * instructions to the dynamic table, decodes field sections (or reports them blocked) and queues
 * the decoder-stream instructions that acknowledge them. */
#include <stdlib.h>
#include <string.h>

#include "h3/qpack_internal.h"

struct qpack_blocked {
    uint64_t stream_id;
    uint64_t ric; /* Required Insert Count the section waits for */
};

uint64_t qpack_result_h3_error(enum qpack_result r)
{
    switch (r) {
    case QPACK_ERR_DECOMPRESSION: return QPACK_H3_DECOMPRESSION_FAILED;
    case QPACK_ERR_ENCODER_STREAM: return QPACK_H3_ENCODER_STREAM_ERROR;
    case QPACK_ERR_DECODER_STREAM: return QPACK_H3_DECODER_STREAM_ERROR;
    case QPACK_ERR_NOMEM: return 0x0102; /* H3_INTERNAL_ERROR (RFC 9114 §8.1) */
    default: return 0;
    }
}

int qpack_decoder_init(struct qpack_decoder *d, size_t max_table_capacity,
                       size_t max_blocked_streams)
{
    memset(d, 0, sizeof(*d));
    d->max_table_capacity = max_table_capacity;
    d->max_blocked = max_blocked_streams;
    d->table = qpack_table_new(max_table_capacity);
    return d->table ? 0 : -1;
}

void qpack_decoder_free(struct qpack_decoder *d)
{
    qpack_table_destroy(d->table);
    buf_free(&d->enc_in);
    buf_free(&d->dec_out);
    free(d->blocked);
    memset(d, 0, sizeof(*d));
}

/* ---- encoder stream (§4.3) */

/* Decodes the name and value literals of an insert into one malloc'd block and inserts them.
 * name_lit NULL: the name is `name`. Returns 1, -1 (encoder stream error) or -2 (OOM). */
static int insert_lits(struct qpack_decoder *d, const struct qpack_lit *name_lit, str_t name,
                       const struct qpack_lit *value_lit)
{
    long nlen = name_lit ? qpack_lit_decoded_len(name_lit) : (long)name.len;
    long vlen = qpack_lit_decoded_len(value_lit);
    if (nlen < 0 || vlen < 0) return -1;
    /* §3.2.2: an entry larger than the capacity is an error; checked before allocating */
    if ((size_t)nlen + (size_t)vlen + QPACK_ENTRY_OVERHEAD > d->table->capacity) return -1;
    char *tmp = malloc((size_t)nlen + (size_t)vlen + 1);
    if (!tmp) return -2;
    if (name_lit)
        qpack_lit_decode(name_lit, tmp, (size_t)nlen);
    else if (nlen)
        memcpy(tmp, name.p, (size_t)nlen);
    qpack_lit_decode(value_lit, tmp + nlen, (size_t)vlen);
    str_t n = {tmp, (size_t)nlen}, v = {tmp + nlen, (size_t)vlen};
    int r = qpack_table_insert(d->table, n, v, http_token_lookup(n.p, n.len));
    free(tmp);
    return r == 0 ? 1 : r == -1 ? -2 : -1;
}

/* One instruction at in[*pos]: 1 applied, 0 incomplete, -1 error, -2 OOM. */
static int encoder_instruction(struct qpack_decoder *d, const uint8_t *in, size_t len, size_t *pos)
{
    struct qpack_table *t = d->table;
    size_t i = *pos;
    uint8_t b = in[i];
    uint64_t idx;
    int r;
    struct qpack_lit name_lit, value_lit;
    if (b & 0x80) { /* §4.3.2 Insert with Name Reference */
        if ((r = qpack_int_decode(in, len, &i, 6, &idx)) <= 0) return r;
        if ((r = qpack_lit_parse(in, len, &i, 7, &value_lit)) <= 0) return r;
        str_t name;
        if (b & 0x40) {
            if (idx >= QPACK_STATIC_COUNT) return -1;
            name = qpack_static_table[idx].name;
        } else {
            /* relative index: 0 is the most recent insert (§3.2.5) */
            struct qpack_entry *e =
                idx < t->inserted ? qpack_table_get(t, t->inserted - 1 - idx) : NULL;
            if (!e) return -1;
            name = qpack_entry_name(e);
        }
        r = insert_lits(d, NULL, name, &value_lit);
    } else if (b & 0x40) { /* §4.3.3 Insert with Literal Name */
        if ((r = qpack_lit_parse(in, len, &i, 5, &name_lit)) <= 0) return r;
        if ((r = qpack_lit_parse(in, len, &i, 7, &value_lit)) <= 0) return r;
        r = insert_lits(d, &name_lit, STR_NULL, &value_lit);
    } else if (b & 0x20) { /* §4.3.1 Set Dynamic Table Capacity */
        if ((r = qpack_int_decode(in, len, &i, 5, &idx)) <= 0) return r;
        r = idx <= d->max_table_capacity && qpack_table_set_capacity(t, (size_t)idx) == 0 ? 1 : -1;
    } else { /* §4.3.4 Duplicate */
        if ((r = qpack_int_decode(in, len, &i, 5, &idx)) <= 0) return r;
        struct qpack_entry *e =
            idx < t->inserted ? qpack_table_get(t, t->inserted - 1 - idx) : NULL;
        if (!e) return -1;
        r = qpack_table_insert(t, qpack_entry_name(e), qpack_entry_value(e), e->token);
        r = r == 0 ? 1 : r == -1 ? -2 : -1;
    }
    if (r == 1) *pos = i;
    return r;
}

enum qpack_result qpack_decoder_encoder_stream(struct qpack_decoder *d, const uint8_t *in,
                                               size_t len)
{
    if (len == 0) return QPACK_OK;
    if (buf_append(&d->enc_in, in, len) < 0) return QPACK_ERR_NOMEM;
    const uint8_t *p = (const uint8_t *)buf_ptr(&d->enc_in);
    size_t n = buf_size(&d->enc_in), pos = 0;
    int r = 1;
    while (pos < n && (r = encoder_instruction(d, p, n, &pos)) == 1)
        ;
    if (r == -1) return QPACK_ERR_ENCODER_STREAM;
    if (r == -2) return QPACK_ERR_NOMEM;
    buf_consume(&d->enc_in, pos);
    /* a partial instruction can only be as long as an entry that fits (Huffman strings take
     * at most 30 bits per byte) plus its prefixes: more is an attack on our memory */
    if (buf_size(&d->enc_in) > 4 * d->max_table_capacity + 64) return QPACK_ERR_ENCODER_STREAM;
    if (buf_size(&d->enc_in) == 0) buf_clear(&d->enc_in);
    return QPACK_OK;
}

/* ---- field sections (§4.5) */

/* §4.5.1.1: the Required Insert Count from its encoding; -1 when invalid. */
static int decode_ric(const struct qpack_decoder *d, uint64_t enc, uint64_t *ric)
{
    uint64_t max_entries = d->max_table_capacity / 32;
    uint64_t full_range = 2 * max_entries;
    if (enc == 0) {
        *ric = 0;
        return 0;
    }
    if (enc > full_range) return -1;
    uint64_t max_value = d->table->inserted + max_entries;
    uint64_t max_wrapped = max_value / full_range * full_range;
    uint64_t v = max_wrapped + enc - 1;
    if (v > max_value) {
        if (v <= full_range) return -1;
        v -= full_range;
    }
    if (v == 0) return -1;
    *ric = v;
    return 0;
}

struct section {
    struct qpack_decoder *d;
    uint64_t ric, base, max_ref; /* max_ref: 1 + largest absolute index referenced */
    size_t total, limit;
    bool too_large, stopped;
    struct pool *pool;
    qpack_emit_fn emit;
    void *ctx;
};

/* Dynamic entry a, which must be below the Required Insert Count (§4.5.1.1). */
static const struct qpack_entry *section_ref(struct section *s, uint64_t a)
{
    if (a >= s->ric) return NULL;
    if (a + 1 > s->max_ref) s->max_ref = a + 1;
    return qpack_table_get(s->d->table, a);
}

/* Emits name: value, where each is either a ready string (copied when `copy`) or a literal.
 * Returns 0, or -1 for bad Huffman, -2 OOM. */
static int section_emit(struct section *s, str_t name, bool copy_name,
                        const struct qpack_lit *name_lit, str_t value, bool copy_value,
                        const struct qpack_lit *value_lit, enum http_token token, bool never)
{
    long nlen = name_lit ? qpack_lit_decoded_len(name_lit) : (long)name.len;
    long vlen = value_lit ? qpack_lit_decoded_len(value_lit) : (long)value.len;
    if (nlen < 0 || vlen < 0) return -1;
    s->total += (size_t)nlen + (size_t)vlen + QPACK_ENTRY_OVERHEAD;
    if (s->total > s->limit) s->too_large = true;
    if (s->too_large || s->stopped) return 0;
    if (name_lit || copy_name) {
        char *p = pool_alloc(s->pool, (size_t)nlen + 1);
        if (!p) return -2;
        if (name_lit)
            qpack_lit_decode(name_lit, p, (size_t)nlen);
        else if (nlen)
            memcpy(p, name.p, (size_t)nlen);
        p[nlen] = '\0';
        name = (str_t){p, (size_t)nlen};
        if (name_lit) token = http_token_lookup(p, (size_t)nlen);
    }
    if (value_lit || copy_value) {
        char *p = pool_alloc(s->pool, (size_t)vlen + 1);
        if (!p) return -2;
        if (value_lit)
            qpack_lit_decode(value_lit, p, (size_t)vlen);
        else if (vlen)
            memcpy(p, value.p, (size_t)vlen);
        p[vlen] = '\0';
        value = (str_t){p, (size_t)vlen};
    }
    if (s->emit(s->ctx, name, value, token, never)) s->stopped = true;
    return 0;
}

/* One field line at in[*pos]: 0, -1 error (also truncation), -2 OOM. */
static int field_line(struct section *s, const uint8_t *in, size_t len, size_t *pos)
{
    uint8_t b = in[*pos];
    uint64_t idx;
    struct qpack_lit name_lit, value_lit;
    const struct qpack_entry *e = NULL;
    const struct qpack_static_entry *st = NULL;
    bool never = false;
    if (b & 0x80) { /* §4.5.2 Indexed Field Line */
        if (qpack_int_decode(in, len, pos, 6, &idx) <= 0) return -1;
        if (b & 0x40) {
            if (idx >= QPACK_STATIC_COUNT) return -1;
            st = &qpack_static_table[idx];
            return section_emit(s, st->name, false, NULL, st->value, false, NULL, st->token, false);
        }
        if (idx >= s->base || !(e = section_ref(s, s->base - 1 - idx))) return -1;
        return section_emit(s, qpack_entry_name(e), true, NULL, qpack_entry_value(e), true, NULL,
                            e->token, false);
    }
    if (b & 0x40) { /* §4.5.4 Literal Field Line with Name Reference */
        never = b & 0x20;
        if (qpack_int_decode(in, len, pos, 4, &idx) <= 0) return -1;
        if (qpack_lit_parse(in, len, pos, 7, &value_lit) <= 0) return -1;
        if (b & 0x10) {
            if (idx >= QPACK_STATIC_COUNT) return -1;
            st = &qpack_static_table[idx];
            return section_emit(s, st->name, false, NULL, STR_NULL, false, &value_lit, st->token,
                                never);
        }
        if (idx >= s->base || !(e = section_ref(s, s->base - 1 - idx))) return -1;
        return section_emit(s, qpack_entry_name(e), true, NULL, STR_NULL, false, &value_lit,
                            e->token, never);
    }
    if (b & 0x20) { /* §4.5.6 Literal Field Line with Literal Name */
        never = b & 0x10;
        if (qpack_lit_parse(in, len, pos, 3, &name_lit) <= 0) return -1;
        if (qpack_lit_parse(in, len, pos, 7, &value_lit) <= 0) return -1;
        return section_emit(s, STR_NULL, false, &name_lit, STR_NULL, false, &value_lit,
                            HTTP_TOKEN_NONE, never);
    }
    if (b & 0x10) { /* §4.5.3 Indexed Field Line with Post-Base Index */
        if (qpack_int_decode(in, len, pos, 4, &idx) <= 0) return -1;
        if (idx > QPACK_INT_LIMIT - s->base || !(e = section_ref(s, s->base + idx))) return -1;
        return section_emit(s, qpack_entry_name(e), true, NULL, qpack_entry_value(e), true, NULL,
                            e->token, false);
    }
    /* §4.5.5 Literal Field Line with Post-Base Name Reference */
    never = b & 0x08;
    if (qpack_int_decode(in, len, pos, 3, &idx) <= 0) return -1;
    if (qpack_lit_parse(in, len, pos, 7, &value_lit) <= 0) return -1;
    if (idx > QPACK_INT_LIMIT - s->base || !(e = section_ref(s, s->base + idx))) return -1;
    return section_emit(s, qpack_entry_name(e), true, NULL, STR_NULL, false, &value_lit, e->token,
                        never);
}

static size_t find_blocked(const struct qpack_decoder *d, uint64_t stream_id)
{
    size_t i = 0;
    while (i < d->n_blocked && d->blocked[i].stream_id != stream_id)
        i++;
    return i;
}

static void drop_blocked(struct qpack_decoder *d, size_t i)
{
    if (i < d->n_blocked) d->blocked[i] = d->blocked[--d->n_blocked];
}

/* §2.2.1: remembers a blocked stream; -1 when that would exceed our limit, -2 OOM. */
static int add_blocked(struct qpack_decoder *d, uint64_t stream_id, uint64_t ric)
{
    size_t i = find_blocked(d, stream_id);
    if (i < d->n_blocked) {
        d->blocked[i].ric = ric;
        return 0;
    }
    if (d->n_blocked >= d->max_blocked) return -1;
    if (d->n_blocked == d->cap_blocked) {
        size_t ncap = d->cap_blocked ? d->cap_blocked * 2 : 4;
        struct qpack_blocked *nb = realloc(d->blocked, ncap * sizeof(*nb));
        if (!nb) return -2;
        d->blocked = nb;
        d->cap_blocked = ncap;
    }
    d->blocked[d->n_blocked++] = (struct qpack_blocked){stream_id, ric};
    return 0;
}

enum qpack_result qpack_decode_section(struct qpack_decoder *d, uint64_t stream_id,
                                       const uint8_t *in, size_t len, size_t max_field_section_size,
                                       struct pool *pool, qpack_emit_fn emit, void *ctx)
{
    size_t pos = 0;
    uint64_t enc_ric, delta;
    struct section s = {
        .d = d, .limit = max_field_section_size, .pool = pool, .emit = emit, .ctx = ctx};
    /* §4.5.1 Encoded Field Section Prefix */
    if (qpack_int_decode(in, len, &pos, 8, &enc_ric) <= 0 || decode_ric(d, enc_ric, &s.ric) < 0)
        return QPACK_ERR_DECOMPRESSION;
    if (pos >= len) return QPACK_ERR_DECOMPRESSION;
    bool sign = in[pos] & 0x80;
    if (qpack_int_decode(in, len, &pos, 7, &delta) <= 0) return QPACK_ERR_DECOMPRESSION;
    if (!sign) {
        if (delta > QPACK_INT_LIMIT - s.ric) return QPACK_ERR_DECOMPRESSION;
        s.base = s.ric + delta;
    } else {
        if (delta >= s.ric) /* Base would be negative (§4.5.1.2) */
            return QPACK_ERR_DECOMPRESSION;
        s.base = s.ric - delta - 1;
    }
    if (s.ric > d->table->inserted) { /* §2.1.2 blocked */
        int r = add_blocked(d, stream_id, s.ric);
        return r == 0 ? QPACK_BLOCKED : r == -1 ? QPACK_ERR_DECOMPRESSION : QPACK_ERR_NOMEM;
    }
    drop_blocked(d, find_blocked(d, stream_id));
    while (pos < len) {
        int r = field_line(&s, in, len, &pos);
        if (r == -1) return QPACK_ERR_DECOMPRESSION;
        if (r == -2) return QPACK_ERR_NOMEM;
    }
    /* §4.5.1.1: a Required Insert Count larger than the references need is an error */
    if (s.ric != s.max_ref) return QPACK_ERR_DECOMPRESSION;
    if (s.ric > 0) { /* §4.4.1 Section Acknowledgment */
        if (qpack_int_append(&d->dec_out, 0x80, 7, stream_id) < 0) return QPACK_ERR_NOMEM;
        if (s.ric > d->acked_inserts) d->acked_inserts = s.ric;
    }
    return s.too_large ? QPACK_TOO_LARGE : QPACK_OK;
}

size_t qpack_decoder_take_unblocked(struct qpack_decoder *d, uint64_t *ids, size_t cap)
{
    size_t n = 0, i = 0;
    while (i < d->n_blocked && n < cap) {
        if (d->blocked[i].ric <= d->table->inserted) {
            ids[n++] = d->blocked[i].stream_id;
            drop_blocked(d, i);
        } else {
            i++;
        }
    }
    return n;
}

void qpack_decoder_cancel_stream(struct qpack_decoder *d, uint64_t stream_id)
{
    drop_blocked(d, find_blocked(d, stream_id));
    /* §4.4.2: a decoder whose maximum capacity is 0 may omit it; we do */
    if (d->max_table_capacity > 0)
        qpack_int_append(&d->dec_out, 0x40, 6, stream_id); /* OOM: the peer just keeps refs */
}

int qpack_decoder_take_decoder_stream(struct qpack_decoder *d, struct buf *out)
{
    uint64_t inserted = d->table->inserted;
    if (inserted > d->acked_inserts) { /* §4.4.3 Insert Count Increment */
        if (qpack_int_append(&d->dec_out, 0x00, 6, inserted - d->acked_inserts) < 0) return -1;
        d->acked_inserts = inserted;
    }
    if (buf_size(&d->dec_out) == 0) return 0;
    if (buf_append(out, buf_ptr(&d->dec_out), buf_size(&d->dec_out)) < 0) return -1;
    buf_clear(&d->dec_out);
    return 0;
}
