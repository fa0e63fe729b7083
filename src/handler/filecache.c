/* Per-worker open-file cache (no locks: one per worker thread). A hash table keyed by
 * (options, root, relative path) with an LRU list bounded by max_entries. An entry is trusted
 * for one second after its last check; then one fstatat (plus one per possible sibling)
 * compares device, inode, size, mtime and ctime, and any difference reloads it. */
#include "handler/filecache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/stats.h"
#include "handler/fsopen.h"
#include "http/mime.h"
#include "http/negotiate.h"

#define FC_RECHECK_MS  1000
#define FC_BLOB_BUDGET (32u << 20) /* bytes of on-the-fly compressed copies per worker */

struct fc_root {
    char *path;
    int fd;
    dev_t dev;
    ino_t ino;
    int64_t checked_ms;
};

struct static_cache {
    size_t max_entries;
    size_t count;
    struct fc_entry **buckets;
    size_t nbuckets;       /* power of two */
    struct dlist lru;      /* head: most recently used */
    struct fc_root *roots; /* grows: one per distinct root seen (every vhost may have one) */
    size_t n_roots, cap_roots;
    size_t blob_bytes;
    uint64_t counter;
};

/* Sibling order matches fc_coding_index: gzip, br, zstd. */
static const int fc_codings[FC_NCODINGS] = {HTTP_CODING_GZIP, HTTP_CODING_BR, HTTP_CODING_ZSTD};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct static_cache *static_cache_create(size_t max_entries)
{
    struct static_cache *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    /* Each entry holds up to four fds and every worker has a cache: stay well inside the
     * process's descriptor limit so accept() and upstream sockets keep working. */
    struct rlimit rl;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t cap = (size_t)rl.rlim_cur / (4 * (size_t)(cpus > 0 ? cpus : 1));
        if (cap < 16) cap = 16;
        if (max_entries > cap) max_entries = cap;
    }
    c->max_entries = max_entries;
    c->nbuckets = 16;
    while (c->nbuckets < max_entries * 2 && c->nbuckets < (1u << 24))
        c->nbuckets <<= 1;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->counter = (uint64_t)now_ms() ^ ((uint64_t)(uintptr_t)c << 16);
    return c;
}

static void file_close(struct fc_file *f)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
}

static void entry_free(struct fc_entry *e)
{
    file_close(&e->file);
    for (int i = 0; i < FC_NCODINGS; i++)
        file_close(&e->sibling[i]);
    for (int i = 0; i <= FC_BLOB_IDENTITY; i++)
        free(e->blob[i].data);
    free(e->key);
    free(e);
}

void fc_entry_unref(struct fc_entry *e)
{
    if (e && --e->refs == 0) entry_free(e);
}

#define LRU_TAIL(c) ((c)->lru.tail ? DLIST_ENTRY((c)->lru.tail, struct fc_entry, lru) : NULL)

/* Takes e out of the table and the LRU and drops the cache's reference. */
static void entry_remove(struct static_cache *c, struct fc_entry *e)
{
    struct fc_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp) *pp = e->hnext;
    dlist_remove(&c->lru, &e->lru);
    for (int i = 0; i <= FC_BLOB_IDENTITY; i++)
        c->blob_bytes -= e->blob[i].len;
    e->cached = false;
    e->cache = NULL; /* in-flight responses may keep e alive after the cache is gone */
    c->count--;
    fc_entry_unref(e);
}

void static_cache_destroy(struct static_cache *c)
{
    if (!c) return;
    while (c->lru.head) {
        struct fc_entry *e = DLIST_ENTRY(c->lru.head, struct fc_entry, lru);
        entry_remove(c, e);
        /* entries still referenced by in-flight responses live on without their cache */
    }
    for (size_t i = 0; i < c->n_roots; i++) {
        close(c->roots[i].fd);
        free(c->roots[i].path);
    }
    free(c->roots);
    free(c->buckets);
    free(c);
}

/* The root directory fd for a path, reopened when the directory behind the path changed. */
static int root_get(struct static_cache *c, const char *path, int64_t now, size_t *index)
{
    size_t i = 0;
    while (i < c->n_roots && strcmp(c->roots[i].path, path) != 0)
        i++;
    if (i < c->n_roots && now - c->roots[i].checked_ms < FC_RECHECK_MS) {
        *index = i;
        return c->roots[i].fd;
    }
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    if (i < c->n_roots) {
        struct fc_root *r = &c->roots[i];
        *index = i;
        if (r->dev != st.st_dev || r->ino != st.st_ino) {
            int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0) return -1; /* not marked checked: the next request tries again */
            close(r->fd);
            r->fd = fd;
            r->dev = st.st_dev;
            r->ino = st.st_ino;
        }
        r->checked_ms = now;
        return r->fd;
    }
    if (c->n_roots == c->cap_roots) {
        size_t cap = c->cap_roots ? 2 * c->cap_roots : 8;
        struct fc_root *r = realloc(c->roots, cap * sizeof(*r));
        if (!r) return -1; /* errno ENOMEM */
        c->roots = r;
        c->cap_roots = cap;
    }
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat fst;
    if (fstat(fd, &fst) < 0 || !(c->roots[i].path = strdup(path))) {
        close(fd);
        return -1;
    }
    c->roots[i].fd = fd;
    c->roots[i].dev = fst.st_dev;
    c->roots[i].ino = fst.st_ino;
    c->roots[i].checked_ms = now;
    c->n_roots++;
    *index = i;
    return fd;
}

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static bool same_version(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec &&
           a->st_mode == b->st_mode;
}

