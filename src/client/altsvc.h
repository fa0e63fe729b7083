/* Alternative services (RFC 7838) for the client: the Alt-Svc field parsed, and a small cache
 * of what https origins advertised (HTTP/3 on a UDP port, mostly), kept in a file between runs
 * so that the next run can go straight to HTTP/3. Entries expire after their ma (max-age). */
#ifndef TERN_CLIENT_ALTSVC_H
#define TERN_CLIENT_ALTSVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

#define ALTSVC_MAX_ALTS   16 /* alternatives taken from one field */
#define ALTSVC_MAX_CACHED 64 /* entries in the cache; the oldest go first */
#define ALTSVC_DEFAULT_MA 86400

struct altsvc_alt {
    char alpn[32];  /* the protocol-id, percent-decoded ("h3") */
    char host[256]; /* empty: the origin's host */
    uint16_t port;
    int64_t max_age; /* seconds */
};

/* Parses an Alt-Svc field value (§3): *clear is set for "clear" (0 returned), else the
 * alternatives found, at most max. -1 when the value is malformed (nothing is taken then). */
int altsvc_parse(str_t value, struct altsvc_alt *out, size_t max, bool *clear);

struct altsvc_entry {
    char origin[262]; /* "host:port" of the https origin */
    char alpn[32];
    char host[256]; /* the alternative's host (never empty: the origin's when it was) */
    uint16_t port;
    int64_t expires; /* Unix seconds */
};

struct altsvc_cache {
    struct altsvc_entry e[ALTSVC_MAX_CACHED];
    size_t n;
    bool dirty; /* changed since loaded */
};

/* Applies an Alt-Svc field received from an https origin at time now (§3.1: it replaces what
 * the origin advertised before; "clear" forgets it). A malformed value changes nothing. */
void altsvc_update(struct altsvc_cache *c, const char *host, uint16_t port, str_t value,
                   int64_t now);
/* The first unexpired alternative of the origin for alpn, or NULL. */
const struct altsvc_entry *altsvc_lookup(const struct altsvc_cache *c, const char *host,
                                         uint16_t port, const char *alpn, int64_t now);
/* Forgets the origin's alternatives for alpn (one that did not work). */
void altsvc_forget(struct altsvc_cache *c, const char *host, uint16_t port, const char *alpn);
/* Reads the cache file (a missing file is an empty cache; bad lines are skipped). */
void altsvc_load(struct altsvc_cache *c, const char *path, int64_t now);
/* Writes it atomically (a temporary file renamed over it), 0600, when it changed. 0 or -1. */
int altsvc_save(struct altsvc_cache *c, const char *path);
/* The default file: $XDG_CACHE_HOME/tern/alt-svc or ~/.cache/tern/alt-svc (directories made
 * as needed); false when there is no home. */
bool altsvc_default_path(char *out, size_t cap);

#endif
