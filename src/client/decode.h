/* Content decoding for the client (--compressed): gzip (and zlib's deflate), br and zstd,
 * streaming, the decoded bytes handed to a sink as they come. */
#ifndef TERN_CLIENT_DECODE_H
#define TERN_CLIENT_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

struct content_decoder;

/* A decoder for the Content-Encoding value (one coding: gzip, x-gzip, deflate, br, zstd), or
 * NULL when it is none of them (or out of memory: *unsupported says which). */
struct content_decoder *content_decoder_new(str_t coding, bool *unsupported);
/* Decodes in[0..len) and passes the output to sink. 0, or -1 on corrupt input (or when the
 * sink fails: *sink_failed). */
int content_decoder_feed(struct content_decoder *d, const char *in, size_t len,
                         int (*sink)(void *ctx, const char *p, size_t n), void *ctx,
                         bool *sink_failed);
/* True when the coded stream ended properly (a truncated body is not). */
bool content_decoder_done(const struct content_decoder *d);
void content_decoder_free(struct content_decoder *d);

#endif
