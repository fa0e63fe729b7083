#include "server/server.h"
#include "handler/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/stats.h"
#include "handler/static.h"
#include "server/access_log.h"
#include "server/exchange_stats.h"
#include "server/linger.h"
#include "server/listen_inherit.h"
#include "server/redis_link.h"
#include "server/status_ring.h"
#include "server/wire.h"
#include "tls/tls.h"

#define ACCEPT_BATCH   64
#define MAX_LISTEN_FDS 64 /* inherited sockets one worker serves for one address */

static int listen_socket(const struct config_listen *l)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    char port[8];
    snprintf(port, sizeof(port), "%d", l->port);
    int rc = getaddrinfo(l->host, port, &hints, &res);
    if (rc != 0) {
        log_error("listen %s:%d: %s", l->host, l->port, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) goto fail;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (res->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        close(fd);
        fd = -1;
        goto fail;
    }
    freeaddrinfo(res);
    return fd;
fail:
    log_error("listen %s:%d: %s", l->host, l->port, strerror(errno));
    freeaddrinfo(res);
    return -1;
}

/* Options for a listening socket, ours or inherited. */
static void socket_options(int fd)
{
    int one = 1;
    /* accepted sockets inherit TCP_NODELAY from the listener: responses written in several
     * pieces (a head then sendfile, TLS records, HTTP/2 frames) must not wait for an ACK */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* Every protocol served here has the client speak first, so let the kernel hand over a
     * connection only once its first bytes arrived: one wakeup per connection fewer (about
     * -35% CPU per connection-per-request in the harness). A client that sends nothing is
     * accepted anyway after about a second and then meets the usual deadlines. */
    int defer_s = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof(defer_s));
}

static void peer_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)cap);
    else if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out, (socklen_t)cap);
    else
        snprintf(out, cap, "-");
}

/* Accept failures for lack of resources pause this worker's listeners for a while instead of
 * retrying at once: a level-triggered listener with a full queue would otherwise spin. */
#define ACCEPT_BACKOFF_MIN_MS 50
#define ACCEPT_BACKOFF_MAX_MS 1000

static void listeners_pause(struct worker *wk)
{
    if (wk->accept_paused) return;
    wk->accept_paused = true;
    for (size_t i = 0; i < wk->n_listeners; i++)
        if (wk->listeners[i].watch.fd >= 0) loop_remove(wk->loop, &wk->listeners[i].watch);
    wk->accept_backoff_ms =
        wk->accept_backoff_ms ? wk->accept_backoff_ms * 2 : ACCEPT_BACKOFF_MIN_MS;
    if (wk->accept_backoff_ms > ACCEPT_BACKOFF_MAX_MS)
        wk->accept_backoff_ms = ACCEPT_BACKOFF_MAX_MS;
    timer_arm(wk->loop, &wk->accept_timer, loop_now_ms(wk->loop) + wk->accept_backoff_ms);
}

static void listeners_resume(struct timer *t)
{
    struct worker *wk = (struct worker *)((char *)t - offsetof(struct worker, accept_timer));
    if (!wk->accept_paused) return;
    wk->accept_paused = false;
    for (size_t i = 0; i < wk->n_listeners; i++) {
        struct listener *ls = &wk->listeners[i];
        if (ls->watch.fd >= 0 && loop_add(wk->loop, &ls->watch, EPOLLIN) == 0)
            ls->watch.cb(&ls->watch, EPOLLIN); /* take what queued up meanwhile */
    }
}

/* Over the connection limit: a cleartext client reads a 503 (RFC 9110 §15.6.4) rather than
 * a reset; either way the socket ends through the close path. */
static void refuse_connection(struct worker *wk, int fd, bool tls)
{
    static const char r503[] = "HTTP/1.1 503 Service Unavailable\r\nServer: tern\r\n"
                               "Retry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (!tls && send(fd, r503, sizeof(r503) - 1, MSG_NOSIGNAL) < 0) {
        /* best effort: the close below is what matters */
    }
    struct transport tr = {fd, NULL};
    linger_close(wk, &tr, false, CONN_END_LINGER);
}

