/* The caching proxy's shared store: chained hash table, LRU list, reference counts; for a disk
 * store, the entry files under its directory (the design: http/cache_store.h). */
#include "http/cache_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/refcount.h"
#include "http/cache_disk.h"
#include "http/cache_rules.h"
#include "http/cache_writer.h"

#define REMOVED_SLOTS 256 /* removal numbers kept, by key hash */

struct cache_store {
    pthread_mutex_t lock;
    struct cache_entry **buckets;
    size_t n_buckets; /* a power of two */
    size_t max_size, bytes, entries;
    bool closed;
    struct dlist lru;                 /* head: most recently used */
    char *dir;                        /* a disk store's directory, or NULL */
    struct cache_writer *writer;      /* a disk store's writer thread */
    struct cache_flight *flights[64]; /* fetches in the air, by key hash */
    /* How many removals there were, and by key hash (modulo REMOVED_SLOTS) the number of the
     * last one: an entry whose fetch started before a removal of its key is not inserted after
     * it (a hash sharing the slot only keeps one fill out of the store). */
    uint64_t removed_seq[REMOVED_SLOTS];
    uint64_t n_removed;
    /* cache_stats' counters, counted without the lock */
    atomic_uint_fast64_t hits, stale_hits, misses, bypasses, stores, evictions;
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
    e->wfd = -1;
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
    if (e->wfd >= 0) { /* given up while being written */
        close(e->wfd);
        unlink(e->tmp_path);
    }
    if (e->path && !e->keep_file) unlink(e->path); /* dropped from its store, and unread */
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

/* Links e in (the table takes its own reference) in place of the variants of its key that match
 * accepts, then evicts to fit. keep_newer (the scan): a matching variant that is as new as e
 * stays and e is dropped instead. Under the lock; what is dropped goes to *dead. */
static void insert_locked(struct cache_store *s, struct cache_entry *e, cache_match_fn match,
                          void *ctx, bool keep_newer, struct cache_entry **dead)
{
    cache_entry_ref(e);
    struct cache_entry **pp = &s->buckets[e->hash & (s->n_buckets - 1)];
    while (*pp) {
        if (same_key(*pp, e->hash, e->key, e->key_len) && (!match || match(*pp, ctx))) {
            if (keep_newer && (*pp)->response_time >= e->response_time) {
                e->hnext = *dead;
                *dead = e;
                return;
            }
            unlink_entry(s, pp, dead);
        } else {
            pp = &(*pp)->hnext;
        }
    }
    struct cache_entry **head = &s->buckets[e->hash & (s->n_buckets - 1)];
    e->hnext = *head;
    *head = e;
    e->linked = true;
    dlist_push_front(&s->lru, &e->lru);
    s->bytes += e->size;
    s->entries++;
    struct cache_entry *old;
    while (s->bytes > s->max_size &&
           (old = DLIST_ENTRY(s->lru.tail, struct cache_entry, lru)) != e) {
        unlink_entry(s, find_slot(s, old), dead);
        atomic_fetch_add_explicit(&s->evictions, 1, memory_order_relaxed);
    }
}

/* Was e's key removed since its fetch started (cache_store_entry_start)? Under the lock. */
static bool removed_since(const struct cache_store *s, const struct cache_entry *e)
{
    return s->removed_seq[e->hash % REMOVED_SLOTS] > e->start_seq;
}

void cache_store_entry_start(struct cache_store *s, struct cache_entry *e)
{
    pthread_mutex_lock(&s->lock);
    e->start_seq = s->n_removed;
    pthread_mutex_unlock(&s->lock);
    e->started = true;
}

int cache_store_insert(struct cache_store *s, struct cache_entry *e, cache_match_fn match,
                       void *ctx)
{
    /* a disk entry is charged its file's size, set when the file was made */
    if (!e->path) e->size = sizeof(*e) + pool_used(e->pool) + e->body_len;
    if (e->size > s->max_size) return -1;
    struct cache_entry *dead = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->closed || (e->started && removed_since(s, e))) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    insert_locked(s, e, match, ctx, false, &dead);
    pthread_mutex_unlock(&s->lock);
    release_all(dead); /* frees (and unlinks) outside the lock */
    return 0;
}

