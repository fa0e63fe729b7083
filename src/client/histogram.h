/* A latency histogram in microseconds with bounded relative error (HdrHistogram's idea, our
 * own layout): values below 128 have a bucket each; above, each power of two is split into
 * 64 buckets, so a recorded value is known within 1/64 (1.6%). Fixed size, no allocation;
 * histograms of several threads add up. */
#ifndef TERN_CLIENT_HISTOGRAM_H
#define TERN_CLIENT_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB     64
#define HIST_LINEAR  128 /* values 0..127 exactly */
#define HIST_BUCKETS (HIST_LINEAR + 57 * HIST_SUB)

struct histogram {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total;
    uint64_t min, max;
    double sum;
};

void hist_init(struct histogram *h);
void hist_record(struct histogram *h, uint64_t value);
/* Adds every count of src into dst. */
void hist_merge(struct histogram *dst, const struct histogram *src);
/* The value at quantile q (0..1): the upper bound of the bucket holding it, capped at max;
 * 0 when empty. */
uint64_t hist_quantile(const struct histogram *h, double q);
double hist_mean(const struct histogram *h);

#endif
