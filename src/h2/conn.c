#include "h2/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/stats.h"
#include "h2/h2c.h"
#include "h2/push.h"
#include "h2/session.h"
#include "server/dispatch.h"
#include "server/linger.h"
#include "server/wire.h"
#include "server/server.h"

#define READ_CHUNK 16384
#define OUT_HIGH   (256 * 1024) /* stop producing DATA / reading input above this */

struct h2_conn {
    struct conn base; /* base.w.fd == tr.fd */
    struct timer timer;
    struct loop_task resume; /* streams whose handler has more (h2_session_want_resume) */
    struct worker *wk;
    struct transport tr;
    struct h2_session *s;
    struct buf in;
    bool can_read, can_write;
    bool closed, registered;
    bool peer_eof;            /* the client closed its side */
    uint16_t alt_svc_port;    /* HTTP/3's UDP port beside this TLS listener, or 0 */
    int64_t send_deadline_ms; /* output pending without progress until then */
    char peer[64];
};

static void conn_run(struct h2_conn *c);

/* ---- session callbacks ---- */

/* req.resume of every stream: the session remembers the stream and the connection's resume
 * task runs later, outside the handler's callbacks. */
static void resume_request(struct http_request *req)
{
    struct h2_stream *st = req->wire;
    struct h2_conn *c = st->session->ud;
    h2_session_want_resume(st->session, st);
    loop_defer(c->wk->loop, &c->resume);
}

static void on_resume(struct loop_task *t)
{
    struct h2_conn *c = (struct h2_conn *)((char *)t - offsetof(struct h2_conn, resume));
    if (c->closed) return;
    h2_session_resume_queued(c->s);
    conn_run(c);
}

static void on_request(struct h2_session *s, struct h2_stream *st)
{
    struct h2_conn *c = s->ud;
    const struct config *cfg = c->wk->cfg;
    st->req.resume = resume_request;
    st->req.now = loop_now(c->wk->loop); /* the session's clock is unset before its first input */
    st->req.now_ms = loop_now_ms(c->wk->loop);
    http_request_set_conn(&st->req, c->tr.fd, c->tr.tls);
    st->req.alt_svc_port = c->alt_svc_port;
    if (st->reject_status)
        dispatch_error(&st->req, &st->resp, st->reject_status);
    else
        dispatch_request(cfg, c->wk, &st->req, &st->resp);
    if (!st->pushed && cfg->http2.enabled) h2_push_for_response(s, st, cfg);
}

static void on_stream_close(struct h2_session *s, struct h2_stream *st)
{
    struct h2_conn *c = s->ud;
    wire_exchange_done(c->wk, &st->req, &st->resp);
}

static struct pool *take_pool(void *ud)
{
    struct h2_conn *c = ud;
    return worker_take_pool(c->wk);
}

static void give_pool(void *ud, struct pool *p)
{
    struct h2_conn *c = ud;
    worker_give_pool(c->wk, p);
}

static const char *date(void *ud)
{
    struct h2_conn *c = ud;
    return loop_date(c->wk->loop);
}

static bool streams_body(struct h2_session *s, struct h2_stream *st)
{
    struct h2_conn *c = s->ud;
    return dispatch_streams_body(c->wk->cfg, &st->req);
}

/* A handler took streamed body bytes: the WINDOW_UPDATE goes out from the resume task. */
static void want_write(void *ud)
{
    struct h2_conn *c = ud;
    loop_defer(c->wk->loop, &c->resume);
}

static const struct h2_session_callbacks callbacks = {
    .on_request = on_request,
    .streams_body = streams_body,
    .want_write = want_write,
    .on_stream_close = on_stream_close,
    .take_pool = take_pool,
    .give_pool = give_pool,
    .date = date,
};

/* ---- connection ---- */

/* Ends the connection once the session's output is flushed (or cannot be): the socket goes
 * through the close path, which drains what the client still sends (WINDOW_UPDATEs, PING
 * acks, its own GOAWAY) so the kernel keeps the last DATA frames instead of resetting. */
