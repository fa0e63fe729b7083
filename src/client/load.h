/* The load generator behind `tern bench`: threads, each with its own event loop (src/core/loop)
 * and its share of the connections, sending HTTP/1.1 requests (pipelined up to a depth) and
 * reading responses with the shared h1 parser, or HTTP/2 requests (streams up to a depth) on
 * the h2 session engine in its client role, or HTTP/3 requests (streams up to a depth) on the
 * h3 session engine over tern's QUIC client (load_h3.c). Closed loop (each connection sends when a
 * slot frees, like h2load and wrk) or open loop at a fixed rate (like wrk2: latency is measured
 * from when a request was due, so a slow server cannot hide its queueing). */
#ifndef TERN_CLIENT_LOAD_H
#define TERN_CLIENT_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "client/histogram.h"
#include "client/url.h"

struct tls_client;

struct load_params {
    const struct url *url;
    struct tls_client *tls; /* for https */
    const char *const *headers;
    int n_headers;
    uint64_t requests; /* total (0: use duration_s) */
    double duration_s; /* when requests is 0 */
    int connections;   /* in all */
    int depth;         /* requests in flight per connection (HTTP/1.1 pipelining, h2 streams) */
    bool http2;        /* HTTP/2 (ALPN h2 on TLS, prior knowledge on cleartext) */
    bool http3;        /* HTTP/3 over QUIC (https only; UDP to the URL's port) */
    bool insecure;     /* HTTP/3: no certificate check (-k; tls holds TCP's choice) */
    int threads;
    double rate;      /* requests per second in all (0: closed loop) */
    bool reconnect;   /* a new connection for every request */
    double timeout_s; /* a connection silent for this long fails its requests */
};

struct load_result {
    uint64_t started, done, succeeded, failed, errored, timeouts;
    uint64_t retried;   /* sent again after a kept-alive connection closed under them */
    uint64_t status[6]; /* by class: [1]=1xx ... [5]=5xx */
    uint64_t bytes_total, bytes_head, bytes_body;
    /* bytes_head is what came over the wire (HTTP/2: the HPACK-coded field blocks, as
     * h2load counts them); this is the fields decoded, for its "space savings" */
    uint64_t bytes_head_decoded;
    uint64_t connects, connect_errors;
    double seconds;           /* from the first connect to the last response */
    struct histogram latency; /* µs, request due/sent to response complete */
    struct histogram connect; /* µs, TCP connect (and TLS handshake), or QUIC handshake */
    struct histogram ttfb;    /* µs, request sent to the first response byte */
};

/* Runs the load and fills r. 0, or -1 when it could not start (message in err). */
int load_run(const struct load_params *p, struct load_result *r, char *err, size_t errlen);

#endif
