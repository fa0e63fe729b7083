/* A chained hash table keyed by connection ID bytes (seeded FNV-1a). */
#include <stdlib.h>
#include <string.h>

#include "quic/cidmap.h"

#define CID_MAX 20

struct cidmap_entry {
    struct cidmap_entry *next;
    void *val;
    uint8_t len;
    uint8_t cid[CID_MAX];
};

void cidmap_init(struct cidmap *m, uint64_t seed)
{
    memset(m, 0, sizeof(*m));
    m->seed = seed;
}

void cidmap_free(struct cidmap *m)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct cidmap_entry *e = m->buckets[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->count = 0;
}

static size_t slot(const struct cidmap *m, const uint8_t *cid, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u ^ m->seed;
    for (size_t i = 0; i < len; i++)
        h = (h ^ cid[i]) * 0x100000001b3u;
    h ^= h >> 29;
    return (size_t)h & (m->nbuckets - 1);
}

static struct cidmap_entry **find(const struct cidmap *m, const uint8_t *cid, size_t len)
{
    if (!m->nbuckets) return NULL;
    struct cidmap_entry **pp = &m->buckets[slot(m, cid, len)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->len == len && memcmp((*pp)->cid, cid, len) == 0) return pp;
    return pp;
}

static bool grow(struct cidmap *m)
{
    size_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
    struct cidmap_entry **b = calloc(nb, sizeof(*b));
    if (!b) return false;
    struct cidmap old = *m;
    m->buckets = b;
    m->nbuckets = nb;
    for (size_t i = 0; i < old.nbuckets; i++)
        for (struct cidmap_entry *e = old.buckets[i], *n; e; e = n) {
            n = e->next;
            size_t j = slot(m, e->cid, e->len);
            e->next = b[j];
            b[j] = e;
        }
    free(old.buckets);
    return true;
}

bool cidmap_put(struct cidmap *m, const uint8_t *cid, size_t len, void *val)
{
    if (len > CID_MAX) return false;
    if (m->count >= m->nbuckets && !grow(m)) return false;
    struct cidmap_entry **pp = find(m, cid, len);
    if (*pp) {
        (*pp)->val = val;
        return true;
    }
    struct cidmap_entry *e = malloc(sizeof(*e));
    if (!e) return false;
    e->next = NULL;
    e->val = val;
    e->len = (uint8_t)len;
    memcpy(e->cid, cid, len);
    *pp = e;
    m->count++;
    return true;
}

void *cidmap_get(const struct cidmap *m, const uint8_t *cid, size_t len)
{
    struct cidmap_entry **pp = find(m, cid, len);
    return pp && *pp ? (*pp)->val : NULL;
}

void cidmap_del(struct cidmap *m, const uint8_t *cid, size_t len, const void *val)
{
    struct cidmap_entry **pp = find(m, cid, len);
    if (!pp || !*pp || (*pp)->val != val) return;
    struct cidmap_entry *e = *pp;
    *pp = e->next;
    free(e);
    m->count--;
}
