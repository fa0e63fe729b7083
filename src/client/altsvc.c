#include "client/altsvc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/header.h"

/* ---- parsing (RFC 7838 §3) ---- */

struct cursor {
    const char *p, *end;
};

static void skip_ows(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static bool token(struct cursor *c, str_t *out)
{
    const char *start = c->p;
    while (c->p < c->end && http_is_tchar((unsigned char)*c->p))
        c->p++;
    *out = str_make(start, (size_t)(c->p - start));
    return out->len > 0;
}

/* A quoted-string (RFC 9110 §5.6.4), unescaped into out (NUL-terminated). */
static bool quoted(struct cursor *c, char *out, size_t cap)
{
    if (c->p >= c->end || *c->p != '"') return false;
    c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\') {
            if (++c->p >= c->end) return false;
        }
        unsigned char ch = (unsigned char)*c->p++;
        if (ch < 0x20 && ch != '\t') return false;
        if (n + 1 >= cap) return false;
        out[n++] = (char)ch;
    }
    if (c->p >= c->end) return false;
    c->p++;
    out[n] = 0;
    return true;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* §3: the protocol-id is the ALPN name with '%', '=' and non-tchars percent-encoded. */
static bool decode_alpn(str_t id, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < id.len; i++) {
        int ch = (unsigned char)id.p[i];
        if (ch == '%') {
            if (i + 2 >= id.len) return false;
            int hi = hexval(id.p[i + 1]), lo = hexval(id.p[i + 2]);
            if (hi < 0 || lo < 0) return false;
            ch = hi * 16 + lo;
            i += 2;
        }
        if (ch == 0 || n + 1 >= cap) return false;
        out[n++] = (char)ch;
    }
    out[n] = 0;
    return n > 0;
}

/* "host:port", "[v6]:port" or ":port" (host empty: the origin's). */
static bool split_authority(const char *a, struct altsvc_alt *alt)
{
    const char *colon = strrchr(a, ':');
    if (!colon || !colon[1]) return false;
    long port = 0;
    for (const char *q = colon + 1; *q; q++) {
        if (*q < '0' || *q > '9' || (port = port * 10 + (*q - '0')) > 65535) return false;
    }
    if (port == 0) return false;
    size_t hlen = (size_t)(colon - a);
    if (hlen && a[0] == '[') {
        if (a[hlen - 1] != ']' || hlen < 3) return false;
        a++, hlen -= 2; /* stored without the brackets */
    }
    if (hlen >= sizeof(alt->host)) return false;
    for (size_t i = 0; i < hlen; i++)
        if (a[i] == '/' || a[i] == '@' || a[i] == ' ' || a[i] == '[' || a[i] == ']') return false;
    memcpy(alt->host, a, hlen);
    alt->host[hlen] = 0;
    alt->port = (uint16_t)port;
    return true;
}

