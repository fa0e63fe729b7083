/* Send buffers: bytes stay put until acknowledged, room bounds the buffer, fin, the queue. */
#include <stdlib.h>

#include "check.h"
#include "quic/quic.h"
#include "quic/stream.h"

static uint8_t src[QUIC_STREAM_SEND_MAX + 100];

static void test_buffer(void)
{
    struct quic_streams t;
    quic_streams_init(&t);
    struct quic_stream *st = quic_streams_add(&t, 0);
    CHECK(st != NULL);
    CHECK(quic_streams_add(&t, 0) == st);
    CHECK_INT(quic_stream_room(st), QUIC_STREAM_SEND_MAX);
    CHECK(!quic_stream_has_pending(st));

    /* more than the room: only the room is taken */
    CHECK_INT(quic_stream_append(st, src, sizeof(src)), QUIC_STREAM_SEND_MAX);
    CHECK_INT(quic_stream_room(st), 0);
    CHECK(quic_stream_has_pending(st));

    ngtcp2_vec v[2];
    CHECK_INT(quic_stream_unsent(st, v), 2);
    CHECK(v[0].base[0] == src[0] && v[0].len == QUIC_CHUNK);
    const uint8_t *first = v[0].base;

    /* send a chunk and a half: the cursor crosses a chunk */
    quic_stream_sent(st, QUIC_CHUNK + QUIC_CHUNK / 2, 0);
    CHECK_INT(quic_stream_unsent(st, v), 2);
    CHECK(v[0].len == QUIC_CHUNK / 2 && v[0].base[0] == src[QUIC_CHUNK + QUIC_CHUNK / 2]);

    /* a partial ack frees nothing: the sent bytes stay at their address */
    quic_stream_acked(st, QUIC_CHUNK - 1);
    CHECK(st->head->data == first);
    CHECK_INT(quic_stream_room(st), QUIC_CHUNK - 1);
    /* the whole first chunk acked: freed, and room to append into a new chunk */
    quic_stream_acked(st, QUIC_CHUNK);
    CHECK(st->head->data != first);
    CHECK_INT(quic_stream_append(st, src + 7, 10), 10);
    CHECK_INT(st->end_off, QUIC_STREAM_SEND_MAX + 10);

    /* send all, fin with it */
    st->fin = true;
    CHECK(quic_stream_fin_due(st));
    quic_stream_sent(st, (size_t)(st->end_off - st->sent_off), NGTCP2_WRITE_STREAM_FLAG_FIN);
    CHECK(!quic_stream_fin_due(st));
    CHECK(!quic_stream_has_pending(st));
    CHECK_INT(quic_stream_unsent(st, v), 0);
    quic_stream_acked(st, st->end_off);
    CHECK_INT(quic_stream_room(st), QUIC_STREAM_SEND_MAX);
    CHECK(st->head == NULL && st->tail == NULL); /* nothing held once all is acknowledged */
    quic_streams_free(&t);
}

/* A stream that writes a little now and then (a control stream) holds no chunk between. */
static void test_small_writes_free(void)
{
    struct quic_streams t;
    quic_streams_init(&t);
    struct quic_stream *st = quic_streams_add(&t, 3);
    ngtcp2_vec v[2];
    for (int round = 0; round < 3; round++) {
        CHECK_INT(quic_stream_append(st, src + round, 20), 20);
        CHECK_INT(quic_stream_unsent(st, v), 1);
        CHECK(v[0].len == 20 && v[0].base[0] == src[round]);
        quic_stream_sent(st, 12, 0);
        quic_stream_acked(st, st->end_off - 8); /* part acknowledged: kept */
        CHECK(st->head != NULL);
        CHECK_INT(quic_stream_unsent(st, v), 1);
        CHECK(v[0].len == 8 && v[0].base[0] == src[round + 12]);
        quic_stream_sent(st, 8, 0);
        quic_stream_acked(st, st->end_off);
        CHECK(st->head == NULL && st->tail == NULL && st->send == NULL);
        CHECK_INT(quic_stream_room(st), QUIC_STREAM_SEND_MAX);
    }
    CHECK_INT(st->end_off, 60);
    quic_streams_free(&t);
}