static void on_accept(struct io_watch *w, uint32_t events)
{
    (void)events;
    struct listener *ls = (struct listener *)w;
    struct worker *wk = ls->worker;
    if (w->fd < 0) return; /* closed by a stop earlier in this batch of events */
    for (int i = 0; i < ACCEPT_BATCH && !wk->accept_paused; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                int e = errno;
                listeners_pause(wk);
                log_warn("accept: %s; new connections paused for %d ms", strerror(e),
                         wk->accept_backoff_ms);
            } else {
                log_error("accept: %s", strerror(errno));
            }
            return;
        }
        wk->accept_backoff_ms = 0;
        STATS_INC(accepted[ls->tls ? ST_TLS : ST_TCP]);
        if (wk->conns.count >= wk->cfg->limits.connections) {
            log_warn("connection limit %zu reached, refusing a new connection",
                     wk->cfg->limits.connections);
            refuse_connection(wk, fd, ls->tls);
            continue;
        }
        char peer[64];
        peer_text(&ss, peer, sizeof(peer));
        ls->open(wk, fd, peer);
    }
}

static void close_listeners(struct worker *wk)
{
    const struct wire_udp_ops *udp = wire_udp();
    for (size_t i = 0; i < wk->n_udp; i++)
        udp->stop(wk->udp[i]); /* the sockets stay: their connections finish on them */
    timer_cancel(&wk->accept_timer);
    timer_cancel(&wk->sample_timer);
    for (size_t i = 0; i < wk->n_listeners; i++) {
        if (wk->listeners[i].watch.fd < 0) continue;
        if (!wk->accept_paused) loop_remove(wk->loop, &wk->listeners[i].watch);
        close(wk->listeners[i].watch.fd);
        wk->listeners[i].watch.fd = -1;
    }
}

static void worker_flush_log(struct worker *wk);

static void worker_check_state(struct worker *wk)
{
    struct server *srv = wk->srv;
    const struct config *before = wk->cfg;
    /* a reload or a stop writes what was batched under the old configuration */
    if (atomic_load(&srv->cfg) != before || atomic_load(&srv->state) != SERVER_RUNNING)
        worker_flush_log(wk);
    wk->cfg = atomic_load(&srv->cfg);
    wk->tls = atomic_load(&srv->tls);
    /* Reload: HTTP/2 connections were set up with the old settings; GOAWAY them gracefully
     * (in-flight streams finish) so clients reconnect under the new configuration. HTTP/1
     * keep-alive connections simply take the new configuration with their next request. */
    if (before != wk->cfg && wk->state == SERVER_RUNNING) conn_list_reload(&wk->conns);
    enum server_state st = (enum server_state)atomic_load(&srv->state);
    if (st != wk->state) {
        wk->state = st;
        if (st != SERVER_RUNNING) close_listeners(wk);
        conn_list_shutdown(&wk->conns, st == SERVER_GRACEFUL);
    }
    if (before != wk->cfg || st != SERVER_RUNNING) proxy_worker_config(wk);
    if (wk->state != SERVER_RUNNING && wk->conns.count == 0) loop_stop(wk->loop);
}

static void on_wake(struct io_watch *w, uint32_t events)
{
    (void)events;
    struct worker *wk = (struct worker *)((char *)w - offsetof(struct worker, wake_watch));
    uint64_t v;
    while (read(w->fd, &v, sizeof(v)) > 0) {
    }
    worker_check_state(wk);
}

static void worker_flush_log(struct worker *wk)
{
    for (int i = 0; wk->access_pending && i < LOG_ACCESS_SLOTS; i++) {
        struct buf *b = &wk->access_buf[i];
        if (!buf_size(b)) continue;
        log_access_write_slot(i, buf_ptr(b), buf_size(b));
        wk->access_pending -= buf_size(b);
        buf_clear(b);
    }
    wk->access_pending = 0;
    timer_cancel(&wk->access_timer);
}

static void access_flush_due(struct timer *t)
{
    worker_flush_log((struct worker *)((char *)t - offsetof(struct worker, access_timer)));
}

