#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int buf_reserve(struct buf *b, size_t extra)
{
    if (b->cap - b->len >= extra) return 0;
    if (b->start > 0 && b->cap - buf_size(b) >= extra) {
        buf_compact(b);
        return 0;
    }
    size_t need = buf_size(b) + extra;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < need)
        cap *= 2;
    char *n = malloc(cap);
    if (!n) return -1;
    if (buf_size(b)) memcpy(n, buf_ptr(b), buf_size(b));
    b->len = buf_size(b);
    b->start = 0;
    free(b->data);
    b->data = n;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) < 0) return -1;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n + 1) < 0) return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    b->start += n;
    if (b->start >= b->len) b->start = b->len = 0;
}

void buf_compact(struct buf *b)
{
    if (b->start == 0) return;
    memmove(b->data, b->data + b->start, buf_size(b));
    b->len -= b->start;
    b->start = 0;
}

void buf_clear(struct buf *b)
{
    b->start = b->len = 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->len = b->cap = 0;
}
