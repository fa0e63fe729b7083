#include "client/upstream_pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"

struct idle_conn {
    struct io_watch w; /* first: the loop hands back &w */
    struct timer timer;
    struct upstream_pool *pool;
    struct idle_conn *next, *prev; /* most recently put first */
    struct sockaddr_storage addr;
    socklen_t addr_len;
};

struct upstream_pool {
    struct loop *loop;
    struct idle_conn *head;
    size_t count;
};

struct upstream_pool *upstream_pool_new(struct loop *loop)
{
    struct upstream_pool *p = calloc(1, sizeof(*p));
    if (p) p->loop = loop;
    return p;
}

static void unlink_conn(struct upstream_pool *p, struct idle_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        p->head = c->next;
    if (c->next) c->next->prev = c->prev;
    p->count--;
    timer_cancel(&c->timer);
    loop_remove(p->loop, &c->w);
}

/* Nothing is queued either way on an idle connection: a plain close loses nothing. */
static void drop(struct upstream_pool *p, struct idle_conn *c)
{
    unlink_conn(p, c);
    close(c->w.fd);
    free(c);
}

void upstream_pool_free(struct upstream_pool *p)
{
    if (!p) return;
    while (p->head)
        drop(p, p->head);
    free(p);
}

/* The upstream closed it, or sent what nobody asked for: it cannot carry a request. */
static void on_idle_event(struct io_watch *w, uint32_t events)
{
    (void)events;
    struct idle_conn *c = (struct idle_conn *)w;
    drop(c->pool, c);
}

static void on_idle_timeout(struct timer *t)
{
    struct idle_conn *c = (struct idle_conn *)((char *)t - offsetof(struct idle_conn, timer));
    drop(c->pool, c);
}

static bool same_addr(const struct idle_conn *c, const struct sockaddr *addr, socklen_t len)
{
    return c->addr_len == len && memcmp(&c->addr, addr, len) == 0;
}

int upstream_pool_take(struct upstream_pool *p, const struct sockaddr *addr, socklen_t len)
{
    for (struct idle_conn *c = p->head; c; c = c->next) {
        if (!same_addr(c, addr, len)) continue;
        int fd = c->w.fd;
        unlink_conn(p, c);
        free(c);
        return fd;
    }
    return -1;
}

void upstream_pool_put(struct upstream_pool *p, const struct sockaddr *addr, socklen_t len, int fd,
                       unsigned max_idle, int64_t idle_ms)
{
    struct idle_conn *oldest = NULL;
    unsigned n = 0;
    for (struct idle_conn *c = p->head; c; c = c->next)
        if (same_addr(c, addr, len)) {
            n++;
            oldest = c;
        }
    if (max_idle == 0) {
        close(fd);
        return;
    }
    if (n >= max_idle && oldest) drop(p, oldest);
    struct idle_conn *c = calloc(1, sizeof(*c));
    if (!c || len > sizeof(c->addr)) {
        free(c);
        close(fd);
        return;
    }
    c->w.fd = fd;
    c->w.cb = on_idle_event;
    c->timer.cb = on_idle_timeout;
    c->pool = p;
    memcpy(&c->addr, addr, len);
    c->addr_len = len;
    /* edge-triggered: data or a FIN already queued is reported at once */
    if (loop_add(p->loop, &c->w, EPOLLIN | EPOLLRDHUP | EPOLLET) < 0) {
        free(c);
        close(fd);
        return;
    }
    c->next = p->head;
    if (p->head) p->head->prev = c;
    p->head = c;
    p->count++;
    timer_arm(p->loop, &c->timer, loop_now_ms(p->loop) + idle_ms);
}

size_t upstream_pool_idle(const struct upstream_pool *p)
{
    return p ? p->count : 0;
}
