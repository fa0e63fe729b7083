/* The status page (`metrics: {listen, status: true}`, at /status on the metrics listener): an
 * HTML page with the counters of core/stats.h now and small inline-SVG charts of requests per
 * second and open connections over the samples of server/status_ring.h. No script: the page
 * refreshes itself at the sampling interval. */
#ifndef TERN_HANDLER_STATUS_PAGE_H
#define TERN_HANDLER_STATUS_PAGE_H

#include "http/request.h"
#include "http/response.h"
#include "server/config.h"

/* Fills resp with the page (GET; HEAD without the body). 0, or -1 on OOM. */
int status_page_handle(const struct config *cfg, struct http_request *req,
                       struct http_response *resp);

#endif
