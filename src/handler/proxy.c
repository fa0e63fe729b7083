#include "handler/proxy.h"
#include "core/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/resolve.h"
#include "client/upstream_pool.h"
#include "core/hash.h"
#include "core/log.h"
#include "h1/chunked.h"
#include "h1/parser.h"
#include "handler/cache.h"
#include "handler/proxy_fields.h"
#include "handler/proxy_internal.h"
#include "handler/stream_tunnel.h"
#include "http/websocket.h"
#include "server/server.h"
#include "server/tunnel.h"
#include "tls/tls.h"

static const struct config_upstream *upstream(const struct proxy_job *j)
{
    return &j->pc->upstreams[j->up];
}

/* ---- per-worker state ---- */

struct proxy_worker *proxy_worker_get(struct worker *wk)
{
    if (wk->proxy) return wk->proxy;
    struct proxy_worker *pw = calloc(1, sizeof(*pw));
    if (!pw) return NULL;
    pw->wk = wk;
    pw->loop = wk->loop;
    if (!(pw->pool = upstream_pool_new(wk->loop))) {
        free(pw);
        return NULL;
    }
    wk->proxy = pw;
    return pw;
}

struct proxy_state *proxy_state_get(struct proxy_worker *pw, const struct config_proxy *pc,
                                    const struct config *cfg)
{
    if (pc->id >= pw->n_states) {
        size_t n = pc->id + 8;
        struct proxy_state **s = realloc(pw->states, n * sizeof(*s));
        if (!s) return NULL;
        memset(s + pw->n_states, 0, (n - pw->n_states) * sizeof(*s));
        pw->states = s;
        pw->n_states = n;
    }
    struct proxy_state *st = pw->states[pc->id];
    if (!st && !(st = pw->states[pc->id] = calloc(1, sizeof(*st)))) return NULL;
    if (st->pc != pc) { /* a reload: jobs of the old configuration no longer count here */
        proxy_health_stop(st);
        memset(st, 0, sizeof(*st));
        st->pc = pc;
        st->cfg = cfg;
        st->pw = pw;
        if (pw->wk->state == SERVER_RUNNING) proxy_health_start(st);
    }
    return st;
}

void proxy_worker_config(struct worker *wk)
{
    struct proxy_worker *pw = wk->proxy;
    const struct config *cfg = wk->cfg;
    /* the states of another configuration stop checking, and all of them at a stop */
    for (size_t i = 0; pw && i < pw->n_states; i++)
        if (pw->states[i] && (pw->states[i]->cfg != cfg || wk->state != SERVER_RUNNING))
            proxy_health_stop(pw->states[i]);
    if (wk->state != SERVER_RUNNING) return;
    for (size_t s = 0; s < cfg->n_servers; s++)
        for (size_t l = 0; l < cfg->servers[s].n_locations; l++) {
            const struct config_proxy *pc = cfg->servers[s].locations[l].proxy;
            if (!pc || !pc->health_path) continue;
            if (!pw && !(pw = proxy_worker_get(wk))) return;
            struct proxy_state *st = proxy_state_get(pw, pc, cfg);
            if (st) proxy_health_start(st);
        }
}

void proxy_worker_free(struct proxy_worker *pw)
{
    if (!pw) return;
    for (size_t i = 0; i < pw->n_states; i++)
        if (pw->states[i]) proxy_health_stop(pw->states[i]);
    resolver_free(pw->resolver);
    proxy_h2_free_all(pw);
    upstream_pool_free(pw->pool);
    for (size_t i = 0; i < pw->n_states; i++)
        free(pw->states[i]);
    free(pw->states);
    free(pw);
}

/* ---- choosing an upstream ---- */

/* The hashed key of balance: hash: the client address, the target, or a request field (all
 * of its lines; none: the empty key). */
static uint64_t hash_key(const struct proxy_job *j)
{
    const struct config_proxy *pc = j->pc;
    const struct http_request *req = j->req;
    uint64_t h = HASH_FNV1A_INIT;
    if (pc->hash_uri) return hash_fnv1a_more(h, req->target.p, req->target.len);
    if (!pc->hash_header) return hash_fnv1a_more(h, req->peer, strlen(req->peer));
    str_t name = str_cstr(pc->hash_header);
    for (size_t i = 0; i < req->headers.count; i++)
        if (str_eq_nocase(req->headers.items[i].name, name))
            h = hash_fnv1a_more(h, req->headers.items[i].value.p, req->headers.items[i].value.len);
    return h;
}

static bool usable(const struct proxy_job *j, size_t i, int64_t now)
{
    return !(j->tried & (1ull << i)) && j->st->down_until[i] <= now && !j->st->check_down[i];
}

/* Round robin, least connections (ties in round-robin order) or the client address hashed
 * with rendezvous hashing (adding or losing an upstream moves only its own clients). Skips
 * upstreams this request tried and, with more than one, those marked down. -1: none. */
