/* The disk store's writer thread: a FIFO of jobs under a mutex, bounded in bytes
 * (http/cache_writer.h). */
#include "http/cache_writer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct cache_writer {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct cache_writer_job *head, *tail;
    size_t queued, max_queued;
    bool started, stopping, joined;
    pthread_t thread;
};

struct cache_writer *cache_writer_new(size_t max_queued)
{
    struct cache_writer *w = calloc(1, sizeof(*w));
    if (!w) return NULL;
    w->max_queued = max_queued;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    return w;
}

static void *writer_main(void *arg)
{
    struct cache_writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        struct cache_writer_job *j = w->head;
        if (!j) {
            if (w->stopping) break;
            pthread_cond_wait(&w->wake, &w->lock);
            continue;
        }
        w->head = j->next;
        if (!w->head) w->tail = NULL;
        size_t cost = j->cost;
        pthread_mutex_unlock(&w->lock);
        j->run(j);
        pthread_mutex_lock(&w->lock);
        w->queued -= cost;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

bool cache_writer_submit(struct cache_writer *w, struct cache_writer_job *job)
{
    pthread_mutex_lock(&w->lock);
    bool ok = !w->stopping && job->cost <= w->max_queued - w->queued;
    if (ok && !w->started) {
        /* made by a worker: it inherits the worker's blocked signals (the main thread takes them)
         */
        ok = pthread_create(&w->thread, NULL, writer_main, w) == 0;
        if (ok) {
            w->started = true;
            pthread_setname_np(w->thread, "cache-writer"); /* seen in top -H, /proc */
        } else
            log_warn("cache: the disk writer thread cannot start: an entry is not stored");
    }
    if (ok) {
        job->next = NULL;
        if (w->tail)
            w->tail->next = job;
        else
            w->head = job;
        w->tail = job;
        w->queued += job->cost;
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
    return ok;
}

struct drain_job {
    struct cache_writer_job job;
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    bool done;
};

static void drain_run(struct cache_writer_job *job)
{
    struct drain_job *d = (struct drain_job *)job;
    pthread_mutex_lock(d->lock);
    d->done = true;
    pthread_cond_signal(d->cond);
    pthread_mutex_unlock(d->lock);
}

void cache_writer_drain(struct cache_writer *w)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    struct drain_job d = {{NULL, 0, drain_run}, &lock, &cond, false};
    pthread_mutex_lock(&w->lock);
    bool started = w->started;
    pthread_mutex_unlock(&w->lock);
    if (!started || !cache_writer_submit(w, &d.job)) return; /* nothing queued */
    pthread_mutex_lock(&lock);
    while (!d.done)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

void cache_writer_stop(struct cache_writer *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    bool join = w->started && !w->joined;
    w->joined = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    if (join) pthread_join(w->thread, NULL);
}

void cache_writer_free(struct cache_writer *w)
{
    if (!w) return;
    cache_writer_stop(w);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
