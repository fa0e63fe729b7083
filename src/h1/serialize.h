/* HTTP/1.1 response head serialization. */
#ifndef TERN_H1_SERIALIZE_H
#define TERN_H1_SERIALIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/response.h"

enum h1_framing {
    H1_FRAMING_NONE,    /* no body and no length field (1xx, 204, 304) */
    H1_FRAMING_LENGTH,  /* Content-Length: length */
    H1_FRAMING_CHUNKED, /* Transfer-Encoding: chunked */
    H1_FRAMING_CLOSE,   /* body delimited by closing the connection */
};

/* Appends the status line, Server, Date, resp->headers, the framing field and the connection
 * field (keep_alive with HTTP/1.0 gives "Connection: keep-alive"; !keep_alive with 1.1 gives
 * "Connection: close"). Returns 0 or -1 on OOM. */
int h1_serialize_head(struct buf *out, const struct http_response *resp, const char *date,
                      enum h1_framing framing, int64_t length, int request_version,
                      bool keep_alive);

/* The canonical capitalization of an interned header name ("Content-Type", "ETag"). */
const char *h1_canonical_name(enum http_token token);

#endif
