/* Connections to upstreams, per worker thread, and the idle ones kept for reuse. A connection
 * is registered with the event loop once, for its whole life: handing it from a request to the
 * pool and back changes who its events go to, not the epoll set (no syscall per request). An
 * idle connection is closed when the upstream closes it or sends anything unasked, or after
 * its idle time; at most max_idle are kept per address. */
#ifndef TERN_CLIENT_UPSTREAM_POOL_H
#define TERN_CLIENT_UPSTREAM_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "core/loop.h"

struct upstream_pool;
struct tls_conn;

struct upstream_conn {
    struct io_watch w; /* first; w.fd is the socket */
    /* The owner's handler for the socket's events while it is not idle. */
    void (*on_event)(struct upstream_conn *uc, uint32_t events);
    void *owner;
    struct tls_conn *tls; /* https: set by the owner after open (freed with the connection) */
    /* private to the pool */
    struct upstream_pool *pool;
    struct timer timer;
    struct upstream_conn *next, *prev;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char name[320]; /* TLS: the owner's tls_name ("" for cleartext): what a reuse must match */
    bool idle;
};

struct upstream_pool *upstream_pool_new(struct loop *loop);
/* Closes every idle connection and frees the pool (active ones must be closed first). */
void upstream_pool_free(struct upstream_pool *p);
/* Wraps a connected (or connecting) socket to addr and registers it with the loop for
 * EPOLLIN, EPOLLOUT and EPOLLRDHUP, edge-triggered. tls_name: for an https upstream (the
 * owner sets uc->tls), what a reuse must match besides the address (the server name and the
 * trust settings); NULL for cleartext. NULL (fd closed) on failure. */
struct upstream_conn *upstream_conn_open(struct upstream_pool *p, int fd,
                                         const struct sockaddr *addr, socklen_t len,
                                         const char *tls_name);
/* Reads and writes the connection's bytes (through TLS for https): as read(2) and send(2). */
ssize_t upstream_conn_read(struct upstream_conn *uc, void *buf, size_t len);
ssize_t upstream_conn_write(struct upstream_conn *uc, const void *buf, size_t len);
/* Says nothing more will be written: close_notify for TLS, then shutdown(SHUT_WR). */
void upstream_conn_shut_write(struct upstream_conn *uc);
/* Unregisters and closes uc, and frees it after the loop's event pass (an event of this pass
 * may still name it; nothing may be queued either way that matters: an idle
 * connection, or one whose exchange was abandoned). */
void upstream_conn_close(struct upstream_conn *uc);
/* An idle connection to addr (with TLS to tls_name, or cleartext when NULL), most recently
 * used first, or NULL. */
struct upstream_conn *upstream_pool_take(struct upstream_pool *p, const struct sockaddr *addr,
                                         socklen_t len, const char *tls_name);
/* Keeps uc idle for the next request to its address: at most max_idle per address (the
 * oldest goes), closed after idle_ms. */
void upstream_pool_put(struct upstream_conn *uc, unsigned max_idle, int64_t idle_ms);
/* Idle connections held (all addresses). */
size_t upstream_pool_idle(const struct upstream_pool *p);

#endif
