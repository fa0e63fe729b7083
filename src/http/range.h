/* Range requests (RFC 9110 §14). */
#ifndef TERN_HTTP_RANGE_H
#define TERN_HTTP_RANGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

struct http_range {
    uint64_t first; /* inclusive */
    uint64_t last;  /* inclusive, already clipped to size-1 */
};

enum http_range_result {
    HTTP_RANGE_IGNORE = 0,    /* not a bytes range / malformed: serve the whole 200 (§14.2) */
    HTTP_RANGE_OK = 1,        /* *count satisfiable ranges in out */
    HTTP_RANGE_UNSATISFIABLE, /* 416 with Content-Range: bytes * /size */
    HTTP_RANGE_TOO_MANY,      /* more than max ranges (or overlapping abuse): 416 too */
};

/* Parses a Range value against a representation of `size` bytes. Unsatisfiable elements are
 * dropped; satisfiable ones are kept in request order, up to max (then TOO_MANY). Overlapping
 * or adjacent ranges are coalesced when there are several (§14.3 lets a server do this): a
 * merged range takes the place of its earliest member, so the out ranges never overlap or
 * touch. The unit is case-insensitive; OWS is allowed around list commas (and after "=").
 * Any invalid range-spec (last < first, garbage, a number overflowing uint64, no element)
 * makes the whole field IGNORE. *count is 0 unless OK. */
enum http_range_result http_range_parse(str_t value, uint64_t size, struct http_range *out,
                                        size_t max, size_t *count);

#endif
