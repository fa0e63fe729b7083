/* HTTP/3 for the client (`tern get --http3`): one QUIC connection (src/quic, client role) on a
 * connect(2)ed UDP socket, the HTTP/3 engine in the client role (src/h3/session.h) on top, and
 * a blocking poll(2) loop bounded by the QUIC timers and the caller's deadline. Transfers
 * (client/exchange.h) run on it at once, each on its own request stream. */
#ifndef TERN_CLIENT_H3_CLIENT_H
#define TERN_CLIENT_H3_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "client/exchange.h"
#include "client/transport.h"
#include "client/url.h"

struct h3_client;

struct h3_client_params {
    const struct url *url;      /* https only */
    const char *cacert;         /* trusted CAs (PEM) instead of the system store; NULL: system */
    bool insecure;              /* no certificate check (curl -k) */
    int64_t connect_timeout_ms; /* bounds each address's handshake; 0: none */
    int64_t deadline_ms;        /* monotonic ms (client_now_ms) bounding everything; 0: none */
    uint16_t port; /* the UDP port when an alternative service names another (RFC 7838); 0:
                      the URL's. The certificate is still checked for the URL's host. */
};

/* What -v and -w show about the connection. */
struct h3_client_info {
    char peer[96]; /* "127.0.0.1 port 8443" */
    const char *tls_version, *cipher, *alpn;
    int64_t t_start, t_connected, t_tls_done; /* monotonic µs: start, the server's first
                                               * packet, handshake complete */
};

/* Resolves the host, and tries each address until a QUIC handshake completes (ALPN h3, the
 * certificate checked unless insecure). NULL with *e: 6 resolve, 7 no answer or refused,
 * 28 timeout, 35 TLS, 60 certificate. */
struct h3_client *h3_client_open(const struct h3_client_params *p, struct client_error *e);
/* Starts t's request on a new stream (t->rs zeroed by the caller). 0, or -1 with t->e set
 * and t->done (no stream credit, the server's GOAWAY). */
int h3_client_submit(struct h3_client *c, struct client_transfer *t);
/* Runs the connection until every submitted transfer is done; each one's failure is in its
 * t->e. 0, or -1 with *e when the connection failed (the transfers not done fail too). */
int h3_client_run(struct h3_client *c, struct client_error *e);
/* CONNECTION_CLOSE with H3_NO_ERROR (RFC 9114 §5.2), then frees everything. */
void h3_client_close(struct h3_client *c);
const struct h3_client_info *h3_client_info(const struct h3_client *c);

#endif
