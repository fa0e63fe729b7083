/* The seams between the server and the wire modules (DESIGN.md, "Seams"): listeners hand a new
 * connection to whichever wire registered for their kind, and wires report every finished
 * exchange through one call that the access log (later metrics, the cache) subscribes to. The
 * server never names a wire; the wires never include the access log. */
#ifndef TERN_SERVER_WIRE_H
#define TERN_SERVER_WIRE_H

#include "http/request.h"
#include "http/response.h"

#include <stdint.h>

struct worker;

enum listener_kind {
    LISTENER_TCP,         /* cleartext TCP: HTTP/0.9 to 1.1, h2c */
    LISTENER_TCP_TLS,     /* TLS over TCP: ALPN picks h2 or http/1.1 */
    LISTENER_TCP_METRICS, /* the metrics listener (`metrics: {listen}`): HTTP/1.x, /metrics */
    LISTENER_KINDS
};

/* Takes ownership of an accepted, non-blocking socket; peer is the client's address text. */
typedef void (*wire_accept_fn)(struct worker *wk, int fd, const char *peer);

/* Registers the wire that takes new connections of a listener kind (once, at start-up;
 * a later call replaces the earlier). */
void wire_register_accept(enum listener_kind kind, wire_accept_fn fn);
/* The wire registered for kind, or NULL. */
wire_accept_fn wire_accept_for(enum listener_kind kind);

/* A datagram wire (QUIC): one listener per worker beside each TLS listen address. */
struct config_listen;
struct wire_udp_ops {
    /* Binds and watches a UDP socket for l on the worker's loop; NULL with a message in err. */
    void *(*open)(struct worker *wk, const struct config_listen *l, char *err, size_t errlen);
    /* Takes no new connections from now on (a stop); open ones go on. */
    void (*stop)(void *listener);
    /* Frees the listener and what is left on it (the worker thread, when it exits). */
    void (*free)(void *listener);
};
/* Registers the datagram wire (once, at start-up). */
void wire_register_udp(const struct wire_udp_ops *ops);
/* The registered datagram wire, or NULL. */
const struct wire_udp_ops *wire_udp(void);

/* The UDP port HTTP/3 answers on beside the TLS connection fd (its local port), or 0 when
 * no datagram wire runs (not built, or `quic: false`). */
uint16_t wire_h3_port(const struct worker *wk, int fd);

/* Registers a function each worker thread calls when it exits (per-thread scratch space). */
void wire_register_thread_cleanup(void (*fn)(void));
/* Runs the registered thread cleanups (a worker thread, at its exit). */
void wire_thread_cleanup(void);

/* Called for every finished exchange (response sent, reset, or connection gone). */
typedef void (*exchange_observer_fn)(struct worker *wk, const struct http_request *req,
                                     const struct http_response *resp);
/* Adds an observer (at start-up; at most 8). 0, or -1 when the table is full. */
int wire_observe_exchanges(exchange_observer_fn fn);
/* What a wire calls when an exchange is finished. */
void wire_exchange_done(struct worker *wk, const struct http_request *req,
                        const struct http_response *resp);

#endif
