/* The YAML loader's top level: global keys, limits, timeouts, http1, compression, and reading
 * the file. Servers and locations are in config_servers.c; docs/config.md is the schema. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "server/config_internal.h"

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

struct uint_key {
    const char *key;
    bool sizes; /* a byte size: k/m/g suffixes allowed */
    uint64_t min, max;
};

static const struct uint_key limit_keys[] = {
    {"request_line", true, 64, 16 * MIB}, {"header_size", true, 256, 64 * MIB},
    {"header_count", false, 1, 65536},    {"body_size", true, 0, (UINT64_C(1) << 50)},
    {"pipeline", false, 1, 1024},         {"keepalive_requests", false, 1, 1000000000},
    {"ranges", false, 1, 1024},           {"connections", false, 1, 1048576},
};

static int parse_limits(struct loader *L, const struct cnode *v)
{
    static const char *const keys[] = {"request_line", "header_size", "header_count",
                                       "body_size",    "pipeline",    "keepalive_requests",
                                       "ranges",       "connections", NULL};
    struct config_limits *lim = &L->cfg->limits;
    uint64_t seen = 0;
    if (cfg_want_map(L, v, "limits") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "limits", &seen);
        if (i < 0) return -1;
        const struct uint_key *u = &limit_keys[i];
        uint64_t x;
        if (cfg_uint(L, k->next, u->key, u->sizes, u->min, u->max, &x) < 0) return -1;
        switch (i) {
        case 0: lim->request_line = (size_t)x; break;
        case 1: lim->header_size = (size_t)x; break;
        case 2: lim->header_count = (size_t)x; break;
        case 3: lim->body_size = x; break;
        case 4: lim->pipeline = (size_t)x; break;
        case 5: lim->keepalive_requests = (size_t)x; break;
        case 6: lim->ranges = (size_t)x; break;
        default: lim->connections = (size_t)x; break;
        }
    }
    if (lim->request_line > lim->header_size)
        return cfg_fail(L, v, "limits: request_line (%zu) is larger than header_size (%zu)",
                        lim->request_line, lim->header_size);
    return 0;
}

#define MAX_TIMEOUT 86400.0 /* one day */

static int parse_timeouts(struct loader *L, const struct cnode *v)
{
    static const char *const keys[] = {"header", "keepalive", "body", "send", "graceful", NULL};
    struct config_timeouts *t = &L->cfg->timeouts;
    double *fields[] = {&t->header, &t->keepalive, &t->body, &t->send, &t->graceful};
    uint64_t seen = 0;
    if (cfg_want_map(L, v, "timeouts") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "timeouts", &seen);
        if (i < 0) return -1;
        /* only the graceful bound may be zero: stop at once */
        if (cfg_duration(L, k->next, keys[i], 0, i == 4, MAX_TIMEOUT, fields[i]) < 0) return -1;
    }
    return 0;
}

static int parse_http1(struct loader *L, const struct cnode *v)
{
    static const char *const keys[] = {"http09", "allow_bare_lf", "allow_obs_fold", NULL};
    struct config_http1 *h = &L->cfg->http1;
    bool *fields[] = {&h->http09, &h->allow_bare_lf, &h->allow_obs_fold};
    uint64_t seen = 0;
    if (cfg_want_map(L, v, "http1") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "http1", &seen);
        if (i < 0 || cfg_bool(L, k->next, keys[i], fields[i]) < 0) return -1;
    }
    return 0;
}

static int parse_compression(struct loader *L, const struct cnode *v)
{
    static const char *const keys[] = {"on_the_fly",   "min_size",   "max_size",      "gzip_level",
                                       "brotli_level", "zstd_level", "precompressed", NULL};
    /* zlib 1-9 (0 stores without compressing), brotli 0-11, zstd 1-22 */
    static const int level_min[] = {1, 0, 1}, level_max[] = {9, 11, 22};
    struct config_compression *c = &L->cfg->compression;
    int *levels[] = {&c->gzip_level, &c->brotli_level, &c->zstd_level};
    uint64_t seen = 0, x;
    if (cfg_want_map(L, v, "compression") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "compression", &seen);
        const struct cnode *val = k->next;
        switch (i) {
        case -1: return -1;
        case 0:
            if (cfg_bool(L, val, keys[i], &c->on_the_fly) < 0) return -1;
            break;
        case 1:
        case 2:
            if (cfg_uint(L, val, keys[i], true, 0, GIB, &x) < 0) return -1;
            *(i == 1 ? &c->min_size : &c->max_size) = (size_t)x;
            break;
        case 3:
        case 4:
        case 5:
            if (cfg_uint(L, val, keys[i], false, (uint64_t)level_min[i - 3],
                         (uint64_t)level_max[i - 3], &x) < 0)
                return -1;
            *levels[i - 3] = (int)x;
            break;
        default:
            if (cfg_bool(L, val, keys[i], &c->precompressed) < 0) return -1;
            break;
        }
    }
    if (c->min_size > c->max_size)
        return cfg_fail(L, v, "compression: min_size (%zu) is larger than max_size (%zu)",
                        c->min_size, c->max_size);
    return 0;
}

