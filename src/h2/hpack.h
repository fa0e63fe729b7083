/* HPACK (RFC 7541): header compression for HTTP/2, decoder and encoder, with Huffman coding
 * both ways. I/O-free; strings that must outlive the input are copied into a pool. */
#ifndef TERN_H2_HPACK_H
#define TERN_H2_HPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/pool.h"
#include "core/str.h"
#include "http/header.h"

/* Decoding results. COMPRESSION is a connection error (RFC 9113 §4.3: COMPRESSION_ERROR);
 * TOO_LARGE means the decoded list exceeded max_list_size: the block was still fully decoded
 * (so the dynamic table stays in sync) but fields past the limit were not emitted; the caller
 * answers the stream with 431 or RST_STREAM. */
enum hpack_result { HPACK_OK = 0, HPACK_ERR_COMPRESSION = -1, HPACK_ERR_TOO_LARGE = -2 };

struct hpack_entry; /* dynamic table entry (private) */

struct hpack_table {
    /* ring buffer of entries, private to hpack.c */
    struct hpack_entry *entries;
    size_t n_entries, cap_entries, head;
    size_t size;     /* RFC 7541 §4.1 size (name + value + 32 per entry) */
    size_t max_size; /* current maximum */
    uint64_t added;  /* entries ever added: entry k (1 = newest) is the (added - k + 1)th */
};

#define HPACK_DEC_CACHE_IN 32 /* Huffman literals up to this many bytes are remembered */

struct hpack_decoder {
    struct hpack_table table;
    /* the last short Huffman literal and its decoding: clients send some values (:path) as
     * literals on every request */
    uint8_t huff_in_len, huff_out_len;
    uint8_t huff_in[HPACK_DEC_CACHE_IN];
    char huff_out[HPACK_DEC_CACHE_IN * 8 / 5];
    size_t settings_max;  /* our SETTINGS_HEADER_TABLE_SIZE: size updates above it are errors */
    bool first_field;     /* size updates are only allowed at the start of a block */
    bool update_required; /* our setting shrank below the table size: the next block must
                             start with a dynamic table size update (RFC 7541 §4.2) */
};

/* Called for each decoded field; name and value live in `pool` (or the decoder) until the pool
 * is reset. token is the interned header token (HTTP_TOKEN_NONE for pseudo-headers and
 * unknown names). Return non-zero to stop emitting (decoding continues). */
typedef int (*hpack_emit_fn)(void *ctx, str_t name, str_t value, enum http_token token);

/* max_table_size: the SETTINGS_HEADER_TABLE_SIZE we advertise (default 4096). */
void hpack_decoder_init(struct hpack_decoder *d, size_t max_table_size);
void hpack_decoder_free(struct hpack_decoder *d);
/* Our SETTINGS_HEADER_TABLE_SIZE changed (acknowledged by the peer). If it fell below the
 * current table size, the peer's next block must begin with a size update (§4.2). */
void hpack_decoder_set_max_table_size(struct hpack_decoder *d, size_t max_table_size);
/* Decodes one complete header block (after CONTINUATION reassembly). max_list_size bounds the
 * decoded size as SETTINGS_MAX_HEADER_LIST_SIZE counts it (name + value + 32 per field).
 * Memory never grows with what the peer references: each emitted string is at most
 * max_list_size bytes in total. Emitted strings are NUL-terminated, never point into `in`, and
 * stay valid until the pool is reset (pool copies, or static strings for static-table entries
 * and token names). Literal names are passed on as received: the caller checks case and
 * characters (RFC 9113 §8.2.1). Out of memory is reported as HPACK_ERR_COMPRESSION. */
enum hpack_result hpack_decode(struct hpack_decoder *d, const uint8_t *in, size_t len,
                               size_t max_list_size, struct pool *pool, hpack_emit_fn emit,
                               void *ctx);

/* Encoder caches: responses repeat the same fields, so the encoder remembers where a token's
 * last indexed value sits in the dynamic table, and the encoded bytes of the last value of the
 * fields sent as literals (date, etag, last-modified, content-length). */
#define HPACK_ENC_SLOTS     8
#define HPACK_ENC_LIT_SLOTS 4
#define HPACK_ENC_LIT_VALUE 40
#define HPACK_ENC_LIT_BYTES (HPACK_ENC_LIT_VALUE + 8)

struct hpack_enc_literal {
    uint8_t value_len; /* 0: empty slot */
    uint8_t enc_len;
    uint16_t token;
    char value[HPACK_ENC_LIT_VALUE];
    uint8_t enc[HPACK_ENC_LIT_BYTES];
};

struct hpack_encoder {
    struct hpack_table table;
    size_t pending_update; /* SIZE_MAX, or a table size update to emit at the next block */
    size_t pending_min;    /* SIZE_MAX, or the smallest size since the last block (§4.2) */
    uint64_t slot_seq[HPACK_ENC_SLOTS]; /* table.added value of a token's entry, 0: none */
    uint16_t slot_token[HPACK_ENC_SLOTS];
    struct hpack_enc_literal lit[HPACK_ENC_LIT_SLOTS];
};

/* The encoder starts with the RFC default table size 4096. */
void hpack_encoder_init(struct hpack_encoder *e);
void hpack_encoder_free(struct hpack_encoder *e);
/* The peer's SETTINGS_HEADER_TABLE_SIZE changed: we shrink (or grow up to min(value, 4096))
 * and signal the update at the start of the next block. */
void hpack_encoder_set_max_table_size(struct hpack_encoder *e, size_t peer_max);
/* Begins a header block (emits a pending dynamic table size update). */
int hpack_encode_begin(struct hpack_encoder *e, struct buf *out);
/* ":status" as the static-table entry when one exists, else a literal. */
int hpack_encode_status(struct hpack_encoder *e, struct buf *out, int status);
/* One field. Names are lower-cased on output. Fields that repeat across responses (server,
 * content-type, cache-control, vary, accept-ranges...) are indexed in the dynamic table;
 * values that change every time (date, content-length, etag, last-modified) and sensitive ones
 * (set-cookie, authorization) are not; never_index uses the never-indexed representation.
 * Huffman-codes strings when that is shorter. Returns 0, or -1 on OOM. */
int hpack_encode_field(struct hpack_encoder *e, struct buf *out, str_t name, str_t value,
                       enum http_token token, bool never_index);

#endif
