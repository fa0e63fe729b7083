/* The loader's `servers` list: virtual hosts, their names, roots and locations. */
#include <stdlib.h>
#include <string.h>

#include "server/config_internal.h"
#include "server/config_site.h"
#include "server/regex.h"

/* A name is lower-cased host syntax: letters, digits, '-', '_' and '.', with an optional
 * leading "*." for a wildcard; no port, no empty label at either end. */
static bool valid_name(const char *s, size_t len)
{
    if (len >= 2 && s[0] == '*' && s[1] == '.') s += 2, len -= 2;
    if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.') return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok || (c == '.' && s[i + 1] == '.')) return false;
    }
    return true;
}

static bool name_taken(const struct config *cfg, size_t upto, const struct config_server *cur,
                       const char *name)
{
    for (size_t i = 0; i <= upto && i < cfg->n_servers; i++) {
        const struct config_server *srv = &cfg->servers[i];
        for (size_t j = 0; j < srv->n_names; j++)
            if (srv->names[j] && strcmp(srv->names[j], name) == 0) return true;
        if (srv == cur) break;
    }
    return false;
}

static int add_name(struct loader *L, size_t si, const struct cnode *v)
{
    struct config_server *srv = &L->cfg->servers[si];
    const char *s;
    char buf[80];
    if (cfg_text(L, v, "names", &s) < 0) return -1;
    if (++L->total_names > CONFIG_MAX_NAMES)
        return cfg_fail(L, v, "more than %d server names", CONFIG_MAX_NAMES);
    char *name = strdup(s);
    if (!name) return cfg_fail(L, v, "out of memory");
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
    if (!valid_name(name, strlen(name))) {
        free(name);
        return cfg_fail(L, v, "invalid server name '%s'", cfg_show(v, buf, sizeof(buf)));
    }
    if (name_taken(L->cfg, si, srv, name)) {
        free(name);
        return cfg_fail(L, v, "server name '%s' is used twice", cfg_show(v, buf, sizeof(buf)));
    }
    srv->names[srv->n_names++] = name;
    return 0;
}

static int parse_names(struct loader *L, size_t si, const struct cnode *v)
{
    struct config_server *srv = &L->cfg->servers[si];
    if (v->kind == CNODE_MAP)
        return cfg_fail(L, v, "'names' must be a name or a list of names, not a mapping");
    size_t count = v->kind == CNODE_SEQ ? v->count : 1;
    if (count == 0) return 0;
    srv->names = calloc(count, sizeof(char *));
    if (!srv->names) return cfg_fail(L, v, "out of memory");
    if (v->kind != CNODE_SEQ) return add_name(L, si, v);
    for (const struct cnode *item = v->first; item; item = item->next)
        if (add_name(L, si, item) < 0) return -1;
    return 0;
}

/* A path to match against normalized request paths: '/' first, no empty, "." or ".." segment,
 * no control characters. */
static bool valid_location_path(const char *s, size_t len)
{
    if (len == 0 || s[0] != '/' || len > 1024) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return false;
        if (c != '/') continue;
        const char *seg = s + i + 1;
        size_t rest = len - i - 1;
        if (rest && seg[0] == '/') return false;
        if (rest && seg[0] == '.' && (rest == 1 || seg[1] == '/')) return false;
        if (rest >= 2 && seg[0] == '.' && seg[1] == '.' && (rest == 2 || seg[2] == '/'))
            return false;
    }
    return true;
}

static int parse_index(struct loader *L, struct config_location *loc, const struct cnode *v)
{
    if (v->kind == CNODE_MAP)
        return cfg_fail(L, v, "'index' must be a file name or a list of them, not a mapping");
    size_t count = v->kind == CNODE_SEQ ? v->count : 1;
    if (count > CONFIG_MAX_INDEX)
        return cfg_fail(L, v, "more than %d index names", CONFIG_MAX_INDEX);
    for (size_t i = 0; i < loc->n_index; i++)
        free(loc->index[i]);
    free(loc->index);
    loc->n_index = 0;
    loc->index = calloc(count ? count : 1, sizeof(char *));
    if (!loc->index) return cfg_fail(L, v, "out of memory");
    const struct cnode *item = v->kind == CNODE_SEQ ? v->first : v;
    for (; item && loc->n_index < count; item = item->next) {
        char buf[80];
        char *name = NULL;
        if (cfg_string(L, item, "index", &name) < 0) return -1;
        loc->index[loc->n_index++] = name;
        if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            return cfg_fail(L, item, "index name '%s' must be a plain file name",
                            cfg_show(item, buf, sizeof(buf)));
    }
    return 0;
}

