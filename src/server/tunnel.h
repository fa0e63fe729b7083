/* A byte tunnel between a client connection and an upstream one, after a protocol switch
 * (101 to an Upgrade such as WebSocket, RFC 9110 §7.8): each side's bytes go to the other
 * unchanged, with back-pressure (a side is read only while its bytes can be written on), a
 * half close passed on (EOF from one side shuts the other's write side), an idle bound, and
 * the one close path for the client's socket. */
#ifndef TERN_SERVER_TUNNEL_H
#define TERN_SERVER_TUNNEL_H

#include <stddef.h>

#include "server/transport.h"

struct worker;
struct upstream_conn;

/* Starts a tunnel between client (its socket not in the loop; TLS or not) and uc (an upstream
 * connection in the loop, its owner's events now the tunnel's). to_client and to_upstream are
 * bytes already read that belong to the other side (copied). idle_ms: no byte either way for
 * this long closes it. Takes ownership of both connections, also when it fails (-1, both
 * closed). */
int tunnel_start(struct worker *wk, struct transport client, const char *peer,
                 struct upstream_conn *uc, const char *to_client, size_t n_client,
                 const char *to_upstream, size_t n_upstream, int64_t idle_ms);

struct http_request;

/* After the handler's answer that switches protocols (101, or 200 to a CONNECT): takes req's
 * client connection from its HTTP/1.1 wire (req->take_connection) and starts the tunnel with
 * to_client sent first. Returns 0 (req, its pool and its wire's connection are gone; uc is the
 * tunnel's), or -1 when the connection could not be taken (nothing changed; uc still the
 * caller's). */
int tunnel_take(struct worker *wk, struct http_request *req, struct upstream_conn *uc,
                const char *to_client, size_t n_client, int64_t idle_ms);

#endif
