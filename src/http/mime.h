/* Content-Type by file extension. */
#ifndef TERN_HTTP_MIME_H
#define TERN_HTTP_MIME_H

#include <stdbool.h>
#include <stddef.h>

/* Media type for a file name (by its last extension, case-insensitive), with
 * "; charset=utf-8" for text types; "application/octet-stream" when unknown. */
const char *mime_type_for(const char *filename, size_t len);
/* True for types worth compressing on the fly (text, json, js, svg, xml, wasm...). */
bool mime_is_compressible(const char *content_type);
/* Self-check for tests: the extension table is strictly sorted (binary search needs it). */
bool mime_table_sorted(void);

#endif