static int pick(struct proxy_job *j)
{
    const struct config_proxy *pc = j->pc;
    size_t n = pc->n_upstreams;
    int64_t now = loop_now_ms(j->pw->loop);
    if (n == 1) return (j->tried & 1) || j->st->check_down[0] ? -1 : 0;
    int best = -1;
    uint64_t best_score = 0;
    uint64_t key =
        pc->balance == CONFIG_BALANCE_HASH ? hash_key(j) : 0; /* once, not per upstream */
    unsigned start = j->st->rr++;
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        if (!usable(j, i, now)) continue;
        switch (pc->balance) {
        case CONFIG_BALANCE_ROUND_ROBIN: return (int)i;
        case CONFIG_BALANCE_LEAST_CONN:
            if (best < 0 || j->st->active[i] < j->st->active[best]) best = (int)i;
            break;
        case CONFIG_BALANCE_HASH: {
            const char *url = pc->upstreams[i].url;
            uint64_t score = hash_fnv1a_more(key, url, strlen(url));
            if (best < 0 || score > best_score) {
                best = (int)i;
                best_score = score;
            }
            break;
        }
        }
    }
    return best;
}

/* ---- the upstream connection ---- */

static void job_run(struct proxy_job *j);
static void step_send(struct proxy_job *j);

void proxy_set_deadline(struct proxy_job *j, double seconds)
{
    j->deadline = loop_now_ms(j->pw->loop) + (int64_t)(seconds * 1000);
    if (!timer_armed(&j->timer) || j->timer.expires_ms > j->deadline)
        timer_arm(j->pw->loop, &j->timer, j->deadline);
}

static void uncount(struct proxy_job *j)
{
    if (j->counted && j->st->pc == j->pc && j->st->active[j->up]) j->st->active[j->up]--;
    j->counted = false;
}

/* Lets go of the upstream socket: back to the pool when the response ended cleanly on a
 * persistent connection with nothing more from the upstream, else closed. */
void proxy_drop_upstream(struct proxy_job *j, bool reusable)
{
    timer_cancel(&j->timer);
    uncount(j);
    proxy_h2_detach(j);
    if (!j->uc) return;
    if (reusable && j->pc->keepalive)
        upstream_pool_put(j->uc, j->pc->keepalive, (int64_t)(j->pc->idle_timeout * 1000));
    else
        upstream_conn_close(j->uc);
    j->uc = NULL;
}

void proxy_job_free_buffers(struct proxy_job *j)
{
    loop_task_cancel(&j->body_task);
    if (j->req->body_in_ctx == j) j->req->body_in_wake = NULL;
    worker_buf_release(j->dc.wk, &j->out);
    worker_buf_release(j->dc.wk, &j->in);
    buf_free(&j->h2body);
}

/* The response head is final (an answer of the upstream's or tern's own error): finish the
 * pending response, unless still inside proxy_handle, whose caller finishes it. */
void proxy_complete_head(struct proxy_job *j)
{
    if (j->in_handle)
        j->resp->pending = false;
    else
        dispatch_finish(&j->dc, j->req, j->resp);
}

void proxy_count(const struct proxy_job *j, int result)
{
    unsigned slot = upstream(j)->stats_slot;
    if (slot < STATS_UPSTREAMS && result >= 0 && result < SUP_COUNT)
        STATS_INC(upstream[slot][result]);
}

/* No response from any upstream: tern answers status itself. */
void proxy_fail_head(struct proxy_job *j, int status)
{
    proxy_drop_upstream(j, false);
    proxy_job_free_buffers(j);
    j->resp->body = NULL; /* the job is over: nothing left for the wire to close */
    dispatch_error(j->req, j->resp, status);
    if (j->dc.cache) cache_on_head(j->dc.cache, j->req, j->resp, NULL); /* stale-if-error */
    proxy_complete_head(j);
}

static bool idempotent(enum http_method m)
{
    /* RFC 9110 §9.2.2 */
    return m == HTTP_METHOD_GET || m == HTTP_METHOD_HEAD || m == HTTP_METHOD_OPTIONS ||
           m == HTTP_METHOD_TRACE || m == HTTP_METHOD_PUT || m == HTTP_METHOD_DELETE;
}

static const char *error_text(enum attempt_error e)
{
    switch (e) {
    case E_CONNECT: return "connect failed";
    case E_CONNECT_TIMEOUT: return "connect timed out";
    case E_TLS: return "TLS handshake failed";
    case E_SEND: return "sending the request failed";
    case E_SEND_TIMEOUT: return "sending the request timed out";
    case E_READ: return "closed or failed before a complete response head";
    case E_READ_TIMEOUT: return "no response head in time";
    }
    return "failed";
}