static int parse_methods(struct loader *L, const struct cnode *v, unsigned *mask)
{
    static const char *const names[] = {"GET", "HEAD", "OPTIONS", "TRACE"};
    if (v->kind == CNODE_MAP)
        return cfg_fail(L, v, "'methods' must be a list of methods, not a mapping");
    if (v->kind == CNODE_SEQ && v->count == 0) return cfg_fail(L, v, "'methods' must not be empty");
    *mask = 0;
    for (const struct cnode *item = v->kind == CNODE_SEQ ? v->first : v; item;
         item = v->kind == CNODE_SEQ ? item->next : NULL) {
        const char *s;
        char buf[80];
        if (cfg_text(L, item, "methods", &s) < 0) return -1;
        size_t i = 0;
        while (i < 4 && strcmp(s, names[i]) != 0) /* methods are case-sensitive, RFC 9110 9.1 */
            i++;
        if (i == 4)
            return cfg_fail(L, item,
                            "method '%s' is not one of GET, HEAD, OPTIONS, TRACE "
                            "(the methods static content allows)",
                            cfg_show(item, buf, sizeof(buf)));
        *mask |= 1u << i;
    }
    if ((*mask & CONFIG_METHOD_GET) && !(*mask & CONFIG_METHOD_HEAD))
        return cfg_fail(L, v,
                        "'methods' allows GET but not HEAD (RFC 9110 section 9.1 needs both)");
    return 0;
}

enum loc_key {
    LOC_PATH,
    LOC_ROOT,
    LOC_INDEX,
    LOC_LISTING,
    LOC_CACHE_CONTROL,
    LOC_METHODS,
    LOC_TRACE,
    LOC_SYMLINKS,
    LOC_COMPRESS,
    LOC_PUSH,
    LOC_PUSH_PATHS,
    LOC_EARLY_HINTS,
    LOC_CONNECTION_INFO,
    LOC_DOTFILES,
    LOC_ALLOW,
    LOC_DENY,
    LOC_RATE_LIMIT,
    LOC_HEADERS,
    LOC_REDIRECT,
    LOC_TRY_FILES,
    LOC_ERROR_PAGES,
    LOC_EXACT,
    LOC_REGEX,
    LOC_REWRITE,
    LOC_PROXY,
    LOC_AUTH,
    LOC_CACHE,
    LOC_LIMIT_CONN,
    LOC_METRICS,
    LOC_COUNT
};

static int parse_cache_control(struct loader *L, struct config_location *loc, const struct cnode *v)
{
    if (cfg_is_null(v)) return 0;
    if (cfg_string(L, v, "cache_control", &loc->cache_control) < 0) return -1;
    for (const char *p = loc->cache_control; *p; p++) /* a field value: no CR, LF or NUL */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return cfg_fail(L, v, "'cache_control' contains a control character");
    return 0;
}

