/* QPACK tables (RFC 9204 §3): the static table of Appendix A with each name's interned token,
 * and the dynamic table as a ring of entries with §3.2 size accounting, absolute indexing,
 * eviction that never drops an entry still referenced (§2.1.1) and draining (§2.1.1.1). */
#include <stdlib.h>
#include <string.h>

#include "h3/qpack_internal.h"

#define S(name, value, token)                                                                      \
    {                                                                                              \
        STR_LIT(name), STR_LIT(value), HTTP_TOKEN_##token                                          \
    }

/* RFC 9204 Appendix A. tests/unit/h3/test_qpack_table.c checks each token against
 * http_token_lookup. */
const struct qpack_static_entry qpack_static_table[QPACK_STATIC_COUNT] = {
    S(":authority", "", NONE),
    S(":path", "/", NONE),
    S("age", "0", AGE),
    S("content-disposition", "", CONTENT_DISPOSITION),
    S("content-length", "0", CONTENT_LENGTH),
    S("cookie", "", COOKIE),
    S("date", "", DATE),
    S("etag", "", ETAG),
    S("if-modified-since", "", IF_MODIFIED_SINCE),
    S("if-none-match", "", IF_NONE_MATCH),
    S("last-modified", "", LAST_MODIFIED),
    S("link", "", LINK),
    S("location", "", LOCATION),
    S("referer", "", REFERER),
    S("set-cookie", "", SET_COOKIE),
    S(":method", "CONNECT", NONE),
    S(":method", "DELETE", NONE),
    S(":method", "GET", NONE),
    S(":method", "HEAD", NONE),
    S(":method", "OPTIONS", NONE),
    S(":method", "POST", NONE),
    S(":method", "PUT", NONE),
    S(":scheme", "http", NONE),
    S(":scheme", "https", NONE),
    S(":status", "103", NONE),
    S(":status", "200", NONE),
    S(":status", "304", NONE),
    S(":status", "404", NONE),
    S(":status", "503", NONE),
    S("accept", "*/*", ACCEPT),
    S("accept", "application/dns-message", ACCEPT),
    S("accept-encoding", "gzip, deflate, br", ACCEPT_ENCODING),
    S("accept-ranges", "bytes", ACCEPT_RANGES),
    S("access-control-allow-headers", "cache-control", NONE),
    S("access-control-allow-headers", "content-type", NONE),
    S("access-control-allow-origin", "*", ACCESS_CONTROL_ALLOW_ORIGIN),
    S("cache-control", "max-age=0", CACHE_CONTROL),
    S("cache-control", "max-age=2592000", CACHE_CONTROL),
    S("cache-control", "max-age=604800", CACHE_CONTROL),
    S("cache-control", "no-cache", CACHE_CONTROL),
    S("cache-control", "no-store", CACHE_CONTROL),
    S("cache-control", "public, max-age=31536000", CACHE_CONTROL),
    S("content-encoding", "br", CONTENT_ENCODING),
    S("content-encoding", "gzip", CONTENT_ENCODING),
    S("content-type", "application/dns-message", CONTENT_TYPE),
    S("content-type", "application/javascript", CONTENT_TYPE),
    S("content-type", "application/json", CONTENT_TYPE),
    S("content-type", "application/x-www-form-urlencoded", CONTENT_TYPE),
    S("content-type", "image/gif", CONTENT_TYPE),
    S("content-type", "image/jpeg", CONTENT_TYPE),
    S("content-type", "image/png", CONTENT_TYPE),
    S("content-type", "text/css", CONTENT_TYPE),
    S("content-type", "text/html; charset=utf-8", CONTENT_TYPE),
    S("content-type", "text/plain", CONTENT_TYPE),
    S("content-type", "text/plain;charset=utf-8", CONTENT_TYPE),
    S("range", "bytes=0-", RANGE),
    S("strict-transport-security", "max-age=31536000", STRICT_TRANSPORT_SECURITY),
    S("strict-transport-security", "max-age=31536000; includesubdomains",
      STRICT_TRANSPORT_SECURITY),
    S("strict-transport-security", "max-age=31536000; includesubdomains; preload",
      STRICT_TRANSPORT_SECURITY),
    S("vary", "accept-encoding", VARY),
    S("vary", "origin", VARY),
    S("x-content-type-options", "nosniff", NONE),
    S("x-xss-protection", "1; mode=block", NONE),
    S(":status", "100", NONE),
    S(":status", "204", NONE),
    S(":status", "206", NONE),
    S(":status", "302", NONE),
    S(":status", "400", NONE),
    S(":status", "403", NONE),
    S(":status", "421", NONE),
    S(":status", "425", NONE),
    S(":status", "500", NONE),
    S("accept-language", "", ACCEPT_LANGUAGE),
    S("access-control-allow-credentials", "FALSE", NONE),
    S("access-control-allow-credentials", "TRUE", NONE),
    S("access-control-allow-headers", "*", NONE),
    S("access-control-allow-methods", "get", NONE),
    S("access-control-allow-methods", "get, post, options", NONE),
    S("access-control-allow-methods", "options", NONE),
    S("access-control-expose-headers", "content-length", NONE),
    S("access-control-request-headers", "content-type", NONE),
    S("access-control-request-method", "get", NONE),
    S("access-control-request-method", "post", NONE),
    S("alt-svc", "clear", NONE),
    S("authorization", "", AUTHORIZATION),
    S("content-security-policy", "script-src 'none'; object-src 'none'; base-uri 'none'", NONE),
    S("early-data", "1", NONE),
    S("expect-ct", "", NONE),
    S("forwarded", "", FORWARDED),
    S("if-range", "", IF_RANGE),
    S("origin", "", ORIGIN),
    S("purpose", "prefetch", NONE),
    S("server", "", SERVER),
    S("timing-allow-origin", "*", NONE),
    S("upgrade-insecure-requests", "1", NONE),
    S("user-agent", "", USER_AGENT),
    S("x-forwarded-for", "", X_FORWARDED_FOR),
    S("x-frame-options", "deny", NONE),
    S("x-frame-options", "sameorigin", NONE),
};

