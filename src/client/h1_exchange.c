#include "client/h1_exchange.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "h1/chunked.h"

#define READ_SIZE 65536

static bool has_header(const struct client_request *rq, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < rq->n_headers; i++)
        if (strncasecmp(rq->headers[i], name, n) == 0 && rq->headers[i][n] == ':') return true;
    return false;
}

static int build_head(const struct client_request *rq, struct buf *b)
{
    char auth[300];
    url_authority(rq->url, auth, sizeof(auth));
    int rc = buf_appendf(b, "%s %s HTTP/1.%d\r\n", rq->method, rq->url->target,
                         rq->version == 10 ? 0 : 1);
    if (!has_header(rq, "host")) rc |= buf_appendf(b, "Host: %s\r\n", auth);
    if (!has_header(rq, "user-agent"))
        rc |= buf_appendf(b, "User-Agent: tern/%s\r\n", TERN_VERSION);
    if (!has_header(rq, "accept")) rc |= buf_appendf(b, "Accept: */*\r\n");
    for (size_t i = 0; i < rq->n_headers; i++) {
        const char *colon = strchr(rq->headers[i], ':');
        const char *v = colon ? colon + 1 : "";
        while (*v == ' ')
            v++;
        if (colon && *v == 0) continue; /* "Name:" removes a default (curl) */
        rc |= buf_appendf(b, "%s\r\n", rq->headers[i]);
    }
    if (rq->h2c_settings)
        rc |= buf_appendf(b,
                          "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                          "HTTP2-Settings: %s\r\n",
                          rq->h2c_settings);
    if (rq->body_stream)
        rc |= buf_appendf(b, "Transfer-Encoding: chunked\r\n"); /* RFC 9112 §7.1 */
    else if (rq->body_len >= 0 && !has_header(rq, "content-length"))
        rc |= buf_appendf(b, "Content-Length: %lld\r\n", (long long)rq->body_len);
    rc |= buf_append(b, "\r\n", 2);
    return rc < 0 ? -1 : 0;
}

/* A body of unknown length, read to its end, in chunks (RFC 9112 §7.1). */
static int send_chunked(struct transport_conn *c, const struct client_request *rq,
                        struct client_error *e)
{
    char chunk[16 + 65536 + 2];
    for (;;) {
        ssize_t n = read(rq->body_fd, chunk + 16, 65536);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            return client_fail(e, CLIENT_SEND, "reading the request body: %s", strerror(errno));
        if (n == 0) return transport_write(c, "0\r\n\r\n", 5, e);
        char size[16];
        int h = snprintf(size, sizeof(size), "%zx\r\n", (size_t)n);
        memcpy(chunk + 16 - h, size, (size_t)h);
        memcpy(chunk + 16 + n, "\r\n", 2);
        if (transport_write(c, chunk + 16 - h, (size_t)h + (size_t)n + 2, e) < 0) return -1;
    }
}

static int send_body(struct transport_conn *c, const struct client_request *rq,
                     struct client_error *e)
{
    if (rq->body_stream) return send_chunked(c, rq, e);
    if (rq->body_len <= 0) return 0;
    if (rq->body) return transport_write(c, rq->body, (size_t)rq->body_len, e);
    char chunk[65536];
    int64_t left = rq->body_len;
    while (left > 0) {
        ssize_t n =
            read(rq->body_fd, chunk, left < (int64_t)sizeof(chunk) ? (size_t)left : sizeof(chunk));
        if (n <= 0)
            return client_fail(e, CLIENT_SEND, "reading the request body: %s",
                               n ? strerror(errno) : "file shrank");
        if (transport_write(c, chunk, (size_t)n, e) < 0) return -1;
        left -= n;
    }
    return 0;
}

/* Reads more bytes into in (up to its room); -1 with *e, 0 at the end of the stream. */
static ssize_t fill(struct transport_conn *c, struct buf *in, size_t want, struct client_error *e)
{
    if (buf_reserve(in, want) < 0) return client_fail(e, CLIENT_RECV, "out of memory");
    ssize_t n = transport_read(c, buf_tail(in), want, e);
    if (n > 0) buf_commit(in, (size_t)n);
    return n;
}

