/* The server's counters for metrics (handler/metrics.h) and the status page: one fixed-size
 * block per worker thread, written only by its thread (a relaxed load and store, no locked
 * instruction, no cache line shared with another writer) and summed by whoever reads them.
 * A block holds no pointer, so the blocks live in one shared mapping (a memfd) that the HTTP/3
 * process (http3.isolate) maps too: its workers count in blocks of their own and the main
 * process's scrape sees them. Labels are indexes into fixed tables: their number is bounded. */
#ifndef TERN_CORE_STATS_H
#define TERN_CORE_STATS_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum stats_version { SV_09, SV_10, SV_11, SV_2, SV_3, SV_COUNT };
enum stats_method {
    SM_GET,
    SM_HEAD,
    SM_POST,
    SM_PUT,
    SM_DELETE,
    SM_OPTIONS,
    SM_CONNECT,
    SM_OTHER,
    SM_COUNT
};
/* none: the exchange ended without a response (the client went away first) */
enum stats_status { SS_NONE, SS_1XX, SS_2XX, SS_3XX, SS_4XX, SS_5XX, SS_COUNT };
/* Upper bounds of the request duration histogram, in ms; the last bucket is +Inf. */
#define STATS_DURATION_BOUNDS_MS                                                                   \
    {                                                                                              \
        1, 5, 10, 50, 100, 500, 1000, 5000                                                         \
    }
#define STATS_BUCKETS 9
enum stats_wire { SW_OTHER, SW_H1, SW_H2, SW_H3, SW_COUNT };
enum stats_transport { ST_TCP, ST_TLS, ST_QUIC, ST_COUNT };
enum stats_h2_defence {
    SH2_RESETS,         /* client resets over budget (Rapid Reset) */
    SH2_IDLE_FRAMES,    /* frames doing no work over budget (SETTINGS, PING, empty DATA...) */
    SH2_CONTINUATION,   /* too many CONTINUATION frames */
    SH2_HEADER_SIZE,    /* header block over the limit */
    SH2_UNREAD_REPLIES, /* the peer does not read control replies */
    SH2_HEADER_TIMEOUT, /* a header block not complete in time */
    SH2_COUNT
};
enum stats_h3_defence {
    SH3_RESETS,      /* cancelled request streams over budget */
    SH3_HEADER_SIZE, /* header section over the limit */
    SH3_SKIPPED_IDS, /* too many skipped stream ids */
    SH3_SETTINGS,    /* SETTINGS frame too large */
    SH3_COUNT
};

/* Attempts at a proxy upstream: a response head came, or it failed (error, timeout). */
enum stats_upstream_result { SUP_RESPONSE, SUP_ERROR, SUP_TIMEOUT, SUP_COUNT };
/* Upstreams counted, by their slot (config_upstream.stats_slot, in configuration order) */
#define STATS_UPSTREAMS 128

typedef _Atomic uint64_t stats_counter;

struct stats_block {
    alignas(64) stats_counter requests[SV_COUNT][SM_COUNT][SS_COUNT];
    stats_counter duration[SV_COUNT][STATS_BUCKETS]; /* per bucket, not cumulative */
    stats_counter duration_ms_sum[SV_COUNT];
    stats_counter bytes_in[SW_COUNT], bytes_out[SW_COUNT];
    /* closed before opened: a sum reads fields in order, so a connection opened and closed
     * between the two reads shows as neither, never as closed without being opened */
    stats_counter conns_closed[SW_COUNT][ST_COUNT], conns_opened[SW_COUNT][ST_COUNT];
    stats_counter accepted[ST_COUNT];
    stats_counter tls_ok, tls_failed;
    stats_counter h2_defence[SH2_COUNT];
    stats_counter h3_defence[SH3_COUNT];
    stats_counter filecache_hits, filecache_misses;
    stats_counter quic_datagrams_in, quic_datagrams_out, quic_retries;
    stats_counter upstream[STATS_UPSTREAMS][SUP_COUNT];
};

/* The calling thread's block: its worker's, or a scratch block on other threads. */
extern _Thread_local struct stats_block *stats_here;

/* Adds n to a counter of the calling thread's block. */
static inline void stats_add(stats_counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
#define STATS_INC(field) stats_add(&stats_here->field, 1)

/* Connections of wire w over transport t open in a sum (never below zero). */
static inline uint64_t stats_open(const struct stats_block *s, int w, int t)
{
    uint64_t opened = atomic_load_explicit(&s->conns_opened[w][t], memory_order_relaxed);
    uint64_t closed = atomic_load_explicit(&s->conns_closed[w][t], memory_order_relaxed);
    return opened > closed ? opened - closed : 0;
}

/* Index helpers for the labels. */
enum stats_version stats_version_of(int version);
enum stats_status stats_status_of(int status);

/* The shared mapping: room for STATS_SLOTS_PER_PART blocks for each of two parts (the main
 * process, the HTTP/3 process). 0, or -1 (errno). */
#define STATS_SLOTS_PER_PART 1024
int stats_region_create(void);
/* Maps the region an HTTP/3 child got from its parent (fd). 0 or -1. */
int stats_region_attach(int fd);
/* The region's descriptor (to hand to a child), or -1. */
int stats_region_fd(void);
/* Makes `count` blocks of the part (0 main, 1 the HTTP/3 process) in use, zeroing them unless
 * keep (a restarted child goes on from its predecessor's figures, its connections closed).
 * -1 without a region. */
int stats_region_claim(int part, int count, bool keep);
/* The block for worker `id` of the claimed part (NULL without a region). */
struct stats_block *stats_region_block(int id);
/* Points the calling thread at b (NULL: the scratch block). */
void stats_thread_use(struct stats_block *b);
/* Sums every claimed block of both parts into out. */
void stats_sum(struct stats_block *out);

#endif
