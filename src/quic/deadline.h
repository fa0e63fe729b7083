/* A min-heap of deadlines in nanoseconds (internal to src/quic): QUIC's timers (pacing, ACK
 * delay, loss detection) want sub-millisecond precision that the core's 16 ms timer wheel does
 * not give, so the server keeps its connections' deadlines here behind one timerfd. */
#ifndef TERN_QUIC_DEADLINE_H
#define TERN_QUIC_DEADLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEADLINE_NONE SIZE_MAX

/* Embedded in what has a deadline; idx is DEADLINE_NONE while it is not in a heap. */
struct deadline {
    uint64_t at;
    size_t idx;
};

struct deadline_heap {
    struct deadline **v;
    size_t n, cap;
};

static inline void deadline_init(struct deadline *d)
{
    d->at = 0;
    d->idx = DEADLINE_NONE;
}

/* Makes room for n entries in all, so that deadline_set cannot fail below it. 0 or -1. */
int deadline_reserve(struct deadline_heap *h, size_t n);
/* Inserts d at `at`, or moves it there. d must fit (deadline_reserve). */
void deadline_set(struct deadline_heap *h, struct deadline *d, uint64_t at);
void deadline_remove(struct deadline_heap *h, struct deadline *d);
/* The earliest deadline, or NULL when the heap is empty. */
static inline struct deadline *deadline_min(const struct deadline_heap *h)
{
    return h->n ? h->v[0] : NULL;
}
void deadline_heap_free(struct deadline_heap *h);

#endif
