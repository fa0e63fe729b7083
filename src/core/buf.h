/* Growable heap byte buffer with a consumed-prefix offset (cheap consume from the front). */
#ifndef TERN_CORE_BUF_H
#define TERN_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *data;   /* allocation */
    size_t start; /* first unconsumed byte */
    size_t len;   /* end of valid bytes (data[start..len) is the content) */
    size_t cap;
};

/* Content pointer and size. */
static inline char *buf_ptr(const struct buf *b)
{
    return b->data ? b->data + b->start : NULL; /* no arithmetic on NULL (UB) */
}
static inline size_t buf_size(const struct buf *b)
{
    return b->len - b->start;
}
/* Ensures room for extra more bytes at the end; returns 0 or -1 on OOM. */
int buf_reserve(struct buf *b, size_t extra);
/* Free space at the end after buf_reserve; advance with buf_commit. */
static inline char *buf_tail(struct buf *b)
{
    return b->data + b->len;
}
static inline void buf_commit(struct buf *b, size_t n)
{
    b->len += n;
}
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops n bytes from the front. */
void buf_consume(struct buf *b, size_t n);
/* Moves the content to the front of the allocation. */
void buf_compact(struct buf *b);
void buf_clear(struct buf *b);
void buf_free(struct buf *b);

#endif
