#include "http/digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- challenge parsing: auth-param = token BWS "=" BWS ( token / quoted-string ) ---- */

static bool tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static size_t skip_ows(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return i;
}

/* Reads a token or quoted-string value into out (unescaped); returns the index after it, or
 * 0 on error. */
static size_t read_value(const char *p, size_t i, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    if (i < n && p[i] == '"') {
        for (i++; i < n && p[i] != '"'; i++) {
            if (p[i] == '\\' && i + 1 < n) i++;
            if (o + 1 >= outlen) return 0;
            out[o++] = p[i];
        }
        if (i >= n) return 0;
        i++;
    } else {
        for (; i < n && tchar(p[i]); i++) {
            if (o + 1 >= outlen) return 0;
            out[o++] = p[i];
        }
        if (o == 0) return 0;
    }
    out[o] = 0;
    return i;
}

static bool list_has(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t len = strcspn(p, ", \t");
        if (len == n && strncasecmp(p, item, n) == 0) return true;
        p += len;
    }
    return false;
}

int digest_challenge_parse(str_t value, struct digest_challenge *c)
{
    memset(c, 0, sizeof(*c));
    const char *p = value.p;
    size_t n = value.len, i = 0;
    /* find the Digest scheme (challenges of other schemes may come first) */
    for (;;) {
        i = skip_ows(p, i, n);
        while (i < n && p[i] == ',')
            i = skip_ows(p, i + 1, n);
        if (i + 6 <= n && strncasecmp(p + i, "Digest", 6) == 0 && (i + 6 == n || p[i + 6] == ' ')) {
            i += 6;
            break;
        }
        /* skip this token and its params up to the next comma outside quotes */
        bool q = false;
        for (; i < n && (q || p[i] != ','); i++) {
            if (p[i] == '"' && (i == 0 || p[i - 1] != '\\')) q = !q;
        }
        if (i >= n) return -1;
    }
    char name[32], val[256], qop[256] = "", alg[256] = "MD5";
    bool have_nonce = false;
    for (;;) {
        i = skip_ows(p, i, n);
        while (i < n && p[i] == ',')
            i = skip_ows(p, i + 1, n);
        if (i >= n) break;
        size_t ns = i;
        while (i < n && tchar(p[i]))
            i++;
        if (i == ns || i - ns >= sizeof(name)) return -1;
        memcpy(name, p + ns, i - ns);
        name[i - ns] = 0;
        i = skip_ows(p, i, n);
        if (i >= n || p[i] != '=') break; /* the next challenge's scheme: stop */
        i = skip_ows(p, i + 1, n);
        if (!(i = read_value(p, i, n, val, sizeof(val)))) return -1;
        if (!strcasecmp(name, "realm"))
            snprintf(c->realm, sizeof(c->realm), "%s", val);
        else if (!strcasecmp(name, "nonce"))
            snprintf(c->nonce, sizeof(c->nonce), "%s", val), have_nonce = true;
        else if (!strcasecmp(name, "opaque"))
            snprintf(c->opaque, sizeof(c->opaque), "%s", val);
        else if (!strcasecmp(name, "qop"))
            snprintf(qop, sizeof(qop), "%s", val);
        else if (!strcasecmp(name, "algorithm"))
            snprintf(alg, sizeof(alg), "%s", val);
        else if (!strcasecmp(name, "userhash"))
            c->userhash = !strcasecmp(val, "true");
        else if (!strcasecmp(name, "stale"))
            c->stale = !strcasecmp(val, "true");
    }
    if (!have_nonce) return -1;
    size_t al = strlen(alg);
    if (al > 5 && !strcasecmp(alg + al - 5, "-sess")) {
        c->sess = true;
        alg[al - 5] = 0;
    }
    if (!strcasecmp(alg, "MD5"))
        c->alg = DIGEST_MD5;
    else if (!strcasecmp(alg, "SHA-256"))
        c->alg = DIGEST_SHA256;
    else if (!strcasecmp(alg, "SHA-512-256"))
        c->alg = DIGEST_SHA512_256;
    else
        return -1;
    if (qop[0]) {
        if (!list_has(qop, "auth")) return -1; /* auth-int alone: we do not hash bodies */
        c->qop_auth = true;
    }
    return 0;
}

/* ---- the response (RFC 7616 §3.4.1) ---- */

static const char *alg_name(const struct digest_challenge *c)
{
    static const char *const names[2][3] = {{"MD5", "SHA-256", "SHA-512-256"},
                                            {"MD5-sess", "SHA-256-sess", "SHA-512-256-sess"}};
    return names[c->sess][c->alg];
}

