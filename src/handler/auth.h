/* HTTP authentication of a location (RFC 9110 §11): Basic (RFC 7617) and Digest (RFC 7616,
 * qop=auth, SHA-256 and MD5, userhash) against the users of its `auth` (server/config.h). */
#ifndef TERN_HANDLER_AUTH_H
#define TERN_HANDLER_AUTH_H

#include <stdbool.h>

#include "http/request.h"
#include "http/response.h"
#include "server/config.h"

/* Checks req's Authorization against loc->auth. Returns false when the request may go on (no
 * `auth`, or good credentials: req->remote_user then names the user, and a Digest response
 * gets Authentication-Info with rspauth, RFC 7616 §3.5); true when it answered:
 * 401 with the WWW-Authenticate challenges (RFC 9110 §11.6.1), stale=true when only the nonce
 * was too old (RFC 7616 §3.3), and for credentials that were sent but failed a rate-limited info
 * line in the error log naming the client; 500 when no challenge could be made. */
bool auth_check(const struct config_location *loc, struct http_request *req,
                struct http_response *resp);
/* The same for a proxy's own credentials (RFC 9110 §11.7): Proxy-Authorization against a,
 * 407 with Proxy-Authenticate, Proxy-Authentication-Info. */
bool auth_check_proxy(const struct config_auth *a, struct http_request *req,
                      struct http_response *resp);

#endif
