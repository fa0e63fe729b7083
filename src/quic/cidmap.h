/* Connection ID -> connection routing table of one worker (internal to src/quic). */
#ifndef TERN_QUIC_CIDMAP_H
#define TERN_QUIC_CIDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cidmap_entry;

struct cidmap {
    struct cidmap_entry **buckets;
    size_t nbuckets, count;
    uint64_t seed; /* clients choose their first DCID: keep bucket choice unpredictable */
};

void cidmap_init(struct cidmap *m, uint64_t seed);
void cidmap_free(struct cidmap *m);
/* Maps cid to val (replacing an earlier mapping). false on OOM or a cid over 20 bytes. */
bool cidmap_put(struct cidmap *m, const uint8_t *cid, size_t len, void *val);
void *cidmap_get(const struct cidmap *m, const uint8_t *cid, size_t len);
/* Removes cid if it maps to val. */
void cidmap_del(struct cidmap *m, const uint8_t *cid, size_t len, const void *val);

#endif
