/* Fuzzes realip_pick over both headers, with and without recursion: no crash on any field
 * value; a picked address is a real one, formats to text that parses back to it, and, with
 * recursion, is untrusted unless every element was trusted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "http/realip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    struct pool *pool = pool_create(1024);
    if (!pool) return 0;
    struct cidr trusted[2];
    cidr_parse("10.0.0.0/8", 10, &trusted[0]);
    cidr_parse("2001:db8::/32", 13, &trusted[1]);
    struct realip_rules r = {.trusted = trusted,
                             .n_trusted = 2,
                             .header = (data[0] & 1) ? REALIP_FORWARDED : REALIP_X_FORWARDED_FOR,
                             .recursive = (data[0] & 2) != 0};
    struct http_fields f = {0};
    /* the rest split at NUL bytes into field lines */
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    str_t name = r.header == REALIP_FORWARDED ? STR_LIT("Forwarded") : STR_LIT("X-Forwarded-For");
    while (p <= end) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        if (!z) z = end;
        http_fields_add(&f, pool, name, str_make(p, (size_t)(z - p)));
        p = z + 1;
    }
    struct ip_addr a;
    if (realip_pick(&r, &f, &a)) {
        if (a.family != IP_V4 && a.family != IP_V6) abort();
        char text[64];
        struct ip_addr back;
        ip_addr_format(&a, text, sizeof(text));
        if (!ip_addr_parse(text, strlen(text), &back) || memcmp(&back, &a, sizeof(a)) != 0) abort();
    }
    pool_destroy(pool);
    return 0;
}
