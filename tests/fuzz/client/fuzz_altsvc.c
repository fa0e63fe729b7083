/* libFuzzer target: Alt-Svc field values (RFC 7838 §3) parsed and applied to a cache; every
 * alternative taken must have a port and a NUL-terminated protocol and host, and the cache
 * stays within its bound, else abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/altsvc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct altsvc_cache cache;
    struct altsvc_alt alts[4];
    bool clear;
    str_t v = str_make((const char *)data, size);
    int n = altsvc_parse(v, alts, 4, &clear);
    if (n > 4 || (clear && n != 0)) abort();
    for (int i = 0; i < n; i++)
        if (!alts[i].port || !memchr(alts[i].alpn, 0, sizeof(alts[i].alpn)) ||
            !memchr(alts[i].host, 0, sizeof(alts[i].host)) || !alts[i].alpn[0])
            abort();
    altsvc_update(&cache, size & 1 ? "a.test" : "b.test", 443, v, 1000);
    if (cache.n > ALTSVC_MAX_CACHED) abort();
    const struct altsvc_entry *e = altsvc_lookup(&cache, "a.test", 443, "h3", 1000);
    if (e && (!e->port || !e->host[0])) abort();
    return 0;
}
