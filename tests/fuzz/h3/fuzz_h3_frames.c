/* HTTP/3 frames: a stream of frame headers and payloads, each known payload parsed, and a
 * re-encoding of what parsed checked to parse the same. */
#include <stdlib.h>
#include <string.h>

#include "h3/frame.h"
#include "h3/varint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    struct buf b = {0};
    while (off < size) {
        struct h3_frame_header hd;
        size_t n = h3_frame_header_parse(data + off, size - off, &hd);
        if (n == 0) break;
        off += n;
        if (hd.length > size - off) break;
        const uint8_t *p = data + off;
        size_t len = (size_t)hd.length;
        off += len;
        uint64_t id;
        if (hd.type == H3_FRAME_SETTINGS) {
            struct h3_settings st;
            if (h3_settings_parse(p, len, &st) == 0) {
                struct h3_setting out[] = {
                    {H3_SETTING_QPACK_MAX_TABLE_CAPACITY, st.qpack_max_table_capacity},
                    {H3_SETTING_QPACK_BLOCKED_STREAMS, st.qpack_blocked_streams}};
                struct h3_settings again;
                buf_clear(&b);
                if (h3_write_settings(&b, out, 2) < 0) abort();
                size_t h = h3_frame_header_parse((const uint8_t *)buf_ptr(&b), buf_size(&b), &hd);
                if (!h || h3_settings_parse((const uint8_t *)buf_ptr(&b) + h, hd.length, &again))
                    abort();
                if (again.qpack_max_table_capacity != st.qpack_max_table_capacity) abort();
            }
        } else if (hd.type == H3_FRAME_GOAWAY || hd.type == H3_FRAME_MAX_PUSH_ID ||
                   hd.type == H3_FRAME_CANCEL_PUSH) {
            if (h3_frame_parse_id(p, len, &id) == 0) {
                buf_clear(&b);
                if (h3_write_goaway(&b, id) < 0) abort();
                uint64_t again;
                if (h3_frame_parse_id((const uint8_t *)buf_ptr(&b) + 2, buf_size(&b) - 2, &again) ||
                    again != id)
                    abort();
            }
        } else if (hd.type == H3_FRAME_PUSH_PROMISE) {
            const uint8_t *blk;
            size_t blen;
            if (h3_frame_parse_push_promise(p, len, &id, &blk, &blen) == 0 && blk + blen != p + len)
                abort();
        } else {
            (void)h3_frame_type_is_grease(hd.type);
        }
    }
    buf_free(&b);
    return 0;
}
