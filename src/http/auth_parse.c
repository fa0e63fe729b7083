/* Authorization credentials and base64, see auth_parse.h. */
#include "http/auth_parse.h"

#include <stdint.h>
#include <string.h>

#include "http/header.h"

/* RFC 9110 §11.2: token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool token68_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

static size_t skip_ows(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return i;
}

static size_t skip_token(const char *p, size_t i, size_t n)
{
    while (i < n && http_is_tchar((unsigned char)p[i]))
        i++;
    return i;
}

/* When p[i..n) is a token68 and nothing but OWS after it, its length; else 0. */
static size_t token68_len(const char *p, size_t i, size_t n)
{
    size_t j = i;
    while (j < n && token68_char((unsigned char)p[j]))
        j++;
    if (j == i) return 0;
    while (j < n && p[j] == '=')
        j++;
    size_t end = j;
    return skip_ows(p, j, n) == n ? end - i : 0;
}

/* RFC 9110 §5.6.4: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, from p[i] == '"'.
 * Writes the unescaped text at *o in scratch; returns the index after the closing quote, or 0. */
static size_t quoted_string(const char *p, size_t i, size_t n, char *scratch, size_t *o)
{
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"') return i + 1;
        if (c == '\\') {
            if (++i >= n) return 0;
            c = (unsigned char)p[i];
            /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
            if (c != '\t' && (c < 0x20 || c == 0x7f)) return 0;
        } else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
            return 0; /* qdtext: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
        }
        scratch[(*o)++] = (char)c;
    }
    return 0;
}

/* #auth-param from p[i]: elements separated by commas, empty ones allowed (RFC 9110 §5.6.1). */
static int parse_params(const char *p, size_t i, size_t n, char *scratch,
                        struct auth_credentials *c)
{
    size_t o = 0;
    for (;;) {
        i = skip_ows(p, i, n);
        while (i < n && p[i] == ',')
            i = skip_ows(p, i + 1, n);
        if (i >= n) return 0;
        size_t ns = i;
        i = skip_token(p, i, n);
        if (i == ns) return -1;
        str_t name = str_make(p + ns, i - ns);
        i = skip_ows(p, i, n); /* BWS "=" BWS */
        if (i >= n || p[i] != '=') return -1;
        i = skip_ows(p, i + 1, n);
        str_t value;
        if (i < n && p[i] == '"') {
            size_t start = o;
            if (!(i = quoted_string(p, i, n, scratch, &o))) return -1;
            value = str_make(scratch + start, o - start);
        } else {
            size_t vs = i;
            i = skip_token(p, i, n);
            if (i == vs) return -1;
            value = str_make(p + vs, i - vs);
        }
        for (size_t k = 0; k < c->n_params; k++)
            if (str_eq_nocase(c->params[k].name, name)) return -1; /* §11.2: only once */
        if (c->n_params == AUTH_MAX_PARAMS) return -1;
        c->params[c->n_params++] = (struct auth_param){name, value};
        i = skip_ows(p, i, n);
        if (i < n && p[i] != ',') return -1;
    }
}

int auth_credentials_parse(str_t value, char *scratch, size_t scratch_len,
                           struct auth_credentials *c)
{
    memset(c, 0, sizeof(*c));
    const char *p = value.p;
    size_t n = value.len;
    if (n > AUTH_MAX_VALUE || scratch_len < n) return -1;
    size_t i = skip_ows(p, 0, n);
    size_t s = i;
    i = skip_token(p, i, n);
    if (i == s) return -1;
    c->scheme = str_make(p + s, i - s);
    if (skip_ows(p, i, n) == n) return 0;
    if (p[i] != ' ') return -1; /* credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ] */
    while (i < n && p[i] == ' ')
        i++;
    size_t t = token68_len(p, i, n);
    if (t) {
        c->token68 = str_make(p + i, t);
        return 0;
    }
    return parse_params(p, i, n, scratch, c);
}

const str_t *auth_param_get(const struct auth_credentials *c, const char *name)
{
    str_t want = str_cstr(name);
    for (size_t i = 0; i < c->n_params; i++)
        if (str_eq_nocase(c->params[i].name, want)) return &c->params[i].value;
    return NULL;
}

/* RFC 4648 §4: the value of a base64 digit, or -1. */
static int b64_value(unsigned char c)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? memchr(digits, c, 64) : NULL;
    return p ? (int)(p - digits) : -1;
}

long auth_base64_decode(str_t in, char *out, size_t outlen)
{
    if (in.len % 4) return -1;
    size_t pad = 0;
    while (pad < 2 && pad < in.len && in.p[in.len - 1 - pad] == '=')
        pad++;
    size_t need = in.len / 4 * 3 - pad, o = 0;
    if (need > outlen) return -1;
    uint32_t acc = 0;
    for (size_t i = 0; i < in.len - pad; i++) {
        int v = b64_value((unsigned char)in.p[i]);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            out[o++] = (char)(acc >> 16);
            out[o++] = (char)(acc >> 8);
            out[o++] = (char)acc;
            acc = 0;
        }
    }
    /* RFC 4648 §3.5: the bits the padding leaves over must be zero */
    if (pad == 1) {
        if (acc & 0x3) return -1;
        out[o++] = (char)(acc >> 10);
        out[o++] = (char)(acc >> 2);
    } else if (pad == 2) {
        if (acc & 0xf) return -1;
        out[o++] = (char)(acc >> 4);
    }
    return (long)o;
}
