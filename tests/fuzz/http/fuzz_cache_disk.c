/* Fuzzes the disk store's entry parser (http/cache_disk.h): the input is a file's prefix and
 * header. Whatever decodes must encode to the same bytes again (the format has one spelling),
 * with fields and a key that stay within what was read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "http/cache_disk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t head_len;
    uint64_t body_len;
    char prefix[CACHE_DISK_PREFIX];
    if (size < CACHE_DISK_PREFIX) return 0;
    memcpy(prefix, p, sizeof(prefix));
    if (cache_disk_parse_prefix(prefix, sizeof(prefix), &head_len, &body_len) < 0) {
        /* let most inputs reach the decoder: a prefix that fits the rest, checksum and all */
        head_len = size - CACHE_DISK_PREFIX;
        char fixed[CACHE_DISK_PREFIX] = {'T', 'E', 'R', 'N', 'C', 'E', '0', '1'};
        for (int i = 0; i < 4; i++)
            fixed[8 + i] = (char)(head_len >> (8 * i));
        uint64_t h = hash_fnv1a(p + CACHE_DISK_PREFIX, head_len);
        for (int i = 0; i < 8; i++)
            fixed[24 + i] = (char)(h >> (8 * i));
        memcpy(prefix, fixed, sizeof(prefix));
    }
    if (head_len > size - CACHE_DISK_PREFIX) return 0;
    struct cache_entry *e = cache_entry_new();
    if (!e) return 0;
    if (cache_disk_decode(e, prefix, p + CACHE_DISK_PREFIX, head_len) == 0) {
        if (e->key_len == 0 || e->status < 100 || e->status > 999) abort();
        struct buf b = {0};
        if (cache_disk_encode(&b, e) == 0) {
            if (buf_size(&b) != CACHE_DISK_PREFIX + head_len ||
                memcmp(buf_ptr(&b) + CACHE_DISK_PREFIX, p + CACHE_DISK_PREFIX, head_len) != 0)
                abort();
        }
        buf_free(&b);
    }
    cache_entry_release(e);
    return 0;
}