static int add_listen(struct loader *L, const struct cnode *v, size_t *n)
{
    const char *s;
    char buf[80];
    struct config_listen tmp;
    if (cfg_text(L, v, "listen", &s) < 0) return -1;
    if (config_parse_listen(s, &tmp) < 0)
        return cfg_fail(L, v,
                        "invalid listen address '%s' (ADDR:PORT, [IPv6]:PORT or PORT, "
                        "port 1-65535)",
                        cfg_show(v, buf, sizeof(buf)));
    for (size_t i = 0; i < *n; i++) {
        if (L->cfg->listens[i].port == tmp.port && strcmp(L->cfg->listens[i].host, tmp.host) == 0) {
            free(tmp.host);
            return cfg_fail(L, v, "listen address '%s' is given twice",
                            cfg_show(v, buf, sizeof(buf)));
        }
    }
    L->cfg->listens[(*n)++] = tmp;
    return 0;
}

/* A single address or a list of them; replaces the default. */
static int parse_listen(struct loader *L, const struct cnode *v)
{
    struct config *cfg = L->cfg;
    size_t count = v->kind == CNODE_SEQ ? v->count : 1;
    if (v->kind == CNODE_MAP)
        return cfg_fail(L, v, "'listen' must be an address or a list of them, not a mapping");
    if (count == 0) return cfg_fail(L, v, "'listen' must not be empty");
    if (count > CONFIG_MAX_LISTENS)
        return cfg_fail(L, v, "more than %d listen addresses", CONFIG_MAX_LISTENS);
    for (size_t i = 0; i < cfg->n_listens; i++)
        free(cfg->listens[i].host);
    free(cfg->listens);
    cfg->n_listens = 0;
    cfg->listens = calloc(count, sizeof(*cfg->listens));
    if (!cfg->listens) return cfg_fail(L, v, "out of memory");
    if (v->kind != CNODE_SEQ) return add_listen(L, v, &cfg->n_listens);
    for (const struct cnode *item = v->first; item; item = item->next)
        if (add_listen(L, item, &cfg->n_listens) < 0) return -1;
    return 0;
}

/* A log destination: one of the special names, else a path relative to the config file. */
static int parse_log(struct loader *L, const struct cnode *v, const char *key, const char *special,
                     char **dst)
{
    const char *s;
    if (cfg_text(L, v, key, &s) < 0) return -1;
    if (strcmp(s, special) == 0 || strcmp(s, "off") == 0) return cfg_string(L, v, key, dst);
    return cfg_path(L, v, key, dst);
}

enum top_key {
    TOP_WORKERS,
    TOP_LISTEN,
    TOP_ACCESS_LOG,
    TOP_ERROR_LOG,
    TOP_LOG_LEVEL,
    TOP_LIMITS,
    TOP_TIMEOUTS,
    TOP_HTTP1,
    TOP_COMPRESSION,
    TOP_ROOT,
    TOP_SERVERS,
    TOP_TLS_LISTEN,
    TOP_TLS,
    TOP_HTTP2,
    TOP_QUIC,
    TOP_QUIC_LISTEN,
    TOP_HTTP3,
    TOP_HTTPS_REDIRECT,
    TOP_FORWARD_PROXY,
    TOP_REAL_IP,
    TOP_REDIS,
    TOP_USER,
    TOP_REQUEST_ID,
    TOP_METRICS,
    TOP_COUNT
};

