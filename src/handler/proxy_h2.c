/* HTTP/2 upstreams of the reverse proxy: an event-loop driver of the one h2 session engine
 * (h2/session.h) in its client role, as src/client/h2_client.c is its blocking driver for
 * `tern get`. The seam: this file owns sockets, timers and the per-worker list of
 * connections; the engine owns every frame, HPACK, flow control and stream state; proxy.c
 * owns balancing, retries, the 502/503/504 answers and the response's body source.
 *
 * Per worker and upstream address one connection carries many requests as concurrent streams;
 * another opens when it is at the peer's SETTINGS_MAX_CONCURRENT_STREAMS or got GOAWAY. A
 * response's stream window reopens only as the client's wire pulls its bytes
 * (params.hold_window), and a request body streams from req->body_in as the upstream's window
 * allows, so neither direction is buffered whole. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/upstream_pool.h"
#include "core/log.h"
#include "h2/session.h"
#include "handler/cache.h"
#include "handler/proxy_fields.h"
#include "handler/proxy_internal.h"
#include "server/server.h"
#include "tls/tls.h"

#define READ_SIZE     65536
#define HIGH_WATER    (256 * 1024)
#define STREAM_WINDOW (256u * 1024) /* per response: the most held for a slow client */
#define CONN_WINDOW   (16u * 1024 * 1024)
#define MAX_REFUSED   3   /* times a request goes again after its stream was refused */
#define QUEUE_MAX     100 /* requests waiting for a connection that is still opening */

enum conn_state { C_CONNECTING, C_HANDSHAKE, C_READY, C_DEAD };

struct proxy_h2_conn {
    struct proxy_h2_conn *next, *prev; /* the worker's list */
    struct proxy_worker *pw;
    struct upstream_conn *uc;
    struct h2_session *s;
    enum conn_state state;
    bool tls, can_read, can_write;
    bool in_session; /* inside a call into the engine: streams are only marked, not reset */
    bool pending;    /* streams to cancel or windows to give back (done outside the engine) */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char key[320]; /* "" cleartext, else the trust settings and server name */
    char url[128]; /* for log lines */
    struct proxy_job *waiting, **waiting_tail; /* requests not yet given a stream */
    unsigned n_waiting;
    unsigned keepalive; /* the opening location's, for a fallback to HTTP/1.1 */
    int64_t connect_deadline, idle_ms, idle_since;
    struct timer timer;
    struct loop_task task;
    struct buf in;
};

/* The request body the session pulls (the job may go before the stream: then j is NULL). */
struct proxy_h2_upload {
    struct body_source src;
    struct proxy_job *j;
};

static void conn_after(struct proxy_h2_conn *c);

static void conn_schedule(struct proxy_h2_conn *c)
{
    loop_defer(c->pw->loop, &c->task);
}

static const struct config_upstream *job_upstream(const struct proxy_job *j)
{
    return &j->pc->upstreams[j->up];
}

bool proxy_h2_wanted(const struct proxy_job *j)
{
    const struct config_upstream *up = job_upstream(j);
    if (up->h2c) return true;
    return up->tls && j->pc->http2 && j->pc->tls_h2 &&
           !(j->st->pc == j->pc && j->st->h1_only[j->up]);
}

/* ---- the engine's callbacks ---- */

