/* Content-coding negotiation from Accept-Encoding (RFC 9110 §12.5.3). */
#ifndef TERN_HTTP_NEGOTIATE_H
#define TERN_HTTP_NEGOTIATE_H

#include "core/str.h"

enum http_coding {
    HTTP_CODING_IDENTITY = 0,
    HTTP_CODING_GZIP = 1 << 0,
    HTTP_CODING_BR = 1 << 1,
    HTTP_CODING_ZSTD = 1 << 2,
};

/* Token used in Content-Encoding ("gzip", "br", "zstd") or "" for identity. */
const char *http_coding_name(enum http_coding c);
/* File suffix of a precompressed sibling (".gz", ".br", ".zst"), "" for identity. */
const char *http_coding_suffix(enum http_coding c);

/* Picks the best coding among `available` (a mask; identity is always available unless the
 * header forbids it) for an Accept-Encoding value. present=0 means no header: identity.
 * q-values decide; ties prefer br, then zstd, then gzip, then identity. "*" covers codings
 * not listed; q=0 forbids. Returns the coding, or -1 when nothing acceptable remains
 * (identity explicitly refused: the caller may send 415 or identity anyway per §12.5.3). */
int http_negotiate_coding(str_t accept_encoding, int present, unsigned available);

#endif