/* A sibling counts only when it is a regular file at least as new as the original: an older
 * one is probably stale (the original was edited, the .gz not rebuilt). */
static bool sibling_usable(const struct stat *sib, const struct stat *orig)
{
    return S_ISREG(sib->st_mode) && mtime_ns(sib) >= mtime_ns(orig);
}

static int sibling_path(char *out, size_t cap, const char *rel, int coding)
{
    const char *suf = http_coding_suffix((enum http_coding)coding);
    size_t rl = strlen(rel), sl = strlen(suf);
    if (rl + sl + 1 > cap) return -1;
    memcpy(out, rel, rl);
    memcpy(out + rl, suf, sl + 1);
    return 0;
}

/* One fstatat per file: true when everything the entry was built from is unchanged. Siblings
 * are compared with what fstatat saw at load time, so a sibling refused by the open (say, a
 * symlink out of the root) does not force a reload every second. */
static bool entry_still_valid(const struct fc_entry *e, int rootfd, bool precompressed)
{
    struct stat st;
    if (fstatat(rootfd, e->rel, &st, 0) < 0 || !same_version(&st, &e->file.st)) return false;
    if (!precompressed || e->is_dir) return true;
    char path[PATH_MAX];
    for (int i = 0; i < FC_NCODINGS; i++) {
        if (sibling_path(path, sizeof(path), e->rel, fc_codings[i]) < 0)
            return true; /* no sibling could exist */
        bool usable = fstatat(rootfd, path, &st, 0) == 0 && sibling_usable(&st, &e->file.st);
        bool had = e->siblings_seen & (unsigned)fc_codings[i];
        if (usable != had || (had && !same_version(&st, &e->sibling_seen[i]))) return false;
    }
    return true;
}

static void file_validators(struct fc_file *f, const char *coding)
{
    if (coding)
        f->etag_len = http_etag_make_coded(f->etag, mtime_ns(&f->st), (int64_t)f->st.st_size,
                                           (uint64_t)f->st.st_ino, coding);
    else
        f->etag_len = http_etag_make(f->etag, mtime_ns(&f->st), (int64_t)f->st.st_size,
                                     (uint64_t)f->st.st_ino);
    http_date_format(f->st.st_mtim.tv_sec, f->last_modified);
}

/* Records what fstatat sees of each sibling (the revalidation compares against it), then opens
 * the usable ones. A sibling that could not be opened for lack of resources leaves the entry
 * incomplete, so it is served once but not cached. */
static void load_siblings(struct fc_entry *e, int rootfd, const char *root, bool beneath)
{
    char path[PATH_MAX];
    for (int i = 0; i < FC_NCODINGS; i++) {
        if (sibling_path(path, sizeof(path), e->rel, fc_codings[i]) < 0) return;
        struct stat seen;
        if (fstatat(rootfd, path, &seen, 0) < 0) {
            if (fsopen_resource_error(errno)) e->incomplete = true;
            continue;
        }
        if (!sibling_usable(&seen, &e->file.st)) continue;
        e->siblings_seen |= (unsigned)fc_codings[i];
        e->sibling_seen[i] = seen;
        int fd = fsopen_beneath(rootfd, root, path, beneath);
        if (fd < 0) {
            if (fsopen_resource_error(errno)) e->incomplete = true;
            continue;
        }
        struct fc_file *s = &e->sibling[i];
        if (fstat(fd, &s->st) < 0 || !sibling_usable(&s->st, &e->file.st)) {
            close(fd);
            continue;
        }
        s->fd = fd;
        file_validators(s, http_coding_name((enum http_coding)fc_codings[i]));
        e->siblings |= (unsigned)fc_codings[i];
    }
}

static struct fc_entry *entry_open(int rootfd, const char *root, bool beneath, bool precompressed,
                                   const char *key, size_t key_len, size_t rel_off, int *err)
{
    struct fc_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->key = malloc(key_len))) {
        free(e);
        *err = ENOMEM;
        return NULL;
    }
    memcpy(e->key, key, key_len);
    e->key_len = key_len;
    e->rel = e->key + rel_off;
    e->file.fd = -1;
    for (int i = 0; i < FC_NCODINGS; i++)
        e->sibling[i].fd = -1;
    e->refs = 1;

    e->file.fd = fsopen_beneath(rootfd, root, e->rel, beneath);
    if (e->file.fd < 0 || fstat(e->file.fd, &e->file.st) < 0) goto fail;
    if (S_ISDIR(e->file.st.st_mode)) {
        e->is_dir = true;
        return e;
    }
    if (!S_ISREG(e->file.st.st_mode)) {
        errno = ENOENT; /* FIFOs, sockets, devices: not something to serve */
        goto fail;
    }
    file_validators(&e->file, NULL);
    const char *name = strrchr(e->rel, '/');
    name = name ? name + 1 : e->rel;
    e->content_type = mime_type_for(name, strlen(name));
    e->compressible = mime_is_compressible(e->content_type);
    if (e->compressible)
        for (int i = 0; i < FC_NCODINGS; i++)
            e->coded_etag_len[i] = http_etag_make_coded(
                e->coded_etag[i], mtime_ns(&e->file.st), (int64_t)e->file.st.st_size,
                (uint64_t)e->file.st.st_ino, http_coding_name((enum http_coding)fc_codings[i]));
    if (precompressed) load_siblings(e, rootfd, root, beneath);
    return e;
