#include "h2/fingerprint.h"

#include <stdio.h>
#include <string.h>

#include "h2/frame.h"

void h2_fingerprint_frame(struct h2_fingerprint *fp, uint8_t type, uint8_t flags, uint32_t stream,
                          const uint8_t *p, size_t len)
{
    if (type == H2_SETTINGS && !(flags & H2_FLAG_ACK) && !fp->have_settings) {
        fp->have_settings = true;
        for (size_t off = 0; off + 6 <= len && fp->n_settings < H2_FP_SETTINGS; off += 6) {
            fp->settings[fp->n_settings].id = (uint16_t)(p[off] << 8 | p[off + 1]);
            fp->settings[fp->n_settings++].value = (uint32_t)p[off + 2] << 24 |
                                                   (uint32_t)p[off + 3] << 16 |
                                                   (uint32_t)p[off + 4] << 8 | p[off + 5];
        }
    } else if (type == H2_WINDOW_UPDATE && stream == 0 && len == 4 && !fp->window_update) {
        fp->window_update =
            ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]) & 0x7fffffff;
    } else if (type == H2_PRIORITY && len == 5 && fp->n_priorities < H2_FP_PRIORITIES) {
        fp->priorities[fp->n_priorities].stream = stream;
        fp->priorities[fp->n_priorities].exclusive = p[0] >> 7;
        fp->priorities[fp->n_priorities].dependency =
            ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]) & 0x7fffffff;
        fp->priorities[fp->n_priorities++].weight = p[4];
    }
}

void h2_fingerprint_field(struct h2_fingerprint *fp, str_t name)
{
    if (!name.len || name.p[0] != ':' || fp->n_pseudo >= sizeof(fp->pseudo)) return;
    static const struct {
        const char *name;
        char letter;
    } known[] = {{":method", 'm'},
                 {":authority", 'a'},
                 {":scheme", 's'},
                 {":path", 'p'},
                 {":protocol", 'r'}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (str_eq(name, str_cstr(known[i].name))) fp->pseudo[fp->n_pseudo++] = known[i].letter;
}

void h2_fingerprint_finish(struct h2_fingerprint *fp)
{
    char *t = fp->text;
    size_t cap = sizeof(fp->text), o = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(t + o, cap - o, __VA_ARGS__);                                            \
        if (n_ > 0) o += (size_t)n_ < cap - o ? (size_t)n_ : cap - o - 1;                          \
    } while (0)
    for (uint8_t i = 0; i < fp->n_settings; i++)
        PUT("%s%u:%u", i ? ";" : "", fp->settings[i].id, fp->settings[i].value);
    if (fp->window_update)
        PUT("|%u|", fp->window_update);
    else
        PUT("|00|");
    for (uint8_t i = 0; i < fp->n_priorities; i++)
        PUT("%s%u:%u:%u:%u", i ? "," : "", fp->priorities[i].stream, fp->priorities[i].exclusive,
            fp->priorities[i].dependency, fp->priorities[i].weight);
    if (!fp->n_priorities) PUT("0");
    PUT("|");
    for (uint8_t i = 0; i < fp->n_pseudo; i++)
        PUT("%s%c", i ? "," : "", fp->pseudo[i]);
#undef PUT
    fp->done = true;
}