/* This attempt failed before a response head: try again where that is safe, else answer. */
void proxy_attempt_failed(struct proxy_job *j, enum attempt_error e, int err)
{
    const struct config_upstream *up = upstream(j);
    struct proxy_state *st = j->st;
    bool timeout = e == E_CONNECT_TIMEOUT || e == E_SEND_TIMEOUT || e == E_READ_TIMEOUT;
    char why[160] = "";
    if (e == E_TLS && j->uc && j->uc->tls && tls_conn_error(j->uc->tls))
        snprintf(why, sizeof(why), ": %s", tls_conn_error(j->uc->tls));
    /* a pooled connection the upstream closed meanwhile (the request crossed its FIN): not
     * the upstream's fault; an idempotent request goes again on a fresh connection */
    bool stale = j->reused && !j->got_bytes && (e == E_SEND || e == E_READ) && !j->body_started;
    proxy_drop_upstream(j, false);
    if (stale && idempotent(j->req->method)) {
        log_debug("%s: upstream %s: a kept-alive connection was closed, retrying", j->req->peer,
                  up->url);
        j->no_pool = true;
        proxy_attempt(j);
        return;
    }
    proxy_count(j, timeout ? SUP_TIMEOUT : SUP_ERROR);
    log_error("%s: upstream %s: %s%s%s%s", j->req->peer, up->url, error_text(e), why,
              err ? ": " : "", err ? strerror(err) : "");
    if (st->pc == j->pc && j->pc->n_upstreams > 1 && j->pc->max_fails &&
        ++st->fails[j->up] >= j->pc->max_fails) {
        st->down_until[j->up] = loop_now_ms(j->pw->loop) + (int64_t)(j->pc->fail_timeout * 1000);
        st->fails[j->up] = 0;
        log_warn("upstream %s: marked down for %.0f s after %u failure(s)", up->url,
                 j->pc->fail_timeout, j->pc->max_fails);
    }
    j->tried |= 1ull << j->up;
    /* nothing was sent when the connect failed: any request may go elsewhere */
    bool may_retry =
        e == E_CONNECT || e == E_CONNECT_TIMEOUT || e == E_TLS || idempotent(j->req->method);
    if (may_retry && !j->body_started && j->attempts <= j->pc->retries && pick(j) >= 0) {
        proxy_attempt(j);
        return;
    }
    proxy_fail_head(j, timeout ? 504 : 502);
}

