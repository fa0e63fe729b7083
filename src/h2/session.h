/* The HTTP/2 connection engine (RFC 9113), I/O-free, in both roles: bytes in (h2_session_recv),
 * frames parsed and validated, bytes out in one buffer, the current time passed in. As a server
 * it hands requests to a callback and pulls responses from their body sources into DATA frames
 * as flow control and the RFC 9218 scheduler allow; as a client (params.client) it sends the
 * requests submitted to it, their bodies pulled the same way, and hands response heads and
 * body bytes to callbacks. The socket glue (h2/conn.c, src/client) and the tests drive it. */
#ifndef TERN_H2_SESSION_H
#define TERN_H2_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "h2/defence.h"
#include "h2/fingerprint.h"
#include "h2/frame.h"
#include "h2/hpack.h"
#include "http/priority.h"
#include "h2/stream.h"
#include "server/config.h"

struct h2_session;

/* How long a graceful stop waits for the PING that follows the first GOAWAY before it sends
 * the final one (at least a round trip: streams the client opened meanwhile are served). */
#define H2_GOAWAY_GRACE_MS 1000
/* The opaque data of that PING. */
#define H2_GOAWAY_PING "tern-gw!"

/* Stream pools a session keeps for reuse while it is busy. */
#define H2_SPARE_POOLS 32

struct h2_session_callbacks {
    /* A request is complete (or st->reject_status is set: answer that status, e.g. 413/431):
     * fill st->resp (dispatch_request or dispatch_error). The session sends it on return. */
    void (*on_request)(struct h2_session *s, struct h2_stream *st);
    /* A stream that reached on_request is going away (response sent, reset, or connection
     * closing): log it. */
    void (*on_stream_close)(struct h2_session *s, struct h2_stream *st);
    /* Request pools (worker_take_pool/worker_give_pool); NULL: pool_create/pool_destroy. */
    struct pool *(*take_pool)(void *ud);
    void (*give_pool)(void *ud, struct pool *pool);
    /* The IMF-fixdate for the Date field, or NULL: no Date field. */
    const char *(*date)(void *ud);
    /* Client role. A response head arrived on st: st->resp.status and st->resp.headers hold
     * it (an interim 1xx one when interim; its fields are dropped after the call). */
    void (*on_response)(struct h2_session *s, struct h2_stream *st, bool interim);
    /* Client role: response body bytes. Return -1 to cancel the stream (RST_STREAM CANCEL). */
    int (*on_data)(struct h2_session *s, struct h2_stream *st, const uint8_t *data, size_t len);
    /* Server role, may be NULL: true when the request of st (its head complete, its body to
     * come) goes to a handler that takes the body as it arrives (a proxy); the session then
     * dispatches at once with st->req.body_in. */
    bool (*streams_body)(struct h2_session *s, struct h2_stream *st);
    /* Output was queued outside the glue's own calls (a WINDOW_UPDATE as a handler took a
     * streamed body): write it soon. May be NULL. */
    void (*want_write)(void *ud);
};

/* A request for h2_session_submit (client role). */
struct h2_request_out {
    str_t method, scheme, authority, path;
    /* an extended CONNECT's :protocol (RFC 8441 §4; method CONNECT), or empty; sent only to a
     * peer that allowed it (peer_extended_connect) */
    str_t protocol;
    const str_t *names, *values; /* regular fields: lower-case names, no connection fields */
    size_t n_fields;
    struct body_source *body; /* NULL: no body; closed by the session when the stream ends */
    int64_t body_length;      /* bytes body gives, or -1 when not known in advance */
    void *user;               /* becomes st->user */
};

/* The limits and settings a session runs with (from struct config). */
struct h2_session_params {
    struct config_http2 h2;
    size_t header_count;
    uint64_t body_size;
    bool is_tls;
    const char *peer;
    bool client; /* the client role */
    /* server role: SETTINGS_ENABLE_CONNECT_PROTOCOL sent, :protocol accepted (RFC 8441) */
    bool extended_connect;
    bool fingerprint; /* server: keep the client's fingerprint (an access log writes it) */
    /* Client role: a response's stream window reopens only as the caller takes its bytes
     * (h2_session_consumed), not as they arrive: a proxy passing them on at its client's pace
     * buffers at most a window per stream. */
    bool hold_window;
};

