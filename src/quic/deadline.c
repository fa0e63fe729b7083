/* A binary min-heap of deadlines, each entry knowing its place so that it moves in O(log n). */
#include <stdlib.h>

#include "quic/deadline.h"

int deadline_reserve(struct deadline_heap *h, size_t n)
{
    if (n <= h->cap) return 0;
    size_t cap = h->cap ? h->cap * 2 : 16;
    while (cap < n)
        cap *= 2;
    struct deadline **v = realloc(h->v, cap * sizeof(*v));
    if (!v) return -1;
    h->v = v;
    h->cap = cap;
    return 0;
}

static void place(struct deadline_heap *h, size_t i, struct deadline *d)
{
    h->v[i] = d;
    d->idx = i;
}

static void up(struct deadline_heap *h, size_t i)
{
    struct deadline *d = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h->v[p]->at <= d->at) break;
        place(h, i, h->v[p]);
        i = p;
    }
    place(h, i, d);
}

static void down(struct deadline_heap *h, size_t i)
{
    struct deadline *d = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->v[c + 1]->at < h->v[c]->at) c++;
        if (d->at <= h->v[c]->at) break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, d);
}

void deadline_set(struct deadline_heap *h, struct deadline *d, uint64_t at)
{
    if (d->idx == DEADLINE_NONE) {
        d->at = at;
        place(h, h->n++, d);
        up(h, d->idx);
        return;
    }
    uint64_t old = d->at;
    d->at = at;
    if (at < old)
        up(h, d->idx);
    else if (at > old)
        down(h, d->idx);
}

void deadline_remove(struct deadline_heap *h, struct deadline *d)
{
    size_t i = d->idx;
    if (i == DEADLINE_NONE) return;
    d->idx = DEADLINE_NONE;
    struct deadline *last = h->v[--h->n];
    if (i == h->n) return;
    place(h, i, last);
    up(h, i);
    down(h, last->idx);
}

void deadline_heap_free(struct deadline_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