size_t cache_store_remove(struct cache_store *s, const char *key, size_t len)
{
    uint64_t h = hash_fnv1a(key, len);
    struct cache_entry *dead = NULL;
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    s->removed_seq[h % REMOVED_SLOTS] = ++s->n_removed;
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

void cache_store_drop(struct cache_store *s, const struct cache_entry *e)
{
    struct cache_entry *dead = NULL, *mine = (struct cache_entry *)e; /* readers hold it const */
    pthread_mutex_lock(&s->lock);
    if (mine->linked) unlink_entry(s, find_slot(s, mine), &dead);
    pthread_mutex_unlock(&s->lock);
    release_all(dead);
}

void cache_store_close(struct cache_store *s)
{
    struct cache_entry *dead = NULL;
    pthread_mutex_lock(&s->lock);
    s->closed = true;
    while (s->lru.tail) {
        struct cache_entry *e = DLIST_ENTRY(s->lru.tail, struct cache_entry, lru);
        e->keep_file = true; /* for the next store on the directory (a reload) */
        unlink_entry(s, find_slot(s, e), &dead);
    }
    pthread_mutex_unlock(&s->lock);
    release_all(dead);
    /* a reload keeps the old configuration (and its stores) until exit: its writer thread
     * ends now, after what is queued (commits meet the closed table: not stored) */
    if (s->writer) cache_writer_stop(s->writer);
}

void cache_store_count(struct cache_store *s, const struct cache_status *st)
{
    atomic_uint_fast64_t *c = st->hit && st->has_ttl && st->ttl < 0 ? &s->stale_hits
                              : st->hit                             ? &s->hits
                              : st->fwd == CACHE_FWD_BYPASS || st->fwd == CACHE_FWD_METHOD
                                  ? &s->bypasses
                                  : &s->misses;
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    if (st->stored) atomic_fetch_add_explicit(&s->stores, 1, memory_order_relaxed);
}

void cache_store_stats(struct cache_store *s, struct cache_stats *out)
{
    out->hits = atomic_load_explicit(&s->hits, memory_order_relaxed);
    out->stale_hits = atomic_load_explicit(&s->stale_hits, memory_order_relaxed);
    out->misses = atomic_load_explicit(&s->misses, memory_order_relaxed);
    out->bypasses = atomic_load_explicit(&s->bypasses, memory_order_relaxed);
    out->stores = atomic_load_explicit(&s->stores, memory_order_relaxed);
    out->evictions = atomic_load_explicit(&s->evictions, memory_order_relaxed);
    cache_store_usage(s, &out->bytes, &out->entries);
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
    cache_writer_free(s->writer); /* the queued writes first: a commit inserts into s */
    struct dlist_node *n = s->lru.head;
    while (n) {
        struct dlist_node *next = n->next;
        struct cache_entry *e = DLIST_ENTRY(n, struct cache_entry, lru);
        e->keep_file = true;
        cache_entry_release(e);
        n = next;
    }
    pthread_mutex_destroy(&s->lock);
    free(s->dir);
    free(s->buckets);
    free(s);
}

/* ---- the disk store ---- */

bool cache_store_on_disk(const struct cache_store *s)
{
    return s->dir != NULL;
}

static uint64_t random64(void)
{
    uint64_t r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r)) return r;
    static atomic_uint_fast64_t seq;
    return hash_fnv1a_more((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32),
                           &(uint_fast64_t){atomic_fetch_add(&seq, 1)}, sizeof(uint_fast64_t));
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- the writer thread's jobs (http/cache_writer.h) ---- */

enum file_op { OP_BEGIN, OP_DATA, OP_COPY, OP_COMMIT };

struct file_job {
    struct cache_writer_job job;
    enum file_op op;
    struct cache_entry *e;                                       /* a reference */
    struct cache_entry *src;                                     /* OP_COPY: a reference */
    void (*done)(struct cache_store *s, void *arg, bool stored); /* OP_COMMIT */
    void *arg;
    size_t len;
    char data[]; /* OP_BEGIN: the prefix and header; OP_DATA: body bytes */
};

/* A write failed: the file goes, the entry will not be committed. */
static void file_fail(struct cache_entry *e, const char *path)
{
    log_warn("cache: %s: %s: the response is not stored", path, strerror(errno));
    if (e->wfd >= 0) {
        close(e->wfd);
        unlink(e->tmp_path);
    }
    e->wfd = -1;
}

