#include "h2/frame.h"

#include <string.h>

static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void h2_frame_header_parse(const uint8_t *p, struct h2_frame_header *hd)
{
    hd->length = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    hd->type = p[3];
    hd->flags = p[4];
    hd->stream_id = get32(p + 5) & H2_MAX_STREAM_ID; /* §4.1: the reserved bit is ignored */
}

void h2_frame_header_write(uint8_t *p, uint32_t length, uint8_t type, uint8_t flags,
                           uint32_t stream_id)
{
    p[0] = (uint8_t)(length >> 16);
    p[1] = (uint8_t)(length >> 8);
    p[2] = (uint8_t)length;
    p[3] = type;
    p[4] = flags;
    put32(p + 5, stream_id & H2_MAX_STREAM_ID);
}

static int fail(struct h2_frame_error *err, uint32_t code, bool stream, const char *reason)
{
    err->code = code;
    err->stream = stream;
    err->reason = reason;
    return -1;
}

/* Strips the Pad Length octet and the padding (§6.1, §6.2, §6.6). p/len are updated to the
 * unpadded content; `fixed` bytes that follow the pad length are kept in the content. */
static int strip_padding(const struct h2_frame_header *hd, const uint8_t **p, size_t *len,
                         struct h2_frame_error *err)
{
    if (!(hd->flags & H2_FLAG_PADDED)) return 0;
    if (*len < 1) return fail(err, H2_FRAME_SIZE_ERROR, false, "padded frame without pad length");
    size_t pad = (*p)[0];
    if (pad >= *len) /* §6.1: padding as long as the payload or longer */
        return fail(err, H2_PROTOCOL_ERROR, false, "padding longer than the payload");
    *p += 1;
    *len -= 1 + pad;
    return 0;
}

static int parse_priority_fields(const uint8_t *p, struct h2_frame *f)
{
    uint32_t v = get32(p);
    f->has_priority = true;
    f->exclusive = (v >> 31) != 0;
    f->dependency = v & H2_MAX_STREAM_ID;
    f->weight = p[4];
    return 0;
}

int h2_frame_parse(const struct h2_frame_header *hd, const uint8_t *payload, struct h2_frame *f,
                   struct h2_frame_error *err)
{
    memset(f, 0, sizeof(*f));
    f->hd = *hd;
    const uint8_t *p = payload;
    size_t len = hd->length;
    uint32_t sid = hd->stream_id;
    switch (hd->type) {
    case H2_DATA:
        if (sid == 0) return fail(err, H2_PROTOCOL_ERROR, false, "DATA on stream 0");
        if (strip_padding(hd, &p, &len, err) < 0) return -1;
        f->data = p;
        f->data_len = len;
        return 0;
    case H2_HEADERS:
        if (sid == 0) return fail(err, H2_PROTOCOL_ERROR, false, "HEADERS on stream 0");
        if (strip_padding(hd, &p, &len, err) < 0) return -1;
        if (hd->flags & H2_FLAG_PRIORITY) {
            if (len < 5)
                return fail(err, H2_FRAME_SIZE_ERROR, false, "HEADERS too short for priority");
            parse_priority_fields(p, f);
            if (f->dependency == sid) /* §5.3.1 (RFC 7540): a stream cannot depend on itself */
                return fail(err, H2_PROTOCOL_ERROR, true, "stream depends on itself");
            p += 5;
            len -= 5;
        }
        f->data = p;
        f->data_len = len;
        return 0;
    case H2_PRIORITY:
        if (sid == 0) return fail(err, H2_PROTOCOL_ERROR, false, "PRIORITY on stream 0");
        if (len != 5) return fail(err, H2_FRAME_SIZE_ERROR, true, "PRIORITY length is not 5");
        parse_priority_fields(p, f);
        if (f->dependency == sid)
            return fail(err, H2_PROTOCOL_ERROR, true, "stream depends on itself");
        return 0;
    case H2_RST_STREAM:
        if (sid == 0) return fail(err, H2_PROTOCOL_ERROR, false, "RST_STREAM on stream 0");
        if (len != 4) return fail(err, H2_FRAME_SIZE_ERROR, false, "RST_STREAM length is not 4");
        f->error_code = get32(p);
        return 0;
    case H2_SETTINGS:
        if (sid != 0) return fail(err, H2_PROTOCOL_ERROR, false, "SETTINGS on a stream");
        if ((hd->flags & H2_FLAG_ACK) && len != 0)
            return fail(err, H2_FRAME_SIZE_ERROR, false, "SETTINGS ACK with a payload");
        if (len % 6 != 0)
            return fail(err, H2_FRAME_SIZE_ERROR, false, "SETTINGS length not a multiple of 6");
        f->data = p;
        f->data_len = len;
        f->n_settings = len / 6;
        for (size_t i = 0; i < f->n_settings; i++) {
            uint16_t id;
            uint32_t v;
            h2_settings_get(f, i, &id, &v);
            uint32_t code = h2_setting_check(id, v);
            if (code) return fail(err, code, false, "invalid SETTINGS value");
        }
        return 0;
    case H2_PUSH_PROMISE:
        if (sid == 0) return fail(err, H2_PROTOCOL_ERROR, false, "PUSH_PROMISE on stream 0");
        if (strip_padding(hd, &p, &len, err) < 0) return -1;
        if (len < 4) return fail(err, H2_FRAME_SIZE_ERROR, false, "PUSH_PROMISE too short");
        f->promised_id = get32(p) & H2_MAX_STREAM_ID;
        f->data = p + 4;
        f->data_len = len - 4;
        return 0;
    case H2_PING:
        if (sid != 0) return fail(err, H2_PROTOCOL_ERROR, false, "PING on a stream");
        if (len != 8) return fail(err, H2_FRAME_SIZE_ERROR, false, "PING length is not 8");
        memcpy(f->opaque, p, 8);
        return 0;
    case H2_GOAWAY:
        if (sid != 0) return fail(err, H2_PROTOCOL_ERROR, false, "GOAWAY on a stream");
        if (len < 8) return fail(err, H2_FRAME_SIZE_ERROR, false, "GOAWAY too short");
        f->last_stream_id = get32(p) & H2_MAX_STREAM_ID;
        f->error_code = get32(p + 4);
        f->data = p + 8;
        f->data_len = len - 8;
        return 0;
    case H2_WINDOW_UPDATE:
        if (len != 4) return fail(err, H2_FRAME_SIZE_ERROR, false, "WINDOW_UPDATE length is not 4");
        f->increment = get32(p) & H2_MAX_WINDOW;
        if (f->increment == 0) /* §6.9: stream error on a stream, connection error on 0 */
            return fail(err, H2_PROTOCOL_ERROR, sid != 0, "WINDOW_UPDATE with increment 0");
        return 0;
    case H2_CONTINUATION:
        if (sid == 0) return fail(err, H2_PROTOCOL_ERROR, false, "CONTINUATION on stream 0");
        f->data = p;
        f->data_len = len;
        return 0;
    case H2_PRIORITY_UPDATE:
        if (sid != 0) return fail(err, H2_PROTOCOL_ERROR, false, "PRIORITY_UPDATE on a stream");
        if (len < 4) return fail(err, H2_FRAME_SIZE_ERROR, false, "PRIORITY_UPDATE too short");
        f->prioritized_id = get32(p) & H2_MAX_STREAM_ID;
        if (f->prioritized_id == 0)
            return fail(err, H2_PROTOCOL_ERROR, false, "PRIORITY_UPDATE for stream 0");
        f->data = p + 4;
        f->data_len = len - 4;
        return 0;
    default: /* §5.5: unknown types are ignored */
        f->data = p;
        f->data_len = len;
        return 0;
    }
}

