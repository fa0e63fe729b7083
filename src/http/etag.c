/* Entity tags: generation from file metadata and the comparisons of RFC 9110 §8.8.3.2. */
#include "http/etag.h"

static size_t put_hex(char *p, uint64_t v)
{
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3) */
static bool is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

size_t http_etag_make_coded(char out[HTTP_ETAG_MAX], int64_t mtime_ns, int64_t size, uint64_t ino,
                            const char *coding)
{
    /* at most 1 + 3 * 16 + 2 = 51 bytes before the coding and the closing quote */
    size_t n = 0;
    out[n++] = '"';
    n += put_hex(out + n, (uint64_t)mtime_ns);
    out[n++] = '-';
    n += put_hex(out + n, (uint64_t)size);
    out[n++] = '-';
    n += put_hex(out + n, ino);
    if (coding && *coding) {
        if (*coding != '-') out[n++] = '-';
        for (; *coding && n < HTTP_ETAG_MAX - 2; coding++)
            if (is_etagc((unsigned char)*coding)) out[n++] = *coding;
    }
    out[n++] = '"';
    out[n] = '\0';
    return n;
}

size_t http_etag_make(char out[HTTP_ETAG_MAX], int64_t mtime_ns, int64_t size, uint64_t ino)
{
    return http_etag_make_coded(out, mtime_ns, size, ino, NULL);
}

/* Parses one entity-tag at the start of s[*pos..]: [ W/ ] DQUOTE *etagc DQUOTE. */
static bool etag_scan(str_t s, size_t *pos, bool *weak, str_t *opaque)
{
    size_t i = *pos;
    *weak = false;
    if (i + 1 < s.len && s.p[i] == 'W' && s.p[i + 1] == '/') {
        *weak = true;
        i += 2;
    }
    if (i >= s.len || s.p[i] != '"') return false;
    size_t start = ++i;
    while (i < s.len && is_etagc((unsigned char)s.p[i]))
        i++;
    if (i >= s.len || s.p[i] != '"') return false;
    *opaque = str_make(s.p + start, i - start);
    *pos = i + 1;
    return true;
}

/* A whole value that is exactly one entity-tag (surrounding OWS allowed). */
static bool etag_parse(str_t s, bool *weak, str_t *opaque)
{
    s = str_trim_ows(s);
    size_t pos = 0;
    return etag_scan(s, &pos, weak, opaque) && pos == s.len;
}

bool http_etag_strong_eq(str_t a, str_t b)
{
    bool wa, wb;
    str_t oa, ob;
    return etag_parse(a, &wa, &oa) && etag_parse(b, &wb, &ob) && !wa && !wb && str_eq(oa, ob);
}

bool http_etag_weak_eq(str_t a, str_t b)
{
    bool wa, wb;
    str_t oa, ob;
    return etag_parse(a, &wa, &oa) && etag_parse(b, &wb, &ob) && str_eq(oa, ob);
}

bool http_etag_list_match(str_t field_value, str_t etag, bool weak, bool *malformed)
{
    *malformed = false;
    str_t v = str_trim_ows(field_value);
    if (v.len == 1 && v.p[0] == '*') return true;

    bool own_weak = false, have_own;
    str_t own = STR_NULL;
    have_own = etag_parse(etag, &own_weak, &own);
    if (own_weak && !weak) have_own = false; /* a weak tag never matches strongly */

    bool matched = false;
    size_t pos = 0;
    /* #entity-tag: elements separated by OWS "," OWS, empty elements allowed (§5.6.1) */
    for (;;) {
        while (pos < v.len && (v.p[pos] == ' ' || v.p[pos] == '\t' || v.p[pos] == ','))
            pos++;
        if (pos >= v.len) break;
        bool w;
        str_t o;
        if (!etag_scan(v, &pos, &w, &o)) {
            *malformed = true;
            return false;
        }
        if (have_own && (weak || !w) && str_eq(o, own)) matched = true;
        while (pos < v.len && (v.p[pos] == ' ' || v.p[pos] == '\t'))
            pos++;
        if (pos < v.len && v.p[pos] != ',') {
            *malformed = true;
            return false;
        }
    }
    return matched;
}
