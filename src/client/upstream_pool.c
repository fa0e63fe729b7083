#include "client/upstream_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tls/tls.h"

struct upstream_pool {
    struct loop *loop;
    struct upstream_conn *head; /* idle, most recently put first */
    size_t count;
    /* Closed ones, freed after the loop's event pass: an event of the pass that closed one
     * (another connection's handler closing it) may still name it. */
    struct upstream_conn *dead;
    struct loop_task reap;
};

static void reap(struct loop_task *t)
{
    struct upstream_pool *p =
        (struct upstream_pool *)((char *)t - offsetof(struct upstream_pool, reap));
    while (p->dead) {
        struct upstream_conn *uc = p->dead;
        p->dead = uc->next;
        free(uc);
    }
}

struct upstream_pool *upstream_pool_new(struct loop *loop)
{
    struct upstream_pool *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->loop = loop;
    p->reap.cb = reap;
    return p;
}

static void unlink_idle(struct upstream_conn *uc)
{
    struct upstream_pool *p = uc->pool;
    if (!uc->idle) return;
    if (uc->prev)
        uc->prev->next = uc->next;
    else
        p->head = uc->next;
    if (uc->next) uc->next->prev = uc->prev;
    uc->next = uc->prev = NULL;
    p->count--;
    uc->idle = false;
    timer_cancel(&uc->timer);
}

void upstream_conn_close(struct upstream_conn *uc)
{
    if (!uc) return;
    struct upstream_pool *p = uc->pool;
    unlink_idle(uc);
    loop_remove(p->loop, &uc->w);
    tls_conn_free(uc->tls); /* close_notify first, when the session is sound */
    close(uc->w.fd);
    uc->w.fd = -1; /* on_io ignores what is left of this pass for it */
    uc->next = p->dead;
    p->dead = uc;
    loop_defer(p->loop, &p->reap);
}

void upstream_pool_free(struct upstream_pool *p)
{
    if (!p) return;
    while (p->head)
        upstream_conn_close(p->head);
    loop_task_cancel(&p->reap);
    reap(&p->reap);
    free(p);
}

static void on_io(struct io_watch *w, uint32_t events)
{
    struct upstream_conn *uc = (struct upstream_conn *)w;
    if (uc->w.fd < 0) return; /* closed earlier in this event pass */
    if (!uc->idle) {
        uc->on_event(uc, events);
        return;
    }
    /* idle: the upstream closed it, or sent what nobody asked for; a late EPOLLOUT alone
     * (send buffer space freed by ACKs) says nothing */
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) upstream_conn_close(uc);
}

static void on_idle_timeout(struct timer *t)
{
    upstream_conn_close(
        (struct upstream_conn *)((char *)t - offsetof(struct upstream_conn, timer)));
}

struct upstream_conn *upstream_conn_open(struct upstream_pool *p, int fd,
                                         const struct sockaddr *addr, socklen_t len,
                                         const char *tls_name)
{
    struct upstream_conn *uc = calloc(1, sizeof(*uc));
    if (!uc || len > sizeof(uc->addr) || (tls_name && strlen(tls_name) >= sizeof(uc->name))) {
        free(uc);
        close(fd);
        return NULL;
    }
    uc->w.fd = fd;
    uc->w.cb = on_io;
    uc->timer.cb = on_idle_timeout;
    uc->pool = p;
    memcpy(&uc->addr, addr, len);
    uc->addr_len = len;
    if (tls_name) {
        uc->name[0] = '*'; /* never equal to a cleartext connection's "" */
        strcpy(uc->name + 1, tls_name);
    }
    if (loop_add(p->loop, &uc->w, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
        close(fd);
        free(uc);
        return NULL;
    }
    return uc;
}

ssize_t upstream_conn_read(struct upstream_conn *uc, void *buf, size_t len)
{
    return uc->tls ? tls_conn_read(uc->tls, buf, len) : recv(uc->w.fd, buf, len, 0);
}

ssize_t upstream_conn_write(struct upstream_conn *uc, const void *buf, size_t len)
{
    return uc->tls ? tls_conn_write(uc->tls, buf, len) : send(uc->w.fd, buf, len, MSG_NOSIGNAL);
}

void upstream_conn_shut_write(struct upstream_conn *uc)
{
    if (uc->tls) tls_conn_close_notify(uc->tls);
    shutdown(uc->w.fd, SHUT_WR);
}

static bool same_key(const struct upstream_conn *uc, const struct sockaddr *addr, socklen_t len,
                     const char *name)
{
    return uc->addr_len == len && memcmp(&uc->addr, addr, len) == 0 && strcmp(uc->name, name) == 0;
}

struct upstream_conn *upstream_pool_take(struct upstream_pool *p, const struct sockaddr *addr,
                                         socklen_t len, const char *tls_name)
{
    char name[sizeof(p->head->name)];
    snprintf(name, sizeof(name), "%s%s", tls_name ? "*" : "", tls_name ? tls_name : "");
    for (struct upstream_conn *uc = p->head; uc; uc = uc->next)
        if (same_key(uc, addr, len, name)) {
            unlink_idle(uc);
            return uc;
        }
    return NULL;
}

void upstream_pool_put(struct upstream_conn *uc, unsigned max_idle, int64_t idle_ms)
{
    struct upstream_pool *p = uc->pool;
    if (max_idle == 0) {
        upstream_conn_close(uc);
        return;
    }
    struct upstream_conn *oldest = NULL;
    unsigned n = 0;
    for (struct upstream_conn *c = p->head; c; c = c->next)
        if (same_key(c, (const struct sockaddr *)&uc->addr, uc->addr_len, uc->name)) {
            n++;
            oldest = c;
        }
    if (n >= max_idle && oldest) upstream_conn_close(oldest);
    uc->on_event = NULL;
    uc->owner = NULL;
    uc->idle = true;
    uc->prev = NULL;
    uc->next = p->head;
    if (p->head) p->head->prev = uc;
    p->head = uc;
    p->count++;
    timer_arm(p->loop, &uc->timer, loop_now_ms(p->loop) + idle_ms);
}

size_t upstream_pool_idle(const struct upstream_pool *p)
{
    return p ? p->count : 0;
}
