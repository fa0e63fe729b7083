/* Idle keep-alive connections to upstreams, per worker thread: kept after a clean response,
 * handed to the next request for the same address, and closed when the upstream closes them,
 * sends anything unasked, or they have been idle too long. Bounded per address. */
#ifndef TERN_CLIENT_UPSTREAM_POOL_H
#define TERN_CLIENT_UPSTREAM_POOL_H

#include <stddef.h>
#include <sys/socket.h>

struct loop;
struct upstream_pool;

struct upstream_pool *upstream_pool_new(struct loop *loop);
/* Closes every idle connection and frees the pool. */
void upstream_pool_free(struct upstream_pool *p);
/* An idle connection to addr (its socket, out of the loop), most recently used first, or -1. */
int upstream_pool_take(struct upstream_pool *p, const struct sockaddr *addr, socklen_t len);
/* Keeps fd (not in the loop) for addr: at most max_idle per address (the oldest goes), closed
 * after idle_ms. */
void upstream_pool_put(struct upstream_pool *p, const struct sockaddr *addr, socklen_t len, int fd,
                       unsigned max_idle, int64_t idle_ms);
/* Idle connections held (all addresses). */
size_t upstream_pool_idle(const struct upstream_pool *p);

#endif
