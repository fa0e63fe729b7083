/* The HTTP/3 connection engine (RFC 9114), I/O-free, in either role: it sees QUIC streams and
 * bytes only. The transport (src/quic) hands it each stream's bytes and resets; it parses the
 * frames of request and control streams, runs QPACK, and queues each stream's output (HEADERS
 * + DATA pulled from a body source with back-pressure) for the transport to take. Server role:
 * complete requests go to on_request, and the response is sent. Client role
 * (h3_session_params.client): h3_session_submit sends a request, and the response comes back
 * through on_response_head / on_response_data / on_response_end. The current time is passed
 * in. */
#ifndef TERN_H3_SESSION_H
#define TERN_H3_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "h2/defence.h"
#include "h3/frame.h"
#include "h3/qpack.h"
#include "h3/stream_ids.h"
#include "http/priority.h"
#include "http/body.h"
#include "http/request.h"
#include "http/response.h"
#include "server/config.h"

/* A stream stops pulling its response body while this many bytes wait to be taken. */
#define H3_STREAM_HIGH_WATER (64 * 1024)
/* Largest DATA frame payload the session writes (its length fits a 2-byte varint). */
#define H3_DATA_FRAME_MAX 16383
/* Client role: a response may have this many interim (1xx) heads before the stream fails. */
#define H3_MAX_INTERIM 16
/* The largest client-initiated bidirectional stream id (2^62-4): the first GOAWAY of a
 * graceful stop (§5.2) carries it, refusing nothing yet. */
#define H3_MAX_CLIENT_BIDI_ID ((int64_t)((UINT64_C(1) << 62) - 4))
/* The final GOAWAY follows the first one after this long (a client's requests sent before it
 * saw the first one have arrived by then). */
#define H3_GOAWAY_GRACE_MS 1000

struct h3_session;

enum h3_stream_kind {
    H3_KIND_REQUEST,     /* client bidirectional: one request, one response (either role) */
    H3_KIND_UNI_PENDING, /* client unidirectional, its type not read yet */
    H3_KIND_CONTROL,     /* the client's control stream */
    H3_KIND_QPACK_ENC,   /* the client's QPACK encoder stream */
    H3_KIND_QPACK_DEC,   /* the client's QPACK decoder stream */
    H3_KIND_OWN,         /* one of our unidirectional streams (control, encoder, decoder) */
};

struct h3_stream {
    int64_t id;
    enum h3_stream_kind kind;
    struct h3_stream *next; /* all streams of the session, ordered by id */
    struct h3_session *session;
    /* input: bytes not processed yet, and the frame being read */
    struct buf in;
    bool fin_in;   /* the peer's FIN arrived */
    bool in_frame; /* a frame header was read; its payload follows */
    uint64_t ftype, fleft;
    /* a request */
    struct pool *pool; /* holds req and resp; NULL for other kinds */
    struct http_request req;
    struct http_response resp;
    struct buf body; /* request body received so far */
    /* The body streamed to the handler as it arrives (req.body_in): QUIC's flow-control
     * credit for it is given back only as the handler takes the bytes */
    bool streaming, body_in_waiting;
    struct body_source body_src;
    size_t body_handed;     /* bytes at the front of body given out last time */
    int64_t content_length; /* from the request, or -1 */
    uint64_t body_received; /* DATA payload bytes */
    int reject_status;      /* 413/425/431: answered without dispatching the request */
    int64_t opened_ms;      /* when the stream's first bytes arrived (header deadline) */
    int64_t stalled_ms;     /* output waits and the transport took none of it since; 0: not */
    bool headers_in;        /* the request's header section was decoded */
    bool trailers_in;       /* its trailer section was decoded */
    bool qpack_blocked;     /* the HEADERS frame waits for QPACK encoder-stream inserts */
    bool request_done;      /* the whole request (FIN included) was read */
    bool dispatched;        /* the request went to on_request */
    bool resume_queued;     /* in the session's resume list (h3_session_want_resume) */
    struct h3_stream *resume_next;
    bool early;                 /* some of the request came in early data (0-RTT) */
    bool headers_out;           /* final response HEADERS queued */
    bool prio_updated;          /* a PRIORITY_UPDATE came: it wins over the Priority field */
    struct body_reader body_rd; /* the response body copied into DATA frames */
    /* output: bytes for the transport to take, then FIN */
    struct buf out;
    bool fin_out;  /* FIN follows the bytes in out */
    bool fin_sent; /* the transport took the FIN */
    void *user;    /* the glue's per-stream context */
    /* client role: a request we submitted; its body goes out through resp.body (with
     * resp.content_length and resp.bytes_sent) as a response body does in the server role */
    bool head_request; /* HEAD: the response has no content (RFC 9110 §9.3.2) */
    int status;        /* the final response status, 0 before it */
    int n_interim;     /* interim (1xx) responses so far */
    bool ended;        /* on_response_end was called */
    uint64_t end_code; /* what on_response_end says when the stream goes away unfinished */
    const char *end_why;
};