void h2_settings_get(const struct h2_frame *f, size_t i, uint16_t *id, uint32_t *value)
{
    const uint8_t *e = f->data + i * 6;
    *id = (uint16_t)(e[0] << 8 | e[1]);
    *value = get32(e + 2);
}

uint32_t h2_setting_check(uint16_t id, uint32_t value)
{
    switch (id) {
    case H2_SETTINGS_ENABLE_PUSH: return value > 1 ? H2_PROTOCOL_ERROR : 0;
    case H2_SETTINGS_INITIAL_WINDOW_SIZE: return value > H2_MAX_WINDOW ? H2_FLOW_CONTROL_ERROR : 0;
    case H2_SETTINGS_MAX_FRAME_SIZE:
        return value < H2_MIN_FRAME_SIZE || value > H2_MAX_FRAME_SIZE ? H2_PROTOCOL_ERROR : 0;
    case H2_SETTINGS_NO_RFC7540_PRIORITIES: return value > 1 ? H2_PROTOCOL_ERROR : 0;
    default: return 0; /* §6.5.2: unknown settings are ignored */
    }
}

/* Reserves a frame of payload length len and writes its header; returns the payload. */
static uint8_t *frame_begin(struct buf *out, uint32_t len, uint8_t type, uint8_t flags,
                            uint32_t sid)
{
    if (buf_reserve(out, H2_FRAME_HEADER_LEN + len) < 0) return NULL;
    uint8_t *p = (uint8_t *)buf_tail(out);
    h2_frame_header_write(p, len, type, flags, sid);
    buf_commit(out, H2_FRAME_HEADER_LEN + len);
    return p + H2_FRAME_HEADER_LEN;
}

int h2_write_settings(struct buf *out, const uint16_t *ids, const uint32_t *values, size_t n)
{
    uint8_t *p = frame_begin(out, (uint32_t)(n * 6), H2_SETTINGS, 0, 0);
    if (!p) return -1;
    for (size_t i = 0; i < n; i++) {
        p[i * 6] = (uint8_t)(ids[i] >> 8);
        p[i * 6 + 1] = (uint8_t)ids[i];
        put32(p + i * 6 + 2, values[i]);
    }
    return 0;
}

