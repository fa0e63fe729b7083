#include "handler/metrics.h"

#include <inttypes.h>
#include <string.h>

#include "core/stats.h"
#include "handler/made.h"
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

static const char *const version_label[SV_COUNT] = {"0.9", "1.0", "1.1", "2", "3"};
static const char *const method_label[SM_COUNT] = {"GET",    "HEAD",    "POST",    "PUT",
                                                   "DELETE", "OPTIONS", "CONNECT", "other"};
static const char *const status_label[SS_COUNT] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const wire_label[SW_COUNT] = {"other", "h1", "h2", "h3"};
static const char *const transport_label[ST_COUNT] = {"tcp", "tls", "quic"};
static const char *const h2_defence_label[SH2_COUNT] = {
    "resets", "idle_frames", "continuation", "header_size", "unread_replies", "header_timeout"};
static const char *const h3_defence_label[SH3_COUNT] = {"resets", "header_size", "skipped_ids",
                                                        "settings"};

static uint64_t get(const stats_counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static int family(struct buf *b, const char *name, const char *type, const char *help)
{
    return buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int requests_family(struct buf *b, const struct stats_block *st)
{
    const char *name = "tern_http_requests_total";
    int rc = family(b, name, "counter",
                    "Requests answered (or ended without an answer: status none), by wire "
                    "version, method and status class, whatever answered them.");
    for (int v = 0; v < SV_COUNT; v++)
        for (int m = 0; m < SM_COUNT; m++)
            for (int s = 0; s < SS_COUNT; s++) {
                uint64_t n = get(&st->requests[v][m][s]);
                if (n)
                    rc |= buf_appendf(b,
                                      "%s{version=\"%s\",method=\"%s\",status=\"%s\"} "
                                      "%" PRIu64 "\n",
                                      name, version_label[v], method_label[m], status_label[s], n);
            }
    return rc;
}

static int duration_family(struct buf *b, const struct stats_block *st)
{
    static const int64_t bounds[] = STATS_DURATION_BOUNDS_MS;
    const char *name = "tern_http_request_duration_seconds";
    int rc = family(b, name, "histogram",
                    "Time from reading a request's head to the end of its exchange, by wire "
                    "version (the event loop's clock: millisecond steps).");
    for (int v = 0; v < SV_COUNT; v++) {
        uint64_t count = 0;
        for (int i = 0; i < STATS_BUCKETS; i++)
            count += get(&st->duration[v][i]);
        if (!count) continue;
        uint64_t cum = 0;
        for (int i = 0; i < STATS_BUCKETS; i++) {
            cum += get(&st->duration[v][i]);
            if (i + 1 < STATS_BUCKETS)
                rc |= buf_appendf(b, "%s_bucket{version=\"%s\",le=\"%g\"} %" PRIu64 "\n", name,
                                  version_label[v], (double)bounds[i] / 1000, cum);
            else
                rc |= buf_appendf(b, "%s_bucket{version=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name,
                                  version_label[v], cum);
        }
        uint64_t ms = get(&st->duration_ms_sum[v]);
        rc |=
            buf_appendf(b, "%s_sum{version=\"%s\"} %" PRIu64 ".%03u\n", name, version_label[v],
                        ms / 1000, (unsigned)(ms % 1000)) |
            buf_appendf(b, "%s_count{version=\"%s\"} %" PRIu64 "\n", name, version_label[v], count);
    }
    return rc;
}

static int bytes_families(struct buf *b, const struct stats_block *st)
{
    int rc = 0;
    for (int dir = 0; dir < 2; dir++) {
        const char *name = dir ? "tern_http_sent_bytes_total" : "tern_http_received_bytes_total";
        rc |= family(b, name, "counter",
                     dir ? "Bytes written to clients, by wire (h1, h2: the TCP stream, TLS "
                           "records included; h3: UDP payloads)."
                         : "Bytes read from clients, by wire (h1, h2: the TCP stream, TLS "
                           "records included; h3: UDP payloads).");
        for (int w = SW_H1; w < SW_COUNT; w++)
            rc |= buf_appendf(b, "%s{wire=\"%s\"} %" PRIu64 "\n", name, wire_label[w],
                              get(dir ? &st->bytes_out[w] : &st->bytes_in[w]));
    }
    return rc;
}

static int connection_families(struct buf *b, const struct stats_block *st)
{
    static const struct {
        enum stats_wire w;
        enum stats_transport t;
    } kinds[] = {{SW_H1, ST_TCP}, {SW_H1, ST_TLS},  {SW_H2, ST_TCP},
                 {SW_H2, ST_TLS}, {SW_H3, ST_QUIC}, {SW_OTHER, ST_TCP}};
    const char *name = "tern_connections";
    int rc = family(b, name, "gauge",
                    "Open client connections by wire (h1 also while its TLS handshake runs; "
                    "other: closing, tunnels) and transport.");
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        uint64_t open = stats_open(st, kinds[i].w, kinds[i].t);
        rc |= buf_appendf(b, "%s{wire=\"%s\",transport=\"%s\"} %" PRIu64 "\n", name,
                          wire_label[kinds[i].w], transport_label[kinds[i].t], open);
    }
    name = "tern_connections_accepted_total";
    rc |= family(b, name, "counter",
                 "Client connections accepted (TCP and TLS listeners) or set up (QUIC), "
                 "including those refused at the connection limit.");
    for (int t = 0; t < ST_COUNT; t++)
        rc |= buf_appendf(b, "%s{transport=\"%s\"} %" PRIu64 "\n", name, transport_label[t],
                          get(&st->accepted[t]));
    name = "tern_tls_handshakes_total";
    rc |= family(b, name, "counter",
                 "TLS handshakes on TCP listeners: ok, or failed (an error or not complete in "
                 "time).") |
          buf_appendf(b, "%s{result=\"ok\"} %" PRIu64 "\n%s{result=\"failed\"} %" PRIu64 "\n", name,
                      get(&st->tls_ok), name, get(&st->tls_failed));
    return rc;
}

static int defence_families(struct buf *b, const struct stats_block *st)
{
    const char *name = "tern_h2_defence_total";
    int rc = family(b, name, "counter",
                    "HTTP/2 connections closed (ENHANCE_YOUR_CALM) for crossing a limit against "
                    "abusive peers, by kind.");
    for (int k = 0; k < SH2_COUNT; k++)
        rc |= buf_appendf(b, "%s{kind=\"%s\"} %" PRIu64 "\n", name, h2_defence_label[k],
                          get(&st->h2_defence[k]));
    name = "tern_h3_defence_total";
    rc |= family(b, name, "counter",
                 "HTTP/3 connections closed (H3_EXCESSIVE_LOAD) for crossing a limit against "
                 "abusive peers, by kind.");
    for (int k = 0; k < SH3_COUNT; k++)
        rc |= buf_appendf(b, "%s{kind=\"%s\"} %" PRIu64 "\n", name, h3_defence_label[k],
                          get(&st->h3_defence[k]));
    name = "tern_quic_datagrams_total";
    rc |= family(b, name, "counter", "UDP datagrams of QUIC received (in) and sent (out).") |
          buf_appendf(b, "%s{direction=\"in\"} %" PRIu64 "\n%s{direction=\"out\"} %" PRIu64 "\n",
                      name, get(&st->quic_datagrams_in), name, get(&st->quic_datagrams_out));
    name = "tern_quic_retries_total";
    rc |= family(b, name, "counter", "QUIC Retry packets sent (address validation).") |
          buf_appendf(b, "%s %" PRIu64 "\n", name, get(&st->quic_retries));
    name = "tern_file_cache_lookups_total";
    rc |= family(b, name, "counter",
                 "Lookups in the static handler's open-file cache: hit (an open file reused) or "
                 "miss (opened).") |
          buf_appendf(b, "%s{result=\"hit\"} %" PRIu64 "\n%s{result=\"miss\"} %" PRIu64 "\n", name,
                      get(&st->filecache_hits), name, get(&st->filecache_misses));
    return rc;
}

/* Attempts at each proxy location's upstreams (labels from the configuration only). */
static int upstream_family(struct buf *b, const struct config *cfg, const struct stats_block *st)
{
    static const char *const result[SUP_COUNT] = {"response", "error", "timeout"};
    const char *name = "tern_proxy_upstream_attempts_total";
    int rc = family(b, name, "counter",
                    "Attempts at a proxy location's upstreams: response (a response head came), "
                    "error (connect, TLS, send or read failed) or timeout.");
    for (size_t s = 0; s < cfg->n_servers; s++) {
        const struct config_server *srv = &cfg->servers[s];
        for (size_t l = 0; l < srv->n_locations; l++) {
            const struct config_location *loc = &srv->locations[l];
            if (!loc->proxy) continue;
            for (size_t u = 0; u < loc->proxy->n_upstreams; u++) {
                const struct config_upstream *up = &loc->proxy->upstreams[u];
                if (up->stats_slot >= STATS_UPSTREAMS) continue;
                for (int r = 0; r < SUP_COUNT; r++)
                    rc |= location_sample(b, name, srv, loc) | buf_append(b, ",upstream=\"", 11) |
                          label_value(b, up->url) |
                          buf_appendf(b, "\",result=\"%s\"} %" PRIu64 "\n", result[r],
                                      get(&st->upstream[up->stats_slot][r]));
            }
        }
    }
    return rc;
}

int metrics_text(const struct config *cfg, struct buf *b)
{
    static _Thread_local struct stats_block
        sum; /* some KB (the upstream counters): not on the stack */
    stats_sum(&sum);
    int rc = requests_family(b, &sum) | duration_family(b, &sum) | bytes_families(b, &sum) |
             connection_families(b, &sum) | defence_families(b, &sum) |
             upstream_family(b, cfg, &sum);
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
    return respond_made(req, resp, &b, STR_LIT("text/plain; version=0.0.4; charset=utf-8"));
}