void digest_hash_hex(enum digest_alg alg, const char *data, size_t len, char *out)
{
    const EVP_MD *md = alg == DIGEST_MD5      ? EVP_md5()
                       : alg == DIGEST_SHA256 ? EVP_sha256()
                                              : EVP_sha512_256();
    static const char hex[] = "0123456789abcdef";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(data, len, d, &n, md, NULL);
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = 0;
}

static void hash_hex(enum digest_alg alg, const char *data, char *out)
{
    digest_hash_hex(alg, data, strlen(data), out);
}

int digest_response(enum digest_alg alg, const char *ha1, const char *nonce, const char *nc,
                    const char *cnonce, bool qop_auth, const char *method, const char *uri,
                    char *out)
{
    char buf[12288], ha2[130];
    int n = snprintf(buf, sizeof(buf), "%s:%s", method, uri);
    if (n < 0 || (size_t)n >= sizeof(buf)) return -1;
    hash_hex(alg, buf, ha2);
    if (qop_auth)
        n = snprintf(buf, sizeof(buf), "%s:%s:%s:%s:auth:%s", ha1, nonce, nc, cnonce, ha2);
    else
        n = snprintf(buf, sizeof(buf), "%s:%s:%s", ha1, nonce, ha2);
    if (n < 0 || (size_t)n >= sizeof(buf)) return -1;
    hash_hex(alg, buf, out);
    return 0;
}

/* Appends s as a quoted-string (escaping '"' and '\'). */
static int quoted(char *out, size_t outlen, size_t *o, const char *s)
{
    if (*o + 1 >= outlen) return -1;
    out[(*o)++] = '"';
    for (; *s; s++) {
        if (*o + 3 >= outlen) return -1;
        if (*s == '"' || *s == '\\') out[(*o)++] = '\\';
        out[(*o)++] = *s;
    }
    out[(*o)++] = '"';
    out[*o] = 0;
    return 0;
}

int digest_authorization(const struct digest_challenge *c, const char *user, const char *pass,
                         const char *method, const char *uri, const char *cnonce, unsigned nc,
                         char *out, size_t outlen)
{
    char buf[1024], ha1[130], resp[130], uname[300];
    snprintf(buf, sizeof(buf), "%s:%s:%s", user, c->realm, pass);
    hash_hex(c->alg, buf, ha1);
    if (c->sess) {
        snprintf(buf, sizeof(buf), "%s:%s:%s", ha1, c->nonce, cnonce);
        hash_hex(c->alg, buf, ha1);
    }
    char ncs[9];
    snprintf(ncs, sizeof(ncs), "%08x", nc);
    if (digest_response(c->alg, ha1, c->nonce, ncs, cnonce, c->qop_auth, method, uri, resp) < 0)
        return -1;
    if (c->userhash) { /* §3.4.4: username = H(username ":" realm) */
        snprintf(buf, sizeof(buf), "%s:%s", user, c->realm);
        hash_hex(c->alg, buf, uname);
    } else {
        snprintf(uname, sizeof(uname), "%s", user);
    }
    size_t o = 0;
    int rc = 0;
    o += (size_t)snprintf(out, outlen, "Digest username=");
    rc |= quoted(out, outlen, &o, uname);
    rc |= o + 8 < outlen ? (o += (size_t)snprintf(out + o, outlen - o, ", realm="), 0) : -1;
    rc |= quoted(out, outlen, &o, c->realm);
    rc |= o + 8 < outlen ? (o += (size_t)snprintf(out + o, outlen - o, ", uri="), 0) : -1;
    rc |= quoted(out, outlen, &o, uri);
    if (rc) return -1;
    int m = snprintf(out + o, outlen - o, ", algorithm=%s, nonce=\"%s\"", alg_name(c), c->nonce);
    if (m < 0 || (size_t)m >= outlen - o) return -1;
    o += (size_t)m;
    if (c->qop_auth) {
        m = snprintf(out + o, outlen - o, ", nc=%s, cnonce=\"%s\", qop=auth", ncs, cnonce);
        if (m < 0 || (size_t)m >= outlen - o) return -1;
        o += (size_t)m;
    }
    m = snprintf(out + o, outlen - o, ", response=\"%s\"", resp);
    if (m < 0 || (size_t)m >= outlen - o) return -1;
    o += (size_t)m;
    if (c->opaque[0]) {
        m = snprintf(out + o, outlen - o, ", opaque=\"%s\"", c->opaque);
        if (m < 0 || (size_t)m >= outlen - o) return -1;
        o += (size_t)m;
    }
    if (c->userhash) {
        m = snprintf(out + o, outlen - o, ", userhash=true");
        if (m < 0 || (size_t)m >= outlen - o) return -1;
        o += (size_t)m;
    }
    return (int)o;
}
