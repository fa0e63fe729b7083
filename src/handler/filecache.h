/* The static handler's per-worker open-file cache: resolved path -> open fd, stat, precomputed
 * validators and header strings, precompressed siblings, and on-the-fly compressed copies.
 * Entries are revalidated with fstatat at most once per second and are reference counted, so
 * an fd stays open while a response still reads from it even after eviction. */
#ifndef TERN_HANDLER_FILECACHE_H
#define TERN_HANDLER_FILECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "core/dlist.h"
#include "handler/static.h"
#include "http/date.h"
#include "http/etag.h"

/* Index of a content coding in per-coding arrays: gzip 0, br 1, zstd 2. */
#define FC_NCODINGS 3
static inline int fc_coding_index(int coding)
{
    return __builtin_ctz((unsigned)coding);
}

/* One selectable representation stored as a file: the identity file or a precompressed
 * sibling (file.br, file.zst, file.gz). */
struct fc_file {
    int fd; /* -1 when absent */
    struct stat st;
    char etag[HTTP_ETAG_MAX]; /* quoted strong tag; coded tags for siblings */
    size_t etag_len;
    char last_modified[HTTP_DATE_LEN + 1];
};

/* An on-the-fly compressed copy of a small file, or the bytes of a small identity file, kept
 * with the entry (malloc'd) so a hot small file costs no syscall at all. */
#define FC_BLOB_IDENTITY FC_NCODINGS
#define FC_SMALL_FILE    32768 /* identity files up to this size are kept in memory */
struct fc_blob {
    char *data;
    size_t len;
};

struct fc_entry {
    struct fc_file file; /* identity; fd is a directory fd when is_dir */
    bool is_dir;
    const char *content_type; /* from mime_type_for, static storage */
    bool compressible;        /* mime_is_compressible(content_type) */
    unsigned siblings;        /* HTTP_CODING_* mask of usable precompressed siblings */
    struct fc_file sibling[FC_NCODINGS];
    struct fc_blob blob[FC_NCODINGS + 1]; /* codings, then FC_BLOB_IDENTITY */
    /* ETags of the on-the-fly codings (filled for compressible regular files) */
    char coded_etag[FC_NCODINGS][HTTP_ETAG_MAX];
    size_t coded_etag_len[FC_NCODINGS];

    /* private to filecache.c */
    struct static_cache *cache; /* NULL once the cache is destroyed */
    char *key;
    size_t key_len;
    const char *rel;
    uint64_t hash;
    size_t root_index;
    struct fc_entry *hnext;
    struct dlist_node lru;
    struct stat sibling_seen[FC_NCODINGS]; /* what fstatat saw at load (usable siblings) */
    unsigned siblings_seen;                /* mask of siblings fstatat found usable at load */
    bool incomplete; /* a sibling failed for lack of resources: serve once, do not cache */
    int refs;
    bool cached;
    int64_t checked_ms;
};

/* Looks up (or opens and caches) rel under root. rel has no leading '/' ("." for the root).
 * beneath: refuse anything resolving outside root (see fsopen.h). precompressed: look for
 * siblings. Returns the entry with one reference for the caller (fc_entry_unref), or NULL with
 * *err set to an errno (EXDEV for an escape). */
struct fc_entry *fc_lookup(struct static_cache *cache, const char *root, bool beneath,
                           bool precompressed, const char *rel, int *err);
void fc_entry_unref(struct fc_entry *e);

/* Keeps a compressed copy in the entry when the cache's memory budget allows; takes ownership
 * of data (malloc'd) on success and returns true. */
bool fc_blob_store(struct fc_entry *e, int coding_index, char *data, size_t len);

/* The identity bytes of a small regular file (<= FC_SMALL_FILE), read once and kept with the
 * entry while the memory budget allows. NULL when not kept (serve from the fd instead). */
const struct fc_blob *fc_small_content(struct fc_entry *e);

/* A fresh value for a multipart boundary (per-worker counter mixed with time). */
uint64_t fc_unique(struct static_cache *cache);

#endif
