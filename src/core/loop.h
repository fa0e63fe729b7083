/* One epoll event loop per worker thread, with a timer wheel and a cached clock.
 * Descriptors are registered edge-triggered once; owners track readiness themselves. */
#ifndef TERN_CORE_LOOP_H
#define TERN_CORE_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct loop;

struct io_watch {
    int fd;
    /* Called with the epoll event mask (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP). */
    void (*cb)(struct io_watch *w, uint32_t events);
};

struct timer {
    struct timer *next, *prev; /* slot list; NULL when not armed */
    int64_t expires_ms;
    void (*cb)(struct timer *t);
};

/* A callback run once soon, outside the caller's stack: after the current iteration's events
 * and timers. Used to resume work from inside another party's callback without reentering it
 * (a proxied response's upstream wakes the client's connection). Zero-initialised; embed it. */
struct loop_task {
    struct loop_task *next, *prev; /* NULL when not queued */
    void (*cb)(struct loop_task *t);
};

/* Called once per loop iteration after events and timers (e.g. to flush batched logs). */
typedef void (*loop_idle_fn)(void *arg);

struct loop *loop_create(void);
void loop_destroy(struct loop *loop);
/* Registers fd for events (EPOLLIN|EPOLLOUT|EPOLLET...). 0 or -1 (errno). */
int loop_add(struct loop *loop, struct io_watch *w, uint32_t events);
int loop_modify(struct loop *loop, struct io_watch *w, uint32_t events);
int loop_remove(struct loop *loop, struct io_watch *w);
/* Runs until loop_stop; each iteration waits at most until the next timer slot. */
void loop_run(struct loop *loop);
/* Makes loop_run return after the current iteration (same thread, or use a wake fd). */
void loop_stop(struct loop *loop);
void loop_set_idle(struct loop *loop, loop_idle_fn fn, void *arg);

/* Wall clock in ms and seconds, refreshed once per iteration (cheap to call). */
int64_t loop_now_ms(const struct loop *loop);
time_t loop_now(const struct loop *loop);
/* The IMF-fixdate of loop_now(), refreshed when the second changes (29 chars + NUL). */
const char *loop_date(struct loop *loop);

/* Arms (or re-arms) t to fire at expires_ms (wall clock). Resolution is about 16 ms. */
void timer_arm(struct loop *loop, struct timer *t, int64_t expires_ms);
void timer_cancel(struct timer *t);
/* Queues t (its cb set) to run in this iteration's task pass; queuing a queued task does
 * nothing. A task queued while tasks run goes in the same pass. */
void loop_defer(struct loop *loop, struct loop_task *t);
/* Unqueues t if queued (call before freeing its owner). */
void loop_task_cancel(struct loop_task *t);
static inline bool loop_task_queued(const struct loop_task *t)
{
    return t->prev != 0;
}

/* Cross-thread wakeup: loop_notify, from any thread, makes the loop run each of its hooks once
 * soon on its own thread (several notifies before it wakes may run them once). Hooks are
 * added and removed on the loop's own thread; one eventfd per loop. */
struct loop_hook {
    struct loop_hook *next;
    void (*cb)(struct loop_hook *h);
};
/* 0, or -1 when the loop has no eventfd (it is made on the first hook, and that failed). */
int loop_hook_add(struct loop *loop, struct loop_hook *h);
void loop_hook_remove(struct loop *loop, struct loop_hook *h);
/* Thread-safe and async-signal-safe: one write(2) to the loop's eventfd. */
void loop_notify(struct loop *loop);

static inline bool timer_armed(const struct timer *t)
{
    return t->prev != 0;
}

#endif
