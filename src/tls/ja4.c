#include "tls/ja4.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VALUES 256 /* ciphers, extensions or signature algorithms kept (more are counted) */

/* RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa */
static bool is_grease(unsigned v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

struct reader {
    const uint8_t *p;
    size_t left;
};

static bool take(struct reader *r, size_t n, const uint8_t **out)
{
    if (r->left < n) return false;
    if (out) *out = r->p;
    r->p += n;
    r->left -= n;
    return true;
}

static bool u8(struct reader *r, unsigned *v)
{
    const uint8_t *p;
    if (!take(r, 1, &p)) return false;
    *v = p[0];
    return true;
}

static bool u16(struct reader *r, unsigned *v)
{
    const uint8_t *p;
    if (!take(r, 2, &p)) return false;
    *v = (unsigned)p[0] << 8 | p[1];
    return true;
}

/* A vector with a length prefix of n bytes (1 or 2), as a reader of its own. */
static bool vec(struct reader *r, int n, struct reader *out)
{
    unsigned len;
    if (!(n == 1 ? u8(r, &len) : u16(r, &len))) return false;
    out->left = len;
    return take(r, len, &out->p);
}

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* "abcd,0001,..." of n values into out (5 bytes each at most); returns the length. */
static size_t hex_list(const uint16_t *v, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(out + o, i ? ",%04x" : "%04x", v[i]);
    return o;
}

void ja4_hash12(const char *s, size_t len, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (len == 0 || !EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL) || mdlen < 6) {
        memcpy(out, "000000000000", 13);
        return;
    }
    for (int i = 0; i < 6; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static char alnum_or_0(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ? (char)c : 0;
}

/* The first ALPN value's first and last characters; their hex digits when either is not
 * alphanumeric (the first digit of the first byte, the last of the last). */
static void alpn_chars(const uint8_t *v, size_t n, char out[2])
{
    static const char hex[] = "0123456789abcdef";
    if (n == 0) {
        out[0] = out[1] = '0';
        return;
    }
    char a = alnum_or_0(v[0]), b = alnum_or_0(v[n - 1]);
    if (a && b) {
        out[0] = a, out[1] = b;
    } else {
        out[0] = hex[v[0] >> 4];
        out[1] = hex[v[n - 1] & 15];
    }
}

static const char *version_text(unsigned v)
{
    switch (v) {
    case 0x0304: return "13";
    case 0x0303: return "12";
    case 0x0302: return "11";
    case 0x0301: return "10";
    case 0x0300: return "s3";
    case 0x0002: return "s2";
    case 0xfeff: return "d1";
    case 0xfefd: return "d2";
    case 0xfefc: return "d3";
    default: return "00";
    }
}

size_t ja4_from_client_hello(char transport, const uint8_t *msg, size_t len, char *out)
{
    out[0] = '\0';
    struct reader r = {msg, len};
    unsigned type;
    const uint8_t *hdr;
    if (!u8(&r, &type) || type != 1 || !take(&r, 3, &hdr)) return 0;
    size_t blen = (size_t)hdr[0] << 16 | (size_t)hdr[1] << 8 | hdr[2];
    if (blen > r.left) return 0;
    return ja4_from_client_hello_body(transport, r.p, blen, out);
}

size_t ja4_from_client_hello_body(char transport, const uint8_t *p, size_t len, char *out)
{
    out[0] = '\0';
    struct reader body = {p, len}, x;
    unsigned legacy;
    if (!u16(&body, &legacy) || !take(&body, 32, NULL) || !vec(&body, 1, &x)) return 0;

    static _Thread_local uint16_t ciphers[MAX_VALUES], exts[MAX_VALUES], sigs[MAX_VALUES];
    size_t n_ciphers = 0, n_exts = 0, n_sigs = 0, kept_exts = 0;
    struct reader cs;
    if (!vec(&body, 2, &cs) || cs.left % 2) return 0;
    for (unsigned v; u16(&cs, &v);)
        if (!is_grease(v) && n_ciphers < MAX_VALUES) ciphers[n_ciphers++] = (uint16_t)v;
    if (!vec(&body, 1, &x)) return 0; /* compression methods */

    bool sni = false;
    unsigned version = legacy;
    char alpn[2] = {'0', '0'};
    struct reader all = {NULL, 0}; /* the extensions, when there are any */
    if (body.left && !vec(&body, 2, &all)) return 0;
    for (unsigned et; all.left;) {
        struct reader ext;
        if (!u16(&all, &et) || !vec(&all, 2, &ext)) return 0;
        if (is_grease(et)) continue;
        n_exts++;
        if (et == 0x0000) {
            sni = true;
        } else if (et == 0x0010) { /* ALPN: the first protocol name */
            struct reader list, name;
            if (vec(&ext, 2, &list) && vec(&list, 1, &name)) alpn_chars(name.p, name.left, alpn);
        } else {
            if (kept_exts < MAX_VALUES) exts[kept_exts++] = (uint16_t)et;
            if (et == 0x002b) { /* supported_versions: the highest, GREASE aside */
                struct reader list;
                unsigned best = 0;
                if (vec(&ext, 1, &list))
                    for (unsigned v; u16(&list, &v);)
                        if (!is_grease(v) && v > best) best = v;
                if (best) version = best;
            } else if (et == 0x000d && n_sigs == 0) { /* signature_algorithms, as sent */
                struct reader list;
                if (vec(&ext, 2, &list))
                    for (unsigned v; u16(&list, &v);)
                        if (!is_grease(v) && n_sigs < MAX_VALUES) sigs[n_sigs++] = (uint16_t)v;
            }
        }
    }

    qsort(ciphers, n_ciphers, sizeof(ciphers[0]), cmp_u16);
    qsort(exts, kept_exts, sizeof(exts[0]), cmp_u16);
    static _Thread_local char text[MAX_VALUES * 5 * 2 + 2];
    char b[13], c[13];
    ja4_hash12(text, hex_list(ciphers, n_ciphers, text), b);
    size_t t = hex_list(exts, kept_exts, text);
    if (kept_exts && n_sigs) {
        text[t++] = '_';
        t += hex_list(sigs, n_sigs, text + t);
    }
    ja4_hash12(text, kept_exts ? t : 0, c);
    snprintf(out, JA4_LEN + 1, "%c%s%c%02zu%02zu%c%c_%s_%s", transport, version_text(version),
             sni ? 'd' : 'i', n_ciphers > 99 ? (size_t)99 : n_ciphers,
             n_exts > 99 ? (size_t)99 : n_exts, alpn[0], alpn[1], b, c);
    return JA4_LEN;
}
