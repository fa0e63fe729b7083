/* Access rules and rate limits of a location, see guard.h. */
#include "server/guard.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "server/dispatch.h"
#include "server/rate_table.h"
#include "server/redis_link.h"
#include "server/redis_rate.h"
#include "server/server.h"

/* The first rule whose prefix holds the client, or NULL (then the client is allowed). */
/* Counts what a guard did for the location's metrics (when it has counts). */
#define GUARD_COUNT(loc, what)                                                                     \
    do {                                                                                           \
        if ((loc)->guard_counts)                                                                   \
            atomic_fetch_add_explicit(&(loc)->guard_counts->what, 1, memory_order_relaxed);        \
    } while (0)

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
    GUARD_COUNT(loc, denied);
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

static bool rate_passed(const struct http_request *req, uint32_t id)
{
    return req->rate_passed[0] == id || req->rate_passed[1] == id;
}

/* Remembers that req has its token of limit id, for its next routing. */
static void pass_rate(struct http_request *req, uint32_t id)
{
    if (rate_passed(req, id)) return;
    req->rate_passed[req->rate_passed[0] ? 1 : 0] = id;
}

/* Answers 429 for a request over the rate limit, with Retry-After. */
static void answer_429(const struct config_location *loc, struct http_request *req,
                       struct http_response *resp, int64_t wait_ms, bool log, bool shared)
{
    const struct rate_spec *s = &loc->rate_limit.spec;
    /* RFC 9110 §10.2.3: delay-seconds, whole; rounded up so a client that obeys it finds a
     * token waiting */
    long long secs = (wait_ms + 999) / 1000;
    if (log)
        log_info("%s: 429 %.*s: over the %srate limit of location %s (%u/%s, burst %u)", req->peer,
                 (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p,
                 shared ? "shared " : "", loc->path, s->count, s->period_ms == 1000 ? "s" : "m",
                 s->burst);
    GUARD_COUNT(loc, limited);
    dispatch_error(req, resp, 429);
    char *value = pool_alloc(req->pool, 24);
    if (value) {
        int n = snprintf(value, 24, "%lld", secs);
        http_fields_add_token(&resp->headers, req->pool, HTTP_TOKEN_RETRY_AFTER,
                              str_make(value, (size_t)n));
    }
}

/* The process's own bucket decides: true when it answered or put req off. */
static bool local_verdict(const struct dispatch_ctx *dc, const struct config_location *loc,
                          const struct ip_addr *client, struct http_request *req,
                          struct http_response *resp)
{
    const struct rate_spec *s = &loc->rate_limit.spec;
    struct rate_verdict v = rate_table_take(dc->cfg->rate_table, loc->rate_limit.id, s, client,
                                            monotonic_ms(), s->period_ms);
    if (v.delay_ms) {
        pass_rate(req, loc->rate_limit.id);
        GUARD_COUNT(loc, delayed);
        return put_off(dc, req, resp, v.delay_ms);
    }
    if (!v.wait_ms) return false;
    answer_429(loc, req, resp, v.wait_ms, v.log, false);
    return true;
}

/* Without an answer from Redis, the location's on_error decides. */
static bool on_error_verdict(const struct dispatch_ctx *dc, const struct config_location *loc,
                             const struct ip_addr *client, struct http_request *req,
                             struct http_response *resp)
{
    switch (loc->rate_limit.on_error) {
    case CONFIG_RATE_ON_ERROR_OPEN: return false;
    case CONFIG_RATE_ON_ERROR_CLOSED:
        GUARD_COUNT(loc, limited);
        dispatch_error(req, resp, 503);
        return true;
    default: return local_verdict(dc, loc, client, req, resp);
    }
}

/* A request waiting for Redis's verdict on its shared rate limit: resp's body while pending,
 * as struct delayed, so that the client leaving stops the wait. */
struct shared_wait {
    struct body_source src;
    struct timer timer; /* the redis timeout */
    struct dispatch_ctx dc;
    struct http_request *req;
    struct http_response *resp;
    struct redis_call *call; /* NULL once answered or abandoned */
    struct ip_addr client;
};

static void shared_close(struct body_source *src)
{
    struct shared_wait *w = (struct shared_wait *)src;
    timer_cancel(&w->timer);
    if (w->call) redis_call_abandon(w->call, false);
    w->call = NULL;
}

/* Goes on with the request once the verdict is in (v NULL: on_error decides). */
static void shared_resume(struct shared_wait *w, const struct rate_verdict *v)
{
    const struct config_location *loc = w->dc.loc;
    struct http_request *req = w->req;
    struct http_response *resp = w->resp;
    resp->body = NULL;
    resp->pending = false; /* until put off again */
    bool answered;
    if (!v) {
        answered = on_error_verdict(&w->dc, loc, &w->client, req, resp);
        if (answered && resp->pending) return; /* put off by the local queue */
    } else if (v->wait_ms) {
        answer_429(loc, req, resp, v->wait_ms, redis_link_log_refusal(w->dc.wk->redis), true);
        answered = true;
    } else {
        if (v->delay_ms && put_off(&w->dc, req, resp, v->delay_ms)) {
            pass_rate(req, loc->rate_limit.id);
            GUARD_COUNT(loc, delayed);
            return;
        }
        answered = false;
    }
    if (answered) {
        dispatch_finish(&w->dc, req, resp);
        return;
    }
    pass_rate(req, loc->rate_limit.id); /* routed again, it passes this limit */
    dispatch_again(&w->dc, req, resp);
}

static void shared_answered(void *arg, const struct rate_verdict *v)
{
    struct shared_wait *w = arg;
    w->call = NULL;
    timer_cancel(&w->timer);
    shared_resume(w, v);
}

static void shared_expired(struct timer *t)
{
    struct shared_wait *w = (struct shared_wait *)((char *)t - offsetof(struct shared_wait, timer));
    if (w->call) redis_call_abandon(w->call, true);
    w->call = NULL;
    shared_resume(w, NULL);
}

/* The worker's link to cfg's Redis, made on first use, or again when a reload changed the
 * address. NULL without memory, or for a request of a replaced configuration whose address is
 * no longer the worker's (then on_error decides): two configurations do not take turns. */
static struct redis_link *worker_redis(struct worker *wk, const struct config *cfg)
{
    if (wk->redis && redis_link_matches(wk->redis, &cfg->redis)) return wk->redis;
    if (cfg != wk->cfg) return NULL;
    struct redis_link *old = wk->redis;
    wk->redis = NULL; /* the calls it ends (done NULL) do not find it */
    redis_link_free(old);
    wk->redis = redis_link_new(wk->loop, &cfg->redis);
    return wk->redis;
}

/* A shared rate limit: asks Redis and puts req off until it answers (or the timeout). True
 * when it answered or put req off. */
static bool ask_redis(const struct dispatch_ctx *dc, const struct config_location *loc,
                      const struct ip_addr *client, struct http_request *req,
                      struct http_response *resp)
{
    const struct config *cfg = dc->cfg;
    struct redis_link *link = worker_redis(dc->wk, cfg);
    if (!link) return on_error_verdict(dc, loc, client, req, resp);
    size_t need = redis_rate_key(NULL, 0, cfg->redis.key_prefix, dc->srv->names, dc->srv->n_names,
                                 loc->path, req->peer);
    char *key = pool_alloc(req->pool, need + 1);
    struct shared_wait *w = pool_calloc(req->pool, sizeof(*w));
    if (!key || !w) return on_error_verdict(dc, loc, client, req, resp);
    redis_rate_key(key, need + 1, cfg->redis.key_prefix, dc->srv->names, dc->srv->n_names,
                   loc->path, req->peer);
    w->call = redis_link_rate(link, key, &loc->rate_limit.spec, shared_answered, w);
    if (!w->call) return on_error_verdict(dc, loc, client, req, resp);
    w->src.next = delayed_next;
    w->src.close = shared_close;
    w->timer.cb = shared_expired;
    w->dc = *dc;
    w->req = req;
    w->resp = resp;
    w->client = *client;
    resp->pending = true;
    resp->body = &w->src;
    timer_arm(dc->wk->loop, &w->timer, loop_now_ms(dc->wk->loop) + cfg->redis.timeout_ms);
    return true;
}

static bool refuse_over_limit(const struct dispatch_ctx *dc, const struct config_location *loc,
                              const struct ip_addr *client, struct http_request *req,
                              struct http_response *resp)
{
    if (rate_passed(req, loc->rate_limit.id)) return false; /* its token came while it waited */
    if (loc->rate_limit.shared && dc->cfg->redis.address && dc->srv)
        return ask_redis(dc, loc, client, req, resp);
    return local_verdict(dc, loc, client, req, resp);
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
        GUARD_COUNT(loc, too_many);
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