int proxy_open_socket(const struct proxy_job *j)
{
    const struct config_upstream *up = upstream(j);
    int fd = socket(up->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (!up->is_unix) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(fd, (const struct sockaddr *)&up->addr, up->addr_len) < 0 && errno != EINPROGRESS &&
        errno != EAGAIN) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static void on_event(struct upstream_conn *uc, uint32_t events);

void proxy_tls_key(const struct proxy_job *j, char *key, size_t cap)
{
    snprintf(key, cap, "%p %s", (void *)j->pc->tls, upstream(j)->server_name);
}

/* One try: an upstream chosen, a pooled or new connection, the request sent from the start. */
void proxy_attempt(struct proxy_job *j)
{
    int i = pick(j);
    if (i < 0) {
        log_error("%s: no live upstream for %s", j->req->peer, j->pc->upstreams[0].url);
        proxy_fail_head(j, 503);
        return;
    }
    j->up = (size_t)i;
    j->attempts++;
    j->out_sent = 0;
    const struct config_upstream *up = upstream(j);
    struct http_request *req = j->req;
    j->via_h2 = false;
    if (proxy_h2_wanted(j)) { /* an extended CONNECT too: RFC 8441 on both sides */
        j->st->active[j->up]++;
        j->counted = true;
        j->reused = false;
        proxy_h2_start(j);
        return;
    }
    buf_clear(&j->out);
    if (worker_buf_acquire(j->dc.wk, &j->out) < 0) {
        proxy_fail_head(j, 503);
        return;
    }
    str_t target = proxy_target(up, j->dc.loc, req, j->url_path);
    bool websocket = str_eq_nocase(req->protocol, STR_LIT("websocket"));
    if (websocket && websocket_key_new(j->ws_key) < 0) {
        proxy_fail_head(j, 503);
        return;
    }
    if (!target.p ||
        proxy_request_head(&j->out, j->pc, up, req, target, websocket ? j->ws_key : NULL) < 0 ||
        (req->body_len && buf_append(&j->out, req->body, req->body_len) < 0)) {
        log_error("%s: out of memory for a proxied request", req->peer);
        proxy_fail_head(j, 503);
        return;
    }
    j->got_bytes = false;
    j->can_read = j->can_write = false;
    buf_clear(&j->in);
    h1_parser_reset(&j->parser);
    j->st->active[j->up]++;
    j->counted = true;
    const struct sockaddr *addr = (const struct sockaddr *)&up->addr;
    /* a pooled TLS connection is reused only by the same trust settings and server name */
    char key[sizeof(j->uc->name)];
    const char *tls_name = NULL;
    if (up->tls) {
        proxy_tls_key(j, key, sizeof(key));
        tls_name = key;
    }
    j->uc = j->no_pool ? NULL : upstream_pool_take(j->pw->pool, addr, up->addr_len, tls_name);
    j->reused = j->uc != NULL;
    j->no_pool = false;
    if (!j->uc) {
        int fd = proxy_open_socket(j);
        if (fd < 0 ||
            !(j->uc = upstream_conn_open(j->pw->pool, fd, addr, up->addr_len, tls_name)) ||
            (up->tls && !(j->uc->tls = tls_conn_new_client(j->pc->tls, fd, up->server_name)))) {
            proxy_attempt_failed(j, E_CONNECT, fd < 0 ? errno : ENOMEM);
            return;
        }
    }
    j->uc->on_event = on_event;
    j->uc->owner = j;
    j->state = j->reused ? J_SENDING : J_CONNECTING;
    j->can_write = j->reused;
    timer_cancel(&j->timer);
    proxy_set_deadline(j, j->reused ? j->pc->send_timeout : j->pc->connect_timeout);
    job_run(j);
}

/* Builds resp from the upstream's final head of n bytes. */
static void head_ready(struct proxy_job *j, size_t n)
{
    struct http_response *resp = j->resp;
    struct http_request *req = j->req;
    if (j->st->pc == j->pc) j->st->fails[j->up] = 0;
    proxy_count(j, SUP_RESPONSE);
    j->kind = h1_response_body(&j->head, req->method == HTTP_METHOD_HEAD, false);
    j->keep = j->head.keep_alive && j->kind != H1_BODY_CLOSE;
    resp->status = j->head.status;
    resp->headers.count = 0;
    if (proxy_response_fields(resp, req->pool, j->pc, &j->head) < 0) {
        proxy_fail_head(j, 502);
        return;
    }
    /* the wire frames the body again: a length when the upstream gave one, else chunked (or
     * close for HTTP/1.0) downstream; for HEAD the length the upstream announced */
    resp->content_length = j->kind == H1_BODY_LENGTH ? j->head.content_length
                           : j->kind == H1_BODY_NONE
                               ? (req->method == HTTP_METHOD_HEAD ? j->head.content_length : 0)
                               : -1;
    buf_consume(&j->in, n);
    j->state = J_BODY;
    timer_cancel(&j->timer);
    if (j->kind == H1_BODY_LENGTH) j->left = j->head.content_length;
    if (j->kind == H1_BODY_CHUNKED) h1_chunked_decoder_init(&j->dec);
    if (j->kind == H1_BODY_NONE || (j->kind == H1_BODY_LENGTH && j->left == 0)) {
        /* nothing follows: the connection is free now and the job is over */
        proxy_drop_upstream(j, j->keep && buf_size(&j->in) == 0);
        proxy_job_free_buffers(j);
        resp->body = NULL;
    }
    if (j->dc.cache) cache_on_head(j->dc.cache, req, resp, &j->head); /* may wrap resp->body */
    proxy_complete_head(j);
}

/* Reads once into j->in. 1 data, 0 would block, -1 EOF (errno 0) or error. */
static int read_upstream(struct proxy_job *j)
{
    if (worker_buf_acquire(j->dc.wk, &j->in) < 0 || buf_reserve(&j->in, IO_BUF_SIZE / 2) < 0)
        return -1;
    for (;;) {
        ssize_t n = upstream_conn_read(j->uc, buf_tail(&j->in), j->in.cap - j->in.len);
        if (n > 0) {
            buf_commit(&j->in, (size_t)n);
            j->got_bytes = true;
            return 1;
        }
        if (n == 0) {
            errno = 0;
            return -1;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            j->can_read = false;
            return 0;
        }
        return -1;
    }
}

/* The 101 head the client gets: the upstream's fields but the connection-specific ones, its
 * Upgrade, Connection: upgrade (RFC 9110 §7.8), then what the upstream sent after its head. */
static int switch_head(struct proxy_job *j, size_t n, struct buf *out)
{
    buf_append(out, "HTTP/1.1 101 Switching Protocols\r\n", 34);
    for (size_t i = 0; i < j->head.n_fields; i++) {
        const struct h1_field *f = &j->head.fields[i];
        enum http_token tk = http_token_lookup(f->name.p, f->name.len);
        bool hop = tk != HTTP_TOKEN_NONE && (http_token_info(tk)->flags & HTTP_TOKEN_HOP_BY_HOP);
        if ((hop && tk != HTTP_TOKEN_UPGRADE) || tk == HTTP_TOKEN_CONTENT_LENGTH ||
            tk == HTTP_TOKEN_DATE)
            continue;
        buf_appendf(out, "%.*s: %.*s\r\n", (int)f->name.len, f->name.p, (int)f->value.len,
                    f->value.p);
    }
    buf_append(out, "Connection: upgrade\r\n\r\n", 23);
    return buf_append(out, buf_ptr(&j->in) + n, buf_size(&j->in) - n);
}

/* The upstream agreed to switch protocols: the client's connection and the upstream one
 * become a tunnel (server/tunnel.h), and the request is over. */
static void switch_protocols(struct proxy_job *j, size_t n)
{
    struct http_request *req = j->req;
    struct worker *wk = j->dc.wk;
    struct buf head = {0};
    if (switch_head(j, n, &head) < 0) {
        buf_free(&head);
        proxy_fail_head(j, 502);
        return;
    }
    int64_t idle_ms = (int64_t)(j->pc->read_timeout * 1000);
    struct upstream_conn *uc = j->uc;
    timer_cancel(&j->timer);
    uncount(j);
    j->uc = NULL; /* the tunnel's from here */
    j->resp->status = 101;
    if (tunnel_take(wk, req, uc, buf_ptr(&head), buf_size(&head), idle_ms) < 0) {
        upstream_conn_close(uc);
        proxy_fail_head(j, 503);
    } /* else req and j went with the client's connection */
    buf_free(&head);
}

/* Does the upstream's 101 switch to what the extended CONNECT asked (RFC 9110 §7.8), with the
 * right Sec-WebSocket-Accept for WebSocket (RFC 6455 §4.1)? NULL, or what is wrong. */
static const char *stream_switch_wrong(const struct proxy_job *j)
{
    bool upgrade = false;
    str_t accept = STR_NULL;
    for (size_t i = 0; i < j->head.n_fields; i++) {
        const struct h1_field *f = &j->head.fields[i];
        if (str_eq_nocase(f->name, STR_LIT("upgrade")))
            upgrade = upgrade || str_eq_nocase(f->value, j->req->protocol);
        else if (str_eq_nocase(f->name, STR_LIT("sec-websocket-accept")))
            accept = f->value;
    }
    if (!upgrade) return "a 101 to another protocol";
    if (j->ws_key[0] && !websocket_accept_ok(j->ws_key, accept))
        return "a 101 without the right Sec-WebSocket-Accept";
    return NULL;
}

/* The upstream switched protocols for an extended CONNECT (RFC 8441 §5): the client gets a 200
 * with the 101's end-to-end fields, and the stream becomes a tunnel to the upstream connection
 * (handler/stream_tunnel.h), starting with what the upstream sent after its head. */
static void switch_stream(struct proxy_job *j, size_t n)
{
    struct http_request *req = j->req;
    struct http_response *resp = j->resp;
    const char *wrong = stream_switch_wrong(j);
    if (wrong) {
        log_error("%s: upstream %s: %s", req->peer, upstream(j)->url, wrong);
        proxy_fail_head(j, 502);
        return;
    }
    resp->headers.count = 0;
    if (proxy_response_fields(resp, req->pool, j->pc, &j->head) < 0) {
        proxy_fail_head(j, 503);
        return;
    }
    for (size_t i = 0; i < resp->headers.count; i++) /* the handshake's, not the client's */
        if (str_eq_nocase(resp->headers.items[i].name, STR_LIT("sec-websocket-accept")))
            resp->headers.items[i--] = resp->headers.items[--resp->headers.count];
    struct upstream_conn *uc = j->uc;
    timer_cancel(&j->timer);
    uncount(j);
    if (j->st->pc == j->pc) j->st->fails[j->up] = 0;
    j->uc = NULL;
    resp->body = NULL; /* the job is over: the tunnel's body replaces it */
    int rc = stream_tunnel_start(j->dc.wk, req, resp, uc, (int64_t)(j->pc->read_timeout * 1000),
                                 buf_ptr(&j->in) + n, buf_size(&j->in) - n);
    proxy_job_free_buffers(j);
    if (rc < 0) {
        upstream_conn_close(uc);
        proxy_fail_head(j, 503);
        return;
    }
    proxy_complete_head(j);
}

static void step_head(struct proxy_job *j)
{
    for (;;) {
        if (buf_size(&j->in)) {
            struct h1_parse_options opts = {
                .max_request_line = 8192, .max_head_size = HEAD_MAX, .max_fields = HEAD_FIELDS_MAX};
            struct h1_error err = {0, NULL};
            memset(&j->head, 0, sizeof(j->head));
            j->head.fields = j->fields;
            int n = h1_parse_response_head(&j->parser, buf_ptr(&j->in), buf_size(&j->in), &opts,
                                           &j->head, &err);
            if (n < 0) {
                log_error("%s: upstream %s: invalid response: %s", j->req->peer, upstream(j)->url,
                          err.reason ? err.reason : "malformed head");
                proxy_fail_head(j, 502);
                return;
            }
            if (n > 0) {
                if (j->req->protocol.len && j->head.status >= 200 && j->head.status < 300) {
                    /* a tunnel that is not one: the client would take it for established */
                    log_error("%s: upstream %s: %d to an Upgrade to %.*s", j->req->peer,
                              upstream(j)->url, j->head.status, (int)j->req->protocol.len,
                              j->req->protocol.p);
                    proxy_fail_head(j, 502);
                    return;
                }
                if (j->head.status >= 200) {
                    head_ready(j, (size_t)n);
                    return;
                }
                if (j->head.status == 101 && j->req->protocol.len) {
                    switch_stream(j, (size_t)n);
                    return;
                }
                if (j->head.status == 101 && j->req->take_connection &&
                    http_fields_find(&j->req->headers, HTTP_TOKEN_UPGRADE)) {
                    switch_protocols(j, (size_t)n);
                    return;
                }
                if (j->head.status == 101) { /* never asked for: an upstream gone astray */
                    log_error("%s: upstream %s: 101 to a request without Upgrade", j->req->peer,
                              upstream(j)->url);
                    proxy_fail_head(j, 502);
                    return;
                }
                /* interim: 100 Continue is ours to drop (the body was sent whole), 103 Early
                 * Hints goes on to the client */
                if (j->head.status == 103 && j->req->send_interim) {
                    struct http_fields hints = {0};
                    for (size_t i = 0; i < j->head.n_fields; i++)
                        if (str_eq_nocase(j->head.fields[i].name, STR_LIT("link")))
                            http_fields_add_token(&hints, j->req->pool, HTTP_TOKEN_LINK,
                                                  j->head.fields[i].value);
                    if (hints.count) j->req->send_interim(j->req, 103, &hints);
                }
                buf_consume(&j->in, (size_t)n);
                h1_parser_reset(&j->parser);
                continue;
            }
        }
        if (!j->can_read) return;
        int r = read_upstream(j);
        if (r < 0) {
            proxy_attempt_failed(j, E_READ, errno);
            return;
        }
        if (r == 0) return;
        proxy_set_deadline(j, j->pc->read_timeout);
    }
}

/* The client's streamed body failed (a rule broken: 413 or 400, or the client went away). */
void proxy_client_body_failed(struct proxy_job *j)
{
    int status = j->req->body_in_status ? j->req->body_in_status : 400;
    j->resp->close = true;
    proxy_fail_head(j, status);
}

/* Appends the next piece of a streamed request body to out (chunked when its length is
 * unknown). 1 appended, 0 wait for the client, -1 the job is over (answered). */
static int pull_request_body(struct proxy_job *j)
{
    struct http_request *req = j->req;
    struct body_chunk ch;
    enum body_next_result r = req->body_in->next(req->body_in, &ch, IO_BUF_SIZE);
    bool chunked = req->body_in_length < 0;
    if (r == BODY_WAIT) {
        j->body_waiting = true;
        timer_cancel(&j->timer);
        proxy_set_deadline(j, j->dc.cfg->timeouts.body);
        return 0;
    }
    if (r == BODY_ERROR || (r == BODY_CHUNK && ch.kind != BODY_CHUNK_MEM)) {
        proxy_client_body_failed(j);
        return -1;
    }
    if (r == BODY_END) {
        j->body_sent = true;
        if (chunked) buf_append(&j->out, H1_CHUNKED_END, 5);
        return 1;
    }
    j->body_started = true;
    char hdr[20];
    size_t hl = chunked ? h1_chunk_header(hdr, ch.len) : 0;
    if (buf_append(&j->out, hdr, hl) < 0 || buf_append(&j->out, ch.data, ch.len) < 0 ||
        (chunked && buf_append(&j->out, "\r\n", 2) < 0)) {
        proxy_fail_head(j, 503);
        return -1;
    }
    return 1;
}

/* The client sent more of a streamed body while we waited (deferred from its wire). */
static void on_body_task(struct loop_task *t)
{
    struct proxy_job *j = (struct proxy_job *)((char *)t - offsetof(struct proxy_job, body_task));
    if (j->via_h2) {
        proxy_h2_body_more(j);
        return;
    }
    if (!j->body_waiting || j->state != J_SENDING) return;
    j->body_waiting = false;
    timer_cancel(&j->timer);
    proxy_set_deadline(j, j->pc->send_timeout);
    step_send(j);
}

static void body_wake(void *ctx)
{
    struct proxy_job *j = ctx;
    loop_defer(j->pw->loop, &j->body_task);
}

static void step_send(struct proxy_job *j)
{
    for (;;) {
        if (j->out_sent == buf_size(&j->out)) {
            /* an extended CONNECT's DATA goes only after the upstream's 101 */
            if (!j->req->body_in || j->body_sent || j->req->protocol.len) break;
            buf_clear(&j->out);
            j->out_sent = 0;
            int r = pull_request_body(j);
            if (r <= 0) return;
            continue;
        }
        if (!j->can_write) return;
        ssize_t n = upstream_conn_write(j->uc, buf_ptr(&j->out) + j->out_sent,
                                        buf_size(&j->out) - j->out_sent);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                j->can_write = false;
                return;
            }
            proxy_attempt_failed(j, E_SEND, errno);
            return;
        }
        j->out_sent += (size_t)n;
        proxy_set_deadline(j, j->pc->send_timeout);
    }
    j->state = J_HEAD;
    timer_cancel(&j->timer);
    proxy_set_deadline(j, j->pc->read_timeout);
    j->can_read = true; /* a read tells; the edge may have come before we looked */
    step_head(j);
}

