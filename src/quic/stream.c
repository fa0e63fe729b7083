/* Per-stream send buffers (chunk lists) and a small hash table of streams by id. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "quic/quic.h"
#include "quic/stream.h"

void quic_streams_init(struct quic_streams *t)
{
    memset(t, 0, sizeof(*t));
}

static void stream_free(struct quic_stream *st)
{
    for (struct quic_chunk *k = st->head, *n; k; k = n) {
        n = k->next;
        free(k);
    }
    free(st);
}

void quic_streams_free(struct quic_streams *t)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct quic_stream *st = t->buckets[i], *n; st; st = n) {
            n = st->hnext;
            stream_free(st);
        }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

/* Stream ids of one kind go up by 4; the low two bits say the kind. */
static size_t bucket(const struct quic_streams *t, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15u;
    return (size_t)(h >> 32) & (t->nbuckets - 1);
}

static bool grow(struct quic_streams *t)
{
    size_t nb = t->nbuckets ? t->nbuckets * 2 : 16;
    struct quic_stream **b = calloc(nb, sizeof(*b));
    if (!b) return false;
    struct quic_streams nt = *t;
    nt.buckets = b;
    nt.nbuckets = nb;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct quic_stream *st = t->buckets[i], *n; st; st = n) {
            n = st->hnext;
            size_t j = bucket(&nt, st->id);
            st->hnext = b[j];
            b[j] = st;
        }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
    return true;
}

struct quic_stream *quic_streams_find(const struct quic_streams *t, int64_t id)
{
    if (!t->nbuckets) return NULL;
    for (struct quic_stream *st = t->buckets[bucket(t, id)]; st; st = st->hnext)
        if (st->id == id) return st;
    return NULL;
}

struct quic_stream *quic_streams_add(struct quic_streams *t, int64_t id)
{
    struct quic_stream *st = quic_streams_find(t, id);
    if (st) return st;
    if (t->count >= t->nbuckets && !grow(t)) return NULL;
    if (!(st = calloc(1, sizeof(*st)))) return NULL;
    st->id = id;
    st->sched.id = id;
    /* RFC 9218's default (u=3, not incremental) for requests; unidirectional streams (HTTP/3
     * control and QPACK) go first, so that a large response never holds them back */
    st->sched.prio.urgency = (id & 2) ? 0 : HTTP_URGENCY_DEFAULT;
    size_t j = bucket(t, id);
    st->hnext = t->buckets[j];
    t->buckets[j] = st;
    t->count++;
    return st;
}

void quic_streams_remove(struct quic_streams *t, int64_t id)
{
    if (!t->nbuckets) return;
    for (struct quic_stream **pp = &t->buckets[bucket(t, id)]; *pp; pp = &(*pp)->hnext)
        if ((*pp)->id == id) {
            struct quic_stream *st = *pp;
            *pp = st->hnext;
            quic_streams_unqueue(t, st);
            stream_free(st);
            t->count--;
            return;
        }
}

static struct quic_stream *stream_of(struct http_sched_node *n)
{
    return n ? (struct quic_stream *)((char *)n - offsetof(struct quic_stream, sched)) : NULL;
}

struct quic_stream *quic_streams_first(const struct quic_streams *t)
{
    return stream_of(t->sched.head);
}

struct quic_stream *quic_streams_next(const struct quic_streams *t, const struct quic_stream *st)
{
    (void)t;
    return stream_of(st->sched.next);
}

void quic_streams_queue(struct quic_streams *t, struct quic_stream *st)
{
    if (st->sched.queued || st->send_dropped || !quic_stream_has_pending(st)) return;
    http_sched_add(&t->sched, &st->sched);
}

void quic_streams_unqueue(struct quic_streams *t, struct quic_stream *st)
{
    http_sched_remove(&t->sched, &st->sched);
}

void quic_streams_rotate(struct quic_streams *t, struct quic_stream *st)
{
    http_sched_sent(&t->sched, &st->sched);
}

