/* The loader's `cache` of a proxy location: `cache: true`, or a mapping with the options of
 * struct config_cache (docs/config.md, "Caching"). The store is made here, once per load. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/cache_store.h"
#include "server/config_internal.h"

enum cc_key {
    CC_MAX_SIZE,
    CC_MAX_OBJECT_SIZE,
    CC_HEURISTIC_MAX,
    CC_PURGE,
    CC_PATH,
    CC_MAX_DISK_SIZE,
    CC_WRITE_QUEUE,
    CC_COUNT
};

static int parse_options(struct loader *L, const struct cnode *v, struct config_cache *c)
{
    static const char *const keys[] = {"max_size", "max_object_size", "heuristic_max", "purge",
                                       "path",     "max_disk_size",   "write_queue",   NULL};
    const struct cnode *val[CC_COUNT] = {0};
    uint64_t seen = 0;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "cache", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    const uint64_t tb = (uint64_t)1 << 40;
    if ((val[CC_MAX_SIZE] &&
         cfg_uint(L, val[CC_MAX_SIZE], "max_size", true, 4096, tb, &c->max_size) < 0) ||
        (val[CC_MAX_OBJECT_SIZE] && cfg_uint(L, val[CC_MAX_OBJECT_SIZE], "max_object_size", true, 0,
                                             tb, &c->max_object_size) < 0) ||
        (val[CC_HEURISTIC_MAX] && cfg_duration(L, val[CC_HEURISTIC_MAX], "heuristic_max", 0, true,
                                               365 * 86400.0, &c->heuristic_max) < 0) ||
        (val[CC_PURGE] && cfg_bool(L, val[CC_PURGE], "purge", &c->purge) < 0) ||
        (val[CC_MAX_DISK_SIZE] && cfg_uint(L, val[CC_MAX_DISK_SIZE], "max_disk_size", true, 4096,
                                           (uint64_t)1 << 50, &c->max_disk_size) < 0) ||
        (val[CC_WRITE_QUEUE] && cfg_uint(L, val[CC_WRITE_QUEUE], "write_queue", true, 4096,
                                         (uint64_t)1 << 30, &c->write_queue) < 0))
        return -1;
    if (val[CC_PATH]) {
        if (val[CC_MAX_SIZE])
            return cfg_fail(
                L, val[CC_MAX_SIZE],
                "'max_size' bounds the memory store: with 'path', 'max_disk_size' does");
        if (cfg_root(L, val[CC_PATH], "path", &c->path) < 0) return -1;
        if (access(c->path, W_OK | X_OK) < 0)
            return cfg_fail(L, val[CC_PATH], "path '%s': %s", c->path, strerror(errno));
    } else if (val[CC_MAX_DISK_SIZE] || val[CC_WRITE_QUEUE]) {
        const struct cnode *n = val[CC_MAX_DISK_SIZE] ? val[CC_MAX_DISK_SIZE] : val[CC_WRITE_QUEUE];
        return cfg_fail(L, n, "'%s' needs 'path'",
                        val[CC_MAX_DISK_SIZE] ? "max_disk_size" : "write_queue");
    }
    uint64_t bound = c->path ? c->max_disk_size : c->max_size;
    if (c->max_object_size > bound)
        return cfg_fail(L, v, "'max_object_size' is larger than '%s'",
                        c->path ? "max_disk_size" : "max_size");
    return 0;
}

int cfg_cache(struct loader *L, const struct cnode *v, struct config_cache **out)
{
    *out = NULL;
    if (v->kind != CNODE_MAP) {
        bool on;
        if (cfg_bool(L, v, "cache", &on) < 0) return -1;
        if (!on) return 0;
    }
    struct config_cache *c = calloc(1, sizeof(*c));
    if (!c) return cfg_fail(L, v, "out of memory");
    *out = c; /* freed with the location, also after an error */
    c->max_size = (uint64_t)64 << 20;
    c->max_object_size = (uint64_t)8 << 20;
    c->heuristic_max = 86400;
    c->max_disk_size = (uint64_t)1 << 30;
    c->write_queue = (uint64_t)16 << 20;
    if (v->kind == CNODE_MAP && parse_options(L, v, c) < 0) return -1;
    if (c->path) {
        /* a reload with the same path finds what the running store wrote */
        if (!(c->store =
                  cache_store_new_disk(c->path, (size_t)c->max_disk_size, (size_t)c->write_queue)))
            return cfg_fail(L, v, "cache path '%s' cannot be read (or out of memory)", c->path);
        return 0;
    }
    if (!(c->store = cache_store_new((size_t)c->max_size))) return cfg_fail(L, v, "out of memory");
    return 0;
}

void config_caches_close(struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_servers; i++)
        for (size_t j = 0; j < cfg->servers[i].n_locations; j++)
            if (cfg->servers[i].locations[j].cache)
                cache_store_close(cfg->servers[i].locations[j].cache->store);
}

void config_cache_free(struct config_cache *c)
{
    if (!c) return;
    cache_store_free(c->store);
    free(c->path);
    free(c);
}