static void job_run(struct proxy_job *j)
{
    switch (j->state) {
    case J_CONNECTING: {
        if (!j->can_write) return;
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(j->uc->w.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err) {
            proxy_attempt_failed(j, E_CONNECT, err);
            return;
        }
        if (j->uc->tls) {
            j->state = J_HANDSHAKE;
            j->can_read = true;
            job_run(j);
            return;
        }
        j->state = J_SENDING;
        step_send(j);
        return;
    }
    case J_HANDSHAKE: {
        if (!j->can_read && !j->can_write) return;
        int r = tls_conn_handshake(j->uc->tls);
        if (r < 0) {
            proxy_attempt_failed(j, E_TLS, 0);
            return;
        }
        if (r == 0) { /* wait for the socket; both directions are watched */
            j->can_read = j->can_write = false;
            return;
        }
        j->state = J_SENDING;
        j->can_write = true;
        proxy_set_deadline(j, j->pc->send_timeout);
        step_send(j);
        return;
    }
    case J_SENDING: step_send(j); return;
    case J_HEAD: step_head(j); return;
    case J_BODY:
        /* the wire reads through the body source; wake it if it is waiting */
        if (j->waiting && j->can_read) {
            j->waiting = false;
            timer_cancel(&j->timer);
            j->req->resume(j->req);
        }
        return;
    }
}

