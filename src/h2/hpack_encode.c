/* HPACK encoder (RFC 7541 §6), tuned for responses: fields that repeat across responses go into
 * the dynamic table so the next response names them in one byte; values that change every time
 * are sent as literals without indexing, sensitive ones as never-indexed literals (§7.1). */
#include "h2/hpack.h"

#include <stdlib.h>
#include <string.h>

#include "h2/hpack_internal.h"
#include "http/huffman.h"

/* Fields whose whole size (name + value + 32) is above this are not worth a table slot. */
#define HPACK_INDEX_MAX_FIELD 1024

void hpack_encoder_init(struct hpack_encoder *e)
{
    memset(e, 0, sizeof(*e));
    hpack_table_init(&e->table, HPACK_DEFAULT_TABLE_SIZE);
    e->pending_update = SIZE_MAX;
    e->pending_min = SIZE_MAX;
}

void hpack_encoder_free(struct hpack_encoder *e)
{
    hpack_table_free(&e->table);
}

void hpack_encoder_set_max_table_size(struct hpack_encoder *e, size_t peer_max)
{
    size_t v = peer_max < HPACK_DEFAULT_TABLE_SIZE ? peer_max : HPACK_DEFAULT_TABLE_SIZE;
    if (v == e->table.max_size && e->pending_update == SIZE_MAX) return;
    hpack_table_set_max(&e->table, v); /* evicts now; the peer evicts at the update */
    if (v < e->pending_min) e->pending_min = v;
    e->pending_update = v;
}

int hpack_encode_begin(struct hpack_encoder *e, struct buf *out)
{
    if (e->pending_update == SIZE_MAX) return 0;
    if (buf_reserve(out, 2 * HPACK_INT_MAX) < 0) return -1;
    uint8_t *p = (uint8_t *)buf_tail(out);
    size_t n = 0;
    if (e->pending_min < e->pending_update) n += hpack_int_encode(p, 0x20, 5, e->pending_min);
    n += hpack_int_encode(p + n, 0x20, 5, e->pending_update);
    buf_commit(out, n);
    e->pending_update = e->pending_min = SIZE_MAX;
    return 0;
}

enum policy { INDEX, NO_INDEX, NEVER };

/* How a field is represented, from its name (§7.1.3 for the never-indexed ones). */
static enum policy policy_for(enum http_token token, str_t name)
{
    switch (token) {
    case HTTP_TOKEN_SET_COOKIE:
    case HTTP_TOKEN_COOKIE:
    case HTTP_TOKEN_AUTHORIZATION:
    case HTTP_TOKEN_PROXY_AUTHORIZATION: return NEVER;
    /* date is indexed: it changes once a second and every response on the connection
     * repeats it, so it costs one byte after the first. Per-file values are not: they would
     * churn the table and evict server, content-type and the like. */
    case HTTP_TOKEN_CONTENT_LENGTH:
    case HTTP_TOKEN_ETAG:
    case HTTP_TOKEN_LAST_MODIFIED:
    case HTTP_TOKEN_CONTENT_RANGE:
    case HTTP_TOKEN_CONTENT_DISPOSITION:
    case HTTP_TOKEN_LOCATION:
    case HTTP_TOKEN_EXPIRES:
    case HTTP_TOKEN_AGE:
    case HTTP_TOKEN_RANGE:
    case HTTP_TOKEN_REFERER:
    case HTTP_TOKEN_IF_MATCH:
    case HTTP_TOKEN_IF_NONE_MATCH:
    case HTTP_TOKEN_IF_MODIFIED_SINCE:
    case HTTP_TOKEN_IF_UNMODIFIED_SINCE:
    case HTTP_TOKEN_IF_RANGE: return NO_INDEX;
    case HTTP_TOKEN_NONE: return str_eq(name, STR_LIT(":path")) ? NO_INDEX : INDEX;
    default: return INDEX;
    }
}

/* Static name index and full-match index (0 when none) of a name (§2.3.1). Entries with the same
 * name are consecutive in Appendix A. */
static void static_find(str_t name, enum http_token token, str_t value, unsigned *name_idx,
                        unsigned *full_idx)
{
    unsigned i = 0;
    *name_idx = *full_idx = 0;
    if (token != HTTP_TOKEN_NONE) {
        /* regular names appear once in Appendix A (entries 15-61) */
        i = (unsigned)http_token_info(token)->hpack_index;
        if (!i) return;
        *name_idx = i;
        if (str_eq(hpack_static_table[i].value, value)) *full_idx = i;
        return;
    } else if (name.len > 1 && name.p[0] == ':') {
        for (unsigned j = 1; j <= 14 && !i; j++)
            if (str_eq(hpack_static_table[j].name, name)) i = j;
    }
    if (!i) return;
    *name_idx = i;
    for (unsigned j = i; j <= HPACK_STATIC_COUNT; j++) {
        if (!str_eq(hpack_static_table[j].name, hpack_static_table[i].name)) break;
        if (str_eq(hpack_static_table[j].value, value)) {
            *full_idx = j;
            break;
        }
    }
}

