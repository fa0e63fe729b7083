#include "h3/frame.h"

#include "h3/varint.h"

const char *h3_error_name(uint64_t code)
{
    static const char *const names[] = {
        "H3_NO_ERROR",
        "H3_GENERAL_PROTOCOL_ERROR",
        "H3_INTERNAL_ERROR",
        "H3_STREAM_CREATION_ERROR",
        "H3_CLOSED_CRITICAL_STREAM",
        "H3_FRAME_UNEXPECTED",
        "H3_FRAME_ERROR",
        "H3_EXCESSIVE_LOAD",
        "H3_ID_ERROR",
        "H3_SETTINGS_ERROR",
        "H3_MISSING_SETTINGS",
        "H3_REQUEST_REJECTED",
        "H3_REQUEST_CANCELLED",
        "H3_REQUEST_INCOMPLETE",
        "H3_MESSAGE_ERROR",
        "H3_CONNECT_ERROR",
        "H3_VERSION_FALLBACK",
    };
    if (code >= H3_NO_ERROR && code <= H3_VERSION_FALLBACK) return names[code - H3_NO_ERROR];
    switch (code) {
    case 0x200: return "QPACK_DECOMPRESSION_FAILED";
    case 0x201: return "QPACK_ENCODER_STREAM_ERROR";
    case 0x202: return "QPACK_DECODER_STREAM_ERROR";
    default: return "unknown";
    }
}

size_t h3_frame_header_parse(const uint8_t *p, size_t len, struct h3_frame_header *hd)
{
    size_t a = h3_varint_decode(p, len, &hd->type);
    if (a == 0) return 0;
    size_t b = h3_varint_decode(p + a, len - a, &hd->length);
    return b ? a + b : 0;
}

bool h3_frame_type_is_grease(uint64_t type)
{
    return type >= 0x21 && (type - 0x21) % 0x1f == 0;
}

bool h3_frame_type_is_known(uint64_t type)
{
    switch (type) {
    case H3_FRAME_DATA:
    case H3_FRAME_HEADERS:
    case H3_FRAME_CANCEL_PUSH:
    case H3_FRAME_SETTINGS:
    case H3_FRAME_PUSH_PROMISE:
    case H3_FRAME_GOAWAY:
    case H3_FRAME_MAX_PUSH_ID:
    case H3_FRAME_PRIORITY_UPDATE_REQUEST:
    case H3_FRAME_PRIORITY_UPDATE_PUSH: return true;
    default: return false;
    }
}

bool h3_frame_type_is_h2_only(uint64_t type)
{
    return type == 0x02 || type == 0x06 || type == 0x08 || type == 0x09;
}

void h3_settings_init(struct h3_settings *s)
{
    *s = (struct h3_settings){.max_field_section_size = UINT64_MAX};
}

uint64_t h3_settings_parse(const uint8_t *p, size_t len, struct h3_settings *out)
{
    h3_settings_init(out);
    if (len > H3_SETTINGS_MAX_PAYLOAD) return H3_EXCESSIVE_LOAD;
    size_t off = 0;
    while (off < len) {
        uint64_t id, v;
        size_t a = h3_varint_decode(p + off, len - off, &id);
        size_t b = a ? h3_varint_decode(p + off + a, len - off - a, &v) : 0;
        if (b == 0) return H3_FRAME_ERROR;
        /* §7.2.4.1: the same identifier MUST NOT occur more than once; the payload is small,
         * so the earlier pairs are scanned again */
        for (size_t q = 0; q < off;) {
            uint64_t id2, v2;
            q += h3_varint_decode(p + q, len - q, &id2);
            q += h3_varint_decode(p + q, len - q, &v2);
            if (id2 == id) return H3_SETTINGS_ERROR;
        }
        off += a + b;
        switch (id) {
        case 0x02:
        case 0x03:
        case 0x04:
        case 0x05: return H3_SETTINGS_ERROR; /* §7.2.4.1: HTTP/2 settings with no HTTP/3 meaning */
        case H3_SETTING_QPACK_MAX_TABLE_CAPACITY: out->qpack_max_table_capacity = v; break;
        case H3_SETTING_MAX_FIELD_SECTION_SIZE: out->max_field_section_size = v; break;
        case H3_SETTING_QPACK_BLOCKED_STREAMS: out->qpack_blocked_streams = v; break;
        case H3_SETTING_ENABLE_CONNECT_PROTOCOL:
            if (v > 1) return H3_SETTINGS_ERROR; /* RFC 9220 §3 */
            out->enable_connect_protocol = v;
            break;
        case H3_SETTING_H3_DATAGRAM:
            if (v > 1) return H3_SETTINGS_ERROR; /* RFC 9297 §2.1.1 */
            out->h3_datagram = v;
            break;
        default: break; /* §7.2.4: unknown identifiers are ignored */
        }
    }
    return 0;
}

