/* The disk store's writer thread (http/cache_store.h): entry files are opened, written and
 * renamed into place here, off the worker threads, whose event loops never wait for a disk.
 * A job is a callback with a cost in bytes (what it holds in memory); the queue holds at most
 * max_queued bytes of jobs, and a job that does not fit is refused at once: the caller gives
 * its entry up (it is not stored), it never waits. The thread starts with the first job and
 * runs the jobs in order. */
#ifndef TERN_HTTP_CACHE_WRITER_H
#define TERN_HTTP_CACHE_WRITER_H

#include <stdbool.h>
#include <stddef.h>

struct cache_writer_job {
    struct cache_writer_job *next;
    size_t cost;                               /* bytes charged to the queue while queued */
    void (*run)(struct cache_writer_job *job); /* on the writer thread; frees the job */
};

struct cache_writer;

/* A writer whose queue holds at most max_queued bytes (no thread yet). NULL on OOM. */
struct cache_writer *cache_writer_new(size_t max_queued);
/* Queues job (run later on the writer thread, which it starts if need be). true, or false when
 * the queue is full or the thread cannot start: the job is then the caller's again. A job of
 * cost 0 is always taken once the thread runs. Any thread. */
bool cache_writer_submit(struct cache_writer *w, struct cache_writer_job *job);
/* Waits until every job queued before the call has run (tests). */
void cache_writer_drain(struct cache_writer *w);
/* Runs what is queued and stops the thread; later jobs are refused. Any thread but the
 * writer's; it waits for the queue to run. */
void cache_writer_stop(struct cache_writer *w);
/* cache_writer_stop, then frees w. NULL is fine. */
void cache_writer_free(struct cache_writer *w);

#endif
