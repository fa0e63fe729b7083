/* Private to src/server/config*.c: the YAML document tree and the loader's helpers. */
#ifndef TERN_SERVER_CONFIG_INTERNAL_H
#define TERN_SERVER_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pool.h"
#include "server/config.h"

#define CONFIG_MAX_FILE  (1024 * 1024) /* bytes of YAML accepted */
#define CONFIG_MAX_DEPTH 16            /* nesting of mappings and sequences */

enum cnode_kind { CNODE_SCALAR, CNODE_MAP, CNODE_SEQ };

/* One YAML node. A mapping's children alternate key, value, key, value. */
struct cnode {
    enum cnode_kind kind;
    int line;         /* 1-based line where the node starts */
    const char *file; /* the included file it comes from, or NULL: the main one */
    bool plain;       /* scalar written without quotes (so "~" and "" may mean null) */
    char *str;        /* scalar text, NUL-terminated (may hold NULs before len) */
    size_t len;       /* scalar length */
    size_t count;     /* children: items of a sequence, keys + values of a mapping */
    struct cnode *first, *last, *next;
};

/* Puts n at the end of parent's children (a mapping's keys and values alternate). */
void cnode_append(struct cnode *parent, struct cnode *n);

/* Parses one YAML document into a tree allocated from pool. Returns 0 and sets *root (NULL for
 * an empty stream), or -1 with "name:line: message" in err. Rejects anchors, aliases, tags,
 * more than one document and nesting deeper than CONFIG_MAX_DEPTH. */
int config_tree_parse(struct pool *pool, const char *name, const char *data, size_t len,
                      struct cnode **root, char *err, size_t errlen);

/* Replaces the `include` keys of the top-level mapping root with what the files they name hold
 * (server/config_include.c). name is the main file, base_dir its directory (NULL: the current
 * one). 0, or -1 with "file:line: message" in err. */
int config_include_expand(struct pool *pool, struct cnode *root, const char *name,
                          const char *base_dir, char *err, size_t errlen);

/* Reads a configuration file of at most CONFIG_MAX_FILE bytes (malloc'd; a larger one is
 * reported by the parser). NULL with "path: why" in err. */
char *config_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* Builds a configuration from a parsed tree. base_dir (may be NULL = current directory) is where
 * relative roots and log paths are resolved. Returns NULL with "name:line: message" in err. */
struct config *config_from_tree(const char *name, const struct cnode *root, const char *base_dir,
                                char *err, size_t errlen);

/* State of one load: where messages go and where relative paths resolve. */
struct loader {
    const char *name; /* file name for messages */
    char *err;
    size_t errlen;
    const char *base_dir; /* NULL = current directory */
    struct config *cfg;
    size_t total_names; /* across servers, capped */
    size_t total_locations;
};

#define CONFIG_MAX_LISTENS   64
#define CONFIG_MAX_SERVERS   1024
#define CONFIG_MAX_NAMES     4096 /* server names over all servers */
#define CONFIG_MAX_LOCATIONS 8192 /* over all servers */
#define CONFIG_MAX_INDEX     32

