#include "h1/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/stats.h"
#include "h1/chunked.h"
#include "h1/parser.h"
#include "h1/serialize.h"
#include "h1/upgrade.h"
#include "h2/conn.h"
#include "server/dispatch.h"
#include "server/linger.h"
#include "server/server.h"
#include "server/transport.h"
#include "server/wire.h"

/* RFC 9113 §3.4: the client connection preface */
static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN (sizeof(h2_preface) - 1)

#define IN_CHUNK     16384
#define OUT_HIGH     65536      /* stop pulling the body while this much is queued */
#define COPY_MAX     65536      /* file chunks up to this size are copied behind the head */
#define SENDFILE_MAX (1u << 20) /* bytes asked from a file source per sendfile */

/* ST_WAIT: the handler answers later (resp.pending); its own timeouts bound the wait */
enum h1_state { ST_HANDSHAKE, ST_HEAD, ST_BODY, ST_WAIT, ST_RESPOND };

struct exchange {
    struct pool *pool;
    const struct config *cfg;
    struct http_request req;
    struct http_response resp;
    uint64_t body_left; /* Content-Length bytes still to read */
    bool chunked_in;
    struct h1_chunked_decoder dec;
    struct buf body; /* decoded request body */
    /* The body streamed to the handler instead (req.body_in): bytes are taken from c->in as it
     * pulls; `handed` of them were given out last time. */
    bool streaming, body_in_done, body_in_waiting;
    struct body_source body_src;
    size_t handed;
    uint64_t body_in_total;
    bool head_only;
    bool chunked_out;
    bool body_done;
    bool body_wait; /* the body source said BODY_WAIT: its resume runs the connection again */
    bool has_file;
    struct body_chunk file; /* pending sendfile range */
};

struct h1_conn {
    struct conn base;    /* base.w.fd == tr.fd */
    struct transport tr; /* until handed to the close path or another wire */
    struct timer timer;
    struct loop_task resume; /* queued by the handler's req.resume */
    struct worker *wk;
    struct buf in, out;
    struct h1_parser parser;
    enum h1_state state;
    bool can_read, can_write;
    bool head_started; /* bytes of the next request have arrived: header deadline runs */
    bool close_after;
    bool peer_closes; /* the client said "Connection: close" (or is HTTP/1.0 without keep-alive) */
    bool graceful;    /* close after the current response */
    bool closed;      /* retired: waiting to be freed */
    bool registered;  /* in the epoll set */
    uint16_t alt_svc_port; /* HTTP/3's UDP port beside this TLS listener, or 0 */
    bool peer_shut;        /* EPOLLRDHUP seen: read on until EOF */
    bool metrics_only;     /* accepted on the metrics listener (no h2c, no upgrade) */
    int64_t deadline;
    unsigned n_requests;
    struct exchange *ex;
    char peer[48];
};

static _Thread_local struct h1_field *tl_fields;
static _Thread_local size_t tl_fields_cap;

static void conn_run(struct h1_conn *c);
static void start_response(struct h1_conn *c);
static void dispatch(struct h1_conn *c);
static int conn_read(struct h1_conn *c);

static void conn_set_deadline(struct h1_conn *c, double seconds)
{
    struct loop *loop = c->wk->loop;
    c->deadline = loop_now_ms(loop) + (int64_t)(seconds * 1000);
    /* re-arm only when the new deadline is earlier: a late timer re-arms itself on fire */
    if (!timer_armed(&c->timer) || c->timer.expires_ms > c->deadline)
        timer_arm(loop, &c->timer, c->deadline);
}

static void exchange_free(struct h1_conn *c)
{
    struct exchange *ex = c->ex;
    if (!ex) return;
    if (ex->resp.body && ex->resp.body->close) ex->resp.body->close(ex->resp.body);
    buf_free(&ex->body);
    c->ex = NULL;
    worker_give_pool(c->wk, ex->pool);
}

/* Ends the connection: the socket goes through the close path (linger.h) unless it was
 * handed to another wire already; the rest is freed at the end of the loop iteration. */
static void conn_close(struct h1_conn *c, enum conn_end how)
{
    struct worker *wk = c->wk;
    if (c->closed) return;
    c->closed = true;
    exchange_free(c);
    timer_cancel(&c->timer);
    loop_task_cancel(&c->resume);
    linger_close(wk, &c->tr, c->registered, how);
    c->base.w.fd = -1;
    worker_buf_release(wk, &c->in);
    worker_buf_release(wk, &c->out);
    worker_retire_conn(wk, &c->base);
}

