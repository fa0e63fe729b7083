#include "server/exchange_stats.h"

#include "core/stats.h"
#include "server/server.h"

static enum stats_method method_class(const struct http_request *req)
{
    switch (req->method) {
    case HTTP_METHOD_GET: return SM_GET;
    case HTTP_METHOD_HEAD: return SM_HEAD;
    case HTTP_METHOD_POST: return SM_POST;
    case HTTP_METHOD_PUT: return SM_PUT;
    case HTTP_METHOD_DELETE: return SM_DELETE;
    case HTTP_METHOD_OPTIONS: return SM_OPTIONS;
    case HTTP_METHOD_CONNECT: return SM_CONNECT;
    default: return SM_OTHER;
    }
}

void exchange_stats_record(struct worker *wk, const struct http_request *req,
                           const struct http_response *resp)
{
    static const int64_t bounds[] = STATS_DURATION_BOUNDS_MS;
    struct stats_block *b = stats_here;
    enum stats_version v = stats_version_of(req->version);
    /* a request rejected before its method was read has method_name empty: "other" */
    enum stats_method m = req->method_name.len ? method_class(req) : SM_OTHER;
    stats_add(&b->requests[v][m][stats_status_of(resp->status)], 1);
    /* the loop's clock (ms, refreshed once per iteration): free to read, and what the access
     * log would say too; a wall clock stepped back counts as 0 */
    int64_t ms = loop_now_ms(wk->loop) - req->now_ms;
    if (ms < 0) ms = 0;
    size_t i = 0;
    while (i < sizeof(bounds) / sizeof(bounds[0]) && ms > bounds[i])
        i++;
    stats_add(&b->duration[v][i], 1);
    stats_add(&b->duration_ms_sum[v], (uint64_t)ms);
}
