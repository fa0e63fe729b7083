/* One HTTP/1.x exchange on a client transport: the request head (and a body from memory or a
 * file, sent as it is read), then the response with the shared h1 parser in its response role:
 * interim 1xx responses skipped, the body de-chunked, counted against its length or read to
 * the end of the stream. Bounded: 64 KiB of head, 100 fields, the transport's deadline. */
#ifndef TERN_CLIENT_H1_EXCHANGE_H
#define TERN_CLIENT_H1_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/transport.h"
#include "core/buf.h"
#include "h1/parser.h"

#define CLIENT_MAX_HEAD   65536
#define CLIENT_MAX_FIELDS 100

struct client_request {
    const char *method;
    const struct url *url;
    int version;                /* 10 or 11 */
    const char *const *headers; /* "Name: value" lines, replacing defaults of the same name */
    size_t n_headers;
    const char *body; /* in memory, or */
    int body_fd;      /* a file (-1: none), read as it is sent */
    int64_t body_len; /* -1: no body */
};

struct client_response {
    struct h1_response_head head;
    struct h1_field fields[CLIENT_MAX_FIELDS];
    struct buf raw; /* the final response head as received (for -i, -v) */
    int64_t body_bytes;
    int64_t t_first_byte; /* monotonic µs */
    bool keep_alive;
};

/* Called with each response head (interim ones too; rs->head is parsed, and for the final one
 * rs->raw holds it) and with body bytes; return -1 to stop with CLIENT_WRITE. */
struct client_sinks {
    int (*head)(void *ctx, const struct client_response *rs, const char *raw, size_t len,
                bool interim);
    int (*body)(void *ctx, const char *data, size_t len);
    void (*request_head)(void *ctx, const char *raw, size_t len); /* may be NULL (-v) */
    void *ctx;
};

/* Runs the exchange. 0 (the response is in rs; free rs->raw) or -1 with *e. */
int h1_client_exchange(struct transport_conn *c, const struct client_request *rq,
                       struct client_response *rs, const struct client_sinks *sinks,
                       struct client_error *e);
/* The value of a response field (first one), or NULL. */
const char *client_response_field(const struct client_response *rs, const char *name, size_t *len);

#endif
