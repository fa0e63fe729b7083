/* A token bucket in integer arithmetic: `count` tokens per `period_ms`, holding at most
 * `burst`; each request takes one. The state is two integers, so a shared table can hold many
 * buckets; the clock is passed in (tests use a fake one). */
#ifndef TERN_SERVER_RATE_BUCKET_H
#define TERN_SERVER_RATE_BUCKET_H

#include <stdint.h>

#define RATE_MAX_COUNT 1000000 /* tokens per period, and burst, at most */

struct rate_spec {
    uint32_t count;     /* tokens added per period, >= 1 */
    uint32_t period_ms; /* 1000 (N/s) or 60000 (N/m) */
    uint32_t burst;     /* bucket size in tokens, >= 1; a full bucket starts it */
    uint32_t queue;     /* tokens that may be owed: requests beyond burst that wait, not fail */
};

/* Credit is counted in units of 1/period_ms of a token per ms of count: one token is
 * period_ms units and every ms adds count units, so refill is exact, with no rounding drift. */
struct rate_bucket {
    int64_t credit;   /* units held at stamp_ms, 0..burst*period_ms */
    int64_t stamp_ms; /* when credit was last brought up to date */
};

/* A full bucket at now_ms. */
void rate_bucket_init(struct rate_bucket *b, const struct rate_spec *s, int64_t now_ms);
/* Takes one token. Returns 0 when there was one, else the ms until one is back (> 0), taking
 * nothing. A clock that goes back is taken as standing still. */
int64_t rate_bucket_take(struct rate_bucket *b, const struct rate_spec *s, int64_t now_ms);
/* As rate_bucket_take, but with s->queue tokens that may be owed: a request that finds no token
 * takes one on credit while fewer than queue are owed, and *delay_ms says how long it waits for
 * it (> 0; 0 when a token was there). Returns as rate_bucket_take for a refusal. */
int64_t rate_bucket_take_queued(struct rate_bucket *b, const struct rate_spec *s, int64_t now_ms,
                                int64_t *delay_ms);
/* When the bucket will have refilled completely (from then on forgetting it loses nothing). */
int64_t rate_bucket_full_at(const struct rate_bucket *b, const struct rate_spec *s);

#endif