static void copy_body(struct cache_entry *e, const struct cache_entry *src)
{
    int in = open(src->path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        file_fail(e, src->path);
        return;
    }
    char buf[16384];
    off_t off = src->body_off;
    size_t left = src->body_len;
    while (left) {
        ssize_t r = pread(in, buf, left < sizeof(buf) ? left : sizeof(buf), off);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) errno = EIO; /* shorter than its prefix said */
        if (r <= 0 || write_all(e->wfd, buf, (size_t)r) < 0) {
            file_fail(e, r <= 0 ? src->path : e->tmp_path);
            break;
        }
        off += r;
        left -= (size_t)r;
    }
    close(in);
}

/* Completes e's file and renames it into place; true when e->path is set. */
static bool file_complete(struct cache_entry *e)
{
    if (e->wfd < 0) return false;
    char prefix[CACHE_DISK_PREFIX] = {0};
    cache_disk_set_body_len(prefix, e->body_len);
    /* the body length is the prefix's bytes 16..23 (http/cache_disk.h) */
    int fd = e->wfd;
    e->wfd = -1;
    ssize_t w = pwrite(fd, prefix + 16, 8, 16);
    if (w != 8) {
        if (w >= 0) errno = ENOSPC;
        log_warn("cache: %s: %s: the response is not stored", e->tmp_path, strerror(errno));
        close(fd);
        unlink(e->tmp_path);
        return false;
    }
    if (close(fd) < 0 || rename(e->tmp_path, e->final_path) < 0) {
        log_warn("cache: %s: %s: the response is not stored", e->tmp_path, strerror(errno));
        unlink(e->tmp_path);
        return false;
    }
    e->path = e->final_path;
    e->size = (size_t)e->body_off + e->body_len;
    return true;
}

