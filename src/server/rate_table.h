/* The token buckets of rate-limited locations, and the requests in flight of locations with
 * limit_conn, one entry per (limit, client address), shared by every worker thread of the
 * process. Bounded: a fixed number of entries in sets of RATE_TABLE_WAYS; a new client takes an
 * empty or idle (refilled, nothing in flight) slot of its set, else the bucket closest to idle;
 * a slot with requests in flight is never taken. Sets are spread over shards with a mutex each, so
 * threads meet on a lock only when their clients hash to the same shard; no global lock, no
 * allocation per request. */
#ifndef TERN_SERVER_RATE_TABLE_H
#define TERN_SERVER_RATE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/cidr.h"
#include "server/rate_bucket.h"

#define RATE_TABLE_WAYS    8
#define RATE_TABLE_ENTRIES 8192 /* what the server uses: 64 bytes each, 512 KiB */

struct rate_table;

/* A table of at least `entries` slots (rounded up to a power of two sets); NULL on failure. */
struct rate_table *rate_table_new(size_t entries);
void rate_table_free(struct rate_table *t);

struct rate_verdict {
    int64_t wait_ms;  /* 0: allowed; else ms until this client has a token again */
    int64_t delay_ms; /* allowed on credit (spec queue): ms until its token has come */
    bool log;         /* refused, and this client was not logged for log_interval_ms */
};

/* Takes a token from the bucket of (limit, addr) under spec s at now_ms (a monotonic clock).
 * limit >= 1 tells the rate-limited locations apart. */
struct rate_verdict rate_table_take(struct rate_table *t, uint32_t limit, const struct rate_spec *s,
                                    const struct ip_addr *addr, int64_t now_ms,
                                    int64_t log_interval_ms);
/* limit_conn: counts one more request of (limit, addr) in flight unless max are already.
 * Returns the slot to give back with rate_table_leave (>= 0); -1 at max (*log: this client's
 * refusal was not logged for log_interval_ms); -2 when every slot of the client's set holds
 * other clients' requests in flight (not counted: let it in). */
long rate_table_enter(struct rate_table *t, uint32_t limit, uint32_t max,
                      const struct ip_addr *addr, int64_t now_ms, int64_t log_interval_ms,
                      bool *log);
/* The request counted in slot (rate_table_enter's) is over. */
void rate_table_leave(struct rate_table *t, long slot);
/* Slots in use (for tests and status). */
size_t rate_table_used(struct rate_table *t);

#endif
