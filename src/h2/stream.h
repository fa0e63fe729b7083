/* HTTP/2 streams (RFC 9113 §5.1): the state machine a stream walks through, and the table of a
 * connection's live streams. A stream lives in its own request pool (the struct, the request,
 * the response) plus, on a server, a heap buffer for the request body. */
#ifndef TERN_H2_STREAM_H
#define TERN_H2_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/pool.h"
#include "http/priority.h"
#include "http/body.h"
#include "http/request.h"
#include "http/response.h"

/* §5.1 states a stream can be in while it exists in the table (idle streams have no struct;
 * closed ones are removed). A client's request stream is open or half-closed (local) after
 * its HEADERS, half-closed (remote) once the response ended before the upload. */
enum h2_stream_state {
    H2_STREAM_OPEN,               /* request headers received, more frames may follow */
    H2_STREAM_HALF_CLOSED_REMOTE, /* END_STREAM received: we are answering */
    H2_STREAM_RESERVED_LOCAL,     /* promised by PUSH_PROMISE, response not started */
    H2_STREAM_HALF_CLOSED_LOCAL,  /* END_STREAM sent, the request body still arriving */
};

struct h2_session;

struct h2_stream {
    struct http_sched_node sched; /* first: the scheduler hands back nodes */
    uint32_t id;
    enum h2_stream_state state;
    struct h2_stream *hnext;       /* hash chain */
    struct h2_stream *next, *prev; /* all streams of the session */
    struct h2_session *session;
    struct pool *pool;
    struct http_request req;
    struct http_response resp;
    struct buf body; /* request body received so far */
    /* Server role: the body streamed to the handler as it arrives (req.body_in) instead of
     * read whole first: the stream window reopens only as the handler takes the bytes */
    bool streaming, body_in_waiting;
    struct body_source body_src;
    size_t body_handed;       /* bytes at the front of body given out last time */
    int64_t content_length;   /* from the request, or -1 */
    uint64_t body_received;   /* DATA payload bytes */
    int64_t send_window;      /* peer's window for this stream */
    int64_t recv_window;      /* what the peer may still send us */
    uint32_t recv_unacked;    /* consumed, not yet returned with WINDOW_UPDATE */
    int64_t stalled_since_ms; /* data to send on a zero window since, or 0 */
    int reject_status;        /* 413/431...: answered without dispatching the request */
    bool end_stream_in;       /* END_STREAM received */
    bool dispatched;          /* the request went to on_request */
    bool resume_queued;       /* in the session's resume list (h2_session_want_resume) */
    struct h2_stream *resume_next;
    bool headers_out;           /* final response HEADERS sent */
    bool end_stream_out;        /* END_STREAM sent */
    bool pushed;                /* a stream we promised */
    bool push_pending;          /* promised, waiting for its response to be made */
    struct body_reader body_rd; /* the response body copied into DATA frames */
    void *user;                 /* the glue's per-stream context */
    /* client role: the request body we send (the response arrives in resp, its body through
     * on_data), and how the stream ended */
    struct body_source *upload;
    int64_t upload_length, upload_sent;
    bool head_request;   /* the response has no body whatever its fields say (§8.1.1) */
    bool final_head;     /* the final response head arrived */
    bool response_done;  /* and the whole response (END_STREAM) */
    unsigned n_interim;  /* interim responses so far (bounded) */
    uint32_t error_code; /* RST_STREAM code (ours or the peer's), UINT32_MAX: none */
    const char *error;   /* why the stream failed, NULL: it did not */
};

#define H2_STREAM_BUCKETS 64

struct h2_stream_table {
    struct h2_stream *buckets[H2_STREAM_BUCKETS];
    struct h2_stream *all;
    uint32_t count;
};

struct h2_stream *h2_stream_find(const struct h2_stream_table *t, uint32_t id);
void h2_stream_insert(struct h2_stream_table *t, struct h2_stream *st);
void h2_stream_remove(struct h2_stream_table *t, struct h2_stream *st);

/* State transitions (§5.1). END_STREAM received: open -> half-closed (remote), half-closed
 * (local) -> closed. Returns true when the stream is now closed. */
bool h2_stream_on_end_stream_in(struct h2_stream *st);
/* END_STREAM sent: open -> half-closed (local), half-closed (remote) / reserved -> closed.
 * Returns true when the stream is now closed. */
bool h2_stream_on_end_stream_out(struct h2_stream *st);

#endif
