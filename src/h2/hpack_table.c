/* HPACK tables (RFC 7541 §2.3): the static table of Appendix A with each name's interned token,
 * the dynamic table as a ring of entries with §4 size accounting and eviction, and the §5.1
 * integer representation. */
#include "h2/hpack_internal.h"

#include <stdlib.h>
#include <string.h>

#define S(name, value, token)                                                                      \
    {                                                                                              \
        STR_LIT(name), STR_LIT(value), HTTP_TOKEN_##token                                          \
    }

/* RFC 7541 Appendix A. tests/unit/h2/test_hpack.c checks each token against http_token_lookup. */
const struct hpack_static_entry hpack_static_table[HPACK_STATIC_COUNT + 1] = {
    [0] = S("", "", NONE),
    [1] = S(":authority", "", NONE),
    [2] = S(":method", "GET", NONE),
    [3] = S(":method", "POST", NONE),
    [4] = S(":path", "/", NONE),
    [5] = S(":path", "/index.html", NONE),
    [6] = S(":scheme", "http", NONE),
    [7] = S(":scheme", "https", NONE),
    [8] = S(":status", "200", NONE),
    [9] = S(":status", "204", NONE),
    [10] = S(":status", "206", NONE),
    [11] = S(":status", "304", NONE),
    [12] = S(":status", "400", NONE),
    [13] = S(":status", "404", NONE),
    [14] = S(":status", "500", NONE),
    [15] = S("accept-charset", "", ACCEPT_CHARSET),
    [16] = S("accept-encoding", "gzip, deflate", ACCEPT_ENCODING),
    [17] = S("accept-language", "", ACCEPT_LANGUAGE),
    [18] = S("accept-ranges", "", ACCEPT_RANGES),
    [19] = S("accept", "", ACCEPT),
    [20] = S("access-control-allow-origin", "", ACCESS_CONTROL_ALLOW_ORIGIN),
    [21] = S("age", "", AGE),
    [22] = S("allow", "", ALLOW),
    [23] = S("authorization", "", AUTHORIZATION),
    [24] = S("cache-control", "", CACHE_CONTROL),
    [25] = S("content-disposition", "", CONTENT_DISPOSITION),
    [26] = S("content-encoding", "", CONTENT_ENCODING),
    [27] = S("content-language", "", CONTENT_LANGUAGE),
    [28] = S("content-length", "", CONTENT_LENGTH),
    [29] = S("content-location", "", CONTENT_LOCATION),
    [30] = S("content-range", "", CONTENT_RANGE),
    [31] = S("content-type", "", CONTENT_TYPE),
    [32] = S("cookie", "", COOKIE),
    [33] = S("date", "", DATE),
    [34] = S("etag", "", ETAG),
    [35] = S("expect", "", EXPECT),
    [36] = S("expires", "", EXPIRES),
    [37] = S("from", "", FROM),
    [38] = S("host", "", HOST),
    [39] = S("if-match", "", IF_MATCH),
    [40] = S("if-modified-since", "", IF_MODIFIED_SINCE),
    [41] = S("if-none-match", "", IF_NONE_MATCH),
    [42] = S("if-range", "", IF_RANGE),
    [43] = S("if-unmodified-since", "", IF_UNMODIFIED_SINCE),
    [44] = S("last-modified", "", LAST_MODIFIED),
    [45] = S("link", "", LINK),
    [46] = S("location", "", LOCATION),
    [47] = S("max-forwards", "", MAX_FORWARDS),
    [48] = S("proxy-authenticate", "", PROXY_AUTHENTICATE),
    [49] = S("proxy-authorization", "", PROXY_AUTHORIZATION),
    [50] = S("range", "", RANGE),
    [51] = S("referer", "", REFERER),
    [52] = S("refresh", "", REFRESH),
    [53] = S("retry-after", "", RETRY_AFTER),
    [54] = S("server", "", SERVER),
    [55] = S("set-cookie", "", SET_COOKIE),
    [56] = S("strict-transport-security", "", STRICT_TRANSPORT_SECURITY),
    [57] = S("transfer-encoding", "", TRANSFER_ENCODING),
    [58] = S("user-agent", "", USER_AGENT),
    [59] = S("vary", "", VARY),
    [60] = S("via", "", VIA),
    [61] = S("www-authenticate", "", WWW_AUTHENTICATE),
};

void hpack_table_init(struct hpack_table *t, size_t max_size)
{
    t->entries = NULL;
    t->n_entries = t->cap_entries = t->head = 0;
    t->size = 0;
    t->max_size = max_size;
    t->added = 0;
}