static void worker_idle(void *arg)
{
    struct worker *wk = arg;
    conn_list_reap(&wk->conns);
    if (!wk->cfg->access.flush_ms) worker_flush_log(wk); /* else access_timer does */
    log_flush_suppressed();
    if (wk->state != SERVER_RUNNING && wk->conns.count == 0) loop_stop(wk->loop);
}

void worker_add_conn(struct worker *wk, struct conn *c, const struct conn_ops *ops)
{
    conn_list_add(&wk->conns, c, ops);
}

void worker_retire_conn(struct worker *wk, struct conn *c)
{
    conn_list_retire(&wk->conns, c);
    if (wk->state != SERVER_RUNNING && wk->conns.count == 0) loop_stop(wk->loop);
}

struct buf *worker_access_begin(struct worker *wk, int slot, size_t *mark)
{
    *mark = buf_size(&wk->access_buf[slot]);
    return &wk->access_buf[slot];
}

void worker_access_end(struct worker *wk, int slot, size_t mark, bool ok)
{
    struct buf *b = &wk->access_buf[slot];
    if (!ok) { /* out of memory half way: the line is left out, never written cut */
        b->len = b->start + mark;
        return;
    }
    const struct config_access_log *a = &wk->cfg->access;
    if (!wk->access_pending && a->flush_ms) {
        wk->access_first_ms = loop_now_ms(wk->loop);
        timer_arm(wk->loop, &wk->access_timer, wk->access_first_ms + a->flush_ms);
    }
    wk->access_pending += buf_size(b) - mark;
    if (wk->access_pending >= a->buffer) worker_flush_log(wk);
}

void worker_access_log(struct worker *wk, int slot, const char *line, size_t len)
{
    size_t mark;
    struct buf *b = worker_access_begin(wk, slot, &mark);
    worker_access_end(wk, slot, mark, buf_append(b, line, len) == 0);
}

const char *worker_log_time(struct worker *wk)
{
    time_t now = loop_now(wk->loop);
    if (now != wk->log_time_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(wk->log_time, sizeof(wk->log_time), "[%d/%b/%Y:%H:%M:%S +0000]", &tm);
        wk->log_time_sec = now;
    }
    return wk->log_time;
}

int worker_buf_acquire(struct worker *wk, struct buf *b)
{
    if (b->data) return 0;
    char *d = wk->n_spare_bufs ? wk->spare_bufs[--wk->n_spare_bufs] : malloc(IO_BUF_SIZE);
    if (!d) return -1;
    *b = (struct buf){d, 0, 0, IO_BUF_SIZE};
    return 0;
}

void worker_buf_release(struct worker *wk, struct buf *b)
{
    if (b->data && b->cap == IO_BUF_SIZE && wk->n_spare_bufs < WORKER_SPARE_BUFS) {
        wk->spare_bufs[wk->n_spare_bufs++] = b->data;
        *b = (struct buf){0};
        return;
    }
    buf_free(b);
}

struct pool *worker_take_pool(struct worker *wk)
{
    if (wk->n_spare_pools) return wk->spare_pools[--wk->n_spare_pools];
    return pool_create(4096);
}

void worker_give_pool(struct worker *wk, struct pool *pool)
{
    if (!pool) return;
    pool_reset(pool);
    if (wk->n_spare_pools < sizeof(wk->spare_pools) / sizeof(wk->spare_pools[0]))
        wk->spare_pools[wk->n_spare_pools++] = pool;
    else
        pool_destroy(pool);
}

