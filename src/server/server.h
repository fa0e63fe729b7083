/* The running server: listeners (one SO_REUSEPORT socket per worker and address), worker
 * threads each with its own event loop, the current configuration, and reload/stop. */
#ifndef TERN_SERVER_SERVER_H
#define TERN_SERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/conn.h"
#include "core/loop.h"
#include "core/pool.h"
#include "server/config.h"

#define IO_BUF_SIZE       16384 /* connection input/output buffers */
#define WORKER_SPARE_BUFS 64

enum server_state { SERVER_RUNNING = 0, SERVER_GRACEFUL, SERVER_STOPPING };

/* Which listeners this process serves: all of them, or, when HTTP/3 runs in a process of its
 * own (http3.isolate), the TCP ones here and the UDP ones there. */
enum server_part { SERVER_PART_ALL = 0, SERVER_PART_TCP, SERVER_PART_UDP };

struct tls_server;
struct static_cache;
struct server;
struct proxy_worker;
struct redis_link;

struct listener {
    struct io_watch watch;
    struct worker *worker;
    bool tls;
    void (*open)(struct worker *wk, int fd, const char *peer); /* the wire registered for it */
};

struct worker {
    int id;
    pthread_t thread;
    struct server *srv;
    struct loop *loop;
    int wake_fd; /* eventfd: reload / stop notifications */
    struct io_watch wake_watch;
    struct listener *listeners;
    size_t n_listeners;
    void **udp; /* datagram listeners (QUIC) beside the TLS listeners, from wire_udp() */
    size_t n_udp;
    bool accept_paused; /* listeners out of the epoll set until accept_timer fires */
    int accept_backoff_ms;
    struct timer accept_timer;
    struct timer sample_timer; /* the status page's samples (the first worker) */
    const struct config *cfg;  /* refreshed from srv->cfg when woken */
    struct static_cache *cache;
    struct proxy_worker *proxy; /* upstream connections and balancing state (handler/proxy.h) */
    struct redis_link *redis;   /* shared rate limits (server/redis_link.h), made when first used */
    struct conn_list conns;     /* every open connection, whatever its wire (stop, limits) */
    struct tls_server *tls;     /* TLS contexts for TLS listeners, or NULL */
    enum server_state state;
    struct pool *spare_pools[16]; /* reset request pools kept for reuse */
    size_t n_spare_pools;
    char *spare_bufs[WORKER_SPARE_BUFS]; /* IO_BUF_SIZE buffers kept for reuse */
    size_t n_spare_bufs;
    /* access log lines batched (config_access_log), per log slot (core/log.h) */
    struct buf access_buf[LOG_ACCESS_SLOTS];
    size_t access_pending;     /* bytes in them all */
    int64_t access_first_ms;   /* when the oldest line batched was logged */
    struct timer access_timer; /* writes the batch once it is flush_ms old */
    /* request ids (http/request_id.h): random per worker start, and the requests counted */
    uint64_t request_id_prefix, request_id_seq;
    time_t log_time_sec;
    char log_time[32]; /* "[22/Nov/2026:00:18:15 +0000]" */
    bool exited;
};

struct server {
    _Atomic(struct config *) cfg;
    _Atomic(struct tls_server *) tls; /* contexts for TLS listeners, or NULL */
    struct tls_server **retired_tls;  /* replaced contexts, freed at exit */
    size_t n_retired_tls;
    struct config **retired; /* replaced configurations, freed at exit (requests may hold them) */
    size_t n_retired;
    struct worker *workers;
    int n_workers;
    enum server_part part;
    _Atomic int state;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled when a worker exits */
    int n_running;
};

/* Binds every listen address of the part once per worker (SO_REUSEPORT), or takes the sockets
 * handed over for it (server/listen_inherit.h), and starts the workers. On failure logs why and
 * returns -1 (nothing left running). Takes ownership of cfg and tls (the TLS contexts, required
 * when cfg has TLS listeners). */
int server_start(struct server *srv, struct config *cfg, struct tls_server *tls,
                 enum server_part part);
/* True when cfg asks for HTTP/3 on some UDP address (and the build has a datagram wire). */
bool server_config_has_udp(const struct config *cfg);
/* The listening TCP sockets of every worker (for a binary upgrade, before server_stop), up to
 * max; returns how many. Workers that share an inherited socket each list their own descriptor
 * of it. */
size_t server_listen_fds(const struct server *srv, int *fds, size_t max);
/* Installs a new configuration (listeners stay as they are) and, when the listeners include
 * TLS, its new TLS contexts (tls may be NULL otherwise). Takes ownership of both. */
void server_reload(struct server *srv, struct config *cfg, struct tls_server *tls);
/* True when any listener of cfg is a TLS listener. */
bool server_config_has_tls(const struct config *cfg);
/* Graceful stop: stop accepting, let in-flight requests finish, bounded by graceful timeout.
 * Fast stop: close everything now. Both return after every worker exited. */
void server_stop(struct server *srv, bool graceful);
/* Frees everything after server_stop. */
void server_free(struct server *srv);

/* Worker helpers used by connections. */
/* Adds c to the worker's live connections (its watch set by the caller). */
void worker_add_conn(struct worker *wk, struct conn *c, const struct conn_ops *ops);
/* Retires c (freed at the end of the loop iteration); the last one out of a stopping worker
 * ends its loop. */
void worker_retire_conn(struct worker *wk, struct conn *c);
struct pool *worker_take_pool(struct worker *wk);
/* Gives b (empty) an IO_BUF_SIZE allocation from the worker's spares (no malloc on the hot
 * path). 0 or -1 on OOM. */
int worker_buf_acquire(struct worker *wk, struct buf *b);
/* Returns b's memory to the worker's spares (or frees it) and empties b. */
void worker_buf_release(struct worker *wk, struct buf *b);
void worker_give_pool(struct worker *wk, struct pool *pool);
/* Appends one access-log line; flushed once per loop iteration. */
void worker_access_log(struct worker *wk, int slot, const char *line, size_t len);
/* Appending a line in place: the batch to append to, and its size now in *mark; then
 * worker_access_end with ok false when an append failed (the line is taken back). */
struct buf *worker_access_begin(struct worker *wk, int slot, size_t *mark);
void worker_access_end(struct worker *wk, int slot, size_t mark, bool ok);
/* "[dd/Mon/yyyy:HH:MM:SS +0000]" for the loop's current second. */
const char *worker_log_time(struct worker *wk);

#endif
