/* libFuzzer target for the HPACK decoder. Byte 0 picks the table size setting, byte 1 the
 * SETTINGS_MAX_HEADER_LIST_SIZE (small, so the limit is hit often); the rest is a sequence of
 * header blocks, each prefixed by its length in one byte, decoded on one connection. Checks:
 * emitted sizes stay within the limit, strings are NUL-terminated and readable after the input is
 * gone, tokens match names, the table respects its size, the pool stays bounded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h2/hpack.h"
#include "h2/hpack_internal.h"

struct sink {
    size_t emitted;
    unsigned sum;
    unsigned calls, stop_after;
};

static int on_field(void *ctx, str_t name, str_t value, enum http_token token)
{
    struct sink *s = ctx;
    if (name.p[name.len] != 0 || value.p[value.len] != 0) abort();
    for (size_t i = 0; i < name.len; i++)
        s->sum += (unsigned char)name.p[i];
    for (size_t i = 0; i < value.len; i++)
        s->sum += (unsigned char)value.p[i];
    if (token != http_token_lookup(name.p, name.len)) abort();
    s->emitted += name.len + value.len + 32;
    return s->stop_after && ++s->calls >= s->stop_after;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t table = (size_t)data[0] * 32, max_list = ((size_t)data[1] + 1) * 32;
    struct hpack_decoder d;
    hpack_decoder_init(&d, table);
    struct pool *pool = pool_create(1024);
    if (!pool) abort();
    size_t pos = 2;
    unsigned block = 0;
    while (pos < size) {
        size_t len = data[pos++];
        if (len > size - pos) len = size - pos;
        /* a private copy, scribbled over after the call: nothing may point into it */
        uint8_t *in = malloc(len ? len : 1);
        memcpy(in, data + pos, len);
        pos += len;
        struct sink s = {.stop_after = block % 7 == 6 ? 2 : 0};
        enum hpack_result r = hpack_decode(&d, in, len, max_list, pool, on_field, &s);
        memset(in, 0xa5, len);
        free(in);
        if (r != HPACK_OK && r != HPACK_ERR_TOO_LARGE && r != HPACK_ERR_COMPRESSION) abort();
        if (s.emitted > max_list) abort();
        if (pool_used(pool) > 2 * max_list + 2 * len + 256) abort();
        if (d.table.size > d.table.max_size) abort();
        if (!d.update_required && d.table.max_size > d.settings_max) abort();
        size_t sum = 0;
        for (size_t k = 1; k <= d.table.n_entries; k++) {
            const struct hpack_entry *e = hpack_table_get(&d.table, k);
            sum += e->name_len + e->value_len + 32;
        }
        if (sum != d.table.size) abort();
        pool_reset(pool);
        if (++block % 5 == 4) hpack_decoder_set_max_table_size(&d, table / 2);
    }
    pool_destroy(pool);
    hpack_decoder_free(&d);
    return 0;
}