static bool entry_has_name(const struct hpack_entry *en, str_t name, enum http_token token)
{
    if (token != HTTP_TOKEN_NONE) return en->token == token;
    return en->token == HTTP_TOKEN_NONE && str_eq(hpack_entry_name(en), name);
}

/* Scans the dynamic table (newest first) for name: value and for the name alone. */
static void dynamic_find(const struct hpack_table *t, str_t name, enum http_token token,
                         str_t value, bool want_full, unsigned *name_idx, unsigned *full_idx)
{
    for (size_t k = 1; k <= t->n_entries; k++) {
        const struct hpack_entry *en = hpack_table_get(t, k);
        if (!entry_has_name(en, name, token)) continue;
        if (!*name_idx) *name_idx = (unsigned)(HPACK_STATIC_COUNT + k);
        if (!want_full) return;
        if (str_eq(hpack_entry_value(en), value)) {
            *full_idx = (unsigned)(HPACK_STATIC_COUNT + k);
            return;
        }
    }
}

/* §5.2 string literal, Huffman-coded when that is shorter. */
static size_t put_string(uint8_t *p, str_t s)
{
    size_t hlen = http_huffman_encoded_len((const uint8_t *)s.p, s.len);
    if (hlen < s.len) {
        size_t n = hpack_int_encode(p, 0x80, 7, hlen);
        return n + http_huffman_encode((const uint8_t *)s.p, s.len, p + n);
    }
    size_t n = hpack_int_encode(p, 0, 7, s.len);
    if (s.len) memcpy(p + n, s.p, s.len);
    return n + s.len;
}

/* buf_reserve without the call when the room is there (the usual case for header blocks). */
static inline int reserve(struct buf *out, size_t n)
{
    return out->cap - out->len >= n ? 0 : buf_reserve(out, n);
}

static int put_indexed(struct buf *out, unsigned idx)
{
    if (reserve(out, HPACK_INT_MAX) < 0) return -1;
    buf_commit(out, hpack_int_encode((uint8_t *)buf_tail(out), 0x80, 7, idx));
    return 0;
}

/* The literal-cache slot of a token sent without indexing, or -1. */
static int literal_slot(enum http_token token)
{
    switch (token) {
    case HTTP_TOKEN_DATE: return 0;
    case HTTP_TOKEN_ETAG: return 1;
    case HTTP_TOKEN_LAST_MODIFIED: return 2;
    case HTTP_TOKEN_CONTENT_LENGTH: return 3;
    default: return -1;
    }
}

/* Cache hits: the bytes encode_lower would write, without searching or Huffman coding. The
 * literal cache holds representations that depend only on (token, value): a static name index
 * and a literal value. The index cache holds where the token's last value entered the dynamic
 * table; the encoder never adds a (name, value) pair the table already holds, so that entry is
 * the one a scan would find. Returns 1 on a hit, 0 on a miss, -1 on OOM. */
static int cached(struct hpack_encoder *e, struct buf *out, str_t value, enum http_token token,
                  enum policy pol)
{
    if (pol == NO_INDEX) {
        int ls = literal_slot(token);
        if (ls < 0) return 0;
        const struct hpack_enc_literal *l = &e->lit[ls];
        if (!l->value_len || l->token != token || l->value_len != value.len ||
            memcmp(l->value, value.p, value.len) != 0)
            return 0;
        if (reserve(out, l->enc_len) < 0) return -1;
        memcpy(buf_tail(out), l->enc, l->enc_len);
        buf_commit(out, l->enc_len);
        return 1;
    }
    if (pol != INDEX) return 0;
    unsigned slot = (unsigned)token % HPACK_ENC_SLOTS;
    if (e->slot_token[slot] != token || !e->slot_seq[slot]) return 0;
    uint64_t k = e->table.added - e->slot_seq[slot] + 1;
    if (k > e->table.n_entries) return 0;
    const struct hpack_entry *en = hpack_table_get(&e->table, (size_t)k);
    if (en->token != token || !str_eq(hpack_entry_value(en), value)) return 0;
    if (put_indexed(out, (unsigned)(HPACK_STATIC_COUNT + k)) < 0) return -1;
    return 1;
}

static void remember_literal(struct hpack_encoder *e, enum http_token token, str_t value,
                             const uint8_t *enc, size_t enc_len)
{
    int ls = literal_slot(token);
    if (ls < 0 || value.len == 0 || value.len > HPACK_ENC_LIT_VALUE ||
        enc_len > HPACK_ENC_LIT_BYTES)
        return;
    struct hpack_enc_literal *l = &e->lit[ls];
    l->token = (uint16_t)token;
    l->value_len = (uint8_t)value.len;
    memcpy(l->value, value.p, value.len);
    l->enc_len = (uint8_t)enc_len;
    memcpy(l->enc, enc, enc_len);
}