int altsvc_parse(str_t value, struct altsvc_alt *out, size_t max, bool *clear)
{
    struct cursor c = {value.p, value.p + value.len};
    *clear = false;
    skip_ows(&c);
    const char *end = c.end;
    while (end > c.p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if ((size_t)(end - c.p) == 5 && memcmp(c.p, "clear", 5) == 0) {
        *clear = true;
        return 0;
    }
    size_t n = 0;
    for (;;) {
        skip_ows(&c);
        if (c.p < c.end && *c.p == ',') { /* empty list elements are allowed (RFC 9110 §5.6.1) */
            c.p++;
            continue;
        }
        if (c.p >= c.end) break;
        struct altsvc_alt alt = {.max_age = ALTSVC_DEFAULT_MA};
        str_t id;
        char authority[300];
        if (!token(&c, &id) || c.p >= c.end || *c.p != '=') return -1;
        c.p++;
        if (!decode_alpn(id, alt.alpn, sizeof(alt.alpn))) return -1;
        if (!quoted(&c, authority, sizeof(authority)) || !split_authority(authority, &alt))
            return -1;
        for (;;) {
            skip_ows(&c);
            if (c.p >= c.end || *c.p != ';') break;
            c.p++;
            skip_ows(&c);
            str_t name, v;
            char qv[64];
            if (!token(&c, &name) || c.p >= c.end || *c.p != '=') return -1;
            c.p++;
            if (c.p < c.end && *c.p == '"') {
                if (!quoted(&c, qv, sizeof(qv))) return -1;
                v = str_cstr(qv);
            } else if (!token(&c, &v)) {
                return -1;
            }
            if (name.len == 2 && !strncasecmp(name.p, "ma", 2)) {
                int64_t ma = 0;
                if (v.len == 0 || v.len > 10) return -1;
                for (size_t i = 0; i < v.len; i++) {
                    if (v.p[i] < '0' || v.p[i] > '9') return -1;
                    ma = ma * 10 + (v.p[i] - '0');
                }
                alt.max_age = ma;
            } /* persist and unknown parameters: ignored (§3.1) */
        }
        skip_ows(&c);
        if (n < max) out[n++] = alt;
        if (c.p >= c.end) break;
        if (*c.p != ',') return -1;
        c.p++;
    }
    return (int)n;
}

/* ---- the cache ---- */

static void origin_key(char *out, size_t cap, const char *host, uint16_t port)
{
    snprintf(out, cap, "%s:%u", host, port);
}

static void remove_at(struct altsvc_cache *c, size_t i)
{
    memmove(&c->e[i], &c->e[i + 1], (c->n - i - 1) * sizeof(c->e[0]));
    c->n--;
    c->dirty = true;
}

static void forget_origin(struct altsvc_cache *c, const char *key, const char *alpn)
{
    for (size_t i = c->n; i-- > 0;)
        if (!strcmp(c->e[i].origin, key) && (!alpn || !strcmp(c->e[i].alpn, alpn))) remove_at(c, i);
}

static void add(struct altsvc_cache *c, const struct altsvc_entry *e)
{
    if (c->n == ALTSVC_MAX_CACHED) remove_at(c, 0); /* the oldest */
    c->e[c->n++] = *e;
    c->dirty = true;
}

void altsvc_update(struct altsvc_cache *c, const char *host, uint16_t port, str_t value,
                   int64_t now)
{
    struct altsvc_alt alts[ALTSVC_MAX_ALTS];
    bool clear;
    int n = altsvc_parse(value, alts, ALTSVC_MAX_ALTS, &clear);
    if (n < 0) return;
    char key[262];
    origin_key(key, sizeof(key), host, port);
    forget_origin(c, key, NULL);
    for (int i = 0; i < n; i++) {
        if (alts[i].max_age == 0) continue;
        struct altsvc_entry e = {.port = alts[i].port, .expires = now + alts[i].max_age};
        snprintf(e.origin, sizeof(e.origin), "%s", key);
        snprintf(e.alpn, sizeof(e.alpn), "%s", alts[i].alpn);
        snprintf(e.host, sizeof(e.host), "%s", alts[i].host[0] ? alts[i].host : host);
        add(c, &e);
    }
}

const struct altsvc_entry *altsvc_lookup(const struct altsvc_cache *c, const char *host,
                                         uint16_t port, const char *alpn, int64_t now)
{
    char key[262];
    origin_key(key, sizeof(key), host, port);
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].origin, key) && !strcmp(c->e[i].alpn, alpn) && c->e[i].expires > now)
            return &c->e[i];
    return NULL;
}

void altsvc_forget(struct altsvc_cache *c, const char *host, uint16_t port, const char *alpn)
{
    char key[262];
    origin_key(key, sizeof(key), host, port);
    forget_origin(c, key, alpn);
}

/* File lines: "origin alpn host port expires", fields without spaces. */
void altsvc_load(struct altsvc_cache *c, const char *path, int64_t now)
{
    memset(c, 0, sizeof(*c));
    FILE *f = fopen(path, "re");
    if (!f) return;
    char line[700];
    while (fgets(line, sizeof(line), f) && c->n < ALTSVC_MAX_CACHED) {
        struct altsvc_entry e;
        unsigned port;
        long long expires;
        if (sscanf(line, "%261s %31s %255s %u %lld", e.origin, e.alpn, e.host, &port, &expires) !=
                5 ||
            port == 0 || port > 65535 || expires <= now)
            continue;
        e.port = (uint16_t)port;
        e.expires = expires;
        c->e[c->n++] = e;
    }
    fclose(f);
}

int altsvc_save(struct altsvc_cache *c, const char *path)
{
    if (!c->dirty) return 0;
    char tmp[4200];
    if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp)) return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    fprintf(f, "# tern alt-svc cache: origin alpn host port expires\n");
    for (size_t i = 0; i < c->n; i++)
        fprintf(f, "%s %s %s %u %lld\n", c->e[i].origin, c->e[i].alpn, c->e[i].host, c->e[i].port,
                (long long)c->e[i].expires);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    c->dirty = false;
    return 0;
}

bool altsvc_default_path(char *out, size_t cap)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[4000];
    if (xdg && *xdg)
        snprintf(dir, sizeof(dir), "%s", xdg);
    else if (home && *home)
        snprintf(dir, sizeof(dir), "%s/.cache", home);
    else
        return false;
    mkdir(dir, 0700);
    size_t n = strlen(dir);
    snprintf(dir + n, sizeof(dir) - n, "/tern");
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) return false;
    return snprintf(out, cap, "%s/alt-svc", dir) < (int)cap;
}
