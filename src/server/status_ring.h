/* The status page's memory (handler/status_page.h): a ring of samples of the counters
 * (core/stats.h), one taken per `metrics.sample_interval` by the first worker, the last
 * STATUS_RING_SAMPLES kept. One writer; readers on other threads take what is complete. */
#ifndef TERN_SERVER_STATUS_RING_H
#define TERN_SERVER_STATUS_RING_H

#include <stddef.h>
#include <stdint.h>

#include "core/stats.h"

#define STATUS_RING_SAMPLES 120

struct status_sample {
    int64_t t_ms;                 /* wall clock */
    uint64_t requests;            /* every exchange so far */
    uint64_t errors;              /* of which answered 5xx */
    uint64_t conns[SW_COUNT];     /* open now, by wire */
    uint64_t bytes_in, bytes_out; /* so far, all wires */
};

/* Sums the counters into a new sample stamped now_ms (the writer: one thread only). */
void status_ring_take(int64_t now_ms);
/* Copies the samples, oldest first, into out (up to cap); returns how many. */
size_t status_ring_read(struct status_sample *out, size_t cap);
/* The figures of the counters now (a sample that is not kept). */
void status_sample_now(struct status_sample *out, int64_t now_ms);

#endif