static int conn_register(struct h1_conn *c)
{
    if (c->registered) return 0;
    if (loop_add(c->wk->loop, &c->base.w, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) return -1;
    c->registered = true;
    return 0;
}

static void on_timer(struct timer *t)
{
    struct h1_conn *c = (struct h1_conn *)((char *)t - offsetof(struct h1_conn, timer));
    struct loop *loop = c->wk->loop;
    if (loop_now_ms(loop) < c->deadline) {
        timer_arm(loop, t, c->deadline);
        return;
    }
    enum conn_end how = CONN_END_LINGER;
    switch (c->state) {
    case ST_HANDSHAKE:
        STATS_INC(tls_failed);
        log_info("%s: TLS handshake not complete in time, closing", c->peer);
        how = CONN_END_NOW;
        break;
    case ST_HEAD:
        if (!c->head_started) how = CONN_END_QUIET; /* keep-alive idle: nothing in flight */
        if (c->head_started) {
            log_info("%s: request head not complete in time, closing", c->peer);
            static const char r408[] = "HTTP/1.1 408 Request Timeout\r\nServer: tern\r\n"
                                       "Content-Length: 0\r\nConnection: close\r\n\r\n";
            if (transport_write(&c->tr, r408, sizeof(r408) - 1) < 0) {
                /* best effort */
            }
        }
        break;
    case ST_BODY: log_info("%s: request body stalled, closing", c->peer); break;
    case ST_WAIT: log_info("%s: no response from the handler in time, closing", c->peer); break;
    case ST_RESPOND:
        /* the client stopped reading: what is queued cannot reach it anyway */
        log_info("%s: response send stalled, closing", c->peer);
        how = CONN_END_NOW;
        break;
    }
    conn_close(c, how);
}

static void on_io(struct io_watch *w, uint32_t events)
{
    struct h1_conn *c = (struct h1_conn *)w;
    if (c->base.retired) return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) c->can_read = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) c->can_write = true;
    conn_run(c);
}

static void op_shutdown(struct conn *base, bool graceful)
{
    struct h1_conn *c = (struct h1_conn *)base;
    if (!graceful)
        conn_close(c, CONN_END_NOW);
    else if (c->state == ST_HANDSHAKE)
        conn_close(c, CONN_END_NOW); /* nothing was asked yet */
    else if (c->state == ST_HEAD && buf_size(&c->in) == 0)
        conn_close(c, CONN_END_QUIET); /* idle between requests */
    else
        c->graceful = true; /* after the current response */
}

/* The task req.resume queued: the pending response is ready, or the body has more. */
static void on_resume(struct loop_task *t)
{
    struct h1_conn *c = (struct h1_conn *)((char *)t - offsetof(struct h1_conn, resume));
    if (c->closed || !c->ex) return;
    if (c->state == ST_WAIT) {
        if (c->ex->resp.pending) return;
        start_response(c);
    } else if (c->state == ST_RESPOND) {
        c->ex->body_wait = false;
        conn_set_deadline(c, c->ex->cfg->timeouts.send);
    } else {
        return;
    }
    conn_run(c);
}

static void resume_request(struct http_request *req)
{
    struct h1_conn *c = req->wire;
    loop_defer(c->wk->loop, &c->resume);
}

static void op_free(struct conn *base)
{
    free(base);
}

static const struct conn_ops h1_ops = {
    .name = "h1",
    .shutdown = op_shutdown,
    .free = op_free,
};

static struct h1_conn *conn_new(struct worker *wk, struct transport tr, const char *peer)
{
    struct h1_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->base.w.fd = tr.fd;
    c->base.w.cb = on_io;
    c->tr = tr;
    c->timer.cb = on_timer;
    c->resume.cb = on_resume;
    c->wk = wk;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->base.stats_wire = SW_H1;
    c->base.stats_transport = tr.tls ? ST_TLS : ST_TCP;
    worker_add_conn(wk, &c->base, &h1_ops);
    return c;
}

/* Runs a new connection once, then registers it with epoll if it is still open. */
static void conn_start(struct h1_conn *c)
{
    conn_run(c);
    if (!c->closed && conn_register(c) < 0) {
        log_error("epoll_ctl: %s", strerror(errno));
        conn_close(c, CONN_END_NOW);
    }
}

/* A cleartext connection; metrics_only: the metrics listener's (no h2c, /metrics only). */
static void open_cleartext(struct worker *wk, int fd, const char *peer, bool metrics_only)
{
    struct h1_conn *c = conn_new(wk, (struct transport){fd, NULL}, peer);
    if (!c) {
        log_error("%s: out of memory for a new connection", peer);
        close(fd);
        return;
    }
    c->metrics_only = metrics_only;
    c->state = ST_HEAD;
    c->can_write = true;
    /* the first request's head deadline runs from accept */
    c->head_started = true;
    conn_set_deadline(c, wk->cfg->timeouts.header);
    /* With deferred accept the request is usually there already: answer it before paying for
     * epoll registration, which a short-lived connection may never need. Registering an
     * edge-triggered fd reports readiness present at that moment, so nothing is lost. */
    c->can_read = true;
    conn_start(c);
}

void h1_conn_open(struct worker *wk, int fd, const char *peer)
{
    open_cleartext(wk, fd, peer, false);
}

void h1_conn_open_tls(struct worker *wk, int fd, const char *peer)
{
    struct tls_conn *tls = wk->tls ? tls_conn_new(wk->tls, fd) : NULL;
    struct h1_conn *c = tls ? conn_new(wk, (struct transport){fd, tls}, peer) : NULL;
    if (!c) {
        log_error("%s: out of memory for a new TLS connection", peer);
        tls_conn_free(tls);
        close(fd);
        return;
    }
    c->state = ST_HANDSHAKE;
    c->alt_svc_port = wire_h3_port(wk, fd);
    /* a stalled handshake costs bounded time: its deadline is not extended by progress */
    conn_set_deadline(c, wk->cfg->tls.handshake_timeout);
    c->can_read = c->can_write = true;
    conn_start(c);
}

void h1_conn_open_metrics(struct worker *wk, int fd, const char *peer)
{
    open_cleartext(wk, fd, peer, true);
}

void h1_thread_cleanup(void)
{
    free(tl_fields);
    tl_fields = NULL;
    tl_fields_cap = 0;
}

