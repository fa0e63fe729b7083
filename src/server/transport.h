/* A connection's byte stream: a plain socket or TLS on top of it. Wire modules (h1, h2) read
 * and write through this so they need not know which. */
#ifndef TERN_SERVER_TRANSPORT_H
#define TERN_SERVER_TRANSPORT_H

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "tls/tls.h"

struct transport {
    int fd;
    struct tls_conn *tls; /* NULL for cleartext */
};

/* >0 bytes, 0 on EOF, -1 with errno (EAGAIN: wait for the socket). */
static inline ssize_t transport_read(struct transport *t, void *buf, size_t len)
{
    return t->tls ? tls_conn_read(t->tls, buf, len) : read(t->fd, buf, len);
}

/* >0 bytes written, -1 with errno (EAGAIN: wait until writable). */
static inline ssize_t transport_write(struct transport *t, const void *buf, size_t len)
{
    return t->tls ? tls_conn_write(t->tls, buf, len) : write(t->fd, buf, len);
}

/* A short read means the kernel buffer is drained only for cleartext: TLS returns a record
 * at a time while more may be buffered. */
static inline bool transport_short_read_drains(const struct transport *t)
{
    return t->tls == NULL;
}

/* sendfile(2) is possible (cleartext only). */
static inline bool transport_can_sendfile(const struct transport *t)
{
    return t->tls == NULL;
}

/* Frees TLS state and closes the socket. */
static inline void transport_close(struct transport *t)
{
    if (t->tls) {
        tls_conn_free(t->tls);
        t->tls = NULL;
    }
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
}

#endif