static void remember_index(struct hpack_encoder *e, enum http_token token, uint64_t seq)
{
    unsigned slot = (unsigned)token % HPACK_ENC_SLOTS;
    e->slot_token[slot] = (uint16_t)token;
    e->slot_seq[slot] = seq;
}

static int encode_lower(struct hpack_encoder *e, struct buf *out, str_t name, str_t value,
                        enum http_token token, bool never_index)
{
    enum policy pol = never_index ? NEVER : policy_for(token, name);
    if (pol == INDEX && (name.len + value.len + HPACK_ENTRY_OVERHEAD > HPACK_INDEX_MAX_FIELD ||
                         name.len + value.len + HPACK_ENTRY_OVERHEAD > e->table.max_size))
        pol = NO_INDEX;
    if (token != HTTP_TOKEN_NONE) {
        int hit = cached(e, out, value, token, pol);
        if (hit) return hit < 0 ? -1 : 0;
    }
    unsigned name_idx, full_idx;
    static_find(name, token, value, &name_idx, &full_idx);
    if (pol != NEVER && full_idx) return put_indexed(out, full_idx);
    unsigned dyn_name = 0, dyn_full = 0;
    if (pol == INDEX || !name_idx)
        dynamic_find(&e->table, name, token, value, pol == INDEX, &dyn_name, &dyn_full);
    if (dyn_full) {
        if (token != HTTP_TOKEN_NONE)
            remember_index(e, token, e->table.added - (dyn_full - HPACK_STATIC_COUNT) + 1);
        return put_indexed(out, dyn_full);
    }
    bool static_name = name_idx != 0;
    if (!name_idx) name_idx = dyn_name;

    if (reserve(out, 3 * HPACK_INT_MAX + name.len + value.len) < 0) return -1;
    uint8_t *p = (uint8_t *)buf_tail(out);
    size_t n;
    if (pol == INDEX)
        n = hpack_int_encode(p, 0x40, 6, name_idx); /* §6.2.1 */
    else if (pol == NO_INDEX)
        n = hpack_int_encode(p, 0x00, 4, name_idx); /* §6.2.2 */
    else
        n = hpack_int_encode(p, 0x10, 4, name_idx); /* §6.2.3 */
    if (!name_idx) n += put_string(p + n, name);
    n += put_string(p + n, value);
    buf_commit(out, n);
    if (pol == NO_INDEX && static_name && token != HTTP_TOKEN_NONE)
        remember_literal(e, token, value, p, n);
    if (pol == INDEX) {
        struct hpack_entry *en;
        if (hpack_table_add(&e->table, name.p, name.len, value.p, value.len, token, &en) < 0)
            return -1;
        if (en && token != HTTP_TOKEN_NONE) remember_index(e, token, e->table.added);
    }
    return 0;
}

int hpack_encode_field(struct hpack_encoder *e, struct buf *out, str_t name, str_t value,
                       enum http_token token, bool never_index)
{
    if (name.len && name.p[0] == ':')
        token = HTTP_TOKEN_NONE;
    else if (token == HTTP_TOKEN_NONE)
        token = http_token_lookup(name.p, name.len);
    if (token != HTTP_TOKEN_NONE)
        return encode_lower(e, out, http_token_info(token)->name, value, token, never_index);
    size_t i = 0;
    while (i < name.len && !(name.p[i] >= 'A' && name.p[i] <= 'Z'))
        i++;
    if (i == name.len) return encode_lower(e, out, name, value, token, never_index);
    char stack[256];
    char *low = name.len <= sizeof(stack) ? stack : malloc(name.len);
    if (!low) return -1;
    for (i = 0; i < name.len; i++)
        low[i] = ascii_lower(name.p[i]);
    int rc = encode_lower(e, out, str_make(low, name.len), value, token, never_index);
    if (low != stack) free(low);
    return rc;
}

int hpack_encode_status(struct hpack_encoder *e, struct buf *out, int status)
{
    switch (status) { /* Appendix A, indexes 8-14 */
    case 200: return put_indexed(out, 8);
    case 204: return put_indexed(out, 9);
    case 206: return put_indexed(out, 10);
    case 304: return put_indexed(out, 11);
    case 400: return put_indexed(out, 12);
    case 404: return put_indexed(out, 13);
    case 500: return put_indexed(out, 14);
    default: break;
    }
    if (status < 100 || status > 999) status = 500;
    char d[3] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                 (char)('0' + status % 10)};
    return encode_lower(e, out, STR_LIT(":status"), str_make(d, 3), HTTP_TOKEN_NONE, false);
}
