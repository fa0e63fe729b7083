/* The chunked transfer coding (RFC 9112 §7.1): a byte-at-a-time state machine for the size
 * line, extensions and trailers, and a memmove fast path for chunk data. */
#include "h1/chunked.h"

#include <string.h>

#include "h1/chars.h"

#define CLS(c) (h1_char_class[(unsigned char)(c)])

enum {
    S_SIZE0,       /* first hex digit of chunk-size */
    S_SIZE,        /* more hex digits */
    S_EXT_WS,      /* BWS that must be followed by ';' */
    S_EXT_NAME0,   /* after ';' and BWS: chunk-ext-name */
    S_EXT_NAME,    /* in chunk-ext-name */
    S_EXT_NAME_WS, /* BWS after the name: '=' or ';' */
    S_EXT_VAL0,    /* after '=' and BWS: token or quoted-string */
    S_EXT_VAL,     /* in a token value */
    S_EXT_QS,      /* in a quoted-string */
    S_EXT_QS_ESC,  /* after a backslash in a quoted-string */
    S_EXT_QS_END,  /* after the closing quote */
    S_SIZE_LF,     /* CR seen at the end of the size line */
    S_DATA,
    S_DATA_CR, /* CRLF after chunk data */
    S_DATA_LF,
    S_TRAILER,    /* collecting a trailer field line into d->line */
    S_TRAILER_LF, /* CR seen at the end of a trailer line */
    S_DONE,
    S_ERROR,
};

void h1_chunked_decoder_init(struct h1_chunked_decoder *d)
{
    memset(d, 0, sizeof(*d));
    d->state = S_SIZE0;
    d->max_line = 4096;
    d->max_trailer = 8192;
}

size_t h1_chunk_header(char out[20], size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = hex[len & 15];
        len >>= 4;
    } while (len);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\r';
    out[n + 1] = '\n';
    return n + 2;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = (char)(c | 0x20);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* Validates a complete trailer field line (RFC 9112 §5, no obs-fold) and hands it over. */
static bool trailer_line(struct h1_chunked_decoder *d)
{
    const char *s = d->line;
    size_t n = d->line_len, i = 0;
    while (i < n && (CLS(s[i]) & H1_C_TCHAR))
        i++;
    if (i == 0 || i == n || s[i] != ':') return false;
    size_t vs = i + 1;
    for (size_t k = vs; k < n; k++)
        if (!(CLS(s[k]) & H1_C_VALUE)) return false;
    if (d->on_trailer)
        d->on_trailer(d->ctx, str_make(s, i), str_trim_ows(str_make(s + vs, n - vs)));
    return true;
}

/* The size line ended (CRLF or allowed LF). */
static void size_line_done(struct h1_chunked_decoder *d)
{
    d->line_len = 0;
    d->state = d->remaining ? S_DATA : S_TRAILER;
}

/* One byte of the size line; returns false on a syntax error. */
static bool size_line_byte(struct h1_chunked_decoder *d, char c)
{
    int st = d->state;
    if (c == '\r' || c == '\n') {
        if (st != S_SIZE && st != S_EXT_NAME && st != S_EXT_VAL && st != S_EXT_QS_END) return false;
        if (c == '\r')
            d->state = S_SIZE_LF;
        else if (d->allow_bare_lf)
            size_line_done(d);
        else
            return false;
        return true;
    }
    if (++d->line_len > d->max_line) return false;
    switch (st) {
    case S_SIZE0:
    case S_SIZE: {
        int v = hexval(c);
        if (v >= 0) {
            if (d->remaining >> 59) return false; /* would reach 2^63 */
            d->remaining = d->remaining << 4 | (uint64_t)v;
            d->state = S_SIZE;
            return true;
        }
        if (st == S_SIZE0) return false;
        if (c == ';')
            d->state = S_EXT_NAME0;
        else if (is_ws(c))
            d->state = S_EXT_WS;
        else
            return false;
        return true;
    }
    case S_EXT_WS:
        if (c == ';')
            d->state = S_EXT_NAME0;
        else if (!is_ws(c))
            return false;
        return true;
    case S_EXT_NAME0:
        if (CLS(c) & H1_C_TCHAR)
            d->state = S_EXT_NAME;
        else if (!is_ws(c))
            return false;
        return true;
    case S_EXT_NAME:
    case S_EXT_NAME_WS:
        if (st == S_EXT_NAME && (CLS(c) & H1_C_TCHAR)) return true;
        if (c == '=')
            d->state = S_EXT_VAL0;
        else if (c == ';')
            d->state = S_EXT_NAME0;
        else if (is_ws(c))
            d->state = S_EXT_NAME_WS;
        else
            return false;
        return true;
    case S_EXT_VAL0:
        if (c == '"')
            d->state = S_EXT_QS;
        else if (CLS(c) & H1_C_TCHAR)
            d->state = S_EXT_VAL;
        else if (!is_ws(c))
            return false;
        return true;
    case S_EXT_VAL:
    case S_EXT_QS_END:
        if (st == S_EXT_VAL && (CLS(c) & H1_C_TCHAR)) return true;
        if (c == ';')
            d->state = S_EXT_NAME0;
        else if (is_ws(c))
            d->state = S_EXT_WS;
        else
            return false;
        return true;
    case S_EXT_QS:
        if (c == '"')
            d->state = S_EXT_QS_END;
        else if (c == '\\')
            d->state = S_EXT_QS_ESC;
        else if (!(CLS(c) & H1_C_QDTEXT))
            return false;
        return true;
    case S_EXT_QS_ESC:
        if (!(CLS(c) & H1_C_VALUE)) return false;
        d->state = S_EXT_QS;
        return true;
    default: return false;
    }
}