static void on_response(struct h2_session *s, struct h2_stream *st, bool interim)
{
    (void)s;
    struct proxy_job *j = st->user;
    if (!j || j->state == J_BODY) return;
    struct http_request *req = j->req;
    struct http_response *resp = j->resp;
    if (interim) {
        /* 103 Early Hints goes on to the client, as from HTTP/1.1 upstreams */
        if (st->resp.status != 103 || !req->send_interim) return;
        struct http_fields hints = {0};
        for (size_t i = 0; i < st->resp.headers.count; i++)
            if (str_eq_nocase(st->resp.headers.items[i].name, STR_LIT("link")))
                http_fields_add_token(&hints, req->pool, HTTP_TOKEN_LINK,
                                      st->resp.headers.items[i].value);
        if (hints.count) req->send_interim(req, 103, &hints);
        return;
    }
    /* the head as proxy_fields.c and the cache take it (their rules are the same for both) */
    struct h1_response_head head = {.version = 20,
                                    .status = st->resp.status,
                                    .fields = j->fields,
                                    .content_length = st->resp.content_length,
                                    .keep_alive = true};
    for (size_t i = 0; i < st->resp.headers.count && head.n_fields < HEAD_FIELDS_MAX; i++) {
        j->fields[head.n_fields].name = st->resp.headers.items[i].name;
        j->fields[head.n_fields++].value = st->resp.headers.items[i].value;
    }
    if (j->st->pc == j->pc) j->st->fails[j->up] = 0;
    proxy_count(j, SUP_RESPONSE);
    resp->status = head.status;
    resp->headers.count = 0;
    if (proxy_response_fields(resp, req->pool, j->pc, &head) < 0) {
        log_error("%s: out of memory for a proxied response", req->peer);
        proxy_fail_head(j, 502);
        return;
    }
    bool is_head = req->method == HTTP_METHOD_HEAD;
    bool no_body = is_head || head.status == 204 || head.status == 304 || head.content_length == 0;
    resp->content_length = is_head ? head.content_length : no_body ? 0 : head.content_length;
    j->state = J_BODY;
    timer_cancel(&j->timer);
    if (no_body) { /* nothing follows: the job is over (the stream ends by itself) */
        proxy_drop_upstream(j, false);
        proxy_job_free_buffers(j);
        resp->body = NULL;
    }
    if (j->dc.cache) cache_on_head(j->dc.cache, req, resp, &head); /* may wrap resp->body */
    proxy_complete_head(j);
}

static void wake_wire(struct proxy_job *j)
{
    if (!j->waiting) return;
    j->waiting = false;
    timer_cancel(&j->timer);
    j->req->resume(j->req);
}

static int on_data(struct h2_session *s, struct h2_stream *st, const uint8_t *data, size_t len)
{
    (void)s;
    struct proxy_job *j = st->user;
    if (!j) return -1; /* the client went: RST_STREAM(CANCEL) */
    if (buf_append(&j->h2body, data, len) < 0) {
        log_error("%s: upstream %s: out of memory for the response body", j->req->peer,
                  job_upstream(j)->url);
        j->failed = true;
        wake_wire(j);
        return -1;
    }
    wake_wire(j);
    return 0;
}

static void on_stream_close(struct h2_session *s, struct h2_stream *st)
{
    struct proxy_job *j = st->user;
    if (!j) return;
    st->user = NULL;
    j->h2st = NULL;
    j->h2 = NULL;
    if (j->h2upload) j->h2upload->j = NULL; /* the session closes (frees) it next */
    j->h2upload = NULL;
    bool ok = st->response_done && !st->error;
    if (j->state == J_BODY) {
        if (ok) {
            j->h2_end = true;
        } else {
            log_error("%s: upstream %s: the response ended early: %s", j->req->peer,
                      job_upstream(j)->url, st->error ? st->error : "connection lost");
            j->failed = true;
        }
        proxy_drop_upstream(j, false); /* uncounted; the timer stops */
        wake_wire(j);
        return;
    }
    if (j->req->body_in_status) {
        proxy_client_body_failed(j);
        return;
    }
    if (st->error_code == H2_REFUSED_STREAM && !j->body_started && ++j->h2_refused <= MAX_REFUSED) {
        /* not processed (RFC 9113 §8.7, §6.8): any request may go again */
        log_debug("%s: upstream %s: stream %u refused (%s), sending again", j->req->peer,
                  job_upstream(j)->url, st->id, st->error ? st->error : "");
        proxy_drop_upstream(j, false);
        j->attempts--;
        proxy_attempt(j);
        return;
    }
    log_debug("%s: upstream %s: stream %u: %s%s%s", j->req->peer, job_upstream(j)->url, st->id,
              st->error ? st->error : "connection ended", s->error_reason ? ": " : "",
              s->error_reason ? s->error_reason : "");
    proxy_attempt_failed(j, E_READ, 0);
}

static const struct h2_session_callbacks callbacks = {
    .on_response = on_response, .on_data = on_data, .on_stream_close = on_stream_close};

/* ---- the request body ---- */

