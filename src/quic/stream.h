/* Per-stream send buffers and the connection's stream table (internal to src/quic).
 * Bytes handed to ngtcp2 stay at the same address until acknowledged, since ngtcp2 keeps
 * pointers to them for retransmission: the buffer is a list of fixed chunks, never moved. */
#ifndef TERN_QUIC_STREAM_H
#define TERN_QUIC_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ngtcp2/ngtcp2.h>

#include "http/priority.h"

#define QUIC_CHUNK 16384

struct quic_chunk {
    struct quic_chunk *next;
    size_t len;
    uint8_t data[QUIC_CHUNK];
};

struct quic_stream {
    int64_t id;
    struct quic_stream *hnext;    /* hash bucket chain */
    struct http_sched_node sched; /* place in the send order (RFC 9218) while it has bytes */
    bool fin, fin_sent, send_dropped;
    struct quic_chunk *head, *tail, *send; /* send: chunk holding sent_off */
    uint64_t head_base, send_base;         /* stream offsets of head->data, send->data */
    uint64_t acked_off, sent_off, end_off;
};

struct quic_streams {
    struct quic_stream **buckets;
    size_t nbuckets, count;
    struct http_sched sched; /* streams with something to send, in sending order */
};

void quic_streams_init(struct quic_streams *t);
/* Frees every stream and its buffers. */
void quic_streams_free(struct quic_streams *t);
/* Adds stream id (or returns the existing one); NULL on OOM. */
struct quic_stream *quic_streams_add(struct quic_streams *t, int64_t id);
struct quic_stream *quic_streams_find(const struct quic_streams *t, int64_t id);
void quic_streams_remove(struct quic_streams *t, int64_t id);
/* Send queue, in RFC 9218 order (urgency, then non-incremental streams one after another,
 * then incremental ones in turn): first stream, the one after st, add (if pending), remove,
 * and "st sent a packet" (an incremental stream goes to the back of its round). */
struct quic_stream *quic_streams_first(const struct quic_streams *t);
struct quic_stream *quic_streams_next(const struct quic_streams *t, const struct quic_stream *st);
void quic_streams_queue(struct quic_streams *t, struct quic_stream *st);
void quic_streams_unqueue(struct quic_streams *t, struct quic_stream *st);
void quic_streams_rotate(struct quic_streams *t, struct quic_stream *st);
/* Sets st's priority and moves it to its place. */
void quic_streams_set_priority(struct quic_streams *t, struct quic_stream *st,
                               struct http_priority prio);
/* The stream will send nothing more (reset, stop sending): unqueue it for good. */
void quic_streams_drop_send(struct quic_streams *t, struct quic_stream *st);

/* Copies up to the room left; returns bytes taken, or (size_t)-1 on OOM. */
size_t quic_stream_append(struct quic_stream *st, const uint8_t *data, size_t len);
/* Bytes that append would take now. */
size_t quic_stream_room(const struct quic_stream *st);
/* Fills v[0..1] with the unsent bytes (at most two chunks); returns the count of vecs. */
size_t quic_stream_unsent(const struct quic_stream *st, ngtcp2_vec v[2]);
bool quic_stream_fin_due(const struct quic_stream *st);
bool quic_stream_has_pending(const struct quic_stream *st);
/* ngtcp2 took n bytes (and the fin if flags had FIN and nothing is left unsent). */
void quic_stream_sent(struct quic_stream *st, size_t n, uint32_t flags);
/* Everything before stream offset off is acknowledged: free those chunks. */
void quic_stream_acked(struct quic_stream *st, uint64_t off);

#endif
