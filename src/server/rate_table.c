/* Shared token-bucket table, see rate_table.h. */
#include "server/rate_table.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define RATE_TABLE_SHARDS 64

struct rate_entry {
    struct rate_bucket bucket;
    int64_t full_at_ms; /* when the bucket will have refilled: from then on the slot is idle */
    int64_t logged_ms;  /* last refusal logged for this client */
    uint32_t limit;     /* 0: empty slot */
    uint32_t inflight;  /* limit_conn: requests in flight (the slot is held while > 0) */
    struct ip_addr addr;
};

struct rate_shard {
    pthread_mutex_t lock;
    char pad[64 - sizeof(pthread_mutex_t) % 64]; /* one cache line per lock, no false sharing */
};

struct rate_table {
    struct rate_entry *entries; /* n_sets * RATE_TABLE_WAYS */
    size_t n_sets;              /* a power of two */
    uint64_t seed;              /* keyed hash: a client cannot pick the set it lands in */
    struct rate_shard shards[RATE_TABLE_SHARDS];
};

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static size_t set_of(const struct rate_table *t, uint32_t limit, const struct ip_addr *a)
{
    uint64_t w0, w1;
    memcpy(&w0, a->bytes, 8);
    memcpy(&w1, a->bytes + 8, 8);
    uint64_t h = mix(t->seed ^ ((uint64_t)limit << 8 | a->family));
    h = mix(h ^ w0);
    h = mix(h ^ w1);
    return (size_t)(h & (t->n_sets - 1));
}

struct rate_table *rate_table_new(size_t entries)
{
    struct rate_table *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->n_sets = 1;
    while (t->n_sets * RATE_TABLE_WAYS < entries)
        t->n_sets *= 2;
    t->entries = calloc(t->n_sets * RATE_TABLE_WAYS, sizeof(*t->entries));
    if (!t->entries) {
        free(t);
        return NULL;
    }
    if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != sizeof(t->seed))
        t->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)t;
    for (size_t i = 0; i < RATE_TABLE_SHARDS; i++)
        pthread_mutex_init(&t->shards[i].lock, NULL);
    return t;
}

void rate_table_free(struct rate_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < RATE_TABLE_SHARDS; i++)
        pthread_mutex_destroy(&t->shards[i].lock);
    free(t->entries);
    free(t);
}

/* The slot of (limit, addr) in set, or the one to give it: an empty or idle slot, else the
 * slot that will be idle first (its client loses what it had spent); never one with requests
 * in flight (NULL when all are). */
static struct rate_entry *find_slot(struct rate_entry *set, uint32_t limit, const struct ip_addr *a,
                                    bool *found)
{
    struct rate_entry *victim = NULL;
    for (size_t i = 0; i < RATE_TABLE_WAYS; i++) {
        struct rate_entry *e = &set[i];
        if (e->limit == limit && memcmp(&e->addr, a, sizeof(*a)) == 0) {
            *found = true;
            return e;
        }
        if (e->inflight) continue;
        if (!victim || (victim->limit && (!e->limit || e->full_at_ms < victim->full_at_ms)))
            victim = e;
    }
    *found = false;
    return victim;
}

struct rate_verdict rate_table_take(struct rate_table *t, uint32_t limit, const struct rate_spec *s,
                                    const struct ip_addr *addr, int64_t now_ms,
                                    int64_t log_interval_ms)
{
    struct rate_verdict v = {0, 0, false};
    size_t set = set_of(t, limit, addr);
    pthread_mutex_t *lock = &t->shards[set % RATE_TABLE_SHARDS].lock;
    pthread_mutex_lock(lock);
    bool found;
    struct rate_entry *e = find_slot(&t->entries[set * RATE_TABLE_WAYS], limit, addr, &found);
    if (!e) { /* every slot holds requests in flight: not limited (rare; bounded table) */
        pthread_mutex_unlock(lock);
        return v;
    }
    if (!found) {
        e->limit = limit;
        e->addr = *addr;
        e->logged_ms = INT64_MIN;
        rate_bucket_init(&e->bucket, s, now_ms);
    }
    v.wait_ms = rate_bucket_take_queued(&e->bucket, s, now_ms, &v.delay_ms);
    e->full_at_ms = rate_bucket_full_at(&e->bucket, s);
    if (v.wait_ms && (e->logged_ms == INT64_MIN || now_ms - e->logged_ms >= log_interval_ms)) {
        e->logged_ms = now_ms;
        v.log = true;
    }
    pthread_mutex_unlock(lock);
    return v;
}

long rate_table_enter(struct rate_table *t, uint32_t limit, uint32_t max,
                      const struct ip_addr *addr, int64_t now_ms, int64_t log_interval_ms,
                      bool *log)
{
    size_t set = set_of(t, limit, addr);
    pthread_mutex_t *lock = &t->shards[set % RATE_TABLE_SHARDS].lock;
    pthread_mutex_lock(lock);
    bool found;
    struct rate_entry *e = find_slot(&t->entries[set * RATE_TABLE_WAYS], limit, addr, &found);
    long slot = -2;
    *log = false;
    if (e && !found) {
        memset(e, 0, sizeof(*e)); /* no bucket: idle whenever nothing is in flight */
        e->limit = limit;
        e->addr = *addr;
        e->logged_ms = INT64_MIN;
    }
    if (e && e->inflight >= max) {
        slot = -1;
        if (e->logged_ms == INT64_MIN || now_ms - e->logged_ms >= log_interval_ms) {
            e->logged_ms = now_ms;
            *log = true;
        }
    } else if (e) {
        e->inflight++;
        slot = (long)(e - t->entries);
    }
    pthread_mutex_unlock(lock);
    return slot;
}

void rate_table_leave(struct rate_table *t, long slot)
{
    size_t set = (size_t)slot / RATE_TABLE_WAYS;
    pthread_mutex_t *lock = &t->shards[set % RATE_TABLE_SHARDS].lock;
    pthread_mutex_lock(lock);
    if (t->entries[slot].inflight) t->entries[slot].inflight--;
    pthread_mutex_unlock(lock);
}

size_t rate_table_used(struct rate_table *t)
{
    size_t n = 0;
    for (size_t set = 0; set < t->n_sets; set++) {
        pthread_mutex_t *lock = &t->shards[set % RATE_TABLE_SHARDS].lock;
        pthread_mutex_lock(lock);
        for (size_t i = 0; i < RATE_TABLE_WAYS; i++)
            n += t->entries[set * RATE_TABLE_WAYS + i].limit != 0;
        pthread_mutex_unlock(lock);
    }
    return n;
}
