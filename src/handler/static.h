/* The static file handler: maps a normalized path under a location's root to a file and
 * answers with everything RFC 9110 offers for it (conditionals, ranges, codings, listing). */
#ifndef TERN_HANDLER_STATIC_H
#define TERN_HANDLER_STATIC_H

#include "http/request.h"
#include "http/response.h"
#include "server/config.h"

/* Per-worker state (open-file cache); one per worker thread, no locking. */
struct static_cache;
struct static_cache *static_cache_create(size_t max_entries);
void static_cache_destroy(struct static_cache *cache);

/* Answers a GET or HEAD for req. `path` is the normalized decoded path (from
 * http_path_normalize). Fills resp (status, fields, content_length, body). Returns 0, or -1 on
 * an internal error (the caller answers 500). Never reads outside loc->root. */
int static_handle(struct static_cache *cache, const struct config *cfg,
                  const struct config_location *loc, const struct http_request *req,
                  const char *path, struct http_response *resp);

#endif
