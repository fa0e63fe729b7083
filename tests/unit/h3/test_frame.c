/* HTTP/3 frames: headers split at every byte, SETTINGS rules (§7.2.4), id payloads (§7.1),
 * reserved types (§7.2.8), and what each writer puts on the wire. */
#include "check.h"
#include "h3/frame.h"
#include "h3/varint.h"

static uint64_t settings(const char *bytes, size_t len, struct h3_settings *out)
{
    return h3_settings_parse((const uint8_t *)bytes, len, out);
}

int main(void)
{
    struct h3_frame_header hd;
    /* type 0x21 (reserved), length 15293 in two bytes */
    const uint8_t hdr[] = {0x21, 0x7b, 0xbd};
    for (size_t n = 0; n < sizeof(hdr); n++)
        CHECK_INT(h3_frame_header_parse(hdr, n, &hd), 0);
    CHECK_INT(h3_frame_header_parse(hdr, sizeof(hdr), &hd), 3);
    CHECK_INT(hd.type, 0x21);
    CHECK_INT(hd.length, 15293);

    /* §7.2.8: 0x1f * N + 0x21 */
    CHECK(h3_frame_type_is_grease(0x21));
    CHECK(h3_frame_type_is_grease(0x40));
    CHECK(h3_frame_type_is_grease(0x1f * 1000 + 0x21));
    CHECK(!h3_frame_type_is_grease(0x22));
    CHECK(!h3_frame_type_is_grease(0x02));
    CHECK(h3_frame_type_is_h2_only(0x02) && h3_frame_type_is_h2_only(0x06));
    CHECK(h3_frame_type_is_h2_only(0x08) && h3_frame_type_is_h2_only(0x09));
    CHECK(!h3_frame_type_is_h2_only(0x07));
    CHECK(h3_frame_type_is_known(H3_FRAME_MAX_PUSH_ID) && !h3_frame_type_is_known(0x21));

    /* SETTINGS */
    struct h3_settings st;
    CHECK_INT(settings("", 0, &st), 0);
    CHECK(st.max_field_section_size == UINT64_MAX);
    CHECK_INT(settings("\x01\x40\x64\x06\x44\x00\x07\x10", 8, &st), 0);
    CHECK_INT(st.qpack_max_table_capacity, 100);
    CHECK_INT(st.max_field_section_size, 1024);
    CHECK_INT(st.qpack_blocked_streams, 16);
    CHECK_INT(settings("\x21\x05\x08\x01\x33\x01", 6, &st), 0); /* reserved id ignored */
    CHECK_INT(st.enable_connect_protocol, 1);
    CHECK_INT(st.h3_datagram, 1);
    CHECK_INT(settings("\x06\x01\x06\x02", 4, &st), H3_SETTINGS_ERROR);     /* duplicate */
    CHECK_INT(settings("\x21\x01\x21\x01", 4, &st), H3_SETTINGS_ERROR);     /* unknown duplicate */
    CHECK_INT(settings("\x06\x01\x40\x06\x00", 5, &st), H3_SETTINGS_ERROR); /* 6 spelled longer */
    for (char id = 2; id <= 5; id++) {
        char p[2] = {id, 0};
        CHECK_INT(settings(p, 2, &st), H3_SETTINGS_ERROR); /* HTTP/2 settings */
    }
    CHECK_INT(settings("\x08\x02", 2, &st), H3_SETTINGS_ERROR);
    CHECK_INT(settings("\x06", 1, &st), H3_FRAME_ERROR);     /* identifier without value */
    CHECK_INT(settings("\x06\x40", 2, &st), H3_FRAME_ERROR); /* truncated value */
    uint8_t big[H3_SETTINGS_MAX_PAYLOAD + 2] = {0};
    CHECK_INT(h3_settings_parse(big, sizeof(big), &st), H3_EXCESSIVE_LOAD);

    /* single-varint payloads */
    uint64_t id;
    CHECK_INT(h3_frame_parse_id((const uint8_t *)"\x44\x00", 2, &id), 0);
    CHECK_INT(id, 1024);
    CHECK_INT(h3_frame_parse_id((const uint8_t *)"\x04\x00", 2, &id), H3_FRAME_ERROR);
    CHECK_INT(h3_frame_parse_id((const uint8_t *)"\x44", 1, &id), H3_FRAME_ERROR);
    CHECK_INT(h3_frame_parse_id((const uint8_t *)"", 0, &id), H3_FRAME_ERROR);
    const uint8_t *blk;
    size_t blen;
    CHECK_INT(h3_frame_parse_push_promise((const uint8_t *)"\x03\x00\x00\xd1", 4, &id, &blk, &blen),
              0);
    CHECK_INT(id, 3);
    CHECK_INT(blen, 3);
    CHECK_INT(h3_frame_parse_push_promise((const uint8_t *)"", 0, &id, &blk, &blen),
              H3_FRAME_ERROR);

    /* writers */
    struct buf b = {0};
    CHECK_INT(h3_write_data(&b, "hello", 5), 0);
    CHECK_INT(buf_size(&b), 7);
    CHECK(memcmp(buf_ptr(&b), "\x00\x05hello", 7) == 0);
    buf_clear(&b);
    CHECK_INT(h3_write_headers(&b, "\x00\x00\xd1", 3), 0);
    CHECK(buf_size(&b) == 5 && memcmp(buf_ptr(&b), "\x01\x03\x00\x00\xd1", 5) == 0);
    buf_clear(&b);
    struct h3_setting ss[] = {{H3_SETTING_MAX_FIELD_SECTION_SIZE, 16383},
                              {H3_SETTING_QPACK_MAX_TABLE_CAPACITY, 0}};
    CHECK_INT(h3_write_settings(&b, ss, 2), 0);
    CHECK(buf_size(&b) == 7 && memcmp(buf_ptr(&b), "\x04\x05\x06\x7f\xff\x01\x00", 7) == 0);
    CHECK_INT(h3_frame_header_parse((const uint8_t *)buf_ptr(&b), buf_size(&b), &hd), 2);
    CHECK_INT(h3_settings_parse((const uint8_t *)buf_ptr(&b) + 2, 5, &st), 0);
    CHECK_INT(st.max_field_section_size, 16383);
    buf_clear(&b);
    CHECK_INT(h3_write_goaway(&b, 8), 0);
    CHECK(buf_size(&b) == 3 && memcmp(buf_ptr(&b), "\x07\x01\x08", 3) == 0);
    buf_clear(&b);
    CHECK_INT(h3_write_max_push_id(&b, 100), 0);
    CHECK(buf_size(&b) == 4 && memcmp(buf_ptr(&b), "\x0d\x02\x40\x64", 4) == 0);
    buf_clear(&b);
    CHECK_INT(h3_write_cancel_push(&b, 1), 0);
    CHECK(buf_size(&b) == 3 && memcmp(buf_ptr(&b), "\x03\x01\x01", 3) == 0);
    buf_clear(&b);
    CHECK_INT(h3_write_push_promise(&b, 2, "\x00\x00", 2), 0);
    CHECK(buf_size(&b) == 5 && memcmp(buf_ptr(&b), "\x05\x03\x02\x00\x00", 5) == 0);
    CHECK_INT(h3_write_goaway(&b, UINT64_MAX), -1);
    buf_free(&b);

    CHECK(strcmp(h3_error_name(H3_EXCESSIVE_LOAD), "H3_EXCESSIVE_LOAD") == 0);
    CHECK(strcmp(h3_error_name(0x202), "QPACK_DECODER_STREAM_ERROR") == 0);
    CHECK(strcmp(h3_error_name(7), "unknown") == 0);
    return check_done("h3/frame");
}