static enum body_next_result upload_next(struct body_source *src, struct body_chunk *out,
                                         size_t max)
{
    struct proxy_h2_upload *u = (struct proxy_h2_upload *)src;
    struct proxy_job *j = u->j;
    if (!j) return BODY_ERROR;
    struct http_request *req = j->req;
    enum body_next_result r = req->body_in->next(req->body_in, out, max);
    switch (r) {
    case BODY_WAIT:
        j->body_waiting = true;
        if (j->state == J_SENDING) {
            timer_cancel(&j->timer);
            proxy_set_deadline(j, j->dc.cfg->timeouts.body);
        }
        break;
    case BODY_CHUNK:
        if (out->kind != BODY_CHUNK_MEM) return BODY_ERROR;
        j->body_started = true;
        j->body_waiting = false;
        if (j->state == J_SENDING) {
            timer_cancel(&j->timer);
            proxy_set_deadline(j, j->pc->send_timeout);
        }
        break;
    case BODY_END:
        j->body_sent = true;
        j->body_waiting = false;
        if (j->state == J_SENDING) {
            j->state = J_HEAD;
            timer_cancel(&j->timer);
            proxy_set_deadline(j, j->pc->read_timeout);
        }
        break;
    case BODY_ERROR: break;
    }
    return r;
}

static void upload_close(struct body_source *src)
{
    struct proxy_h2_upload *u = (struct proxy_h2_upload *)src;
    if (u->j) u->j->h2upload = NULL;
    free(u);
}

void proxy_h2_body_more(struct proxy_job *j)
{
    struct proxy_h2_conn *c = j->h2;
    if (!c || !j->h2st || !j->body_waiting || c->state != C_READY) return;
    j->body_waiting = false;
    if (j->state == J_SENDING) {
        timer_cancel(&j->timer);
        proxy_set_deadline(j, j->pc->send_timeout);
    }
    h2_session_resume_upload(c->s, j->h2st);
    conn_schedule(c);
}

/* ---- the response body, pulled by the client's wire ---- */

/* The wire took n bytes: the upstream may send that much more on the stream. */
static void give_window(struct proxy_job *j, size_t n)
{
    struct proxy_h2_conn *c = j->h2;
    if (!c || !j->h2st || c->state != C_READY) return;
    j->h2_unacked += n;
    c->pending = true;
    conn_schedule(c); /* given back outside the engine's calls, with the next write */
}

enum body_next_result proxy_h2_next(struct proxy_job *j, struct body_chunk *out, size_t max)
{
    if (j->handed) {
        buf_consume(&j->h2body, j->handed);
        give_window(j, j->handed);
        j->handed = 0;
    }
    if (j->failed) return BODY_ERROR;
    size_t n = buf_size(&j->h2body);
    if (n) {
        if (n > max) n = max;
        *out = (struct body_chunk){.kind = BODY_CHUNK_MEM, .data = buf_ptr(&j->h2body), .len = n};
        j->handed = n;
        return BODY_CHUNK;
    }
    if (j->h2_end) return BODY_END;
    if (!j->h2st) return BODY_ERROR;
    /* the upstream ended its side while ours is open (a tunnel: the client still sends) */
    if (j->h2st->response_done && !j->h2st->error) return BODY_END;
    j->waiting = true;
    proxy_set_deadline(j, j->pc->read_timeout);
    return BODY_WAIT;
}

/* ---- connections ---- */

static bool has_room(const struct proxy_h2_conn *c)
{
    if (c->state == C_DEAD || !h2_session_can_submit(c->s)) return false;
    uint32_t limit = c->s->settings_in ? c->s->peer_max_streams : QUEUE_MAX;
    return c->s->n_client_streams + c->n_waiting < limit;
}

static void unlink_waiting(struct proxy_h2_conn *c, struct proxy_job *j)
{
    for (struct proxy_job **p = &c->waiting; *p; p = &(*p)->h2next)
        if (*p == j) {
            *p = j->h2next;
            if (c->waiting_tail == &j->h2next) c->waiting_tail = p;
            c->n_waiting--;
            break;
        }
    j->h2next = NULL;
}

void proxy_h2_detach(struct proxy_job *j)
{
    struct proxy_h2_conn *c = j->h2;
    if (!c) return;
    j->h2 = NULL;
    if (j->h2upload) j->h2upload->j = NULL;
    j->h2upload = NULL;
    struct h2_stream *st = j->h2st;
    j->h2st = NULL;
    if (!st) {
        unlink_waiting(c, j);
        conn_schedule(c);
        return;
    }
    st->user = NULL;
    if (c->state != C_READY) return;
    if (c->in_session) {
        /* the engine is in a call: the stream is reset right after it returns; what it
         * copies of the body meanwhile must not come from the job's memory */
        st->body_rd.has_chunk = false;
        c->pending = true;
    } else {
        h2_session_cancel(c->s, st); /* RST_STREAM(CANCEL); the connection serves the others */
    }
    conn_schedule(c);
}

