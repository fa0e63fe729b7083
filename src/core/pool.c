#include "core/pool.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pool_block {
    struct pool_block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct pool_cleanup {
    struct pool_cleanup *next;
    void (*fn)(void *);
    void *arg;
};

struct pool {
    struct pool_block *head;  /* current block for small allocations */
    struct pool_block *first; /* kept across resets */
    struct pool_block *large; /* dedicated blocks for big allocations */
    struct pool_cleanup *cleanups;
    size_t block_size;
    size_t used;
};

static struct pool_block *block_new(size_t size)
{
    struct pool_block *b = malloc(sizeof(*b) + size);
    if (!b) return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

struct pool *pool_create(size_t block_size)
{
    if (block_size < 256) block_size = 256;
    struct pool *p = malloc(sizeof(*p));
    if (!p) return NULL;
    p->first = p->head = block_new(block_size);
    if (!p->head) {
        free(p);
        return NULL;
    }
    p->large = NULL;
    p->cleanups = NULL;
    p->block_size = block_size;
    p->used = 0;
    return p;
}

void *pool_alloc(struct pool *p, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    if (need < size) return NULL;
    struct pool_block *b = p->head;
    if (b->size - b->used < need) {
        if (need > p->block_size / 4) {
            /* a big allocation gets a block of its own so the head keeps its free space */
            struct pool_block *lb = block_new(need);
            if (!lb) return NULL;
            lb->next = p->large;
            p->large = lb;
            p->used += need;
            return lb->data;
        }
        struct pool_block *nb = block_new(p->block_size);
        if (!nb) return NULL;
        nb->next = b;
        p->head = b = nb;
    }
    void *r = b->data + b->used;
    b->used += need;
    p->used += need;
    return r;
}

void *pool_calloc(struct pool *p, size_t size)
{
    void *r = pool_alloc(p, size);
    if (r) memset(r, 0, size);
    return r;
}

char *pool_strndup(struct pool *p, const char *s, size_t len)
{
    char *r = pool_alloc(p, len + 1);
    if (!r) return NULL;
    if (len) memcpy(r, s, len);
    r[len] = '\0';
    return r;
}

char *pool_printf(struct pool *p, size_t *len_out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *r = pool_alloc(p, (size_t)n + 1);
    if (!r) return NULL;
    va_start(ap, fmt);
    vsnprintf(r, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (len_out) *len_out = (size_t)n;
    return r;
}

int pool_on_cleanup(struct pool *p, void (*fn)(void *), void *arg)
{
    struct pool_cleanup *c = pool_alloc(p, sizeof(*c));
    if (!c) return -1;
    c->fn = fn;
    c->arg = arg;
    c->next = p->cleanups;
    p->cleanups = c;
    return 0;
}

static void run_cleanups(struct pool *p)
{
    while (p->cleanups) {
        struct pool_cleanup *c = p->cleanups;
        p->cleanups = c->next;
        c->fn(c->arg);
    }
}

void pool_reset(struct pool *p)
{
    run_cleanups(p);
    for (struct pool_block *b = p->head, *n; b != p->first; b = n) {
        n = b->next;
        free(b);
    }
    for (struct pool_block *b = p->large, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    p->large = NULL;
    p->first->used = 0;
    p->head = p->first;
    p->used = 0;
}

void pool_destroy(struct pool *p)
{
    if (!p) return;
    pool_reset(p);
    free(p->first);
    free(p);
}

size_t pool_used(const struct pool *p)
{
    return p->used;
}
