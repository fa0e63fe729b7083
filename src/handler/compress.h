/* On-the-fly content codings for the static handler (RFC 9110 §8.4.1): gzip (zlib with the
 * gzip wrapper), br (libbrotlienc) and zstd (libzstd), whole-file or streamed. */
#ifndef TERN_HANDLER_COMPRESS_H
#define TERN_HANDLER_COMPRESS_H

#include <stddef.h>
#include <sys/types.h>

#include "core/pool.h"
#include "http/body.h"
#include "server/config.h"

/* Compresses the first size bytes of fd with coding (HTTP_CODING_GZIP/BR/ZSTD) into a malloc'd
 * buffer (*out, *out_len). Returns 0, or -1 on a read or codec error. */
int compress_file(const struct config_compression *cc, int coding, int fd, size_t size, char **out,
                  size_t *out_len);

/* A body source that preads [0, size) of fd and yields compressed memory chunks. Codec state is
 * freed by close(), or at the latest when pool is reset. The fd is not owned. NULL on error. */
struct body_source *compress_source(struct pool *pool, const struct config_compression *cc,
                                    int coding, int fd, size_t size);

#endif