void h1_register(void)
{
    wire_register_accept(LISTENER_TCP, h1_conn_open);
    wire_register_accept(LISTENER_TCP_TLS, h1_conn_open_tls);
    wire_register_accept(LISTENER_TCP_METRICS, h1_conn_open_metrics);
    wire_register_thread_cleanup(h1_thread_cleanup);
}

/* Reads what the socket has into c->in. Returns 1 on data, 0 when it would block, -1 on
 * EOF or error. */
static int conn_read(struct h1_conn *c)
{
    if (buf_reserve(&c->in, IN_CHUNK) < 0) return -1;
    for (;;) {
        size_t room = c->in.cap - c->in.len;
        ssize_t n = transport_read(&c->tr, buf_tail(&c->in), room);
        if (n > 0) {
            stats_add(&stats_here->bytes_in[SW_H1], (uint64_t)n);
            buf_commit(&c->in, (size_t)n);
            /* a short read drained the socket; with edge triggering, more data brings a new
             * event, so skip the read that would only say EAGAIN. Not over TLS: a read returns
             * one record while more may wait (pipelined requests stalled until the keep-alive
             * timeout, seen with h2load --h1 -m 4 over TLS) */
            if ((size_t)n < room && transport_short_read_drains(&c->tr)) c->can_read = false;
            return 1;
        }
        if (n == 0) return -1;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            c->can_read = false;
            return 0;
        }
        return -1;
    }
}

/* An interim response (RFC 9110 §15.2), e.g. 103 Early Hints; never to HTTP/1.0 clients. */
static int send_interim(struct http_request *req, int status, const struct http_fields *fields)
{
    struct h1_conn *c = req->wire;
    if (req->version < 11 || status < 100 || status > 199 || status == 101) return -1;
    if (worker_buf_acquire(c->wk, &c->out) < 0 ||
        buf_appendf(&c->out, "HTTP/1.1 %d %s\r\n", status, http_status_reason(status)) < 0)
        return -1;
    for (size_t i = 0; i < fields->count; i++) {
        const struct http_field *f = &fields->items[i];
        const char *name = f->token != HTTP_TOKEN_NONE ? h1_canonical_name(f->token) : NULL;
        if (buf_appendf(&c->out, "%.*s: %.*s\r\n", (int)f->name.len, name ? name : f->name.p,
                        (int)f->value.len, f->value.p) < 0)
            return -1;
    }
    if (buf_append(&c->out, "\r\n", 2) < 0) return -1;
    /* send it now: the point of an interim response is to arrive before the final one */
    if (c->can_write) {
        ssize_t n = transport_write(&c->tr, buf_ptr(&c->out), buf_size(&c->out));
        if (n > 0) {
            stats_add(&stats_here->bytes_out[SW_H1], (uint64_t)n);
            buf_consume(&c->out, (size_t)n);
        } else if (n < 0 && errno == EAGAIN)
            c->can_write = false;
    }
    return 0;
}

static struct exchange *exchange_new(struct h1_conn *c)
{
    struct pool *pool = worker_take_pool(c->wk);
    if (!pool) return NULL;
    struct exchange *ex = pool_calloc(pool, sizeof(*ex));
    if (!ex) {
        worker_give_pool(c->wk, pool);
        return NULL;
    }
    ex->pool = pool;
    ex->cfg = c->wk->cfg;
    ex->req.pool = pool;
    ex->req.version = 11;
    ex->req.scheme = STR_LIT("http");
    ex->req.send_interim = send_interim;
    ex->req.resume = resume_request;
    ex->req.wire = c;
    ex->req.now = loop_now(c->wk->loop);
    ex->req.now_ms = loop_now_ms(c->wk->loop);
    memcpy(ex->req.peer, c->peer, sizeof(c->peer));
    http_request_set_conn(&ex->req, c->tr.fd, c->tr.tls);
    ex->req.alt_svc_port = c->alt_svc_port;
    ex->req.metrics_listener = c->metrics_only;
    ex->resp.content_length = -1;
    c->ex = ex;
    return ex;
}

static void start_response(struct h1_conn *c);

/* A wire-level rejection: answer `status` and close. Returns false when the connection
 * had to be closed at once. */
static bool reject(struct h1_conn *c, int status, const char *reason)
{
    log_info("%s: %d %s", c->peer, status, reason);
    struct exchange *ex = c->ex ? c->ex : exchange_new(c);
    if (!ex) {
        conn_close(c, CONN_END_LINGER);
        return false;
    }
    if (ex->resp.body && ex->resp.body->close) ex->resp.body->close(ex->resp.body);
    memset(&ex->resp, 0, sizeof(ex->resp));
    ex->resp.content_length = -1;
    dispatch_error(&ex->req, &ex->resp, status);
    c->close_after = true;
    start_response(c);
    return true;
}

/* Splits an origin-form path-and-query at the first '?'. */
static void split_path_query(struct http_request *req, str_t t)
{
    const char *q = memchr(t.p, '?', t.len);
    size_t plen = q ? (size_t)(q - t.p) : t.len;
    req->path = str_make(t.p, plen);
    if (q) {
        req->query = str_make(q + 1, t.len - plen - 1);
        req->has_query = true;
    }
}

