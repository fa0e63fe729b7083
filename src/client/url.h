/* URLs for the client (RFC 3986 §3 for http and https, as curl takes them): scheme (http when
 * absent), optional userinfo, host (name, IPv4 or [IPv6]), port, and path with query; the
 * fragment is dropped. Also the reference resolution redirects need (RFC 3986 §5.2). */
#ifndef TERN_CLIENT_URL_H
#define TERN_CLIENT_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct url {
    bool https;
    char host[256];     /* without brackets */
    bool ipv6;          /* host is an IPv6 literal */
    uint16_t port;      /* explicit or the scheme's default */
    char userinfo[256]; /* "user:pass" before '@', or empty */
    char *target;       /* "/path?query" (allocated; "/" when empty) */
};

/* Parses s into u (target allocated). 0, or -1 with a message in err. */
int url_parse(const char *s, struct url *u, char *err, size_t errlen);
void url_free(struct url *u);
/* The Host field value: host, in brackets when IPv6, with ":port" unless it is the default. */
void url_authority(const struct url *u, char *out, size_t outlen);
/* Resolves the reference ref (a Location value) against base into out (RFC 3986 §5.2):
 * absolute URLs, "//authority/path", "/path", "path" relative to base's directory, "?query".
 * 0 or -1 with err. */
int url_resolve(const struct url *base, const char *ref, struct url *out, char *err, size_t errlen);
/* The last path segment of the target (for -O), "" when it ends with '/'. */
const char *url_file_name(const struct url *u, char *out, size_t outlen);

#endif