int h2_write_settings_ack(struct buf *out)
{
    return frame_begin(out, 0, H2_SETTINGS, H2_FLAG_ACK, 0) ? 0 : -1;
}

int h2_write_ping(struct buf *out, const uint8_t opaque[8], bool ack)
{
    uint8_t *p = frame_begin(out, 8, H2_PING, ack ? H2_FLAG_ACK : 0, 0);
    if (!p) return -1;
    memcpy(p, opaque, 8);
    return 0;
}

int h2_write_goaway(struct buf *out, uint32_t last_stream_id, uint32_t code, const char *debug)
{
    size_t dl = debug ? strlen(debug) : 0;
    uint8_t *p = frame_begin(out, (uint32_t)(8 + dl), H2_GOAWAY, 0, 0);
    if (!p) return -1;
    put32(p, last_stream_id & H2_MAX_STREAM_ID);
    put32(p + 4, code);
    if (dl) memcpy(p + 8, debug, dl);
    return 0;
}

int h2_write_rst_stream(struct buf *out, uint32_t stream_id, uint32_t code)
{
    uint8_t *p = frame_begin(out, 4, H2_RST_STREAM, 0, stream_id);
    if (!p) return -1;
    put32(p, code);
    return 0;
}

int h2_write_window_update(struct buf *out, uint32_t stream_id, uint32_t increment)
{
    uint8_t *p = frame_begin(out, 4, H2_WINDOW_UPDATE, 0, stream_id);
    if (!p) return -1;
    put32(p, increment & H2_MAX_WINDOW);
    return 0;
}

int h2_write_data(struct buf *out, uint32_t stream_id, const void *data, size_t len,
                  bool end_stream)
{
    uint8_t *p =
        frame_begin(out, (uint32_t)len, H2_DATA, end_stream ? H2_FLAG_END_STREAM : 0, stream_id);
    if (!p) return -1;
    if (len) memcpy(p, data, len);
    return 0;
}

int h2_write_headers(struct buf *out, uint32_t stream_id, uint32_t promised_id,
                     const uint8_t *block, size_t len, bool end_stream, uint32_t max_frame)
{
    size_t extra = promised_id ? 4 : 0;
    size_t first = len + extra > max_frame ? max_frame - extra : len;
    uint8_t flags = (end_stream && !promised_id ? H2_FLAG_END_STREAM : 0) |
                    (first == len ? H2_FLAG_END_HEADERS : 0);
    uint8_t *p = frame_begin(out, (uint32_t)(first + extra),
                             promised_id ? H2_PUSH_PROMISE : H2_HEADERS, flags, stream_id);
    if (!p) return -1;
    if (promised_id) put32(p, promised_id);
    memcpy(p + extra, block, first);
    size_t off = first;
    while (off < len) {
        size_t n = len - off > max_frame ? max_frame : len - off;
        p = frame_begin(out, (uint32_t)n, H2_CONTINUATION, off + n == len ? H2_FLAG_END_HEADERS : 0,
                        stream_id);
        if (!p) return -1;
        memcpy(p, block + off, n);
        off += n;
    }
    return 0;
}

int h2_write_priority_update(struct buf *out, uint32_t prioritized_id, const char *value,
                             size_t len)
{
    uint8_t *p = frame_begin(out, (uint32_t)(4 + len), H2_PRIORITY_UPDATE, 0, 0);
    if (!p) return -1;
    put32(p, prioritized_id);
    if (len) memcpy(p + 4, value, len);
    return 0;
}

const char *h2_frame_type_name(uint8_t type)
{
    static const char *const names[] = {"DATA",          "HEADERS",      "PRIORITY", "RST_STREAM",
                                        "SETTINGS",      "PUSH_PROMISE", "PING",     "GOAWAY",
                                        "WINDOW_UPDATE", "CONTINUATION"};
    if (type < sizeof(names) / sizeof(names[0])) return names[type];
    if (type == H2_PRIORITY_UPDATE) return "PRIORITY_UPDATE";
    return "UNKNOWN";
}

const char *h2_error_name(uint32_t code)
{
    static const char *const names[] = {"NO_ERROR",
                                        "PROTOCOL_ERROR",
                                        "INTERNAL_ERROR",
                                        "FLOW_CONTROL_ERROR",
                                        "SETTINGS_TIMEOUT",
                                        "STREAM_CLOSED",
                                        "FRAME_SIZE_ERROR",
                                        "REFUSED_STREAM",
                                        "CANCEL",
                                        "COMPRESSION_ERROR",
                                        "CONNECT_ERROR",
                                        "ENHANCE_YOUR_CALM",
                                        "INADEQUATE_SECURITY",
                                        "HTTP_1_1_REQUIRED"};
    return code < sizeof(names) / sizeof(names[0]) ? names[code] : "UNKNOWN_ERROR";
}
