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
/* A regex location's captures (caps[1..n]) and the path as a URL carries it (percent-encoded:
 * the request's, or the rewritten one encoded). */
struct site_match {
    const str_t *caps;
    int n_caps;
    str_t url_path;
};

/* A location's `redirect`: true when resp was filled. Captures go in percent-encoded. */
bool site_redirect(const struct config_location *loc, const struct site_match *m,
                   struct http_request *req, struct http_response *resp);
/* Follows the location's `rewrite`s (each routed again, at most SITE_MAX_REWRITES): path (a
 * normalized path of cap bytes, *len long) and *loc change, caps are the new location's.
 * 0, or -1 when the rewrites loop or give a path that cannot be (the caller answers 500). */
#define SITE_MAX_REWRITES 10
int site_rewrite(const struct config_server *srv, const struct config_location **loc,
                 struct http_request *req, char *path, size_t cap, size_t *len, str_t *caps,
                 int *rewrites);
/* `try_files`: serves the first candidate that exists (each routed to its own location), else
 * the trailing "=NNN" status, else 404. 0, or -1 on an internal error. */
int site_try_files(struct static_cache *cache, const struct config *cfg,
                   const struct config_server *srv, const struct config_location *loc,
                   const struct site_match *m, struct http_request *req, const char *path,
                   struct http_response *resp);
/* On the way out: the error page for resp's status (the location's, then the server's), the
 * fields (the server's, then the location's) and HSTS on TLS. loc may be NULL. */
void site_finish(struct static_cache *cache, const struct config *cfg,
                 const struct config_server *srv, const struct config_location *loc,
                 struct http_request *req, struct http_response *resp);

#endif