static void on_event(struct upstream_conn *uc, uint32_t events)
{
    struct proxy_job *j = uc->owner;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) j->can_read = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) j->can_write = true;
    job_run(j);
}

static void on_timer(struct timer *t)
{
    struct proxy_job *j = (struct proxy_job *)((char *)t - offsetof(struct proxy_job, timer));
    if (loop_now_ms(j->pw->loop) < j->deadline) {
        timer_arm(j->pw->loop, t, j->deadline);
        return;
    }
    switch (j->state) {
    case J_CONNECTING:
    case J_HANDSHAKE: proxy_attempt_failed(j, E_CONNECT_TIMEOUT, 0); return;
    case J_SENDING:
        if (j->body_waiting) { /* the client stopped sending its body */
            log_info("%s: request body stalled, 408", j->req->peer);
            j->resp->close = true;
            proxy_fail_head(j, 408);
            return;
        }
        proxy_attempt_failed(j, E_SEND_TIMEOUT, 0);
        return;
    case J_HEAD: proxy_attempt_failed(j, E_READ_TIMEOUT, 0); return;
    case J_BODY:
        log_error("%s: upstream %s: the response body stalled, cutting it short", j->req->peer,
                  upstream(j)->url);
        j->failed = true;
        proxy_drop_upstream(j, false);
        if (j->waiting) j->req->resume(j->req);
        return;
    }
}

