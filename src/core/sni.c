#include "core/sni.h"

#include <stdbool.h>

#include "core/str.h"

static bool eq_nocase(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

size_t sni_lookup(const struct sni_name *names, size_t n_names, const char *host, size_t len)
{
    if (len && host[len - 1] == '.') len--; /* "example.com." is the same name */
    const struct sni_name *wild = NULL;
    size_t wild_len = 0;
    for (size_t i = 0; i < n_names; i++) {
        const struct sni_name *n = &names[i];
        if (n->len >= 2 && n->name[0] == '*' && n->name[1] == '.') {
            size_t sl = n->len - 1; /* ".suffix": at least one byte must stand before it */
            if (len > sl && sl > wild_len && eq_nocase(host + len - sl, n->name + 1, sl)) {
                wild = n;
                wild_len = sl;
            }
        } else if (n->len == len && eq_nocase(host, n->name, len)) {
            return n->cert == SIZE_MAX ? 0 : n->cert;
        }
    }
    if (wild && wild->cert != SIZE_MAX) return wild->cert;
    return 0;
}
