/* HTTP/2 on a client transport: the session engine (src/h2/session.c) in its client role,
 * driven over a connected transport (TLS after ALPN "h2", or cleartext with prior knowledge).
 * Transfers submitted to it run at once on the one connection, as many as the server's stream
 * limit allows, the rest queued; each reports its own result. */
#ifndef TERN_CLIENT_H2_CLIENT_H
#define TERN_CLIENT_H2_CLIENT_H

#include "client/exchange.h"
#include "client/transport.h"

struct h2_client;

/* Starts HTTP/2 on c (which stays the caller's: close it after h2_client_free). NULL on OOM. */
struct h2_client *h2_client_new(struct transport_conn *c, struct client_error *e);
/* Queues a transfer (t->rq, t->rs zeroed, t->sinks set); it starts when a stream is free. */
void h2_client_submit(struct h2_client *hc, struct client_transfer *t);
/* Runs until every submitted transfer is done (t->done; t->e.status for a failed one). -1 with
 * *e when the connection itself failed (its unfinished transfers fail with the same error). */
int h2_client_run(struct h2_client *hc, struct client_error *e);
/* Says goodbye (GOAWAY) and frees the session. */
void h2_client_free(struct h2_client *hc);

/* h2c Upgrade (RFC 7540 §3.2): the HTTP2-Settings value for the HTTP/1.1 request (base64url
 * of the SETTINGS this client opens with), written to out. */
void h2_client_upgrade_settings(struct h2_client *hc, char *out, size_t cap);
/* After the server's 101: t's request (sent over HTTP/1.1) is stream 1, its response arrives
 * over HTTP/2; rest holds the bytes that followed the 101. Runs until t is done (as
 * h2_client_run). */
int h2_client_run_upgraded(struct h2_client *hc, struct client_transfer *t, const char *rest,
                           size_t n, struct client_error *e);

/* One request on a fresh HTTP/2 connection: submit, run, free. 0 or -1 with *e. */
int h2_client_exchange(struct transport_conn *c, const struct client_request *rq,
                       struct client_response *rs, const struct client_sinks *sinks,
                       struct client_error *e);

#endif