struct h3_session_callbacks {
    /* A request is complete (or st->reject_status is set: answer that status: 413/425/431):
     * fill st->resp (dispatch_request or dispatch_error). The session queues it on return. */
    void (*on_request)(struct h3_session *s, struct h3_stream *st);
    /* A stream that reached on_request is going away (response sent, reset, or connection
     * closing): log it. */
    void (*on_stream_close)(struct h3_session *s, struct h3_stream *st);
    /* Request pools (worker_take_pool/worker_give_pool); NULL: pool_create/pool_destroy. */
    struct pool *(*take_pool)(void *ud);
    void (*give_pool)(void *ud, struct pool *pool);
    /* The IMF-fixdate for the Date field, or NULL: no Date field. */
    const char *(*date)(void *ud);
    /* Transport: opens a server unidirectional stream and returns its id, or -1. NULL: the
     * session numbers them 3, 7, 11 (as QUIC opens them in order). */
    int64_t (*open_uni)(void *ud);
    /* Transport: RESET_STREAM on our sending side of stream_id with an H3 error code. */
    void (*reset_stream)(void *ud, int64_t stream_id, uint64_t code);
    /* Transport: STOP_SENDING on the peer's sending side of stream_id with an H3 error code. */
    void (*stop_sending)(void *ud, int64_t stream_id, uint64_t code);
    /* Transport: the request stream's priority (RFC 9218), from its Priority field or a
     * PRIORITY_UPDATE frame, for the order in which streams fill packets. May be NULL. */
    void (*set_priority)(void *ud, int64_t stream_id, struct http_priority prio);
    /* May be NULL: true when the request of st (its header section decoded, a body to come)
     * goes to a handler that takes the body as it arrives (a proxy): the session dispatches
     * at once with st->req.body_in. */
    bool (*streams_body)(struct h3_session *s, struct h3_stream *st);
    /* The handler took n bytes of a streamed body on stream_id: give the peer that much
     * flow-control credit (and send it soon). */
    void (*consumed)(void *ud, int64_t stream_id, size_t n);

    /* ---- client role ---- */
    /* Transport: opens a client bidirectional stream and returns its id, or -1. NULL: the
     * session numbers them 0, 4, 8. */
    int64_t (*open_bidi)(void *ud);
    /* A response field section on a request we submitted: interim (1xx) heads, then the
     * final one; names are lower case and :status is left out. -1 cancels the request. */
    int (*on_response_head)(struct h3_session *s, struct h3_stream *st, int status,
                            const str_t *names, const str_t *values, size_t n);
    /* Response content as it arrives. -1 cancels the request. */
    int (*on_response_data)(struct h3_session *s, struct h3_stream *st, const uint8_t *data,
                            size_t len);
    /* The exchange is over: code H3_NO_ERROR when the whole response came, else the H3
     * error (ours or the server's) and why in words; H3_REQUEST_REJECTED means the server
     * did not process it (GOAWAY, §5.2): it may be retried. Called once per submitted
     * stream, also when the session is freed first. */
    void (*on_response_end)(struct h3_session *s, struct h3_stream *st, uint64_t code,
                            const char *why);
};

