/* The guards a location puts before its handler: access rules (allow/deny by client address)
 * and the rate limit. */
#ifndef TERN_SERVER_GUARD_H
#define TERN_SERVER_GUARD_H

#include <stdbool.h>

#include "http/request.h"
#include "http/response.h"
#include "server/config.h"

/* Checks req against loc's access rules, then its rate limit. Returns true when it answered:
 * 403 Forbidden for a denied client, 429 Too Many Requests with Retry-After (RFC 6585 §4) for
 * one over the limit, each with a rate-limited info log line. False: go on. */
bool guard_refuses(const struct config *cfg, const struct config_location *loc,
                   struct http_request *req, struct http_response *resp);

#endif
