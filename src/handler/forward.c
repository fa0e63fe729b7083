#include "handler/forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/resolve.h"
#include "client/upstream_pool.h"
#include "core/log.h"
#include "handler/auth.h"
#include "handler/stream_tunnel.h"
#include "handler/proxy_internal.h"
#include "server/server.h"
#include "server/tunnel.h"

#define TUNNEL_IDLE_MS (300 * 1000) /* a CONNECT tunnel with no byte either way this long */

struct fw_job {
    struct body_source src; /* first: resp->body while pending (the wire closes it to cancel) */
    struct dispatch_ctx dc;
    struct http_request *req;
    struct http_response *resp;
    struct proxy_worker *pw;
    struct resolve_req *rq;
    struct upstream_conn *uc;
    struct timer timer;
    bool in_handle;
    bool http; /* an absolute-form request, not a CONNECT */
    char host[256], port[8];
};

static void cleanup(struct fw_job *j)
{
    timer_cancel(&j->timer);
    resolve_cancel(j->rq);
    j->rq = NULL;
    upstream_conn_close(j->uc);
    j->uc = NULL;
}

static void src_close(struct body_source *src)
{
    cleanup((struct fw_job *)src);
}

static enum body_next_result src_next(struct body_source *src, struct body_chunk *out, size_t max)
{
    (void)src, (void)out, (void)max;
    return BODY_END;
}

static void fail(struct fw_job *j, int status, const char *why)
{
    log_info("%s: %s %s:%s: %d %s", j->req->peer, j->http ? "forward" : "CONNECT", j->host, j->port,
             status, why);
    cleanup(j);
    j->resp->body = NULL;
    dispatch_error(j->req, j->resp, status);
    j->resp->close = true;
    if (j->in_handle)
        j->resp->pending = false;
    else
        dispatch_finish(&j->dc, j->req, j->resp);
}

/* Loopback, private, link-local, shared, multicast and reserved addresses (RFC 1918, RFC 6598,
 * RFC 3927, RFC 4193, RFC 4291): what a forward proxy must not reach for outsiders. */
static bool is_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            struct sockaddr_in v4 = {.sin_family = AF_INET};
            memcpy(&v4.sin_addr, a->s6_addr + 12, 4);
            return is_private((const struct sockaddr *)&v4);
        }
        return IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
               IN6_IS_ADDR_MULTICAST(a) || (a->s6_addr[0] & 0xfe) == 0xfc;
    }
    if (sa->sa_family != AF_INET) return true;
    uint32_t v = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
    return (v >> 24) == 0 || (v >> 24) == 10 || (v >> 24) == 127 || (v >> 16) == 0xa9fe ||
           (v >> 20) == 0xac1 || (v >> 16) == 0xc0a8 || (v >> 22) == (100u << 2 | 1) ||
           (v >> 28) >= 0xe;
}

/* HTTP/2 and HTTP/3: the tunnel is the CONNECT stream itself (handler/stream_tunnel.h). */
static void established_stream(struct fw_job *j)
{
    struct upstream_conn *uc = j->uc;
    timer_cancel(&j->timer);
    j->uc = NULL;
    j->resp->body = NULL; /* the job is over: the tunnel's body replaces it */
    if (stream_tunnel_start(j->dc.wk, j->req, j->resp, uc, TUNNEL_IDLE_MS, NULL, 0) < 0) {
        j->uc = uc;
        fail(j, 503, "out of memory");
        return;
    }
    dispatch_finish(&j->dc, j->req, j->resp);
}

static void established(struct fw_job *j)
{
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    struct http_request *req = j->req;
    struct worker *wk = j->dc.wk;
    struct upstream_conn *uc = j->uc;
    if (!req->take_connection) {
        established_stream(j);
        return;
    }
    timer_cancel(&j->timer);
    j->uc = NULL; /* the tunnel's */
    j->resp->status = 200;
    if (tunnel_take(wk, req, uc, ok, sizeof(ok) - 1, TUNNEL_IDLE_MS) < 0) {
        upstream_conn_close(uc);
        fail(j, 503, "out of memory");
    } /* else req and j went with the client's connection */
}

static void on_conn_event(struct upstream_conn *uc, uint32_t events)
{
    (void)events;
    struct fw_job *j = uc->owner;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(uc->w.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err) {
        fail(j, 502, strerror(err));
        return;
    }
    established(j);
}