static int parse_top(struct loader *L, const struct cnode *top)
{
    static const char *const keys[] = {
        "workers",     "listen",         "access_log",    "error_log",
        "log_level",   "limits",         "timeouts",      "http1",
        "compression", "root",           "servers",       "tls_listen",
        "tls",         "http2",          "quic",          "quic_listen",
        "http3",       "https_redirect", "forward_proxy", "real_ip",
        "redis",       "user",           "request_id",    "metrics",
        NULL};
    const struct cnode *val[TOP_COUNT] = {0};
    uint64_t seen = 0, x;
    const char *s;
    char buf[80];
    struct config *cfg = L->cfg;

    if (top->kind != CNODE_MAP)
        return cfg_fail(L, top, "the configuration must be a mapping of keys, not %s",
                        cfg_kind_name(top));
    for (const struct cnode *k = top->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "the top level", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    if (val[TOP_WORKERS]) {
        if (cfg_uint(L, val[TOP_WORKERS], "workers", false, 0, 1024, &x) < 0) return -1;
        cfg->workers = (int)x;
    }
    if (val[TOP_LISTEN] && parse_listen(L, val[TOP_LISTEN]) < 0) return -1;
    if (val[TOP_HTTPS_REDIRECT] &&
        cfg_bool(L, val[TOP_HTTPS_REDIRECT], "https_redirect", &cfg->https_redirect) < 0)
        return -1;
    if (val[TOP_TLS_LISTEN]) {
        if (!val[TOP_LISTEN]) { /* only TLS: no default cleartext listener */
            for (size_t i = 0; i < cfg->n_listens; i++)
                free(cfg->listens[i].host);
            cfg->n_listens = 0;
        }
        if (cfg_tls_listen(L, val[TOP_TLS_LISTEN]) < 0) return -1;
    }
    if (val[TOP_TLS] && cfg_tls(L, val[TOP_TLS]) < 0) return -1;
    if (val[TOP_HTTP2] && cfg_http2(L, val[TOP_HTTP2]) < 0) return -1;
    if (val[TOP_QUIC] && cfg_bool(L, val[TOP_QUIC], "quic", &cfg->quic) < 0) return -1;
    if (val[TOP_QUIC_LISTEN] && cfg_quic_listen(L, val[TOP_QUIC_LISTEN]) < 0) return -1;
    if (val[TOP_HTTP3] && cfg_http3(L, val[TOP_HTTP3]) < 0) return -1;
    if (val[TOP_FORWARD_PROXY] && cfg_forward_proxy(L, val[TOP_FORWARD_PROXY]) < 0) return -1;
    if (val[TOP_REAL_IP] && cfg_real_ip(L, val[TOP_REAL_IP]) < 0) return -1;
    if (val[TOP_REDIS] && cfg_redis(L, val[TOP_REDIS]) < 0) return -1;
    if (val[TOP_USER]) {
        if (cfg_string(L, val[TOP_USER], "user", &cfg->user) < 0) return -1;
        if (!*cfg->user || strlen(cfg->user) > 200)
            return cfg_fail(L, val[TOP_USER], "user: want NAME or NAME:GROUP");
    }
    if (val[TOP_METRICS] && cfg_metrics(L, val[TOP_METRICS]) < 0) return -1;
    if (val[TOP_ACCESS_LOG] && cfg_access_log(L, val[TOP_ACCESS_LOG]) < 0) return -1;
    if (val[TOP_REQUEST_ID] && cfg_request_id(L, val[TOP_REQUEST_ID]) < 0) return -1;
    if (val[TOP_ERROR_LOG] &&
        parse_log(L, val[TOP_ERROR_LOG], "error_log", "stderr", &cfg->error_log) < 0)
        return -1;
    if (val[TOP_LOG_LEVEL]) {
        if (cfg_text(L, val[TOP_LOG_LEVEL], "log_level", &s) < 0) return -1;
        int level = log_level_parse(s);
        if (level < 0)
            return cfg_fail(L, val[TOP_LOG_LEVEL],
                            "'log_level' must be error, warn, info or debug, not '%s'",
                            cfg_show(val[TOP_LOG_LEVEL], buf, sizeof(buf)));
        cfg->log_level = level;
    }
    if (val[TOP_LIMITS] && parse_limits(L, val[TOP_LIMITS]) < 0) return -1;
    if (val[TOP_TIMEOUTS] && parse_timeouts(L, val[TOP_TIMEOUTS]) < 0) return -1;
    if (val[TOP_HTTP1] && parse_http1(L, val[TOP_HTTP1]) < 0) return -1;
    if (val[TOP_COMPRESSION] && parse_compression(L, val[TOP_COMPRESSION]) < 0) return -1;

    char *root = NULL;
    if (val[TOP_ROOT] && cfg_root(L, val[TOP_ROOT], "root", &root) < 0) return -1;
    int rc;
    if (val[TOP_SERVERS])
        rc = cfg_servers(L, val[TOP_SERVERS], root);
    else if (root)
        rc = cfg_single_server(L, root);
    else
        rc = cfg_fail(L, top, "nothing to serve: set 'root' or 'servers'");
    free(root);
    if (rc == 0) rc = cfg_check_tls(L, top);
    if (rc == 0) rc = cfg_check_shared_limits(L, top);
    if (rc == 0 && cfg->https_redirect) {
        bool tls = false;
        for (size_t i = 0; i < cfg->n_listens; i++)
            tls |= cfg->listens[i].tls && !cfg->listens[i].quic_only;
        if (!tls)
            rc = cfg_fail(L, val[TOP_HTTPS_REDIRECT], "'https_redirect' needs a TLS listener");
    }
    return rc;
}

struct config *config_from_tree(const char *name, const struct cnode *root, const char *base_dir,
                                char *err, size_t errlen)
{
    struct loader L = {.name = name, .err = err, .errlen = errlen, .base_dir = base_dir};
    struct cnode empty = {.kind = CNODE_MAP, .line = 1};
    L.cfg = config_new_base();
    if (!L.cfg) {
        cfg_fail(&L, NULL, "out of memory");
        return NULL;
    }
    if (parse_top(&L, root ? root : &empty) < 0) {
        config_free(L.cfg);
        return NULL;
    }
    L.cfg->log_h2_fingerprint = config_logs_use(L.cfg, LOG_VAR_HTTP2_FINGERPRINT);
    L.cfg->log_duration = config_logs_use(L.cfg, LOG_VAR_DURATION_US);
    return L.cfg;
}

/* includes: expand `include` keys (only for a file: a buffer names no directory) */
static struct config *load(const char *name, const char *data, size_t len, const char *base_dir,
                           bool includes, char *err, size_t errlen)
{
    struct pool *pool = pool_create(16384);
    struct cnode *root;
    struct config *cfg = NULL;
    if (!pool) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    if (config_tree_parse(pool, name, data, len, &root, err, errlen) == 0 &&
        (!includes || config_include_expand(pool, root, name, base_dir, err, errlen) == 0))
        cfg = config_from_tree(name, root, base_dir, err, errlen);
    pool_destroy(pool);
    return cfg;
}

struct config *config_load_buffer(const char *name, const char *data, size_t len, char *err,
                                  size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) err = dummy, errlen = sizeof(dummy);
    if (!name) name = "<config>";
    return load(name, data ? data : "", data ? len : 0, NULL, false, err, errlen);
}

/* Reads at most CONFIG_MAX_FILE + 1 bytes so an oversized file is reported, not swallowed. */
char *config_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    char *data = malloc(CONFIG_MAX_FILE + 1);
    size_t n = 0;
    while (data && n < CONFIG_MAX_FILE + 1) {
        ssize_t r = read(fd, data + n, CONFIG_MAX_FILE + 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            free(data);
            close(fd);
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (!data) snprintf(err, errlen, "%s: out of memory", path);
    *len = n;
    return data;
}

struct config *config_load_file(const char *path, char *err, size_t errlen)
{
    char dummy[1], resolved[PATH_MAX];
    size_t len;
    if (!err || !errlen) err = dummy, errlen = sizeof(dummy);
    char *data = config_read_file(path, &len, err, errlen);
    if (!data) return NULL;
    /* relative roots and log paths are relative to the directory holding the file */
    const char *base = NULL;
    if (realpath(path, resolved)) base = dirname(resolved);
    struct config *cfg = load(path, data, len, base, true, err, errlen);
    free(data);
    if (cfg) {
        cfg->source = strdup(path);
        if (!cfg->source) {
            snprintf(err, errlen, "%s: out of memory", path);
            config_free(cfg);
            return NULL;
        }
    }
    return cfg;
}
