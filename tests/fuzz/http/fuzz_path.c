/* Fuzzes http_path_normalize: the output is a clean absolute path (no dot segments, no "//",
 * no NUL or backslash or control byte), normalization is idempotent, and encode round-trips. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char out[4097], again[4097], enc[3 * 4096 + 1];
    long n = http_path_normalize((const char *)data, size, out, sizeof out);
    if (n < 0) return 0;
    if (n == 0 || out[0] != '/' || out[n] != '\0' || (size_t)n > size) abort();
    for (long i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c < 0x20 || c == 0x7f || c == '\\') abort();
    }
    if (strstr(out, "/../") || strstr(out, "/./") || strstr(out, "//")) abort();
    if ((n >= 3 && memcmp(out + n - 3, "/..", 3) == 0) ||
        (n >= 2 && memcmp(out + n - 2, "/.", 2) == 0))
        abort();
    /* the output contains no '%': normalizing it again is the identity only without '%' */
    if (!memchr(out, '%', (size_t)n)) {
        long m = http_path_normalize(out, (size_t)n, again, sizeof again);
        if (m != n || memcmp(out, again, (size_t)n) != 0) abort();
    }
    long e = http_path_encode(out, (size_t)n, enc, sizeof enc);
    if (e < 0) abort();
    long m = http_path_normalize(enc, (size_t)e, again, sizeof again);
    if (m != n || memcmp(out, again, (size_t)n) != 0) abort();
    return 0;
}
