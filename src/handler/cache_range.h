/* Range requests answered from a stored response (RFC 9111 §3.4 lets a cache serve ranges of
 * a complete stored response; RFC 9110 §14): a GET with Range on a stored 200, when If-Range
 * allows it, gets 206 with one range or multipart/byteranges, or 416 when none is
 * satisfiable; a Range that is not for bytes or is malformed is ignored (the whole 200). */
#ifndef TERN_HANDLER_CACHE_RANGE_H
#define TERN_HANDLER_CACHE_RANGE_H

#include <stddef.h>

#include "handler/multipart.h"
#include "http/conditional.h"
#include "http/cache_store.h"
#include "http/request.h"
#include "http/response.h"

/* The validators of a stored response (its ETag, its Last-Modified as a time). */
void cache_entry_validators(const struct cache_entry *e, struct http_validators *v);

/* resp holds e's 200 (fields and the whole body); data says where e's body bytes are. Turns it
 * into the 206 or 416 req's Range asks for, at most max_ranges ranges. 0 (perhaps unchanged),
 * or -1 on OOM (resp then unusable). */
int cache_range_apply(struct http_request *req, struct http_response *resp,
                      const struct cache_entry *e, const struct multipart_data *data,
                      size_t max_ranges);

#endif
