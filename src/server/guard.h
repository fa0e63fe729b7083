/* The guards a location puts before its handler: access rules (allow/deny by client address)
 * and the rate limit. */
#ifndef TERN_SERVER_GUARD_H
#define TERN_SERVER_GUARD_H

#include <stdbool.h>

#include "http/request.h"
#include "http/response.h"
#include "server/config.h"

struct dispatch_ctx;

/* Checks req against loc's access rules, then its rate limit and limit_conn. Returns true when
 * it answered: 403 Forbidden for a denied client, 429 Too Many Requests with Retry-After
 * (RFC 6585 §4) for one over the rate limit, 503 over limit_conn, each with a rate-limited
 * info log line; or when it put the request off (a token owed in the rate limit's queue):
 * resp pending, routed again by dispatch_again once its token has come. False: go on. */
bool guard_refuses(const struct dispatch_ctx *dc, const struct config_location *loc,
                   struct http_request *req, struct http_response *resp);

#endif