static void conn_close(struct h2_conn *c, enum conn_end how)
{
    struct worker *wk = c->wk;
    if (c->closed) return;
    c->closed = true;
    h2_session_free(c->s);
    c->s = NULL;
    timer_cancel(&c->timer);
    loop_task_cancel(&c->resume);
    if (c->peer_eof && how == CONN_END_LINGER) how = CONN_END_QUIET;
    linger_close(wk, &c->tr, c->registered, how);
    c->base.w.fd = -1;
    buf_free(&c->in);
    worker_retire_conn(wk, &c->base);
}

static void arm_timer(struct h2_conn *c)
{
    int64_t d = h2_session_next_deadline(c->s);
    if (c->send_deadline_ms && (!d || c->send_deadline_ms < d)) d = c->send_deadline_ms;
    if (!d) {
        timer_cancel(&c->timer);
        return;
    }
    if (!timer_armed(&c->timer) || c->timer.expires_ms != d) timer_arm(c->wk->loop, &c->timer, d);
}

static void on_timer(struct timer *t)
{
    struct h2_conn *c = (struct h2_conn *)((char *)t - offsetof(struct h2_conn, timer));
    int64_t now = loop_now_ms(c->wk->loop);
    if (c->send_deadline_ms && now >= c->send_deadline_ms) {
        log_info("%s: HTTP/2 peer not reading, closing", c->peer);
        conn_close(c, CONN_END_NOW);
        return;
    }
    h2_session_timeout(c->s, now);
    if (buf_size(&c->in) == 0) buf_free(&c->in); /* quiet: keep no empty input buffer */
    conn_run(c);
}

static void on_io(struct io_watch *w, uint32_t events)
{
    struct h2_conn *c = (struct h2_conn *)w;
    if (c->base.retired) return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) c->can_read = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) c->can_write = true;
    conn_run(c);
}

/* Feeds buffered input to the session. */
static void feed(struct h2_conn *c)
{
    if (buf_size(&c->in) == 0) return;
    size_t used = h2_session_recv(c->s, (const uint8_t *)buf_ptr(&c->in), buf_size(&c->in),
                                  loop_now_ms(c->wk->loop));
    buf_consume(&c->in, used);
    if (buf_size(&c->in) == 0)
        buf_clear(&c->in);
    else if (c->in.start > c->in.cap / 2)
        buf_compact(&c->in);
}

/* Reads once. 1 data, 0 would block, -1 EOF/error. */
static int conn_read(struct h2_conn *c)
{
    if (buf_reserve(&c->in, READ_CHUNK) < 0) return -1;
    for (;;) {
        size_t room = c->in.cap - c->in.len;
        ssize_t n = transport_read(&c->tr, buf_tail(&c->in), room);
        if (n > 0) {
            stats_add(&stats_here->bytes_in[SW_H2], (uint64_t)n);
            buf_commit(&c->in, (size_t)n);
            if ((size_t)n < room && transport_short_read_drains(&c->tr)) c->can_read = false;
            return 1;
        }
        if (n == 0) {
            c->peer_eof = true;
            return -1;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            c->can_read = false;
            return 0;
        }
        return -1;
    }
}

/* Writes the session's output. 0 ok (maybe blocked), -1 error. */
static int conn_flush(struct h2_conn *c)
{
    struct buf *out = h2_session_output(c->s);
    while (buf_size(out) && c->can_write) {
        ssize_t n = transport_write(&c->tr, buf_ptr(out), buf_size(out));
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                c->can_write = false;
                break;
            }
            return -1;
        }
        stats_add(&stats_here->bytes_out[SW_H2], (uint64_t)n);
        buf_consume(out, (size_t)n);
        c->send_deadline_ms = 0;
    }
    if (buf_size(out) == 0) {
        buf_clear(out);
        c->send_deadline_ms = 0;
    } else if (!c->send_deadline_ms) {
        c->send_deadline_ms =
            loop_now_ms(c->wk->loop) + (int64_t)(c->wk->cfg->timeouts.send * 1000);
    }
    return 0;
}