/* Streams whose job went while the engine was in a call, and windows to give back. */
static void do_pending(struct proxy_h2_conn *c)
{
    if (!c->pending) return;
    c->pending = false;
    struct h2_stream *st = c->s->streams.all;
    while (st && !c->s->dead) {
        struct h2_stream *next = st->next;
        struct proxy_job *j = st->user;
        if (!j) {
            h2_session_cancel(c->s, st);
        } else if (j->h2_unacked) {
            h2_session_consumed(c->s, st, j->h2_unacked);
            j->h2_unacked = 0;
        }
        st = next;
    }
}

/* Gives a waiting job its stream. */
static void submit(struct proxy_h2_conn *c, struct proxy_job *j)
{
    struct http_request *req = j->req;
    const struct config_upstream *up = job_upstream(j);
    if (req->protocol.len && !c->s->peer_extended_connect) {
        /* RFC 8441 §3: :protocol only to a peer whose SETTINGS allowed it (they came: streams
         * are given only after them) */
        log_error("%s: upstream %s: no SETTINGS_ENABLE_CONNECT_PROTOCOL: no tunnel for an "
                  "extended CONNECT (%.*s)",
                  req->peer, up->url, (int)req->protocol.len, req->protocol.p);
        proxy_fail_head(j, 501);
        return;
    }
    str_t target = proxy_target(up, j->dc.loc, req, j->url_path);
    struct proxy_h2_head h;
    struct proxy_h2_upload *u = NULL;
    struct body_source *body = NULL;
    if (!target.p || proxy_request_h2(&h, j->pc, up, req, target) < 0 ||
        (req->body_in && !(u = calloc(1, sizeof(*u))))) {
        log_error("%s: out of memory for a proxied request", req->peer);
        proxy_fail_head(j, 503);
        return;
    }
    if (u) {
        u->src.next = upload_next;
        u->src.close = upload_close;
        u->j = j;
        body = &u->src;
    } else if (req->body_len) {
        body = body_source_mem(req->pool, req->body, req->body_len);
        if (!body) {
            proxy_fail_head(j, 503);
            return;
        }
    }
    struct h2_request_out rq = {.method = req->method_name,
                                .protocol = req->protocol,
                                .scheme = c->tls ? STR_LIT("https") : STR_LIT("http"),
                                .authority = h.authority,
                                .path = target,
                                .names = h.names,
                                .values = h.values,
                                .n_fields = h.n,
                                .body = body,
                                /* a tunnel's bytes have no length */
                                .body_length = !body               ? 0
                                               : req->protocol.len ? -1
                                                                   : h.body_length,
                                .user = j};
    c->in_session = true;
    struct h2_stream *st = h2_session_submit(c->s, &rq);
    c->in_session = false;
    if (!st) {
        free(u);
        log_error("%s: upstream %s: no HTTP/2 stream could be opened", req->peer, up->url);
        proxy_fail_head(j, 503);
        return;
    }
    j->h2 = c;
    j->h2st = st;
    j->h2upload = u;
    j->state = body ? J_SENDING : J_HEAD;
    timer_cancel(&j->timer);
    proxy_set_deadline(j, body ? j->pc->send_timeout : j->pc->read_timeout);
}

/* Moves the waiting jobs out: each goes to a new attempt (after_ready: the connection was
 * fine, another will do) or fails with e. */
static void release_waiting(struct proxy_h2_conn *c, bool after_ready, enum attempt_error e,
                            int err)
{
    struct proxy_job *list = c->waiting;
    c->waiting = NULL;
    c->waiting_tail = &c->waiting;
    c->n_waiting = 0;
    for (struct proxy_job *j = list; j; j = j->h2next)
        j->h2 = NULL;
    while (list) {
        struct proxy_job *j = list;
        list = j->h2next;
        j->h2next = NULL;
        if (after_ready && ++j->h2_refused <= MAX_REFUSED) {
            /* not sent yet: again, on another connection, a bounded number of times (an
             * upstream that dies before every stream must not make a reconnect storm) */
            proxy_drop_upstream(j, false);
            j->attempts--;
            proxy_attempt(j);
        } else {
            proxy_attempt_failed(j, e, err);
        }
    }
}

