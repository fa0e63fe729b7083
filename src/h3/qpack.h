/* QPACK (RFC 9204): field compression for HTTP/3, decoder and encoder. I/O-free: the caller
 * feeds the bytes of the peer's unidirectional encoder/decoder streams in, takes the bytes of
 * ours out, and passes complete field sections (HEADERS frame payloads) through. */
#ifndef TERN_H3_QPACK_H
#define TERN_H3_QPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/pool.h"
#include "core/str.h"
#include "http/header.h"

/* HTTP/3 error codes for QPACK failures (RFC 9204 §6); all are connection errors. */
#define QPACK_H3_DECOMPRESSION_FAILED 0x0200
#define QPACK_H3_ENCODER_STREAM_ERROR 0x0201
#define QPACK_H3_DECODER_STREAM_ERROR 0x0202

/* Results. BLOCKED: the section references inserts not received yet (§2.1.2); the caller keeps
 * the section and decodes it again once qpack_decoder_take_unblocked names its stream.
 * TOO_LARGE: the decoded section exceeded max_field_section_size; it was fully checked but fields
 * past the limit were not emitted (the caller answers the stream with 431 or an error; the
 * connection stays usable). The ERR_ values are connection errors: map them with
 * qpack_result_h3_error. ERR_NOMEM: out of memory (the connection should end with
 * H3_INTERNAL_ERROR). */
enum qpack_result {
    QPACK_OK = 0,
    QPACK_BLOCKED = 1,
    QPACK_TOO_LARGE = 2,
    QPACK_ERR_DECOMPRESSION = -1,  /* QPACK_DECOMPRESSION_FAILED */
    QPACK_ERR_ENCODER_STREAM = -2, /* QPACK_ENCODER_STREAM_ERROR */
    QPACK_ERR_DECODER_STREAM = -3, /* QPACK_DECODER_STREAM_ERROR */
    QPACK_ERR_NOMEM = -4,
};

/* The HTTP/3 error code for a negative result (H3_INTERNAL_ERROR 0x0102 for ERR_NOMEM), or 0. */
uint64_t qpack_result_h3_error(enum qpack_result r);

/* Called for each decoded field line; name and value are NUL-terminated and stay valid until
 * the pool is reset (pool copies, or static strings). token is the interned header token
 * (HTTP_TOKEN_NONE for pseudo-headers and unknown names). never_index is the 'N' bit (§4.5.4):
 * an intermediary must not re-encode the field into a dynamic table. Return non-zero to stop
 * emitting (decoding continues, so the tables stay in sync). */
typedef int (*qpack_emit_fn)(void *ctx, str_t name, str_t value, enum http_token token,
                             bool never_index);

struct qpack_table;   /* dynamic table (private, src/h3/qpack_internal.h) */
struct qpack_blocked; /* a blocked stream (private) */
struct qpack_section; /* an unacknowledged field section (private) */

/* ---- decoder: the peer's encoder stream in, field sections decoded, our decoder stream out */

struct qpack_decoder {
    struct qpack_table *table;
    size_t max_table_capacity; /* our SETTINGS_QPACK_MAX_TABLE_CAPACITY */
    size_t max_blocked;        /* our SETTINGS_QPACK_BLOCKED_STREAMS */
    uint64_t acked_inserts;    /* inserts the encoder knows we received (ours to report) */
    struct buf enc_in;         /* a partial encoder-stream instruction */
    struct buf dec_out;        /* decoder-stream bytes waiting to be taken */
    struct qpack_blocked *blocked;
    size_t n_blocked, cap_blocked;
};

/* max_table_capacity and max_blocked_streams are the SETTINGS_QPACK_MAX_TABLE_CAPACITY and
 * SETTINGS_QPACK_BLOCKED_STREAMS we advertise (0 and 0 disable the dynamic table). 0 or -1. */
int qpack_decoder_init(struct qpack_decoder *d, size_t max_table_capacity,
                       size_t max_blocked_streams);
void qpack_decoder_free(struct qpack_decoder *d);
/* Bytes from the peer's encoder stream (after the stream type), in any split: a partial
 * instruction is kept for the next call. QPACK_OK or QPACK_ERR_ENCODER_STREAM / _NOMEM.
 * Afterwards, blocked streams may have become decodable: see qpack_decoder_take_unblocked. */
