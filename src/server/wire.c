#include "server/wire.h"

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "server/server.h"

#define MAX_OBSERVERS 8

/* Filled at start-up before the worker threads exist, read-only afterwards. */
static wire_accept_fn accept_fns[LISTENER_KINDS];
static exchange_observer_fn observers[MAX_OBSERVERS];
static size_t n_observers;
static void (*cleanups[MAX_OBSERVERS])(void);
static size_t n_cleanups;

static const struct wire_udp_ops *udp_ops;

void wire_register_udp(const struct wire_udp_ops *ops)
{
    udp_ops = ops;
}

const struct wire_udp_ops *wire_udp(void)
{
    return udp_ops;
}

void wire_register_thread_cleanup(void (*fn)(void))
{
    for (size_t i = 0; i < n_cleanups; i++)
        if (cleanups[i] == fn) return;
    if (n_cleanups < MAX_OBSERVERS) cleanups[n_cleanups++] = fn;
}

void wire_thread_cleanup(void)
{
    for (size_t i = 0; i < n_cleanups; i++)
        cleanups[i]();
}

void wire_register_accept(enum listener_kind kind, wire_accept_fn fn)
{
    if (kind < LISTENER_KINDS) accept_fns[kind] = fn;
}

wire_accept_fn wire_accept_for(enum listener_kind kind)
{
    return kind < LISTENER_KINDS ? accept_fns[kind] : NULL;
}

int wire_observe_exchanges(exchange_observer_fn fn)
{
    for (size_t i = 0; i < n_observers; i++)
        if (observers[i] == fn) return 0;
    if (n_observers == MAX_OBSERVERS) return -1;
    observers[n_observers++] = fn;
    return 0;
}

void wire_exchange_done(struct worker *wk, const struct http_request *req,
                        const struct http_response *resp)
{
    for (size_t i = 0; i < n_observers; i++)
        observers[i](wk, req, resp);
}

uint16_t wire_h3_port(const struct worker *wk, int fd)
{
    /* HTTP/3 is here (this worker's UDP sockets) or in the sibling HTTP/3 process */
    if (!udp_ops || (!wk->n_udp && wk->srv->part != SERVER_PART_TCP)) return 0;
    if (!wk->cfg->quic) { /* HTTP/3 only on quic_listen addresses: the first one's port */
        for (size_t i = 0; i < wk->cfg->n_listens; i++)
            if (wk->cfg->listens[i].quic_only) return (uint16_t)wk->cfg->listens[i].port;
        return 0;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}