static void on_timeout(struct timer *t)
{
    fail((struct fw_job *)((char *)t - offsetof(struct fw_job, timer)), 504,
         "no connection in time");
}

/* The absolute-form request goes on through the reverse proxy's machinery to the one
 * upstream it names: a configuration made for this request in its pool. */
static void forward_http(struct fw_job *j, const struct addrinfo *res)
{
    struct http_request *req = j->req;
    const struct config *cfg = j->dc.cfg;
    struct config_proxy *pc = pool_calloc(req->pool, sizeof(*pc));
    struct config_upstream *up = pool_calloc(req->pool, sizeof(*up));
    char *url = pool_printf(req->pool, NULL, "http://%s:%s", j->host, j->port);
    char *authority = pool_strndup(req->pool, req->authority.p, req->authority.len);
    if (!pc || !up || !url || !authority || res->ai_addrlen > sizeof(up->addr)) {
        fail(j, 503, "out of memory");
        return;
    }
    memcpy(&up->addr, res->ai_addr, res->ai_addrlen);
    up->addr_len = (unsigned)res->ai_addrlen;
    up->url = url;
    up->authority = authority;
    up->stats_slot = UINT32_MAX; /* not counted: its name is the client's choice */
    pc->upstreams = up;
    pc->n_upstreams = 1;
    pc->id = cfg->n_proxies; /* a state of its own, past the locations' */
    pc->connect_timeout = cfg->forward.connect_timeout;
    pc->read_timeout = pc->send_timeout = pc->idle_timeout = 60;
    pc->keepalive = 32;
    pc->via = true; /* RFC 9110 §7.6.3: a proxy MUST */
    cleanup(j);
    j->resp->body = NULL; /* the proxy's job takes over */
    proxy_start(&j->dc, pc, req, j->resp, req->path, false);
}

static void on_resolved(void *ctx, const struct addrinfo *res, int err)
{
    struct fw_job *j = ctx;
    j->rq = NULL;
    if (err || !res) {
        fail(j, 502, err ? gai_strerror(err) : "no address");
        return;
    }
    if (!j->dc.cfg->forward.allow_private && is_private(res->ai_addr)) {
        fail(j, 403, "a private or loopback destination");
        return;
    }
    if (j->http) {
        forward_http(j, res);
        return;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(j, 502, strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        fail(j, 502, strerror(e));
        return;
    }
    j->uc = upstream_conn_open(j->pw->pool, fd, res->ai_addr, res->ai_addrlen, NULL);
    if (!j->uc) {
        fail(j, 503, "out of memory");
        return;
    }
    j->uc->on_event = on_conn_event;
    j->uc->owner = j;
}

/* host and port of an authority-form target ("example.com:443", "[2001:db8::1]:443"). */
static bool split_authority(str_t a, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon = a.len ? memrchr(a.p, ':', a.len) : NULL;
    if (!colon) return false;
    const char *h = a.p;
    size_t hl = (size_t)(colon - a.p), pl = a.len - hl - 1;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
    if (hl == 0 || hl >= hcap || pl == 0 || pl >= pcap) return false;
    for (size_t i = 0; i < hl; i++)
        host[i] = (char)((h[i] >= 'A' && h[i] <= 'Z') ? h[i] + 32 : h[i]);
    host[hl] = '\0';
    memcpy(port, colon + 1, pl);
    port[pl] = '\0';
    return strspn(port, "0123456789") == pl && atoi(port) > 0 && atoi(port) < 65536;
}

/* Does the authority name the listener req came to: its port, with a name or with the
 * listener's own address? Without a known connection (HTTP/3 for now): yes. */
static bool names_this_listener(const struct http_request *req)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (!req->has_conn || getsockname(req->conn_fd, (struct sockaddr *)&ss, &len) < 0) return true;
    str_t a = req->authority;
    bool bare = a.p[a.len - 1] == ']' || !memchr(a.p, ':', a.len);
    char host[256], port[8];
    char with_port[300];
    if (bare) {
        snprintf(with_port, sizeof(with_port), "%.*s:80", (int)a.len, a.p);
        a = str_cstr(with_port);
    }
    if (!split_authority(a, host, sizeof(host), port, sizeof(port))) return true;
    unsigned local_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                                   : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if ((unsigned)atoi(port) != local_port) return false;
    unsigned char want[16];
    if (inet_pton(AF_INET, host, want) == 1)
        return ss.ss_family == AF_INET &&
               memcmp(&((struct sockaddr_in *)&ss)->sin_addr, want, 4) == 0;
    if (inet_pton(AF_INET6, host, want) == 1)
        return ss.ss_family == AF_INET6 &&
               memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, want, 16) == 0;
    return true; /* a name on this port: this server's, known to it or not */
}

