/* The field-section rules HTTP/2 and HTTP/3 share (RFC 9113 §8.2-8.3, RFC 9114 §4.1-4.3),
 * for requests (server role) and responses (client role): each decoded field is checked as it
 * arrives (pseudo-headers first and once, lower-case names, no connection-specific fields,
 * clean values, one Content-Length), then the pseudo-headers fill the request, or the response
 * status. */
#ifndef TERN_HTTP_REQCHECK_H
#define TERN_HTTP_REQCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/request.h"

struct http_reqcheck {
    struct http_request *req;   /* fields are added to req->headers (or trailers); NULL for a
                                   response */
    struct http_fields *fields; /* where regular fields go */
    struct pool *pool;          /* and the pool they are added from */
    bool response;              /* a response section: :status is its only pseudo-header */
    size_t max_count;           /* regular fields allowed; more sets too_many */
    bool trailers;              /* a trailer section: no pseudo-headers, fields to req->trailers */
    bool allow_http2_settings;  /* HTTP2-Settings passes (h2c Upgrade), other wires reject it */
    bool allow_protocol; /* :protocol accepted: extended CONNECT offered (RFC 8441, RFC 9220) */
    bool regular_seen;
    bool malformed; /* the message is malformed (why says how) */
    bool too_many;  /* more than max_count fields: answer 431 */
    const char *why;
    size_t count;
    int64_t content_length; /* from Content-Length, or -1 */
    str_t method, scheme, path, authority, protocol;
    bool has_method, has_scheme, has_path, has_authority, has_protocol;
    int status; /* response: the :status value (0: not seen yet) */
};

/* Starts checking a header section (trailers false) or trailer section of req. */
void http_reqcheck_init(struct http_reqcheck *c, struct http_request *req, size_t max_count,
                        bool trailers);
/* Starts checking a response header section (trailers false) or trailer section, adding its
 * regular fields to fields from pool. */
void http_reqcheck_init_response(struct http_reqcheck *c, struct http_fields *fields,
                                 struct pool *pool, size_t max_count, bool trailers);
/* After a whole response header section: false (and malformed set) without a valid :status
 * (RFC 9113 §8.3.2, RFC 9114 §4.3.2). */
bool http_reqcheck_finish_response(struct http_reqcheck *c);
/* Checks one decoded field (name and value must live as long as req->pool) and records it.
 * Returns 0, or 1 once the section is malformed or too large (stop emitting). */
int http_reqcheck_field(struct http_reqcheck *c, str_t name, str_t value, enum http_token token);
/* After a whole header section: fills method, target, path, query, scheme, authority and host
 * from the pseudo-headers (§8.3.1 / §4.3.1). false (and malformed set) when it is malformed. */
bool http_reqcheck_finish(struct http_reqcheck *c);
/* Sets req->host from req->authority: lower-cased, without port or trailing dot (as h1 does). */
void http_request_derive_host(struct http_request *req);

#endif