static void file_job_run(struct cache_writer_job *job)
{
    struct file_job *j = (struct file_job *)job;
    struct cache_entry *e = j->e;
    switch (j->op) {
    case OP_BEGIN:
        e->wfd = open(e->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (e->wfd < 0 || write_all(e->wfd, j->data, j->len) < 0) file_fail(e, e->tmp_path);
        break;
    case OP_DATA:
        if (e->wfd >= 0 && write_all(e->wfd, j->data, j->len) < 0) file_fail(e, e->tmp_path);
        break;
    case OP_COPY:
        if (e->wfd >= 0) copy_body(e, j->src);
        break;
    case OP_COMMIT: {
        struct cache_store *s = e->wstore;
        bool stored = file_complete(e) &&
                      cache_store_insert(s, e, cache_entry_vary_match, &e->req_fields) == 0;
        if (j->done) j->done(s, j->arg, stored);
        break;
    }
    }
    cache_entry_release(j->src);
    cache_entry_release(e); /* perhaps the last: an entry given up closes and unlinks its file */
    free(j);
}

/* A job for e of op with n bytes of data (copied from p when not NULL); NULL on OOM. */
static struct file_job *file_job_new(struct cache_entry *e, enum file_op op, const void *p,
                                     size_t n)
{
    struct file_job *j = malloc(sizeof(*j) + n);
    if (!j) return NULL;
    *j = (struct file_job){{NULL, n, file_job_run}, op, e, NULL, NULL, NULL, n};
    if (p && n) memcpy(j->data, p, n);
    return j;
}

static int file_job_submit(struct cache_entry *e, struct file_job *j)
{
    cache_entry_ref(e);
    if (j->src) cache_entry_ref(j->src);
    if (cache_writer_submit(e->wstore->writer, &j->job)) return 0;
    log_warn("cache: the disk writer's queue is full (write_queue): the response for %.*s "
             "is not stored",
             (int)(e->key_len < 200 ? e->key_len : 200), e->key);
    cache_entry_release(j->src);
    cache_entry_release(e);
    free(j);
    return -1;
}

int cache_store_file_begin(struct cache_store *s, struct cache_entry *e)
{
    e->tmp_path =
        pool_printf(e->pool, NULL, "%s/.tmp-%ld-%016" PRIx64, s->dir, (long)getpid(), random64());
    e->final_path =
        pool_printf(e->pool, NULL, "%s/%016" PRIx64 "-%016" PRIx64, s->dir, e->hash, random64());
    if (!e->tmp_path || !e->final_path) return -1;
    struct buf b = {0};
    struct file_job *j = NULL;
    if (cache_disk_encode(&b, e) < 0 ||
        !(j = file_job_new(e, OP_BEGIN, buf_ptr(&b), buf_size(&b)))) {
        buf_free(&b);
        return -1;
    }
    e->body_off = (off_t)buf_size(&b);
    e->body_len = 0;
    e->wstore = s;
    buf_free(&b);
    if (file_job_submit(e, j) < 0) return -1;
    e->writing = true;
    return 0;
}

int cache_entry_file_append(struct cache_entry *e, const void *p, size_t n)
{
    if (!e->writing) return -1;
    if (n == 0) return 0;
    struct file_job *j = file_job_new(e, OP_DATA, p, n);
    if (!j || file_job_submit(e, j) < 0) {
        e->writing = false; /* given up: nothing more goes to the writer for it */
        return -1;
    }
    e->body_len += n;
    return 0;
}

int cache_entry_file_copy(struct cache_entry *e, const struct cache_entry *src)
{
    if (!e->writing) return -1;
    struct file_job *j = file_job_new(e, OP_COPY, NULL, 0);
    if (j) j->src = (struct cache_entry *)src;
    if (!j || file_job_submit(e, j) < 0) {
        e->writing = false;
        return -1;
    }
    e->body_len = src->body_len;
    return 0;
}

int cache_store_file_commit(struct cache_store *s, struct cache_entry *e,
                            void (*done)(struct cache_store *s, void *arg, bool stored), void *arg)
{
    (void)s;
    if (!e->writing) return -1;
    e->writing = false;
    struct file_job *j = file_job_new(e, OP_COMMIT, NULL, 0);
    if (!j) return -1;
    j->done = done;
    j->arg = arg;
    return file_job_submit(e, j);
}

void cache_store_writes_wait(struct cache_store *s)
{
    if (s->writer) cache_writer_drain(s->writer);
}

/* An entry file's name: the key's hash and a random part, 16 hex digits each. */
static bool entry_name(const char *n, uint64_t *hash)
{
    if (strlen(n) != 33 || n[16] != '-') return false;
    for (size_t i = 0; i < 33; i++)
        if (i != 16 && !((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
            return false;
    *hash = strtoull(n, NULL, 16);
    return true;
}

/* The entry stored in dir's file n (name checked), or NULL when it is not a whole one. */
static struct cache_entry *load(struct cache_store *s, int dfd, const char *n, uint64_t hash)
{
    int fd = openat(dfd, n, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return NULL;
    struct cache_entry *e = NULL;
    char prefix[CACHE_DISK_PREFIX], *head = NULL;
    size_t head_len;
    uint64_t body_len;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        pread(fd, prefix, sizeof(prefix), 0) != (ssize_t)sizeof(prefix) ||
        cache_disk_parse_prefix(prefix, sizeof(prefix), &head_len, &body_len) < 0 ||
        (uint64_t)st.st_size != CACHE_DISK_PREFIX + head_len + body_len ||
        !(head = malloc(head_len)) ||
        pread(fd, head, head_len, CACHE_DISK_PREFIX) != (ssize_t)head_len ||
        !(e = cache_entry_new()))
        goto fail;
    if (cache_disk_decode(e, prefix, head, head_len) < 0 || e->hash != hash ||
        !(e->path = pool_printf(e->pool, NULL, "%s/%s", s->dir, n)))
        goto fail;
    e->body_off = (off_t)(CACHE_DISK_PREFIX + head_len);
    e->body_len = (size_t)body_len;
    e->size = (size_t)st.st_size;
    free(head);
    close(fd);
    return e;
fail:
    if (e) e->path = NULL; /* the caller removes the file */
    cache_entry_release(e);
    free(head);
    close(fd);
    return NULL;
}

/* Rebuilds the index from dir: whole entry files go in, in the directory's order (which is
 * then the order of eviction: recency of use is not kept across restarts), and the others of
 * tern's naming are removed. */
static int scan(struct cache_store *s)
{
    DIR *d = opendir(s->dir);
    if (!d) return -1;
    int dfd = dirfd(d);
    long me = (long)getpid();
    size_t kept = 0, removed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        uint64_t hash;
        if (strncmp(n, ".tmp-", 5) == 0) {
            /* a partial entry of a process that is gone (ours are being written) */
            if (strtol(n + 5, NULL, 10) != me && unlinkat(dfd, n, 0) == 0) removed++;
            continue;
        }
        if (!entry_name(n, &hash)) continue; /* not tern's: left alone */
        struct cache_entry *e = load(s, dfd, n, hash);
        if (!e) {
            log_warn("cache: %s/%s is not a whole stored response: removed", s->dir, n);
            if (unlinkat(dfd, n, 0) == 0) removed++;
            continue;
        }
        struct cache_entry *dead = NULL;
        pthread_mutex_lock(&s->lock);
        if (e->size <= s->max_size) {
            insert_locked(s, e, cache_entry_vary_match, &e->req_fields, true, &dead);
            kept++;
        } else {
            e->hnext = dead;
            dead = e;
            cache_entry_ref(e);
        }
        pthread_mutex_unlock(&s->lock);
        release_all(dead);
        cache_entry_release(e);
    }
    closedir(d);
    log_info("cache: %s: %zu stored response(s) found, %zu file(s) removed", s->dir, kept, removed);
    return 0;
}

bool cache_entry_vary_match(const struct cache_entry *e, void *ctx)
{
    return cache_vary_match(&e->fields, &e->req_fields, ctx);
}

struct cache_store *cache_store_new_disk(const char *dir, size_t max_size, size_t write_queue)
{
    struct cache_store *s = cache_store_new(max_size);
    if (!s) return NULL;
    if (!(s->dir = strdup(dir)) || !(s->writer = cache_writer_new(write_queue)) || scan(s) < 0) {
        cache_store_free(s);
        return NULL;
    }
    return s;
}

/* ---- flights ---- */

static void flight_put(struct cache_flight *f)
{
    if (refcount_put(&f->refs)) free(f);
}

static struct cache_flight **flight_slot(struct cache_store *s, uint64_t h, const char *key,
                                         size_t len)
{
    struct cache_flight **pp = &s->flights[h & 63];
    while (*pp && !((*pp)->hash == h && (*pp)->key_len == len && memcmp((*pp)->key, key, len) == 0))
        pp = &(*pp)->next;
    return pp;
}

enum cache_flight_role cache_store_flight_join(struct cache_store *s, const char *key, size_t len,
                                               void *waker, struct cache_flight **out)
{
    uint64_t h = hash_fnv1a(key, len);
    enum cache_flight_role role = CACHE_FLIGHT_NONE;
    *out = NULL;
    pthread_mutex_lock(&s->lock);
    struct cache_flight **pp = flight_slot(s, h, key, len), *f = *pp;
    if (f) {
        size_t i, free_i = CACHE_FLIGHT_WAKERS;
        for (i = 0; i < CACHE_FLIGHT_WAKERS && f->wakers[i] != waker; i++)
            if (!f->waiting[i] && free_i == CACHE_FLIGHT_WAKERS) free_i = i;
        if (i == CACHE_FLIGHT_WAKERS && (i = free_i) < CACHE_FLIGHT_WAKERS) f->wakers[i] = waker;
        if (i < CACHE_FLIGHT_WAKERS) {
            f->waiting[i]++;
            refcount_get(&f->refs);
            *out = f;
            role = CACHE_FLIGHT_WAIT;
        }
    } else if ((f = calloc(1, sizeof(*f) + len))) {
        atomic_init(&f->refs, 1);
        atomic_init(&f->done, false);
        f->hash = h;
        f->key_len = len;
        memcpy(f->key, key, len);
        *pp = f;
        *out = f;
        role = CACHE_FLIGHT_LEAD;
    }
    pthread_mutex_unlock(&s->lock);
    return role;
}

bool cache_store_flight_busy(struct cache_store *s, const char *key, size_t len)
{
    pthread_mutex_lock(&s->lock);
    bool busy = *flight_slot(s, hash_fnv1a(key, len), key, len) != NULL;
    pthread_mutex_unlock(&s->lock);
    return busy;
}

void cache_store_flight_end(struct cache_store *s, struct cache_flight *f, void (*wake)(void *))
{
    pthread_mutex_lock(&s->lock);
    struct cache_flight **pp = flight_slot(s, f->hash, f->key, f->key_len);
    if (*pp == f) *pp = f->next;
    atomic_store(&f->done, true);
    for (size_t i = 0; i < CACHE_FLIGHT_WAKERS; i++)
        if (f->waiting[i]) wake(f->wakers[i]);
    pthread_mutex_unlock(&s->lock);
    flight_put(f);
}

void cache_store_flight_leave(struct cache_store *s, struct cache_flight *f, void *waker)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < CACHE_FLIGHT_WAKERS; i++)
        if (f->wakers[i] == waker && f->waiting[i]) {
            f->waiting[i]--;
            break;
        }
    pthread_mutex_unlock(&s->lock);
    flight_put(f);
}
