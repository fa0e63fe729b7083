/* QPACK internals shared by the decoder (qpack_decode.c), the encoder (qpack_encode.c), the
 * tables (qpack_table.c) and the wire primitives (qpack_prim.c). */
#ifndef TERN_H3_QPACK_INTERNAL_H
#define TERN_H3_QPACK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "h3/qpack.h"

/* RFC 9204 §3.2.1: an entry costs its name and value lengths plus 32. */
#define QPACK_ENTRY_OVERHEAD 32
/* RFC 9204 Appendix A has 99 entries, indexed from 0. */
#define QPACK_STATIC_COUNT 99
/* Integers are at most 62 bits (stream ids, RFC 9000 §16); larger ones are errors. */
#define QPACK_INT_LIMIT ((UINT64_C(1) << 62) - 1)
/* Bytes an encoded integer takes at most. */
#define QPACK_INT_MAX 10

struct qpack_static_entry {
    str_t name;
    str_t value;
    enum http_token token; /* HTTP_TOKEN_NONE for pseudo-headers and names not interned */
};

/* Entry i (0..98) of RFC 9204 Appendix A. */
extern const struct qpack_static_entry qpack_static_table[QPACK_STATIC_COUNT];

/* Static index of an entry matching name and value (exact, *exact = true), else of one matching
 * the name only (*exact = false), else -1. token may be NONE (then name is compared). */
int qpack_static_find(str_t name, enum http_token token, str_t value, bool *exact);

/* A dynamic table entry: name and value in one malloc'd block (name first, NUL after each). */
struct qpack_entry {
    char *data;
    uint32_t name_len, value_len;
    enum http_token token;
    uint32_t refs; /* encoder: references from unacknowledged field sections (§2.1.1) */
};

static inline str_t qpack_entry_name(const struct qpack_entry *e)
{
    return (str_t){e->data, e->name_len};
}
static inline str_t qpack_entry_value(const struct qpack_entry *e)
{
    return (str_t){e->data + e->name_len + 1, e->value_len};
}
static inline size_t qpack_entry_size(const struct qpack_entry *e)
{
    return (size_t)e->name_len + e->value_len + QPACK_ENTRY_OVERHEAD;
}

/* The dynamic table (§3.2): a ring of entries. Absolute index a (§3.2.4) is present when
 * dropped <= a < inserted. */
struct qpack_table {
    struct qpack_entry *ring;
    size_t ring_cap, head, count; /* head: ring slot of the oldest entry */
    uint64_t dropped;             /* entries evicted so far: absolute index of the oldest */
    uint64_t inserted;            /* Insert Count (§3.2.4) */
    size_t size;                  /* §3.2.1 size */
    size_t capacity;              /* current capacity (Set Dynamic Table Capacity) */
    size_t max_capacity;          /* the decoder's SETTINGS_QPACK_MAX_TABLE_CAPACITY */
    /* only entries below this absolute index may be evicted: the encoder keeps it at the Known
     * Received Count, so it never evicts an insert the decoder has not acknowledged (else the
     * decoder could fall more than MaxEntries behind and misread the §4.5.1.1 encoding); the
     * decoder leaves it at UINT64_MAX */
    uint64_t evict_below;
};

struct qpack_table *qpack_table_new(size_t max_capacity);
void qpack_table_destroy(struct qpack_table *t);
/* Entry with absolute index a, or NULL when evicted or not inserted yet. */
struct qpack_entry *qpack_table_get(const struct qpack_table *t, uint64_t a);
/* Whether entries totalling `need` bytes fit after evicting the oldest unreferenced entries
 * (an entry with refs > 0, or not below evict_below, and everything newer stays, §2.1.1). */
bool qpack_table_fits(const struct qpack_table *t, size_t need);
/* Sets the capacity (§4.3.1), evicting the oldest entries. -1 if above max_capacity or if an
 * entry still referenced would have to go. */
int qpack_table_set_capacity(struct qpack_table *t, size_t capacity);
/* Inserts name: value (§3.2.2) after evicting what it needs. Returns 0, -1 on OOM, -2 when it
 * cannot fit (larger than the capacity, or a referenced entry is in the way). */
int qpack_table_insert(struct qpack_table *t, str_t name, str_t value, enum http_token token);
/* Draining (§2.1.1.1): the entry sits among the oldest quarter of the capacity, so new field
 * sections should not reference it and it can soon be evicted. */
bool qpack_table_draining(const struct qpack_table *t, uint64_t a);

/* §4.1.1 prefixed integer (RFC 7541 §5.1) starting at in[*pos] with an n-bit prefix (1..8).
 * Returns 1 and advances *pos, 0 when truncated, -1 when above QPACK_INT_LIMIT. */
int qpack_int_decode(const uint8_t *in, size_t len, size_t *pos, unsigned prefix_bits,
                     uint64_t *value);
/* Writes v with an n-bit prefix; first holds the flag bits of the first octet. Returns bytes
 * written (out needs QPACK_INT_MAX). */
size_t qpack_int_encode(uint8_t *out, uint8_t first, unsigned prefix_bits, uint64_t v);

/* A §4.1.2 string literal as found in the input (not decoded yet). */
struct qpack_lit {
    const uint8_t *p;
    size_t len;
    bool huff;
};
/* Parses a string literal whose H bit is bit `prefix_bits` of in[*pos] and length an integer
 * with that prefix. Returns 1, 0 when truncated, -1 when malformed. */
int qpack_lit_parse(const uint8_t *in, size_t len, size_t *pos, unsigned prefix_bits,
                    struct qpack_lit *lit);
/* Decoded length of a literal, or -1 for invalid Huffman. */
long qpack_lit_decoded_len(const struct qpack_lit *lit);
/* Decodes into dst (room for qpack_lit_decoded_len bytes); returns the length or -1. */
long qpack_lit_decode(const struct qpack_lit *lit, char *dst, size_t cap);
/* Appends s as a string literal with an n-bit length prefix; first holds the flag bits above
 * the H bit. Huffman-codes when shorter. lower: lower-case the bytes (names). 0 or -1. */
int qpack_lit_encode(struct buf *out, uint8_t first, unsigned prefix_bits, str_t s, bool lower);
/* Appends an integer with an n-bit prefix. 0 or -1. */
int qpack_int_append(struct buf *out, uint8_t first, unsigned prefix_bits, uint64_t v);

#endif