/* Splits an absolute-form target into authority, path and query (RFC 9112 §3.2.2). */
static bool split_absolute(struct http_request *req)
{
    str_t t = req->target;
    size_t i = 0;
    while (i < t.len && t.p[i] != ':')
        i++;
    if (i + 2 >= t.len || t.p[i + 1] != '/' || t.p[i + 2] != '/') return false;
    str_t scheme = str_make(t.p, i);
    if (!str_eq_nocase(scheme, STR_LIT("http")) && !str_eq_nocase(scheme, STR_LIT("https")))
        return false;
    size_t a = i + 3, e = a;
    while (e < t.len && t.p[e] != '/' && t.p[e] != '?' && t.p[e] != '#')
        e++;
    req->authority = str_make(t.p + a, e - a);
    if (req->authority.len == 0 || (e < t.len && t.p[e] == '#')) return false;
    if (e < t.len && t.p[e] == '/') {
        split_path_query(req, str_make(t.p + e, t.len - e));
    } else {
        req->path = STR_LIT("/"); /* an empty path is "/" (RFC 9112 §3.2.1) */
        if (e < t.len) {
            req->query = str_make(t.p + e + 1, t.len - e - 1);
            req->has_query = true;
        }
    }
    return true;
}

/* Lower-cased host without port or trailing dot, in the request pool. */
static void derive_host(struct http_request *req)
{
    str_t a = req->authority;
    if (a.len == 0) {
        req->host = STR_NULL;
        return;
    }
    size_t end = a.len;
    if (a.len && a.p[0] == '[') {
        const char *rb = memchr(a.p, ']', a.len);
        end = rb ? (size_t)(rb - a.p) + 1 : a.len;
    } else {
        const char *colon = memchr(a.p, ':', a.len);
        if (colon) end = (size_t)(colon - a.p);
    }
    if (end && a.p[end - 1] == '.') end--;
    char *h = pool_alloc(req->pool, end + 1);
    if (!h) {
        req->host = STR_NULL;
        return;
    }
    for (size_t i = 0; i < end; i++)
        h[i] = ascii_lower(a.p[i]);
    h[end] = '\0';
    req->host = str_make(h, end);
}

static void on_trailer(void *ctx, str_t name, str_t value)
{
    struct exchange *ex = ctx;
    char *n = pool_strndup(ex->pool, name.p, name.len);
    char *v = pool_strndup(ex->pool, value.p, value.len);
    if (n && v)
        http_fields_add(&ex->req.trailers, ex->pool, str_make(n, name.len), str_make(v, value.len));
}

/* req.body_in of a streamed request body: the client's bytes, de-chunked, as the handler
 * pulls them; a read of the socket when none are buffered. */
static enum body_next_result body_in_next(struct body_source *src, struct body_chunk *out,
                                          size_t max)
{
    struct exchange *ex = (struct exchange *)((char *)src - offsetof(struct exchange, body_src));
    struct h1_conn *c = ex->req.wire;
    if (ex->handed) {
        buf_consume(&c->in, ex->handed);
        ex->handed = 0;
    }
    for (;;) {
        if (ex->body_in_done) return BODY_END;
        size_t avail = buf_size(&c->in);
        if (avail) {
            size_t n = avail < max ? avail : max, produced = n;
            char *p = buf_ptr(&c->in);
            if (!ex->chunked_in) {
                if (n > ex->body_left) n = produced = (size_t)ex->body_left;
                ex->body_left -= n;
                if (ex->body_left == 0) ex->body_in_done = true;
            } else {
                size_t used = 0;
                enum h1_chunked_result r = h1_chunked_decode(&ex->dec, p, n, &used, p, &produced);
                if (r == H1_CHUNKED_ERROR) {
                    log_info("%s: 400 malformed chunked request body", c->peer);
                    ex->req.body_in_status = 400;
                    return BODY_ERROR;
                }
                if (r == H1_CHUNKED_DONE) ex->body_in_done = true;
                n = used;
            }
            ex->body_in_total += produced;
            if (ex->body_in_total > ex->cfg->limits.body_size) {
                log_info("%s: 413 request body larger than the limit", c->peer);
                ex->req.body_in_status = 413;
                return BODY_ERROR;
            }
            if (produced) {
                *out = (struct body_chunk){.kind = BODY_CHUNK_MEM, .data = p, .len = produced};
                ex->handed = n;
                return BODY_CHUNK;
            }
            buf_consume(&c->in, n); /* chunk framing only */
            continue;
        }
        if (!c->can_read) {
            ex->body_in_waiting = true; /* conn_run wakes the handler when the socket is */
            return BODY_WAIT;
        }
        int r = conn_read(c);
        if (r < 0) {
            log_info("%s: connection closed before the request body was complete", c->peer);
            ex->req.body_in_status = 0;
            return BODY_ERROR;
        }
        if (r == 0) {
            ex->body_in_waiting = true;
            return BODY_WAIT;
        }
    }
}

/* Dispatches a request whose body the handler takes as it arrives (a proxy location). */
static void dispatch_streaming(struct h1_conn *c)
{
    struct exchange *ex = c->ex;
    ex->streaming = true;
    ex->body_src.next = body_in_next;
    ex->req.body_in = &ex->body_src;
    ex->req.body_in_length = ex->chunked_in ? -1 : (int64_t)ex->body_left;
    ex->req.body = "";
    ex->req.body_len = 0;
    dispatch(c);
}

static void dispatch(struct h1_conn *c)
{
    struct exchange *ex = c->ex;
    ex->req.body = buf_ptr(&ex->body);
    ex->req.body_len = buf_size(&ex->body);
    dispatch_request(ex->cfg, c->wk, &ex->req, &ex->resp);
    if (ex->resp.pending) {
        c->state = ST_WAIT;
        /* the handler's timeouts bound the wait; this one only catches a handler that never
         * answers */
        conn_set_deadline(c, 24 * 3600);
        return;
    }
    start_response(c);
}

