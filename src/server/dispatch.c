#include "server/dispatch.h"
#include "server/regex.h"
#include "server/site.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "handler/auth.h"
#include "handler/cache.h"
#include "handler/conninfo.h"
#include "handler/forward.h"
#include "handler/metrics.h"
#include "handler/proxy.h"
#include "handler/static.h"
#include "handler/status_page.h"
#include "http/path.h"
#include "http/request_id.h"
#include "server/guard.h"
#include "server/server.h"

#define PATH_MAX_LEN 4096

void dispatch_error(struct http_request *req, struct http_response *resp, int status)
{
    if (http_response_simple(resp, req->pool, status) < 0) {
        resp->status = status;
        resp->content_length = 0;
        resp->body = NULL;
    }
}

/* Methods a location answers; TRACE only when the location turns it on (RFC 9110 §9.3.8). */
static unsigned allowed_methods(const struct config_location *loc)
{
    unsigned m = loc->methods & ~(unsigned)CONFIG_METHOD_TRACE;
    if (loc->trace) m |= CONFIG_METHOD_TRACE;
    return m;
}

/* The Allow value (RFC 9110 §10.2.1) for a method mask, in the request pool. */
static str_t allow_value(struct pool *pool, unsigned m)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{CONFIG_METHOD_GET, "GET"},
                 {CONFIG_METHOD_HEAD, "HEAD"},
                 {CONFIG_METHOD_OPTIONS, "OPTIONS"},
                 {CONFIG_METHOD_TRACE, "TRACE"}};
    char tmp[64];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(m & names[i].bit)) continue;
        n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "%s%s", n ? ", " : "", names[i].name);
    }
    char *s = pool_strndup(pool, tmp, n);
    return s ? str_make(s, n) : STR_NULL;
}

static unsigned method_bit(enum http_method m)
{
    switch (m) {
    case HTTP_METHOD_GET: return CONFIG_METHOD_GET;
    case HTTP_METHOD_HEAD: return CONFIG_METHOD_HEAD;
    case HTTP_METHOD_OPTIONS: return CONFIG_METHOD_OPTIONS;
    case HTTP_METHOD_TRACE: return CONFIG_METHOD_TRACE;
    default: return 0;
    }
}

static void respond_allow(struct http_request *req, struct http_response *resp, int status,
                          unsigned methods)
{
    if (status == 200) {
        resp->status = 200;
        resp->content_length = 0;
        resp->body = NULL;
    } else {
        dispatch_error(req, resp, status);
    }
    http_fields_add_token(&resp->headers, req->pool, HTTP_TOKEN_ALLOW,
                          allow_value(req->pool, methods));
}

/* TRACE: echo the request head as message/http (RFC 9110 §9.3.8), leaving out credentials. */
static void respond_trace(struct http_request *req, struct http_response *resp)
{
    struct buf b = {0};
    buf_appendf(&b, "%.*s %.*s HTTP/%d.%d\r\n", (int)req->method_name.len, req->method_name.p,
                (int)req->target.len, req->target.p, req->version / 10, req->version % 10);
    for (size_t i = 0; i < req->headers.count; i++) {
        const struct http_field *f = &req->headers.items[i];
        if (f->token == HTTP_TOKEN_AUTHORIZATION || f->token == HTTP_TOKEN_COOKIE ||
            f->token == HTTP_TOKEN_PROXY_AUTHORIZATION)
            continue;
        buf_appendf(&b, "%.*s: %.*s\r\n", (int)f->name.len, f->name.p, (int)f->value.len,
                    f->value.p);
    }
    buf_append(&b, "\r\n", 2);
    char *copy = pool_strndup(req->pool, buf_ptr(&b), buf_size(&b));
    size_t len = buf_size(&b);
    buf_free(&b);
    if (!copy) {
        dispatch_error(req, resp, 500);
        return;
    }
    resp->status = 200;
    http_fields_add_token(&resp->headers, req->pool, HTTP_TOKEN_CONTENT_TYPE,
                          STR_LIT("message/http"));
    resp->content_length = (int64_t)len;
    resp->body = body_source_mem(req->pool, copy, len);
}

