/* HTTP/2 connections: the socket glue around the I/O-free session engine (h2/session.c).
 * Reads through the transport (plain or TLS), hands requests to the dispatcher, writes the
 * session's output once per loop iteration, and runs its deadlines on the worker's timers. */
#ifndef TERN_H2_CONN_H
#define TERN_H2_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "http/request.h"
#include "server/transport.h"

struct worker;

/* Takes over a connection speaking HTTP/2: after TLS ALPN "h2" (bytes empty), on cleartext
 * with prior knowledge (bytes = what was read so far, starting with the client preface), or
 * after an h2c Upgrade (upgrade_req = the HTTP/1.1 request, which becomes stream 1, half
 * closed (remote); bytes = what followed it). tr is owned from now on. The connection joins
 * the worker's list: a graceful stop or a reload sends GOAWAY in two steps and finishes its
 * streams; it ends through the close path (server/linger.h). */
void h2_conn_open(struct worker *wk, struct transport tr, const char *peer, const char *bytes,
                  size_t len, const struct http_request *upgrade_req);

#endif