fail:
    *err = errno ? errno : EIO;
    entry_free(e);
    return NULL;
}

struct fc_entry *fc_lookup(struct static_cache *c, const char *root, bool beneath,
                           bool precompressed, const char *rel, int *err)
{
    int64_t now = now_ms();
    size_t root_index;
    int rootfd = root_get(c, root, now, &root_index);
    if (rootfd < 0) {
        *err = errno;
        return NULL;
    }
    /* key: option byte, root, NUL, rel (no NUL in either: they come from C strings) */
    size_t root_len = strlen(root), rel_len = strlen(rel);
    size_t key_len = 1 + root_len + 1 + rel_len + 1;
    char stack_key[512];
    char *key = key_len <= sizeof(stack_key) ? stack_key : malloc(key_len);
    if (!key) {
        *err = ENOMEM;
        return NULL;
    }
    key[0] = (char)('0' + (beneath ? 1 : 0) + (precompressed ? 2 : 0));
    memcpy(key + 1, root, root_len + 1);
    memcpy(key + 2 + root_len, rel, rel_len + 1);
    uint64_t h = hash_fnv1a(key, key_len);

    struct fc_entry *e = c->buckets[h & (c->nbuckets - 1)];
    while (e && !(e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len) == 0))
        e = e->hnext;
    if (e && now - e->checked_ms >= FC_RECHECK_MS) {
        if (e->root_index == root_index && entry_still_valid(e, rootfd, precompressed)) {
            e->checked_ms = now;
        } else {
            entry_remove(c, e);
            e = NULL;
        }
    }
    if (e) {
        STATS_INC(filecache_hits);
        dlist_remove(&c->lru, &e->lru);
        dlist_push_front(&c->lru, &e->lru);
        e->refs++;
        if (key != stack_key) free(key);
        return e;
    }

    STATS_INC(filecache_misses);
    e = entry_open(rootfd, root, beneath, precompressed, key, key_len, 2 + root_len, err);
    if (!e && (*err == EMFILE || *err == ENFILE) && c->count) {
        /* out of descriptors: give back the least recently used ones and try once more */
        for (int i = 0; i < 32 && c->lru.tail; i++)
            entry_remove(c, LRU_TAIL(c));
        e = entry_open(rootfd, root, beneath, precompressed, key, key_len, 2 + root_len, err);
    }
    if (key != stack_key) free(key);
    if (!e) return NULL; /* failures are never cached: the next request tries again */
    e->hash = h;
    e->root_index = root_index;
    e->checked_ms = now;
    if (c->max_entries == 0 || e->incomplete)
        return e; /* not cached: the caller's reference is the only one */
    while (c->count >= c->max_entries && c->lru.tail)
        entry_remove(c, LRU_TAIL(c));
    e->cache = c;
    e->cached = true;
    e->refs++;
    struct fc_entry **b = &c->buckets[h & (c->nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    dlist_push_front(&c->lru, &e->lru);
    c->count++;
    return e;
}

bool fc_blob_store(struct fc_entry *e, int coding_index, char *data, size_t len)
{
    struct static_cache *c = e->cache;
    if (!c || !e->cached || e->blob[coding_index].data || c->blob_bytes + len > FC_BLOB_BUDGET)
        return false;
    e->blob[coding_index].data = data;
    e->blob[coding_index].len = len;
    c->blob_bytes += len;
    return true;
}

const struct fc_blob *fc_small_content(struct fc_entry *e)
{
    struct fc_blob *b = &e->blob[FC_BLOB_IDENTITY];
    if (b->data) return b;
    if (e->is_dir || !S_ISREG(e->file.st.st_mode) || e->file.st.st_size <= 0 ||
        e->file.st.st_size > FC_SMALL_FILE || !e->cached)
        return NULL;
    size_t size = (size_t)e->file.st.st_size;
    char *data = malloc(size);
    if (!data) return NULL;
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(e->file.fd, data + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    if (got != size || !fc_blob_store(e, FC_BLOB_IDENTITY, data, size)) {
        free(data);
        return NULL;
    }
    return b;
}

uint64_t fc_unique(struct static_cache *c)
{
    uint64_t x = ++c->counter * 0x9e3779b97f4a7c15ull;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    x ^= (uint64_t)ts.tv_nsec * 0xbf58476d1ce4e5b9ull ^ (uint64_t)ts.tv_sec;
    x ^= x >> 31;
    return x;
}
