/* QPACK encoder (RFC 9204 §2.1, §4.3 out, §4.4 in, §4.5): encodes field lists with the static
 * table, and with a dynamic table when the peer allows one. Policy: insert only fields that
 * repeat across messages (:authority, server, content-type...), reference only entries that
 * are not draining, never block more streams than the peer allows, and never evict an entry
 * that an unacknowledged field section references (refs counted per entry). */
#include <stdlib.h>
#include <string.h>

#include "h3/qpack_internal.h"

/* Our table is at most this large whatever the peer allows: memory per connection. */
#define QPACK_ENC_CAPACITY 4096
/* Longer values are never inserted: they rarely repeat and would churn the table. */
#define QPACK_ENC_MAX_VALUE 256

struct qpack_section {
    uint64_t stream_id;
    uint64_t ric;   /* Required Insert Count (> 0: sections without references are not kept) */
    uint64_t *refs; /* absolute indexes referenced, one per reference */
    size_t n_refs;
};

int qpack_encoder_init(struct qpack_encoder *e)
{
    memset(e, 0, sizeof(*e));
    e->table = qpack_table_new(0);
    if (!e->table) return -1;
    e->table->evict_below = 0;
    return 0;
}

static void release(struct qpack_encoder *e, struct qpack_section *s)
{
    for (size_t i = 0; i < s->n_refs; i++) {
        struct qpack_entry *en = qpack_table_get(e->table, s->refs[i]);
        if (en && en->refs) en->refs--;
    }
    free(s->refs);
    s->refs = NULL;
    s->n_refs = 0;
}

void qpack_encoder_free(struct qpack_encoder *e)
{
    for (size_t i = 0; i < e->n_sections; i++)
        free(e->sections[i].refs);
    free(e->sections);
    qpack_table_destroy(e->table);
    buf_free(&e->dec_in);
    buf_free(&e->enc_out);
    memset(e, 0, sizeof(*e));
}

int qpack_encoder_set_peer_settings(struct qpack_encoder *e, uint64_t max_table_capacity,
                                    uint64_t blocked_streams)
{
    e->peer_max_capacity =
        max_table_capacity > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)max_table_capacity;
    e->peer_max_blocked = blocked_streams > SIZE_MAX ? SIZE_MAX : (size_t)blocked_streams;
    e->table->max_capacity = e->peer_max_capacity;
    size_t cap =
        e->peer_max_capacity < QPACK_ENC_CAPACITY ? e->peer_max_capacity : QPACK_ENC_CAPACITY;
    if (cap == 0) return 0;
    if (qpack_table_set_capacity(e->table, cap) < 0) return -1;
    return qpack_int_append(&e->enc_out, 0x20, 5, cap); /* §4.3.1 */
}

/* Whether a section on this stream still waits for inserts the decoder has not acknowledged. */
static bool stream_blocking(const struct qpack_encoder *e, uint64_t stream_id)
{
    for (size_t i = 0; i < e->n_sections; i++)
        if (e->sections[i].stream_id == stream_id && e->sections[i].ric > e->known_received)
            return true;
    return false;
}

/* Streams that may be blocked at the decoder now (§2.1.2). */
static size_t blocking_streams(const struct qpack_encoder *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n_sections; i++) {
        const struct qpack_section *s = &e->sections[i];
        if (s->ric <= e->known_received) continue;
        size_t j = 0;
        while (j < i && !(e->sections[j].stream_id == s->stream_id &&
                          e->sections[j].ric > e->known_received))
            j++;
        if (j == i) n++;
    }
    return n;
}

static bool sensitive(enum http_token t)
{
    return t == HTTP_TOKEN_AUTHORIZATION || t == HTTP_TOKEN_PROXY_AUTHORIZATION ||
           t == HTTP_TOKEN_SET_COOKIE;
}

/* Fields whose values repeat from one message to the next. */
static bool indexable(const struct http_field *f)
{
    if (f->value.len > QPACK_ENC_MAX_VALUE) return false;
    switch (f->token) {
    case HTTP_TOKEN_SERVER:
    case HTTP_TOKEN_CONTENT_TYPE:
    case HTTP_TOKEN_CACHE_CONTROL:
    case HTTP_TOKEN_VARY:
    case HTTP_TOKEN_ACCEPT_RANGES:
    case HTTP_TOKEN_CONTENT_ENCODING:
    case HTTP_TOKEN_USER_AGENT:
    case HTTP_TOKEN_ACCEPT:
    case HTTP_TOKEN_ACCEPT_ENCODING:
    case HTTP_TOKEN_ACCEPT_LANGUAGE:
    case HTTP_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN:
    case HTTP_TOKEN_STRICT_TRANSPORT_SECURITY:
    case HTTP_TOKEN_HOST: return true;
    case HTTP_TOKEN_NONE: return str_eq(f->name, STR_LIT(":authority"));
    default: return false;
    }
}

