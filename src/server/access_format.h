/* The access log's JSON lines and custom formats (server/log_format.h); Combined stays in
 * access_log.c. Both append one line, newline included, to a worker's batch. */
#ifndef TERN_SERVER_ACCESS_FORMAT_H
#define TERN_SERVER_ACCESS_FORMAT_H

#include "core/buf.h"
#include "http/request.h"
#include "http/response.h"
#include "server/log_format.h"

struct worker;

/* One JSON object a line (RFC 8259), every field always there, null when it has no value:
 * time, remote_addr, remote_user, method, target, version, status, bytes, duration_us,
 * request_id, tls_version, tls_cipher, sni, alpn, user_agent, referer, host, cache_status.
 * Strings escaped by core/json.h (controls as \u00XX, bytes outside UTF-8 as \ufffd).
 * 0, or -1 when out of memory (the caller takes the part written back). */
int access_format_json(struct buf *b, struct worker *wk, const struct http_request *req,
                       const struct http_response *resp);

/* A line of the compiled format f: values as in Combined (", \ and bytes outside printable
 * ASCII as \xHH), "-" for one that is missing. 0, or -1 when out of memory. */
int access_format_custom(struct buf *b, const struct log_format *f, struct worker *wk,
                         const struct http_request *req, const struct http_response *resp);

#endif