/* One location of server srv; earlier (already parsed) locations are loc[-i]. */
static int parse_location(struct loader *L, const struct config_server *srv, size_t li,
                          const struct cnode *n)
{
    static const char *const keys[] = {"path",
                                       "root",
                                       "index",
                                       "listing",
                                       "cache_control",
                                       "methods",
                                       "trace",
                                       "symlinks_outside_root",
                                       "compress",
                                       "push",
                                       "push_paths",
                                       "early_hints",
                                       "connection_info",
                                       "dotfiles",
                                       "allow",
                                       "deny",
                                       "rate_limit",
                                       "headers",
                                       "redirect",
                                       "try_files",
                                       "error_pages",
                                       "exact",
                                       "regex",
                                       "rewrite",
                                       "proxy",
                                       "auth",
                                       "cache",
                                       "limit_conn",
                                       "metrics",
                                       NULL};
    struct config_location *loc = &srv->locations[li];
    const struct cnode *val[LOC_COUNT] = {0};
    uint64_t seen = 0;
    char buf[80];
    if (!config_location_defaults(loc)) return cfg_fail(L, n, "out of memory");
    if (n->kind != CNODE_MAP)
        return cfg_fail(L, n, "a location must be a mapping, not %s", cfg_kind_name(n));
    for (const struct cnode *k = n->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "location", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    int kinds = !!val[LOC_PATH] + !!val[LOC_EXACT] + !!val[LOC_REGEX];
    if (kinds != 1)
        return cfg_fail(L, n, "a location has one of 'path', 'exact' or 'regex'%s",
                        kinds ? ", not several" : "");
    loc->order = (unsigned)li;
    if (val[LOC_REGEX]) {
        loc->kind = CONFIG_LOC_REGEX;
        if (cfg_string(L, val[LOC_REGEX], "regex", &loc->path) < 0) return -1;
        char why[160];
        size_t off;
        loc->regex = regex_compile(loc->path, &loc->n_captures, why, sizeof(why), &off);
        if (!loc->regex)
            return cfg_fail(L, val[LOC_REGEX], "regex '%s': %s at offset %zu",
                            cfg_show(val[LOC_REGEX], buf, sizeof(buf)), why, off);
        if (loc->n_captures > REGEX_MAX_CAPTURES) loc->n_captures = REGEX_MAX_CAPTURES;
    } else {
        const struct cnode *pv = val[LOC_PATH] ? val[LOC_PATH] : val[LOC_EXACT];
        loc->kind = val[LOC_PATH] ? CONFIG_LOC_PREFIX : CONFIG_LOC_EXACT;
        if (cfg_string(L, pv, val[LOC_PATH] ? "path" : "exact", &loc->path) < 0) return -1;
        loc->path_len = strlen(loc->path);
        if (!valid_location_path(loc->path, loc->path_len))
            return cfg_fail(L, pv,
                            "location path '%s' must start with '/' and have no empty, '.' or "
                            "'..' segment",
                            cfg_show(pv, buf, sizeof(buf)));
        for (size_t i = 0; i < li; i++)
            if (srv->locations[i].kind == loc->kind &&
                strcmp(srv->locations[i].path, loc->path) == 0)
                return cfg_fail(L, pv, "location path '%s' is given twice",
                                cfg_show(pv, buf, sizeof(buf)));
    }
    if (val[LOC_ROOT]) {
        if (cfg_root(L, val[LOC_ROOT], "root", &loc->root) < 0) return -1;
        loc->own_root = true;
    } else if (!(loc->root = strdup(srv->root))) {
        return cfg_fail(L, n, "out of memory");
    }
    if (val[LOC_INDEX] && parse_index(L, loc, val[LOC_INDEX]) < 0) return -1;
    if (val[LOC_LISTING] && cfg_bool(L, val[LOC_LISTING], "listing", &loc->listing) < 0) return -1;
    if (val[LOC_CACHE_CONTROL] && parse_cache_control(L, loc, val[LOC_CACHE_CONTROL]) < 0)
        return -1;
    if (val[LOC_METHODS] && parse_methods(L, val[LOC_METHODS], &loc->methods) < 0) return -1;
    if (val[LOC_TRACE] && cfg_bool(L, val[LOC_TRACE], "trace", &loc->trace) < 0) return -1;
    if (val[LOC_SYMLINKS] &&
        cfg_bool(L, val[LOC_SYMLINKS], "symlinks_outside_root", &loc->symlinks_outside_root) < 0)
        return -1;
    if (val[LOC_COMPRESS] && cfg_bool(L, val[LOC_COMPRESS], "compress", &loc->compress) < 0)
        return -1;
    if (val[LOC_DOTFILES] && cfg_bool(L, val[LOC_DOTFILES], "dotfiles", &loc->dotfiles) < 0)
        return -1;
    if (val[LOC_PUSH] && cfg_bool(L, val[LOC_PUSH], "push", &loc->push) < 0) return -1;
    if (val[LOC_PUSH_PATHS]) {
        if (cfg_strv(L, val[LOC_PUSH_PATHS], "push_paths", 64, &loc->push_paths,
                     &loc->n_push_paths) < 0)
            return -1;
        for (size_t i = 0; i < loc->n_push_paths; i++)
            if (loc->push_paths[i][0] != '/')
                return cfg_fail(L, val[LOC_PUSH_PATHS], "push path '%s' must start with '/'",
                                loc->push_paths[i]);
    }
    if (val[LOC_EARLY_HINTS] && cfg_strv(L, val[LOC_EARLY_HINTS], "early_hints", 64,
                                         &loc->early_hints, &loc->n_early_hints) < 0)
        return -1;
    if ((val[LOC_CONNECTION_INFO] &&
         cfg_bool(L, val[LOC_CONNECTION_INFO], "connection_info", &loc->connection_info) < 0) ||
        (val[LOC_METRICS] && cfg_bool(L, val[LOC_METRICS], "metrics", &loc->metrics) < 0))
        return -1;
    if ((val[LOC_ALLOW] || val[LOC_DENY] || val[LOC_RATE_LIMIT] || val[LOC_LIMIT_CONN]) &&
        cfg_location_guards(L, loc, n, val[LOC_RATE_LIMIT], val[LOC_LIMIT_CONN]) < 0)
        return -1;
    if (val[LOC_AUTH] && cfg_location_auth(L, loc, val[LOC_AUTH]) < 0) return -1;
    if (val[LOC_HEADERS] && cfg_headers(L, val[LOC_HEADERS], &loc->headers) < 0) return -1;
    if (val[LOC_REDIRECT] && cfg_redirect(L, val[LOC_REDIRECT], loc->n_captures, &loc->redirect_to,
                                          &loc->redirect_status) < 0)
        return -1;
    if (val[LOC_TRY_FILES] && cfg_try_files(L, val[LOC_TRY_FILES], loc->n_captures, &loc->try_files,
                                            &loc->n_try_files) < 0)
        return -1;
    if (val[LOC_REWRITE] && cfg_rewrite(L, val[LOC_REWRITE], loc->n_captures, &loc->rewrite_to) < 0)
        return -1;
    if (val[LOC_PROXY] && cfg_proxy(L, val[LOC_PROXY], &loc->proxy) < 0) return -1;
    if (val[LOC_CACHE] && cfg_cache(L, val[LOC_CACHE], &loc->cache) < 0) return -1;
    if (loc->cache && !loc->proxy) return cfg_fail(L, val[LOC_CACHE], "'cache' needs 'proxy'");
    if (!!loc->redirect_to + !!loc->n_try_files + !!loc->rewrite_to + !!loc->proxy > 1)
        return cfg_fail(L, n,
                        "a location redirects, rewrites, tries files or proxies: one of them");
    if (val[LOC_ERROR_PAGES] &&
        cfg_error_pages(L, val[LOC_ERROR_PAGES], &loc->error_pages, &loc->n_error_pages) < 0)
        return -1;
    /* `trace` and TRACE in `methods` say the same thing; keep them in step */
    if (loc->methods & CONFIG_METHOD_TRACE) {
        if (val[LOC_TRACE] && !loc->trace)
            return cfg_fail(L, val[LOC_TRACE], "'methods' lists TRACE but 'trace' is false");
        loc->trace = true;
    }
    if (loc->trace) loc->methods |= CONFIG_METHOD_TRACE;
    return 0;
}

/* Exact paths, then regexes in the order of the file, then prefixes longest first, so the
 * first location that matches a request is the one (server/route.c). */
static int cmp_location(const void *a, const void *b)
{
    static const int rank[] = {
        [CONFIG_LOC_EXACT] = 0, [CONFIG_LOC_REGEX] = 1, [CONFIG_LOC_PREFIX] = 2};
    const struct config_location *x = a, *y = b;
    if (x->kind != y->kind) return rank[x->kind] < rank[y->kind] ? -1 : 1;
    if (x->kind == CONFIG_LOC_REGEX) return x->order < y->order ? -1 : 1;
    if (x->path_len != y->path_len) return x->path_len > y->path_len ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* Adds "/" (inheriting the server root) if missing, then sorts. Room for it was reserved. */
static int finish_locations(struct loader *L, struct config_server *srv, const struct cnode *n)
{
    bool has_root_path = false;
    for (size_t i = 0; i < srv->n_locations; i++)
        if (srv->locations[i].kind == CONFIG_LOC_PREFIX && !strcmp(srv->locations[i].path, "/"))
            has_root_path = true;
    if (!has_root_path) {
        struct config_location *loc = &srv->locations[srv->n_locations++];
        if (!config_location_defaults(loc) || !(loc->path = strdup("/")) ||
            !(loc->root = strdup(srv->root)))
            return cfg_fail(L, n, "out of memory");
        loc->path_len = 1;
    }
    qsort(srv->locations, srv->n_locations, sizeof(*srv->locations), cmp_location);
    return 0;
}

static int parse_locations(struct loader *L, struct config_server *srv, const struct cnode *v)
{
    size_t count = 0;
    if (v) {
        if (v->kind != CNODE_SEQ)
            return cfg_fail(L, v, "'locations' must be a list, not %s", cfg_kind_name(v));
        count = v->count;
        L->total_locations += count;
        if (L->total_locations > CONFIG_MAX_LOCATIONS)
            return cfg_fail(L, v, "more than %d locations", CONFIG_MAX_LOCATIONS);
    }
    srv->locations = calloc(count + 1, sizeof(*srv->locations));
    if (!srv->locations) return cfg_fail(L, v, "out of memory");
    if (v) {
        for (const struct cnode *item = v->first; item; item = item->next) {
            /* counted first so config_free releases a half-built location */
            srv->n_locations++;
            if (parse_location(L, srv, srv->n_locations - 1, item) < 0) return -1;
        }
    }
    return 0;
}

enum srv_key {
    SRV_NAMES,
    SRV_ROOT,
    SRV_DEFAULT,
    SRV_LOCATIONS,
    SRV_TLS,
    SRV_HEADERS,
    SRV_HSTS,
    SRV_ERROR_PAGES,
    SRV_ACCESS_LOG,
    SRV_COUNT
};

static int parse_server(struct loader *L, size_t si, const struct cnode *n, const char *top_root,
                        const struct cnode **default_at)
{
    static const char *const keys[] = {"names",   "root", "default",     "locations",  "tls",
                                       "headers", "hsts", "error_pages", "access_log", NULL};
    struct config_server *srv = &L->cfg->servers[si];
    const struct cnode *val[SRV_COUNT] = {0};
    uint64_t seen = 0;
    if (n->kind != CNODE_MAP)
        return cfg_fail(L, n, "a server must be a mapping, not %s", cfg_kind_name(n));
    for (const struct cnode *k = n->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "server", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    if (val[SRV_NAMES] && parse_names(L, si, val[SRV_NAMES]) < 0) return -1;
    if (val[SRV_ROOT]) {
        if (cfg_root(L, val[SRV_ROOT], "root", &srv->root) < 0) return -1;
    } else if (top_root) {
        if (!(srv->root = strdup(top_root))) return cfg_fail(L, n, "out of memory");
    } else {
        return cfg_fail(L, n, "server has no 'root' (set it here or at the top level)");
    }
    if (val[SRV_DEFAULT]) {
        if (cfg_bool(L, val[SRV_DEFAULT], "default", &srv->is_default) < 0) return -1;
        if (srv->is_default && *default_at)
            return cfg_fail(L, val[SRV_DEFAULT],
                            "more than one server has 'default: true' (the first is on line %d)",
                            (*default_at)->line);
        if (srv->is_default) {
            *default_at = val[SRV_DEFAULT];
            L->cfg->default_server = si;
        }
    }
    if (val[SRV_TLS] && cfg_cert(L, val[SRV_TLS], "server tls", &srv->cert, NULL, NULL) < 0)
        return -1;
    if (val[SRV_HEADERS] && cfg_headers(L, val[SRV_HEADERS], &srv->headers) < 0) return -1;
    if (val[SRV_HSTS] && cfg_hsts(L, val[SRV_HSTS], &srv->hsts) < 0) return -1;
    if (val[SRV_ERROR_PAGES] &&
        cfg_error_pages(L, val[SRV_ERROR_PAGES], &srv->error_pages, &srv->n_error_pages) < 0)
        return -1;
    if (val[SRV_ACCESS_LOG] && cfg_server_access_log(L, val[SRV_ACCESS_LOG], srv) < 0) return -1;
    if (parse_locations(L, srv, val[SRV_LOCATIONS]) < 0) return -1;
    return finish_locations(L, srv, n);
}

int cfg_servers(struct loader *L, const struct cnode *v, const char *top_root)
{
    struct config *cfg = L->cfg;
    const struct cnode *default_at = NULL;
    if (v->kind != CNODE_SEQ)
        return cfg_fail(L, v, "'servers' must be a list, not %s", cfg_kind_name(v));
    if (v->count == 0) return cfg_fail(L, v, "'servers' must not be empty");
    if (v->count > CONFIG_MAX_SERVERS)
        return cfg_fail(L, v, "more than %d servers", CONFIG_MAX_SERVERS);
    cfg->servers = calloc(v->count, sizeof(*cfg->servers));
    if (!cfg->servers) return cfg_fail(L, v, "out of memory");
    cfg->default_server = 0;
    for (const struct cnode *item = v->first; item; item = item->next) {
        cfg->n_servers++;
        if (parse_server(L, cfg->n_servers - 1, item, top_root, &default_at) < 0) return -1;
    }
    if (!default_at) cfg->servers[0].is_default = true;
    return 0;
}

int cfg_single_server(struct loader *L, const char *root)
{
    struct config *cfg = L->cfg;
    cfg->servers = calloc(1, sizeof(*cfg->servers));
    if (!cfg->servers) return cfg_fail(L, NULL, "out of memory");
    cfg->n_servers = 1;
    cfg->default_server = 0;
    struct config_server *srv = &cfg->servers[0];
    srv->is_default = true;
    if (!(srv->root = strdup(root))) return cfg_fail(L, NULL, "out of memory");
    if (parse_locations(L, srv, NULL) < 0) return -1;
    return finish_locations(L, srv, NULL);
}
