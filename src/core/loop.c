#include "core/loop.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "http/date.h"

#define WHEEL_SLOTS 1024 /* power of two */
#define SLOT_MS     16   /* one slot; the wheel spans ~16 s, later timers go round */
#define MAX_EVENTS  256

struct loop {
    int epfd;
    bool stop;
    int64_t now_ms;
    time_t date_sec;
    char date[HTTP_DATE_LEN + 1];
    int64_t wheel_ms;                /* time the wheel has been processed up to (slot aligned) */
    struct timer slots[WHEEL_SLOTS]; /* sentinels of circular lists */
    size_t n_timers;
    loop_idle_fn idle;
    void *idle_arg;
    struct loop_task tasks; /* sentinel of the deferred tasks' circular list */
    struct io_watch notify; /* eventfd of loop_notify; fd -1 when none */
    struct loop_hook *hooks;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct loop *loop_create(void)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    for (int i = 0; i < WHEEL_SLOTS; i++)
        l->slots[i].next = l->slots[i].prev = &l->slots[i];
    l->tasks.next = l->tasks.prev = &l->tasks;
    l->now_ms = wall_ms();
    l->wheel_ms = l->now_ms - l->now_ms % SLOT_MS;
    l->notify.fd = -1;
    return l;
}

static void on_notify(struct io_watch *w, uint32_t events)
{
    (void)events;
    struct loop *l = (struct loop *)((char *)w - offsetof(struct loop, notify));
    uint64_t v;
    /* one read takes the whole count (not EFD_SEMAPHORE) and makes the eventfd unreadable */
    if (read(w->fd, &v, sizeof(v)) < 0) v = 0;
    for (struct loop_hook *h = l->hooks, *next; h; h = next) {
        next = h->next; /* a hook may remove itself */
        h->cb(h);
    }
}

int loop_hook_add(struct loop *l, struct loop_hook *h)
{
    if (l->notify.fd < 0) { /* made on first use: loops that never need it have none */
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) return -1;
        l->notify.fd = fd;
        l->notify.cb = on_notify;
        if (loop_add(l, &l->notify, EPOLLIN | EPOLLET) < 0) {
            close(fd);
            l->notify.fd = -1;
            return -1;
        }
    }
    h->next = l->hooks;
    l->hooks = h;
    return 0;
}

void loop_hook_remove(struct loop *l, struct loop_hook *h)
{
    for (struct loop_hook **pp = &l->hooks; *pp; pp = &(*pp)->next)
        if (*pp == h) {
            *pp = h->next;
            return;
        }
}

void loop_notify(struct loop *l)
{
    uint64_t one = 1;
    if (l->notify.fd < 0 || write(l->notify.fd, &one, sizeof(one)) == sizeof(one)) return;
    /* EAGAIN: the counter is full, so a wakeup is pending anyway. Anything else (EINTR, or
     * what fault injection makes up) would lose the wakeup, and with it the waiters of a
     * cache flight for their whole wait: once more. */
    if (errno != EAGAIN && write(l->notify.fd, &one, sizeof(one)) < 0) {
        /* nothing more to do: the waiters' own timers end their wait */
    }
}

void loop_destroy(struct loop *l)
{
    if (!l) return;
    if (l->notify.fd >= 0) close(l->notify.fd);
    close(l->epfd);
    free(l);
}

int loop_add(struct loop *l, struct io_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev);
}

int loop_modify(struct loop *l, struct io_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

int loop_remove(struct loop *l, struct io_watch *w)
{
    return epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

void loop_stop(struct loop *l)
{
    l->stop = true;
}

void loop_set_idle(struct loop *l, loop_idle_fn fn, void *arg)
{
    l->idle = fn;
    l->idle_arg = arg;
}

int64_t loop_now_ms(const struct loop *l)
{
    return l->now_ms;
}

time_t loop_now(const struct loop *l)
{
    return (time_t)(l->now_ms / 1000);
}

const char *loop_date(struct loop *l)
{
    time_t s = loop_now(l);
    if (s != l->date_sec) {
        http_date_format(s, l->date);
        l->date_sec = s;
    }
    return l->date;
}

void timer_cancel(struct timer *t)
{
    if (!t->prev) return;
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t->prev = NULL;
}

void timer_arm(struct loop *l, struct timer *t, int64_t expires_ms)
{
    timer_cancel(t);
    if (expires_ms < l->wheel_ms) expires_ms = l->wheel_ms;
    t->expires_ms = expires_ms;
    struct timer *s = &l->slots[(expires_ms / SLOT_MS) & (WHEEL_SLOTS - 1)];
    t->next = s;
    t->prev = s->prev;
    s->prev->next = t;
    s->prev = t;
}

static void run_timers(struct loop *l)
{
    /* Process every slot from wheel_ms up to now; timers due later stay for another turn. */
    int64_t steps = 0;
    while (l->wheel_ms <= l->now_ms && steps++ < WHEEL_SLOTS) {
        struct timer *s = &l->slots[(l->wheel_ms / SLOT_MS) & (WHEEL_SLOTS - 1)];
        /* detach due timers first so callbacks may re-arm freely */
        struct timer due = {.next = &due, .prev = &due};
        for (struct timer *t = s->next, *n; t != s; t = n) {
            n = t->next;
            if (t->expires_ms <= l->now_ms) {
                t->prev->next = t->next;
                t->next->prev = t->prev;
                t->next = &due;
                t->prev = due.prev;
                due.prev->next = t;
                due.prev = t;
            }
        }
        while (due.next != &due) {
            struct timer *t = due.next;
            due.next = t->next;
            t->next->prev = &due;
            t->next = t->prev = NULL;
            t->cb(t);
        }
        if (l->wheel_ms + SLOT_MS > l->now_ms) break;
        l->wheel_ms += SLOT_MS;
    }
    if (l->wheel_ms + SLOT_MS * WHEEL_SLOTS < l->now_ms) /* clock jumped */
        l->wheel_ms = l->now_ms - l->now_ms % SLOT_MS;
}

void loop_defer(struct loop *l, struct loop_task *t)
{
    if (t->prev) return;
    t->next = &l->tasks;
    t->prev = l->tasks.prev;
    l->tasks.prev->next = t;
    l->tasks.prev = t;
}

void loop_task_cancel(struct loop_task *t)
{
    if (!t->prev) return;
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t->prev = NULL;
}

/* Runs the queued tasks, and those they queue, bounded so that two tasks re-queuing each
 * other cannot hold the loop: what is left waits for the next iteration (epoll then does
 * not sleep). */
static void run_tasks(struct loop *l)
{
    for (int budget = 4096; budget > 0 && l->tasks.next != &l->tasks; budget--) {
        struct loop_task *t = l->tasks.next;
        loop_task_cancel(t);
        t->cb(t);
    }
}

void loop_run(struct loop *l)
{
    struct epoll_event events[MAX_EVENTS];
    l->stop = false;
    while (!l->stop) {
        int timeout = l->tasks.next != &l->tasks ? 0 : SLOT_MS;
        int n = epoll_wait(l->epfd, events, MAX_EVENTS, timeout);
        l->now_ms = wall_ms();
        if (n < 0) {
            if (errno != EINTR) log_error("epoll_wait: %s", strerror(errno));
            n = 0;
        }
        for (int i = 0; i < n; i++) {
            struct io_watch *w = events[i].data.ptr;
            w->cb(w, events[i].events);
        }
        run_timers(l);
        run_tasks(l);
        if (l->idle) l->idle(l->idle_arg);
    }
}
