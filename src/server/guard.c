/* Access rules and rate limits of a location, see guard.h. */
#include "server/guard.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "server/dispatch.h"
#include "server/rate_table.h"
#include "server/server.h"

/* The first rule whose prefix holds the client, or NULL (then the client is allowed). */
static const struct config_access_rule *first_match(const struct config_location *loc,
                                                    const struct ip_addr *client)
{
    for (size_t i = 0; i < loc->n_access; i++)
        if (cidr_match(&loc->access[i].net, client)) return &loc->access[i];
    return NULL;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool refuse_denied(const struct config_location *loc, const struct ip_addr *client,
                          struct http_request *req, struct http_response *resp)
{
    const struct config_access_rule *r = first_match(loc, client);
    if (!r || r->allow) return false;
    char net[64];
    log_info("%s: 403 %.*s: denied by 'deny %s' (line %d) of location %s", req->peer,
             (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p,
             cidr_format(&r->net, net, sizeof(net)), r->line, loc->path);
    dispatch_error(req, resp, 403);
    return true;
}

/* A request waiting for the token it took on credit: resp's body while pending, so that the
 * wire closing it (the client gone) stops the wait. */
struct delayed {
    struct body_source src;
    struct timer timer;
    struct dispatch_ctx dc;
    struct http_request *req;
    struct http_response *resp;
};

static enum body_next_result delayed_next(struct body_source *src, struct body_chunk *out,
                                          size_t max)
{
    (void)src, (void)out, (void)max;
    return BODY_ERROR; /* never pulled while pending */
}

static void delayed_close(struct body_source *src)
{
    timer_cancel(&((struct delayed *)src)->timer);
}

static void delayed_expired(struct timer *t)
{
    struct delayed *d = (struct delayed *)((char *)t - offsetof(struct delayed, timer));
    d->resp->body = NULL;
    dispatch_again(&d->dc, d->req, d->resp);
}

/* Puts req off for delay_ms (the rate limit's queue). False when it cannot (then it goes now). */
static bool put_off(const struct dispatch_ctx *dc, struct http_request *req,
                    struct http_response *resp, int64_t delay_ms)
{
    struct delayed *d = pool_calloc(req->pool, sizeof(*d));
    if (!d) return false;
    d->src.next = delayed_next;
    d->src.close = delayed_close;
    d->timer.cb = delayed_expired;
    d->dc = *dc;
    d->req = req;
    d->resp = resp;
    resp->pending = true;
    resp->body = &d->src;
    timer_arm(dc->wk->loop, &d->timer, loop_now_ms(dc->wk->loop) + delay_ms);
    return true;
}

static bool refuse_over_limit(const struct dispatch_ctx *dc, const struct config_location *loc,
                              const struct ip_addr *client, struct http_request *req,
                              struct http_response *resp)
{
    const struct config *cfg = dc->cfg;
    const struct rate_spec *s = &loc->rate_limit.spec;
    if (req->rate_passed == loc->rate_limit.id) return false; /* its token came while it waited */
    struct rate_verdict v = rate_table_take(cfg->rate_table, loc->rate_limit.id, s, client,
                                            monotonic_ms(), s->period_ms);
    if (v.delay_ms) {
        req->rate_passed = loc->rate_limit.id;
        return put_off(dc, req, resp, v.delay_ms);
    }
    if (!v.wait_ms) return false;
    /* RFC 9110 §10.2.3: delay-seconds, whole; rounded up so a client that obeys it finds a
     * token waiting */
    long long secs = (v.wait_ms + 999) / 1000;
    if (v.log)
        log_info("%s: 429 %.*s: over the rate limit of location %s (%u/%s, burst %u)", req->peer,
                 (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p, loc->path, s->count,
                 s->period_ms == 1000 ? "s" : "m", s->burst);
    dispatch_error(req, resp, 429);
    char *value = pool_alloc(req->pool, 24);
    if (value) {
        int n = snprintf(value, 24, "%lld", secs);
        http_fields_add_token(&resp->headers, req->pool, HTTP_TOKEN_RETRY_AFTER,
                              str_make(value, (size_t)n));
    }
    return true;
}

struct inflight {
    struct rate_table *table;
    long slot;
};

static void leave(void *arg)
{
    struct inflight *f = arg;
    rate_table_leave(f->table, f->slot);
}

/* limit_conn: counted in until the request's end (its pool's cleanup); 503 at the limit, as
 * nginx's limit_conn answers. */
static bool refuse_too_many(const struct config *cfg, const struct config_location *loc,
                            const struct ip_addr *client, struct http_request *req,
                            struct http_response *resp)
{
    bool log;
    long slot = rate_table_enter(cfg->rate_table, loc->limit_conn.id, loc->limit_conn.max, client,
                                 monotonic_ms(), 1000, &log);
    if (slot == -1) {
        if (log)
            log_info("%s: 503 %.*s: over limit_conn %u of location %s", req->peer,
                     (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p,
                     loc->limit_conn.max, loc->path);
        dispatch_error(req, resp, 503);
        return true;
    }
    if (slot < 0) return false;
    struct inflight *f = pool_alloc(req->pool, sizeof(*f));
    if (!f || pool_on_cleanup(req->pool, leave, f) < 0) {
        rate_table_leave(cfg->rate_table, slot); /* not counted rather than never let out */
        return false;
    }
    f->table = cfg->rate_table;
    f->slot = slot;
    return false;
}

bool guard_refuses(const struct dispatch_ctx *dc, const struct config_location *loc,
                   struct http_request *req, struct http_response *resp)
{
    const struct config *cfg = dc->cfg;
    if (!loc->n_access && !loc->rate_limit.id && !loc->limit_conn.id) return false;
    /* an address that does not parse (no socket peer) matches only `all` and shares one
     * bucket with every other such client */
    struct ip_addr client;
    ip_addr_parse(req->peer, strlen(req->peer), &client);
    if (loc->n_access && refuse_denied(loc, &client, req, resp)) return true;
    if (loc->rate_limit.id && cfg->rate_table && refuse_over_limit(dc, loc, &client, req, resp))
        return true;
    return loc->limit_conn.id && cfg->rate_table && refuse_too_many(cfg, loc, &client, req, resp);
}