/* req.take_connection: the handler switches protocols (a proxied WebSocket). */
static int take_connection(struct http_request *req, int *fd, struct tls_conn **tls, char **rest,
                           size_t *rest_len)
{
    struct h1_conn *c = req->wire;
    size_t n = buf_size(&c->in);
    char *copy = malloc(n ? n : 1);
    if (!copy) return -1;
    if (n) memcpy(copy, buf_ptr(&c->in), n);
    if (c->registered) loop_remove(c->wk->loop, &c->base.w);
    c->registered = false;
    wire_exchange_done(c->wk, &c->ex->req, &c->ex->resp);
    *fd = c->tr.fd;
    *tls = c->tr.tls;
    *rest = copy;
    *rest_len = n;
    c->tr = (struct transport){-1, NULL}; /* no longer ours */
    conn_close(c, CONN_END_NOW);
    return 0;
}

/* Hands the connection to a registered protocol. True when it took it (c is gone). */
static bool try_upgrade(struct h1_conn *c, const struct h1_upgrade_protocol *proto)
{
    struct worker *wk = c->wk;
    int fd = c->tr.fd;
    if (c->tr.tls) return false; /* Upgrade is for cleartext (h2c); TLS uses ALPN */
    bool was_registered = c->registered;
    if (was_registered) loop_remove(wk->loop, &c->base.w);
    c->registered = false;
    if (proto->take_over(wk, fd, c->peer, &c->ex->req, buf_ptr(&c->in), buf_size(&c->in)) < 0) {
        c->can_read = c->can_write = true;
        if (was_registered && conn_register(c) < 0) log_error("epoll_ctl: %s", strerror(errno));
        return false;
    }
    c->tr = (struct transport){-1, NULL}; /* no longer ours */
    conn_close(c, CONN_END_NOW);
    return true;
}

/* Hands the connection to HTTP/2 with the bytes read so far (prior knowledge or ALPN). */
static void hand_to_h2(struct h1_conn *c)
{
    struct worker *wk = c->wk;
    struct transport tr = c->tr;
    if (c->registered) loop_remove(wk->loop, &c->base.w);
    c->registered = false;
    c->tr = (struct transport){-1, NULL}; /* h2 owns the socket from here */
    /* h2_conn_open copies the bytes before this connection's buffers are recycled */
    h2_conn_open(wk, tr, c->peer, c->in.data ? buf_ptr(&c->in) : "", buf_size(&c->in), NULL);
    conn_close(c, CONN_END_NOW);
}

/* Builds the exchange for a complete head of n bytes at the front of c->in. Returns false
 * when the connection is gone (closed or handed to another protocol). */
static bool start_exchange(struct h1_conn *c, const struct h1_request_head *head, size_t n)
{
    struct exchange *ex = exchange_new(c);
    if (!ex) {
        conn_close(c, CONN_END_LINGER);
        return false;
    }
    struct http_request *req = &ex->req;
    const struct config *cfg = ex->cfg;
    /* copy the head so the input buffer can move; rebase every pointer into the copy */
    char *copy = pool_alloc(ex->pool, n);
    if (!copy) {
        conn_close(c, CONN_END_LINGER);
        return false;
    }
    const char *base = buf_ptr(&c->in);
    memcpy(copy, base, n);
#define REBASE(s) str_make(copy + ((s).p - base), (s).len)
    req->method_name = REBASE(head->method);
    req->method = http_method_from_str(req->method_name);
    req->target = REBASE(head->target);
    req->version = head->version;
    for (size_t i = 0; i < head->n_fields; i++)
        http_fields_add(&req->headers, ex->pool, REBASE(head->fields[i].name),
                        REBASE(head->fields[i].value));
    if (head->host.len) req->authority = REBASE(head->host);
#undef REBASE
    buf_consume(&c->in, n);
    h1_parser_reset(&c->parser);
    c->head_started = false;
    c->n_requests++;

    bool keep = head->keep_alive && req->version >= 10;
    c->peer_closes = !keep;
    if (c->n_requests >= cfg->limits.keepalive_requests || c->graceful ||
        c->wk->state != SERVER_RUNNING)
        keep = false;
    c->close_after = !keep;

    if (req->target.len && req->target.p[0] == '/') {
        split_path_query(req, req->target);
    } else if (req->target.len == 1 && req->target.p[0] == '*') {
        req->path = req->target;
    } else if (head->target_form == H1_TARGET_AUTHORITY && cfg->forward.enabled) {
        /* CONNECT host:port to the forward proxy (RFC 9110 §9.3.6): it tunnels the connection */
        if (head->chunked || head->content_length > 0) return reject(c, 400, "CONNECT with a body");
        req->authority = req->target;
        req->path = STR_LIT("/");
        req->take_connection = take_connection;
    } else if (!split_absolute(req)) {
        return reject(c, 400, "unsupported request-target form");
    } else if (!h1_host_is_valid(req->authority)) {
        return reject(c, 400, "invalid authority in absolute-form target");
    }
    derive_host(req);

    if (head->upgrade && !head->chunked && head->content_length <= 0) {
        const struct http_field *up = http_fields_find(&req->headers, HTTP_TOKEN_UPGRADE);
        const struct h1_upgrade_protocol *proto = up ? h1_upgrade_find(up->value) : NULL;
        if (proto && !c->metrics_only && try_upgrade(c, proto)) return false;
        if (!proto) req->take_connection = take_connection; /* for a handler that can (proxy) */
    }

    if (head->expect_unsupported) {
        return reject(c, 417, "unsupported Expect value");
    }
    if (head->chunked) {
        ex->chunked_in = true;
        h1_chunked_decoder_init(&ex->dec);
        ex->dec.allow_bare_lf = cfg->http1.allow_bare_lf;
        ex->dec.on_trailer = on_trailer;
        ex->dec.ctx = ex;
    } else if (head->content_length > 0) {
        if ((uint64_t)head->content_length > cfg->limits.body_size) {
            return reject(c, 413, "request body larger than the limit");
        }
        ex->body_left = (uint64_t)head->content_length;
        /* memory follows the bytes that arrive, not what Content-Length promises */
        size_t first = ex->body_left < 65536 ? (size_t)ex->body_left : 65536;
        if (buf_reserve(&ex->body, first) < 0) {
            conn_close(c, CONN_END_LINGER);
            return false;
        }
    } else {
        dispatch(c);
        return true;
    }
    /* RFC 9110 §10.1.1: say 100 Continue before a body the client is holding back */
    if (head->expect_continue && req->version >= 11 && buf_size(&c->in) == 0)
        buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    if (dispatch_streams_body(cfg, req)) {
        dispatch_streaming(c);
        return true;
    }
    c->state = ST_BODY;
    conn_set_deadline(c, cfg->timeouts.body);
    return true;
}