/* Writes "name:line: message" (line of node n) and returns -1. */
int cfg_fail(struct loader *L, const struct cnode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A scalar's text made printable and cut short, for messages. */
const char *cfg_show(const struct cnode *n, char *buf, size_t size);
/* "a mapping", "a list", "a value". */
const char *cfg_kind_name(const struct cnode *n);
/* Plain ~, null or empty scalar. */
bool cfg_is_null(const struct cnode *n);
/* Finds key k in the NULL-terminated keys; -1 after an error for an unknown, duplicate (seen
 * marks keys met so far) or non-scalar key. `where` names the mapping in messages. */
int cfg_key(struct loader *L, const struct cnode *k, const char *const *keys, const char *where,
            uint64_t *seen);
int cfg_want_map(struct loader *L, const struct cnode *v, const char *key);
/* A non-null scalar without NUL bytes. */
int cfg_text(struct loader *L, const struct cnode *v, const char *key, const char **out);
/* A non-empty string, replacing (and freeing) *dst. */
int cfg_string(struct loader *L, const struct cnode *v, const char *key, char **dst);
int cfg_bool(struct loader *L, const struct cnode *v, const char *key, bool *dst);
/* An integer in [min, max]; sizes allows the k/m/g suffixes. */
int cfg_uint(struct loader *L, const struct cnode *v, const char *key, bool sizes, uint64_t min,
             uint64_t max, uint64_t *dst);
/* A duration in seconds in (min, max], or [min, max] when min_inclusive. */
int cfg_duration(struct loader *L, const struct cnode *v, const char *key, double min,
                 bool min_inclusive, double max, double *dst);
/* Resolves a directory (relative to base_dir) with realpath into a new string in *dst. */
int cfg_root(struct loader *L, const struct cnode *v, const char *key, char **dst);
/* Joins a relative file path onto base_dir (no check that it exists) into *dst. */
int cfg_path(struct loader *L, const struct cnode *v, const char *key, char **dst);

/* The top-level `access_log`: a path, or {path, format, buffer, flush} (config_observe.c). */
int cfg_access_log(struct loader *L, const struct cnode *v);
/* A server's `access_log`: a path, or {path, format} (config_observe.c). */
int cfg_server_access_log(struct loader *L, const struct cnode *v, struct config_server *srv);
void config_access_log_free(struct config_access_log *a);
/* The top-level `request_id`: {header, response_header} (config_observe.c). */
int cfg_request_id(struct loader *L, const struct cnode *v);
/* The top-level `redis` (config_guard.c). */
int cfg_redis(struct loader *L, const struct cnode *v);
/* A `shared` rate limit needs the top-level `redis` (config_guard.c). */
int cfg_check_shared_limits(struct loader *L, const struct cnode *top);

/* Parses the `servers` list (top_root: resolved top-level root or NULL). */
int cfg_servers(struct loader *L, const struct cnode *v, const char *top_root);
/* A location's `allow`, `deny` (in the order of the keys of mapping n) and `rate_limit`
 * (config_guard.c); rate_limit may be NULL. */
int cfg_location_guards(struct loader *L, struct config_location *loc, const struct cnode *n,
                        const struct cnode *rate_limit, const struct cnode *limit_conn);
/* The top level's `forward_proxy` (config_proxy.c). */
int cfg_forward_proxy(struct loader *L, const struct cnode *v);
/* Addresses and prefixes (or `all`): one or a list, into a new array *out (set at once: free
 * it on error too) of *n entries (config_guard.c). */
int cfg_prefix_list(struct loader *L, const struct cnode *v, const char *key, struct cidr **out,
                    size_t *n);
/* The top-level `metrics` (config_metrics.c). */
int cfg_metrics(struct loader *L, const struct cnode *v);
/* The top-level `real_ip` (config_guard.c). */
int cfg_real_ip(struct loader *L, const struct cnode *v);
/* A location's `proxy` (config_proxy.c): *out is set at once (free it on error too). */
int cfg_proxy(struct loader *L, const struct cnode *v, struct config_proxy **out);
/* A location's `cache` (config_cache.c): true, false or a mapping; *out set at once. */
int cfg_cache(struct loader *L, const struct cnode *v, struct config_cache **out);
/* A location's `auth` (config_auth.c): reads its user file. */
int cfg_location_auth(struct loader *L, struct config_location *loc, const struct cnode *v);
/* The same into *out (set at once; free it on error too), for the forward proxy's `auth`. */
int cfg_auth(struct loader *L, struct config_auth **out, const struct cnode *v);
void config_auth_free(struct config_auth *auth);
/* Builds the single default server when `servers` is absent. */
int cfg_single_server(struct loader *L, const char *root);

/* Scalar value parsers: 0 on success, -1 when the text is not of the kind. */
int config_parse_bool(const char *s, bool *out);
/* Decimal integer, with a k/m/g (binary) suffix when sizes is true; -2 on overflow. */
int config_parse_uint(const char *s, bool sizes, uint64_t *out);
/* Seconds, may be fractional, optional unit ms, s, m or h. */
int config_parse_duration(const char *s, double *out);

/* TLS and HTTP/2 (config_tls.c). cfg_cert parses {cert, key, ocsp} plus extra_keys, whose
 * values (or NULL) land in extra_vals. cfg_strv parses a value or a list of strings. */
int cfg_cert(struct loader *L, const struct cnode *v, const char *where, struct config_cert *cert,
             const char *const *extra_keys, const struct cnode **extra_vals);
int cfg_tls(struct loader *L, const struct cnode *v);
int cfg_http2(struct loader *L, const struct cnode *v);
int cfg_tls_listen(struct loader *L, const struct cnode *v);
int cfg_quic_listen(struct loader *L, const struct cnode *v);
int cfg_http3(struct loader *L, const struct cnode *v);
int cfg_strv(struct loader *L, const struct cnode *v, const char *key, size_t max, char ***out,
             size_t *n);
/* A TLS listener needs a certificate somewhere. */
int cfg_check_tls(struct loader *L, const struct cnode *top);

/* A config with every default but no servers (NULL on out of memory). */
struct config *config_new_base(void);
/* Allocation helpers for the malloc-owned struct config (NULL on out of memory). */
struct config_location *config_location_defaults(struct config_location *loc);
char *config_strdup(const char *s);

#endif
