/* Private to src/handler/proxy*.c: a worker's proxy state and the active health checks. */
#ifndef TERN_HANDLER_PROXY_INTERNAL_H
#define TERN_HANDLER_PROXY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/stats.h"
#include "core/buf.h"
#include "core/loop.h"
#include "h1/chunked.h"
#include "h1/parser.h"
#include "http/websocket.h"
#include "server/config.h"
#include "server/dispatch.h"

#define PROXY_MAX_UPSTREAMS 64

struct worker;
struct health_probe;
struct proxy_h2_conn;
struct proxy_h2_upload;
struct h2_stream;

#define HEAD_MAX        65536
#define HEAD_FIELDS_MAX 100

enum job_state { J_CONNECTING, J_HANDSHAKE, J_SENDING, J_HEAD, J_BODY };

enum attempt_error {
    E_CONNECT,
    E_CONNECT_TIMEOUT,
    E_TLS,
    E_SEND,
    E_SEND_TIMEOUT,
    E_READ,
    E_READ_TIMEOUT
};

struct proxy_job {
    struct body_source src;   /* first: resp->body while the job runs */
    struct upstream_conn *uc; /* the upstream connection of this attempt, or NULL */
    struct timer timer;
    struct dispatch_ctx dc;
    struct http_request *req;
    struct http_response *resp;
    const struct config_proxy *pc;
    struct proxy_worker *pw;
    struct proxy_state *st;
    size_t up; /* upstream index */
    uint64_t tried;
    unsigned attempts;
    enum job_state state;
    bool reused, no_pool, can_read, can_write;
    bool in_handle; /* still inside proxy_handle: dispatch finishes the response itself */
    bool counted;   /* st->active[up] holds this job */
    bool waiting;   /* the body said BODY_WAIT: resume the wire when the upstream is readable */
    bool failed;    /* the body failed after the head: BODY_ERROR */
    bool body_end;  /* the whole upstream response is read */
    bool keep;      /* the upstream connection may be reused after it */
    bool got_bytes; /* response bytes arrived on this attempt */
    /* a request body streamed from the client (req->body_in): pulled while sending; once a
     * byte of it is gone the request cannot be tried again */
    bool body_started, body_sent, body_waiting;
    struct loop_task body_task;
    int64_t deadline;
    str_t url_path; /* the path to forward, before the upstream's own path is applied */
    struct buf out; /* the request for this attempt's upstream: head and body */
    size_t out_sent;
    struct buf in;
    size_t handed; /* bytes at the front of in given out as the last chunk */
    struct h1_parser parser;
    struct h1_response_head head;
    struct h1_field *fields;
    enum h1_body_kind kind;
    int64_t left; /* H1_BODY_LENGTH: bytes still to come */
    struct h1_chunked_decoder dec;
    /* an extended CONNECT for WebSocket (RFC 8441): the key of our Upgrade to the upstream */
    char ws_key[WEBSOCKET_KEY_LEN + 1];
    /* HTTP/2 upstreams (proxy_h2.c): the connection carrying this request (or opening for
     * it), its stream once submitted, the response body bytes received and not yet pulled */
    struct proxy_h2_conn *h2;
    struct h2_stream *h2st;
    struct proxy_job *h2next;         /* the connection's list of jobs waiting for a stream */
    struct proxy_h2_upload *h2upload; /* the request body as the session pulls it */
    struct buf h2body;
    size_t h2_unacked;   /* body bytes taken whose window is still to be given back */
    unsigned h2_refused; /* streams refused unprocessed (REFUSED_STREAM, GOAWAY) */
    bool h2_end;         /* the whole response arrived */
    bool via_h2;         /* this attempt goes over HTTP/2 */
};

/* Per worker and proxy location: balancing, passive health (as nginx's, per worker) and the
 * active checks' view of each upstream. */
