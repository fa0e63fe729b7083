/* The metrics endpoint (`metrics: true` on a location): Prometheus's text exposition format
 * 0.0.4, drawn from counters the parts keep for themselves. Labels come from the
 * configuration only (a server's first name, a location's path), never from a request, so
 * their number is bounded. For now: each caching location's store (http/cache_store.h), and
 * what each guarded location's access rules and limits did (server/guard.c). */
#ifndef TERN_HANDLER_METRICS_H
#define TERN_HANDLER_METRICS_H

#include "core/buf.h"
#include "http/request.h"
#include "http/response.h"
#include "server/config.h"

/* Fills resp with cfg's metrics (GET; HEAD without the body). 0, or -1 on OOM. */
int metrics_handle(const struct config *cfg, struct http_request *req, struct http_response *resp);
/* Appends the exposition of cfg's metrics to b. 0, or -1 on OOM. */
int metrics_text(const struct config *cfg, struct buf *b);

#endif