static bool same_name(const struct qpack_entry *en, const struct http_field *f)
{
    return f->token != HTTP_TOKEN_NONE ? en->token == f->token
                                       : str_eq_nocase(qpack_entry_name(en), f->name);
}

/* Newest usable entry equal to the field, or UINT64_MAX. */
static uint64_t dyn_find(const struct qpack_encoder *e, const struct http_field *f, bool may_block)
{
    const struct qpack_table *t = e->table;
    for (uint64_t a = t->inserted; a-- > t->dropped;) {
        const struct qpack_entry *en = qpack_table_get(t, a);
        if (!may_block && a >= e->known_received) continue;
        if (same_name(en, f) && str_eq(qpack_entry_value(en), f->value))
            return qpack_table_draining(t, a) ? UINT64_MAX : a;
    }
    return UINT64_MAX;
}

/* Inserts the field (§4.3.2 with a static name, else §4.3.3); its absolute index or UINT64_MAX
 * when it does not fit. -1 in *err on OOM. */
static uint64_t dyn_insert(struct qpack_encoder *e, const struct http_field *f, int static_name,
                           int *err)
{
    struct qpack_table *t = e->table;
    str_t name = f->token != HTTP_TOKEN_NONE ? http_token_info(f->token)->name : f->name;
    if (!qpack_table_fits(t, name.len + f->value.len + QPACK_ENTRY_OVERHEAD)) return UINT64_MAX;
    char small[64];
    char *lower = name.len <= sizeof(small) ? small : malloc(name.len);
    if (!lower) {
        *err = -1;
        return UINT64_MAX;
    }
    for (size_t i = 0; i < name.len; i++)
        lower[i] = ascii_lower(name.p[i]);
    name.p = lower;
    size_t mark = e->enc_out.len;
    int r = static_name >= 0 ? qpack_int_append(&e->enc_out, 0xc0, 6, (uint64_t)static_name)
                             : qpack_lit_encode(&e->enc_out, 0x40, 5, name, false);
    if (r == 0) r = qpack_lit_encode(&e->enc_out, 0x00, 7, f->value, false);
    if (r == 0) r = qpack_table_insert(t, name, f->value, f->token);
    if (lower != small) free(lower);
    if (r != 0) {
        e->enc_out.len = mark; /* the instruction is not sent without the insert */
        *err = r == -1 ? -1 : 0;
        return UINT64_MAX;
    }
    return t->inserted - 1;
}

struct refs {
    uint64_t *v;
    size_t n, cap;
};

static int refs_add(struct qpack_encoder *e, struct refs *r, uint64_t a)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 8;
        uint64_t *nv = realloc(r->v, ncap * sizeof(*nv));
        if (!nv) return -1;
        r->v = nv;
        r->cap = ncap;
    }
    r->v[r->n++] = a;
    qpack_table_get(e->table, a)->refs++; /* pinned at once: later inserts must not evict it */
    return 0;
}

/* One field line into body; 0 or -1 on OOM. */
static int encode_field(struct qpack_encoder *e, const struct http_field *f, uint64_t base,
                        bool may_block, struct refs *refs, struct buf *body)
{
    bool never = sensitive(f->token), exact;
    int si = qpack_static_find(f->name, f->token, f->value, &exact);
    if (exact && !never) /* §4.5.2, T = 1 */
        return qpack_int_append(body, 0xc0, 6, (uint64_t)si);
    uint64_t a = UINT64_MAX;
    if (!never && e->table->capacity > 0) {
        a = dyn_find(e, f, may_block);
        if (a == UINT64_MAX && may_block && indexable(f)) {
            int err = 0;
            a = dyn_insert(e, f, si, &err);
            if (err) return -1;
        }
    }
    if (a != UINT64_MAX) {
        if (refs_add(e, refs, a) < 0) return -1;
        if (a < base) /* §4.5.2 relative index */
            return qpack_int_append(body, 0x80, 6, base - 1 - a);
        return qpack_int_append(body, 0x10, 4, a - base); /* §4.5.3 post-base */
    }
    if (si >= 0) { /* §4.5.4 with a static name */
        if (qpack_int_append(body, never ? 0x70 : 0x50, 4, (uint64_t)si) < 0) return -1;
    } else { /* §4.5.6 */
        if (qpack_lit_encode(body, never ? 0x30 : 0x20, 3, f->name, true) < 0) return -1;
    }
    return qpack_lit_encode(body, 0x00, 7, f->value, false);
}

