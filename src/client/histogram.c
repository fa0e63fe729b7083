#include "client/histogram.h"

#include <string.h>

void hist_init(struct histogram *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

static unsigned bucket_of(uint64_t v)
{
    if (v < HIST_LINEAR) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= 7 */
    unsigned sub = (unsigned)(v >> (msb - 6)) & (HIST_SUB - 1);
    unsigned b = HIST_LINEAR + (msb - 7) * HIST_SUB + sub;
    return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

/* The largest value that falls into bucket b. */
static uint64_t bucket_top(unsigned b)
{
    if (b < HIST_LINEAR) return b;
    unsigned msb = (b - HIST_LINEAR) / HIST_SUB + 7;
    uint64_t sub = (b - HIST_LINEAR) % HIST_SUB;
    uint64_t step = (uint64_t)1 << (msb - 6);
    return ((uint64_t)1 << msb) + sub * step + step - 1;
}

void hist_record(struct histogram *h, uint64_t value)
{
    h->counts[bucket_of(value)]++;
    h->total++;
    h->sum += (double)value;
    if (value < h->min) h->min = value;
    if (value > h->max) h->max = value;
}

void hist_merge(struct histogram *dst, const struct histogram *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

uint64_t hist_quantile(const struct histogram *h, double q)
{
    if (!h->total) return 0;
    if (q <= 0) return h->min;
    uint64_t rank = (uint64_t)(q * (double)h->total + 0.999999);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            uint64_t top = bucket_top(b);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}

double hist_mean(const struct histogram *h)
{
    return h->total ? h->sum / (double)h->total : 0;
}
