#include "handler/stream_tunnel.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "client/upstream_pool.h"
#include "core/log.h"
#include "server/server.h"

struct stream_tunnel {
    struct body_source src; /* first: the response body, the upstream's bytes */
    struct worker *wk;
    struct http_request *req;
    struct upstream_conn *uc;
    struct timer timer;
    struct loop_task up_task; /* the client's body has more: move it */
    int64_t idle_ms, deadline;
    bool down_waiting; /* the wire waits for upstream bytes (src said BODY_WAIT) */
    bool up_waiting;   /* we wait for the client's body (body_in said BODY_WAIT) */
    bool up_done;      /* the client's body ended: the upstream's write side is shut */
    bool failed;
    bool can_read, can_write;
    struct buf down; /* upstream bytes handed to the wire (valid until the next pull) */
    struct buf up;   /* client bytes not yet written upstream */
    struct buf pre;  /* upstream bytes read before the tunnel began, handed out first */
};

static void touch(struct stream_tunnel *t)
{
    t->deadline = loop_now_ms(t->wk->loop) + t->idle_ms;
    if (!timer_armed(&t->timer)) timer_arm(t->wk->loop, &t->timer, t->deadline);
}

static void fail(struct stream_tunnel *t, const char *why)
{
    if (t->failed) return;
    log_info("%s: %s tunnel: %s", t->req->peer,
             t->req->protocol.len ? "extended CONNECT" : "CONNECT", why);
    t->failed = true;
    if (t->down_waiting) {
        t->down_waiting = false;
        t->req->resume(t->req); /* the wire pulls and gets the error (a stream reset) */
    }
}

/* Moves the client's body upstream while both sides allow. */
static void pump_up(struct stream_tunnel *t)
{
    struct body_source *in = t->req->body_in;
    while (!t->failed && !t->up_done) {
        if (buf_size(&t->up)) {
            if (!t->can_write) return;
            ssize_t n = upstream_conn_write(t->uc, buf_ptr(&t->up), buf_size(&t->up));
            if (n < 0 && errno == EAGAIN) {
                t->can_write = false;
                return;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                fail(t, "the upstream stopped taking bytes");
                return;
            }
            buf_consume(&t->up, (size_t)n);
            touch(t);
            continue;
        }
        struct body_chunk ch;
        enum body_next_result r = in->next(in, &ch, IO_BUF_SIZE);
        if (r == BODY_WAIT) {
            t->up_waiting = true;
            return;
        }
        if (r == BODY_END) {
            upstream_conn_shut_write(t->uc); /* the client's END_STREAM: a half close */
            t->up_done = true;
            return;
        }
        if (r == BODY_ERROR || ch.kind != BODY_CHUNK_MEM) {
            fail(t, "the client's side failed");
            return;
        }
        buf_clear(&t->up);
        if (buf_append(&t->up, ch.data, ch.len) < 0) {
            fail(t, "out of memory");
            return;
        }
    }
}

static void on_up_task(struct loop_task *lt)
{
    struct stream_tunnel *t =
        (struct stream_tunnel *)((char *)lt - offsetof(struct stream_tunnel, up_task));
    if (!t->up_waiting) return;
    t->up_waiting = false;
    pump_up(t);
}

static void body_wake(void *ctx)
{
    struct stream_tunnel *t = ctx;
    loop_defer(t->wk->loop, &t->up_task);
}

static void on_event(struct upstream_conn *uc, uint32_t events)
{
    struct stream_tunnel *t = uc->owner;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) t->can_read = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) t->can_write = true;
    if (t->can_read && t->down_waiting) {
        t->down_waiting = false;
        t->req->resume(t->req);
    }
    if (t->can_write) pump_up(t);
}

static void on_timer(struct timer *tm)
{
    struct stream_tunnel *t =
        (struct stream_tunnel *)((char *)tm - offsetof(struct stream_tunnel, timer));
    if (loop_now_ms(t->wk->loop) < t->deadline) {
        timer_arm(t->wk->loop, tm, t->deadline);
        return;
    }
    fail(t, "idle too long");
}

/* The upstream's bytes, as the wire can send them. */
static enum body_next_result src_next(struct body_source *src, struct body_chunk *out, size_t max)
{
    struct stream_tunnel *t = (struct stream_tunnel *)src;
    if (t->failed) return BODY_ERROR;
    if (worker_buf_acquire(t->wk, &t->down) < 0) return BODY_ERROR;
    buf_clear(&t->down);
    if (buf_size(&t->pre)) {
        size_t n = buf_size(&t->pre) < max ? buf_size(&t->pre) : max;
        if (n > t->down.cap) n = t->down.cap;
        memcpy(buf_tail(&t->down), buf_ptr(&t->pre), n);
        buf_commit(&t->down, n);
        buf_consume(&t->pre, n);
        *out = (struct body_chunk){.kind = BODY_CHUNK_MEM, .data = buf_ptr(&t->down), .len = n};
        return BODY_CHUNK;
    }
    size_t room = t->down.cap < max ? t->down.cap : max;
    for (;;) {
        ssize_t n = upstream_conn_read(t->uc, buf_tail(&t->down), room);
        if (n > 0) {
            buf_commit(&t->down, (size_t)n);
            touch(t);
            *out = (struct body_chunk){
                .kind = BODY_CHUNK_MEM, .data = buf_ptr(&t->down), .len = (size_t)n};
            return BODY_CHUNK;
        }
        if (n == 0) return BODY_END; /* the upstream closed: END_STREAM to the client */
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            t->can_read = false;
            t->down_waiting = true;
            return BODY_WAIT;
        }
        return BODY_ERROR;
    }
}

static void src_close(struct body_source *src)
{
    struct stream_tunnel *t = (struct stream_tunnel *)src;
    timer_cancel(&t->timer);
    loop_task_cancel(&t->up_task);
    if (t->req->body_in_ctx == t) t->req->body_in_wake = NULL;
    upstream_conn_close(t->uc);
    t->uc = NULL;
    worker_buf_release(t->wk, &t->down);
    buf_free(&t->up);
    buf_free(&t->pre);
}

int stream_tunnel_start(struct worker *wk, struct http_request *req, struct http_response *resp,
                        struct upstream_conn *uc, int64_t idle_ms, const void *pre, size_t len)
{
    struct stream_tunnel *t = pool_calloc(req->pool, sizeof(*t));
    if (!t || !req->body_in) return -1;
    if (len && buf_append(&t->pre, pre, len) < 0) return -1;
    t->src.next = src_next;
    t->src.close = src_close;
    t->wk = wk;
    t->req = req;
    t->uc = uc;
    t->idle_ms = idle_ms;
    t->timer.cb = on_timer;
    t->up_task.cb = on_up_task;
    t->can_read = t->can_write = true;
    uc->on_event = on_event;
    uc->owner = t;
    req->body_in_wake = body_wake;
    req->body_in_ctx = t;
    resp->status = 200;
    resp->content_length = -1;
    resp->body = &t->src;
    touch(t);
    pump_up(t);
    return 0;
}
