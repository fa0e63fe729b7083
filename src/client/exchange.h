/* What every client wire shares: the request the caller describes, the response as it arrives
 * (its head in HTTP/1.1 text form whatever the wire, so `-i` and `-v` print one format), the
 * sinks the head and body bytes go to, and a transfer: one request and its response on a
 * multiplexing wire (HTTP/2, HTTP/3), where many run at once on one connection. */
#ifndef TERN_CLIENT_EXCHANGE_H
#define TERN_CLIENT_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/transport.h"
#include "client/url.h"
#include "core/buf.h"
#include "h1/parser.h"

#define CLIENT_MAX_HEAD   65536
#define CLIENT_MAX_FIELDS 100

struct client_request {
    const char *method;
    const struct url *url;
    int version;                /* 10 or 11 for HTTP/1.x; the multiplexing wires ignore it */
    const char *const *headers; /* "Name: value" lines, replacing defaults of the same name */
    size_t n_headers;
    const char *body;  /* in memory, or */
    int body_fd;       /* a file (-1: none), read as it is sent */
    int64_t body_len;  /* -1: no body (unless body_stream) */
    bool body_stream;  /* body_fd is read to its end, its length unknown (`-T -`): chunked on
                          HTTP/1.1, DATA until END_STREAM on HTTP/2 and HTTP/3 */
    bool allow_http09; /* take a response without a status line as HTTP/0.9 (curl's --http0.9) */
    /* HTTP/1.1 only: ask for an h2c Upgrade (RFC 7540 §3.2) with this HTTP2-Settings value */
    const char *h2c_settings;
};

struct client_response {
    struct h1_response_head head; /* version 10, 11, 20 or 30; fields point into raw */
    struct h1_field fields[CLIENT_MAX_FIELDS];
    struct buf raw; /* the final response head as received (h1) or rebuilt as text (h2, h3) */
    int64_t body_bytes;
    int64_t t_first_byte; /* monotonic µs */
    bool keep_alive;
    struct buf rest; /* after a 101: the bytes that followed its head (the new protocol's) */
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

/* One request and its response on a multiplexing wire. The caller fills rq, rs (zeroed) and
 * sinks, submits it, and runs the connection until every transfer is done. */
struct client_transfer {
    const struct client_request *rq;
    struct client_response *rs;
    const struct client_sinks *sinks;
    bool done;             /* finished, well or not */
    unsigned attempts;     /* times it was sent (a stream the server refused goes again) */
    bool unprocessed;      /* HTTP/3: the server did not process it (GOAWAY below its stream,
                            * H3_REQUEST_REJECTED): it may go again on a new connection */
    struct client_error e; /* e.status != 0: this transfer failed (the others may not have) */
    void *wire;            /* the wire's stream while it runs */
};

static inline bool client_request_has_body(const struct client_request *rq)
{
    return rq->body_len >= 0 || rq->body_stream;
}

/* The value of a response field (first one, names compared case-insensitively), or NULL. */
const char *client_response_field(const struct client_response *rs, const char *name, size_t *len);

/* For the multiplexing wires: sets rs's head from a decoded field section (status, fields as
 * name/value pairs of n_fields): rs->raw becomes "HTTP/2 200\r\nname: value\r\n...\r\n" (as
 * curl prints it), rs->head and rs->fields point into it, content_length comes from the
 * content-length field. 0, or -1 on OOM or more than CLIENT_MAX_FIELDS fields. */
int client_response_set_head(struct client_response *rs, int version, int status,
                             const str_t *names, const str_t *values, size_t n_fields);

/* A request's field section for the multiplexing wires (RFC 9113 §8.2-8.3, RFC 9114 §4.2):
 * the pseudo-header values, then regular fields with lower-case names: User-Agent and Accept
 * by default, the caller's lines (a "Name:" line with no value removes a default, a Host line
 * becomes :authority), connection-specific fields dropped, content-length for a body. */
#define CLIENT_MAX_REQUEST_FIELDS 80
struct client_request_fields {
    str_t method, scheme, authority, path;
    str_t names[CLIENT_MAX_REQUEST_FIELDS], values[CLIENT_MAX_REQUEST_FIELDS];
    size_t n;
    struct buf text; /* the names and values live here; free with buf_free */
};
/* Fills f from rq. 0, or -1 (OOM, too many fields, a line without a colon). */
int client_request_fields(const struct client_request *rq, struct client_request_fields *f);
/* The section as text for -v ("GET /path HTTP/2\r\nhost: ...\r\n\r\n"), appended to out. */
int client_request_fields_text(const struct client_request_fields *f, const char *version,
                               struct buf *out);

#endif
