/* HTTP/1.x connections: the socket glue around the I/O-free parser and chunked codec.
 * Reads request heads and bodies, hands protocol-neutral requests to the dispatcher, and
 * writes responses pulled from their body source (sendfile for file ranges). */
#ifndef TERN_H1_CONN_H
#define TERN_H1_CONN_H

#include <stdbool.h>

struct worker;

/* Takes ownership of a connected, non-blocking socket. The connection joins the worker's list
 * (wk->conns); a graceful shutdown closes it at once when idle, else after its current
 * response, always through the close path (server/linger.h). */
void h1_conn_open(struct worker *wk, int fd, const char *peer);
/* Same for a socket accepted on a TLS listener: handshake first, then HTTP/1.1 or, when ALPN
 * chose h2, HTTP/2. */
void h1_conn_open_tls(struct worker *wk, int fd, const char *peer);
/* Same for a socket accepted on the metrics listener: HTTP/1.x only, and every request is
 * marked for the metrics endpoint (http_request.metrics_listener). */
void h1_conn_open_metrics(struct worker *wk, int fd, const char *peer);
/* Frees the calling worker thread's parser scratch space (at thread exit). */
void h1_thread_cleanup(void);
/* Registers HTTP/1 with the server: it takes cleartext and TLS listeners' connections (and
 * hands h2c and ALPN h2 to HTTP/2 itself). */
void h1_register(void);

#endif
