/* The in-memory store of a caching proxy (RFC 9111 §2): a hash table of stored responses, keyed
 * by the method-independent cache key (scheme, authority, target), each key holding one entry
 * per variant (Vary, §4.1), bounded in bytes with least-recently-used eviction. One store is
 * shared by the worker threads: a mutex guards the table for a lookup, insert or removal only.
 * Entries are reference-counted: the table holds one reference, each reader another, so an
 * entry evicted or replaced while it is being served lives until its last reader lets go. An
 * entry is immutable once inserted, and only inserted once its body is complete.
 *
 * A disk store (cache_store_new_disk) keeps the same table as an index, but each entry's body
 * lives in a file of its own under the store's directory (format: http/cache_disk.h); only the
 * metadata (key, fields, times) stays in memory. Why this shape:
 * - One file per entry, named by the key's hash and 64 random bits: a new response for a key
 *   is a new file, so a file never changes once it has its name, and a reader with the file
 *   open (or about to open it: it holds a reference on the entry) is never disturbed.
 * - A response is written to a temporary file (".tmp-PID-...") in the directory and renamed
 *   to its name only when its body is complete: a partial entry never has a name, and the scan
 *   at start removes temporary files that a dead process left.
 * - A file is unlinked when its entry is dropped from the table (eviction, replacement, PURGE,
 *   invalidation) and its last reader lets it go: the entry's release unlinks it. Closing or
 *   freeing the store (reload, exit) keeps the files for the next store on the same directory.
 * - The index is rebuilt at start by a scan of the directory that reads each file's prefix and
 *   header only (never a body): work proportional to the number of entries. A file whose name,
 *   size, header or checksum is wrong is removed, not served. Files are charged by their size
 *   to max_size (`max_disk_size`); the least recently used are unlinked past it.
 * - No fsync: this is a cache. A process crash loses nothing renamed; a machine crash may
 *   leave a renamed file whose data never reached the disk, which the size and header checks
 *   catch when it is short or garbled (a body of zeros of the right length is not caught).
 * - No second copy in memory: the kernel's page cache is the hot tier, and bodies go to the
 *   client from the file (sendfile on cleartext HTTP/1).
 * - Files are opened, written, completed and renamed by the store's writer thread
 *   (http/cache_writer.h), never by a worker: the body's bytes are copied into its queue as
 *   they pass to the client. The queue is bounded (write_queue bytes): when it is full, the
 *   entry is given up (not stored) rather than the worker waiting for the disk. The writer
 *   inserts a completed entry into the table itself, then tells the caller (the cache's
 *   flight ends then, so that waiters find the entry). */
#ifndef TERN_HTTP_CACHE_STORE_H
#define TERN_HTTP_CACHE_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
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
    /* Disk store: the file (full path, in the pool; NULL: the body is in memory, or its file
     * is not complete yet) and where its body starts. */
    char *path;
    off_t body_off;
    bool writing; /* its file is being written: cache_store_file_begin, not yet committed */
    /* cache_store_entry_start was called: a removal of the key after it keeps e out */
    bool started;
    uint64_t start_seq;
    /* Store-private. The writer thread's: the temporary file being written (or -1), its
     * name, the name it gets when complete. */
    int wfd;
    char *tmp_path, *final_path;
    struct cache_store *wstore;
    atomic_uint refs;
    size_t size; /* bytes charged to the store */
    uint64_t hash;
    struct cache_entry *hnext;
    struct dlist_node lru;
    bool linked;
    bool keep_file; /* the store was closed or freed with it: its file stays for the next */
};

/* Does a stored variant e answer for the request described by ctx? */
typedef bool (*cache_match_fn)(const struct cache_entry *e, void *ctx);

struct cache_store;

/* A store holding at most max_size bytes of entries. NULL on OOM. */
struct cache_store *cache_store_new(size_t max_size);
/* A store whose entries live in files under dir (an existing, writable directory), at most
 * max_size bytes of them, with its index rebuilt from what dir holds now: files that are not
 * whole entries are removed, and of two files for one variant (Vary) the older. Its writer
 * thread queues at most write_queue bytes. NULL on OOM or when dir cannot be read. */
struct cache_store *cache_store_new_disk(const char *dir, size_t max_size, size_t write_queue);
/* A cache_match_fn for Vary (RFC 9111 §4.1): does e answer a request with the fields ctx (a
 * struct http_fields)? */
bool cache_entry_vary_match(const struct cache_entry *e, void *ctx);
/* Is s a disk store? */
bool cache_store_on_disk(const struct cache_store *s);
/* Disk store, on the writer thread (the calls only queue the work and never wait): a
 * temporary file for e (its key, status, fields and times final), with its prefix and header;
 * sets e->writing and e->body_len 0. 0, or -1 (queue full, OOM: nothing left behind). */
int cache_store_file_begin(struct cache_store *s, struct cache_entry *e);
/* Appends body bytes (copied) to e's file; e->body_len counts them at once. 0, or -1 when the
 * queue is full or memory ran out: e is to be given up, not committed. A write that fails on
 * the writer thread (a full disk) makes the commit fail instead. */
