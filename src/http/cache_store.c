/* The caching proxy's shared in-memory store: chained hash table, LRU list, reference counts. */
#include "http/cache_store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/refcount.h"

struct cache_store {
    pthread_mutex_t lock;
    struct cache_entry **buckets;
    size_t n_buckets; /* a power of two */
    size_t max_size, bytes, entries;
    bool closed;
    struct dlist lru; /* head: most recently used */
};

struct cache_store *cache_store_new(size_t max_size)
{
    struct cache_store *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    /* about one bucket per 4 KiB of capacity: short chains for typical objects */
    size_t n = 256;
    while (n < max_size / 4096 && n < ((size_t)1 << 20))
        n <<= 1;
    if (!(s->buckets = calloc(n, sizeof(*s->buckets)))) {
        free(s);
        return NULL;
    }
    s->n_buckets = n;
    s->max_size = max_size;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

struct cache_entry *cache_entry_new(void)
{
    struct cache_entry *e = calloc(1, sizeof(*e));
    if (!e) return NULL;
    if (!(e->pool = pool_create(1024))) {
        free(e);
        return NULL;
    }
    atomic_init(&e->refs, 1);
    return e;
}

int cache_entry_set_key(struct cache_entry *e, const char *key, size_t len)
{
    if (!(e->key = pool_strndup(e->pool, key, len))) return -1;
    e->key_len = len;
    e->hash = hash_fnv1a(key, len);
    return 0;
}

void cache_entry_ref(struct cache_entry *e)
{
    refcount_get(&e->refs);
}

void cache_entry_release(struct cache_entry *e)
{
    if (!e || !refcount_put(&e->refs)) return;
    pool_destroy(e->pool);
    free(e->body);
    free(e);
}

/* ---- under the lock ---- */

static bool same_key(const struct cache_entry *e, uint64_t h, const char *key, size_t len)
{
    return e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0;
}

/* Takes e out of the table; the table's reference goes to *dead for release after unlock. */
static void unlink_entry(struct cache_store *s, struct cache_entry **pp, struct cache_entry **dead)
{
    struct cache_entry *e = *pp;
    *pp = e->hnext;
    dlist_remove(&s->lru, &e->lru);
    s->bytes -= e->size;
    s->entries--;
    e->linked = false;
    e->hnext = *dead;
    *dead = e;
}

static struct cache_entry **find_slot(struct cache_store *s, struct cache_entry *e)
{
    struct cache_entry **pp = &s->buckets[e->hash & (s->n_buckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    return pp;
}

static void release_all(struct cache_entry *dead)
{
    while (dead) {
        struct cache_entry *next = dead->hnext;
        cache_entry_release(dead);
        dead = next;
    }
}

/* ---- the table ---- */

struct cache_entry *cache_store_lookup(struct cache_store *s, const char *key, size_t len,
                                       cache_match_fn match, void *ctx, bool *seen_key)
{
    uint64_t h = hash_fnv1a(key, len);
    struct cache_entry *found = NULL;
    bool seen = false;
    pthread_mutex_lock(&s->lock);
    /* newest variant first: inserts go to the front of the chain */
    for (struct cache_entry *e = s->buckets[h & (s->n_buckets - 1)]; e; e = e->hnext) {
        if (!same_key(e, h, key, len)) continue;
        seen = true;
        if (match && !match(e, ctx)) continue;
        found = e;
        cache_entry_ref(e);
        dlist_remove(&s->lru, &e->lru);
        dlist_push_front(&s->lru, &e->lru);
        break;
    }
    pthread_mutex_unlock(&s->lock);
    if (seen_key) *seen_key = seen;
    return found;
}

int cache_store_insert(struct cache_store *s, struct cache_entry *e, cache_match_fn match,
                       void *ctx)
{
    e->size = sizeof(*e) + pool_used(e->pool) + e->body_len;
    if (e->size > s->max_size) return -1;
    struct cache_entry *dead = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->closed) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    cache_entry_ref(e);
    struct cache_entry **pp = &s->buckets[e->hash & (s->n_buckets - 1)];
    while (*pp) {
        if (same_key(*pp, e->hash, e->key, e->key_len) && (!match || match(*pp, ctx)))
            unlink_entry(s, pp, &dead);
        else
            pp = &(*pp)->hnext;
    }
    struct cache_entry **head = &s->buckets[e->hash & (s->n_buckets - 1)];
    e->hnext = *head;
    *head = e;
    e->linked = true;
    dlist_push_front(&s->lru, &e->lru);
    s->bytes += e->size;
    s->entries++;
    struct cache_entry *old;
    while (s->bytes > s->max_size && (old = DLIST_ENTRY(s->lru.tail, struct cache_entry, lru)) != e)
        unlink_entry(s, find_slot(s, old), &dead);
    pthread_mutex_unlock(&s->lock);
    release_all(dead); /* frees outside the lock */
    return 0;
}

size_t cache_store_remove(struct cache_store *s, const char *key, size_t len)
{
    uint64_t h = hash_fnv1a(key, len);
    struct cache_entry *dead = NULL;
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    struct cache_entry **pp = &s->buckets[h & (s->n_buckets - 1)];
    while (*pp) {
        if (same_key(*pp, h, key, len)) {
            unlink_entry(s, pp, &dead);
            n++;
        } else {
            pp = &(*pp)->hnext;
        }
    }
    pthread_mutex_unlock(&s->lock);
    release_all(dead);
    return n;
}

void cache_store_close(struct cache_store *s)
{
    struct cache_entry *dead = NULL;
    pthread_mutex_lock(&s->lock);
    s->closed = true;
    while (s->lru.tail)
        unlink_entry(s, find_slot(s, DLIST_ENTRY(s->lru.tail, struct cache_entry, lru)), &dead);
    pthread_mutex_unlock(&s->lock);
    release_all(dead);
}

void cache_store_usage(struct cache_store *s, size_t *bytes, size_t *entries)
{
    pthread_mutex_lock(&s->lock);
    *bytes = s->bytes;
    *entries = s->entries;
    pthread_mutex_unlock(&s->lock);
}

void cache_store_free(struct cache_store *s)
{
    if (!s) return;
    struct dlist_node *n = s->lru.head;
    while (n) {
        struct dlist_node *next = n->next;
        cache_entry_release(DLIST_ENTRY(n, struct cache_entry, lru));
        n = next;
    }
    pthread_mutex_destroy(&s->lock);
    free(s->buckets);
    free(s);
}
