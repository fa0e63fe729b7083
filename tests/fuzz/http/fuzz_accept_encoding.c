/* Fuzzes http_negotiate_coding: the first byte is the available mask, the rest the header. The
 * result is -1, identity, or one available coding; "identity" alone or nothing always gives
 * identity. */
#include <stdint.h>
#include <stdlib.h>

#include "http/negotiate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned avail = data[0] & (HTTP_CODING_GZIP | HTTP_CODING_BR | HTTP_CODING_ZSTD);
    str_t v = str_make((const char *)data + 1, size - 1);
    int c = http_negotiate_coding(v, 1, avail);
    if (c != -1 && c != HTTP_CODING_IDENTITY && !(c & (int)avail)) abort();
    if (c != -1 && c != HTTP_CODING_IDENTITY && (c & (c - 1))) abort(); /* exactly one coding */
    if (c > 0 && http_coding_name(c)[0] == '\0') abort();
    if (http_negotiate_coding(v, 0, avail) != HTTP_CODING_IDENTITY) abort();
    if (http_negotiate_coding(v, 1, avail) != c) abort();
    /* with nothing available, only identity or -1 */
    int none = http_negotiate_coding(v, 1, 0);
    if (none != -1 && none != HTTP_CODING_IDENTITY) abort();
    return 0;
}
