/* Conditional requests, evaluated in RFC 9110 §13.2.2 order. */
#ifndef TERN_HTTP_CONDITIONAL_H
#define TERN_HTTP_CONDITIONAL_H

#include <stdbool.h>
#include <time.h>

#include "core/str.h"
#include "http/request.h"

struct http_validators {
    str_t etag;           /* the selected representation's ETag, quoted; len 0 if none */
    time_t last_modified; /* 0 if none */
    bool exists;          /* false when the target has no current representation */
};

/* Returns 0 to go on (serve normally, then consider Range), 304 Not Modified, or 412
 * Precondition Failed, following §13.2.2 steps 1-5 for req->method (304 only for GET/HEAD).
 * A malformed If-Match fails (412); a malformed If-None-Match is ignored; a date field that is
 * invalid or repeated is ignored, as is If-Modified-Since later than req->now (§13.1.3).
 * Date conditions are ignored when last_modified is 0. */
int http_conditional_eval(const struct http_request *req, const struct http_validators *v);

/* If-Range (RFC 9110 §13.1.5): true when a Range header should be honoured: no If-Range, or it
 * holds a strong ETag equal to v->etag, or an HTTP-date exactly equal to v->last_modified. */
bool http_if_range_allows(const struct http_request *req, const struct http_validators *v);

#endif