int qpack_static_find(str_t name, enum http_token token, str_t value, bool *exact)
{
    int name_only = -1;
    for (int i = 0; i < QPACK_STATIC_COUNT; i++) {
        const struct qpack_static_entry *s = &qpack_static_table[i];
        if (token != HTTP_TOKEN_NONE ? s->token != token : !str_eq_nocase(s->name, name)) continue;
        if (str_eq(s->value, value)) {
            *exact = true;
            return i;
        }
        if (name_only < 0) name_only = i;
    }
    *exact = false;
    return name_only;
}

struct qpack_table *qpack_table_new(size_t max_capacity)
{
    struct qpack_table *t = calloc(1, sizeof(*t));
    if (t) {
        t->max_capacity = max_capacity;
        t->evict_below = UINT64_MAX;
    }
    return t;
}

static struct qpack_entry *slot(const struct qpack_table *t, size_t k)
{
    return &t->ring[(t->head + k) % t->ring_cap];
}

void qpack_table_destroy(struct qpack_table *t)
{
    if (!t) return;
    for (size_t k = 0; k < t->count; k++)
        free(slot(t, k)->data);
    free(t->ring);
    free(t);
}

struct qpack_entry *qpack_table_get(const struct qpack_table *t, uint64_t a)
{
    if (a < t->dropped || a >= t->inserted) return NULL;
    return slot(t, (size_t)(a - t->dropped));
}

/* Bytes that evicting the oldest unreferenced entries can free. */
static size_t evictable(const struct qpack_table *t)
{
    size_t n = 0;
    for (size_t k = 0; k < t->count && slot(t, k)->refs == 0 && t->dropped + k < t->evict_below;
         k++)
        n += qpack_entry_size(slot(t, k));
    return n;
}

bool qpack_table_fits(const struct qpack_table *t, size_t need)
{
    if (need > t->capacity) return false;
    return t->size + need <= t->capacity || t->size - evictable(t) + need <= t->capacity;
}

static void evict_oldest(struct qpack_table *t)
{
    struct qpack_entry *e = slot(t, 0);
    t->size -= qpack_entry_size(e);
    free(e->data);
    e->data = NULL;
    t->head = (t->head + 1) % t->ring_cap;
    t->count--;
    t->dropped++;
}

/* Evicts the oldest entries until size + need <= capacity; false if a referenced one is hit. */
static bool make_room(struct qpack_table *t, size_t capacity, size_t need)
{
    while (t->size + need > capacity) {
        if (t->count == 0 || slot(t, 0)->refs || t->dropped >= t->evict_below) return false;
        evict_oldest(t);
    }
    return true;
}

int qpack_table_set_capacity(struct qpack_table *t, size_t capacity)
{
    if (capacity > t->max_capacity) return -1;
    if (t->size > capacity && t->size - evictable(t) > capacity) return -1;
    make_room(t, capacity, 0);
    t->capacity = capacity;
    return 0;
}

int qpack_table_insert(struct qpack_table *t, str_t name, str_t value, enum http_token token)
{
    size_t need = name.len + value.len + QPACK_ENTRY_OVERHEAD;
    if (!qpack_table_fits(t, need)) return -2;
    char *data = malloc(name.len + value.len + 2);
    if (!data) return -1;
    if (t->count == t->ring_cap) {
        size_t ncap = t->ring_cap ? t->ring_cap * 2 : 16;
        struct qpack_entry *ring = malloc(ncap * sizeof(*ring));
        if (!ring) {
            free(data);
            return -1;
        }
        for (size_t k = 0; k < t->count; k++)
            ring[k] = *slot(t, k);
        free(t->ring);
        t->ring = ring;
        t->ring_cap = ncap;
        t->head = 0;
    }
    /* name and value may point into an entry that eviction frees: copy before evicting */
    if (name.len) memcpy(data, name.p, name.len);
    data[name.len] = '\0';
    if (value.len) memcpy(data + name.len + 1, value.p, value.len);
    data[name.len + 1 + value.len] = '\0';
    make_room(t, t->capacity, need);
    struct qpack_entry *e = &t->ring[(t->head + t->count) % t->ring_cap];
    *e = (struct qpack_entry){data, (uint32_t)name.len, (uint32_t)value.len, token, 0};
    t->count++;
    t->inserted++;
    t->size += need;
    return 0;
}

bool qpack_table_draining(const struct qpack_table *t, uint64_t a)
{
    if (a < t->dropped || a >= t->inserted) return true;
    size_t older = 0; /* bytes of this entry and every older one */
    for (uint64_t k = 0; k <= a - t->dropped; k++)
        older += qpack_entry_size(slot(t, (size_t)k));
    return older <= t->capacity / 4;
}
