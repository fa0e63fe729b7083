/* The in-memory store of a caching proxy (RFC 9111 §2): a hash table of stored responses, keyed
 * by the method-independent cache key (scheme, authority, target), each key holding one entry
 * per variant (Vary, §4.1), bounded in bytes with least-recently-used eviction. One store is
 * shared by the worker threads: a mutex guards the table for a lookup, insert or removal only.
 * Entries are reference-counted: the table holds one reference, each reader another, so an
 * entry evicted or replaced while it is being served lives until its last reader lets go. An
 * entry is immutable once inserted, and only inserted once its body is complete. */
#ifndef TERN_HTTP_CACHE_STORE_H
#define TERN_HTTP_CACHE_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/dlist.h"
#include "core/pool.h"
#include "http/header.h"

struct cache_entry {
    /* Filled by the caller before insertion; read-only afterwards. */
    struct pool *pool; /* owns key, fields, req_fields and their strings */
    char *key;
    size_t key_len;
    int status;
    struct http_fields fields;     /* the stored response fields (RFC 9111 §3.1) */
    struct http_fields req_fields; /* the fields of the request that its Vary names */
    char *body;                    /* malloc'ed, owned by the entry; may be NULL when empty */
    size_t body_len;
    time_t request_time, response_time; /* RFC 9111 §4.2.3 */
    time_t date;                        /* the response's Date (response_time when none) */
    int64_t lifetime;                   /* freshness lifetime in seconds (§4.2.1) */
    /* Store-private. */
    atomic_uint refs;
    size_t size; /* bytes charged to the store */
    uint64_t hash;
    struct cache_entry *hnext;
    struct dlist_node lru;
    bool linked;
};

/* Does a stored variant e answer for the request described by ctx? */
typedef bool (*cache_match_fn)(const struct cache_entry *e, void *ctx);

struct cache_store;

/* A store holding at most max_size bytes of entries. NULL on OOM. */
struct cache_store *cache_store_new(size_t max_size);
/* Drops the table's references and frees the store; entries still read live on. NULL is fine. */
void cache_store_free(struct cache_store *s);

/* A new empty entry with one reference (the caller's) and its own pool. NULL on OOM. */
struct cache_entry *cache_entry_new(void);
/* Copies the key into the entry's pool. 0, or -1 on OOM. */
int cache_entry_set_key(struct cache_entry *e, const char *key, size_t len);
void cache_entry_ref(struct cache_entry *e);
/* Drops a reference; the last one frees the entry (pool and body). NULL is fine. */
void cache_entry_release(struct cache_entry *e);

/* The most recently stored variant of key that match accepts (match NULL: any), with a
 * reference for the caller, marked recently used; NULL when none. *seen_key (may be NULL) says
 * whether the key had any variant at all. */
struct cache_entry *cache_store_lookup(struct cache_store *s, const char *key, size_t len,
                                       cache_match_fn match, void *ctx, bool *seen_key);
/* Inserts e (the table takes its own reference; the caller keeps its one), replacing the
 * variants of the same key that match accepts (match NULL: every variant), then evicts the
 * least recently used entries until the store fits max_size. -1 when e alone is bigger than
 * max_size (not inserted). */
int cache_store_insert(struct cache_store *s, struct cache_entry *e, cache_match_fn match,
                       void *ctx);
/* Removes every variant of key (RFC 9111 §4.4). Returns how many. */
size_t cache_store_remove(struct cache_store *s, const char *key, size_t len);
/* Empties the store and refuses later inserts (its configuration was replaced by a reload);
 * entries being read live on until their readers let go. */
void cache_store_close(struct cache_store *s);
/* Bytes and entries held (for tests and metrics). */
void cache_store_usage(struct cache_store *s, size_t *bytes, size_t *entries);

#endif
