#include "core/json.h"

#include <string.h>

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 §4: no overlongs, no surrogates,
 * nothing past U+10FFFF), or 0 when the bytes there are not one. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return n;
}

int json_append_string(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    if (buf_append(b, "\"", 1) < 0) return -1;
    size_t i = 0;
    while (i < len) {
        /* copy the longest run that needs no escaping in one go */
        size_t run = i;
        while (run < len && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i && buf_append(b, s + i, run - i) < 0) return -1;
        i = run;
        if (i == len) break;
        unsigned char c = p[i];
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
        } else if (c == '\n') {
            esc[1] = 'n';
        } else if (c == '\r') {
            esc[1] = 'r';
        } else if (c == '\t') {
            esc[1] = 't';
        } else if (c < 0x80) { /* other controls and DEL */
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        } else {
            size_t u = utf8_len(p + i, len - i);
            if (u) {
                if (buf_append(b, s + i, u) < 0) return -1;
                i += u;
                continue;
            }
            memcpy(esc + 1, "ufffd", 5);
            n = 6;
        }
        if (buf_append(b, esc, n) < 0) return -1;
        i++;
    }
    return buf_append(b, "\"", 1);
}

int json_append_cstr_or_null(struct buf *b, const char *s)
{
    return s ? json_append_string(b, s, strlen(s)) : buf_append(b, "null", 4);
}
