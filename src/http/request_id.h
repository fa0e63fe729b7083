/* Request ids: a value that names one request in the access log, in a response field and in the
 * request the proxy sends upstream, so that one request can be followed through. Either the
 * id a client (or a proxy in front) sent in the configured field, when it is acceptable, or one
 * made here: the worker's 64-bit random prefix and its count of requests, as 32 hex digits,
 * unique across workers and restarts without a system call or an allocation per request. */
#ifndef TERN_HTTP_REQUEST_ID_H
#define TERN_HTTP_REQUEST_ID_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"
#include "http/request.h"

#define REQUEST_ID_MAX 64 /* longest id taken from a request field */

/* An id from a request field is taken when it is 1..REQUEST_ID_MAX token characters (RFC 9110
 * §5.6.2 tchar: visible ASCII without separators), so that it is safe in logs, in a response
 * field and in a header sent upstream. */
bool request_id_acceptable(str_t v);

/* Writes req's id NUL-terminated into out (REQUEST_ID_MAX + 1 bytes) and returns its length:
 * id_given when set, else the 32 hex digits of id_prefix and id_seq; 0 (an empty string) when
 * the request has neither. */
size_t request_id_format(const struct http_request *req, char *out);
/* The 32 hex digits of a made id, NUL-terminated into out (33 bytes); returns 32. */
size_t request_id_make(uint64_t prefix, uint64_t seq, char *out);

#endif
