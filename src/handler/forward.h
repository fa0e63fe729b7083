/* The forward proxy's CONNECT (RFC 9110 §9.3.6), opt-in (`forward_proxy`): an HTTP/1.1 client
 * asks for a tunnel to host:port; when the destination is allowed (the configured patterns,
 * 443 by default; loopback, private and link-local addresses only when allowed), tern resolves
 * it without blocking, connects, answers 200, and joins the two connections (server/tunnel.h).
 * 403 for a refused destination, 502 when it cannot be resolved or reached, 504 when the
 * connect takes too long. HTTP/2 and HTTP/3 CONNECT tunnel on the stream itself
 * (handler/stream_tunnel.h). Requests for another origin are forwarded through the reverse
 * proxy's machinery. */
#ifndef TERN_HANDLER_FORWARD_H
#define TERN_HANDLER_FORWARD_H

#include "http/request.h"
#include "http/response.h"
#include "server/dispatch.h"

/* Is req for another origin, to forward (forward_proxy on, not a CONNECT, a host no server
 * names)? Over HTTP/1.x: an absolute-form target (RFC 9112 §3.2.2). Over HTTP/2 (and HTTP/3,
 * which has no absolute form either): :scheme http with an :authority that is not the
 * listener the request came to (RFC 9113 §8.3.1) — the same port with a name, or with this
 * very address, is this server. */
bool forward_wants(const struct config *cfg, const struct http_request *req);
/* Forwards an absolute-form http:// request for another origin (the same checks, then the
 * reverse proxy's machinery toward that one upstream, with Via, without Forwarded). */
void forward_request(const struct dispatch_ctx *dc, struct http_request *req,
                     struct http_response *resp);
/* Answers (later: resp->pending) the CONNECT request req. */
void forward_connect(const struct dispatch_ctx *dc, struct http_request *req,
                     struct http_response *resp);

#endif
