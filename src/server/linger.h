/* The one close path for every connection of a worker (DESIGN.md, "Behaviour users rely
 * on"): after the last byte was handed to the kernel, stop writing (TLS: close_notify first,
 * then shutdown(SHUT_WR)), read and drop what the peer still sends for a bounded time and
 * byte count, and only then close. A bare close() with unread input makes the kernel answer
 * with a reset that destroys the response bytes still queued for the peer. */
#ifndef TERN_SERVER_LINGER_H
#define TERN_SERVER_LINGER_H

#include <stdbool.h>

#include "server/transport.h"

struct worker;

enum conn_end {
    /* The peer may still be sending (HTTP/2 WINDOW_UPDATEs, a pipelined or unread request
     * body, a request we refused): shut the write side, drain, then close. */
    CONN_END_LINGER,
    /* The peer said it sends nothing more (HTTP/1 "Connection: close", EOF seen): close at
     * once when nothing is waiting in the receive queue, else linger. */
    CONN_END_QUIET,
    /* Close now: nothing can be lost (the peer said it sends nothing more and its input was
     * read to the end) or nothing can be saved (it reset or stopped reading; a fast stop). */
    CONN_END_NOW,
};

/* Linger bounds: total time and bytes dropped before the socket is closed regardless. */
#define LINGER_MS        3000
#define LINGER_MAX_BYTES (4u << 20)

/* Ends the connection on tr the way `how` says; takes ownership of tr (left closed). The
 * caller's own output must already be flushed. registered: tr->fd is in the worker's epoll
 * set under the caller's watch, which the caller frees (the lingering socket takes the
 * registration over). */
void linger_close(struct worker *wk, struct transport *tr, bool registered, enum conn_end how);

#endif
