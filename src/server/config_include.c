/* `include:` at the top level of a configuration (as nginx's include and Caddy's import): a
 * path or glob pattern, or a list of them, relative to the directory of the main file. Each
 * file matched (in sorted order) is a mapping of top-level keys, merged into the including
 * one: `servers` lists are joined, any other key may be given once over all the files (a
 * second one is reported as a duplicate, at its own file and line). Included files may include
 * others, up to INCLUDE_DEPTH deep; a file that includes itself is an error. */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config_internal.h"

#define INCLUDE_DEPTH 8
#define INCLUDE_FILES 256 /* files over the whole configuration */

struct include_ctx {
    struct pool *pool;
    const char *base_dir;
    char *err;
    size_t errlen;
    const char *stack[INCLUDE_DEPTH + 1]; /* real paths of the files being included */
    int depth;
    int files;
};

static int fail_at(struct include_ctx *c, const char *file, const struct cnode *n, const char *fmt,
                   const char *arg, const char *why)
{
    int n0 = snprintf(c->err, c->errlen, "%s:%d: ", n->file ? n->file : file, n->line);
    if (n0 >= 0 && (size_t)n0 < c->errlen)
        snprintf(c->err + n0, c->errlen - (size_t)n0, fmt, arg, why);
    return -1;
}

static void mark_file(struct cnode *n, const char *file)
{
    for (; n; n = n->next) {
        n->file = file;
        mark_file(n->first, file);
    }
}

static bool is_key(const struct cnode *k, const char *name)
{
    return k->kind == CNODE_SCALAR && k->len == strlen(name) && memcmp(k->str, name, k->len) == 0;
}

static struct cnode *find_value(struct cnode *map, const char *name)
{
    for (struct cnode *k = map->first; k && k->next; k = k->next->next)
        if (is_key(k, name)) return k->next;
    return NULL;
}

/* Joins what an included mapping holds into map. */
static void merge(struct cnode *map, struct cnode *included)
{
    struct cnode *k = included->first;
    while (k && k->next) {
        struct cnode *v = k->next, *next = v->next;
        struct cnode *servers = is_key(k, "servers") ? find_value(map, "servers") : NULL;
        if (servers && servers->kind == CNODE_SEQ && v->kind == CNODE_SEQ) {
            for (struct cnode *item = v->first, *nx; item; item = nx) {
                nx = item->next;
                cnode_append(servers, item);
            }
        } else {
            cnode_append(map, k);
            cnode_append(map, v);
        }
        k = next;
    }
}

static int expand(struct include_ctx *c, struct cnode *map, const char *file);

static int include_file(struct include_ctx *c, struct cnode *map, const char *file,
                        const struct cnode *at, const char *path)
{
    char real[PATH_MAX];
    if (!realpath(path, real)) return fail_at(c, file, at, "include %s: %s", path, strerror(errno));
    for (int i = 0; i <= c->depth; i++)
        if (c->stack[i] && strcmp(c->stack[i], real) == 0)
            return fail_at(c, file, at, "include %s: %s", path, "the file includes itself");
    if (c->depth >= INCLUDE_DEPTH)
        return fail_at(c, file, at, "include %s: %s", path, "includes nested too deep");
    if (++c->files > INCLUDE_FILES)
        return fail_at(c, file, at, "include %s: %s", path, "more than 256 files included");
    size_t len;
    char *data = config_read_file(path, &len, c->err, c->errlen);
    if (!data) return -1;
    char *name = pool_strndup(c->pool, path, strlen(path));
    char *kept = pool_strndup(c->pool, real, strlen(real));
    struct cnode *root = NULL;
    int rc =
        name && kept ? config_tree_parse(c->pool, name, data, len, &root, c->err, c->errlen) : -1;
    free(data);
    if (rc < 0) {
        if (!name || !kept) snprintf(c->err, c->errlen, "%s: out of memory", path);
        return -1;
    }
    if (!root) return 0; /* an empty file */
    mark_file(root, name);
    if (root->kind != CNODE_MAP)
        return fail_at(c, name, root, "%s%s",
                       "an included file must be a mapping of top-level keys", "");
    c->stack[++c->depth] = kept;
    rc = expand(c, root, name);
    c->depth--;
    if (rc < 0) return -1;
    merge(map, root);
    return 0;
}

static int include_pattern(struct include_ctx *c, struct cnode *map, const char *file,
                           const struct cnode *v)
{
    if (v->kind != CNODE_SCALAR || v->len == 0 || strlen(v->str) != v->len)
        return fail_at(c, file, v, "%s%s", "'include' takes a path or pattern, or a list of them",
                       "");
    char pattern[PATH_MAX];
    int n = v->str[0] == '/' || !c->base_dir
                ? snprintf(pattern, sizeof(pattern), "%s", v->str)
                : snprintf(pattern, sizeof(pattern), "%s/%s", c->base_dir, v->str);
    if (n < 0 || (size_t)n >= sizeof(pattern))
        return fail_at(c, file, v, "include %s: %s", v->str, "path too long");
    bool wild = strpbrk(v->str, "*?[") != NULL;
    glob_t g;
    int rc = glob(pattern, GLOB_NOESCAPE, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        globfree(&g);
        /* a pattern may match nothing (an empty conf.d); a plain name must exist */
        return wild ? 0 : fail_at(c, file, v, "include %s: %s", v->str, strerror(ENOENT));
    }
    if (rc != 0) {
        globfree(&g);
        return fail_at(c, file, v, "include %s: %s", v->str,
                       rc == GLOB_NOSPACE ? "out of memory" : "cannot read the directory");
    }
    for (size_t i = 0; i < g.gl_pathc && rc == 0; i++)
        rc = include_file(c, map, file, v, g.gl_pathv[i]);
    globfree(&g);
    return rc;
}

/* Takes every `include` key out of map and merges what it names in its place. */
static int expand(struct include_ctx *c, struct cnode *map, const char *file)
{
    struct cnode *includes[16];
    size_t n = 0;
    struct cnode *prev = NULL;
    for (struct cnode *k = map->first; k && k->next;) {
        struct cnode *v = k->next, *next = v->next;
        if (!is_key(k, "include")) {
            prev = v;
            k = next;
            continue;
        }
        if (n == sizeof(includes) / sizeof(includes[0]))
            return fail_at(c, file, k, "%s%s", "too many 'include' keys", "");
        includes[n++] = v;
        if (prev)
            prev->next = next;
        else
            map->first = next;
        if (map->last == v) map->last = prev;
        map->count -= 2;
        k = next;
    }
    for (size_t i = 0; i < n; i++) {
        struct cnode *v = includes[i];
        if (v->kind == CNODE_SEQ) {
            for (struct cnode *item = v->first; item; item = item->next)
                if (include_pattern(c, map, file, item) < 0) return -1;
        } else if (include_pattern(c, map, file, v) < 0) {
            return -1;
        }
    }
    return 0;
}

int config_include_expand(struct pool *pool, struct cnode *root, const char *name,
                          const char *base_dir, char *err, size_t errlen)
{
    if (!root || root->kind != CNODE_MAP) return 0; /* the loader reports it */
    struct include_ctx c = {
        .pool = pool, .base_dir = base_dir, .err = err, .errlen = errlen, .stack = {NULL}};
    char real[PATH_MAX];
    if (realpath(name, real)) c.stack[0] = real;
    return expand(&c, root, name);
}
