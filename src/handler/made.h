/* An answer whose body a handler made on the spot (metrics, the status page, connection info):
 * 200, the body copied into the request's pool, its type, and Cache-Control: no-store. */
#ifndef TERN_HANDLER_MADE_H
#define TERN_HANDLER_MADE_H

#include "core/buf.h"
#include "core/str.h"
#include "http/request.h"
#include "http/response.h"

/* Answers req with b's bytes as type (b is freed in any case). 0, or -1 when out of memory. */
int respond_made(const struct http_request *req, struct http_response *resp, struct buf *b,
                 str_t type);

#endif