uint64_t h3_frame_parse_id(const uint8_t *p, size_t len, uint64_t *id)
{
    size_t n = h3_varint_decode(p, len, id);
    return n && n == len ? 0 : H3_FRAME_ERROR;
}

uint64_t h3_frame_parse_push_promise(const uint8_t *p, size_t len, uint64_t *push_id,
                                     const uint8_t **block, size_t *block_len)
{
    size_t n = h3_varint_decode(p, len, push_id);
    if (n == 0) return H3_FRAME_ERROR;
    *block = p + n;
    *block_len = len - n;
    return 0;
}

int h3_write_frame_header(struct buf *out, uint64_t type, uint64_t length)
{
    return h3_varint_append(out, type) < 0 || h3_varint_append(out, length) < 0 ? -1 : 0;
}

static int write_payload_frame(struct buf *out, uint64_t type, const void *p, size_t len)
{
    if (h3_write_frame_header(out, type, len) < 0) return -1;
    return len ? buf_append(out, p, len) : 0;
}

int h3_write_data(struct buf *out, const void *data, size_t len)
{
    return write_payload_frame(out, H3_FRAME_DATA, data, len);
}

int h3_write_headers(struct buf *out, const void *block, size_t len)
{
    return write_payload_frame(out, H3_FRAME_HEADERS, block, len);
}

int h3_write_settings(struct buf *out, const struct h3_setting *s, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += h3_varint_len(s[i].id) + h3_varint_len(s[i].value);
    if (h3_write_frame_header(out, H3_FRAME_SETTINGS, len) < 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (h3_varint_append(out, s[i].id) < 0 || h3_varint_append(out, s[i].value) < 0) return -1;
    return 0;
}

static int write_id_frame(struct buf *out, uint64_t type, uint64_t id)
{
    if (h3_varint_len(id) == 0) return -1;
    if (h3_write_frame_header(out, type, h3_varint_len(id)) < 0) return -1;
    return h3_varint_append(out, id);
}

int h3_write_cancel_push(struct buf *out, uint64_t push_id)
{
    return write_id_frame(out, H3_FRAME_CANCEL_PUSH, push_id);
}

int h3_write_goaway(struct buf *out, uint64_t id)
{
    return write_id_frame(out, H3_FRAME_GOAWAY, id);
}

int h3_write_max_push_id(struct buf *out, uint64_t push_id)
{
    return write_id_frame(out, H3_FRAME_MAX_PUSH_ID, push_id);
}

int h3_write_push_promise(struct buf *out, uint64_t push_id, const void *block, size_t len)
{
    size_t idlen = h3_varint_len(push_id);
    if (idlen == 0 || h3_write_frame_header(out, H3_FRAME_PUSH_PROMISE, idlen + len) < 0 ||
        h3_varint_append(out, push_id) < 0)
        return -1;
    return len ? buf_append(out, block, len) : 0;
}
