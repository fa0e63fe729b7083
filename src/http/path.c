/* Request path normalization for file mapping: percent-decoding (RFC 3986 §2.1), then
 * dot-segment removal (§5.2.4) on the decoded segments, so no encoding reaches "..". */
#include "http/path.h"

#include <stdbool.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes the raw segment in[0..n) into out (NULL: only validates and measures), keeping its
 * first two decoded bytes in dots[]. Returns the decoded length, -1 on a forbidden byte. */
static long decode_segment(const char *in, size_t n, char *out, char dots[2])
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
            if (c == '/') /* an encoded slash would merge two names into one */
                return -1;
        }
        if (c < 0x20 || c == 0x7f || c == '\\') return -1;
        if (w < 2) dots[w] = (char)c;
        if (out) out[w] = (char)c;
        w++;
    }
    return (long)w;
}

long http_path_normalize(const char *in, size_t len, char *out, size_t cap)
{
    if (len == 0 || in[0] != '/' || cap < 2) return -1;
    /* out[0..w) is "" or "/seg/seg..." without a trailing slash */
    size_t w = 0, i = 1;
    bool trailing = true;
    while (i <= len) {
        size_t start = i;
        while (i < len && in[i] != '/')
            i++;
        size_t n = i - start;
        i++; /* past the slash (or the end) */
        char dots[2];
        long d = decode_segment(in + start, n, NULL, dots);
        if (d < 0) return -1;
        bool dot = d == 1 && dots[0] == '.';
        bool dotdot = d == 2 && dots[0] == '.' && dots[1] == '.';
        trailing = d == 0 || dot || dotdot;
        if (d == 0 || dot) continue;
        if (dotdot) {
            if (w == 0) return -1; /* would climb above the root */
            while (out[w - 1] != '/')
                w--;
            w--;
            continue;
        }
        if (w + 1 + (size_t)d + 1 > cap) /* the segment, its slash and the NUL */
            return -1;
        out[w] = '/';
        decode_segment(in + start, n, out + w + 1, dots);
        w += 1 + (size_t)d;
    }
    if (w == 0 || trailing) {
        if (w + 2 > cap) return -1;
        out[w++] = '/';
    }
    out[w] = '\0';
    return (long)w;
}

long http_path_encode(const char *in, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
        if (keep) {
            if (w + 1 >= cap) return -1;
            out[w++] = (char)c;
        } else {
            if (w + 3 >= cap) return -1;
            out[w++] = '%';
            out[w++] = hex[c >> 4];
            out[w++] = hex[c & 15];
        }
    }
    if (w >= cap) return -1;
    out[w] = '\0';
    return (long)w;
}
