/* The reverse proxy handler: a location's request goes to one of its upstreams over HTTP/1.1
 * (TCP or a unix socket), from a per-worker pool of keep-alive connections, or over HTTP/2
 * (h2c://, or https:// with http2 and ALPN h2) as a stream of a shared connection
 * (proxy_h2.c), and the response
 * comes back streamed: the client's wire pulls the body and each pull reads the upstream, so
 * a slow client slows the upstream read (back-pressure) and nothing is buffered whole.
 *
 * The upstream side is the h1 engine in its client role (h1/parser.h response heads, the
 * chunked decoder), driven by the worker's event loop. Failures before the response head:
 * 502 (refused, reset, invalid response), 503 (every upstream marked down), 504 (timeout),
 * with a retry on another upstream or a fresh connection where RFC 9110 §9.2.2 allows it.
 * After the head, a failure cuts the response short (the wire aborts it). */
#ifndef TERN_HANDLER_PROXY_H
#define TERN_HANDLER_PROXY_H

#include "http/request.h"
#include "http/response.h"
#include "server/dispatch.h"

struct proxy_worker;
struct worker;

/* Starts proxying req per dc->loc->proxy; url_path is the (percent-encoded) path to forward
 * (after any rewrite). resp is pending on return unless the request failed at once. */
void proxy_handle(const struct dispatch_ctx *dc, struct http_request *req,
                  struct http_response *resp, str_t url_path);

/* The worker's configuration or state changed (at start, after a reload, at a stop): the
 * active health checks of the current configuration's proxies run, the others stop. */
void proxy_worker_config(struct worker *wk);
/* Frees a worker's proxy state (idle upstream connections) at its exit; NULL is fine. */
void proxy_worker_free(struct proxy_worker *pw);

#endif