static void route(struct dispatch_ctx *dc, struct http_request *req, struct http_response *resp);

/* What follows every handler's answer. */
static void finish(const struct dispatch_ctx *dc, struct http_request *req,
                   struct http_response *resp)
{
    site_finish(dc->wk->cache, dc->cfg, dc->srv, dc->loc, req, resp);
    const char *id_name = dc->cfg->request_id.response_header;
    if (id_name) {
        char *id = pool_alloc(req->pool, REQUEST_ID_MAX + 1);
        size_t n = id ? request_id_format(req, id) : 0;
        if (n) {
            str_t name = str_cstr(id_name);
            http_fields_remove_name(&resp->headers, name); /* an upstream's gives way */
            http_fields_add(&resp->headers, req->pool, name, str_make(id, n));
        }
    }
    if (req->alt_svc_port) {
        /* RFC 7838 §3: HTTP/3 on the same host, this UDP port, remembered for a day */
        char *v = pool_alloc(req->pool, 32);
        if (v) {
            int n = snprintf(v, 32, "h3=\":%u\"; ma=86400", (unsigned)req->alt_svc_port);
            http_fields_add(&resp->headers, req->pool, STR_LIT("alt-svc"), str_make(v, (size_t)n));
        }
    }
}

/* real_ip: a trusted proxy's peer address gives way to the client address it reports. */
static void apply_real_ip(const struct config_real_ip *ri, struct http_request *req)
{
    struct ip_addr peer, client;
    if (!ip_addr_parse(req->peer, strlen(req->peer), &peer) || !realip_trusted(&ri->rules, &peer) ||
        !realip_pick(&ri->rules, &req->headers, &client))
        return;
    char *hop = pool_strndup(req->pool, req->peer, strlen(req->peer));
    if (!hop) return;
    req->hop_peer = hop;
    ip_addr_format(&client, req->peer, sizeof(req->peer));
    req->peer_port = 0; /* the proxy's, not the client's */
}

/* Gives req its id (http/request_id.h): the configured field's, when acceptable, else the
 * worker's next. Numbers only: the text is made where it is used. */
static void assign_request_id(const struct config *cfg, struct worker *wk, struct http_request *req)
{
    req->id_field = cfg->request_id.header;
    if (cfg->request_id.header) {
        const struct http_field *f =
            http_fields_find_name(&req->headers, str_cstr(cfg->request_id.header));
        if (f && request_id_acceptable(f->value)) req->id_given = f->value;
    }
    req->id_prefix = wk->request_id_prefix;
    req->id_seq = ++wk->request_id_seq;
    /* durations, for a log that writes them: vDSO, no system call */
    if (cfg->log_duration) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        req->start_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
}

/* A request on the metrics listener: /metrics, and /status when on; the client's address (the
 * connection's, not one a proxy reports) must be in `allow`. */
static void metrics_listener_request(const struct config *cfg, struct http_request *req,
                                     struct http_response *resp)
{
    const struct config_metrics *m = &cfg->metrics;
    if (m->n_allow) {
        struct ip_addr addr;
        if (!ip_addr_parse(req->peer, strlen(req->peer), &addr) ||
            !cidr_list_match(m->allow, m->n_allow, &addr)) {
            dispatch_error(req, resp, 403);
            return;
        }
    }
    bool metrics = str_eq(req->path, STR_LIT("/metrics"));
    bool status = m->status && str_eq(req->path, STR_LIT("/status"));
    if (!metrics && !status) {
        dispatch_error(req, resp, 404);
        return;
    }
    if (req->method != HTTP_METHOD_GET && req->method != HTTP_METHOD_HEAD) {
        respond_allow(req, resp, 405, CONFIG_METHOD_GET | CONFIG_METHOD_HEAD);
        return;
    }
    if ((metrics ? metrics_handle(cfg, req, resp) : status_page_handle(cfg, req, resp)) < 0) {
        memset(resp, 0, sizeof(*resp));
        dispatch_error(req, resp, 500);
    }
}

