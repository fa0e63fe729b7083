#include "h2/stream.h"

static inline unsigned bucket_of(uint32_t id)
{
    return (id >> 1) % H2_STREAM_BUCKETS;
}

struct h2_stream *h2_stream_find(const struct h2_stream_table *t, uint32_t id)
{
    for (struct h2_stream *st = t->buckets[bucket_of(id)]; st; st = st->hnext)
        if (st->id == id) return st;
    return NULL;
}

void h2_stream_insert(struct h2_stream_table *t, struct h2_stream *st)
{
    unsigned b = bucket_of(st->id);
    st->hnext = t->buckets[b];
    t->buckets[b] = st;
    st->prev = NULL;
    st->next = t->all;
    if (t->all) t->all->prev = st;
    t->all = st;
    t->count++;
}

void h2_stream_remove(struct h2_stream_table *t, struct h2_stream *st)
{
    struct h2_stream **pp = &t->buckets[bucket_of(st->id)];
    while (*pp && *pp != st)
        pp = &(*pp)->hnext;
    if (*pp) *pp = st->hnext;
    if (st->prev)
        st->prev->next = st->next;
    else
        t->all = st->next;
    if (st->next) st->next->prev = st->prev;
    st->next = st->prev = st->hnext = NULL;
    t->count--;
}

bool h2_stream_on_end_stream_in(struct h2_stream *st)
{
    st->end_stream_in = true;
    switch (st->state) {
    case H2_STREAM_OPEN: st->state = H2_STREAM_HALF_CLOSED_REMOTE; return false;
    case H2_STREAM_HALF_CLOSED_LOCAL: return true;
    default: return false;
    }
}

bool h2_stream_on_end_stream_out(struct h2_stream *st)
{
    st->end_stream_out = true;
    switch (st->state) {
    case H2_STREAM_OPEN: st->state = H2_STREAM_HALF_CLOSED_LOCAL; return false;
    default: return true;
    }
}
