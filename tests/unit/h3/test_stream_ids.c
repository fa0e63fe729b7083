/* Client stream ids seen out of order (RFC 9000 §3.2): an id skipped by a higher one is new
 * once; ids seen before are old; the number of skipped runs is bounded. */
#include "check.h"
#include "h3/stream_ids.h"

int main(void)
{
    struct h3_stream_ids t;
    h3_stream_ids_init(&t, 0);
    CHECK_INT(h3_stream_ids_max(&t), -1);
    CHECK_INT(h3_stream_ids_see(&t, 0), H3_ID_NEW);
    CHECK_INT(h3_stream_ids_see(&t, 0), H3_ID_OLD);
    /* 20 skips 4..16: each of them is new exactly once, in any order */
    CHECK_INT(h3_stream_ids_see(&t, 20), H3_ID_NEW);
    CHECK_INT(h3_stream_ids_max(&t), 20);
    CHECK_INT(h3_stream_ids_see(&t, 12), H3_ID_NEW); /* splits the run */
    CHECK_INT(h3_stream_ids_see(&t, 12), H3_ID_OLD);
    CHECK_INT(h3_stream_ids_see(&t, 4), H3_ID_NEW);
    CHECK_INT(h3_stream_ids_see(&t, 16), H3_ID_NEW);
    CHECK_INT(h3_stream_ids_see(&t, 8), H3_ID_NEW);
    CHECK_INT(t.n_gaps, 0);
    for (int64_t id = 0; id <= 20; id += 4)
        CHECK_INT(h3_stream_ids_see(&t, id), H3_ID_OLD);
    CHECK_INT(h3_stream_ids_see(&t, 24), H3_ID_NEW);
    CHECK_INT(t.n_gaps, 0);

    /* unidirectional: 10 before 6 (the case that hid a QPACK encoder stream) */
    struct h3_stream_ids u;
    h3_stream_ids_init(&u, 2);
    CHECK_INT(h3_stream_ids_see(&u, 2), H3_ID_NEW);
    CHECK_INT(h3_stream_ids_see(&u, 10), H3_ID_NEW);
    CHECK_INT(h3_stream_ids_see(&u, 6), H3_ID_NEW);
    CHECK_INT(h3_stream_ids_see(&u, 6), H3_ID_OLD);
    CHECK_INT(h3_stream_ids_max(&u), 10);

    /* a client that skips every other id: the runs are bounded */
    struct h3_stream_ids h;
    h3_stream_ids_init(&h, 0);
    int64_t id = 0;
    for (int i = 0; i < H3_STREAM_IDS_MAX_GAPS; i++, id += 8)
        CHECK_INT(h3_stream_ids_see(&h, id + 4), H3_ID_NEW);
    CHECK_INT(h3_stream_ids_see(&h, id + 4), H3_ID_TOO_MANY);
    CHECK_INT(h3_stream_ids_see(&h, 0), H3_ID_NEW); /* a run of one goes away */
    CHECK_INT(h3_stream_ids_see(&h, id + 4), H3_ID_NEW);
    /* splitting a run needs room too */
    struct h3_stream_ids w;
    h3_stream_ids_init(&w, 0);
    CHECK_INT(h3_stream_ids_see(&w, 40), H3_ID_NEW);
    CHECK_INT(h3_stream_ids_see(&w, 20), H3_ID_NEW);
    CHECK_INT(w.n_gaps, 2);
    CHECK_INT(w.gaps[0].lo, 0);
    CHECK_INT(w.gaps[0].hi, 16);
    CHECK_INT(w.gaps[1].lo, 24);
    CHECK_INT(w.gaps[1].hi, 36);
    return check_done("h3/stream_ids");
}