/* Ends the connection: its streams fail (their jobs retry or answer), it is freed after. */
static void conn_close(struct proxy_h2_conn *c, bool requeue, enum attempt_error e, int err)
{
    if (c->state == C_DEAD) return;
    bool was_ready = c->state == C_READY;
    c->state = C_DEAD;
    timer_cancel(&c->timer);
    if (c->uc) { /* what is queued (a GOAWAY) goes if it can, without waiting */
        struct buf *out = h2_session_output(c->s);
        if (was_ready && buf_size(out) && c->can_write)
            (void)!upstream_conn_write(c->uc, buf_ptr(out), buf_size(out));
        upstream_conn_close(c->uc);
        c->uc = NULL;
    }
    c->in_session = true;
    h2_session_free(c->s); /* on_stream_close for each stream */
    c->s = NULL;
    c->in_session = false;
    release_waiting(c, requeue || was_ready, e, err);
    conn_schedule(c); /* freed by conn_after */
}

static void conn_free(struct proxy_h2_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->pw->h2_conns = c->next;
    if (c->next) c->next->prev = c->prev;
    loop_task_cancel(&c->task);
    timer_cancel(&c->timer);
    buf_free(&c->in);
    free(c);
}

/* The upstream chose http/1.1 in ALPN: its connection goes to the HTTP/1.1 pool, and the
 * requests waiting for it go again, as HTTP/1.1 from now on. */
static void fall_back_h1(struct proxy_h2_conn *c)
{
    log_info("upstream %s: ALPN chose %s, not h2: HTTP/1.1 from now on", c->url,
             tls_conn_alpn(c->uc->tls) ? tls_conn_alpn(c->uc->tls) : "nothing");
    for (struct proxy_job *j = c->waiting; j; j = j->h2next)
        if (j->st->pc == j->pc) j->st->h1_only[j->up] = true;
    struct upstream_conn *uc = c->uc;
    c->uc = NULL;
    uc->on_event = NULL;
    uc->owner = NULL;
    upstream_pool_put(uc, c->keepalive, c->idle_ms);
    conn_close(c, true, E_TLS, 0);
}

static void conn_read(struct proxy_h2_conn *c)
{
    while (c->can_read && c->state == C_READY) {
        if (buf_reserve(&c->in, READ_SIZE) < 0) {
            log_error("upstream %s: out of memory for HTTP/2 input", c->url);
            conn_close(c, false, E_READ, ENOMEM);
            return;
        }
        ssize_t n = upstream_conn_read(c->uc, buf_tail(&c->in), c->in.cap - c->in.len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            c->can_read = false;
            return;
        }
        if (n <= 0) {
            int err = n < 0 ? errno : 0;
            log_debug("upstream %s: HTTP/2 connection %s%s", c->url, n ? "failed: " : "closed",
                      n ? strerror(err) : "");
            conn_close(c, false, E_READ, err);
            return;
        }
        buf_commit(&c->in, (size_t)n);
        c->in_session = true;
        size_t used = h2_session_recv(c->s, (const uint8_t *)buf_ptr(&c->in), buf_size(&c->in),
                                      loop_now_ms(c->pw->loop));
        c->in_session = false;
        buf_consume(&c->in, used);
        buf_compact(&c->in);
        do_pending(c);
        if (c->s->dead) return; /* conn_after sends the GOAWAY and closes */
    }
}

static void conn_run(struct proxy_h2_conn *c)
{
    switch (c->state) {
    case C_CONNECTING: {
        if (!c->can_write) return;
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->uc->w.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err) {
            conn_close(c, false, E_CONNECT, err);
            return;
        }
        c->state = c->uc->tls ? C_HANDSHAKE : C_READY;
        c->can_read = true;
        conn_run(c);
        return;
    }
    case C_HANDSHAKE: {
        if (!c->can_read && !c->can_write) return;
        int r = tls_conn_handshake(c->uc->tls);
        if (r < 0) {
            const char *why = tls_conn_error(c->uc->tls);
            log_error("upstream %s: TLS handshake failed%s%s", c->url, why ? ": " : "",
                      why ? why : "");
            conn_close(c, false, E_TLS, 0);
            return;
        }
        if (r == 0) {
            c->can_read = c->can_write = false;
            return;
        }
        const char *alpn = tls_conn_alpn(c->uc->tls);
        if (!alpn || strcmp(alpn, "h2") != 0) {
            fall_back_h1(c);
            return;
        }
        c->state = C_READY;
        c->can_read = c->can_write = true;
        conn_run(c);
        return;
    }
    case C_READY: conn_read(c); return;
    case C_DEAD: return;
    }
}