struct h2_session {
    struct h2_stream *resume_head; /* streams whose handler has more (h2_session_want_resume) */
    const struct h2_session_callbacks *cb;
    void *ud;
    struct h2_session_params p;
    char peer[64];
    struct h2_fingerprint *fp; /* the client's, while p.fingerprint (allocated at its SETTINGS) */
    size_t peer_len;
    int64_t now_ms;
    struct buf out;
    struct hpack_decoder dec;
    struct hpack_encoder enc;
    struct pool *scratch;                     /* discarded header blocks (made when first needed) */
    struct pool *spare_pools[H2_SPARE_POOLS]; /* reset stream pools kept for the next burst */
    unsigned n_spare_pools;
    struct buf hbuf; /* encoded field blocks, header-block reassembly */
    struct h2_stream_table streams;
    struct http_sched sched;
    /* connection state */
    bool preface_done;   /* the 24-byte preface was read */
    bool settings_in;    /* the client's first SETTINGS arrived */
    bool dead;           /* a connection error or fast stop: close after flushing out */
    bool draining;       /* final GOAWAY sent: no new streams, close when the last one ends */
    bool goaway_notice;  /* first GOAWAY (2^31-1) and its PING sent, final one not yet */
    bool peer_goaway;    /* the client sent GOAWAY */
    bool settings_acked; /* our first SETTINGS was acknowledged */
    uint32_t last_client_id;
    uint32_t goaway_last_id;
    uint32_t next_push_id;
    uint32_t n_client_streams; /* open client streams (concurrency limit) */
    uint32_t n_pushed;         /* pushed streams not yet closed */
    /* header block being reassembled from CONTINUATION frames (stream 0: none) */
    uint32_t hb_stream;
    uint8_t hb_flags;
    uint32_t hb_continuations;
    int hb_kind;
    /* peer settings */
    bool peer_extended_connect; /* SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441) */
    uint32_t peer_max_frame;
    uint32_t peer_max_streams;
    uint32_t peer_initial_window;
    bool peer_push;
    /* flow control */
    int64_t send_window;           /* connection window the peer gave us */
    int64_t recv_window;           /* what the peer may still send on the connection */
    uint32_t recv_unacked;         /* consumed bytes not yet returned */
    uint32_t local_initial_window; /* stream receive window in force */
    /* defences */
    struct h2_budget resets;
    struct h2_budget idle_frames;
    size_t control_queued;      /* PING/SETTINGS ack bytes queued since out was last empty */
    uint32_t recent_resets[32]; /* streams we reset lately: their in-flight frames are fine */
    unsigned recent_reset_pos;
    /* deadlines (0: none) */
    int64_t block_deadline_ms;    /* preface or header block must complete */
    int64_t settings_deadline_ms; /* our SETTINGS must be acknowledged */
    int64_t idle_deadline_ms;     /* no streams since */
    int64_t trim_deadline_ms;     /* quiet since: give spare memory back then */
    int64_t goaway_deadline_ms;   /* send the final GOAWAY then, PING ack or not */
    /* push: paths already pushed on this connection (hashes) */
    uint64_t pushed_paths[64];
    unsigned n_pushed_paths;
    uint32_t push_ids[32]; /* promised streams waiting to be answered */
    unsigned n_push_ids;
    uint32_t error_code;      /* the GOAWAY code we sent, for logs/tests; UINT32_MAX: none */
    const char *error_reason; /* and why (static text), or NULL */
    /* client role */
    uint32_t next_stream_id;  /* the next request stream we open */
    uint32_t peer_goaway_id;  /* the server's GOAWAY: streams above it were not processed */
    uint32_t peer_error_code; /* the code in the server's GOAWAY */
    uint64_t header_bytes_in; /* field block bytes received (HPACK-coded), for h2load's
                                 "space savings" */
};

/* Fills params from a configuration. */
void h2_session_params_from_config(struct h2_session_params *p, const struct config *cfg,
                                   bool is_tls, const char *peer);
/* Creates a session and queues our SETTINGS and connection WINDOW_UPDATE (§3.4). NULL on OOM. */
struct h2_session *h2_session_new(const struct h2_session_params *p,
                                  const struct h2_session_callbacks *cb, void *ud, int64_t now_ms);
/* Limits and windows for the client role (no configuration file: the client's own defaults,
 * generous windows for downloads, the same defences as a server). */
void h2_session_client_params(struct h2_session_params *p, bool is_tls, const char *peer);
/* Frees every stream (calling on_stream_close for dispatched ones) and the session. */
void h2_session_free(struct h2_session *s);

/* h2c Upgrade (RFC 7540 §3.2): applies the client's HTTP2-Settings payload (decoded bytes) and
 * makes req stream 1, half-closed (remote), answered at once. 0, or -1 on invalid settings. */