void dispatch_request(const struct config *cfg, struct worker *wk, struct http_request *req,
                      struct http_response *resp)
{
    struct dispatch_ctx dc = {cfg, wk, NULL, NULL, NULL};
    assign_request_id(cfg, wk, req);
    if (req->metrics_listener) {
        metrics_listener_request(cfg, req, resp);
        return;
    }
    if (cfg->real_ip.n_from) apply_real_ip(&cfg->real_ip, req);
    if (req->method == HTTP_METHOD_CONNECT && !req->protocol.len && cfg->forward.enabled) {
        forward_connect(&dc, req, resp); /* a tunnel, not a resource of ours */
        return;
    }
    if (forward_wants(cfg, req)) {
        forward_request(&dc, req, resp); /* for another origin */
        return;
    }
    if (site_https_redirect(cfg, req, resp)) return;
    route(&dc, req, resp);
    if (!resp->pending) finish(&dc, req, resp);
}

bool dispatch_streams_body(const struct config *cfg, const struct http_request *req)
{
    /* An HTTP/2 or HTTP/3 CONNECT: its DATA is the tunnel's client side, and it never ends
     * before the tunnel does, so it is routed at its head whatever answers it: a tunnel, or a
     * refusal (a forward proxy that is off, a location that does not proxy) that must not wait
     * for an END_STREAM that will not come. */
    if (req->method == HTTP_METHOD_CONNECT) return true;
    if (req->path.len == 0 || req->path.p[0] != '/') return false;
    const struct config_server *srv = config_find_server(cfg, req->host.p, req->host.len);
    char path[PATH_MAX_LEN];
    long plen = http_path_normalize(req->path.p, req->path.len, path, sizeof(path));
    if (plen < 0) return false;
    str_t caps[REGEX_MAX_CAPTURES + 1];
    const struct config_location *loc = config_match_location(srv, path, (size_t)plen, caps);
    /* a rewrite may lead elsewhere: such a request is read whole first */
    return loc && loc->proxy && !loc->rewrite_to;
}

void dispatch_again(const struct dispatch_ctx *prev, struct http_request *req,
                    struct http_response *resp)
{
    struct dispatch_ctx dc = {prev->cfg, prev->wk, NULL, NULL, NULL};
    resp->pending = false;
    route(&dc, req, resp);
    if (!resp->pending) dispatch_finish(&dc, req, resp);
}

void dispatch_finish(const struct dispatch_ctx *dc, struct http_request *req,
                     struct http_response *resp)
{
    resp->pending = false;
    finish(dc, req, resp);
    req->resume(req);
}

/* Routes req to its server and location (dc->srv and dc->loc, left NULL where it did not get
 * that far) and runs the handler. */