/* Moves body bytes from c->in into the exchange. Returns 1 when the body is complete, 0 when
 * more is needed, -1 when the request was rejected (now responding), -2 when c is gone. */
static int take_body(struct h1_conn *c)
{
    struct exchange *ex = c->ex;
    if (!ex->chunked_in) {
        size_t n = buf_size(&c->in);
        if (n > ex->body_left) n = (size_t)ex->body_left;
        buf_append(&ex->body, buf_ptr(&c->in), n);
        buf_consume(&c->in, n);
        ex->body_left -= n;
        return ex->body_left == 0;
    }
    size_t consumed = 0, produced = 0;
    char *p = buf_ptr(&c->in);
    enum h1_chunked_result r =
        h1_chunked_decode(&ex->dec, p, buf_size(&c->in), &consumed, p, &produced);
    if (r == H1_CHUNKED_ERROR) return reject(c, 400, "malformed chunked request body") ? -1 : -2;
    if (buf_size(&ex->body) + produced > ex->cfg->limits.body_size)
        return reject(c, 413, "chunked request body larger than the limit") ? -1 : -2;
    buf_append(&ex->body, p, produced);
    buf_consume(&c->in, consumed);
    return r == H1_CHUNKED_DONE;
}

static void start_response(struct h1_conn *c)
{
    struct exchange *ex = c->ex;
    worker_buf_acquire(c->wk, &c->out);
    struct http_response *resp = &ex->resp;
    struct http_request *req = &ex->req;
    int st = resp->status;
    if (resp->close) c->close_after = true;
    ex->head_only =
        req->method == HTTP_METHOD_HEAD || (st >= 100 && st < 200) || st == 204 || st == 304;
    c->state = ST_RESPOND;
    conn_set_deadline(c, ex->cfg->timeouts.send);
    if (req->version == 9) {
        /* HTTP/0.9: the body alone, then close */
        c->close_after = true;
        ex->head_only = false;
        return;
    }
    enum h1_framing framing;
    int64_t len = resp->content_length;
    if (st == 204 || st == 304 || st < 200)
        framing = H1_FRAMING_NONE;
    else if (len >= 0)
        framing = H1_FRAMING_LENGTH;
    else if (ex->head_only)
        framing = H1_FRAMING_NONE;
    else if (req->version >= 11)
        framing = H1_FRAMING_CHUNKED;
    else {
        framing = H1_FRAMING_CLOSE;
        c->close_after = true;
    }
    ex->chunked_out = framing == H1_FRAMING_CHUNKED && !ex->head_only;
    if (h1_serialize_head(&c->out, resp, loop_date(c->wk->loop), framing, len, req->version,
                          !c->close_after) < 0)
        c->close_after = true;
}

/* Ends the exchange; returns false when the connection was closed. */
static bool finish_exchange(struct h1_conn *c)
{
    struct exchange *ex = c->ex;
    wire_exchange_done(c->wk, &ex->req, &ex->resp);
    bool unread = ex->body_left > 0 || ex->resp.status >= 400; /* errors always linger */
    if (ex->streaming && !ex->body_in_done) {
        /* answered before the whole body came (the upstream did not want it): the rest
         * cannot be told from a next request */
        c->close_after = true;
        unread = true;
    }
    if (ex->handed) buf_consume(&c->in, ex->handed);
    exchange_free(c);
    if (c->close_after || c->graceful) {
        /* Closing at once is safe only when the client itself said it sends nothing more and
         * nothing of it is unread; otherwise linger, so that a reset does not destroy the
         * response before the client read it. */
        bool quiet = c->peer_closes && !unread && buf_size(&c->in) == 0;
        /* can_read false: the last read drained the socket and no readiness came since, so
         * skip the close path's look at the receive queue */
        conn_close(c, !quiet ? CONN_END_LINGER : c->can_read ? CONN_END_QUIET : CONN_END_NOW);
        return false;
    }
    c->state = ST_HEAD;
    if (buf_size(&c->in)) {
        c->head_started = true;
        conn_set_deadline(c, c->wk->cfg->timeouts.header);
    } else {
        /* idle: give the memory back; keep-alive connections cost only this struct */
        worker_buf_release(c->wk, &c->in);
        worker_buf_release(c->wk, &c->out);
        conn_set_deadline(c, c->wk->cfg->timeouts.keepalive);
    }
    return true;
}