enum qpack_result qpack_encode_section(struct qpack_encoder *e, uint64_t stream_id,
                                       const struct http_field *fields, size_t count,
                                       struct buf *out)
{
    uint64_t base = e->table->inserted;
    bool may_block = stream_blocking(e, stream_id) || blocking_streams(e) < e->peer_max_blocked;
    struct refs refs = {0};
    struct buf body = {0};
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = encode_field(e, &fields[i], base, may_block, &refs, &body);
    uint64_t ric = 0;
    for (size_t i = 0; i < refs.n; i++)
        if (refs.v[i] + 1 > ric) ric = refs.v[i] + 1;
    /* §4.5.1 prefix */
    if (rc == 0) {
        uint64_t enc = 0;
        if (ric > 0) enc = ric % (2 * (e->peer_max_capacity / 32)) + 1; /* §4.5.1.1 */
        rc = qpack_int_append(out, 0x00, 8, enc);
        if (rc == 0 && ric == 0)
            rc = qpack_int_append(out, 0x00, 7, 0);
        else if (rc == 0 && base >= ric)
            rc = qpack_int_append(out, 0x00, 7, base - ric);
        else if (rc == 0)
            rc = qpack_int_append(out, 0x80, 7, ric - base - 1);
    }
    if (rc == 0 && buf_size(&body)) rc = buf_append(out, buf_ptr(&body), buf_size(&body));
    buf_free(&body);
    if (rc == 0 && ric > 0) {
        if (e->n_sections == e->cap_sections) {
            size_t ncap = e->cap_sections ? e->cap_sections * 2 : 8;
            struct qpack_section *ns = realloc(e->sections, ncap * sizeof(*ns));
            if (ns) {
                e->sections = ns;
                e->cap_sections = ncap;
            } else {
                rc = -1;
            }
        }
        if (rc == 0) {
            e->sections[e->n_sections++] = (struct qpack_section){stream_id, ric, refs.v, refs.n};
            return QPACK_OK;
        }
    }
    struct qpack_section tmp = {stream_id, ric, refs.v, refs.n};
    release(e, &tmp);
    return rc == 0 ? QPACK_OK : QPACK_ERR_NOMEM;
}

static void remove_section(struct qpack_encoder *e, size_t i)
{
    release(e, &e->sections[i]);
    memmove(&e->sections[i], &e->sections[i + 1], (e->n_sections - i - 1) * sizeof(*e->sections));
    e->n_sections--;
}

/* One decoder-stream instruction at in[*pos]: 1, 0 incomplete, -1 error. */
static int decoder_instruction(struct qpack_encoder *e, const uint8_t *in, size_t len, size_t *pos)
{
    uint8_t b = in[*pos];
    uint64_t v;
    int r;
    if (b & 0x80) { /* §4.4.1 Section Acknowledgment: the stream's oldest unacknowledged one */
        if ((r = qpack_int_decode(in, len, pos, 7, &v)) <= 0) return r;
        size_t i = 0;
        while (i < e->n_sections && e->sections[i].stream_id != v)
            i++;
        if (i == e->n_sections) return -1;
        if (e->sections[i].ric > e->known_received)
            e->known_received = e->sections[i].ric; /* §2.1.4 */
        e->table->evict_below = e->known_received;
        remove_section(e, i);
    } else if (b & 0x40) { /* §4.4.2 Stream Cancellation */
        if ((r = qpack_int_decode(in, len, pos, 6, &v)) <= 0) return r;
        for (size_t i = e->n_sections; i-- > 0;)
            if (e->sections[i].stream_id == v) remove_section(e, i);
    } else { /* §4.4.3 Insert Count Increment */
        if ((r = qpack_int_decode(in, len, pos, 6, &v)) <= 0) return r;
        if (v == 0 || v > e->table->inserted - e->known_received) return -1;
        e->known_received += v;
        e->table->evict_below = e->known_received;
    }
    return 1;
}

enum qpack_result qpack_encoder_decoder_stream(struct qpack_encoder *e, const uint8_t *in,
                                               size_t len)
{
    if (len == 0) return QPACK_OK;
    if (buf_append(&e->dec_in, in, len) < 0) return QPACK_ERR_NOMEM;
    const uint8_t *p = (const uint8_t *)buf_ptr(&e->dec_in);
    size_t n = buf_size(&e->dec_in), pos = 0;
    int r = 1;
    while (pos < n && (r = decoder_instruction(e, p, n, &pos)) == 1)
        ;
    if (r < 0) return QPACK_ERR_DECODER_STREAM;
    buf_consume(&e->dec_in, pos);
    if (buf_size(&e->dec_in) > 2 * QPACK_INT_MAX) /* no instruction is longer */
        return QPACK_ERR_DECODER_STREAM;
    if (buf_size(&e->dec_in) == 0) buf_clear(&e->dec_in);
    return QPACK_OK;
}

int qpack_encoder_take_encoder_stream(struct qpack_encoder *e, struct buf *out)
{
    if (buf_size(&e->enc_out) == 0) return 0;
    if (buf_append(out, buf_ptr(&e->enc_out), buf_size(&e->enc_out)) < 0) return -1;
    buf_clear(&e->enc_out);
    return 0;
}
