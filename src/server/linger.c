#include "server/linger.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/log.h"
#include "server/server.h"

struct lingering {
    struct conn base;
    struct timer timer;
    struct worker *wk;
    struct tls_conn *tls; /* freed at the end (close_notify already sent) */
    size_t dropped;
};

static void linger_end(struct lingering *lg)
{
    timer_cancel(&lg->timer);
    if (lg->tls) tls_conn_free(lg->tls);
    lg->tls = NULL;
    if (lg->base.w.fd >= 0) close(lg->base.w.fd); /* also leaves the epoll set */
    lg->base.w.fd = -1;
    worker_retire_conn(lg->wk, &lg->base);
}

/* Reads and drops what the peer sends; ends on EOF, error or the byte bound. */
static void linger_drain(struct lingering *lg)
{
    char scratch[16384];
    for (;;) {
        ssize_t n = read(lg->base.w.fd, scratch, sizeof(scratch));
        if (n > 0) {
            lg->dropped += (size_t)n;
            if (lg->dropped > LINGER_MAX_BYTES) break;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        break; /* EOF: the peer has everything and closed too; or an error */
    }
    linger_end(lg);
}

static void on_io(struct io_watch *w, uint32_t events)
{
    (void)events;
    struct lingering *lg = (struct lingering *)w;
    if (lg->base.retired) return;
    linger_drain(lg);
}

static void on_timer(struct timer *t)
{
    struct lingering *lg = (struct lingering *)((char *)t - offsetof(struct lingering, timer));
    linger_end(lg);
}

static void op_shutdown(struct conn *c, bool graceful)
{
    if (!graceful) linger_end((struct lingering *)c); /* else it ends by itself, soon */
}

static void op_free(struct conn *c)
{
    free(c);
}

static const struct conn_ops linger_ops = {
    .name = "linger",
    .shutdown = op_shutdown,
    .free = op_free,
};

/* close() also takes the socket out of the epoll set (no other descriptor refers to it) */
static void close_now(struct transport *tr)
{
    transport_close(tr);
}

void linger_close(struct worker *wk, struct transport *tr, bool registered, enum conn_end how)
{
    if (tr->fd < 0) return;
    if (how == CONN_END_NOW || wk->state == SERVER_STOPPING) {
        close_now(tr);
        return;
    }
    /* RFC 8446 §6.1: close_notify before the write side closes */
    if (tr->tls) tls_conn_close_notify(tr->tls);
    if (how == CONN_END_QUIET) {
        int unread = 0;
        if (ioctl(tr->fd, FIONREAD, &unread) == 0 && unread == 0) {
            close_now(tr);
            return;
        }
    }
    if (shutdown(tr->fd, SHUT_WR) < 0 && errno == ENOTCONN) {
        close_now(tr); /* the peer is gone already */
        return;
    }
    struct lingering *lg = calloc(1, sizeof(*lg));
    if (!lg) {
        close_now(tr);
        return;
    }
    lg->wk = wk;
    lg->tls = tr->tls;
    lg->base.w.fd = tr->fd;
    lg->base.w.cb = on_io;
    lg->timer.cb = on_timer;
    *tr = (struct transport){-1, NULL};
    /* take the registration over with one epoll_ctl; edge-triggered, so look once now */
    uint32_t ev = EPOLLIN | EPOLLRDHUP | EPOLLET;
    int rc =
        registered ? loop_modify(wk->loop, &lg->base.w, ev) : loop_add(wk->loop, &lg->base.w, ev);
    worker_add_conn(wk, &lg->base, &linger_ops);
    if (rc < 0) {
        linger_end(lg);
        return;
    }
    timer_arm(wk->loop, &lg->timer, loop_now_ms(wk->loop) + LINGER_MS);
    linger_drain(lg);
}