static int append_mem(struct h1_conn *c, const char *p, size_t n)
{
    if (c->ex->chunked_out) {
        char hdr[20];
        size_t hl = h1_chunk_header(hdr, n);
        if (buf_append(&c->out, hdr, hl) < 0) return -1;
    }
    if (buf_append(&c->out, p, n) < 0) return -1;
    if (c->ex->chunked_out && buf_append(&c->out, "\r\n", 2) < 0) return -1;
    return 0;
}

/* Pulls body chunks into c->out (or a pending sendfile range). 0 ok, -1 abort. */
static int fill_output(struct h1_conn *c)
{
    struct exchange *ex = c->ex;
    if (ex->head_only || !ex->resp.body) {
        ex->body_done = true;
        return 0;
    }
    while (!ex->body_done && !ex->has_file && buf_size(&c->out) < OUT_HIGH) {
        struct body_chunk ch;
        bool can_sendfile = transport_can_sendfile(&c->tr);
        enum body_next_result r =
            ex->resp.body->next(ex->resp.body, &ch, can_sendfile ? SENDFILE_MAX : OUT_HIGH);
        if (r == BODY_ERROR) {
            /* the body cannot go on (a proxied upstream failed, a file went away): send what
             * is queued and close, so the client sees a response cut short, not none */
            log_error("%s: response body failed, closing after what was sent", c->peer);
            ex->body_done = true;
            c->close_after = true;
            return 0;
        }
        if (r == BODY_WAIT) {
            ex->body_wait = true;
            break;
        }
        if (r == BODY_END) {
            ex->body_done = true;
            if (ex->chunked_out && buf_append(&c->out, H1_CHUNKED_END, 5) < 0) return -1;
            break;
        }
        if (ch.kind == BODY_CHUNK_MEM) {
            if (append_mem(c, ch.data, ch.len) < 0) return -1;
        } else if (!ex->chunked_out && ch.len > COPY_MAX && can_sendfile) {
            ex->file = ch;
            ex->has_file = true;
        } else {
            /* small file range: copy it behind the head so one write sends both */
            size_t done = 0;
            while (done < ch.len) {
                size_t part = ch.len - done > COPY_MAX ? COPY_MAX : ch.len - done;
                if (buf_reserve(&c->out, part + 32) < 0) return -1;
                struct body_chunk sub = ch;
                sub.offset += (off_t)done;
                sub.len = part;
                char *dst = buf_tail(&c->out);
                size_t hl = 0;
                if (ex->chunked_out) {
                    hl = h1_chunk_header(dst, part);
                }
                ssize_t got = body_chunk_copy(&sub, dst + hl, part);
                if (got != (ssize_t)part) return -1;
                buf_commit(&c->out, hl + part);
                if (ex->chunked_out) buf_append(&c->out, "\r\n", 2);
                done += part;
            }
        }
        ex->resp.bytes_sent += (int64_t)ch.len;
    }
    return 0;
}

/* Writes queued output. Returns 1 when everything is sent, 0 when blocked, -1 on error. */
static int flush_output(struct h1_conn *c)
{
    struct exchange *ex = c->ex;
    while (buf_size(&c->out)) {
        if (!c->can_write) return 0;
        ssize_t n;
        if (ex && c->close_after && ex->body_done && !ex->has_file && !c->tr.tls)
            /* the last bytes before we close: MSG_MORE holds them until close() or shutdown()
             * adds the FIN, so the response and the FIN leave in one segment */
            n = send(c->tr.fd, buf_ptr(&c->out), buf_size(&c->out), MSG_MORE | MSG_NOSIGNAL);
        else
            n = transport_write(&c->tr, buf_ptr(&c->out), buf_size(&c->out));
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                c->can_write = false;
                return 0;
            }
            return -1;
        }
        stats_add(&stats_here->bytes_out[SW_H1], (uint64_t)n);
        buf_consume(&c->out, (size_t)n);
        if (ex) conn_set_deadline(c, ex->cfg->timeouts.send);
    }
    while (ex && ex->has_file) {
        if (!c->can_write) return 0;
        off_t off = ex->file.offset;
        ssize_t n = sendfile(c->tr.fd, ex->file.fd, &off, ex->file.len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                c->can_write = false;
                return 0;
            }
            return -1;
        }
        if (n == 0) return -1; /* file shrank under us */
        stats_add(&stats_here->bytes_out[SW_H1], (uint64_t)n);
        ex->file.offset = off;
        ex->file.len -= (size_t)n;
        if (ex->file.len == 0) ex->has_file = false;
        conn_set_deadline(c, ex->cfg->timeouts.send);
    }
    return 1;
}

static struct h1_parse_options parse_options(const struct config *cfg)
{
    return (struct h1_parse_options){
        .max_request_line = cfg->limits.request_line,
        .max_head_size = cfg->limits.header_size,
        .max_fields = cfg->limits.header_count,
        .http09 = cfg->http1.http09,
        .allow_bare_lf = cfg->http1.allow_bare_lf,
        .allow_obs_fold = cfg->http1.allow_obs_fold,
    };
}

