/* The one interface every live connection of a worker has, whatever its wire (HTTP/1, HTTP/2,
 * a socket lingering on its way out; later HTTP/3 and client connections): the worker keeps
 * them in one list, stops them through their ops, and frees closed ones at the end of the
 * loop iteration (epoll may still hold an event for them until then). */
#ifndef TERN_CORE_CONN_H
#define TERN_CORE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

struct conn;

struct conn_ops {
    const char *name; /* "h1", "h2", "linger": for logs */
    /* graceful: finish what is in flight, then close (through the close path); otherwise
     * close now. A non-graceful shutdown must leave the connection retired. */
    void (*shutdown)(struct conn *c, bool graceful);
    /* The configuration was reloaded (NULL: nothing to do; HTTP/1 takes the new one with its
     * next request). */
    void (*reload)(struct conn *c);
    /* Frees the memory of a retired connection. */
    void (*free)(struct conn *c);
};

struct conn {
    struct io_watch w; /* first: the loop's callbacks get &c->w */
    const struct conn_ops *ops;
    struct conn *next, *prev;
    bool retired; /* closed; waiting for conn_list_reap */
    /* For the connection gauges (core/stats.h), set before conn_list_add: enum stats_wire
     * (0: other, e.g. a lingering socket or a tunnel) and enum stats_transport. */
    uint8_t stats_wire, stats_transport;
};

struct conn_list {
    struct conn *live;
    struct conn *retired;
    size_t count; /* live connections */
};

/* Links c (w.fd and w.cb set by the caller) into the live list. */
void conn_list_add(struct conn_list *l, struct conn *c, const struct conn_ops *ops);
/* Unlinks c from the live list; it is freed by the next conn_list_reap. Idempotent. */
void conn_list_retire(struct conn_list *l, struct conn *c);
/* Calls every live connection's shutdown; a fast one leaves the list empty. */
void conn_list_shutdown(struct conn_list *l, bool graceful);
/* Calls every live connection's reload. */
void conn_list_reload(struct conn_list *l);
/* Frees retired connections (once per loop iteration). */
void conn_list_reap(struct conn_list *l);

#endif
