/* Private to src/handler/proxy*.c: a worker's proxy state and the active health checks. */
#ifndef TERN_HANDLER_PROXY_INTERNAL_H
#define TERN_HANDLER_PROXY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"
#include "server/config.h"

#define PROXY_MAX_UPSTREAMS 64

struct worker;
struct health_probe;

/* Per worker and proxy location: balancing, passive health (as nginx's, per worker) and the
 * active checks' view of each upstream. */
struct proxy_state {
    const struct config_proxy *pc; /* the configuration this state is for (reload: reset) */
    const struct config *cfg;      /* the configuration pc belongs to */
    struct proxy_worker *pw;
    unsigned rr;
    unsigned active[PROXY_MAX_UPSTREAMS];
    unsigned fails[PROXY_MAX_UPSTREAMS];
    int64_t down_until[PROXY_MAX_UPSTREAMS];
    /* active health checks (proxy_health.c) */
    struct timer health_timer;
    bool check_down[PROXY_MAX_UPSTREAMS]; /* failed `fails` checks in a row, until `passes` */
    unsigned check_fails[PROXY_MAX_UPSTREAMS], check_passes[PROXY_MAX_UPSTREAMS];
    struct health_probe *probes[PROXY_MAX_UPSTREAMS]; /* in flight */
};

struct resolver;

struct proxy_worker {
    struct worker *wk;
    struct resolver *resolver; /* forward proxy name lookups (client/resolve.h), on first use */
    struct loop *loop;
    struct upstream_pool *pool;
    struct proxy_state **states; /* by config_proxy.id */
    size_t n_states;
};

/* The worker's proxy state, made on first use (NULL on OOM). */
struct proxy_worker *proxy_worker_get(struct worker *wk);
/* The state of pc (of configuration cfg), reset when it was another configuration's. */
struct proxy_state *proxy_state_get(struct proxy_worker *pw, const struct config_proxy *pc,
                                    const struct config *cfg);

struct dispatch_ctx;
struct http_request;
struct http_response;
/* Proxies req per pc (a location's, or the forward proxy's made for one request). in_handle:
 * called from the dispatch of req (a failure then leaves the response to it), else from a
 * callback of the handler's own (a failure calls dispatch_finish). */
void proxy_start(const struct dispatch_ctx *dc, const struct config_proxy *pc,
                 struct http_request *req, struct http_response *resp, str_t url_path,
                 bool in_handle);

/* Starts the periodic checks of st's upstreams (pc->health_path set), the first at once. */
void proxy_health_start(struct proxy_state *st);
/* Stops them: the timer, and the probes in flight closed. */
void proxy_health_stop(struct proxy_state *st);

#endif