/* The status page's samples (server/status_ring.h), taken by the first worker on a timer. */
static void on_sample_timer(struct timer *t)
{
    struct worker *wk = (struct worker *)((char *)t - offsetof(struct worker, sample_timer));
    int64_t now = loop_now_ms(wk->loop);
    status_ring_take(now);
    if (wk->state == SERVER_RUNNING)
        timer_arm(wk->loop, t, now + (int64_t)(wk->cfg->metrics.sample_interval * 1000));
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    stats_thread_use(stats_region_block(wk->id));
    loop_set_idle(wk->loop, worker_idle, wk);
    proxy_worker_config(wk); /* active health checks */
    /* the status page's first sample at start, then one per interval (with the metrics
     * listener, whose status page a reload may turn on) */
    if (wk->id == 0 && wk->cfg->metrics.enabled && wk->srv->part != SERVER_PART_UDP)
        on_sample_timer(&wk->sample_timer);
    loop_run(wk->loop);
    conn_list_shutdown(&wk->conns, false);
    /* the UDP sockets stay open until every worker has stopped (worker_free): closing one
     * renumbers the SO_REUSEPORT group that steers QUIC packets to their workers */
    conn_list_reap(&wk->conns);
    proxy_worker_free(wk->proxy); /* after the connections: their proxied requests are over */
    wk->proxy = NULL;
    redis_link_free(wk->redis);
    wk->redis = NULL;
    wire_thread_cleanup();
    worker_flush_log(wk);
    stats_thread_use(NULL);
    struct server *srv = wk->srv;
    pthread_mutex_lock(&srv->lock);
    wk->exited = true;
    srv->n_running--;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

/* QUIC beside every TLS listener, when a datagram wire is registered and cfg allows it. */
static int worker_open_udp(struct worker *wk, const struct config *cfg)
{
    const struct wire_udp_ops *udp = wire_udp();
    for (size_t i = 0; !udp && i < cfg->n_listens; i++)
        if (cfg->listens[i].quic_only) {
            log_error("quic_listen %s:%d: this build has no QUIC", cfg->listens[i].host,
                      cfg->listens[i].port);
            return -1;
        }
    if (!udp || wk->srv->part == SERVER_PART_TCP) return 0;
    wk->udp = calloc(cfg->n_listens, sizeof(*wk->udp));
    if (!wk->udp) return -1;
    for (size_t i = 0; i < cfg->n_listens; i++) {
        if (!(cfg->listens[i].tls && cfg->quic) && !cfg->listens[i].quic_only) continue;
        char err[256];
        void *l = udp->open(wk, &cfg->listens[i], err, sizeof(err));
        if (!l) {
            log_error("listen udp %s:%d: %s", cfg->listens[i].host, cfg->listens[i].port, err);
            return -1;
        }
        wk->udp[wk->n_udp++] = l;
    }
    return 0;
}

/* A random prefix per worker start makes generated request ids unique across workers and
 * restarts; without randomness, the time, process and worker make one that differs as well. */
static void request_id_seed(struct worker *wk)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
            ((uint64_t)getpid() << 32) ^ ((uint64_t)wk->id << 56);
    }
    wk->request_id_prefix = r;
    wk->request_id_seq = 0;
}

typedef void listener_open_fn(struct worker *wk, int fd, const char *peer);

/* Adds the listeners of address l (not watched yet) that open serves: the sockets handed over
 * for it (socket activation, binary upgrade), else one of our own. */
static int add_listeners(struct worker *wk, const struct config_listen *l, bool tls,
                         listener_open_fn *open)
{
    int fds[MAX_LISTEN_FDS];
    size_t n = listen_inherit_take(SOCK_STREAM, l, wk->id, wk->srv->n_workers, fds, MAX_LISTEN_FDS);
    if (n == 0 && (fds[0] = listen_socket(l)) >= 0) n = 1;
    if (n == 0) return -1;
    struct listener *more = realloc(wk->listeners, (wk->n_listeners + n) * sizeof(*more));
    if (!more) {
        for (size_t k = 0; k < n; k++)
            close(fds[k]);
        return -1;
    }
    wk->listeners = more;
    for (size_t k = 0; k < n; k++) {
        socket_options(fds[k]);
        struct listener *ls = &wk->listeners[wk->n_listeners++];
        memset(ls, 0, sizeof(*ls));
        ls->tls = tls;
        ls->open = open;
        ls->watch.cb = on_accept;
        ls->watch.fd = fds[k];
    }
    return 0;
}