/* A response that does not start with "HTTP/" has no head at all: HTTP/0.9's (RFC 1945 §3.1,
 * only its body, to the end of the connection). Decided once 5 bytes (or the end) are in. */
static bool is_http09(const struct buf *in)
{
    size_t n = buf_size(in) < 5 ? buf_size(in) : 5;
    return memcmp(buf_ptr(in), "HTTP/", n) != 0;
}

/* 0 with the final head in rs, 9 for an HTTP/0.9 response (allowed), or -1 with *e. */
static int read_head(struct transport_conn *c, struct buf *in, const struct client_request *rq,
                     struct client_response *rs, const struct client_sinks *sinks,
                     struct client_error *e)
{
    static const struct h1_parse_options opts = {.max_request_line = 8192,
                                                 .max_head_size = CLIENT_MAX_HEAD,
                                                 .max_fields = CLIENT_MAX_FIELDS};
    for (;;) {
        struct h1_parser p = {0};
        struct h1_error err;
        rs->head.fields = rs->fields;
        int rc;
        while ((rc = buf_size(in) && is_http09(in)
                         ? -9
                         : h1_parse_response_head(&p, buf_ptr(in), buf_size(in), &opts, &rs->head,
                                                  &err)) == 0) {
            ssize_t n = fill(c, in, READ_SIZE, e);
            if (n < 0) return -1;
            if (!rs->t_first_byte) rs->t_first_byte = client_now_us();
            if (n == 0)
                return client_fail(e, buf_size(in) ? CLIENT_WEIRD_REPLY : CLIENT_RECV,
                                   buf_size(in) ? "the server closed inside the response head"
                                                : "empty reply from server");
        }
        if (rc == -9) {
            if (!rq->allow_http09)
                return client_fail(e, CLIENT_UNSUPPORTED, "Received HTTP/0.9 when not allowed");
            memset(&rs->head, 0, sizeof(rs->head));
            rs->head.version = 9;
            rs->head.status = 200; /* as curl reports it */
            rs->head.content_length = -1;
            rs->head.fields = rs->fields;
            return 9;
        }
        if (rc < 0)
            return client_fail(e, CLIENT_WEIRD_REPLY, "bad response from server: %s", err.reason);
        bool interim = rs->head.status < 200 && rs->head.status != 101;
        if (interim && sinks->head &&
            sinks->head(sinks->ctx, rs, buf_ptr(in), (size_t)rc, true) < 0)
            return client_fail(e, CLIENT_WRITE, "failed writing the response head");
        if (!interim) {
            buf_clear(&rs->raw);
            if (buf_append(&rs->raw, buf_ptr(in), (size_t)rc) < 0)
                return client_fail(e, CLIENT_RECV, "out of memory");
            /* the fields point into in: re-point them into raw, which stays */
            ptrdiff_t shift = buf_ptr(&rs->raw) - buf_ptr(in);
            for (size_t i = 0; i < rs->head.n_fields; i++) {
                rs->fields[i].name.p += shift;
                rs->fields[i].value.p += shift;
            }
            rs->head.reason.p += shift;
            buf_consume(in, (size_t)rc);
            (void)rq;
            if (sinks->head &&
                sinks->head(sinks->ctx, rs, buf_ptr(&rs->raw), buf_size(&rs->raw), false) < 0)
                return client_fail(e, CLIENT_WRITE, "failed writing the response head");
            return 0;
        }
        buf_consume(in, (size_t)rc); /* 100 Continue, 103 Early Hints: the final one follows */
    }
}

static int deliver(const struct client_sinks *sinks, struct client_response *rs, const char *p,
                   size_t n, struct client_error *e)
{
    if (!n) return 0;
    rs->body_bytes += (int64_t)n;
    if (sinks->body && sinks->body(sinks->ctx, p, n) < 0)
        return client_fail(e, CLIENT_WRITE, "failed writing the body");
    return 0;
}