enum qpack_result qpack_decoder_encoder_stream(struct qpack_decoder *d, const uint8_t *in,
                                               size_t len);
/* Decodes one complete field section received on stream_id, emitting its field lines.
 * max_field_section_size bounds the decoded size as SETTINGS_MAX_FIELD_SECTION_SIZE counts it
 * (name + value + 32 per field, RFC 9114 §4.2.2). Returns OK, TOO_LARGE, BLOCKED (nothing
 * emitted; at most max_blocked_streams streams may be blocked at once, more is
 * ERR_DECOMPRESSION) or an error. A stream has at most one blocked section at a time. */
enum qpack_result qpack_decode_section(struct qpack_decoder *d, uint64_t stream_id,
                                       const uint8_t *in, size_t len, size_t max_field_section_size,
                                       struct pool *pool, qpack_emit_fn emit, void *ctx);
/* Stream ids whose blocked section can now be decoded (removed from the blocked set); writes at
 * most cap ids and returns how many were written. Call again while it returns cap. */
size_t qpack_decoder_take_unblocked(struct qpack_decoder *d, uint64_t *ids, size_t cap);
/* The stream was reset or abandoned before its field sections were all decoded: forgets its
 * blocked section and queues a Stream Cancellation (§4.4.2) when the dynamic table is in use. */
void qpack_decoder_cancel_stream(struct qpack_decoder *d, uint64_t stream_id);
/* Appends the decoder-stream bytes to send (Section Acknowledgment, Stream Cancellation, Insert
 * Count Increment, §4.4) to out. 0, or -1 on OOM. */
int qpack_decoder_take_decoder_stream(struct qpack_decoder *d, struct buf *out);

/* ---- encoder: field lists encoded, our encoder stream out, the peer's decoder stream in */

struct qpack_encoder {
    struct qpack_table *table;
    size_t peer_max_capacity;       /* the peer's SETTINGS_QPACK_MAX_TABLE_CAPACITY */
    size_t peer_max_blocked;        /* the peer's SETTINGS_QPACK_BLOCKED_STREAMS */
    uint64_t known_received;        /* Known Received Count (§2.1.4) */
    struct buf dec_in;              /* a partial decoder-stream instruction */
    struct buf enc_out;             /* encoder-stream bytes waiting to be taken */
    struct qpack_section *sections; /* unacknowledged sections that reference the table */
    size_t n_sections, cap_sections;
};

/* The encoder starts without a dynamic table (the peer's settings are unknown). 0 or -1. */
int qpack_encoder_init(struct qpack_encoder *e);
void qpack_encoder_free(struct qpack_encoder *e);
/* The peer's SETTINGS arrived: its SETTINGS_QPACK_MAX_TABLE_CAPACITY and
 * SETTINGS_QPACK_BLOCKED_STREAMS. Call at most once. The encoder uses a table of
 * min(max_table_capacity, an internal cap) and queues Set Dynamic Table Capacity. 0 or -1. */
int qpack_encoder_set_peer_settings(struct qpack_encoder *e, uint64_t max_table_capacity,
                                    uint64_t blocked_streams);
/* Encodes a field list as one field section for stream_id, appended to out. Names are
 * lower-cased on output; the static table is always used, the dynamic table for fields that
 * repeat (never for values that change every time or sensitive ones, which get the 'N' bit).
 * Inserts go to the encoder stream: send qpack_encoder_take_encoder_stream's bytes no later
 * than the HEADERS frame holding this section. QPACK_OK or QPACK_ERR_NOMEM. */
enum qpack_result qpack_encode_section(struct qpack_encoder *e, uint64_t stream_id,
                                       const struct http_field *fields, size_t count,
                                       struct buf *out);
/* Bytes from the peer's decoder stream (after the stream type), in any split.
 * QPACK_OK or QPACK_ERR_DECODER_STREAM / _NOMEM. */
enum qpack_result qpack_encoder_decoder_stream(struct qpack_encoder *e, const uint8_t *in,
                                               size_t len);
/* Appends the encoder-stream bytes to send (§4.3) to out. 0, or -1 on OOM. */
int qpack_encoder_take_encoder_stream(struct qpack_encoder *e, struct buf *out);

#endif