int cache_entry_file_append(struct cache_entry *e, const void *p, size_t n);
/* Appends the whole body of src (a disk entry) to e's file. 0 or -1 as above. */
int cache_entry_file_copy(struct cache_entry *e, const struct cache_entry *src);
/* Completes e's file (body length in the prefix), renames it into place (e->path) and inserts
 * e (cache_store_insert with cache_entry_vary_match on e->req_fields); then done(s, arg,
 * stored), on the writer thread (done may be NULL). e->writing is cleared at once. 0, or -1
 * when that could not be queued (done is not called; e is to be given up). */
int cache_store_file_commit(struct cache_store *s, struct cache_entry *e,
                            void (*done)(struct cache_store *s, void *arg, bool stored), void *arg);
/* Waits until the writes queued so far are done (tests). */
void cache_store_writes_wait(struct cache_store *s);

/* ---- Request collapsing across threads (handler/cache.c) ----
 * A flight is one upstream fetch of a key that other requests, on any worker thread, wait
 * for. The store keeps the flights in the air in a small table under its lock. A waiter is
 * known by its waker (an opaque pointer: the handler passes its worker's loop), and a flight
 * counts its waiters per waker, for at most CACHE_FLIGHT_WAKERS wakers. */
#define CACHE_FLIGHT_WAKERS 32
struct cache_flight {
    atomic_uint refs;
    atomic_bool done; /* the leader's answer is stored, or will not be */
    uint64_t hash;
    struct cache_flight *next;
    void *wakers[CACHE_FLIGHT_WAKERS];
    unsigned waiting[CACHE_FLIGHT_WAKERS];
    size_t key_len;
    char key[]; /* not NUL-terminated */
};
enum cache_flight_role {
    CACHE_FLIGHT_LEAD, /* no flight for the key: one was made, the caller fetches */
    CACHE_FLIGHT_WAIT, /* one is in the air: the caller waits for it */
    CACHE_FLIGHT_NONE, /* no collapsing (out of memory, too many wakers): fetch alone */
};
/* Leads or joins the flight of key; *out gets a reference (LEAD and WAIT). */
enum cache_flight_role cache_store_flight_join(struct cache_store *s, const char *key, size_t len,
                                               void *waker, struct cache_flight **out);
/* Is a fetch of key in the air? (stale-while-revalidate serves the stale entry meanwhile) */
bool cache_store_flight_busy(struct cache_store *s, const char *key, size_t len);
/* The leader is done: marks f done, takes it out of the table, calls wake(waker) under the
 * lock for every waker with waiters (which therefore cannot leave meanwhile), and drops the
 * leader's reference. */
void cache_store_flight_end(struct cache_store *s, struct cache_flight *f, void (*wake)(void *));
/* A waiter of waker stops waiting (woken, timed out or gone) and drops its reference. */
void cache_store_flight_leave(struct cache_store *s, struct cache_flight *f, void *waker);

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
 * max_size, the store is closed, or e's key was removed since cache_store_entry_start (not
 * inserted). */
int cache_store_insert(struct cache_store *s, struct cache_entry *e, cache_match_fn match,
                       void *ctx);
/* The response for e (its key set) is being fetched now: should its key be removed before
 * e is inserted (an unsafe method's invalidation, RFC 9111 §4.4, or a PURGE, while the body
 * still arrives or is still being written), cache_store_insert refuses e, so that the store
 * never holds what was invalidated after it was asked for. */
void cache_store_entry_start(struct cache_store *s, struct cache_entry *e);
/* Removes every variant of key (RFC 9111 §4.4). Returns how many. */
size_t cache_store_remove(struct cache_store *s, const char *key, size_t len);
/* Takes e alone out of the store (its other variants stay; not a removal of the key: fills in
 * progress are still inserted), when it is still in it. */
void cache_store_drop(struct cache_store *s, const struct cache_entry *e);
/* Empties the store and refuses later inserts (its configuration was replaced by a reload);
 * entries being read live on until their readers let go. A disk store's writer thread runs
 * what is queued and ends (the caller waits for it); later writes are refused. */
void cache_store_close(struct cache_store *s);
/* Bytes and entries held (for tests and metrics). */
void cache_store_usage(struct cache_store *s, size_t *bytes, size_t *entries);

/* What a store has done since it was made, for metrics: the responses of its location by
 * their Cache-Status (fresh hits, stale ones, misses that went upstream, bypasses), the
 * responses stored, and the entries evicted to make room. */
struct cache_stats {
    uint64_t hits, stale_hits, misses, bypasses, stores, evictions;
    size_t bytes, entries;
};
struct cache_status;
/* Counts a response of the store's location by its Cache-Status (lock-free). */
void cache_store_count(struct cache_store *s, const struct cache_status *st);
void cache_store_stats(struct cache_store *s, struct cache_stats *out);

#endif
