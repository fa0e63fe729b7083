/* Fuzzes the cache rules: the input's first 4 bytes pick a status and times, the rest is
 * header lines "name:value" separated by '\n' (Cache-Control, Age, Date, Expires,
 * Last-Modified, Vary...). Checks that parsing is deterministic, qualified field lists point
 * into the input, lifetimes and ages stay within [0, 2^31], invalid freshness reads as stale,
 * the decision is a known value, and the Age and Cache-Status formatters stay well-formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/cache_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 1700000000

static void check_list(str_t list, const uint8_t *data, size_t size)
{
    if (list.len == 0) return;
    if (list.p < (const char *)data || list.p + list.len > (const char *)data + size) abort();
}

static void check_cc(const struct http_fields *f, bool request, const uint8_t *data, size_t size,
                     struct cache_control *cc)
{
    cache_control_parse(f, request, cc);
    struct cache_control again;
    cache_control_parse(f, request, &again);
    if (memcmp(cc, &again, sizeof again) != 0) abort();
    const int64_t *v[] = {&cc->max_age,   &cc->s_maxage,       &cc->max_stale,
                          &cc->min_fresh, &cc->stale_if_error, &cc->stale_while_revalidate};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (*v[i] < 0 || *v[i] > CACHE_DELTA_MAX) abort();
    check_list(cc->no_cache_fields, data, size);
    check_list(cc->private_fields, data, size);
    if (cc->no_cache_fields.len && !(cc->flags & CACHE_CC_NO_CACHE)) abort();
    if (cc->private_fields.len && !(cc->flags & CACHE_CC_PRIVATE)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    int status = 100 + (data[0] | data[1] << 8) % 500;
    time_t request_time = T0 - data[2], response_time = T0, now = T0 + data[3] * 97;
    struct pool *pool = pool_create(4096);
    if (!pool) return 0;
    struct http_fields f = {0};
    const char *p = (const char *)data + 4, *end = (const char *)data + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon) {
            if (http_fields_add(&f, pool, str_make(p, (size_t)(colon - p)),
                                str_make(colon + 1, (size_t)(line_end - colon - 1))) != 0)
                break;
        }
        p = nl ? nl + 1 : end;
    }

    struct cache_control req, res;
    check_cc(&f, true, data, size, &req);
    check_cc(&f, false, data, size, &res);

    bool heuristic;
    int64_t lifetime =
        cache_freshness_lifetime(&f, &res, status, response_time, 86400 * 7, &heuristic);
    if (lifetime < 0 || lifetime > CACHE_DELTA_MAX) abort();
    if (res.freshness_invalid && lifetime != 0) abort();
    if (heuristic && lifetime > 86400 * 7) abort();
    int64_t age = cache_current_age(&f, request_time, response_time, now);
    if (age < 0 || age > CACHE_DELTA_MAX) abort();
    int64_t age_value = cache_age_value(&f);
    if (age_value < 0 || age_value > CACHE_DELTA_MAX) abort();

    for (int err = 0; err < 2; err++) {
        enum cache_use u = cache_use_decide(&req, &res, lifetime, age, err);
        if (u > CACHE_USE_VALIDATE_STRICT) abort();
        if (u == CACHE_USE_FRESH && lifetime <= age) abort();
        if ((res.flags & CACHE_CC_NO_CACHE) && !res.no_cache_fields.len &&
            u != CACHE_USE_VALIDATE_STRICT)
            abort();
    }
    enum cache_nostore why = cache_storable(HTTP_METHOD_GET, &f, &req, status, &f, &res);
    if (why > CACHE_NOSTORE_NO_FRESHNESS || !cache_nostore_name(why)) abort();
    (void)cache_vary_match(&f, &f, &f);
    (void)cache_304_selects(&f, &f);

    char out[16];
    size_t n = cache_age_format(age, out);
    int64_t back;
    if (n == 0 || n >= 16 || !cache_delta_parse(str_make(out, n), &back) || back != age) abort();

    struct buf b = {0};
    struct cache_status st = {.fwd = (enum cache_fwd)(data[0] % 9),
                              .fwd_status = status,
                              .has_ttl = true,
                              .ttl = lifetime - age,
                              .stored = why == CACHE_STORABLE,
                              .detail = cache_nostore_name(why)};
    if (cache_status_format(&b, str_make((const char *)data + 4, size > 12 ? 8 : size - 4), &st) !=
        0)
        abort();
    for (size_t i = 0; i < buf_size(&b); i++)
        if (buf_ptr(&b)[i] < 0x20 || buf_ptr(&b)[i] > 0x7e) abort();

    /* storing and updating never grow a field list past its inputs */
    struct http_fields copy = f;
    copy.items = pool_alloc(pool, (f.count + 1) * sizeof(*f.items));
    if (copy.items) {
        memcpy(copy.items, f.items, f.count * sizeof(*f.items));
        copy.cap = f.count + 1;
        cache_fields_for_store(&copy, &res);
        if (copy.count > f.count) abort();
        size_t before = copy.count;
        if (cache_fields_update(&copy, pool, &f) == 0 && copy.count > before + f.count) abort();
        size_t n_before = copy.count;
        if (cache_add_validators(&copy, pool, &f) == 0 && copy.count > n_before + 2) abort();
    }
    buf_free(&b);
    pool_destroy(pool);
    return 0;
}
