#include "server/tunnel.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "client/upstream_pool.h"
#include "core/log.h"
#include "server/linger.h"
#include "http/request.h"
#include "server/server.h"

/* One direction: bytes read from one side wait here until the other side takes them. */
struct pipe {
    struct buf buf;
    bool eof;  /* the source said EOF (or failed): nothing more comes */
    bool shut; /* the destination's write side was shut after the last byte */
};

struct tunnel {
    struct conn base; /* base.w: the client socket */
    struct worker *wk;
    struct transport client;
    struct upstream_conn *uc;
    struct timer timer;
    int64_t idle_ms, deadline;
    bool c_read, c_write, u_read, u_write; /* readiness (edge-triggered) */
    bool registered, closed;
    struct pipe up, down; /* up: client -> upstream; down: upstream -> client */
    char peer[64];
};

static void tunnel_close(struct tunnel *t, enum conn_end how)
{
    if (t->closed) return;
    t->closed = true;
    timer_cancel(&t->timer);
    upstream_conn_close(t->uc);
    t->uc = NULL;
    linger_close(t->wk, &t->client, t->registered, how);
    t->base.w.fd = -1;
    worker_buf_release(t->wk, &t->up.buf);
    worker_buf_release(t->wk, &t->down.buf);
    worker_retire_conn(t->wk, &t->base);
}

/* Reads from the source into p when p is empty. 1 when something happened (bytes, EOF), 0
 * when not, -1 on a failure. */
static int fill(struct pipe *p, bool *ready, ssize_t (*rd)(void *, void *, size_t), void *ctx,
                struct worker *wk)
{
    int moved = 0;
    while (*ready && !p->eof && buf_size(&p->buf) == 0) {
        if (worker_buf_acquire(wk, &p->buf) < 0) return -1;
        buf_clear(&p->buf);
        ssize_t n = rd(ctx, buf_tail(&p->buf), p->buf.cap);
        if (n > 0) {
            buf_commit(&p->buf, (size_t)n);
            moved = 1;
        } else if (n == 0) {
            p->eof = true;
            moved = 1;
        } else if (errno == EAGAIN) {
            *ready = false;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    return moved;
}

/* Writes what p holds to the destination; after the source's EOF, shuts its write side. 1
 * when something happened, 0 when not, -1 on a failure. */
static int drain(struct pipe *p, bool *ready, ssize_t (*wr)(void *, const void *, size_t),
                 void (*shut)(void *), void *ctx)
{
    int moved = 0;
    while (*ready && buf_size(&p->buf)) {
        ssize_t n = wr(ctx, buf_ptr(&p->buf), buf_size(&p->buf));
        if (n > 0) {
            buf_consume(&p->buf, (size_t)n);
            moved = 1;
        } else if (n < 0 && errno == EAGAIN) {
            *ready = false;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
    }
    if (p->eof && buf_size(&p->buf) == 0 && !p->shut) {
        shut(ctx);
        p->shut = true;
        moved = 1;
    }
    return moved;
}

static ssize_t client_read(void *ctx, void *b, size_t n)
{
    return transport_read(&((struct tunnel *)ctx)->client, b, n);
}
static ssize_t client_write(void *ctx, const void *b, size_t n)
{
    return transport_write(&((struct tunnel *)ctx)->client, b, n);
}
static void client_shut(void *ctx)
{
    struct tunnel *t = ctx;
    /* TLS: close_notify first (RFC 8446 §6.1); reading goes on until the client closes */
    if (t->client.tls) tls_conn_close_notify(t->client.tls);
    shutdown(t->client.fd, SHUT_WR);
}
static ssize_t upstream_read(void *ctx, void *b, size_t n)
{
    return upstream_conn_read(((struct tunnel *)ctx)->uc, b, n);
}
static ssize_t upstream_write(void *ctx, const void *b, size_t n)
{
    return upstream_conn_write(((struct tunnel *)ctx)->uc, b, n);
}
static void upstream_shut(void *ctx)
{
    upstream_conn_shut_write(((struct tunnel *)ctx)->uc);
}

static void run(struct tunnel *t)
{
    int round = 0;
    bool any = false;
    for (; round < 64; round++) {
        int a = fill(&t->up, &t->c_read, client_read, t, t->wk);
        int b = a < 0 ? -1 : drain(&t->up, &t->u_write, upstream_write, upstream_shut, t);
        int c = b < 0 ? -1 : fill(&t->down, &t->u_read, upstream_read, t, t->wk);
        int d = c < 0 ? -1 : drain(&t->down, &t->c_write, client_write, client_shut, t);
        if (d < 0) {
            tunnel_close(t, CONN_END_NOW); /* a side reset: the other cannot be made whole */
            return;
        }
        if (t->up.shut && t->down.shut) {
            tunnel_close(t, CONN_END_QUIET);
            return;
        }
        if (!(a | b | c | d)) break;
        any = true;
    }
    int64_t now = loop_now_ms(t->wk->loop);
    if (any) t->deadline = now + t->idle_ms;
    if (round == 64) /* still busy: come back next iteration instead of waiting for an edge */
        timer_arm(t->wk->loop, &t->timer, now);
    else if (!timer_armed(&t->timer))
        timer_arm(t->wk->loop, &t->timer, t->deadline);
}

static void on_client(struct io_watch *w, uint32_t events)
{
    struct tunnel *t = (struct tunnel *)w;
    if (t->base.retired) return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) t->c_read = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) t->c_write = true;
    run(t);
}

static void on_upstream(struct upstream_conn *uc, uint32_t events)
{
    struct tunnel *t = uc->owner;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) t->u_read = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) t->u_write = true;
    run(t);
}

