/* The protocol-neutral response a handler produces: status, fields, and a pulled body. The wire
 * layer adds Date, Server, framing (Content-Length / chunked / close) and connection fields. */
#ifndef TERN_HTTP_RESPONSE_H
#define TERN_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stdint.h>

#include "http/body.h"
#include "http/header.h"

struct http_response {
    int status;
    struct http_fields headers; /* no Date, Server, Content-Length, Transfer-Encoding, Connection */
    int64_t content_length;     /* body size, or -1 when unknown (chunked / close-delimited) */
    struct body_source *body;   /* NULL: empty body. For HEAD the handler sets content_length
                                   as for GET and body NULL; the wire sends no body anyway. */
    bool close;                 /* the handler asks for the connection to close after this */
    /* The handler answers later (a proxied request waiting for its upstream): the wire sends
     * nothing until the handler has set status, fields and body, cleared this, and called the
     * request's resume. Meanwhile body, if set, is the handler's job: a request that ends
     * first (the client went away) closes it, which cancels the work. */
    bool pending;
    bool no_server;     /* no Server field (the wire adds "tern" unless one is set) */
    int64_t bytes_sent; /* body bytes written, filled by the wire layer (access log) */
};

/* Reason phrase for a status code ("OK"), or "Unknown" (RFC 9110 §15). */
const char *http_status_reason(int status);

/* Sets a small HTML error/status body ("<h1>404 Not Found</h1>"...) with Content-Type and
 * content_length. For 1xx, 204, 304 sets no body. Returns 0 or -1 on OOM. */
int http_response_simple(struct http_response *resp, struct pool *pool, int status);

#endif