static int worker_init(struct server *srv, struct worker *wk, int id, const struct config *cfg)
{
    wk->id = id;
    wk->srv = srv;
    wk->cfg = cfg;
    wk->loop = loop_create();
    wk->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    wk->cache = static_cache_create(1024);
    if (!wk->loop || wk->wake_fd < 0 || !wk->cache) return -1;
    wk->accept_timer.cb = listeners_resume;
    wk->access_timer.cb = access_flush_due;
    wk->sample_timer.cb = on_sample_timer;
    request_id_seed(wk);
    wk->wake_watch.fd = wk->wake_fd;
    wk->wake_watch.cb = on_wake;
    loop_add(wk->loop, &wk->wake_watch, EPOLLIN | EPOLLET);
    /* every listener is in place before any is watched: the loop keeps pointers to them */
    for (size_t i = 0; i < cfg->n_listens; i++) {
        /* UDP only: worker_open_udp */
        if (cfg->listens[i].quic_only || srv->part == SERVER_PART_UDP) continue;
        bool tls = cfg->listens[i].tls;
        listener_open_fn *open = wire_accept_for(tls ? LISTENER_TCP_TLS : LISTENER_TCP);
        if (!open) {
            log_error("no protocol registered for %s listeners", tls ? "TLS" : "TCP");
            return -1;
        }
        if (add_listeners(wk, &cfg->listens[i], tls, open) < 0) return -1;
    }
    if (cfg->metrics.enabled && srv->part != SERVER_PART_UDP) {
        listener_open_fn *open = wire_accept_for(LISTENER_TCP_METRICS);
        if (!open || add_listeners(wk, &cfg->metrics.listen, false, open) < 0) return -1;
    }
    for (size_t k = 0; k < wk->n_listeners; k++) {
        wk->listeners[k].worker = wk;
        loop_add(wk->loop, &wk->listeners[k].watch, EPOLLIN);
    }
    return worker_open_udp(wk, cfg);
}

static void worker_free(struct worker *wk)
{
    close_listeners(wk);
    for (size_t i = 0; i < wk->n_udp; i++)
        wire_udp()->free(wk->udp[i]);
    free(wk->udp);
    conn_list_reap(&wk->conns); /* what the QUIC listeners retired as they went */
    free(wk->listeners);
    if (wk->wake_fd >= 0) close(wk->wake_fd);
    for (size_t i = 0; i < wk->n_spare_pools; i++)
        pool_destroy(wk->spare_pools[i]);
    for (size_t i = 0; i < wk->n_spare_bufs; i++)
        free(wk->spare_bufs[i]);
    for (int i = 0; i < LOG_ACCESS_SLOTS; i++)
        buf_free(&wk->access_buf[i]);
    static_cache_destroy(wk->cache);
    loop_destroy(wk->loop);
}

bool server_config_has_tls(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_listens; i++)
        if (cfg->listens[i].tls || cfg->listens[i].quic_only) return true;
    return false;
}

bool server_config_has_udp(const struct config *cfg)
{
    if (!wire_udp()) return false;
    for (size_t i = 0; i < cfg->n_listens; i++)
        if (cfg->listens[i].quic_only || (cfg->listens[i].tls && cfg->quic)) return true;
    return false;
}

int server_start(struct server *srv, struct config *cfg, struct tls_server *tls,
                 enum server_part part)
{
    memset(srv, 0, sizeof(*srv));
    srv->part = part;
    atomic_store(&srv->cfg, cfg);
    atomic_store(&srv->tls, tls);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->cond, NULL);
    wire_observe_exchanges(access_log_request);
    wire_observe_exchanges(exchange_stats_record);
    int n = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    srv->n_workers = n;
    /* counters for metrics: in a shared mapping made by the main process (the HTTP/3 process
     * got it from there); without one, nothing is counted, and serving goes on */
    if (stats_region_create() < 0 ||
        stats_region_claim(part == SERVER_PART_UDP ? 1 : 0, n, part == SERVER_PART_UDP) < 0)
        log_warn("metrics: no shared memory for the counters (%s); they stay at 0",
                 strerror(errno));
    srv->workers = calloc((size_t)n, sizeof(*srv->workers));
    if (!srv->workers) return -1;
    for (int i = 0; i < n; i++) {
        srv->workers[i].wake_fd = -1;
        srv->workers[i].tls = tls;
        if (worker_init(srv, &srv->workers[i], i, cfg) < 0) {
            for (int j = 0; j <= i; j++)
                worker_free(&srv->workers[j]);
            free(srv->workers);
            srv->workers = NULL;
            listen_inherit_done();
            return -1;
        }
    }
    listen_inherit_done(); /* the workers hold their own descriptors of what they took */
    for (int i = 0; i < n; i++) {
        srv->n_running++;
        if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
            log_error("pthread_create: %s", strerror(errno));
            srv->n_running--;
            srv->workers[i].exited = true;
        }
    }
    return 0;
}