/* ST_HANDSHAKE: drives the TLS handshake, then hands h2 to HTTP/2. Returns false to stop. */
static bool step_handshake(struct h1_conn *c)
{
    int r = tls_conn_handshake(c->tr.tls);
    if (r < 0) {
        STATS_INC(tls_failed);
        conn_close(c, CONN_END_NOW);
        return false;
    }
    if (r == 0) {
        /* wait for the socket; both directions are watched (edge-triggered) */
        c->can_read = c->can_write = false;
        return false;
    }
    STATS_INC(tls_ok);
    const char *alpn = tls_conn_alpn(c->tr.tls);
    c->can_read = c->can_write = true;
    if (alpn && strcmp(alpn, "h2") == 0) {
        hand_to_h2(c);
        return false;
    }
    c->state = ST_HEAD;
    c->head_started = true;
    conn_set_deadline(c, c->wk->cfg->timeouts.header);
    return true;
}

/* ST_HEAD: parse what is buffered, reading more as needed. Returns false to stop running. */
static bool step_head(struct h1_conn *c)
{
    const struct config *cfg = c->wk->cfg;
    if (c->n_requests == 0 && !c->tr.tls && !c->metrics_only && cfg->http2.enabled &&
        cfg->http2.h2c && buf_size(&c->in)) {
        /* h2c with prior knowledge (RFC 9113 §3.3): the preface on the cleartext port */
        size_t n = buf_size(&c->in) < H2_PREFACE_LEN ? buf_size(&c->in) : H2_PREFACE_LEN;
        if (memcmp(buf_ptr(&c->in), h2_preface, n) == 0) {
            if (n == H2_PREFACE_LEN) {
                hand_to_h2(c);
                return false;
            }
            goto read_more;
        }
    }
    if (buf_size(&c->in)) {
        struct h1_parse_options opts = parse_options(cfg);
        if (tl_fields_cap < opts.max_fields) {
            free(tl_fields);
            tl_fields = calloc(opts.max_fields, sizeof(*tl_fields));
            tl_fields_cap = tl_fields ? opts.max_fields : 0;
            if (!tl_fields) {
                log_error("%s: out of memory for a request head", c->peer);
                conn_close(c, CONN_END_LINGER);
                return false;
            }
        }
        struct h1_request_head head;
        memset(&head, 0, sizeof(head));
        head.fields = tl_fields;
        struct h1_error err = {0, NULL};
        int n = h1_parse_request_head(&c->parser, buf_ptr(&c->in), buf_size(&c->in), &opts, &head,
                                      &err);
        if (n > 0) return start_exchange(c, &head, (size_t)n);
        if (n < 0)
            return reject(c, err.status ? err.status : 400,
                          err.reason ? err.reason : "bad request");
        if (!c->head_started) {
            c->head_started = true;
            conn_set_deadline(c, cfg->timeouts.header);
        }
    }
read_more:
    if (!c->can_read) return false;
    int r = conn_read(c);
    if (r < 0) {
        conn_close(c, CONN_END_NOW); /* the client closed or reset: nothing is in flight */
        return false;
    }
    return r > 0;
}

static void conn_run(struct h1_conn *c)
{
    struct exchange *ex = c->ex;
    if (ex && ex->body_in_waiting && c->can_read) {
        /* the handler pulling a streamed request body waits for the socket: it is readable */
        ex->body_in_waiting = false;
        if (ex->req.body_in_wake) ex->req.body_in_wake(ex->req.body_in_ctx);
    }
    for (;;) {
        switch (c->state) {
        case ST_HANDSHAKE:
            if (!step_handshake(c)) return;
            break;
        case ST_HEAD:
            if (c->graceful && buf_size(&c->in) == 0) {
                conn_close(c, CONN_END_QUIET);
                return;
            }
            if (!step_head(c)) return;
            break;
        case ST_BODY: {
            int r = buf_size(&c->in) ? take_body(c) : 0;
            if (r < 0) break; /* rejected: now responding */
            if (r > 0) {
                dispatch(c);
                break;
            }
            if (buf_size(&c->out)) { /* 100 Continue */
                int f = flush_output(c);
                if (f < 0) {
                    conn_close(c, CONN_END_NOW);
                    return;
                }
            }
            if (!c->can_read) return;
            int rd = conn_read(c);
            if (rd < 0) {
                log_info("%s: connection closed before the request body was complete", c->peer);
                conn_close(c, CONN_END_NOW);
                return;
            }
            if (rd == 0) return;
            conn_set_deadline(c, c->ex->cfg->timeouts.body);
            break;
        }
        case ST_WAIT:
            if (buf_size(&c->out)) { /* 100 Continue */
                if (flush_output(c) < 0) {
                    conn_close(c, CONN_END_NOW);
                    return;
                }
                conn_set_deadline(c, 24 * 3600); /* the handler's timeouts bound the wait */
            }
            return; /* the handler's resume runs us again */
        case ST_RESPOND: {
            if (fill_output(c) < 0) {
                log_error("%s: response body failed, closing", c->peer);
                conn_close(c, CONN_END_LINGER);
                return;
            }
            int f = flush_output(c);
            if (f < 0) {
                conn_close(c, CONN_END_NOW); /* the socket failed: the client is gone */
                return;
            }
            if (f == 0) return;
            if (c->ex->body_done && !c->ex->has_file) {
                if (!finish_exchange(c)) return;
            } else if (c->ex->body_wait) {
                /* all sent; the source's own timeouts bound the wait for more (as ST_WAIT),
                 * and its resume runs us again */
                conn_set_deadline(c, 24 * 3600);
                return;
            }
            break;
        }
        }
    }
}
