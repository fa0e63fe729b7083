#include "client/resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"

struct resolve_req {
    struct gaicb gai;
    struct addrinfo hints;
    struct sigevent sev;
    struct resolver *r;
    resolve_cb cb;
    void *ctx;
    bool cancelled;
    struct resolve_req *next, *prev; /* in flight */
    char host[256], port[8];
};

struct resolver {
    struct io_watch w;      /* the pipe's read end */
    struct loop_task retry; /* a read that failed is tried again (the pipe is edge-triggered) */
    int wr;                 /* its write end: the completion threads post here */
    struct loop *loop;
    struct resolve_req *pending;
};

/* In one of glibc's threads: hand the finished request to the loop. A pipe write of a pointer
 * is atomic; the pipe blocks if full, which only delays that helper thread. */
static void notify(union sigval v)
{
    struct resolve_req *q = v.sival_ptr;
    /* a pipe write of a pointer is all or nothing; it cannot really fail, but if it did the
     * request would wait for ever: try again, bounded */
    for (int tries = 0; tries < 1000; tries++) {
        if (write(q->r->wr, &q, sizeof(q)) == (ssize_t)sizeof(q)) return;
        if (errno != EINTR) sched_yield();
    }
    log_error("name resolution of %s: its result could not be passed on", q->host);
}

static void unlink_req(struct resolve_req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        q->r->pending = q->next;
    if (q->next) q->next->prev = q->prev;
}

static void finish(struct resolve_req *q)
{
    unlink_req(q);
    int err = gai_error(&q->gai);
    if (!q->cancelled) q->cb(q->ctx, err == 0 ? q->gai.ar_result : NULL, err);
    if (err == 0 && q->gai.ar_result) freeaddrinfo(q->gai.ar_result);
    free(q);
}

static void on_retry(struct loop_task *t);

static void on_pipe(struct io_watch *w, uint32_t events)
{
    (void)events;
    struct resolver *r = (struct resolver *)w;
    struct resolve_req *batch[64];
    for (;;) {
        ssize_t n = read(r->w.fd, batch, sizeof(batch));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) { /* what is in the pipe stays: read it again soon */
            loop_defer(r->loop, &r->retry);
            return;
        }
        if (n <= 0) return;
        for (size_t i = 0; i < (size_t)n / sizeof(batch[0]); i++)
            finish(batch[i]);
    }
}

static void on_retry(struct loop_task *t)
{
    struct resolver *r = (struct resolver *)((char *)t - offsetof(struct resolver, retry));
    on_pipe(&r->w, 0);
}

struct resolver *resolver_new(struct loop *loop)
{
    struct resolver *r = calloc(1, sizeof(*r));
    int fds[2];
    if (!r || pipe2(fds, O_CLOEXEC) < 0) {
        free(r);
        return NULL;
    }
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    r->w.fd = fds[0];
    r->w.cb = on_pipe;
    r->retry.cb = on_retry;
    r->wr = fds[1];
    r->loop = loop;
    if (loop_add(loop, &r->w, EPOLLIN | EPOLLET) < 0) {
        close(fds[0]);
        close(fds[1]);
        free(r);
        return NULL;
    }
    return r;
}

void resolver_free(struct resolver *r)
{
    if (!r) return;
    for (struct resolve_req *q = r->pending, *next; q; q = next) {
        next = q->next;
        q->cancelled = true;
        /* one not started yet is dropped by glibc without a notification: free it now; one
         * running or done still comes through the pipe */
        if (gai_cancel(&q->gai) == EAI_CANCELED) {
            unlink_req(q);
            free(q);
        }
    }
    /* the helper threads still write to the pipe: wait for every request to come through */
    int flags = fcntl(r->w.fd, F_GETFL);
    fcntl(r->w.fd, F_SETFL, flags & ~O_NONBLOCK);
    for (int failures = 0; r->pending && failures < 1000;) {
        struct resolve_req *q;
        if (read(r->w.fd, &q, sizeof(q)) == (ssize_t)sizeof(q))
            finish(q);
        else
            failures++;
    }
    loop_task_cancel(&r->retry);
    loop_remove(r->loop, &r->w);
    if (r->pending) {
        /* a helper thread may still write: keep the pipe (and r) rather than let its number
         * go to another file */
        log_error("name resolution: lookups still running at exit; their pipe is left open");
        return;
    }
    close(r->w.fd);
    close(r->wr);
    free(r);
}

struct resolve_req *resolver_lookup(struct resolver *r, const char *host, const char *port,
                                    resolve_cb cb, void *ctx)
{
    struct resolve_req *q = calloc(1, sizeof(*q));
    if (!q || strlen(host) >= sizeof(q->host) || strlen(port) >= sizeof(q->port)) {
        free(q);
        return NULL;
    }
    memcpy(q->host, host, strlen(host) + 1);
    memcpy(q->port, port, strlen(port) + 1);
    q->hints.ai_socktype = SOCK_STREAM;
    q->hints.ai_flags = AI_NUMERICSERV;
    q->gai.ar_name = q->host;
    q->gai.ar_service = q->port;
    q->gai.ar_request = &q->hints;
    q->sev.sigev_notify = SIGEV_THREAD;
    q->sev.sigev_value.sival_ptr = q;
    q->sev.sigev_notify_function = notify;
    q->r = r;
    q->cb = cb;
    q->ctx = ctx;
    struct gaicb *list[1] = {&q->gai};
    int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, &q->sev);
    if (rc != 0) {
        log_error("name resolution of %s could not start: %s", host, gai_strerror(rc));
        free(q);
        return NULL;
    }
    q->next = r->pending;
    if (r->pending) r->pending->prev = q;
    r->pending = q;
    return q;
}

void resolve_cancel(struct resolve_req *q)
{
    if (q) q->cancelled = true; /* it finishes in its own time; finish() frees it then */
}
