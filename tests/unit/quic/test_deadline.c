/* The deadline heap: the minimum is always the earliest, after inserts, moves and removals. */
#include <stdlib.h>

#include "check.h"
#include "quic/deadline.h"

#define N 500

static struct deadline d[N];

static uint64_t true_min(void)
{
    uint64_t m = UINT64_MAX;
    for (int i = 0; i < N; i++)
        if (d[i].idx != DEADLINE_NONE && d[i].at < m) m = d[i].at;
    return m;
}

static void test_random(void)
{
    struct deadline_heap h = {0};
    CHECK(deadline_reserve(&h, N) == 0);
    for (int i = 0; i < N; i++)
        deadline_init(&d[i]);
    srand(7);
    for (int round = 0; round < 20000; round++) {
        struct deadline *x = &d[rand() % N];
        switch (rand() % 3) {
        case 0:
        case 1: deadline_set(&h, x, (uint64_t)(rand() % 100000)); break;
        default: deadline_remove(&h, x); break;
        }
        struct deadline *m = deadline_min(&h);
        uint64_t want = true_min();
        CHECK(m ? m->at == want : want == UINT64_MAX);
    }
    /* draining in order */
    uint64_t last = 0;
    while (deadline_min(&h)) {
        struct deadline *m = deadline_min(&h);
        CHECK(m->at >= last);
        last = m->at;
        deadline_remove(&h, m);
        CHECK(m->idx == DEADLINE_NONE);
    }
    deadline_heap_free(&h);
}

int main(void)
{
    test_random();
    return check_done("quic/deadline");
}
