/* The site rules a request meets around its handler (issue #14): the HTTP-to-HTTPS redirect,
 * a location's redirect, try_files, then on the way out an error page, the configured fields
 * and HSTS. Protocol-neutral: every wire gets them through dispatch. */
#ifndef TERN_SERVER_SITE_H
#define TERN_SERVER_SITE_H

#include <stdbool.h>

#include "http/request.h"
#include "http/response.h"
#include "server/config.h"

struct static_cache;

/* `https_redirect`: a cleartext request goes to HTTPS (308, 301 for GET and HEAD), but the
 * ACME HTTP-01 challenges (RFC 8555 §8.3). true when resp was filled. */
bool site_https_redirect(const struct config *cfg, struct http_request *req,
                         struct http_response *resp);
/* A location's `redirect`: true when resp was filled. */
bool site_redirect(const struct config_location *loc, struct http_request *req,
                   struct http_response *resp);
/* `try_files`: serves the first candidate that exists (each routed to its own location), else
 * the trailing "=NNN" status, else 404. 0, or -1 on an internal error. */
int site_try_files(struct static_cache *cache, const struct config *cfg,
                   const struct config_server *srv, const struct config_location *loc,
                   struct http_request *req, const char *path, struct http_response *resp);
/* On the way out: the error page for resp's status (the location's, then the server's), the
 * fields (the server's, then the location's) and HSTS on TLS. loc may be NULL. */
void site_finish(struct static_cache *cache, const struct config *cfg,
                 const struct config_server *srv, const struct config_location *loc,
                 struct http_request *req, struct http_response *resp);

#endif