/* The limits a session runs with (from struct config). */
struct h3_session_params {
    size_t max_field_section_size; /* decoded request header section; 431 beyond (§4.2.2) */
    size_t header_count;           /* regular fields per section; 431 beyond */
    uint64_t body_size;            /* request body; 413 beyond */
    uint32_t max_resets_per_10s;   /* request streams the client cancels (or makes us reset) */
    size_t qpack_max_table_capacity;
    size_t qpack_blocked_streams;
    int64_t header_timeout_ms; /* a request's header section must arrive within; 0: no limit */
    int64_t send_timeout_ms;   /* a response may wait this long for the transport to take any
                                * byte (a client that does not read); 0: no limit */
    const char *peer;
    bool client; /* the client role: requests go out, responses come in */
};

/* A request's header section for h3_session_submit (client role). */
struct h3_request_head {
    str_t method, scheme, authority, path;
    const str_t *names, *values; /* regular fields, lower-case names, no connection fields */
    size_t n;
};

struct h3_session {
    size_t withheld; /* streamed body bytes received but not yet consumed (take_withheld) */
    const struct h3_session_callbacks *cb;
    struct h3_stream *resume_head; /* streams whose handler has more (h3_session_want_resume) */
    void *ud;
    struct h3_session_params p;
    char peer[64];
    size_t peer_len;
    int64_t now_ms;
    struct h3_stream *streams; /* ordered by id */
    struct h3_stream *own_control, *own_encoder, *own_decoder;
    int64_t next_own_uni; /* next own uni id when cb->open_uni is NULL */
    int64_t next_bidi;    /* client: next request stream id when cb->open_bidi is NULL, and
                           * the lowest id never opened */
    struct qpack_decoder dec;
    struct qpack_encoder enc;
    struct buf hbuf;      /* an encoded field section being built */
    struct pool *scratch; /* decoded sections nobody keeps (made when first needed) */
    bool have_control, have_qpack_enc, have_qpack_dec; /* the client's uni streams seen */
    bool settings_in;                                  /* the client's SETTINGS arrived */
    struct h3_settings peer_settings;
    struct h3_stream_ids request_ids; /* client bidi stream ids seen (and skipped) */
    struct h3_stream_ids uni_ids;     /* client uni stream ids seen (and skipped) */
    uint64_t peer_max_push_id;        /* from MAX_PUSH_ID; has_max_push_id says whether one came */
    bool has_max_push_id;
    uint64_t peer_goaway_id;    /* the peer's last GOAWAY (server: a push id; client: a
                                 * request stream id), UINT64_MAX: none */
    bool draining;              /* our final GOAWAY is out: no new requests */
    int64_t goaway_id;          /* the id in it: requests from there on are rejected */
    bool goaway_notice;         /* the first GOAWAY of a graceful stop (2^62-4) is out */
    int64_t goaway_deadline_ms; /* when the final GOAWAY follows it; 0: not due */
    uint32_t n_requests;        /* open request streams */
    struct h2_budget resets;    /* Rapid Reset defence */
    bool dead;                  /* connection error or fast stop: close the connection */
    uint64_t error_code;        /* the code to close with; UINT64_MAX: none */
    uint64_t header_bytes_in;   /* client role: QPACK-coded response sections received (for
                                   h2load's "space savings") */
    const char *error_why;      /* the connection error in words (static), or NULL */
};

/* Fills params from a configuration (limits, and the HTTP/2 reset budget). */
void h3_session_params_from_config(struct h3_session_params *p, const struct config *cfg,
                                   const char *peer);
/* Creates a session and opens our control stream (with SETTINGS first) and the QPACK encoder
 * and decoder streams. NULL on OOM. */
struct h3_session *h3_session_new(const struct h3_session_params *p,
                                  const struct h3_session_callbacks *cb, void *ud, int64_t now_ms);
/* Frees every stream (calling on_stream_close for dispatched ones) and the session. */
void h3_session_free(struct h3_session *s);

/* Bytes of a peer's stream or, in the client role, of a request stream (any split; fin: the
 * stream's last bytes). Returns 0, or -1 once the connection has failed (h3_session_error_code says
 * with what). */
int h3_session_recv_stream(struct h3_session *s, int64_t stream_id, const uint8_t *data, size_t len,
                           bool fin, int64_t now_ms);
