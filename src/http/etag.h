/* Entity tags (RFC 9110 §8.8.3) and their comparison (§8.8.3.2). */
#ifndef TERN_HTTP_ETAG_H
#define TERN_HTTP_ETAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/str.h"

#define HTTP_ETAG_MAX 64

/* Strong ETag for a file version, quoted, e.g. "\"5f3a-24e-1b2c\"": derived from mtime (ns),
 * size and inode so any change gives a new tag. Writes NUL-terminated; returns length. */
size_t http_etag_make(char out[HTTP_ETAG_MAX], int64_t mtime_ns, int64_t size, uint64_t ino);
/* Same, with a suffix for a content coding inside the quotes: coding "br" (or "-br") gives
 * "\"5f3a-24e-1b2c-br\"". NULL or "" is the plain tag; non-etagc bytes are dropped. */
size_t http_etag_make_coded(char out[HTTP_ETAG_MAX], int64_t mtime_ns, int64_t size, uint64_t ino,
                            const char *coding);

/* Strong comparison: both strong and identical opaque-tags. */
bool http_etag_strong_eq(str_t a, str_t b);
/* Weak comparison: opaque-tags identical, W/ ignored. */
bool http_etag_weak_eq(str_t a, str_t b);

/* Matches an If-Match / If-None-Match field value (a "*" or a list of entity-tags) against
 * etag, strongly or weakly. "*" returns true whatever etag is (the caller checks that a current
 * representation exists); an empty etag matches no list element. *malformed is set (and false
 * returned) when the value is neither "*" nor a valid #entity-tag list. */
bool http_etag_list_match(str_t field_value, str_t etag, bool weak, bool *malformed);

#endif