static void test_table_and_queue(void)
{
    struct quic_streams t;
    quic_streams_init(&t);
    for (int64_t id = 0; id < 400; id += 4)
        CHECK(quic_streams_add(&t, id) != NULL);
    CHECK_INT(t.count, 100);
    CHECK(quic_streams_find(&t, 396) != NULL && quic_streams_find(&t, 396)->id == 396);
    CHECK(quic_streams_find(&t, 400) == NULL);

    struct quic_stream *a = quic_streams_find(&t, 0), *b = quic_streams_find(&t, 4);
    quic_streams_queue(&t, a); /* nothing to send: not queued */
    CHECK(quic_streams_first(&t) == NULL);
    quic_stream_append(a, src, 5);
    quic_stream_append(b, src, 5);
    quic_streams_queue(&t, a);
    quic_streams_queue(&t, b);
    quic_streams_queue(&t, a);
    CHECK(quic_streams_first(&t) == a && quic_streams_next(&t, a) == b);
    /* RFC 9218's default is not incremental: a stream that sent keeps its turn... */
    quic_streams_rotate(&t, a);
    CHECK(quic_streams_first(&t) == a && quic_streams_next(&t, a) == b);
    /* ...incremental ones take turns */
    quic_streams_set_priority(&t, a, (struct http_priority){3, true});
    quic_streams_set_priority(&t, b, (struct http_priority){3, true});
    quic_streams_rotate(&t, a);
    CHECK(quic_streams_first(&t) == b && quic_streams_next(&t, b) == a);
    quic_streams_drop_send(&t, b);
    CHECK(quic_streams_first(&t) == a && quic_streams_next(&t, a) == NULL);
    quic_streams_queue(&t, b); /* dropped streams never come back */
    CHECK(quic_streams_next(&t, a) == NULL);
    quic_streams_remove(&t, 0); /* removing unqueues */
    CHECK(quic_streams_first(&t) == NULL);
    CHECK_INT(t.count, 99);
    quic_streams_free(&t);
}

/* The send queue in RFC 9218 order: our unidirectional streams first, then by urgency; at one
 * urgency non-incremental streams one after another by id, incremental ones taking turns; a
 * priority change moves a queued stream. */
static int64_t order[8];

static int snapshot(struct quic_streams *t)
{
    int n = 0;
    for (struct quic_stream *st = quic_streams_first(t); st && n < 8; st = quic_streams_next(t, st))
        order[n++] = st->id;
    return n;
}

static struct quic_stream *with_bytes(struct quic_streams *t, int64_t id)
{
    struct quic_stream *st = quic_streams_add(t, id);
    quic_stream_append(st, (const uint8_t *)"data", 4);
    quic_streams_queue(t, st);
    return st;
}

static void test_priority_order(void)
{
    struct quic_streams t;
    quic_streams_init(&t);
    struct quic_stream *s8 = with_bytes(&t, 8);
    struct quic_stream *s0 = with_bytes(&t, 0);
    with_bytes(&t, 4);
    with_bytes(&t, 3); /* our control stream */
    CHECK_INT(snapshot(&t), 4);
    CHECK(order[0] == 3 && order[1] == 0 && order[2] == 4 && order[3] == 8);
    /* stream 8 becomes urgent: it goes before the requests of the default urgency */
    quic_streams_set_priority(&t, s8, (struct http_priority){1, false});
    snapshot(&t);
    CHECK(order[0] == 3 && order[1] == 8 && order[2] == 0 && order[3] == 4);
    /* 0 and 4 incremental at urgency 3: they take turns as packets are sent */
    quic_streams_set_priority(&t, s0, (struct http_priority){3, true});
    quic_streams_set_priority(&t, quic_streams_find(&t, 4), (struct http_priority){3, true});
    snapshot(&t);
    CHECK(order[2] == 0 && order[3] == 4);
    quic_streams_rotate(&t, s0);
    snapshot(&t);
    CHECK(order[2] == 4 && order[3] == 0);
    /* a non-incremental stream keeps its place while it sends */
    quic_streams_rotate(&t, s8);
    snapshot(&t);
    CHECK(order[1] == 8);
    /* unqueued and removed streams leave the order */
    quic_streams_unqueue(&t, s8);
    quic_streams_remove(&t, 3);
    CHECK_INT(snapshot(&t), 2);
    quic_streams_free(&t);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 7 + i / 251);
    test_buffer();
    test_small_writes_free();
    test_table_and_queue();
    test_priority_order();
    return check_done("quic/stream");
}
