/* Writing JSON text (RFC 8259) into a buf: quoted, escaped strings. */
#ifndef TERN_CORE_JSON_H
#define TERN_CORE_JSON_H

#include <stddef.h>

#include "core/buf.h"

/* Appends s (len bytes) as a JSON string with its quotes: '"' and '\\' escaped, control
 * characters as \n, \r, \t or \u00XX, DEL as \u007f, and every byte that is not part of a
 * well-formed UTF-8 sequence as \ufffd, so the output is valid JSON whatever the input.
 * Returns 0 or -1 (out of memory). */
int json_append_string(struct buf *b, const char *s, size_t len);
/* As json_append_string for a C string, or the literal null when s is NULL. */
int json_append_cstr_or_null(struct buf *b, const char *s);

#endif
