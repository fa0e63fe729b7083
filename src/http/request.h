/* The protocol-neutral request a handler sees. Wire modules (h1, later h2/h3) fill it; handlers
 * never learn which wire carried it beyond `version` (for logs and HTTP/0.9 framing). */
#ifndef TERN_HTTP_REQUEST_H
#define TERN_HTTP_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/pool.h"
#include "core/str.h"
#include "http/header.h"

struct tls_conn; /* tls/tls.h; opaque here */

enum http_method {
    HTTP_METHOD_UNKNOWN = 0, /* a syntactically valid method tern does not implement: 501 */
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
    HTTP_METHOD_PUT,
    HTTP_METHOD_DELETE,
    HTTP_METHOD_CONNECT,
    HTTP_METHOD_OPTIONS,
    HTTP_METHOD_TRACE,
    HTTP_METHOD_PATCH,
};

/* Case-sensitive (RFC 9110 §9.1): "get" is HTTP_METHOD_UNKNOWN. */
enum http_method http_method_from_str(str_t name);
const char *http_method_name(enum http_method m);

/* Version numbers: 9 = HTTP/0.9, 10, 11, 20, 30. */
struct http_request {
    struct pool *pool; /* per-request; everything below lives at least as long */
    enum http_method method;
    str_t method_name; /* as received */
    str_t target;      /* request-target as received: origin-form, absolute-form, or "*" */
    str_t path;  /* path part of the target, still percent-encoded, starts with '/' (or "*") */
    str_t query; /* after '?', without it */
    bool has_query;
    str_t authority; /* host[:port]: absolute-form authority, else Host, else :authority */
    str_t host;      /* authority without port, lower-cased copy, no trailing dot */
    str_t scheme;    /* "http" or "https" */
    /* An extended CONNECT's :protocol (RFC 8441, RFC 9220), e.g. "websocket"; empty otherwise */
    str_t protocol;
    int version;
    struct http_fields headers;
    struct http_fields trailers;
    const char *body; /* the whole request body (buffered up to the body limit) */
    size_t body_len;
    /* Or a body still arriving, for a handler that streams it (the proxy; HTTP/1.1 sets it for
     * proxy locations): pulled as a response body is, BODY_WAIT while the client has sent
     * nothing more, after which the wire calls body_in_wake(body_in_ctx) (set by the handler)
     * once bytes arrived. body_in_length: its Content-Length, or -1 (chunked). After
     * BODY_ERROR, body_in_status says why: 413 or 400 for a body that broke a rule, 0 for a
     * client that went away. NULL: the body, if any, is whole in body/body_len. */
    struct body_source *body_in;
    int64_t body_in_length;
    void (*body_in_wake)(void *ctx);
    void *body_in_ctx;
    int body_in_status;
    bool is_tls;
    /* Part of the request came in TLS early data (0-RTT), which an attacker can replay
     * (RFC 8470): the wire answers an unsafe one 425 itself; handlers may look too. */
    bool early_data;
    char peer[64]; /* client address as text, for logs */
    /* The connection's peer when real_ip (server/config.h) put the client a trusted proxy
     * reported in peer; NULL otherwise. The forwarding fields name the hop we saw. */
    const char *hop_peer;
    /* Sends an interim (1xx) response such as 103 Early Hints before the final one; set by the
     * wire layer (NULL when it cannot, e.g. HTTP/1.0). Returns 0 or -1. */
    int (*send_interim)(struct http_request *req, int status, const struct http_fields *fields);
    void *wire; /* the wire layer's context for send_interim and resume */
    /* Set by the wire layer: a handler whose response was pending, or whose body source said
     * BODY_WAIT, calls it when it has more. It only queues the wire's work for later in the
     * loop iteration, so it is safe from inside the handler's own callbacks. */
    void (*resume)(struct http_request *req);
    /* Set by HTTP/1.1 when the request asks to switch protocols (Connection: upgrade with an
     * Upgrade field, no body) and the wire can give its connection away: after a 101 the
     * handler takes the client's socket and TLS session (*fd, *tls) and the bytes read beyond
     * the request (*rest, malloc'ed, *rest_len; free it). The request, its pool and the wire's
     * connection are gone when it returns; resp->status (101) is logged first. 0 or -1. */
    int (*take_connection)(struct http_request *req, int *fd, struct tls_conn **tls, char **rest,
                           size_t *rest_len);
    time_t now;     /* request start, seconds */
    int64_t now_ms; /* request start, monotonic-independent wall clock ms */
    /* The connection it came on, for handlers that describe it (handler/conninfo.h), set by
     * the wire layer with http_request_set_conn: its TLS session (NULL for cleartext; read it
     * with the tls_conn_* accessors) and its socket, whose peer port getpeername(2) gives when
     * asked for, so that no other request pays for it. */
    bool has_conn;
    /* The UDP port HTTP/3 is served on for this request's TLS listener, or 0: responses
     * then advertise it with Alt-Svc (RFC 7838, RFC 9114 §3.1.1). */
    uint16_t alt_svc_port;
    int conn_fd;
    const struct tls_conn *tls;
    /* HTTP/3: the client's JA4 (over TCP it comes from tls, tls_conn_ja4) */
    const char *ja4;
    /* HTTP/2: the client's Akamai fingerprint (h2/fingerprint.h), when a log asks for it */
    const char *h2_fingerprint;
    /* The peer's port when the wire knows it without asking the socket (HTTP/3: the QUIC
     * path the request came on), else 0. */
    uint16_t peer_port;
    /* The rate limits (their ids) whose tokens this request took on credit and waited for, or
     * that Redis granted while it waited: passed when it is routed again (server/guard.h). Two:
     * the location matched and the one a rewrite leads to. 0: none. */
    uint32_t rate_passed[2];
    /* Came on the metrics listener (`metrics: {listen}`): dispatch serves /metrics (and
     * /status) only. */
    bool metrics_listener;
    /* The user the location's authentication admitted (handler/auth.h), for the access log;
     * NULL when none. */
    const char *remote_user;
    /* The request id (http/request_id.h): the value of the configured request field when it
     * was acceptable (id_given), else made on demand from the worker's random prefix and its
     * count of requests (id_seq 0: not assigned yet). id_field: the configured field's name
     * (server/config.h request_id), which the proxy sends the id upstream in; NULL: none. */
    str_t id_given;
    uint64_t id_prefix, id_seq;
    const char *id_field;
    /* CLOCK_MONOTONIC in µs when the request was dispatched, taken only when the access log
     * writes durations (0: not taken) */
    int64_t start_us;
};

/* Records the connection (socket and TLS session, NULL for cleartext) req arrived on; both
 * outlive the request. */
static inline void http_request_set_conn(struct http_request *req, int fd,
                                         const struct tls_conn *tls)
{
    req->has_conn = true;
    req->conn_fd = fd;
    req->tls = tls;
}

#endif
