/* multipart/byteranges bodies for 206 responses with several ranges (RFC 9110 §14.6). */
#ifndef TERN_HANDLER_MULTIPART_H
#define TERN_HANDLER_MULTIPART_H

#include <stdint.h>

#include "core/pool.h"
#include "http/body.h"
#include "http/range.h"

struct multipart {
    struct body_source *body; /* part headers as memory chunks, data as file chunks */
    int64_t length;           /* exact body length, for Content-Length */
    const char *content_type; /* "multipart/byteranges; boundary=..." */
};

/* Where a representation's bytes are: in memory at mem, or else in fd from offset on (the fd
 * is not owned). */
struct multipart_data {
    const char *mem;
    int fd;
    uint64_t offset;
};

/* Builds the body over ranges of d (a representation of size bytes and type ctype), with the
 * given boundary (1..70 bchars). Returns 0 or -1 on OOM. */
int multipart_build_from(struct pool *pool, const struct multipart_data *d, uint64_t size,
                         const char *ctype, const char *boundary, const struct http_range *ranges,
                         size_t count, struct multipart *out);
/* The same over fd from its start. */
int multipart_build(struct pool *pool, int fd, uint64_t size, const char *ctype,
                    const char *boundary, const struct http_range *ranges, size_t count,
                    struct multipart *out);

#endif
