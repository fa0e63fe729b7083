/* Request path normalization for mapping to files (RFC 3986 §5.2.4, §6.2.2). */
#ifndef TERN_HTTP_PATH_H
#define TERN_HTTP_PATH_H

#include <stddef.h>

/* Percent-decodes then removes dot-segments and merges repeated slashes in an origin-form path
 * (without query). Refuses (returns -1): not starting with '/', malformed %XX, an encoded or
 * raw NUL, an encoded slash (%2F) or backslash, control characters, '..' that would climb
 * above '/'. On success writes a NUL-terminated path starting with '/' into out (cap bytes)
 * and returns its length (-1 too when it does not fit). A trailing slash is kept. */
long http_path_normalize(const char *in, size_t len, char *out, size_t cap);

/* Percent-encodes a path for use in HTML/Location (keeps unreserved and '/'), NUL-terminated.
 * Returns length or -1 if cap is too small. */
long http_path_encode(const char *in, size_t len, char *out, size_t cap);

#endif
