/* The chunked transfer coding (RFC 9112 §7.1), both directions. The decoder is incremental and
 * works in place; trailer fields are validated and handed to a callback. */
#ifndef TERN_H1_CHUNKED_H
#define TERN_H1_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

struct h1_chunked_decoder {
    int state;
    uint64_t remaining;  /* data bytes left in the current chunk */
    size_t line_len;     /* bytes of the current size/ext/trailer line seen so far */
    size_t trailer_size; /* total trailer bytes seen */
    size_t max_line;     /* limit for a chunk-size line incl. extensions; default 4096 */
    size_t max_trailer;  /* limit for the trailer section; default 8192 */
    bool allow_bare_lf;
    /* trailer line being collected (fields are delivered whole); a trailer field line longer
     * than this buffer is an error */
    char line[1024];
    /* called for each trailer field (RFC 9112 §7.1.2) with name and OWS-trimmed value pointing
     * into line[]: valid only during the call. May be NULL. */
    void (*on_trailer)(void *ctx, str_t name, str_t value);
    void *ctx;
    const char *error; /* after H1_CHUNKED_ERROR: short reason for the error log */
};

enum h1_chunked_result {
    H1_CHUNKED_ERROR = -1, /* malformed: 400 and close */
    H1_CHUNKED_MORE = 0,   /* all input consumed, body not finished */
    H1_CHUNKED_DONE = 1,   /* last chunk and trailers seen; *consumed tells where it ended */
};

/* Zeroes the decoder and sets the default limits; set allow_bare_lf, on_trailer, ctx after. */
void h1_chunked_decoder_init(struct h1_chunked_decoder *d);
/* Decodes in[0..in_len): copies chunk data to out (out may equal in: decoding in place is
 * safe since output never overtakes input), sets *consumed and *out_len. out needs room for
 * in_len bytes. Chunk sizes of 2^63 or more, non-hex digits, whitespace not followed by an
 * extension, missing CRLF after data, bad extensions or trailer syntax (including obs-fold),
 * a size line over max_line and trailers over max_trailer are errors. Extensions are checked
 * and ignored. MORE consumes everything; after DONE or ERROR further calls return the same
 * result and consume nothing. */
enum h1_chunked_result h1_chunked_decode(struct h1_chunked_decoder *d, const char *in,
                                         size_t in_len, size_t *consumed, char *out,
                                         size_t *out_len);

/* Writes the chunk header "<hex>\r\n" for a chunk of len bytes; returns its length (<= 18). */
size_t h1_chunk_header(char out[20], size_t len);
/* The last-chunk with no trailers: "0\r\n\r\n". */
#define H1_CHUNKED_END "0\r\n\r\n"

#endif
