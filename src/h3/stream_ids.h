/* Which client stream ids of one type (bidirectional or unidirectional) are new. A QUIC stream
 * opens every lower-numbered stream of its type with it (RFC 9000 §3.2), and packets arrive in
 * any order, so stream 6 may carry its first byte after stream 10: an id below the highest seen
 * is new when it was only opened that way, and old (seen, maybe closed since) otherwise. */
#ifndef TERN_H3_STREAM_IDS_H
#define TERN_H3_STREAM_IDS_H

#include <stddef.h>
#include <stdint.h>

/* At most this many runs of opened-but-unseen ids are kept; the transport's stream limits keep
 * real clients far below it (each run needs an id the client skipped). */
#define H3_STREAM_IDS_MAX_GAPS 32

struct h3_id_run {
    int64_t lo, hi; /* ids lo, lo+4, ..., hi */
};

struct h3_stream_ids {
    int64_t next; /* the lowest id above every id opened so far */
    struct h3_id_run gaps[H3_STREAM_IDS_MAX_GAPS];
    size_t n_gaps;
};

enum h3_id_kind {
    H3_ID_NEW,      /* first byte on this stream: create it */
    H3_ID_OLD,      /* seen before: the stream exists or was closed */
    H3_ID_TOO_MANY, /* too many skipped runs to track: a connection error */
};

/* first is the type's lowest id (0 for client bidi streams, 2 for client uni streams). */
void h3_stream_ids_init(struct h3_stream_ids *t, int64_t first);
/* Classifies id (of this type) and records it as seen. */
enum h3_id_kind h3_stream_ids_see(struct h3_stream_ids *t, int64_t id);
/* The highest id seen or opened, or -1 when none. */
int64_t h3_stream_ids_max(const struct h3_stream_ids *t);

#endif
