#include "handler/cache.h"
#include "handler/cache_range.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "http/cache_rules.h"
#include "http/cache_store.h"
#include "http/conditional.h"
#include "http/date.h"
#include "handler/proxy.h"
#include "server/server.h"

/* What the cache knows about one request, from cache_handle to cache_on_head. */
struct cache_req {
    const struct config_cache *cc;
    str_t key; /* scheme://authority/path?query */
    struct cache_control req_cc;
    struct cache_entry *stale; /* found but not fresh; held by the request's pool */
    bool revalidating;         /* the request asks the upstream with stale's validators */
    struct cache_status st;
    bool bypass;       /* neither looked up nor stored (method, credentials, no-store) */
    size_t max_ranges; /* limits.ranges: a stored response answers Range (cache_range.h) */
    /* Request collapsing: the fetch that others, on any worker, wait for (see below). */
    struct cache_flight *flight; /* set while this request leads one */
};

/* A request that waits for a leader's answer to the same key: resp is pending meanwhile, with
 * src as its body, whose close (the client went away) cancels the wait. */
struct cache_wait {
    struct body_source src;
    struct loop_task task;       /* queued when the leader is done: the request runs again */
    struct timer timer;          /* ... or when it has waited long enough */
    struct cache_flight *flight; /* NULL once woken */
    struct cache_store *store;
    struct cache_wait *next; /* the worker's waiters */
    struct dispatch_ctx dc;
    struct http_request *req;
    struct http_response *resp;
    str_t url_path;
};

/* The body source that copies what the client pulls into a new entry. */
struct cache_fill {
    struct body_source src;
    struct body_source *inner; /* the proxy's */
    struct cache_req *cr;
    struct cache_entry *e; /* NULL once inserted or given up */
    size_t cap;
    int64_t expect; /* Content-Length, or -1 */
};

static void entry_unref(void *e)
{
    cache_entry_release(e);
}

/* Keeps e (a reference the caller owns) until req's pool goes: every string and byte of it
 * can then go into the response as is. -1 (e released) on OOM. */
static int hold(struct http_request *req, struct cache_entry *e)
{
    if (pool_on_cleanup(req->pool, entry_unref, e) == 0) return 0;
    cache_entry_release(e);
    return -1;
}