/* ---- the body source the wire pulls ---- */

/* The next piece of the upstream body at the front of j->in, at most max bytes, in place.
 * Returns its length (0: more input is needed), or -1 on malformed chunked framing. */
static ssize_t take_body(struct proxy_job *j, size_t max, size_t *consumed)
{
    char *p = buf_ptr(&j->in);
    size_t avail = buf_size(&j->in);
    switch (j->kind) {
    case H1_BODY_LENGTH: {
        size_t n = avail < max ? avail : max;
        if ((int64_t)n > j->left) n = (size_t)j->left;
        j->left -= (int64_t)n;
        if (j->left == 0) j->body_end = true;
        *consumed = n;
        return (ssize_t)n;
    }
    case H1_BODY_CHUNKED: {
        /* decoding in place never produces more than it consumes: max input bytes give at
         * most max body bytes */
        size_t in = avail < max ? avail : max, used = 0, produced = 0;
        enum h1_chunked_result r = h1_chunked_decode(&j->dec, p, in, &used, p, &produced);
        if (r == H1_CHUNKED_ERROR) return -1;
        if (r == H1_CHUNKED_DONE) j->body_end = true;
        *consumed = used;
        return (ssize_t)produced;
    }
    default: {
        size_t n = avail < max ? avail : max;
        *consumed = n;
        return (ssize_t)n;
    }
    }
}