struct proxy_state {
    const struct config_proxy *pc; /* the configuration this state is for (reload: reset) */
    const struct config *cfg;      /* the configuration pc belongs to */
    struct proxy_worker *pw;
    unsigned rr;
    unsigned active[PROXY_MAX_UPSTREAMS];
    unsigned fails[PROXY_MAX_UPSTREAMS];
    int64_t down_until[PROXY_MAX_UPSTREAMS];
    /* active health checks (proxy_health.c) */
    struct timer health_timer;
    bool check_down[PROXY_MAX_UPSTREAMS]; /* failed `fails` checks in a row, until `passes` */
    unsigned check_fails[PROXY_MAX_UPSTREAMS], check_passes[PROXY_MAX_UPSTREAMS];
    struct health_probe *probes[PROXY_MAX_UPSTREAMS]; /* in flight */
    /* https with http2: the upstream chose http/1.1 in ALPN: HTTP/1.1 from now on */
    bool h1_only[PROXY_MAX_UPSTREAMS];
};

struct resolver;

struct proxy_worker {
    struct worker *wk;
    struct resolver *resolver; /* forward proxy name lookups (client/resolve.h), on first use */
    struct loop *loop;
    struct upstream_pool *pool;
    struct proxy_state **states; /* by config_proxy.id */
    size_t n_states;
    struct proxy_h2_conn *h2_conns; /* HTTP/2 upstream connections (proxy_h2.c) */
};

/* The worker's proxy state, made on first use (NULL on OOM). */
struct proxy_worker *proxy_worker_get(struct worker *wk);
/* The state of pc (of configuration cfg), reset when it was another configuration's. */
struct proxy_state *proxy_state_get(struct proxy_worker *pw, const struct config_proxy *pc,
                                    const struct config *cfg);

struct dispatch_ctx;
struct http_request;
struct http_response;
/* Proxies req per pc (a location's, or the forward proxy's made for one request). in_handle:
 * called from the dispatch of req (a failure then leaves the response to it), else from a
 * callback of the handler's own (a failure calls dispatch_finish). */
void proxy_start(const struct dispatch_ctx *dc, const struct config_proxy *pc,
                 struct http_request *req, struct http_response *resp, str_t url_path,
                 bool in_handle);

/* proxy.c's steps that proxy_h2.c shares (see there). */
void proxy_attempt(struct proxy_job *j);
void proxy_attempt_failed(struct proxy_job *j, enum attempt_error e, int err);
void proxy_fail_head(struct proxy_job *j, int status);
/* Counts an attempt at j's upstream for metrics (enum stats_upstream_result). */
void proxy_count(const struct proxy_job *j, int result);
void proxy_complete_head(struct proxy_job *j);
void proxy_client_body_failed(struct proxy_job *j);
void proxy_set_deadline(struct proxy_job *j, double seconds);
void proxy_job_free_buffers(struct proxy_job *j);
void proxy_drop_upstream(struct proxy_job *j, bool reusable);
/* The pooled-connection key of an https upstream (its trust settings and server name). */
void proxy_tls_key(const struct proxy_job *j, char *key, size_t cap);
/* A non-blocking socket connecting to j's upstream, or -1 with errno. */
int proxy_open_socket(const struct proxy_job *j);

/* ---- HTTP/2 upstreams (proxy_h2.c): the h2 session engine (h2/session.h) in its client role,
 * driven on the worker's loop over client/upstream_pool.h connections ---- */

/* True when this attempt of j goes over HTTP/2 (h2c://, or https with http2 not known to
 * have chosen http/1.1). */
bool proxy_h2_wanted(const struct proxy_job *j);
/* Sends j's request as a stream on a connection to its upstream (one with room, else a new
 * one); the job's callbacks follow from the loop. */
void proxy_h2_start(struct proxy_job *j);
/* The job lets go of its stream (RST_STREAM CANCEL when it is still open) or its place in a
 * connection's queue. */
void proxy_h2_detach(struct proxy_job *j);
/* The body source's next for an HTTP/2 upstream's response. */
enum body_next_result proxy_h2_next(struct proxy_job *j, struct body_chunk *out, size_t max);
/* The client's streamed body has more. */
void proxy_h2_body_more(struct proxy_job *j);
/* Closes every HTTP/2 connection of the worker (its exit). */
void proxy_h2_free_all(struct proxy_worker *pw);

/* Starts the periodic checks of st's upstreams (pc->health_path set), the first at once. */
void proxy_health_start(struct proxy_state *st);
/* Stops them: the timer, and the probes in flight closed. */
void proxy_health_stop(struct proxy_state *st);

#endif
