/* The header rules of a reverse proxy (RFC 9110 §7.6): what the upstream receives and what the
 * client gets back. Hop-by-hop fields (Connection and the fields it names, Keep-Alive, TE,
 * Transfer-Encoding, Upgrade, Proxy-*) never cross; Via, Forwarded (RFC 7239) and
 * X-Forwarded-* are written as configured; the framing is always tern's own. I/O-free. */
#ifndef TERN_HANDLER_PROXY_FIELDS_H
#define TERN_HANDLER_PROXY_FIELDS_H

#include "core/buf.h"
#include "h1/parser.h"
#include "http/request.h"
#include "http/response.h"
#include "server/config.h"

/* Appends the HTTP/1.1 request head for up to out: the request line with target (path and
 * query as they go upstream), the client's end-to-end fields (cookie lines of HTTP/2 and
 * HTTP/3 joined, RFC 9113 §8.2.3), Host per pc->host_mode, Via, Forwarded, X-Forwarded-*,
 * Max-Forwards less one, Content-Length for the body (none for a bodiless GET or HEAD), and
 * the client's Upgrade with Connection: upgrade when its wire can switch protocols
 * (req->take_connection). An extended CONNECT (RFC 8441, req->protocol) becomes a GET with
 * Upgrade: its :protocol, and upgrade_key (NULL: none) as Sec-WebSocket-Key. 0, or -1 on OOM. */
int proxy_request_head(struct buf *out, const struct config_proxy *pc,
                       const struct config_upstream *up, const struct http_request *req,
                       str_t target, const char *upgrade_key);

/* A request head for an HTTP/2 upstream: the fields of proxy_request_head (the same rules,
 * made by it) as lower-case names and values, without the connection-specific ones (RFC 9113
 * §8.2.2: Connection, Upgrade, Transfer-Encoding, Keep-Alive...); Host becomes authority. */
struct proxy_h2_head {
    str_t authority;
    str_t *names, *values;
    size_t n;
    int64_t body_length; /* the Content-Length sent, or -1 (a streamed body of unknown size) */
};
/* Fills h (in req's pool) for up and target. 0, or -1 on OOM. */
int proxy_request_h2(struct proxy_h2_head *h, const struct config_proxy *pc,
                     const struct config_upstream *up, struct http_request *req, str_t target);

/* The upstream target for a request whose (percent-encoded) path is url_path: the URL's path
 * in place of the location's prefix when the upstream URL has one, else url_path; the query
 * kept. In req's pool; STR_NULL on OOM. */
str_t proxy_target(const struct config_upstream *up, const struct config_location *loc,
                   const struct http_request *req, str_t url_path);

/* Fills resp's fields from an upstream response head (copied into pool): everything but the
 * hop-by-hop fields, the fields its Connection names, Content-Length, Date and Trailer; Via
 * appended when pc->via. 0, or -1 on OOM. */
int proxy_response_fields(struct http_response *resp, struct pool *pool,
                          const struct config_proxy *pc, const struct h1_response_head *head);

#endif