/* Ring layout: head is the oldest entry, the newest sits at (head + n - 1) mod cap; cap is a power
 * of two. */
static struct hpack_entry *slot(const struct hpack_table *t, size_t i)
{
    return &t->entries[(t->head + i) & (t->cap_entries - 1)];
}

static void evict_oldest(struct hpack_table *t)
{
    struct hpack_entry *e = slot(t, 0);
    t->size -= e->name_len + e->value_len + HPACK_ENTRY_OVERHEAD;
    free(e->data);
    e->data = NULL;
    t->head = (t->head + 1) & (t->cap_entries - 1);
    t->n_entries--;
}

void hpack_table_free(struct hpack_table *t)
{
    while (t->n_entries)
        evict_oldest(t);
    free(t->entries);
    t->entries = NULL;
    t->cap_entries = t->head = 0;
}

const struct hpack_entry *hpack_table_get(const struct hpack_table *t, size_t i)
{
    if (i == 0 || i > t->n_entries) return NULL;
    return slot(t, t->n_entries - i);
}

void hpack_table_set_max(struct hpack_table *t, size_t max_size)
{
    t->max_size = max_size;
    while (t->size > max_size)
        evict_oldest(t);
}

/* Grows the ring so one more entry fits. The entry count is bounded by max_size / 32. */
static int grow(struct hpack_table *t)
{
    size_t cap = t->cap_entries ? t->cap_entries * 2 : 8;
    struct hpack_entry *n = malloc(cap * sizeof(*n));
    if (!n) return -1;
    for (size_t i = 0; i < t->n_entries; i++)
        n[i] = *slot(t, i);
    free(t->entries);
    t->entries = n;
    t->cap_entries = cap;
    t->head = 0;
    return 0;
}

int hpack_table_add(struct hpack_table *t, const char *name, size_t name_len, const char *value,
                    size_t value_len, enum http_token token, struct hpack_entry **out)
{
    if (out) *out = NULL;
    size_t need = name_len + value_len + HPACK_ENTRY_OVERHEAD;
    if (need > t->max_size) { /* §4.4: a too-large entry empties the table */
        while (t->n_entries)
            evict_oldest(t);
        return 0;
    }
    /* Copy first: the name may belong to an entry that the eviction below removes (§4.4). */
    char *data = malloc(name_len + value_len ? name_len + value_len : 1);
    if (!data) return -1;
    if (name && name_len) memcpy(data, name, name_len);
    if (value && value_len) memcpy(data + name_len, value, value_len);
    while (t->size + need > t->max_size)
        evict_oldest(t);
    if (t->n_entries == t->cap_entries && grow(t) < 0) {
        free(data);
        return -1;
    }
    t->n_entries++;
    struct hpack_entry *e = slot(t, t->n_entries - 1);
    e->data = data;
    e->name_len = (uint32_t)name_len;
    e->value_len = (uint32_t)value_len;
    e->token = token;
    e->name_static = token != HTTP_TOKEN_NONE && name &&
                     str_eq(hpack_entry_name(e), http_token_info(token)->name);
    t->size += need;
    t->added++;
    if (out) *out = e;
    return 0;
}

void hpack_entry_set_token(struct hpack_entry *e)
{
    e->token = http_token_lookup(e->data, e->name_len);
    e->name_static =
        e->token != HTTP_TOKEN_NONE && str_eq(hpack_entry_name(e), http_token_info(e->token)->name);
}

int hpack_int_decode(const uint8_t *in, size_t len, size_t *pos, unsigned prefix_bits,
                     uint64_t *value)
{
    size_t p = *pos;
    if (p >= len) return -1;
    uint64_t max_prefix = (1u << prefix_bits) - 1;
    uint64_t v = in[p++] & max_prefix;
    if (v == max_prefix) {
        unsigned shift = 0;
        for (;;) {
            if (p >= len || shift > 28) return -1; /* truncated, or more than 5 octets */
            uint8_t b = in[p++];
            v += (uint64_t)(b & 0x7f) << shift;
            shift += 7;
            if (!(b & 0x80)) break;
        }
        if (v > UINT32_MAX) return -1;
    }
    *pos = p;
    *value = v;
    return 0;
}

size_t hpack_int_encode(uint8_t *out, uint8_t first, unsigned prefix_bits, uint64_t v)
{
    uint64_t max_prefix = (1u << prefix_bits) - 1;
    if (v < max_prefix) {
        out[0] = (uint8_t)(first | v);
        return 1;
    }
    out[0] = (uint8_t)(first | max_prefix);
    v -= max_prefix;
    size_t n = 1;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}
