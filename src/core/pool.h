/* Arena memory pools: many small allocations freed at once (per connection, per request). */
#ifndef TERN_CORE_POOL_H
#define TERN_CORE_POOL_H

#include <stddef.h>

#include "core/str.h"

struct pool;

/* Creates a pool whose blocks are at least block_size bytes. Returns NULL on OOM. */
struct pool *pool_create(size_t block_size);
/* 16-byte aligned memory valid until pool_reset/pool_destroy. Returns NULL on OOM. */
void *pool_alloc(struct pool *pool, size_t size);
/* Zeroed pool_alloc. */
void *pool_calloc(struct pool *pool, size_t size);
/* NUL-terminated copy of len bytes. */
char *pool_strndup(struct pool *pool, const char *s, size_t len);
/* printf into the pool; returns NUL-terminated string, length in *len_out if non-NULL. */
char *pool_printf(struct pool *pool, size_t *len_out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Registers fn(arg) to run (last registered first) at pool_reset or pool_destroy. */
int pool_on_cleanup(struct pool *pool, void (*fn)(void *), void *arg);
/* Runs cleanups and frees everything but the first block, ready for reuse. */
void pool_reset(struct pool *pool);
/* Runs cleanups and frees the pool. NULL is allowed. */
void pool_destroy(struct pool *pool);
/* Bytes handed out since the last reset (for limits and metrics). */
size_t pool_used(const struct pool *pool);

#endif