static enum body_next_result src_next(struct body_source *src, struct body_chunk *out, size_t max)
{
    struct proxy_job *j = (struct proxy_job *)src;
    if (j->via_h2) return proxy_h2_next(j, out, max);
    if (j->handed) {
        buf_consume(&j->in, j->handed);
        j->handed = 0;
    }
    if (j->failed) return BODY_ERROR;
    for (;;) {
        if (buf_size(&j->in) && !j->body_end) {
            size_t consumed = 0;
            ssize_t n = take_body(j, max, &consumed);
            if (n < 0) {
                log_error("%s: upstream %s: malformed chunked body: %s", j->req->peer,
                          upstream(j)->url, j->dec.error ? j->dec.error : "?");
                j->failed = true;
                proxy_drop_upstream(j, false);
                return BODY_ERROR;
            }
            if (n > 0) {
                *out = (struct body_chunk){
                    .kind = BODY_CHUNK_MEM, .data = buf_ptr(&j->in), .len = (size_t)n};
                j->handed = consumed;
                return BODY_CHUNK;
            }
            buf_consume(&j->in, consumed); /* chunk framing only */
            continue;
        }
        if (j->body_end) {
            /* bytes beyond the response on a connection we did not pipeline on: not reusable */
            proxy_drop_upstream(j, j->keep && buf_size(&j->in) == 0);
            return BODY_END;
        }
        if (!j->uc) return BODY_ERROR;
        buf_clear(&j->in);
        int r = read_upstream(j);
        if (r > 0) continue;
        if (r == 0) {
            j->waiting = true;
            proxy_set_deadline(j, j->pc->read_timeout);
            return BODY_WAIT;
        }
        if (errno == 0 && j->kind == H1_BODY_CLOSE) { /* the end of a close-delimited body */
            j->body_end = true;
            j->keep = false;
            continue;
        }
        log_error("%s: upstream %s: the response ended early%s%s", j->req->peer, upstream(j)->url,
                  errno ? ": " : "", errno ? strerror(errno) : "");
        j->failed = true;
        proxy_drop_upstream(j, false);
        return BODY_ERROR;
    }
}

static void src_close(struct body_source *src)
{
    struct proxy_job *j = (struct proxy_job *)src;
    /* the wire is done with the response, whole or not: the connection is reusable only after
     * a complete body (src_next already gave it back then) */
    proxy_drop_upstream(j, false);
    proxy_job_free_buffers(j);
}

/* ---- the handler ---- */

/* Max-Forwards: 0 on OPTIONS or TRACE: this hop answers (RFC 9110 §7.6.2). */
static bool answer_here(struct http_request *req)
{
    if (req->method != HTTP_METHOD_OPTIONS && req->method != HTTP_METHOD_TRACE) return false;
    const struct http_field *f = http_fields_find(&req->headers, HTTP_TOKEN_MAX_FORWARDS);
    return f && str_eq(f->value, STR_LIT("0"));
}

void proxy_handle(const struct dispatch_ctx *dc, struct http_request *req,
                  struct http_response *resp, str_t url_path)
{
    if (answer_here(req)) {
        resp->status = 200;
        resp->content_length = 0;
        resp->body = NULL;
        return;
    }
    proxy_start(dc, dc->loc->proxy, req, resp, url_path, true);
}

void proxy_start(const struct dispatch_ctx *dc, const struct config_proxy *pc,
                 struct http_request *req, struct http_response *resp, str_t url_path,
                 bool in_handle)
{
    struct proxy_worker *pw = proxy_worker_get(dc->wk);
    struct proxy_job *j = pool_calloc(req->pool, sizeof(*j));
    struct h1_field *fields = pool_alloc(req->pool, HEAD_FIELDS_MAX * sizeof(*fields));
    struct proxy_state *st = pw ? proxy_state_get(pw, pc, dc->cfg) : NULL;
    if (!j || !fields || !st) {
        log_error("%s: out of memory for a proxied request", req->peer);
        resp->body = NULL;
        dispatch_error(req, resp, 503);
        if (!in_handle) dispatch_finish(dc, req, resp);
        return;
    }
    j->src.next = src_next;
    j->src.close = src_close;
    j->timer.cb = on_timer;
    j->dc = *dc;
    j->req = req;
    j->resp = resp;
    j->pc = pc;
    j->pw = pw;
    j->st = st;
    j->fields = fields;
    j->url_path = url_path;
    j->body_task.cb = on_body_task;
    if (req->body_in) {
        req->body_in_wake = body_wake;
        req->body_in_ctx = j;
        /* a streamed body cannot be sent twice: a fresh connection, no retry once it flows */
        j->no_pool = true;
    }
    j->in_handle = in_handle;
    resp->pending = true;
    resp->body = &j->src;
    proxy_attempt(j);
    j->in_handle = false;
}
