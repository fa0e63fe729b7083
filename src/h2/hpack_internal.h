/* HPACK internals shared by the decoder (hpack.c), the encoder (hpack_encode.c) and the tables
 * (hpack_table.c): the static table, the dynamic table and the integer representation. */
#ifndef TERN_H2_HPACK_INTERNAL_H
#define TERN_H2_HPACK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "h2/hpack.h"

/* RFC 7541 §4.1: each entry costs its name and value lengths plus 32. */
#define HPACK_ENTRY_OVERHEAD 32
/* RFC 7541 Appendix A has 61 entries; dynamic indexes start at 62 (§2.3.3). */
#define HPACK_STATIC_COUNT 61
/* The protocol's initial table size (RFC 9113 §6.5.2, SETTINGS_HEADER_TABLE_SIZE). */
#define HPACK_DEFAULT_TABLE_SIZE 4096

struct hpack_static_entry {
    str_t name;
    str_t value;
    enum http_token token; /* HTTP_TOKEN_NONE for the pseudo-headers */
};

/* Entry i (1..61) of RFC 7541 Appendix A; index 0 is unused. */
extern const struct hpack_static_entry hpack_static_table[HPACK_STATIC_COUNT + 1];

/* A dynamic table entry: name and value in one malloc'd block (name first). */
struct hpack_entry {
    char *data;
    uint32_t name_len;
    uint32_t value_len;
    enum http_token token; /* looked up case-insensitively; NONE for pseudo-headers */
    bool name_static;      /* the name equals the token's lower-case name byte for byte */
};

static inline str_t hpack_entry_name(const struct hpack_entry *e)
{
    return (str_t){e->data, e->name_len};
}
static inline str_t hpack_entry_value(const struct hpack_entry *e)
{
    return (str_t){e->data + e->name_len, e->value_len};
}

void hpack_table_init(struct hpack_table *t, size_t max_size);
void hpack_table_free(struct hpack_table *t);
/* Entry for dynamic index i, 1 = newest (RFC 7541 §2.3.3: absolute index i + 61), or NULL. */
const struct hpack_entry *hpack_table_get(const struct hpack_table *t, size_t i);
/* Sets the maximum size and evicts the oldest entries until the table fits (§4.3). */
void hpack_table_set_max(struct hpack_table *t, size_t max_size);
/* Adds name: value as the newest entry after evicting what it needs (§4.4). An entry larger than
 * the maximum empties the table and is not added; *out (if non-NULL) receives the new entry or
 * NULL, so the caller may decode straight into its data (value at name_len). name or value may
 * be NULL (filled in later by the caller, which then sets token and name_static). Returns 0 or -1
 * on OOM. */
int hpack_table_add(struct hpack_table *t, const char *name, size_t name_len, const char *value,
                    size_t value_len, enum http_token token, struct hpack_entry **out);
/* Sets e->token and e->name_static from the entry's name. */
void hpack_entry_set_token(struct hpack_entry *e);

/* RFC 7541 §5.1 integer with an n-bit prefix (1..8) starting at in[*pos]. Values above
 * UINT32_MAX, or encodings with more than 5 continuation octets, are errors. Returns 0 and
 * advances *pos, or -1 (truncated or too large). */
int hpack_int_decode(const uint8_t *in, size_t len, size_t *pos, unsigned prefix_bits,
                     uint64_t *value);
/* Writes v with an n-bit prefix; first holds the representation's flag bits for the first octet.
 * out needs room for HPACK_INT_MAX bytes. Returns bytes written. */
#define HPACK_INT_MAX 10
size_t hpack_int_encode(uint8_t *out, uint8_t first, unsigned prefix_bits, uint64_t v);

#endif
