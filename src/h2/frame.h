/* HTTP/2 frames (RFC 9113 §4, §6; PRIORITY_UPDATE from RFC 9218 §7.1): parsing with the
 * per-type validation of §6 (which error, connection or stream scope) and serialization.
 * I/O-free and allocation-free: parsed frames point into the caller's bytes. */
#ifndef TERN_H2_FRAME_H
#define TERN_H2_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define H2_PREFACE          "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN      24
#define H2_FRAME_HEADER_LEN 9
#define H2_DEFAULT_WINDOW   65535
#define H2_MAX_WINDOW       0x7fffffffu
#define H2_MIN_FRAME_SIZE   16384u
#define H2_MAX_FRAME_SIZE   16777215u
#define H2_MAX_STREAM_ID    0x7fffffffu

enum h2_frame_type {
    H2_DATA = 0x0,
    H2_HEADERS = 0x1,
    H2_PRIORITY = 0x2,
    H2_RST_STREAM = 0x3,
    H2_SETTINGS = 0x4,
    H2_PUSH_PROMISE = 0x5,
    H2_PING = 0x6,
    H2_GOAWAY = 0x7,
    H2_WINDOW_UPDATE = 0x8,
    H2_CONTINUATION = 0x9,
    H2_PRIORITY_UPDATE = 0x10, /* RFC 9218 §7.1 */
};

enum h2_flag {
    H2_FLAG_END_STREAM = 0x1,
    H2_FLAG_ACK = 0x1,
    H2_FLAG_END_HEADERS = 0x4,
    H2_FLAG_PADDED = 0x8,
    H2_FLAG_PRIORITY = 0x20,
};

/* RFC 9113 §7. */
enum h2_error {
    H2_NO_ERROR = 0x0,
    H2_PROTOCOL_ERROR = 0x1,
    H2_INTERNAL_ERROR = 0x2,
    H2_FLOW_CONTROL_ERROR = 0x3,
    H2_SETTINGS_TIMEOUT = 0x4,
    H2_STREAM_CLOSED = 0x5,
    H2_FRAME_SIZE_ERROR = 0x6,
    H2_REFUSED_STREAM = 0x7,
    H2_CANCEL = 0x8,
    H2_COMPRESSION_ERROR = 0x9,
    H2_CONNECT_ERROR = 0xa,
    H2_ENHANCE_YOUR_CALM = 0xb,
    H2_INADEQUATE_SECURITY = 0xc,
    H2_HTTP_1_1_REQUIRED = 0xd,
};

/* RFC 9113 §6.5.2 (RFC 8441 §3 for ENABLE_CONNECT_PROTOCOL, RFC 9218 §2.1 for
 * NO_RFC7540_PRIORITIES). */
enum h2_setting_id {
    H2_SETTINGS_HEADER_TABLE_SIZE = 0x1,
    H2_SETTINGS_ENABLE_PUSH = 0x2,
    H2_SETTINGS_MAX_CONCURRENT_STREAMS = 0x3,
    H2_SETTINGS_INITIAL_WINDOW_SIZE = 0x4,
    H2_SETTINGS_MAX_FRAME_SIZE = 0x5,
    H2_SETTINGS_MAX_HEADER_LIST_SIZE = 0x6,
    H2_SETTINGS_ENABLE_CONNECT_PROTOCOL = 0x8, /* RFC 8441 §3 */
    H2_SETTINGS_NO_RFC7540_PRIORITIES = 0x9,
};

struct h2_frame_header {
    uint32_t length; /* payload length (24 bits) */
    uint8_t type;
    uint8_t flags;
    uint32_t stream_id; /* reserved bit cleared */
};

struct h2_frame {
    struct h2_frame_header hd;
    /* DATA: the data without padding; HEADERS/PUSH_PROMISE/CONTINUATION: the field block
     * fragment; GOAWAY: debug data; PRIORITY_UPDATE: the Priority field value; SETTINGS: the
     * raw entries (6 bytes each, see h2_settings_get). */
    const uint8_t *data;
    size_t data_len;
    bool has_priority; /* HEADERS with the PRIORITY flag, or PRIORITY */
    bool exclusive;
    uint32_t dependency;
    uint8_t weight;          /* as sent (0-255: weight - 1) */
    uint32_t error_code;     /* RST_STREAM, GOAWAY */
    uint32_t last_stream_id; /* GOAWAY */
    uint32_t promised_id;    /* PUSH_PROMISE */
    uint32_t increment;      /* WINDOW_UPDATE */
    uint32_t prioritized_id; /* PRIORITY_UPDATE */
    uint8_t opaque[8];       /* PING */
    size_t n_settings;       /* SETTINGS */
};

/* Why a frame was refused: the error code and whether it is a stream error (RST_STREAM on
 * hd.stream_id) or a connection error (GOAWAY). */
struct h2_frame_error {
    uint32_t code;
    bool stream;
    const char *reason;
};

/* Reads a 9-byte frame header (RFC 9113 §4.1). */
void h2_frame_header_parse(const uint8_t *p, struct h2_frame_header *hd);
/* Writes a 9-byte frame header. */
void h2_frame_header_write(uint8_t *p, uint32_t length, uint8_t type, uint8_t flags,
                           uint32_t stream_id);

/* Parses and validates the payload of a frame whose header is hd (payload has hd->length
 * bytes), applying every check of RFC 9113 §6 that needs no connection state. Unknown types
 * parse as-is (the caller ignores them). Returns 0, or -1 with *err filled. */
int h2_frame_parse(const struct h2_frame_header *hd, const uint8_t *payload, struct h2_frame *f,
                   struct h2_frame_error *err);

/* Entry i of a parsed SETTINGS frame. */
void h2_settings_get(const struct h2_frame *f, size_t i, uint16_t *id, uint32_t *value);
/* Checks one setting value (RFC 9113 §6.5.2). 0, or the error code of the connection error. */
uint32_t h2_setting_check(uint16_t id, uint32_t value);

/* Serializers: append whole frames to out. Return 0, or -1 on OOM. */
int h2_write_settings(struct buf *out, const uint16_t *ids, const uint32_t *values, size_t n);
int h2_write_settings_ack(struct buf *out);
int h2_write_ping(struct buf *out, const uint8_t opaque[8], bool ack);
int h2_write_goaway(struct buf *out, uint32_t last_stream_id, uint32_t code, const char *debug);
int h2_write_rst_stream(struct buf *out, uint32_t stream_id, uint32_t code);
int h2_write_window_update(struct buf *out, uint32_t stream_id, uint32_t increment);
/* A DATA frame carrying data (len may be 0). */
int h2_write_data(struct buf *out, uint32_t stream_id, const void *data, size_t len,
                  bool end_stream);
/* A field block as HEADERS (or PUSH_PROMISE when promised_id != 0) plus CONTINUATION frames
 * so no frame exceeds max_frame. */
int h2_write_headers(struct buf *out, uint32_t stream_id, uint32_t promised_id,
                     const uint8_t *block, size_t len, bool end_stream, uint32_t max_frame);
/* PRIORITY_UPDATE (RFC 9218 §7.1); for tests and clients. */
int h2_write_priority_update(struct buf *out, uint32_t prioritized_id, const char *value,
                             size_t len);

/* Name of a frame type or error code, for logs. */
const char *h2_frame_type_name(uint8_t type);
const char *h2_error_name(uint32_t code);

#endif
