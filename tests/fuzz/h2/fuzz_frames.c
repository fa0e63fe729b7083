/* libFuzzer target: the HTTP/2 frame parser (RFC 9113 §4, §6) on a sequence of frames. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "h2/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    struct buf out = {0};
    while (size - off >= H2_FRAME_HEADER_LEN) {
        struct h2_frame_header hd;
        h2_frame_header_parse(data + off, &hd);
        off += H2_FRAME_HEADER_LEN;
        if (hd.length > size - off) hd.length = (uint32_t)(size - off);
        struct h2_frame f;
        struct h2_frame_error err;
        if (h2_frame_parse(&hd, data + off, &f, &err) == 0) {
            if (f.data_len) {
                /* the payload view stays inside the frame */
                if (f.data < data + off || f.data + f.data_len > data + off + hd.length)
                    __builtin_trap();
            }
            for (size_t i = 0; i < f.n_settings; i++) {
                uint16_t id;
                uint32_t v;
                h2_settings_get(&f, i, &id, &v);
                if (h2_setting_check(id, v) != 0) __builtin_trap();
            }
            if (hd.type == H2_HEADERS || hd.type == H2_CONTINUATION)
                h2_write_headers(&out, hd.stream_id ? hd.stream_id : 1, 0, f.data, f.data_len,
                                 hd.flags & 1, 16384);
        } else if (err.code == 0 && err.reason == NULL) {
            __builtin_trap();
        }
        off += hd.length;
        buf_clear(&out);
    }
    buf_free(&out);
    return 0;
}
