/* A CONNECT tunnel carried by a stream of a multiplexed wire (HTTP/2, RFC 9113 §8.5; HTTP/3,
 * RFC 9114 §4.4): the request body streamed from the client (req.body_in) goes to the
 * upstream connection, and the upstream's bytes are the response body, pulled by the wire as
 * its flow control allows. Nothing here knows the wire: the seams are the pulled bodies in
 * both directions. */
#ifndef TERN_HANDLER_STREAM_TUNNEL_H
#define TERN_HANDLER_STREAM_TUNNEL_H

#include <stdint.h>

#include "http/request.h"
#include "http/response.h"

struct upstream_conn;
struct worker;

/* Makes resp the tunnel's 200 (no length, its body the upstream's bytes: first the len bytes
 * at pre, already read from uc, copied) over uc, connected, and starts moving req's body to it.
 * Returns 0, or -1 (nothing changed; uc still the caller's). The wire closing resp->body ends
 * the tunnel and closes uc. Used by CONNECT (RFC 9113 §8.5, RFC 9114 §4.4) and extended
 * CONNECT (RFC 8441) alike. */
int stream_tunnel_start(struct worker *wk, struct http_request *req, struct http_response *resp,
                        struct upstream_conn *uc, int64_t idle_ms, const void *pre, size_t len);

#endif
