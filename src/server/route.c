/* Per-request routing: virtual host by Host name, then location: exact path, regex, longest
 * path prefix.
 * Both run on every request, so they only compare bytes: no allocation, no locale. */
#include <string.h>

#include "core/str.h"
#include "server/config.h"
#include "server/regex.h"

static bool eq_nocase(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

/* The server one of whose names (exact, else the longest wildcard) is host, or NULL. */
static const struct config_server *find_named(const struct config *cfg, const char *host,
                                              size_t len)
{
    if (len && host[len - 1] == '.') /* "example.com." is the same name, RFC 1034 3.1 */
        len--;
    const struct config_server *wild = NULL;
    size_t wild_len = 0;
    for (size_t i = 0; i < cfg->n_servers; i++) {
        const struct config_server *srv = &cfg->servers[i];
        for (size_t j = 0; j < srv->n_names; j++) {
            const char *name = srv->names[j];
            size_t nl = strlen(name);
            if (nl >= 2 && name[0] == '*' && name[1] == '.') {
                /* ".example.org" must end the host with at least one byte before it */
                const char *suffix = name + 1;
                size_t sl = nl - 1;
                if (len > sl && sl > wild_len && eq_nocase(host + len - sl, suffix, sl)) {
                    wild = srv;
                    wild_len = sl;
                }
            } else if (nl == len && eq_nocase(host, name, len)) {
                return srv;
            }
        }
    }
    return wild;
}

bool config_names_host(const struct config *cfg, const char *host, size_t len)
{
    return find_named(cfg, host, len) != NULL;
}

const struct config_server *config_find_server(const struct config *cfg, const char *host,
                                               size_t len)
{
    if (!cfg->n_servers) return NULL;
    const struct config_server *srv = find_named(cfg, host, len);
    if (srv) return srv;
    return &cfg->servers[cfg->default_server < cfg->n_servers ? cfg->default_server : 0];
}

static bool location_matches(const struct config_location *loc, const char *path, size_t len)
{
    size_t pl = loc->path_len;
    if (pl > len || memcmp(path, loc->path, pl) != 0) return false;
    /* "/dl/" matches by prefix; "/dl" only at a segment boundary ("/dl", "/dl/x", not "/dlx") */
    return loc->path[pl - 1] == '/' || len == pl || path[pl] == '/';
}

const struct config_location *config_match_location(const struct config_server *srv,
                                                    const char *path, size_t len, str_t *caps)
{
    if (!srv->n_locations) return NULL;
    /* sorted: exact ones, regex ones in file order, then prefixes longest first */
    str_t scratch[REGEX_MAX_CAPTURES + 1];
    for (size_t i = 0; i < srv->n_locations; i++) {
        const struct config_location *loc = &srv->locations[i];
        switch (loc->kind) {
        case CONFIG_LOC_EXACT:
            if (loc->path_len == len && !memcmp(loc->path, path, len)) return loc;
            break;
        case CONFIG_LOC_REGEX:
            if (regex_match(loc->regex, path, len, caps ? caps : scratch) >= 0) return loc;
            break;
        case CONFIG_LOC_PREFIX:
            if (loc->path_len && location_matches(loc, path, len)) return loc;
            break;
        }
    }
    /* only a path without a leading '/' (such as "*") misses "/", which sorts last */
    return &srv->locations[srv->n_locations - 1];
}

const struct config_location *config_find_location(const struct config_server *srv,
                                                   const char *path, size_t len)
{
    return config_match_location(srv, path, len, NULL);
}

const char *config_location_subpath(const struct config_location *loc, const char *path, size_t len,
                                    size_t *out_len)
{
    size_t pl = loc->path_len;
    /* exact and regex locations map the whole path onto their root */
    if (!loc->own_root || !pl || loc->kind != CONFIG_LOC_PREFIX ||
        !location_matches(loc, path, len)) {
        *out_len = len;
        return path;
    }
    if (loc->path[pl - 1] == '/') { /* keep the prefix's final '/' */
        *out_len = len - pl + 1;
        return path + pl - 1;
    }
    if (len == pl) {
        *out_len = 1;
        return "/";
    }
    *out_len = len - pl;
    return path + pl;
}
