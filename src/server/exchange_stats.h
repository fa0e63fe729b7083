/* Counts every finished exchange for metrics (core/stats.h): by wire version, method class and
 * status class, and its duration in the histogram. An exchange observer (server/wire.h). */
#ifndef TERN_SERVER_EXCHANGE_STATS_H
#define TERN_SERVER_EXCHANGE_STATS_H

#include "http/request.h"
#include "http/response.h"

struct worker;

void exchange_stats_record(struct worker *wk, const struct http_request *req,
                           const struct http_response *resp);

#endif
