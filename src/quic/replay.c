/* The recording set: entries in a ring in arrival order (so expiry pops from the head: every
 * entry is kept for the same window), indexed by an open-addressing table with linear probing
 * and backward-shift deletion. The hash is keyed with random words so that a client cannot
 * line its binders up in one bucket. */
#include "quic/replay.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define HASH_WORDS (QUIC_REPLAY_ID_MAX / 8 + 1)

struct entry {
    uint64_t expires;
    uint8_t len;
    uint8_t id[QUIC_REPLAY_ID_MAX];
};

struct quic_replay {
    struct entry *ring; /* capacity entries; head is the oldest */
    size_t capacity, head, count;
    uint32_t *index; /* ring position + 1, 0: empty; index_mask + 1 slots (a power of two) */
    size_t index_mask;
    uint64_t max_keep;
    uint64_t key[HASH_WORDS];
};

struct quic_replay *quic_replay_new(size_t capacity, uint64_t max_keep)
{
    if (capacity == 0 || capacity > UINT32_MAX / 4) return NULL;
    struct quic_replay *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    size_t slots = 1;
    while (slots < capacity * 2)
        slots <<= 1;
    r->ring = calloc(capacity, sizeof(*r->ring));
    r->index = calloc(slots, sizeof(*r->index));
    if (!r->ring || !r->index) {
        quic_replay_free(r);
        return NULL;
    }
    r->capacity = capacity;
    r->index_mask = slots - 1;
    r->max_keep = max_keep;
    /* without entropy the keys stay zero: the set still works, only its buckets are guessable */
    if (getrandom(r->key, sizeof(r->key), 0) != (ssize_t)sizeof(r->key))
        memset(r->key, 0, sizeof(r->key));
    for (size_t i = 0; i < HASH_WORDS; i++)
        r->key[i] |= 1; /* odd multipliers */
    return r;
}

void quic_replay_free(struct quic_replay *r)
{
    if (!r) return;
    free(r->ring);
    free(r->index);
    free(r);
}

size_t quic_replay_count(const struct quic_replay *r)
{
    return r->count;
}

/* Multilinear hash over the id's 8-byte words (zero-padded) and its length. */
static size_t hash(const struct quic_replay *r, const uint8_t *id, size_t len)
{
    uint64_t h = r->key[HASH_WORDS - 1] * (len + 1);
    for (size_t i = 0, w = 0; i < len; i += 8, w++) {
        uint64_t v = 0;
        memcpy(&v, id + i, len - i < 8 ? len - i : 8);
        h += r->key[w] * (v ^ (v >> 29));
    }
    return (size_t)(h >> 32 ^ h) & r->index_mask;
}

static bool same(const struct entry *e, const uint8_t *id, size_t len)
{
    return e->len == len && memcmp(e->id, id, len) == 0;
}

/* The index slot that points at ring position pos. */
static size_t slot_of(const struct quic_replay *r, size_t pos)
{
    const struct entry *e = &r->ring[pos];
    size_t i = hash(r, e->id, e->len);
    while (r->index[i] != pos + 1)
        i = (i + 1) & r->index_mask;
    return i;
}

/* Empties slot i and moves later entries of its probe run back (no tombstones). */
static void index_delete(struct quic_replay *r, size_t i)
{
    size_t j = i;
    for (;;) {
        r->index[i] = 0;
        for (;;) {
            j = (j + 1) & r->index_mask;
            if (!r->index[j]) return;
            const struct entry *e = &r->ring[r->index[j] - 1];
            size_t home = hash(r, e->id, e->len);
            /* j's entry may fill i when its home is not cyclically within (i, j] */
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) break;
        }
        r->index[i] = r->index[j];
        i = j;
    }
}

static void expire(struct quic_replay *r, uint64_t now)
{
    while (r->count) {
        const struct entry *e = &r->ring[r->head];
        if (e->expires > now && e->expires - now <= r->max_keep) break;
        index_delete(r, slot_of(r, r->head));
        r->head = (r->head + 1) % r->capacity;
        r->count--;
    }
}

enum quic_replay_result quic_replay_add(struct quic_replay *r, const uint8_t *id, size_t len,
                                        uint64_t expires, uint64_t now)
{
    if (len > QUIC_REPLAY_ID_MAX) len = QUIC_REPLAY_ID_MAX;
    expire(r, now);
    size_t i = hash(r, id, len);
    for (; r->index[i]; i = (i + 1) & r->index_mask)
        if (same(&r->ring[r->index[i] - 1], id, len)) return QUIC_REPLAY_SEEN;
    if (r->count == r->capacity) return QUIC_REPLAY_FULL;
    size_t pos = (r->head + r->count) % r->capacity;
    struct entry *e = &r->ring[pos];
    e->expires = expires;
    e->len = (uint8_t)len;
    memcpy(e->id, id, len);
    r->index[i] = (uint32_t)pos + 1;
    r->count++;
    return QUIC_REPLAY_NEW;
}
