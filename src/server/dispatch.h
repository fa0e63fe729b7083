/* Request dispatch: virtual host and location routing, method semantics (OPTIONS, TRACE,
 * 405/501), path normalization, then the handler. Protocol-neutral. */
#ifndef TERN_SERVER_DISPATCH_H
#define TERN_SERVER_DISPATCH_H

#include "http/request.h"
#include "http/response.h"
#include "server/config.h"

struct static_cache;

/* Fills resp for req; never fails (internal errors become a 500 response). */
void dispatch_request(const struct config *cfg, struct static_cache *cache,
                      struct http_request *req, struct http_response *resp);

/* Fills resp with a simple error response for status (e.g. from a wire-level rejection). */
void dispatch_error(struct http_request *req, struct http_response *resp, int status);

#endif