void quic_streams_set_priority(struct quic_streams *t, struct quic_stream *st,
                               struct http_priority prio)
{
    st->sched.prio = prio;
    http_sched_update(&t->sched, &st->sched);
}

void quic_streams_drop_send(struct quic_streams *t, struct quic_stream *st)
{
    quic_streams_unqueue(t, st);
    st->send_dropped = true;
}

size_t quic_stream_room(const struct quic_stream *st)
{
    uint64_t held = st->end_off - st->acked_off;
    return held >= QUIC_STREAM_SEND_MAX ? 0 : (size_t)(QUIC_STREAM_SEND_MAX - held);
}

size_t quic_stream_append(struct quic_stream *st, const uint8_t *data, size_t len)
{
    size_t room = quic_stream_room(st);
    if (len > room) len = room;
    size_t done = 0;
    while (done < len) {
        struct quic_chunk *k = st->tail;
        if (!k || k->len == QUIC_CHUNK) {
            struct quic_chunk *nk = malloc(sizeof(*nk));
            if (!nk) return done ? done : (size_t)-1;
            nk->next = NULL;
            nk->len = 0;
            uint64_t base = st->end_off; /* where nk starts */
            if (k)
                k->next = nk;
            else {
                st->head = nk;
                st->head_base = base;
            }
            if (!st->send) {
                st->send = nk;
                st->send_base = base;
            }
            st->tail = k = nk;
        }
        size_t n = QUIC_CHUNK - k->len;
        if (n > len - done) n = len - done;
        memcpy(k->data + k->len, data + done, n);
        k->len += n;
        st->end_off += n;
        done += n;
    }
    return done;
}

size_t quic_stream_unsent(const struct quic_stream *st, ngtcp2_vec v[2])
{
    size_t nv = 0;
    const struct quic_chunk *k = st->send;
    uint64_t base = st->send_base, off = st->sent_off;
    while (k && nv < 2) {
        size_t at = (size_t)(off - base);
        if (at < k->len) {
            v[nv].base = (uint8_t *)k->data + at;
            v[nv].len = k->len - at;
            nv++;
        }
        base += QUIC_CHUNK;
        off = base;
        k = k->next;
    }
    return nv;
}

bool quic_stream_fin_due(const struct quic_stream *st)
{
    return st->fin && !st->fin_sent;
}

bool quic_stream_has_pending(const struct quic_stream *st)
{
    return st->sent_off < st->end_off || quic_stream_fin_due(st);
}

void quic_stream_sent(struct quic_stream *st, size_t n, uint32_t flags)
{
    st->sent_off += n;
    /* Move the send cursor past full chunks that are all sent. */
    while (st->send && st->send->len == QUIC_CHUNK && st->sent_off >= st->send_base + QUIC_CHUNK) {
        st->send = st->send->next;
        st->send_base += QUIC_CHUNK;
    }
    if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) && st->sent_off == st->end_off) st->fin_sent = true;
}

void quic_stream_acked(struct quic_stream *st, uint64_t off)
{
    if (off <= st->acked_off) return;
    st->acked_off = off;
    while (st->head && st->head->len == QUIC_CHUNK && st->head_base + QUIC_CHUNK <= off &&
           st->head != st->send) {
        struct quic_chunk *k = st->head;
        st->head = k->next;
        st->head_base += QUIC_CHUNK;
        if (st->tail == k) st->tail = NULL;
        free(k);
    }
    /* All sent and acknowledged: the last chunk goes too, full or not. A long-lived stream
     * that writes little (HTTP/3's control and QPACK streams) holds no memory between writes;
     * the next append starts a new chunk at end_off. */
    if (st->head && off >= st->end_off && st->sent_off == st->end_off) {
        for (struct quic_chunk *k = st->head, *n; k; k = n) {
            n = k->next;
            free(k);
        }
        st->head = st->tail = st->send = NULL;
        st->head_base = st->send_base = st->end_off;
    }
}