size_t server_listen_fds(const struct server *srv, int *fds, size_t max)
{
    size_t n = 0;
    for (int i = 0; i < srv->n_workers; i++) {
        const struct worker *wk = &srv->workers[i];
        for (size_t k = 0; k < wk->n_listeners && n < max; k++)
            if (wk->listeners[k].watch.fd >= 0) fds[n++] = wk->listeners[k].watch.fd;
    }
    return n;
}

static void wake_all(struct server *srv)
{
    uint64_t one = 1;
    for (int i = 0; i < srv->n_workers; i++)
        if (write(srv->workers[i].wake_fd, &one, sizeof(one)) < 0)
            log_error("wake worker: %s", strerror(errno));
}

void server_reload(struct server *srv, struct config *cfg, struct tls_server *tls)
{
    if (tls) {
        struct tls_server *old_tls = atomic_exchange(&srv->tls, tls);
        struct tls_server **t = realloc(srv->retired_tls, (srv->n_retired_tls + 1) * sizeof(*t));
        if (t) {
            srv->retired_tls = t;
            srv->retired_tls[srv->n_retired_tls++] = old_tls;
        }
    }
    struct config *old = atomic_exchange(&srv->cfg, cfg);
    config_caches_close(old); /* kept for the requests still on it, but not its memory */
    struct config **r = realloc(srv->retired, (srv->n_retired + 1) * sizeof(*r));
    if (r) {
        srv->retired = r;
        srv->retired[srv->n_retired++] = old;
    }
    wake_all(srv);
}

void server_stop(struct server *srv, bool graceful)
{
    if (!srv->workers) return;
    atomic_store(&srv->state, graceful ? SERVER_GRACEFUL : SERVER_STOPPING);
    wake_all(srv);
    struct config *cfg = atomic_load(&srv->cfg);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    double t = graceful ? cfg->timeouts.graceful : 5.0;
    deadline.tv_sec += (time_t)t;
    deadline.tv_nsec += (long)((t - (double)(time_t)t) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->lock);
    while (srv->n_running > 0) {
        if (pthread_cond_timedwait(&srv->cond, &srv->lock, &deadline) == ETIMEDOUT) {
            if (atomic_load(&srv->state) == SERVER_STOPPING) break;
            log_warn("graceful stop timed out; closing remaining connections");
            atomic_store(&srv->state, SERVER_STOPPING);
            wake_all(srv);
            clock_gettime(CLOCK_REALTIME, &deadline);
            deadline.tv_sec += 5;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    for (int i = 0; i < srv->n_workers; i++)
        if (srv->workers[i].exited) pthread_join(srv->workers[i].thread, NULL);
}

void server_free(struct server *srv)
{
    if (srv->workers) {
        for (int i = 0; i < srv->n_workers; i++)
            worker_free(&srv->workers[i]);
        free(srv->workers);
    }
    for (size_t i = 0; i < srv->n_retired; i++)
        config_free(srv->retired[i]);
    free(srv->retired);
    for (size_t i = 0; i < srv->n_retired_tls; i++)
        if (srv->retired_tls[i]) tls_server_free(srv->retired_tls[i]);
    free(srv->retired_tls);
    if (atomic_load(&srv->tls)) tls_server_free(atomic_load(&srv->tls));
    config_free(atomic_load(&srv->cfg));
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->cond);
}