int h2_session_upgrade(struct h2_session *s, const struct http_request *req,
                       const uint8_t *settings, size_t len);

/* Processes input; returns the bytes consumed (whole frames; keep the rest and call again with
 * more). After a connection error everything is consumed and the session is dead. */
size_t h2_session_recv(struct h2_session *s, const uint8_t *data, size_t len, int64_t now_ms);
/* Pulls response bodies into DATA frames until out holds high_water bytes or nothing may be
 * sent (windows, bodies). */
void h2_session_produce(struct h2_session *s, size_t high_water);
/* Output waiting to be written (consume what was written with buf_consume). */
static inline struct buf *h2_session_output(struct h2_session *s)
{
    return &s->out;
}
/* Server role: the handler of st has more: its pending response is ready, or its body source,
 * which said BODY_WAIT, has more. Only remembers st (no allocation, so it cannot fail); the
 * glue calls h2_session_resume_queued later, outside the handler's callbacks. */
void h2_session_want_resume(struct h2_session *s, struct h2_stream *st);
/* Acts on the remembered streams: a ready pending response's HEADERS go out, a body with more
 * is scheduled again. */
void h2_session_resume_queued(struct h2_session *s);
/* True when the connection should be closed once the output is flushed. */
bool h2_session_done(const struct h2_session *s);
/* True when response data waits on flow control or the output buffer (for the glue's loop). */
bool h2_session_has_pending(const struct h2_session *s);
/* Earliest deadline (ms) the glue must call h2_session_timeout at, or 0 for none. */
int64_t h2_session_next_deadline(const struct h2_session *s);
/* Gives back memory kept for speed: spare stream pools, the empty output buffer, the header
 * block buffer (called when the connection has been quiet for a while, and at free). */
void h2_session_trim(struct h2_session *s);
/* Handles expired deadlines: slow preface/header block, unacknowledged SETTINGS, stalled
 * streams, idle connection. */
void h2_session_timeout(struct h2_session *s, int64_t now_ms);
/* Stop. Graceful (RFC 9113 §6.8): GOAWAY with 2^31-1 and a PING first; when the PING is
 * acknowledged (or after H2_GOAWAY_GRACE_MS) the final GOAWAY with the last stream id taken,
 * then streams up to it finish. Otherwise GOAWAY NO_ERROR and the session is done. */
void h2_session_shutdown(struct h2_session *s, bool graceful, int64_t now_ms);

/* Client role: true when a request may be submitted now (the server's stream limit, no GOAWAY
 * from it, stream ids left). */
bool h2_session_can_submit(const struct h2_session *s);
/* Client role: opens a stream with rq's HEADERS (END_STREAM when there is no body) and queues
 * its body. Returns the stream, or NULL when it cannot (h2_session_can_submit false, OOM).
 * on_stream_close tells when the stream ends: complete when st->response_done and no error,
 * else st->error_code / st->error say why. */
struct h2_stream *h2_session_submit(struct h2_session *s, const struct h2_request_out *rq);
/* Client role, h2c Upgrade (RFC 7540 §3.2): the payload of the SETTINGS frame this session
 * opens with, for the request's HTTP2-Settings field. Its length; *p points into the output. */
size_t h2_session_settings_payload(const struct h2_session *s, const uint8_t **p);
/* Client role, after the server's 101: the request that went over HTTP/1.1 is stream 1,
 * half-closed (local); its response arrives on it. NULL on OOM. */
struct h2_stream *h2_session_client_upgraded(struct h2_session *s, void *user, bool head_request);
/* Client role with params.hold_window: the caller took n response body bytes of st; the
 * stream window reopens by them (WINDOW_UPDATE queued at half the window). */
void h2_session_consumed(struct h2_session *s, struct h2_stream *st, size_t n);
/* Client role: the request body of st, which said BODY_WAIT, has more: schedule it again. */
void h2_session_resume_upload(struct h2_session *s, struct h2_stream *st);
/* Client role: cancels a stream (RST_STREAM CANCEL); on_stream_close follows at once. */
void h2_session_cancel(struct h2_session *s, struct h2_stream *st);

/* Server push (RFC 9113 §8.4): promises a GET for path (absolute, same origin as parent) on
 * parent, then answers it through on_request after the parent's response headers. Returns 0,
 * or -1 when not allowed (peer disabled push, pushed parent, duplicate, stream limit...). */
int h2_session_push(struct h2_session *s, struct h2_stream *parent, str_t path);

#endif