static void conn_run(struct h2_conn *c)
{
    for (int rounds = 0; rounds < 64; rounds++) {
        bool progress = false;
        struct buf *out = h2_session_output(c->s);
        if (c->can_read && !h2_session_done(c->s) && buf_size(out) < OUT_HIGH) {
            int r = conn_read(c);
            if (r < 0) {
                conn_close(c, CONN_END_NOW); /* the client closed or reset */
                return;
            }
            if (r > 0) {
                feed(c);
                progress = true;
            }
        }
        h2_session_produce(c->s, OUT_HIGH);
        size_t before = buf_size(out);
        if (conn_flush(c) < 0) {
            conn_close(c, CONN_END_NOW);
            return;
        }
        if (buf_size(out) != before) progress = true;
        if (h2_session_done(c->s) && buf_size(out) == 0) {
            conn_close(c, CONN_END_LINGER);
            return;
        }
        if (!progress) {
            arm_timer(c);
            return;
        }
    }
    /* Still making progress after a fair share of work: the socket may stay readable or
     * writable without a new edge, so come back on the next loop iteration rather than wait
     * for an event that will not arrive. */
    timer_arm(c->wk->loop, &c->timer, loop_now_ms(c->wk->loop));
}

static void op_reload(struct conn *base)
{
    /* set up under the old configuration: GOAWAY gracefully, clients reconnect */
    struct h2_conn *c = (struct h2_conn *)base;
    h2_session_shutdown(c->s, true, loop_now_ms(c->wk->loop));
    c->can_write = true;
    conn_run(c);
}

static void op_shutdown(struct conn *base, bool graceful)
{
    struct h2_conn *c = (struct h2_conn *)base;
    h2_session_shutdown(c->s, graceful, loop_now_ms(c->wk->loop));
    c->can_write = true;
    if (graceful) {
        conn_run(c);
    } else {
        conn_flush(c); /* best effort: the GOAWAY goes out if the socket takes it now */
        conn_close(c, CONN_END_NOW);
    }
}

static void op_free(struct conn *base)
{
    free(base);
}

static const struct conn_ops h2_ops = {
    .name = "h2",
    .shutdown = op_shutdown,
    .reload = op_reload,
    .free = op_free,
};

void h2_conn_open(struct worker *wk, struct transport tr, const char *peer, const char *bytes,
                  size_t len, const struct http_request *upgrade_req)
{
    struct h2_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        log_error("%s: out of memory for an HTTP/2 connection", peer ? peer : "-");
        transport_close(&tr);
        return;
    }
    c->base.w.fd = tr.fd;
    c->base.w.cb = on_io;
    c->timer.cb = on_timer;
    c->resume.cb = on_resume;
    c->wk = wk;
    c->tr = tr;
    if (tr.tls) c->alt_svc_port = wire_h3_port(wk, tr.fd);
    snprintf(c->peer, sizeof(c->peer), "%s", peer ? peer : "-");
    struct h2_session_params p;
    h2_session_params_from_config(&p, wk->cfg, tr.tls != NULL, c->peer);
    c->s = h2_session_new(&p, &callbacks, c, loop_now_ms(wk->loop));
    if (!c->s || (len && buf_append(&c->in, bytes, len) < 0)) {
        log_error("%s: out of memory for an HTTP/2 connection", c->peer);
        h2_session_free(c->s);
        buf_free(&c->in);
        transport_close(&tr);
        free(c);
        return;
    }
    c->base.stats_wire = SW_H2;
    c->base.stats_transport = tr.tls ? ST_TLS : ST_TCP;
    worker_add_conn(wk, &c->base, &h2_ops);
    if (upgrade_req) {
        uint8_t settings[256];
        long n = h2c_check_request(upgrade_req, settings, sizeof(settings));
        if (n < 0 || h2_session_upgrade(c->s, upgrade_req, settings, (size_t)n) < 0) {
            conn_close(c, CONN_END_LINGER);
            return;
        }
    }
    if (wk->state != SERVER_RUNNING) h2_session_shutdown(c->s, true, loop_now_ms(wk->loop));
    c->can_read = c->can_write = true;
    feed(c);
    if (loop_add(wk->loop, &c->base.w, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
        log_error("epoll_ctl: %s", strerror(errno));
        conn_close(c, CONN_END_NOW);
        return;
    }
    c->registered = true;
    conn_run(c);
}
