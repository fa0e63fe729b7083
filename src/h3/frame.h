/* HTTP/3 frames (RFC 9114 §7): the frame header (type and length, two varints), payload parsers
 * for the frames a server reads, and writers for every frame type. The stream rules (which
 * frame may come where) are the session's; this file knows the wire layout only. */
#ifndef TERN_H3_FRAME_H
#define TERN_H3_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* §7.2 frame types; 0x02, 0x06, 0x08, 0x09 are reserved HTTP/2 types (§7.2.8). */
enum h3_frame_type {
    H3_FRAME_DATA = 0x00,
    H3_FRAME_HEADERS = 0x01,
    H3_FRAME_CANCEL_PUSH = 0x03,
    H3_FRAME_SETTINGS = 0x04,
    H3_FRAME_PUSH_PROMISE = 0x05,
    H3_FRAME_GOAWAY = 0x07,
    H3_FRAME_MAX_PUSH_ID = 0x0d,
    /* RFC 9218 §7.2: on the control stream only */
    H3_FRAME_PRIORITY_UPDATE_REQUEST = 0xf0700,
    H3_FRAME_PRIORITY_UPDATE_PUSH = 0xf0701,
};

/* §6.2 unidirectional stream types. */
enum h3_stream_type {
    H3_STREAM_CONTROL = 0x00,
    H3_STREAM_PUSH = 0x01,
    H3_STREAM_QPACK_ENCODER = 0x02,
    H3_STREAM_QPACK_DECODER = 0x03,
};

/* §8.1 error codes (QPACK's 0x200-0x202 are in h3/qpack.h). */
enum h3_error {
    H3_NO_ERROR = 0x0100,
    H3_GENERAL_PROTOCOL_ERROR = 0x0101,
    H3_INTERNAL_ERROR = 0x0102,
    H3_STREAM_CREATION_ERROR = 0x0103,
    H3_CLOSED_CRITICAL_STREAM = 0x0104,
    H3_FRAME_UNEXPECTED = 0x0105,
    H3_FRAME_ERROR = 0x0106,
    H3_EXCESSIVE_LOAD = 0x0107,
    H3_ID_ERROR = 0x0108,
    H3_SETTINGS_ERROR = 0x0109,
    H3_MISSING_SETTINGS = 0x010a,
    H3_REQUEST_REJECTED = 0x010b,
    H3_REQUEST_CANCELLED = 0x010c,
    H3_REQUEST_INCOMPLETE = 0x010d,
    H3_MESSAGE_ERROR = 0x010e,
    H3_CONNECT_ERROR = 0x010f,
    H3_VERSION_FALLBACK = 0x0110,
};

/* §7.2.4.1 settings (and RFC 9204 §5, RFC 9220 §3, RFC 9297 §2.1.1). */
enum h3_setting_id {
    H3_SETTING_QPACK_MAX_TABLE_CAPACITY = 0x01,
    H3_SETTING_MAX_FIELD_SECTION_SIZE = 0x06,
    H3_SETTING_QPACK_BLOCKED_STREAMS = 0x07,
    H3_SETTING_ENABLE_CONNECT_PROTOCOL = 0x08,
    H3_SETTING_H3_DATAGRAM = 0x33,
};

/* Longest SETTINGS payload accepted; a longer one is H3_EXCESSIVE_LOAD (§10.5). */
#define H3_SETTINGS_MAX_PAYLOAD 1024
/* Longest frame header: two 8-byte varints. */
#define H3_FRAME_HEADER_MAX 16

struct h3_frame_header {
    uint64_t type;
    uint64_t length; /* payload bytes */
};

/* The settings a peer sent; values of settings it did not send are the defaults (0, and
 * UINT64_MAX for max_field_section_size, which is unlimited by default, §4.2.2). */
struct h3_settings {
    uint64_t qpack_max_table_capacity;
    uint64_t max_field_section_size;
    uint64_t qpack_blocked_streams;
    uint64_t enable_connect_protocol;
    uint64_t h3_datagram;
};

struct h3_setting {
    uint64_t id;
    uint64_t value;
};

/* Name of an error code ("H3_FRAME_ERROR"), or "unknown". */
const char *h3_error_name(uint64_t code);
/* Parses a frame header from p[0..len). Returns the bytes it took, or 0 when more are needed. */
size_t h3_frame_header_parse(const uint8_t *p, size_t len, struct h3_frame_header *hd);
/* True for the reserved types 0x1f * N + 0x21 (§7.2.8), which carry no meaning. */
bool h3_frame_type_is_grease(uint64_t type);
/* True for a type this codec knows (DATA ... MAX_PUSH_ID); others are skipped (§9). */
bool h3_frame_type_is_known(uint64_t type);
/* True for the HTTP/2 types with no HTTP/3 meaning (§7.2.8, §11.2.1): receiving one is
 * H3_FRAME_UNEXPECTED. */
bool h3_frame_type_is_h2_only(uint64_t type);

/* Parses a SETTINGS payload (§7.2.4): unknown identifiers are ignored; a duplicate identifier,
 * an HTTP/2-only one (0x02-0x05) or a bad value (0x08, 0x33 above 1) is H3_SETTINGS_ERROR,
 * a truncated pair H3_FRAME_ERROR, a payload over H3_SETTINGS_MAX_PAYLOAD H3_EXCESSIVE_LOAD.
 * Returns 0 or the error code. */
uint64_t h3_settings_parse(const uint8_t *p, size_t len, struct h3_settings *out);
/* Sets the defaults h3_settings_parse starts from. */
void h3_settings_init(struct h3_settings *s);
/* Parses a payload that is exactly one varint (CANCEL_PUSH, GOAWAY, MAX_PUSH_ID, §7.2.3, 7.2.6,
 * 7.2.7). Returns 0 or H3_FRAME_ERROR (missing bytes or bytes after it, §7.1). */
uint64_t h3_frame_parse_id(const uint8_t *p, size_t len, uint64_t *id);
/* Parses a PUSH_PROMISE payload (§7.2.5): the push id, then the encoded field section in
 * *block. Returns 0 or H3_FRAME_ERROR. */
uint64_t h3_frame_parse_push_promise(const uint8_t *p, size_t len, uint64_t *push_id,
                                     const uint8_t **block, size_t *block_len);

/* Writers: each appends one whole frame to out and returns 0, or -1 on OOM. */
int h3_write_frame_header(struct buf *out, uint64_t type, uint64_t length);
int h3_write_data(struct buf *out, const void *data, size_t len);
int h3_write_headers(struct buf *out, const void *block, size_t len);
int h3_write_settings(struct buf *out, const struct h3_setting *s, size_t n);
int h3_write_cancel_push(struct buf *out, uint64_t push_id);
int h3_write_push_promise(struct buf *out, uint64_t push_id, const void *block, size_t len);
int h3_write_goaway(struct buf *out, uint64_t id);
int h3_write_max_push_id(struct buf *out, uint64_t push_id);

#endif
