#include "handler/metrics.h"

#include <inttypes.h>
#include <string.h>

#include "http/cache_store.h"

/* A label value as the format wants it: backslash, double quote and line feed escaped. */
static int label_value(struct buf *b, const char *v)
{
    int rc = 0;
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            rc |= buf_appendf(b, "\\%c", *v);
        else if (*v == '\n')
            rc |= buf_append(b, "\\n", 2);
        else
            rc |= buf_append(b, v, 1);
    }
    return rc;
}

/* A sample's name and its labels, up to the closing brace (left for more labels). */
static int location_sample(struct buf *b, const char *name, const struct config_server *srv,
                           const struct config_location *loc)
{
    return buf_appendf(b, "%s{server=\"", name) |
           label_value(b, srv->n_names ? srv->names[0] : "_") |
           buf_append(b, "\",location=\"", 12) | label_value(b, loc->path) | buf_append(b, "\"", 1);
}

enum cache_metric { CM_RESPONSES, CM_STORES, CM_EVICTIONS, CM_BYTES, CM_ENTRIES, CM_COUNT };

static const struct {
    const char *name, *type, *help;
} cache_metrics[CM_COUNT] = {
    {"tern_cache_responses_total", "counter",
     "Responses of caching locations by their Cache-Status: hit, stale (a stale hit), miss "
     "(asked upstream) or bypass."},
    {"tern_cache_stores_total", "counter", "Upstream responses taken into the cache."},
    {"tern_cache_evictions_total", "counter",
     "Stored responses dropped, least recently used first, to stay within the size."},
    {"tern_cache_bytes", "gauge", "Bytes the cache holds (memory, or the disk store's files)."},
    {"tern_cache_entries", "gauge", "Stored responses the cache holds."},
};

static int cache_family(struct buf *b, const struct config *cfg, enum cache_metric m)
{
    const char *name = cache_metrics[m].name;
    int rc = buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, cache_metrics[m].help, name,
                         cache_metrics[m].type);
    for (size_t s = 0; s < cfg->n_servers; s++) {
        const struct config_server *srv = &cfg->servers[s];
        for (size_t l = 0; l < srv->n_locations; l++) {
            const struct config_location *loc = &srv->locations[l];
            if (!loc->cache || !loc->cache->store) continue;
            struct cache_stats st;
            cache_store_stats(loc->cache->store, &st);
            if (m == CM_RESPONSES) {
                const char *result[] = {"hit", "stale", "miss", "bypass"};
                uint64_t v[] = {st.hits, st.stale_hits, st.misses, st.bypasses};
                for (size_t i = 0; i < 4; i++)
                    rc |= location_sample(b, name, srv, loc) |
                          buf_appendf(b, ",result=\"%s\"} %" PRIu64 "\n", result[i], v[i]);
                continue;
            }
            uint64_t v = m == CM_STORES      ? st.stores
                         : m == CM_EVICTIONS ? st.evictions
                         : m == CM_BYTES     ? (uint64_t)st.bytes
                                             : (uint64_t)st.entries;
            rc |= location_sample(b, name, srv, loc) | buf_appendf(b, "} %" PRIu64 "\n", v);
        }
    }
    return rc ? -1 : 0;
}

/* The guards' refusals and delays (server/guard.c) of every location that has guards. */
static int guard_family(struct buf *b, const struct config *cfg)
{
    const char *name = "tern_guard_requests_total";
    int rc =
        buf_appendf(b,
                    "# HELP %s Requests a location's guards answered or held: denied (403 by "
                    "allow/deny), limited (429 by rate_limit, or 503 by its on_error), delayed "
                    "(in rate_limit's queue), too_many (503 by limit_conn).\n# TYPE %s counter\n",
                    name, name);
    for (size_t s = 0; s < cfg->n_servers; s++) {
        const struct config_server *srv = &cfg->servers[s];
        for (size_t l = 0; l < srv->n_locations; l++) {
            const struct config_location *loc = &srv->locations[l];
            const struct guard_counts *g = loc->guard_counts;
            if (!g) continue;
            const char *result[] = {"denied", "limited", "delayed", "too_many"};
            uint64_t v[] = {atomic_load_explicit(&g->denied, memory_order_relaxed),
                            atomic_load_explicit(&g->limited, memory_order_relaxed),
                            atomic_load_explicit(&g->delayed, memory_order_relaxed),
                            atomic_load_explicit(&g->too_many, memory_order_relaxed)};
            for (size_t i = 0; i < 4; i++)
                rc |= location_sample(b, name, srv, loc) |
                      buf_appendf(b, ",result=\"%s\"} %" PRIu64 "\n", result[i], v[i]);
        }
    }
    return rc ? -1 : 0;
}

int metrics_text(const struct config *cfg, struct buf *b)
{
    int rc = 0;
    for (int m = 0; m < CM_COUNT; m++)
        rc |= cache_family(b, cfg, (enum cache_metric)m);
    return (rc | guard_family(b, cfg)) ? -1 : 0;
}

int metrics_handle(const struct config *cfg, struct http_request *req, struct http_response *resp)
{
    struct buf b = {0};
    if (metrics_text(cfg, &b) < 0) {
        buf_free(&b);
        return -1;
    }
    size_t n = buf_size(&b);
    char *text = pool_strndup(req->pool, n ? buf_ptr(&b) : "", n);
    buf_free(&b);
    if (!text) return -1;
    resp->status = 200;
    resp->content_length = (int64_t)n;
    resp->body = req->method == HTTP_METHOD_HEAD ? NULL : body_source_mem(req->pool, text, n);
    return http_fields_add_token(&resp->headers, req->pool, HTTP_TOKEN_CONTENT_TYPE,
                                 STR_LIT("text/plain; version=0.0.4; charset=utf-8")) ||
                   http_fields_add_token(&resp->headers, req->pool, HTTP_TOKEN_CACHE_CONTROL,
                                         STR_LIT("no-store"))
               ? -1
               : 0;
}
