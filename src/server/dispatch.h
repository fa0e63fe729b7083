/* Request dispatch: virtual host and location routing, method semantics (OPTIONS, TRACE,
 * 405/501), path normalization, then the handler. Protocol-neutral. */
#ifndef TERN_SERVER_DISPATCH_H
#define TERN_SERVER_DISPATCH_H

#include "http/request.h"
#include "http/response.h"
#include "server/config.h"

struct worker;
struct cache_req;

/* Fills resp for req; never fails (internal errors become a 500 response). A handler that
 * answers later (the proxy) leaves resp->pending set and finishes with dispatch_finish. */
void dispatch_request(const struct config *cfg, struct worker *wk, struct http_request *req,
                      struct http_response *resp);

/* Where a request was routed: what a handler that answers later keeps to finish it. */
struct dispatch_ctx {
    const struct config *cfg;
    struct worker *wk;
    const struct config_server *srv;
    const struct config_location *loc;
    struct cache_req *cache; /* handler/cache.h: the proxy tells the cache about the answer */
};

/* Completes a pending response that the handler has just filled: the site rules that follow
 * every handler (fields, error pages, Alt-Svc), resp->pending cleared, then req->resume. */
void dispatch_finish(const struct dispatch_ctx *dc, struct http_request *req,
                     struct http_response *resp);

/* Routes req again from its server and location, for a request whose routing was put off (a
 * rate limit's queue, server/guard.h) with resp pending; finishes it unless pending again. */
void dispatch_again(const struct dispatch_ctx *dc, struct http_request *req,
                    struct http_response *resp);

/* True when req goes to a handler that takes its body as it arrives (a proxy location), so
 * the wire should not read the body first. */
bool dispatch_streams_body(const struct config *cfg, const struct http_request *req);

/* Fills resp with a simple error response for status (e.g. from a wire-level rejection). */
void dispatch_error(struct http_request *req, struct http_response *resp, int status);

#endif
