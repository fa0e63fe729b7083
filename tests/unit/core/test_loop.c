/* The event loop with a real pipe and real timers, and loop_notify from other threads. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "check.h"
#include "core/loop.h"

static struct loop *loop;
static int fired[4];
static int64_t fired_at[4];
static struct timer timers[4];
static int reads;

static void on_timer(struct timer *t)
{
    int i = (int)(t - timers);
    fired[i]++;
    fired_at[i] = loop_now_ms(loop);
    if (i == 2) /* the last one stops the loop */
        loop_stop(loop);
}

static void on_read(struct io_watch *w, uint32_t events)
{
    char buf[16];
    if (events & EPOLLIN)
        while (read(w->fd, buf, sizeof(buf)) > 0)
            reads++;
}

/* loop_notify: a hook runs on the loop's thread after other threads notify it. */
static struct loop *nloop;
static int hook_runs, other_runs;
static pthread_t loop_thread;

static void on_hook(struct loop_hook *h)
{
    (void)h;
    CHECK(pthread_equal(pthread_self(), loop_thread));
    if (++hook_runs >= 1) loop_stop(nloop);
}

static void on_other(struct loop_hook *h)
{
    (void)h;
    other_runs++;
}

static void *notifier(void *arg)
{
    (void)arg;
    usleep(20000);
    loop_notify(nloop);
    return NULL;
}

static void test_notify(void)
{
    nloop = loop_create();
    loop_thread = pthread_self();
    struct loop_hook h = {.cb = on_hook}, other = {.cb = on_other}, gone = {.cb = on_other};
    CHECK_INT(loop_hook_add(nloop, &h), 0);
    CHECK_INT(loop_hook_add(nloop, &other), 0);
    CHECK_INT(loop_hook_add(nloop, &gone), 0);
    loop_hook_remove(nloop, &gone);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, notifier, NULL);
    loop_run(nloop); /* returns once the hook ran */
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    CHECK(hook_runs >= 1 && other_runs == hook_runs);
    loop_destroy(nloop);
}

int main(void)
{
    test_notify();
    loop = loop_create();
    CHECK(loop != NULL);
    int fds[2];
    CHECK_INT(pipe2(fds, O_NONBLOCK), 0);
    struct io_watch w = {fds[0], on_read};
    CHECK_INT(loop_add(loop, &w, EPOLLIN | EPOLLET), 0);
    CHECK_INT(write(fds[1], "x", 1), 1);

    int64_t start = loop_now_ms(loop);
    for (int i = 0; i < 4; i++)
        timers[i].cb = on_timer;
    timer_arm(loop, &timers[0], start + 30);
    timer_arm(loop, &timers[1], start + 60);
    timer_arm(loop, &timers[2], start + 120);
    timer_arm(loop, &timers[3], start + 90);
    CHECK(timer_armed(&timers[3]));
    timer_cancel(&timers[3]); /* cancelled timers never fire */
    CHECK(!timer_armed(&timers[3]));
    /* re-arming moves a timer */
    timer_arm(loop, &timers[1], start + 80);
    loop_run(loop);

    CHECK_INT(reads, 1);
    CHECK_INT(fired[0], 1);
    CHECK_INT(fired[1], 1);
    CHECK_INT(fired[2], 1);
    CHECK_INT(fired[3], 0);
    CHECK(fired_at[0] >= start + 30);
    CHECK(fired_at[1] >= start + 80);
    CHECK(fired_at[2] >= start + 120);
    CHECK(fired_at[0] <= fired_at[1] && fired_at[1] <= fired_at[2]);
    /* timers far beyond the wheel's span go round until due */
    timer_arm(loop, &timers[2], loop_now_ms(loop) + 17000);
    CHECK(timer_armed(&timers[2]));
    timer_cancel(&timers[2]);

    const char *d = loop_date(loop);
    CHECK_INT(strlen(d), 29);
    CHECK(memcmp(d + 26, "GMT", 3) == 0);

    loop_remove(loop, &w);
    close(fds[0]);
    close(fds[1]);
    loop_destroy(loop);
    return check_done("core/loop");
}