static int read_body(struct transport_conn *c, struct buf *in, enum h1_body_kind kind,
                     struct client_response *rs, const struct client_sinks *sinks,
                     struct client_error *e)
{
    struct h1_chunked_decoder dec;
    h1_chunked_decoder_init(&dec);
    int64_t left = rs->head.content_length;
    for (;;) {
        size_t n = buf_size(in);
        char *p = buf_ptr(in);
        if (kind == H1_BODY_LENGTH) {
            size_t take = (int64_t)n < left ? n : (size_t)left;
            if (deliver(sinks, rs, p, take, e) < 0) return -1;
            left -= (int64_t)take;
            buf_consume(in, take);
            if (left == 0) return 0;
        } else if (kind == H1_BODY_CHUNKED) {
            size_t used = 0, out = 0;
            enum h1_chunked_result r = h1_chunked_decode(&dec, p, n, &used, p, &out);
            if (r == H1_CHUNKED_ERROR)
                return client_fail(e, CLIENT_RECV, "bad chunked encoding: %s", dec.error);
            if (deliver(sinks, rs, p, out, e) < 0) return -1;
            buf_consume(in, used);
            if (r == H1_CHUNKED_DONE) return 0;
        } else {
            if (deliver(sinks, rs, p, n, e) < 0) return -1;
            buf_consume(in, n);
        }
        buf_compact(in);
        ssize_t got = fill(c, in, READ_SIZE, e);
        if (got < 0) return -1;
        if (got == 0) {
            if (kind == H1_BODY_CLOSE) return 0;
            if (kind == H1_BODY_LENGTH)
                return client_fail(e, CLIENT_PARTIAL, "transfer closed with %lld bytes remaining",
                                   (long long)left);
            return client_fail(e, CLIENT_PARTIAL, "transfer closed inside the chunked body");
        }
    }
}

int h1_client_exchange(struct transport_conn *c, const struct client_request *rq,
                       struct client_response *rs, const struct client_sinks *sinks,
                       struct client_error *e)
{
    struct buf out = {0}, in = {0};
    int rc = -1;
    if (rq->body_stream && rq->version == 10) {
        client_fail(e, CLIENT_SEND, "a body of unknown length needs HTTP/1.1 (chunked)");
        goto done;
    }
    if (build_head(rq, &out) < 0) {
        client_fail(e, CLIENT_SEND, "out of memory");
        goto done;
    }
    if (sinks->request_head) sinks->request_head(sinks->ctx, buf_ptr(&out), buf_size(&out));
    if (transport_write(c, buf_ptr(&out), buf_size(&out), e) < 0 || send_body(c, rq, e) < 0)
        goto done;
    int head = read_head(c, &in, rq, rs, sinks, e);
    if (head < 0) goto done;
    if (head == 9) { /* HTTP/0.9: the body is all there is, to the end */
        rs->keep_alive = false;
        rc = read_body(c, &in, H1_BODY_CLOSE, rs, sinks, e) < 0 ? -1 : 0;
        goto done;
    }
    if (rs->head.status == 101 && rq->h2c_settings) {
        /* switched: what followed the head is the server's HTTP/2 */
        if (buf_append(&rs->rest, buf_ptr(&in), buf_size(&in)) < 0) {
            client_fail(e, CLIENT_RECV, "out of memory");
            goto done;
        }
        rc = 0;
        goto done;
    }
    bool head_req = strcmp(rq->method, "HEAD") == 0;
    bool connect_req = strcmp(rq->method, "CONNECT") == 0;
    enum h1_body_kind kind = h1_response_body(&rs->head, head_req, connect_req);
    rs->keep_alive = rs->head.keep_alive && kind != H1_BODY_CLOSE;
    if (kind != H1_BODY_NONE && read_body(c, &in, kind, rs, sinks, e) < 0) goto done;
    rc = 0;
done:
    buf_free(&out);
    buf_free(&in);
    return rc;
}