/* One byte of the trailer section; returns -1 on error, 1 when the section ended. */
static int trailer_byte(struct h1_chunked_decoder *d, char c)
{
    if (d->state == S_TRAILER_LF) {
        if (c != '\n') {
            d->error = "bare CR in trailer";
            return -1;
        }
    } else if (c == '\r') {
        d->state = S_TRAILER_LF;
        return 0;
    } else if (c != '\n') {
        if (d->line_len == sizeof(d->line)) {
            d->error = "trailer line too long";
            return -1;
        }
        if (++d->trailer_size > d->max_trailer) {
            d->error = "trailer section too large";
            return -1;
        }
        d->line[d->line_len++] = c;
        return 0;
    } else if (!d->allow_bare_lf) {
        d->error = "bare LF in trailer";
        return -1;
    }
    /* line end */
    if (d->line_len == 0) return 1;
    d->trailer_size += d->state == S_TRAILER_LF ? 2 : 1;
    if (d->trailer_size > d->max_trailer) {
        d->error = "trailer section too large";
        return -1;
    }
    if (!trailer_line(d)) {
        d->error = "malformed trailer field";
        return -1;
    }
    d->line_len = 0;
    d->state = S_TRAILER;
    return 0;
}

enum h1_chunked_result h1_chunked_decode(struct h1_chunked_decoder *d, const char *in,
                                         size_t in_len, size_t *consumed, char *out,
                                         size_t *out_len)
{
    size_t pos = 0, olen = 0;
    *consumed = 0;
    *out_len = 0;
    if (d->state == S_DONE) return H1_CHUNKED_DONE;
    if (d->state == S_ERROR) return H1_CHUNKED_ERROR;
    while (pos < in_len) {
        char c;
        switch (d->state) {
        case S_DATA: {
            size_t n = in_len - pos;
            if (n > d->remaining) n = (size_t)d->remaining;
            if (out + olen != in + pos) memmove(out + olen, in + pos, n);
            olen += n;
            pos += n;
            d->remaining -= n;
            if (!d->remaining) d->state = S_DATA_CR;
            continue;
        }
        case S_DATA_CR:
            c = in[pos++];
            if (c == '\r') {
                d->state = S_DATA_LF;
            } else if (c == '\n' && d->allow_bare_lf) {
                d->state = S_SIZE0;
            } else {
                d->error = "missing CRLF after chunk data";
                goto error;
            }
            continue;
        case S_DATA_LF:
        case S_SIZE_LF:
            if (in[pos++] != '\n') {
                d->error = "bare CR";
                goto error;
            }
            if (d->state == S_DATA_LF)
                d->state = S_SIZE0;
            else
                size_line_done(d);
            continue;
        case S_TRAILER:
        case S_TRAILER_LF: {
            int rc = trailer_byte(d, in[pos++]);
            if (rc < 0) goto error;
            if (rc > 0) {
                d->state = S_DONE;
                *consumed = pos;
                *out_len = olen;
                return H1_CHUNKED_DONE;
            }
            continue;
        }
        default:
            if (!size_line_byte(d, in[pos++])) {
                d->error = d->line_len > d->max_line ? "chunk size line too long"
                                                     : "malformed chunk size line";
                goto error;
            }
            continue;
        }
    }
    *consumed = pos;
    *out_len = olen;
    return H1_CHUNKED_MORE;
error:
    d->state = S_ERROR;
    *consumed = pos;
    *out_len = olen;
    return H1_CHUNKED_ERROR;
}
