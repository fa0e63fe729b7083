#include "server/status_ring.h"

#include <stdatomic.h>
#include <string.h>

/* Each slot has a sequence number: odd while written, so that a reader on another thread
 * that sees it change (or odd) drops the slot rather than show half of one sample. */
struct slot {
    _Atomic uint64_t seq;
    _Atomic int64_t t_ms;
    _Atomic uint64_t v[3 + SW_COUNT + 2]; /* requests, errors, spare, conns..., in, out */
};

static struct slot ring[STATUS_RING_SAMPLES];
static _Atomic uint64_t taken; /* samples taken so far */

void status_sample_now(struct status_sample *out, int64_t now_ms)
{
    static _Thread_local struct stats_block
        sum; /* some KB (the upstream counters): not on the stack */
    stats_sum(&sum);
    memset(out, 0, sizeof(*out));
    out->t_ms = now_ms;
    for (int v = 0; v < SV_COUNT; v++)
        for (int m = 0; m < SM_COUNT; m++)
            for (int s = 0; s < SS_COUNT; s++) {
                uint64_t n = atomic_load_explicit(&sum.requests[v][m][s], memory_order_relaxed);
                out->requests += n;
                if (s == SS_5XX) out->errors += n;
            }
    for (int w = 0; w < SW_COUNT; w++) {
        for (int t = 0; t < ST_COUNT; t++)
            out->conns[w] += stats_open(&sum, w, t);
        out->bytes_in += atomic_load(&sum.bytes_in[w]);
        out->bytes_out += atomic_load(&sum.bytes_out[w]);
    }
}

void status_ring_take(int64_t now_ms)
{
    struct status_sample s;
    status_sample_now(&s, now_ms);
    uint64_t n = atomic_load(&taken);
    struct slot *sl = &ring[n % STATUS_RING_SAMPLES];
    atomic_fetch_add(&sl->seq, 1); /* odd: being written */
    atomic_store(&sl->t_ms, s.t_ms);
    atomic_store(&sl->v[0], s.requests);
    atomic_store(&sl->v[1], s.errors);
    for (int w = 0; w < SW_COUNT; w++)
        atomic_store(&sl->v[3 + w], s.conns[w]);
    atomic_store(&sl->v[3 + SW_COUNT], s.bytes_in);
    atomic_store(&sl->v[4 + SW_COUNT], s.bytes_out);
    atomic_fetch_add(&sl->seq, 1);
    atomic_store(&taken, n + 1);
}

size_t status_ring_read(struct status_sample *out, size_t cap)
{
    uint64_t n = atomic_load(&taken);
    uint64_t first = n > STATUS_RING_SAMPLES ? n - STATUS_RING_SAMPLES : 0;
    size_t k = 0;
    for (uint64_t i = first; i < n && k < cap; i++) {
        struct slot *sl = &ring[i % STATUS_RING_SAMPLES];
        uint64_t seq = atomic_load(&sl->seq);
        struct status_sample s = {.t_ms = atomic_load(&sl->t_ms)};
        s.requests = atomic_load(&sl->v[0]);
        s.errors = atomic_load(&sl->v[1]);
        for (int w = 0; w < SW_COUNT; w++)
            s.conns[w] = atomic_load(&sl->v[3 + w]);
        s.bytes_in = atomic_load(&sl->v[3 + SW_COUNT]);
        s.bytes_out = atomic_load(&sl->v[4 + SW_COUNT]);
        if ((seq & 1) || atomic_load(&sl->seq) != seq) continue; /* overwritten meanwhile */
        out[k++] = s;
    }
    return k;
}