/* The same for bytes that came in TLS early data (0-RTT, RFC 9001 §4.6.1), which an attacker
 * may have replayed (RFC 9001 §9.2): a request any of whose bytes came so is early
 * (req.early_data); unless its method is GET, HEAD or OPTIONS (safe, RFC 9110 §9.2.1) it is
 * answered 425 Too Early (RFC 8470 §5.2) with reject_status, its handler never runs, and the
 * client may send it again after the handshake. */
int h3_session_recv_early(struct h3_session *s, int64_t stream_id, const uint8_t *data, size_t len,
                          bool fin, int64_t now_ms);
/* Bytes of the last recv calls that the session kept for a streamed request body without
 * consuming them (their flow-control credit comes later through cb->consumed); resets. */
size_t h3_session_take_withheld(struct h3_session *s);
/* The peer aborted a stream (RESET_STREAM, or STOP_SENDING for our side) with app_error. */
void h3_session_stream_reset(struct h3_session *s, int64_t stream_id, uint64_t app_error,
                             int64_t now_ms);

/* Client role: sends a request on a new bidirectional stream: its header section now, then
 * body (NULL: none; closed by the session) as DATA frames as the transport takes them;
 * body_len is its length (-1: unknown). user goes to st->user. NULL when no request can start
 * (the server's GOAWAY, no stream credit, a dead session, OOM). */
struct h3_stream *h3_session_submit(struct h3_session *s, const struct h3_request_head *h,
                                    struct body_source *body, int64_t body_len, void *user);

/* Output: the next stream after *stream_id (pass -1 to start a round) with bytes or a FIN to
 * send, in id order, pulling response bodies as needed. true with *stream_id, *data and *len (the
 * bytes, stable until the next call) and *fin (FIN follows them); false when none is left. */
bool h3_session_next_output(struct h3_session *s, int64_t *stream_id, const uint8_t **data,
                            size_t *len, bool *fin);
/* The transport took n bytes of the stream's output (all of them and the FIN, when it took
 * *len bytes of a fin=true answer). */
void h3_session_output_consumed(struct h3_session *s, int64_t stream_id, size_t n);
/* Sets the current time for the calls that take none (output, consumed, shutdown). */
void h3_session_set_time(struct h3_session *s, int64_t now_ms);

/* The earliest time h3_session_timeout must run (a header section or a response overdue, the
 * final GOAWAY due), or 0 for none. */
int64_t h3_session_next_deadline(const struct h3_session *s);
/* Runs what is due at now_ms: a request stream whose header section did not complete within
 * header_timeout_ms is reset with H3_REQUEST_INCOMPLETE (§4.1.2); a response the transport
 * took nothing of for send_timeout_ms is reset with H3_REQUEST_CANCELLED; the final GOAWAY. */
void h3_session_timeout(struct h3_session *s, int64_t now_ms);

/* Stop. Graceful, in two steps as §5.2 suggests: GOAWAY with 2^62-4 first (refusing nothing a
 * client may be sending right now), then after H3_GOAWAY_GRACE_MS (h3_session_timeout) GOAWAY
 * with the first request stream id not yet seen; requests below it finish, later ones are
 * rejected (H3_REQUEST_REJECTED). A client that has not sent its SETTINGS gets the final GOAWAY
 * at once. Otherwise (fast) GOAWAY and the session is done at once (close with H3_NO_ERROR). */
void h3_session_shutdown(struct h3_session *s, bool graceful);
/* Server role: the handler of st has more: its pending response is ready, or its body, which
 * said BODY_WAIT, has more. Only remembers st (no allocation, so it cannot fail); the glue
 * calls h3_session_resume_queued later, outside the handler's callbacks. */
void h3_session_want_resume(struct h3_session *s, struct h3_stream *st);
/* Acts on the remembered streams: a ready pending response gets its HEADERS frame queued (a
 * body with more is pulled at the next output anyway). */
void h3_session_resume_queued(struct h3_session *s);
/* True when the connection should be closed (after an error, a fast stop, or a graceful stop
 * whose final GOAWAY is out and whose requests have all been answered). */
bool h3_session_done(const struct h3_session *s);
/* The H3 error code to close the connection with (H3_NO_ERROR for a clean stop), or UINT64_MAX
 * while no error happened. */
uint64_t h3_session_error_code(const struct h3_session *s);
/* The connection error in words ("" when none). */
const char *h3_session_error_reason(const struct h3_session *s);

#endif
