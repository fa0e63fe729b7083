/* Encoding and decoding of the disk store's entry files (http/cache_disk.h). */
#include "http/cache_disk.h"

#include <string.h>

#include "core/hash.h"

static const char magic[8] = {'T', 'E', 'R', 'N', 'C', 'E', '0', '1'};

static void put_u32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

static void put_u64(char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (char)(v >> (8 * i));
}

static uint32_t get_u32(const char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)(unsigned char)p[i] << (8 * i);
    return v;
}

static uint64_t get_u64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)(unsigned char)p[i] << (8 * i);
    return v;
}

static int add_u32(struct buf *b, uint32_t v)
{
    char p[4];
    put_u32(p, v);
    return buf_append(b, p, 4);
}

static int add_u64(struct buf *b, uint64_t v)
{
    char p[8];
    put_u64(p, v);
    return buf_append(b, p, 8);
}

static int add_str(struct buf *b, const char *s, size_t n)
{
    if (n > UINT32_MAX) return -1;
    return add_u32(b, (uint32_t)n) < 0 || buf_append(b, s, n) < 0 ? -1 : 0;
}

static int add_fields(struct buf *b, const struct http_fields *f)
{
    if (add_u32(b, (uint32_t)f->count) < 0) return -1;
    for (size_t i = 0; i < f->count; i++)
        if (add_str(b, f->items[i].name.p, f->items[i].name.len) < 0 ||
            add_str(b, f->items[i].value.p, f->items[i].value.len) < 0)
            return -1;
    return 0;
}

int cache_disk_encode(struct buf *b, const struct cache_entry *e)
{
    size_t start = buf_size(b);
    char prefix[CACHE_DISK_PREFIX] = {0};
    if (buf_append(b, prefix, sizeof(prefix)) < 0) return -1;
    size_t head = buf_size(b);
    if (add_u32(b, (uint32_t)e->status) < 0 || add_u64(b, (uint64_t)(int64_t)e->request_time) < 0 ||
        add_u64(b, (uint64_t)(int64_t)e->response_time) < 0 ||
        add_u64(b, (uint64_t)(int64_t)e->date) < 0 || add_u64(b, (uint64_t)e->lifetime) < 0 ||
        add_str(b, e->key, e->key_len) < 0 || add_fields(b, &e->fields) < 0 ||
        add_fields(b, &e->req_fields) < 0)
        return -1;
    size_t head_len = buf_size(b) - head;
    if (head_len > CACHE_DISK_MAX_HEAD) return -1;
    char *p = buf_ptr(b) + start;
    memcpy(p, magic, sizeof(magic));
    put_u32(p + 8, (uint32_t)head_len);
    put_u32(p + 12, 0);
    put_u64(p + 16, 0);
    put_u64(p + 24, hash_fnv1a(buf_ptr(b) + head, head_len));
    return 0;
}

void cache_disk_set_body_len(char *prefix, uint64_t body_len)
{
    put_u64(prefix + 16, body_len);
}

int cache_disk_parse_prefix(const char *p, size_t len, size_t *header_len, uint64_t *body_len)
{
    if (len < CACHE_DISK_PREFIX || memcmp(p, magic, sizeof(magic)) != 0 || get_u32(p + 12) != 0)
        return -1;
    uint32_t h = get_u32(p + 8);
    uint64_t bl = get_u64(p + 16);
    /* the smallest header: status, four times, an empty key's length, two empty lists */
    if (h < 4 + 32 + 4 + 4 + 4 || h > CACHE_DISK_MAX_HEAD || bl > ((uint64_t)1 << 50)) return -1;
    *header_len = h;
    *body_len = bl;
    return 0;
}

/* A cursor over the header being decoded. */
struct rd {
    const char *p;
    size_t left;
};

static bool rd_u32(struct rd *r, uint32_t *v)
{
    if (r->left < 4) return false;
    *v = get_u32(r->p);
    r->p += 4;
    r->left -= 4;
    return true;
}

static bool rd_i64(struct rd *r, int64_t *v)
{
    if (r->left < 8) return false;
    *v = (int64_t)get_u64(r->p);
    r->p += 8;
    r->left -= 8;
    return true;
}

/* A string copied into pool (NUL-terminated). */
static bool rd_str(struct rd *r, struct pool *pool, str_t *s)
{
    uint32_t n;
    if (!rd_u32(r, &n) || n > r->left) return false;
    char *c = pool_strndup(pool, r->p, n);
    if (!c) return false;
    *s = str_make(c, n);
    r->p += n;
    r->left -= n;
    return true;
}

/* A field value tern may send: no CR, LF or NUL (RFC 9110 §5.5). */
static bool value_ok(str_t v)
{
    for (size_t i = 0; i < v.len; i++)
        if (v.p[i] == '\r' || v.p[i] == '\n' || v.p[i] == '\0') return false;
    return true;
}

/* The fields of a header; a name that is not a token or a value that could split a head makes
 * the file garbled (the checksum finds damage, not a file written by someone else). */
static bool rd_fields(struct rd *r, struct pool *pool, struct http_fields *f)
{
    uint32_t n;
    /* each field takes at least 8 bytes: a count past what is left is a lie */
    if (!rd_u32(r, &n) || n > r->left / 8) return false;
    for (uint32_t i = 0; i < n; i++) {
        str_t name, value;
        if (!rd_str(r, pool, &name) || !rd_str(r, pool, &value) || !http_is_token(name) ||
            !value_ok(value) || http_fields_add(f, pool, name, value) < 0)
            return false;
    }
    return true;
}

/* Times a stored response can carry: within a few centuries of the epoch. */
static bool sane_time(int64_t t)
{
    return t >= 0 && t < ((int64_t)1 << 36);
}

int cache_disk_decode(struct cache_entry *e, const char *prefix, const char *head, size_t head_len)
{
    if (head_len != get_u32(prefix + 8) || hash_fnv1a(head, head_len) != get_u64(prefix + 24))
        return -1;
    struct rd r = {head, head_len};
    uint32_t status;
    int64_t rt, st, date, lifetime;
    str_t key;
    if (!rd_u32(&r, &status) || status < 100 || status > 999 || !rd_i64(&r, &rt) ||
        !rd_i64(&r, &st) || !rd_i64(&r, &date) || !rd_i64(&r, &lifetime) || !sane_time(rt) ||
        !sane_time(st) || !sane_time(date) || lifetime < -((int64_t)1 << 36) ||
        lifetime > ((int64_t)1 << 36) || !rd_str(&r, e->pool, &key) || key.len == 0 ||
        !rd_fields(&r, e->pool, &e->fields) || !rd_fields(&r, e->pool, &e->req_fields) ||
        r.left != 0)
        return -1;
    if (cache_entry_set_key(e, key.p, key.len) < 0) return -1;
    e->status = (int)status;
    e->request_time = (time_t)rt;
    e->response_time = (time_t)st;
    e->date = (time_t)date;
    e->lifetime = lifetime;
    return 0;
}
