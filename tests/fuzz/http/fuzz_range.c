/* Fuzzes http_range_parse: the first 8 bytes give the representation size, the rest is the
 * Range value. Every returned range lies within the size with first <= last, and several ranges
 * never overlap or touch (they were coalesced). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RANGES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8) return 0;
    uint64_t len = 0;
    for (int i = 0; i < 8; i++)
        len = len << 8 | data[i];
    /* small sizes are more interesting most of the time */
    if (data[0] < 0xf0) len %= 100000;
    str_t value = str_make((const char *)data + 8, size - 8);
    struct http_range r[MAX_RANGES];
    size_t n = 99;
    enum http_range_result res = http_range_parse(value, len, r, MAX_RANGES, &n);
    if (res != HTTP_RANGE_OK) {
        if (n != 0) abort();
        if (res != HTTP_RANGE_IGNORE && res != HTTP_RANGE_UNSATISFIABLE &&
            res != HTTP_RANGE_TOO_MANY)
            abort();
        return 0;
    }
    if (n == 0 || n > MAX_RANGES || len == 0) abort();
    for (size_t i = 0; i < n; i++) {
        if (r[i].first > r[i].last || r[i].last >= len) abort();
        for (size_t j = i + 1; j < n; j++)
            if (r[i].first <= r[j].last + 1 && r[j].first <= r[i].last + 1)
                abort(); /* overlapping or adjacent ranges must have been coalesced */
    }
    /* the parse is deterministic */
    struct http_range r2[MAX_RANGES];
    size_t n2;
    if (http_range_parse(value, len, r2, MAX_RANGES, &n2) != res || n2 != n ||
        memcmp(r, r2, n * sizeof(r[0])) != 0)
        abort();
    return 0;
}