/* The cache key (RFC 9111 §2): scheme, authority (lower case), then path and query. */
static str_t make_key(struct pool *pool, const struct http_request *req, str_t target)
{
    size_t n = req->scheme.len + 3 + req->authority.len + target.len;
    char *k = pool_alloc(pool, n + 1);
    if (!k) return STR_NULL;
    size_t o = 0;
    memcpy(k, req->scheme.p, req->scheme.len);
    o += req->scheme.len;
    memcpy(k + o, "://", 3);
    o += 3;
    for (size_t i = 0; i < req->authority.len; i++) {
        char c = req->authority.p[i];
        k[o++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    memcpy(k + o, target.p, target.len);
    k[n] = '\0';
    return str_make(k, n);
}

static str_t request_key(struct pool *pool, const struct http_request *req)
{
    if (!req->has_query) return make_key(pool, req, req->path);
    char *t = pool_printf(pool, NULL, "%.*s?%.*s", (int)req->path.len, req->path.p,
                          (int)req->query.len, req->query.p);
    return t ? make_key(pool, req, str_cstr(t)) : STR_NULL;
}

static int add_copy(struct http_fields *f, struct pool *pool, str_t name, str_t value)
{
    char *n = pool_strndup(pool, name.p, name.len);
    char *v = pool_strndup(pool, value.p, value.len);
    return n && v ? http_fields_add(f, pool, str_make(n, name.len), str_make(v, value.len)) : -1;
}

/* Adds Cache-Status to the response of a cache location, counted for its metrics. */
static int add_cache_status(struct http_response *resp, struct pool *pool,
                            const struct cache_status *st, struct cache_store *store)
{
    cache_store_count(store, st);
    struct buf b = {0};
    char *v = cache_status_format(&b, STR_LIT("tern"), st) == 0
                  ? pool_strndup(pool, buf_ptr(&b), buf_size(&b))
                  : NULL;
    size_t len = buf_size(&b);
    buf_free(&b);
    return v ? http_fields_add(&resp->headers, pool, STR_LIT("Cache-Status"), str_make(v, len))
             : -1;
}

static int64_t entry_age(const struct cache_entry *e, time_t now)
{
    return cache_age_compute(cache_age_value(&e->fields), e->date, e->request_time,
                             e->response_time, now);
}

static void fd_close(void *fd)
{
    close((int)(intptr_t)fd);
}

/* Where the stored body of e (held by req's pool) is: memory, or its file, opened now and
 * closed with the pool (a file unlinked meanwhile stays readable through it). -1 when the
 * file cannot be opened; a file that is gone takes its entry out of the store, so that the next
 * request does not try it again. */
static int entry_data(struct http_request *req, const struct cache_entry *e,
                      struct cache_store *store, struct multipart_data *d)
{
    *d = (struct multipart_data){e->body, -1, 0};
    if (!e->path) return 0;
    int fd = open(e->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_warn("cache: %s: %s", e->path, strerror(errno));
        if (errno == ENOENT) cache_store_drop(store, e);
        return -1;
    }
    if (pool_on_cleanup(req->pool, fd_close, (void *)(intptr_t)fd) < 0) {
        close(fd);
        return -1;
    }
    *d = (struct multipart_data){NULL, fd, (uint64_t)e->body_off};
    return 0;
}

/* Fills resp from e (held by req's pool; its body bytes from body_of, e itself or an entry
 * with the same body, also held): the stored status and fields, the current Age
 * (RFC 9111 §5.1), Cache-Status, and the stored body (none for HEAD: §4.3.5's converse, a
 * stored GET answers HEAD), or the ranges a GET asks for (at most max_ranges; 0: the whole
 * body, as a server may, RFC 9110 §14.2). 0, or -1 on OOM or when a disk entry's file cannot
 * be opened. */
static int serve_entry(struct cache_req *cr, struct http_request *req, struct http_response *resp,
                       const struct cache_entry *e, const struct cache_entry *body_of, time_t now)
{
    struct cache_status *st = &cr->st;
    size_t max_ranges = cr->max_ranges;
    int64_t age = entry_age(e, now);
    resp->status = e->status;
    resp->headers.count = 0;
    for (size_t i = 0; i < e->fields.count; i++) {
        const struct http_field *f = &e->fields.items[i];
        if (f->token != HTTP_TOKEN_AGE &&
            http_fields_add(&resp->headers, req->pool, f->name, f->value) < 0)
            return -1;
    }
    char a[16];
    size_t n = cache_age_format(age, a);
    char *av = pool_strndup(req->pool, a, n);
    if (!av || http_fields_add_token(&resp->headers, req->pool, HTTP_TOKEN_AGE, str_make(av, n)))
        return -1;
    st->has_ttl = true;
    st->ttl = e->lifetime - age;
    resp->content_length = (int64_t)e->body_len;
    resp->body = NULL;
    struct multipart_data d;
    if (req->method != HTTP_METHOD_HEAD && e->body_len) { /* before Cache-Status is counted */
        if (entry_data(req, body_of, cr->cc->store, &d) < 0) return -1;
        resp->body = d.mem ? body_source_mem(req->pool, d.mem, e->body_len)
                           : body_source_file(req->pool, d.fd, (off_t)d.offset, e->body_len);
        if (!resp->body) return -1;
    }
    if (add_cache_status(resp, req->pool, st, cr->cc->store) < 0) return -1;
    if (!resp->body) return 0;
    return max_ranges && http_fields_find(&req->headers, HTTP_TOKEN_RANGE)
               ? cache_range_apply(req, resp, e, &d, max_ranges)
               : 0;
}

/* A client's own If-None-Match / If-Modified-Since against a stored 200 (RFC 9111 §4.3.2,
 * RFC 9110 §13.2.2): a 304 with the stored fields but the body and its metadata. */
static void not_modified(struct http_request *req, struct http_response *resp,
                         const struct cache_entry *e)
{
    if (e->status != 200) return;
    struct http_validators v;
    cache_entry_validators(e, &v);
    if (http_conditional_eval(req, &v) != 304) return;
    resp->status = 304;
    resp->content_length = -1;
    resp->body = NULL; /* a memory source over the entry: nothing to close */
    http_fields_remove(&resp->headers, HTTP_TOKEN_CONTENT_TYPE);
    http_fields_remove(&resp->headers, HTTP_TOKEN_CONTENT_ENCODING);
    http_fields_remove(&resp->headers, HTTP_TOKEN_CONTENT_RANGE); /* 304 before Range */
}

/* ---- request collapsing ----
 * Concurrent misses of one key, on any worker thread: the first goes upstream (the leader),
 * the others wait until its response is stored (or turns out not to be) and then run again,
 * to find it in the store. One round only: a request woken that still misses goes upstream.
 * The flights in the air are the store's (http/cache_store.h), under its lock; each waiter
 * hangs off a list of its own worker (thread-local), and a leader that is done wakes the
 * loops of the workers with waiters (loop_notify), whose hook runs the waiters whose flight is
 * done. */

/* A waiter whose leader takes longer than this (a slow upstream, or a large body going to a
 * slow client: the store fills as the leader's client reads) goes upstream itself. */
#define COLLAPSE_WAIT_MS 5000

/* This worker's waiters, and the hook of its loop that runs those whose flight is done. */
static _Thread_local struct cache_wait *waiters;
static _Thread_local struct loop_hook waiters_hook;
static _Thread_local struct loop *waiters_loop;

/* Is b the source that copies a body into a new entry, still storing? */
static bool filling(const struct body_source *b);

/* How a request comes to handle(): the first time, again after a leader's answer, or as a
 * background revalidation (leading the flight it was started with). */
enum run { RUN_FIRST, RUN_COLLAPSED, RUN_BACKGROUND };
static void handle(struct dispatch_ctx *dc, struct http_request *req, struct http_response *resp,
                   str_t url_path, enum run run, struct cache_flight *flight);

static void wait_run(struct loop_task *t)
{
    struct cache_wait *w = (struct cache_wait *)((char *)t - offsetof(struct cache_wait, task));
    struct http_response *resp = w->resp;
    timer_cancel(&w->timer);
    resp->body = NULL;
    resp->pending = false;
    handle(&w->dc, w->req, resp, w->url_path, RUN_COLLAPSED, NULL);
    if (!resp->pending) dispatch_finish(&w->dc, w->req, resp);
}

static enum body_next_result wait_next(struct body_source *src, struct body_chunk *out, size_t max)
{
    (void)src, (void)out, (void)max;
    return BODY_ERROR; /* never asked: the response is pending */
}

/* Takes w off its worker's list and its flight, if it still waits. */
static void wait_unlink(struct cache_wait *w)
{
    if (!w->flight) return;
    struct cache_wait **pp = &waiters;
    while (*pp != w)
        pp = &(*pp)->next;
    *pp = w->next;
    cache_store_flight_leave(w->store, w->flight, w->dc.wk->loop);
    w->flight = NULL;
}

static void wait_close(struct body_source *src)
{
    struct cache_wait *w = (struct cache_wait *)src;
    loop_task_cancel(&w->task);
    timer_cancel(&w->timer);
    wait_unlink(w);
}

static void wait_timeout(struct timer *t)
{
    struct cache_wait *w = (struct cache_wait *)((char *)t - offsetof(struct cache_wait, timer));
    wait_unlink(w);
    loop_defer(w->dc.wk->loop, &w->task);
}

/* The loop's hook (loop_notify): the waiters whose flight is done run again. */
static void waiters_wake(struct loop_hook *h)
{
    (void)h;
    struct cache_wait **pp = &waiters;
    while (*pp) {
        struct cache_wait *w = *pp;
        if (!atomic_load(&w->flight->done)) {
            pp = &w->next;
            continue;
        }
        wait_unlink(w); /* takes it off the list: *pp is the next one */
        timer_cancel(&w->timer);
        loop_defer(w->dc.wk->loop, &w->task);
    }
}

static void notify_loop(void *loop)
{
    loop_notify(loop);
}

/* The leader's answer is stored, or will not be: the flight's waiters run again. */
static void leader_done_flight(struct cache_store *s, struct cache_flight *f)
{
    cache_store_flight_end(s, f, notify_loop);
}

/* leader_done_flight for cr's flight, if it leads one. Idempotent. */
static void leader_done(struct cache_req *cr)
{
    if (!cr->flight) return;
    struct cache_flight *f = cr->flight;
    cr->flight = NULL;
    leader_done_flight(cr->cc->store, f);
}

static void leader_cleanup(void *cr)
{
    leader_done(cr); /* the leader's request is over, whatever became of it */
}

/* Joins the flight of cr's key as a waiter (true), or makes cr its leader (false). */
static bool collapse(struct cache_req *cr, struct dispatch_ctx *dc, struct http_request *req,
                     struct http_response *resp, str_t url_path)
{
    struct loop *loop = dc->wk->loop;
    if (waiters_loop != loop) { /* the worker's first: its loop gets the hook */
        waiters_hook.cb = waiters_wake;
        if (loop_hook_add(loop, &waiters_hook) < 0) return false;
        waiters_loop = loop;
    }
    struct cache_wait *w = pool_calloc(req->pool, sizeof(*w));
    if (!w || pool_on_cleanup(req->pool, leader_cleanup, cr) < 0) return false;
    struct cache_flight *f;
    switch (cache_store_flight_join(cr->cc->store, cr->key.p, cr->key.len, loop, &f)) {
    case CACHE_FLIGHT_LEAD: cr->flight = f; return false;
    case CACHE_FLIGHT_NONE: return false;
    case CACHE_FLIGHT_WAIT: break;
    }
    w->src = (struct body_source){wait_next, wait_close};
    w->task.cb = wait_run;
    w->timer.cb = wait_timeout;
    w->flight = f;
    w->store = cr->cc->store;
    w->next = waiters;
    waiters = w;
    w->dc = *dc;
    w->req = req;
    w->resp = resp;
    w->url_path = url_path;
    resp->pending = true;
    resp->body = &w->src;
    timer_arm(loop, &w->timer, loop_now_ms(loop) + COLLAPSE_WAIT_MS);
    /* done before we were on the list: no wakeup will come for us */
    if (atomic_load(&f->done)) loop_notify(loop);
    return true;
}

/* Why a request neither uses nor feeds the cache, or NULL. */
static const char *bypass_reason(const struct http_request *req, const struct cache_control *cc)
{
    if (req->method != HTTP_METHOD_GET && req->method != HTTP_METHOD_HEAD) return "method";
    /* credentials: the answer is for this user (RFC 9111 §3.5 allows some; tern keeps out) */
    if (http_fields_find(&req->headers, HTTP_TOKEN_AUTHORIZATION)) return "authorization";
    if (cc->flags & CACHE_CC_NO_STORE) return "no-store"; /* §5.2.1.5 */
    /* a protocol switch (WebSocket) is for the upstream to answer, with a 101 */
    if (http_fields_find(&req->headers, HTTP_TOKEN_UPGRADE)) return "upgrade";
    return NULL;
}

void cache_handle(struct dispatch_ctx *dc, struct http_request *req, struct http_response *resp,
                  str_t url_path)
{
    handle(dc, req, resp, url_path, RUN_FIRST, NULL);
}

/* ---- background requests: revalidation (RFC 5861 §3) and ranged misses ----
 * A request that finds a stale entry within its stale-while-revalidate window is answered
 * from it at once, and a request of tern's own, made from it, revalidates the entry: it leads
 * the key's flight (so there is one per key at a time, and misses meanwhile wait for it), goes
 * through handle() and the proxy as any request, and its response body is pulled here to the
 * end, which stores it (a 200) or has refreshed the entry (a 304). A GET miss with Range
 * starts one the same way, to fetch the whole response into the store, and waits for it.
 * Such a request carries none of the client's conditions, Range or If-Range. It counts as
 * one of the worker's connections (core/conn.h): a graceful stop waits for it, a fast one
 * cancels it. */

struct cache_bg {
    struct conn conn;      /* first; w.fd -1: it has no socket */
    struct loop_task task; /* runs the request, then pulls its body */
    struct loop *loop;
    struct http_request req;
    struct http_response resp;
    struct dispatch_ctx dc;
    str_t url_path;
    struct cache_flight *flight; /* until handle() takes it */
    bool started;
    bool ended; /* retired: waits for bg_free, runs no more */
};

/* Done, or cancelled: the body (the proxy's work) closed, the flight ended, bg retired. */
static void bg_end(struct cache_bg *bg)
{
    if (bg->ended) return;
    bg->ended = true;
    loop_task_cancel(&bg->task);
    struct body_source *b = bg->resp.body;
    bg->resp.body = NULL;
    if (b && b->close) b->close(b);
    if (bg->flight) leader_done_flight(bg->dc.loc->cache->store, bg->flight);
    bg->flight = NULL;
    worker_retire_conn(bg->dc.wk, &bg->conn); /* bg_free at the end of the iteration */
}

static void bg_shutdown(struct conn *c, bool graceful)
{
    if (!graceful) bg_end((struct cache_bg *)c); /* graceful: it ends by itself */
}

static void bg_free(struct conn *c)
{
    pool_destroy(((struct cache_bg *)c)->req.pool); /* bg lives in it */
}

static const struct conn_ops bg_ops = {"cache-revalidation", bg_shutdown, NULL, bg_free};

static void bg_run(struct loop_task *t)
{
    struct cache_bg *bg = (struct cache_bg *)((char *)t - offsetof(struct cache_bg, task));
    if (!bg->started) {
        bg->started = true;
        struct cache_flight *f = bg->flight;
        bg->flight = NULL;
        handle(&bg->dc, &bg->req, &bg->resp, bg->url_path, RUN_BACKGROUND, f);
    }
    if (bg->resp.pending) return; /* the proxy's dispatch_finish resumes it */
    struct body_source *b = bg->resp.body;
    /* pulled only while it goes into the store: a body that is not stored (or no longer, too
     * big after all) is closed, and so is the upstream's connection */
    for (int i = 0; b && filling(b) && i < 64; i++) {
        struct body_chunk c;
        enum body_next_result r = b->next(b, &c, 65536);
        if (r == BODY_WAIT) return; /* the source resumes it */
        if (r != BODY_CHUNK) break;
        if (i == 63) { /* a large body: let the loop breathe */
            loop_defer(bg->loop, &bg->task);
            return;
        }
    }
    log_info("cache: background fetch of %.*s: %d", (int)bg->req.target.len, bg->req.target.p,
             bg->resp.status);
    bg_end(bg);
}

static void bg_resume(struct http_request *req)
{
    struct cache_bg *bg = req->wire;
    if (!bg->ended) loop_defer(bg->loop, &bg->task);
}

/* The client's fields that describe the request itself, not its own conditions or wishes. */
static bool bg_keeps(const struct http_field *f)
{
    switch (f->token) {
    case HTTP_TOKEN_IF_MATCH:
    case HTTP_TOKEN_IF_MODIFIED_SINCE:
    case HTTP_TOKEN_IF_NONE_MATCH:
    case HTTP_TOKEN_IF_RANGE:
    case HTTP_TOKEN_IF_UNMODIFIED_SINCE:
    case HTTP_TOKEN_RANGE:
    case HTTP_TOKEN_CACHE_CONTROL:
    case HTTP_TOKEN_CONTENT_LENGTH:
    case HTTP_TOKEN_TRANSFER_ENCODING: return false;
    case HTTP_TOKEN_NONE: return true;
    default: return !(http_token_info(f->token)->flags & HTTP_TOKEN_HOP_BY_HOP);
    }
}

static str_t bg_copy(struct pool *pool, str_t s)
{
    char *c = s.p ? pool_strndup(pool, s.p, s.len) : NULL;
    return c ? str_make(c, s.len) : STR_NULL;
}

/* Starts a background request for cr's key, made from req, unless one is in the air. */
static void background_start(const struct dispatch_ctx *dc, const struct http_request *req,
                             struct cache_req *cr, str_t url_path)
{
    if (dc->wk->state != SERVER_RUNNING) return; /* stopping: no new work */
    struct pool *pool = pool_create(4096);
    struct cache_bg *bg = pool ? pool_calloc(pool, sizeof(*bg)) : NULL;
    if (!bg) {
        pool_destroy(pool);
        return;
    }
    struct http_request *r = &bg->req;
    r->pool = pool;
    r->method = HTTP_METHOD_GET;
    r->method_name = STR_LIT("GET");
    r->target = bg_copy(pool, req->target);
    r->path = bg_copy(pool, req->path);
    r->query = bg_copy(pool, req->query);
    r->has_query = req->has_query;
    r->authority = bg_copy(pool, req->authority);
    r->host = bg_copy(pool, req->host);
    r->scheme = bg_copy(pool, req->scheme);
    r->version = 11;
    r->is_tls = req->is_tls;
    memcpy(r->peer, req->peer, sizeof(r->peer));
    r->now = time(NULL);
    r->now_ms = loop_now_ms(dc->wk->loop);
    r->resume = bg_resume;
    r->wire = bg;
    r->body_in_length = -1;
    bool ok = r->target.p && r->path.p && r->authority.p && r->host.p && r->scheme.p;
    for (size_t i = 0; ok && i < req->headers.count; i++) {
        const struct http_field *f = &req->headers.items[i];
        if (bg_keeps(f)) ok = add_copy(&r->headers, pool, f->name, f->value) == 0;
    }
    bg->url_path = bg_copy(pool, url_path);
    if (!ok || !bg->url_path.p ||
        cache_store_flight_join(cr->cc->store, cr->key.p, cr->key.len, dc->wk->loop, &bg->flight) !=
            CACHE_FLIGHT_LEAD) {
        if (bg->flight) cache_store_flight_leave(cr->cc->store, bg->flight, dc->wk->loop);
        pool_destroy(pool);
        return;
    }
    bg->loop = dc->wk->loop;
    bg->dc = *dc;
    bg->dc.cache = NULL;
    bg->resp.content_length = -1;
    bg->task.cb = bg_run;
    bg->conn.w.fd = -1;
    worker_add_conn(dc->wk, &bg->conn, &bg_ops);
    loop_defer(bg->loop, &bg->task); /* outside the client's request */
}

/* cache_handle, or a run again after a leader's answer, or a background revalidation that
 * leads flight. */
static void handle(struct dispatch_ctx *dc, struct http_request *req, struct http_response *resp,
                   str_t url_path, enum run run, struct cache_flight *flight)
{
    bool collapsed = run == RUN_COLLAPSED;
    struct cache_req *cr = pool_calloc(req->pool, sizeof(*cr));
    /* a background request leads its flight from the start, whatever it meets (a fresh entry
     * stored meanwhile too): the flight ends with its request at the latest */
    if (cr && flight && pool_on_cleanup(req->pool, leader_cleanup, cr) == 0) {
        cr->flight = flight;
        flight = NULL;
    }
    if (flight) leader_done_flight(dc->loc->cache->store, flight);
    if (!cr || !(cr->key = request_key(req->pool, req)).p) { /* no memory: no caching */
        dc->cache = NULL;
        proxy_handle(dc, req, resp, url_path);
        return;
    }
    cr->cc = dc->loc->cache;
    cr->st.collapsed = collapsed;
    cr->max_ranges = dc->cfg->limits.ranges ? dc->cfg->limits.ranges : 16;
    if (cr->cc->purge && str_eq(req->method_name, STR_LIT("PURGE"))) {
        /* the location's guards and auth ran before: whoever gets here may purge */
        size_t n = cache_store_remove(cr->cc->store, cr->key.p, cr->key.len);
        log_info("%s: PURGE %.*s: %zu stored response(s) removed", req->peer, (int)req->target.len,
                 req->target.p, n);
        dispatch_error(req, resp, n ? 200 : 404);
        return;
    }
    dc->cache = cr;
    cache_control_parse(&req->headers, true, &cr->req_cc);
    if ((cr->st.detail = bypass_reason(req, &cr->req_cc))) {
        cr->bypass = true;
        cr->st.fwd = req->method == HTTP_METHOD_GET || req->method == HTTP_METHOD_HEAD
                         ? CACHE_FWD_BYPASS
                         : CACHE_FWD_METHOD;
        proxy_handle(dc, req, resp, url_path);
        return;
    }
    bool seen = false;
    struct cache_entry *e = cache_store_lookup(cr->cc->store, cr->key.p, cr->key.len,
                                               cache_entry_vary_match, &req->headers, &seen);
    cr->st.fwd = seen ? CACHE_FWD_VARY_MISS : CACHE_FWD_URI_MISS;
    if (e && hold(req, e) == 0) {
        time_t now = time(NULL);
        struct cache_control res_cc;
        cache_control_parse(&e->fields, false, &res_cc);
        enum cache_use use =
            cache_use_decide(&cr->req_cc, &res_cc, e->lifetime, entry_age(e, now), false);
        /* max-age=0 (a browser's reload) wants the origin asked even at an age of 0 seconds,
         * which whole-second ages make common: validate, as no-cache (§5.2.1.1, §5.2.1.4) */
        if ((cr->req_cc.flags & CACHE_CC_MAX_AGE) && cr->req_cc.max_age == 0)
            use = CACHE_USE_VALIDATE;
        /* RFC 5861 §3: serve it stale, and revalidate it in the background unless a request
         * (of any worker) already does; the background request itself goes upstream */
        if (use == CACHE_USE_STALE_REVALIDATE && run == RUN_BACKGROUND) {
            use = CACHE_USE_VALIDATE;
        } else if (use == CACHE_USE_STALE_REVALIDATE && run == RUN_FIRST) {
            if (!cache_store_flight_busy(cr->cc->store, cr->key.p, cr->key.len))
                background_start(dc, req, cr, url_path);
            use = CACHE_USE_STALE;
        }
        if (use == CACHE_USE_FRESH || use == CACHE_USE_STALE) {
            cr->st.hit = true;
            cr->st.fwd = CACHE_FWD_NONE;
            if (serve_entry(cr, req, resp, e, e, now) == 0) {
                not_modified(req, resp, e);
                return;
            }
            resp->headers.count = 0; /* out of memory: ask the upstream */
            resp->body = NULL;
            cr->st = (struct cache_status){.fwd = CACHE_FWD_MISS};
        } else {
            /* stale, or the request wants it validated (§4.3.1) */
            cr->st.fwd = CACHE_FWD_STALE;
            cr->stale = e;
        }
    }
    if (cr->req_cc.flags & CACHE_CC_ONLY_IF_CACHED) { /* §5.2.1.7 */
        dispatch_error(req, resp, 504);
        cr->st.fwd = CACHE_FWD_NONE;
        add_cache_status(resp, req->pool, &cr->st, cr->cc->store);
        return;
    }
    if (run != RUN_BACKGROUND && !collapsed && req->method == HTTP_METHOD_GET) {
        /* a ranged miss: a request of tern's own fetches the whole response without Range
         * (the store keeps complete 200s only) and this one waits for it like any collapsed
         * miss, to be answered from the store; should it not be stored, this one runs again
         * and goes upstream with its Range (one round) */
        if (!cr->stale && http_fields_find(&req->headers, HTTP_TOKEN_RANGE) &&
            !cache_store_flight_busy(cr->cc->store, cr->key.p, cr->key.len))
            background_start(dc, req, cr, url_path);
        if (collapse(cr, dc, req, resp, url_path)) return;
    }
    /* the request's own fields change only now: a waiter runs again as it came */
    if (cr->stale && req->method == HTTP_METHOD_GET &&
        (http_fields_find(&cr->stale->fields, HTTP_TOKEN_ETAG) ||
         http_fields_find(&cr->stale->fields, HTTP_TOKEN_LAST_MODIFIED)) &&
        cache_add_validators(&req->headers, req->pool, &cr->stale->fields) == 0)
        cr->revalidating = true;
    proxy_handle(dc, req, resp, url_path);
}

/* ---- after the upstream's head ---- */

/* An unsafe method's success invalidates its target and the same-origin Location and
 * Content-Location (RFC 9111 §4.4). */
static void invalidate(struct cache_req *cr, struct http_request *req, struct http_response *resp)
{
    if (!cache_invalidates(req->method, resp->status)) return;
    cache_store_remove(cr->cc->store, cr->key.p, cr->key.len);
    static const enum http_token loc_fields[] = {HTTP_TOKEN_LOCATION, HTTP_TOKEN_CONTENT_LOCATION};
    for (size_t i = 0; i < 2; i++) {
        const struct http_field *f = http_fields_find(&resp->headers, loc_fields[i]);
        str_t path, key;
        if (f && cache_invalidation_uri(req->scheme, req->authority, f->value, &path) &&
            (key = make_key(req->pool, req, path)).p)
            cache_store_remove(cr->cc->store, key.p, key.len);
    }
}

static void commit_done(struct cache_store *s, void *flight, bool stored)
{
    (void)stored;
    if (flight) leader_done_flight(s, flight);
}

/* Inserts e. A disk entry's file is completed, renamed into place and inserted by the store's
 * writer thread, later: cr's flight goes with it, to end once e is in the store (or will not
 * be), so that its waiters find it. 0 (for a disk entry: queued), or -1. */
static int insert(struct cache_req *cr, struct cache_entry *e)
{
    if (!e->writing)
        return cache_store_insert(cr->cc->store, e, cache_entry_vary_match, &e->req_fields);
    if (cache_store_file_commit(cr->cc->store, e, commit_done, cr->flight) < 0) return -1;
    cr->flight = NULL;
    return 0;
}

/* The upstream's Date (RFC 9110 §6.6.1), which the proxy does not pass on. */
static bool head_date(const struct h1_response_head *head, str_t *value, time_t *t)
{
    for (size_t i = 0; i < head->n_fields; i++)
        if (str_eq_nocase(head->fields[i].name, STR_LIT("date"))) {
            *value = head->fields[i].value;
            return http_date_parse(value->p, value->len, t);
        }
    return false;
}

/* Copies into e the request fields that the response's Vary names (RFC 9111 §4.1). */
static int copy_vary_fields(struct cache_entry *e, const struct http_request *req)
{
    for (size_t i = 0; i < e->fields.count; i++) {
        if (e->fields.items[i].token != HTTP_TOKEN_VARY) continue;
        size_t pos = 0;
        str_t name;
        while (http_list_next(e->fields.items[i].value, &pos, &name))
            for (size_t k = 0; k < req->headers.count; k++) {
                const struct http_field *f = &req->headers.items[k];
                if (str_eq_nocase(f->name, name) &&
                    add_copy(&e->req_fields, e->pool, f->name, f->value) < 0)
                    return -1;
            }
    }
    return 0;
}

/* Times and lifetime of a response received now (RFC 9111 §4.2), from its fields and the
 * upstream's Date. 0, or -1 on OOM. */
static int set_freshness(struct cache_entry *e, const struct cache_req *cr,
                         const struct http_request *req, const struct h1_response_head *head,
                         const struct cache_control *res_cc, time_t now)
{
    str_t date = STR_NULL;
    time_t d;
    bool has_date = head_date(head, &date, &d);
    e->request_time = req->now;
    e->response_time = now;
    e->date = has_date ? d : now;
    /* the lifetime reads Date from the fields: there for the computation only */
    if (date.p && add_copy(&e->fields, e->pool, STR_LIT("Date"), date) < 0) return -1;
    e->lifetime = cache_freshness_lifetime(&e->fields, res_cc, e->status, now,
                                           (int64_t)cr->cc->heuristic_max, NULL);
    http_fields_remove(&e->fields, HTTP_TOKEN_DATE);
    return 0;
}

/* A new entry for resp (its body still to come), or NULL on OOM. */
static struct cache_entry *new_entry(struct cache_req *cr, struct http_request *req,
                                     struct http_response *resp,
                                     const struct h1_response_head *head,
                                     const struct cache_control *res_cc, time_t now)
{
    struct cache_entry *e = cache_entry_new();
    if (!e) return NULL;
    e->status = resp->status;
    bool ok = cache_entry_set_key(e, cr->key.p, cr->key.len) == 0;
    if (ok) cache_store_entry_start(cr->cc->store, e); /* an invalidation from now keeps it out */
    for (size_t i = 0; ok && i < resp->headers.count; i++)
        ok = add_copy(&e->fields, e->pool, resp->headers.items[i].name,
                      resp->headers.items[i].value) == 0;
    if (ok) cache_fields_for_store(&e->fields, res_cc); /* §3.1 */
    if (!ok || copy_vary_fields(e, req) < 0 || set_freshness(e, cr, req, head, res_cc, now) < 0) {
        cache_entry_release(e);
        return NULL;
    }
    return e;
}

static void fill_drop(struct cache_fill *f)
{
    cache_entry_release(f->e);
    f->e = NULL;
    leader_done(f->cr); /* stored or not, there is nothing more to wait for */
}

static bool fill_append(struct cache_fill *f, const struct body_chunk *c)
{
    struct cache_entry *e = f->e;
    size_t max = (size_t)f->cr->cc->max_object_size;
    if (c->kind != BODY_CHUNK_MEM || c->len > max - e->body_len) return false;
    if (e->writing) return cache_entry_file_append(e, c->data, c->len) == 0;
    if (c->len > f->cap - e->body_len) {
        size_t cap = f->cap ? f->cap : 16384;
        while (cap < e->body_len + c->len)
            cap *= 2;
        if (cap > max) cap = max;
        char *b = realloc(e->body, cap);
        if (!b) return false;
        e->body = b;
        f->cap = cap;
    }
    memcpy(e->body + e->body_len, c->data, c->len);
    e->body_len += c->len;
    return true;
}

/* Passes the proxy's chunks on unchanged (BODY_WAIT included) and keeps a copy; the entry
 * goes into the store at a complete end, and is dropped on an error or when too big. */
static enum body_next_result fill_next(struct body_source *src, struct body_chunk *out, size_t max)
{
    struct cache_fill *f = (struct cache_fill *)src;
    enum body_next_result r = f->inner->next(f->inner, out, max);
    if (!f->e) return r;
    if (r == BODY_CHUNK && !fill_append(f, out)) {
        fill_drop(f);
    } else if (r == BODY_CHUNK && (int64_t)f->e->body_len == f->expect) {
        /* complete: a wire that counts the length down (HTTP/2, HTTP/3) asks no further */
        insert(f->cr, f->e);
        fill_drop(f);
    } else if (r == BODY_END) {
        if (f->expect < 0 || (int64_t)f->e->body_len == f->expect) insert(f->cr, f->e);
        fill_drop(f);
    } else if (r == BODY_ERROR) {
        fill_drop(f);
    }
    return r;
}

static bool filling(const struct body_source *b)
{
    return b->next == fill_next && ((const struct cache_fill *)b)->e;
}

static void fill_close(struct body_source *src)
{
    struct cache_fill *f = (struct cache_fill *)src;
    if (f->inner->close) f->inner->close(f->inner);
    fill_drop(f);
}

/* Stores resp if RFC 9111 §3 allows it and it is worth it; sets cr->st.stored or detail. */
static void maybe_store(struct cache_req *cr, struct http_request *req, struct http_response *resp,
                        const struct h1_response_head *head, time_t now)
{
    if (req->method != HTTP_METHOD_GET) return; /* a HEAD response has no body to store */
    struct cache_control res_cc;
    cache_control_parse(&resp->headers, false, &res_cc);
    enum cache_nostore why = cache_storable(req->method, &req->headers, &cr->req_cc, resp->status,
                                            &resp->headers, &res_cc);
    if (why != CACHE_STORABLE) {
        cr->st.detail = cache_nostore_name(why);
        return;
    }
    if (resp->content_length > (int64_t)cr->cc->max_object_size) {
        cr->st.detail = "too-large";
        return;
    }
    struct cache_entry *e = new_entry(cr, req, resp, head, &res_cc, now);
    if (!e) return;
    bool validators = http_fields_find(&e->fields, HTTP_TOKEN_ETAG) ||
                      http_fields_find(&e->fields, HTTP_TOKEN_LAST_MODIFIED);
    if (e->lifetime <= 0 && !validators) { /* never usable: not worth the memory */
        cr->st.detail = "no-freshness";
        cache_entry_release(e);
        return;
    }
    bool disk = cache_store_on_disk(cr->cc->store);
    if (disk && cache_store_file_begin(cr->cc->store, e) < 0) {
        cache_entry_release(e);
        return;
    }
    if (!resp->body) { /* an empty body: complete now */
        cr->st.stored = insert(cr, e) == 0;
        cache_entry_release(e);
        return;
    }
    struct cache_fill *f = pool_calloc(req->pool, sizeof(*f));
    if (resp->content_length > 0 && f && !disk && !(e->body = malloc((size_t)resp->content_length)))
        f = NULL;
    if (!f) {
        cache_entry_release(e);
        return;
    }
    *f = (struct cache_fill){{fill_next, fill_close},
                             resp->body,
                             cr,
                             e,
                             resp->content_length > 0 ? (size_t)resp->content_length : 0,
                             resp->content_length};
    resp->body = &f->src;
    cr->st.stored = true;
}

/* A 304 to a revalidation (RFC 9111 §4.3.3, §4.3.4): a copy of the stored entry with the 304's
 * fields, stored in its place and served. 0, or -1 when it could not be made. */
static int refresh(struct cache_req *cr, struct http_request *req, struct http_response *resp,
                   const struct h1_response_head *head, time_t now)
{
    const struct cache_entry *old = cr->stale;
    struct cache_entry *e = cache_entry_new();
    if (!e) return -1;
    e->status = old->status;
    bool ok = cache_entry_set_key(e, old->key, old->key_len) == 0;
    if (ok) cache_store_entry_start(cr->cc->store, e);
    for (size_t i = 0; ok && i < old->fields.count; i++)
        ok = add_copy(&e->fields, e->pool, old->fields.items[i].name, old->fields.items[i].value) ==
             0;
    for (size_t i = 0; ok && i < old->req_fields.count; i++)
        ok = add_copy(&e->req_fields, e->pool, old->req_fields.items[i].name,
                      old->req_fields.items[i].value) == 0;
    ok = ok && cache_fields_update(&e->fields, e->pool, &resp->headers) == 0;
    struct cache_control res_cc;
    if (ok) cache_control_parse(&e->fields, false, &res_cc);
    ok = ok && set_freshness(e, cr, req, head, &res_cc, now) == 0;
    if (ok && old->path) { /* a new file: the header changed, the body is copied over */
        ok = cache_store_file_begin(cr->cc->store, e) == 0 && cache_entry_file_copy(e, old) == 0 &&
             insert(cr, e) == 0;
    } else if (ok) {
        if (old->body_len && (ok = (e->body = malloc(old->body_len)) != NULL)) {
            memcpy(e->body, old->body, old->body_len);
            e->body_len = old->body_len;
        }
        if (ok) insert(cr, e);
    }
    if (!ok) {
        cache_entry_release(e);
        return -1;
    }
    if (hold(req, e) < 0) return -1;
    cr->st.stored = true;
    /* a new file is complete later (the writer thread's): the old one has the same body */
    return serve_entry(cr, req, resp, e, old->path ? old : e, now);
}

/* The origin failed (an upstream 500, 502, 503, 504, or none answered): a stale response
 * that stale-if-error covers is served instead (RFC 5861 §4). */
static bool stale_on_error(struct cache_req *cr, struct http_request *req,
                           struct http_response *resp, time_t now)
{
    const struct cache_entry *e = cr->stale;
    if (!e || (resp->status != 500 && (resp->status < 502 || resp->status > 504))) return false;
    struct cache_control res_cc;
    cache_control_parse(&e->fields, false, &res_cc);
    if (cache_use_decide(&cr->req_cc, &res_cc, e->lifetime, entry_age(e, now), true) !=
        CACHE_USE_STALE)
        return false;
    if (resp->body && resp->body->close) resp->body->close(resp->body); /* the upstream's */
    resp->body = NULL;
    if (serve_entry(cr, req, resp, e, e, now) == 0) return true;
    resp->headers.count = 0;
    resp->body = NULL;
    dispatch_error(req, resp, 502);
    return true;
}

/* Decides what becomes of the upstream's answer; false when resp still needs Cache-Status. */
static bool on_head(struct cache_req *cr, struct http_request *req, struct http_response *resp,
                    const struct h1_response_head *head, time_t now)
{
    if (stale_on_error(cr, req, resp, now)) return true;
    if (!head) return false; /* tern's own answer: nothing to store or to invalidate with */
    if (cr->bypass) {
        invalidate(cr, req, resp);
        return false;
    }
    if (cr->revalidating && resp->status == 304 &&
        cache_304_selects(&cr->stale->fields, &resp->headers)) {
        if (refresh(cr, req, resp, head, now) == 0) return true;
        /* no memory for the copy: the stored response as it was */
        cr->st.stored = false;
        if (serve_entry(cr, req, resp, cr->stale, cr->stale, now) == 0) return true;
        resp->headers.count = 0;
        resp->body = NULL;
        dispatch_error(req, resp, 503);
        return false;
    }
    maybe_store(cr, req, resp, head, now);
    return false;
}

void cache_on_head(struct cache_req *cr, struct http_request *req, struct http_response *resp,
                   const struct h1_response_head *head)
{
    cr->st.fwd_status = head ? resp->status : 0;
    if (!on_head(cr, req, resp, head, time(NULL)))
        add_cache_status(resp, req->pool, &cr->st, cr->cc->store);
    if (resp->body == NULL || resp->body->next != fill_next) leader_done(cr); /* no fill */
}