static void route(struct dispatch_ctx *dc, struct http_request *req, struct http_response *resp)
{
    const struct config *cfg = dc->cfg;
    struct static_cache *cache = dc->wk->cache;
    const struct config_server *srv = config_find_server(cfg, req->host.p, req->host.len);
    dc->srv = srv;
    switch (req->method) {
    case HTTP_METHOD_UNKNOWN: break; /* 501 unless a proxy location takes it */
    case HTTP_METHOD_OPTIONS:
        if (req->path.len == 1 && req->path.p[0] == '*') {
            /* OPTIONS * asks about the server as a whole (RFC 9110 §9.3.7) */
            const struct config_location *root = config_find_location(srv, "/", 1);
            respond_allow(req, resp, 200, allowed_methods(root) | CONFIG_METHOD_OPTIONS);
            return;
        }
        break;
    default: break;
    }
    if (req->path.len == 1 && req->path.p[0] == '*') {
        dispatch_error(req, resp, 400);
        return;
    }
    char path[PATH_MAX_LEN];
    long plen = http_path_normalize(req->path.p, req->path.len, path, sizeof(path));
    if (plen < 0) {
        log_info("%s: 400 refused path %.*s", req->peer,
                 (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p);
        dispatch_error(req, resp, 400);
        return;
    }
    str_t caps[REGEX_MAX_CAPTURES + 1];
    size_t len = (size_t)plen;
    const struct config_location *loc = config_match_location(srv, path, len, caps);
    dc->loc = loc;
    /* allow/deny, rate_limit, then auth: of the location matched, then of the one a rewrite leads
     * to */
    if (guard_refuses(dc, loc, req, resp) || auth_check(loc, req, resp)) return;
    const struct config_location *matched = loc;
    int rewrites = 0;
    if (loc->rewrite_to) {
        if (site_rewrite(srv, &loc, req, path, sizeof(path), &len, caps, &rewrites) < 0) {
            dispatch_error(req, resp, 500);
            return;
        }
        dc->loc = loc;
        if (loc != matched && (guard_refuses(dc, loc, req, resp) || auth_check(loc, req, resp)))
            return;
    }
    struct site_match m = {.caps = caps, .n_caps = loc->n_captures, .url_path = req->path};
    if (rewrites) { /* the rewritten path as a URL carries it */
        char *e = pool_alloc(req->pool, len * 3 + 1);
        long n = e ? http_path_encode(path, len, e, len * 3 + 1) : -1;
        if (n >= 0) m.url_path = str_make(e, (size_t)n);
    }
    if (site_redirect(loc, &m, req, resp)) return;
    if (loc->proxy && req->method == HTTP_METHOD_CONNECT && req->protocol.len) {
        /* an extended CONNECT (RFC 8441): a tunnel, never the cache's */
        if (req->body_in)
            proxy_handle(dc, req, resp, m.url_path);
        else /* a rewrite led here: its DATA was not kept for a tunnel */
            dispatch_error(req, resp, 501);
        return;
    }
    if (loc->proxy && req->method != HTTP_METHOD_CONNECT) {
        /* every other method goes to the upstream, which knows what it allows */
        if (loc->cache)
            cache_handle(dc, req, resp, m.url_path);
        else
            proxy_handle(dc, req, resp, m.url_path);
        return;
    }
    if (req->method == HTTP_METHOD_UNKNOWN) {
        dispatch_error(req, resp, 501);
        return;
    }
    unsigned allowed = allowed_methods(loc);
    unsigned bit = method_bit(req->method);
    if (!bit || !(allowed & bit)) {
        respond_allow(req, resp, 405, allowed);
        return;
    }
    switch (req->method) {
    case HTTP_METHOD_OPTIONS: respond_allow(req, resp, 200, allowed); return;
    case HTTP_METHOD_TRACE: respond_trace(req, resp); return;
    default: break;
    }
    if (loc->connection_info || loc->metrics) {
        if ((loc->metrics ? metrics_handle(cfg, req, resp) : conninfo_handle(req, resp)) < 0) {
            memset(resp, 0, sizeof(*resp));
            dispatch_error(req, resp, 500);
        }
        return;
    }
    if (loc->n_early_hints && req->send_interim) {
        /* RFC 8297: 103 Early Hints with the configured Link fields, before the answer */
        struct http_fields hints = {0};
        for (size_t i = 0; i < loc->n_early_hints; i++)
            http_fields_add_token(&hints, req->pool, HTTP_TOKEN_LINK,
                                  str_cstr(loc->early_hints[i]));
        if (hints.count == loc->n_early_hints) req->send_interim(req, 103, &hints);
    }
    int rc = loc->n_try_files ? site_try_files(cache, cfg, srv, loc, &m, req, path, resp)
                              : static_handle(cache, cfg, loc, req, path, resp);
    if (rc < 0) {
        if (resp->body && resp->body->close) resp->body->close(resp->body);
        memset(resp, 0, sizeof(*resp));
        dispatch_error(req, resp, 500);
    }
}
