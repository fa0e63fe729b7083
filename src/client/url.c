#include "client/url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int bad(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -1;
}

/* Octets a target may hold as they are: VCHAR (anything else must be percent-encoded). */
static bool target_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return false;
    return true;
}

int url_parse(const char *s, struct url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    const char *p = s;
    const char *sep = strstr(s, "://");
    if (sep) {
        size_t n = (size_t)(sep - s);
        if (n == 4 && strncasecmp(s, "http", 4) == 0)
            u->https = false;
        else if (n == 5 && strncasecmp(s, "https", 5) == 0)
            u->https = true;
        else
            return bad(err, errlen, "unsupported scheme (http and https are)");
        p = sep + 3;
    }
    size_t alen = strcspn(p, "/?#");
    const char *auth = p, *rest = p + alen;
    const char *at = memchr(auth, '@', alen);
    if (at) {
        size_t n = (size_t)(at - auth);
        if (n >= sizeof(u->userinfo)) return bad(err, errlen, "user name too long");
        memcpy(u->userinfo, auth, n);
        alen -= n + 1;
        auth = at + 1;
    }
    const char *port = NULL;
    size_t hlen;
    if (alen && auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close) return bad(err, errlen, "unterminated IPv6 address");
        hlen = (size_t)(close - auth) - 1;
        if (hlen == 0 || hlen >= sizeof(u->host)) return bad(err, errlen, "bad IPv6 address");
        memcpy(u->host, auth + 1, hlen);
        unsigned char a6[16];
        if (inet_pton(AF_INET6, u->host, a6) != 1) return bad(err, errlen, "bad IPv6 address");
        u->ipv6 = true;
        const char *after = close + 1;
        if (after < auth + alen) {
            if (*after != ':') return bad(err, errlen, "junk after the IPv6 address");
            port = after + 1;
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        hlen = colon ? (size_t)(colon - auth) : alen;
        if (hlen == 0) return bad(err, errlen, "no host in the URL");
        if (hlen >= sizeof(u->host)) return bad(err, errlen, "host name too long");
        for (size_t i = 0; i < hlen; i++) {
            char c = auth[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_'))
                return bad(err, errlen, "bad character in the host name");
        }
        memcpy(u->host, auth, hlen);
        if (colon) port = colon + 1;
    }
    u->port = u->https ? 443 : 80;
    if (port) {
        size_t plen = (size_t)(auth + alen - port);
        if (plen) {
            unsigned long v = 0;
            for (size_t i = 0; i < plen; i++) {
                if (port[i] < '0' || port[i] > '9' || plen > 5)
                    return bad(err, errlen, "bad port number");
                v = v * 10 + (unsigned long)(port[i] - '0');
            }
            if (v == 0 || v > 65535) return bad(err, errlen, "port number out of range");
            u->port = (uint16_t)v;
        }
    }
    size_t tlen = strcspn(rest, "#");
    if (!target_ok(rest, tlen)) return bad(err, errlen, "bad character in the URL path");
    u->target = malloc(tlen + 2);
    if (!u->target) return bad(err, errlen, "out of memory");
    if (tlen == 0 || rest[0] == '?') { /* an empty path is "/" (RFC 9110 §4.2.3) */
        u->target[0] = '/';
        memcpy(u->target + 1, rest, tlen);
        u->target[tlen + 1] = 0;
    } else {
        memcpy(u->target, rest, tlen);
        u->target[tlen] = 0;
    }
    return 0;
}

void url_free(struct url *u)
{
    free(u->target);
    u->target = NULL;
}

void url_authority(const struct url *u, char *out, size_t outlen)
{
    bool dflt = u->port == (u->https ? 443 : 80);
    char port[8] = "";
    if (!dflt) snprintf(port, sizeof(port), ":%u", u->port);
    snprintf(out, outlen, "%s%s%s%s", u->ipv6 ? "[" : "", u->host, u->ipv6 ? "]" : "", port);
}

/* RFC 3986 §5.2.4: removes "." and ".." segments from path[0..len) in place; returns the new
 * length. */
static size_t remove_dots(char *path, size_t len)
{
    char *out = path;
    size_t o = 0, i = 0;
    while (i < len) {
        size_t seg_end = i + 1;
        while (seg_end < len && path[seg_end] != '/')
            seg_end++;
        size_t sl = seg_end - i; /* "/seg" */
        if (sl == 2 && path[i + 1] == '.') {
            if (seg_end == len) out[o++] = '/';
        } else if (sl == 3 && path[i + 1] == '.' && path[i + 2] == '.') {
            while (o > 0 && out[--o] != '/') {
            }
            if (seg_end == len) out[o++] = '/';
        } else {
            memmove(out + o, path + i, sl);
            o += sl;
        }
        i = seg_end;
    }
    return o;
}

int url_resolve(const struct url *base, const char *ref, struct url *out, char *err, size_t errlen)
{
    if (strstr(ref, "://") && strcspn(ref, "/?#") > (size_t)(strstr(ref, "://") - ref))
        return url_parse(ref, out, err, errlen);
    char auth[300];
    url_authority(base, auth, sizeof(auth));
    const char *scheme = base->https ? "https" : "http";
    size_t need = strlen(ref) + strlen(base->target) + sizeof(auth) + 16;
    char *s = malloc(need);
    if (!s) return bad(err, errlen, "out of memory");
    if (ref[0] == '/' && ref[1] == '/') {
        snprintf(s, need, "%s:%s", scheme, ref);
    } else if (ref[0] == '/') {
        snprintf(s, need, "%s://%s%s", scheme, auth, ref);
    } else if (ref[0] == '?' || ref[0] == 0 || ref[0] == '#') {
        size_t plen = strcspn(base->target, "?");
        snprintf(s, need, "%s://%s%.*s%s", scheme, auth, (int)plen, base->target,
                 ref[0] == '#' ? base->target + plen : ref);
    } else {
        size_t plen = strcspn(base->target, "?");
        size_t dir = plen;
        while (dir > 0 && base->target[dir - 1] != '/')
            dir--;
        snprintf(s, need, "%s://%s%.*s%s", scheme, auth, (int)dir, base->target, ref);
    }
    int rc = url_parse(s, out, err, errlen);
    free(s);
    if (rc == 0) {
        size_t plen = strcspn(out->target, "?");
        size_t qlen = strlen(out->target + plen);
        size_t n = remove_dots(out->target, plen);
        memmove(out->target + n, out->target + plen, qlen + 1);
        if (out->target[0] != '/') {
            url_free(out);
            return bad(err, errlen, "bad redirect target");
        }
    }
    return rc;
}

const char *url_file_name(const struct url *u, char *out, size_t outlen)
{
    size_t plen = strcspn(u->target, "?");
    size_t start = plen;
    while (start > 0 && u->target[start - 1] != '/')
        start--;
    snprintf(out, outlen, "%.*s", (int)(plen - start), u->target + start);
    return out;
}
