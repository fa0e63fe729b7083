#include "client/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tls/tls.h"

int64_t client_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int client_fail(struct client_error *e, enum client_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    e->status = st;
    return -1;
}

/* Waits until fd is ready for events or the deadline; 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int timeout = -1;
        if (deadline) {
            int64_t left = deadline - client_now_ms();
            if (left <= 0) return 0;
            timeout = left > 1000000 ? 1000000 : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, timeout);
        if (n > 0) return 1;
        if (n == 0) return 0;
        if (errno != EINTR) return 1; /* let the next call report the error */
    }
}

static int64_t sooner(int64_t a, int64_t b)
{
    if (!a) return b;
    if (!b) return a;
    return a < b ? a : b;
}

static int connect_one(struct transport_conn *c, const struct addrinfo *ai, int64_t deadline,
                       struct client_error *e)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return client_fail(e, CLIENT_CONNECT, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        return client_fail(e, CLIENT_CONNECT, "connect to %s failed: %s", c->peer, strerror(err));
    }
    if (!wait_fd(fd, POLLOUT, deadline)) {
        close(fd);
        return client_fail(e, CLIENT_TIMEOUT, "connect to %s timed out", c->peer);
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
        close(fd);
        return client_fail(e, CLIENT_CONNECT, "connect to %s failed: %s", c->peer, strerror(soerr));
    }
    c->fd = fd;
    return 0;
}

static int tls_handshake(struct transport_conn *c, const struct url *u, struct tls_client *tls,
                         struct client_error *e)
{
    c->tls = tls_conn_new_client(tls, c->fd, u->host);
    if (!c->tls) return client_fail(e, CLIENT_TLS, "out of memory for TLS");
    for (;;) {
        int r = tls_conn_handshake(c->tls);
        if (r == 1) break;
        if (r < 0) {
            const char *why = tls_conn_error(c->tls);
            if (tls_conn_verify_failed(c->tls))
                return client_fail(e, CLIENT_CERT, "SSL certificate problem: %s", why ? why : "?");
            return client_fail(e, CLIENT_TLS, "TLS handshake with %s failed: %s", c->peer,
                               why ? why : "?");
        }
        if (!wait_fd(c->fd, tls_conn_want_write(c->tls) ? POLLOUT : POLLIN, c->deadline_ms))
            return client_fail(e, CLIENT_TIMEOUT, "TLS handshake with %s timed out", c->peer);
    }
    c->t_tls_done = client_now_us();
    return 0;
}

int64_t client_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int transport_open(struct transport_conn *c, const struct url *u, struct tls_client *tls,
                   int64_t connect_timeout_ms, struct client_error *e)
{
    c->fd = -1;
    c->tls = NULL;
    c->eof = false;
    c->t_start = client_now_us();
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    if (u->ipv6) hints.ai_flags = AI_NUMERICHOST;
    char port[8];
    snprintf(port, sizeof(port), "%u", u->port);
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(u->host, port, &hints, &res);
    if (rc != 0) return client_fail(e, CLIENT_RESOLVE, "could not resolve host: %s", u->host);
    int64_t deadline =
        sooner(c->deadline_ms, connect_timeout_ms ? client_now_ms() + connect_timeout_ms : 0);
    rc = -1;
    for (const struct addrinfo *ai = res; ai && rc < 0; ai = ai->ai_next) {
        char host[64] = "?";
        getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
        snprintf(c->peer, sizeof(c->peer), "%s%s%s port %u", ai->ai_family == AF_INET6 ? "[" : "",
                 host, ai->ai_family == AF_INET6 ? "]" : "", u->port);
        rc = connect_one(c, ai, deadline, e);
        if (rc < 0 && e->status == CLIENT_TIMEOUT) break;
    }
    freeaddrinfo(res);
    if (rc < 0) return -1;
    c->t_connected = c->t_tls_done = client_now_us();
    if (u->https) {
        if (!tls) return client_fail(e, CLIENT_TLS, "no TLS context");
        if (tls_handshake(c, u, tls, e) < 0) {
            transport_close(c);
            return -1;
        }
    }
    return 0;
}

ssize_t transport_read(struct transport_conn *c, void *buf, size_t len, struct client_error *e)
{
    for (;;) {
        ssize_t n = c->tls ? tls_conn_read(c->tls, buf, len) : read(c->fd, buf, len);
        if (n >= 0) {
            if (n == 0) c->eof = true;
            return n;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) {
            client_fail(e, CLIENT_RECV, "receiving from %s failed: %s", c->peer, strerror(errno));
            return -1;
        }
        short ev = c->tls && tls_conn_want_write(c->tls) ? POLLOUT : POLLIN;
        if (!wait_fd(c->fd, ev, c->deadline_ms)) {
            client_fail(e, CLIENT_TIMEOUT, "operation timed out receiving from %s", c->peer);
            return -1;
        }
    }
}

int transport_write(struct transport_conn *c, const void *buf, size_t len, struct client_error *e)
{
    const char *p = buf;
    while (len) {
        ssize_t n = c->tls ? tls_conn_write(c->tls, p, len) : send(c->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN)
            return client_fail(e, CLIENT_SEND, "sending to %s failed: %s", c->peer,
                               strerror(errno));
        short ev = !c->tls || tls_conn_want_write(c->tls) ? POLLOUT : POLLIN;
        if (!wait_fd(c->fd, ev, c->deadline_ms))
            return client_fail(e, CLIENT_TIMEOUT, "operation timed out sending to %s", c->peer);
    }
    return 0;
}

void transport_close(struct transport_conn *c)
{
    if (c->tls) tls_conn_free(c->tls); /* close_notify, best effort */
    c->tls = NULL;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

const char *transport_alpn(const struct transport_conn *c)
{
    return c->tls ? tls_conn_alpn(c->tls) : NULL;
}

const char *transport_tls_version(const struct transport_conn *c)
{
    return c->tls ? tls_conn_version(c->tls) : NULL;
}

const char *transport_cipher(const struct transport_conn *c)
{
    return c->tls ? tls_conn_cipher(c->tls) : NULL;
}
