/* HTTP/2 frame codec: every type round-trips, every §6 validation gives its code and scope. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "h2/frame.h"

static struct h2_frame_error perr;

/* Parses one frame from bytes (header + payload). Returns the parse result. */
static int parse(const uint8_t *p, struct h2_frame *f)
{
    struct h2_frame_header hd;
    h2_frame_header_parse(p, &hd);
    memset(&perr, 0, sizeof(perr));
    return h2_frame_parse(&hd, p + 9, f, &perr);
}

static void mk(uint8_t *p, uint32_t len, uint8_t type, uint8_t flags, uint32_t sid)
{
    h2_frame_header_write(p, len, type, flags, sid);
}

#define EXPECT_ERR(code_, stream_)                                                                 \
    do {                                                                                           \
        CHECK_INT(parse(b, &f), -1);                                                               \
        CHECK_INT(perr.code, code_);                                                               \
        CHECK_INT(perr.stream, stream_);                                                           \
    } while (0)

int main(void)
{
    uint8_t b[128];
    struct h2_frame f;
    struct buf out = {0};

    /* header round trip, reserved bit ignored */
    mk(b, 0x123456, 0xfa, 0x5, 7);
    b[5] |= 0x80;
    struct h2_frame_header hd;
    h2_frame_header_parse(b, &hd);
    CHECK_INT(hd.length, 0x123456);
    CHECK_INT(hd.type, 0xfa);
    CHECK_INT(hd.flags, 5);
    CHECK_INT(hd.stream_id, 7);

    /* DATA */
    CHECK_INT(h2_write_data(&out, 1, "hello", 5, true), 0);
    CHECK_INT(parse((uint8_t *)buf_ptr(&out), &f), 0);
    CHECK_INT(f.hd.flags, H2_FLAG_END_STREAM);
    CHECK_STRN((const char *)f.data, f.data_len, "hello");
    buf_clear(&out);
    mk(b, 5, H2_DATA, 0, 0);
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);
    mk(b, 6, H2_DATA, H2_FLAG_PADDED, 1);
    b[9] = 2;
    memcpy(b + 10, "abc\0\0", 5);
    CHECK_INT(parse(b, &f), 0);
    CHECK_STRN((const char *)f.data, f.data_len, "abc");
    b[9] = 5; /* all padding, no data: allowed */
    CHECK_INT(parse(b, &f), 0);
    CHECK_INT(f.data_len, 0);
    b[9] = 6; /* padding as long as the payload: §6.1 */
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);
    mk(b, 0, H2_DATA, H2_FLAG_PADDED, 1);
    EXPECT_ERR(H2_FRAME_SIZE_ERROR, false);

    /* HEADERS with padding and priority */
    mk(b, 1 + 5 + 3 + 2, H2_HEADERS, H2_FLAG_PADDED | H2_FLAG_PRIORITY | H2_FLAG_END_HEADERS, 3);
    b[9] = 2;
    memcpy(b + 10, "\x80\x00\x00\x01\x0f", 5);
    memcpy(b + 15, "\x82\x84\x86\0\0", 5);
    CHECK_INT(parse(b, &f), 0);
    CHECK(f.has_priority);
    CHECK(f.exclusive);
    CHECK_INT(f.dependency, 1);
    CHECK_INT(f.weight, 15);
    CHECK_INT(f.data_len, 3);
    memcpy(b + 10, "\x00\x00\x00\x03\x0f", 5); /* depends on itself */
    EXPECT_ERR(H2_PROTOCOL_ERROR, true);
    mk(b, 3, H2_HEADERS, H2_FLAG_PRIORITY, 3);
    EXPECT_ERR(H2_FRAME_SIZE_ERROR, false);
    mk(b, 3, H2_HEADERS, 0, 0);
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);
    CHECK_INT(h2_write_headers(&out, 5, 0, (const uint8_t *)"0123456789", 10, true, 16384), 0);
    CHECK_INT(buf_size(&out), 19);
    CHECK_INT(parse((uint8_t *)buf_ptr(&out), &f), 0);
    CHECK_INT(f.hd.flags, H2_FLAG_END_STREAM | H2_FLAG_END_HEADERS);
    buf_clear(&out);
    /* split into CONTINUATION frames */
    CHECK_INT(h2_write_headers(&out, 5, 0, (const uint8_t *)"0123456789", 10, false, 4), 0);
    CHECK_INT(buf_size(&out), 10 + 3 * 9);
    CHECK_INT(parse((uint8_t *)buf_ptr(&out), &f), 0);
    CHECK_INT(f.hd.flags, 0);
    CHECK_INT(parse((uint8_t *)buf_ptr(&out) + 13, &f), 0);
    CHECK_INT(f.hd.type, H2_CONTINUATION);
    CHECK_INT(parse((uint8_t *)buf_ptr(&out) + 26, &f), 0);
    CHECK_INT(f.hd.flags, H2_FLAG_END_HEADERS);
    CHECK_STRN((const char *)f.data, f.data_len, "89");
    buf_clear(&out);

    /* PRIORITY */
    mk(b, 5, H2_PRIORITY, 0, 3);
    memcpy(b + 9, "\x00\x00\x00\x01\x10", 5);
    CHECK_INT(parse(b, &f), 0);
    CHECK_INT(f.dependency, 1);
    mk(b, 4, H2_PRIORITY, 0, 3);
    EXPECT_ERR(H2_FRAME_SIZE_ERROR, true);
    mk(b, 5, H2_PRIORITY, 0, 1);
    EXPECT_ERR(H2_PROTOCOL_ERROR, true);
    mk(b, 5, H2_PRIORITY, 0, 0);
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);

    /* RST_STREAM */
    CHECK_INT(h2_write_rst_stream(&out, 9, H2_CANCEL), 0);
    CHECK_INT(parse((uint8_t *)buf_ptr(&out), &f), 0);
    CHECK_INT(f.error_code, H2_CANCEL);
    CHECK_INT(f.hd.stream_id, 9);
    buf_clear(&out);
    mk(b, 3, H2_RST_STREAM, 0, 1);
    EXPECT_ERR(H2_FRAME_SIZE_ERROR, false);
    mk(b, 4, H2_RST_STREAM, 0, 0);
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);

    /* SETTINGS */
    uint16_t ids[] = {H2_SETTINGS_MAX_CONCURRENT_STREAMS, 0x99, H2_SETTINGS_INITIAL_WINDOW_SIZE};
    uint32_t vals[] = {100, 7, 1 << 20};
    CHECK_INT(h2_write_settings(&out, ids, vals, 3), 0);
    CHECK_INT(parse((uint8_t *)buf_ptr(&out), &f), 0);
    CHECK_INT(f.n_settings, 3);
    uint16_t id;
    uint32_t v;
    h2_settings_get(&f, 2, &id, &v);
    CHECK_INT(id, H2_SETTINGS_INITIAL_WINDOW_SIZE);
    CHECK_INT(v, 1 << 20);
    buf_clear(&out);
    CHECK_INT(h2_write_settings_ack(&out), 0);
    CHECK_INT(parse((uint8_t *)buf_ptr(&out), &f), 0);
    CHECK_INT(f.hd.flags, H2_FLAG_ACK);
    buf_clear(&out);
    mk(b, 6, H2_SETTINGS, H2_FLAG_ACK, 0);
    EXPECT_ERR(H2_FRAME_SIZE_ERROR, false);
    mk(b, 5, H2_SETTINGS, 0, 0);
    EXPECT_ERR(H2_FRAME_SIZE_ERROR, false);
    mk(b, 6, H2_SETTINGS, 0, 1);
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);
    mk(b, 6, H2_SETTINGS, 0, 0);
    memcpy(b + 9, "\x00\x02\x00\x00\x00\x02", 6); /* ENABLE_PUSH 2 */
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);
    memcpy(b + 9, "\x00\x04\x80\x00\x00\x00", 6); /* INITIAL_WINDOW_SIZE 2^31 */
    EXPECT_ERR(H2_FLOW_CONTROL_ERROR, false);
    memcpy(b + 9, "\x00\x05\x00\x00\x3f\xff", 6); /* MAX_FRAME_SIZE 16383 */
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);
    memcpy(b + 9, "\x00\x05\x01\x00\x00\x00", 6); /* MAX_FRAME_SIZE 2^24 */
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);
    memcpy(b + 9, "\x00\x05\x00\xff\xff\xff", 6);
    CHECK_INT(parse(b, &f), 0);
    memcpy(b + 9, "\x12\x34\xff\xff\xff\xff", 6); /* unknown: ignored */
    CHECK_INT(parse(b, &f), 0);

    /* PUSH_PROMISE parses (the session refuses it from a client) */
    mk(b, 5, H2_PUSH_PROMISE, H2_FLAG_END_HEADERS, 1);
    memcpy(b + 9, "\x00\x00\x00\x02\x82", 5);
    CHECK_INT(parse(b, &f), 0);
    CHECK_INT(f.promised_id, 2);
    CHECK_INT(f.data_len, 1);
    mk(b, 3, H2_PUSH_PROMISE, 0, 1);
    EXPECT_ERR(H2_FRAME_SIZE_ERROR, false);

    /* PING */
    CHECK_INT(h2_write_ping(&out, (const uint8_t *)"12345678", true), 0);
    CHECK_INT(parse((uint8_t *)buf_ptr(&out), &f), 0);
    CHECK(memcmp(f.opaque, "12345678", 8) == 0);
    CHECK_INT(f.hd.flags, H2_FLAG_ACK);
    buf_clear(&out);
    mk(b, 7, H2_PING, 0, 0);
    EXPECT_ERR(H2_FRAME_SIZE_ERROR, false);
    mk(b, 8, H2_PING, 0, 1);
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);

    /* GOAWAY */
    CHECK_INT(h2_write_goaway(&out, 7, H2_ENHANCE_YOUR_CALM, "calm"), 0);
    CHECK_INT(parse((uint8_t *)buf_ptr(&out), &f), 0);
    CHECK_INT(f.last_stream_id, 7);
    CHECK_INT(f.error_code, H2_ENHANCE_YOUR_CALM);
    CHECK_STRN((const char *)f.data, f.data_len, "calm");
    buf_clear(&out);
    mk(b, 7, H2_GOAWAY, 0, 0);
    EXPECT_ERR(H2_FRAME_SIZE_ERROR, false);
    mk(b, 8, H2_GOAWAY, 0, 3);
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);

    /* WINDOW_UPDATE */
    CHECK_INT(h2_write_window_update(&out, 0, 1000), 0);
    CHECK_INT(parse((uint8_t *)buf_ptr(&out), &f), 0);
    CHECK_INT(f.increment, 1000);
    buf_clear(&out);
    mk(b, 4, H2_WINDOW_UPDATE, 0, 3);
    memset(b + 9, 0, 4);
    EXPECT_ERR(H2_PROTOCOL_ERROR, true);
    mk(b, 4, H2_WINDOW_UPDATE, 0, 0);
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);
    mk(b, 5, H2_WINDOW_UPDATE, 0, 0);
    EXPECT_ERR(H2_FRAME_SIZE_ERROR, false);

    /* CONTINUATION */
    mk(b, 0, H2_CONTINUATION, 0, 0);
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);

    /* PRIORITY_UPDATE (RFC 9218 §7.1) */
    CHECK_INT(h2_write_priority_update(&out, 5, "u=1, i", 6), 0);
    CHECK_INT(parse((uint8_t *)buf_ptr(&out), &f), 0);
    CHECK_INT(f.prioritized_id, 5);
    CHECK_STRN((const char *)f.data, f.data_len, "u=1, i");
    buf_clear(&out);
    mk(b, 4, H2_PRIORITY_UPDATE, 0, 1);
    EXPECT_ERR(H2_PROTOCOL_ERROR, false);
    mk(b, 3, H2_PRIORITY_UPDATE, 0, 0);
    EXPECT_ERR(H2_FRAME_SIZE_ERROR, false);

    /* unknown type: accepted */
    mk(b, 2, 0x42, 0xff, 9);
    CHECK_INT(parse(b, &f), 0);

    CHECK_STR(h2_error_name(H2_ENHANCE_YOUR_CALM), "ENHANCE_YOUR_CALM");
    CHECK_STR(h2_frame_type_name(H2_WINDOW_UPDATE), "WINDOW_UPDATE");
    buf_free(&out);
    return check_done("h2/frame");
}