static void on_timer(struct timer *tm)
{
    struct tunnel *t = (struct tunnel *)((char *)tm - offsetof(struct tunnel, timer));
    if (loop_now_ms(t->wk->loop) < t->deadline) {
        run(t); /* busy last time, or an early timer: it re-arms */
        return;
    }
    log_info("%s: tunnel idle for %lld ms, closing", t->peer, (long long)t->idle_ms);
    tunnel_close(t, CONN_END_LINGER);
}

/* A stop ends tunnels too: they have no request boundary to wait for (nginx closes them at
 * its shutdown timeout). */
static void op_shutdown(struct conn *base, bool graceful)
{
    tunnel_close((struct tunnel *)base, graceful ? CONN_END_LINGER : CONN_END_NOW);
}

static void op_free(struct conn *base)
{
    free(base);
}

static const struct conn_ops tunnel_ops = {
    .name = "tunnel",
    .shutdown = op_shutdown,
    .free = op_free,
};

int tunnel_take(struct worker *wk, struct http_request *req, struct upstream_conn *uc,
                const char *to_client, size_t n_client, int64_t idle_ms)
{
    char peer[sizeof(req->peer)];
    memcpy(peer, req->peer, sizeof(peer));
    int fd;
    struct tls_conn *tls;
    char *rest;
    size_t rest_len;
    if (req->take_connection(req, &fd, &tls, &rest, &rest_len) < 0) return -1;
    /* req went with the client's connection: only the copies above are left */
    tunnel_start(wk, (struct transport){fd, tls}, peer, uc, to_client, n_client, rest, rest_len,
                 idle_ms);
    free(rest);
    return 0;
}

int tunnel_start(struct worker *wk, struct transport client, const char *peer,
                 struct upstream_conn *uc, const char *to_client, size_t n_client,
                 const char *to_upstream, size_t n_upstream, int64_t idle_ms)
{
    struct tunnel *t = calloc(1, sizeof(*t));
    if (!t) {
        log_error("%s: out of memory for a tunnel", peer);
        upstream_conn_close(uc);
        linger_close(wk, &client, false, CONN_END_NOW);
        return -1;
    }
    t->wk = wk;
    t->client = client;
    t->uc = uc;
    t->idle_ms = idle_ms;
    t->timer.cb = on_timer;
    snprintf(t->peer, sizeof(t->peer), "%s", peer);
    t->base.w.fd = client.fd;
    t->base.w.cb = on_client;
    worker_add_conn(wk, &t->base, &tunnel_ops);
    uc->on_event = on_upstream;
    uc->owner = t;
    t->c_read = t->c_write = t->u_read = t->u_write = true;
    if (worker_buf_acquire(wk, &t->down.buf) < 0 || worker_buf_acquire(wk, &t->up.buf) < 0 ||
        buf_append(&t->down.buf, to_client, n_client) < 0 ||
        buf_append(&t->up.buf, to_upstream, n_upstream) < 0 ||
        loop_add(wk->loop, &t->base.w, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
        log_error("%s: cannot start a tunnel: %s", peer, strerror(errno));
        tunnel_close(t, CONN_END_NOW);
        return -1;
    }
    t->registered = true;
    t->deadline = loop_now_ms(wk->loop) + idle_ms;
    run(t);
    return 0;
}
