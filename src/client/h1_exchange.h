/* One HTTP/1.x exchange on a client transport: the request head (and a body from memory or a
 * file, sent as it is read), then the response with the shared h1 parser in its response role:
 * interim 1xx responses skipped, the body de-chunked, counted against its length or read to
 * the end of the stream. Bounded: 64 KiB of head, 100 fields, the transport's deadline. */
#ifndef TERN_CLIENT_H1_EXCHANGE_H
#define TERN_CLIENT_H1_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/exchange.h"
#include "client/transport.h"
#include "core/buf.h"
#include "h1/parser.h"

/* Runs the exchange. 0 (the response is in rs; free rs->raw) or -1 with *e. */
int h1_client_exchange(struct transport_conn *c, const struct client_request *rq,
                       struct client_response *rs, const struct client_sinks *sinks,
                       struct client_error *e);

#endif