bool forward_wants(const struct config *cfg, const struct http_request *req)
{
    if (!cfg->forward.enabled || req->method == HTTP_METHOD_CONNECT || !req->authority.len)
        return false;
    /* the form first (cheap), the names of this server only for what could be another's */
    bool other_form = req->version < 20
                          ? req->target.len && req->target.p[0] != '/' && req->target.p[0] != '*'
                          : str_eq(req->scheme, STR_LIT("http"));
    if (!other_form || config_names_host(cfg, req->host.p, req->host.len)) return false;
    return req->version < 20 || !names_this_listener(req);
}

static bool allowed(const struct config_forward *f, const char *host, const char *port)
{
    char dest[300];
    snprintf(dest, sizeof(dest), "%s:%s", host, port);
    for (size_t i = 0; i < f->n_allow; i++)
        if (fnmatch(f->allow[i], dest, 0) == 0) return true;
    return false;
}

/* The checks both kinds share, then the lookup. */
static void start(const struct dispatch_ctx *dc, struct http_request *req,
                  struct http_response *resp, bool http)
{
    const struct config_forward *f = &dc->cfg->forward;
    /* the proxy's own credentials first (RFC 9110 §11.7.1): 407 before anything is told */
    if (f->auth && auth_check_proxy(f->auth, req, resp)) return;
    struct fw_job *j = pool_calloc(req->pool, sizeof(*j));
    struct proxy_worker *pw = proxy_worker_get(dc->wk);
    if (!j || !pw || (!pw->resolver && !(pw->resolver = resolver_new(pw->loop)))) {
        dispatch_error(req, resp, 503);
        return;
    }
    j->src.next = src_next;
    j->src.close = src_close;
    j->dc = *dc;
    j->req = req;
    j->resp = resp;
    j->pw = pw;
    j->timer.cb = on_timeout;
    j->in_handle = true;
    j->http = http;
    bool https = http && req->target.len >= 8 && strncasecmp(req->target.p, "https://", 8) == 0;
    str_t a = req->authority;
    char with_port[300];
    if (http && a.len && (a.p[a.len - 1] == ']' || !memchr(a.p, ':', a.len))) {
        /* the scheme's default port (RFC 9110 §4.2) */
        snprintf(with_port, sizeof(with_port), "%.*s:%s", (int)a.len, a.p, https ? "443" : "80");
        a = str_cstr(with_port);
    }
    if (!split_authority(a, j->host, sizeof(j->host), j->port, sizeof(j->port))) {
        snprintf(j->host, sizeof(j->host), "?");
        fail(j, 400, "not host:port");
        return;
    }
    if (https) { /* TLS to the origin on the client's behalf: not yet (clients CONNECT) */
        fail(j, 501, "https:// requests are tunnelled with CONNECT");
        return;
    }
    if (!http && !req->take_connection && !req->body_in) { /* a wire that can do neither */
        fail(j, 501, "CONNECT cannot be tunnelled on this wire");
        return;
    }
    if (!allowed(f, j->host, j->port)) {
        fail(j, 403, "not in forward_proxy.allow");
        return;
    }
    resp->pending = true;
    resp->body = &j->src;
    timer_arm(pw->loop, &j->timer, loop_now_ms(pw->loop) + (int64_t)(f->connect_timeout * 1000));
    if (!(j->rq = resolver_lookup(pw->resolver, j->host, j->port, on_resolved, j)))
        fail(j, 502, "name resolution could not start");
    j->in_handle = false;
}

void forward_connect(const struct dispatch_ctx *dc, struct http_request *req,
                     struct http_response *resp)
{
    start(dc, req, resp, false);
}

void forward_request(const struct dispatch_ctx *dc, struct http_request *req,
                     struct http_response *resp)
{
    start(dc, req, resp, true);
}