/* Writes what the engine has (pulling request bodies into DATA as windows allow). */
static void conn_flush(struct proxy_h2_conn *c)
{
    for (;;) {
        c->in_session = true;
        h2_session_produce(c->s, HIGH_WATER);
        c->in_session = false;
        do_pending(c);
        struct buf *out = h2_session_output(c->s);
        if (!buf_size(out) || !c->can_write) return;
        ssize_t n = upstream_conn_write(c->uc, buf_ptr(out), buf_size(out));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            c->can_write = false;
            return;
        }
        if (n < 0) {
            log_debug("upstream %s: HTTP/2 write failed: %s", c->url, strerror(errno));
            conn_close(c, false, E_SEND, errno);
            return;
        }
        buf_consume(out, (size_t)n);
    }
}

static void conn_arm(struct proxy_h2_conn *c)
{
    int64_t due = 0;
    if (c->state == C_CONNECTING || c->state == C_HANDSHAKE) {
        due = c->connect_deadline;
    } else if (c->state == C_READY) {
        due = h2_session_next_deadline(c->s);
        if (c->idle_since && (!due || c->idle_since + c->idle_ms < due))
            due = c->idle_since + c->idle_ms;
    }
    if (due)
        timer_arm(c->pw->loop, &c->timer, due);
    else
        timer_cancel(&c->timer);
}

/* After any event: streams for the waiting jobs, output written, the idle clock, and a dead
 * connection freed. Runs outside the engine's calls. */
static void conn_after(struct proxy_h2_conn *c)
{
    if (c->state == C_READY) {
        do_pending(c);
        /* streams only after the upstream's SETTINGS: its stream limit is known then (a round
         * trip on a new connection, for no stream refused or over the limit) */
        while (c->waiting && c->state == C_READY && !c->s->dead && c->s->settings_in) {
            struct proxy_job *j = c->waiting;
            unlink_waiting(c, j);
            j->h2 = NULL;
            if (!h2_session_can_submit(c->s)) { /* the peer's limit fell, or GOAWAY came */
                if (++j->h2_refused > MAX_REFUSED) {
                    proxy_attempt_failed(j, E_READ, 0);
                    continue;
                }
                proxy_drop_upstream(j, false);
                j->attempts--;
                proxy_attempt(j);
                continue;
            }
            submit(c, j);
        }
        if (c->state == C_READY) conn_flush(c);
        if (c->state == C_READY && h2_session_done(c->s)) {
            log_debug("upstream %s: HTTP/2 connection done%s%s", c->url,
                      c->s->error_reason ? ": " : "", c->s->error_reason ? c->s->error_reason : "");
            conn_close(c, false, E_READ, 0);
        }
        if (c->state == C_READY) {
            if (c->s->n_client_streams == 0 && !c->waiting) {
                if (!c->idle_since) c->idle_since = loop_now_ms(c->pw->loop);
            } else {
                c->idle_since = 0;
            }
        }
    }
    if (c->state == C_DEAD) {
        conn_free(c);
        return;
    }
    conn_arm(c);
}

static void conn_on_event(struct upstream_conn *uc, uint32_t events)
{
    struct proxy_h2_conn *c = uc->owner;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) c->can_read = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) c->can_write = true;
    conn_run(c);
    conn_after(c);
}

static void conn_on_task(struct loop_task *t)
{
    conn_after((struct proxy_h2_conn *)((char *)t - offsetof(struct proxy_h2_conn, task)));
}

static void conn_on_timer(struct timer *t)
{
    struct proxy_h2_conn *c =
        (struct proxy_h2_conn *)((char *)t - offsetof(struct proxy_h2_conn, timer));
    int64_t now = loop_now_ms(c->pw->loop);
    if (c->state == C_CONNECTING || c->state == C_HANDSHAKE) {
        if (now >= c->connect_deadline) conn_close(c, false, E_CONNECT_TIMEOUT, 0);
    } else if (c->state == C_READY) {
        c->in_session = true;
        h2_session_timeout(c->s, now);
        c->in_session = false;
        if (c->idle_since && now >= c->idle_since + c->idle_ms) {
            h2_session_shutdown(c->s, false, now); /* GOAWAY(NO_ERROR), then the close */
            conn_close(c, false, E_READ, 0);
        }
    }
    conn_after(c);
}

static struct proxy_h2_conn *conn_open(struct proxy_job *j, const char *key, int *err)
{
    const struct config_upstream *up = job_upstream(j);
    struct proxy_h2_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        *err = ENOMEM;
        return NULL;
    }
    c->pw = j->pw;
    c->tls = up->tls;
    memcpy(&c->addr, &up->addr, up->addr_len);
    c->addr_len = up->addr_len;
    snprintf(c->key, sizeof(c->key), "%s", key);
    snprintf(c->url, sizeof(c->url), "%s", up->url);
    c->waiting_tail = &c->waiting;
    c->keepalive = j->pc->keepalive;
    c->idle_ms = (int64_t)(j->pc->idle_timeout * 1000);
    c->timer.cb = conn_on_timer;
    c->task.cb = conn_on_task;
    int64_t now = loop_now_ms(j->pw->loop);
    c->connect_deadline = now + (int64_t)(j->pc->connect_timeout * 1000);
    struct h2_session_params p;
    h2_session_client_params(&p, up->tls, c->url);
    p.h2.initial_window_size = STREAM_WINDOW;
    p.h2.connection_window = CONN_WINDOW;
    p.h2.stalled_stream_timeout = j->pc->send_timeout > 1 ? j->pc->send_timeout : 1;
    p.hold_window = true;
    if (!(c->s = h2_session_new(&p, &callbacks, c, now))) {
        free(c);
        *err = ENOMEM;
        return NULL;
    }
    int fd = proxy_open_socket(j);
    if (fd < 0) {
        *err = errno;
        h2_session_free(c->s);
        free(c);
        return NULL;
    }
    c->uc = upstream_conn_open(j->pw->pool, fd, (const struct sockaddr *)&up->addr, up->addr_len,
                               up->tls ? key : NULL);
    if (c->uc && up->tls &&
        !(c->uc->tls = tls_conn_new_client(j->pc->tls_h2, fd, up->server_name))) {
        upstream_conn_close(c->uc);
        c->uc = NULL;
    }
    if (!c->uc) {
        *err = ENOMEM;
        h2_session_free(c->s);
        free(c);
        return NULL;
    }
    c->uc->on_event = conn_on_event;
    c->uc->owner = c;
    c->next = j->pw->h2_conns;
    if (c->next) c->next->prev = c;
    j->pw->h2_conns = c;
    conn_arm(c);
    return c;
}

void proxy_h2_start(struct proxy_job *j)
{
    const struct config_upstream *up = job_upstream(j);
    j->via_h2 = true;
    j->h2_end = false;
    j->failed = false;
    j->waiting = false;
    j->handed = 0;
    j->h2_unacked = 0;
    buf_clear(&j->h2body);
    char key[sizeof(((struct proxy_h2_conn *)0)->key)] = "";
    if (up->tls) proxy_tls_key(j, key, sizeof(key));
    struct proxy_h2_conn *c = j->pw->h2_conns;
    for (; c; c = c->next)
        if (c->addr_len == up->addr_len && memcmp(&c->addr, &up->addr, up->addr_len) == 0 &&
            strcmp(c->key, key) == 0 && has_room(c))
            break;
    if (!c) {
        int err = 0;
        if (!(c = conn_open(j, key, &err))) {
            proxy_attempt_failed(j, E_CONNECT, err);
            return;
        }
    }
    j->h2 = c;
    j->h2next = NULL;
    *c->waiting_tail = j;
    c->waiting_tail = &j->h2next;
    c->n_waiting++;
    bool ready = c->state == C_READY;
    j->state = ready ? J_SENDING : J_CONNECTING;
    timer_cancel(&j->timer);
    proxy_set_deadline(j, ready ? j->pc->send_timeout : j->pc->connect_timeout);
    conn_schedule(c);
}

void proxy_h2_free_all(struct proxy_worker *pw)
{
    while (pw->h2_conns) {
        struct proxy_h2_conn *c = pw->h2_conns;
        for (struct h2_stream *st = c->s ? c->s->streams.all : NULL; st; st = st->next)
            st->user = NULL; /* their jobs are gone with their connections */
        c->waiting = NULL;
        c->waiting_tail = &c->waiting;
        conn_close(c, false, E_READ, 0);
        conn_free(c);
    }
}
