#include "http/header.h"

#include <string.h>

static const struct http_token_info token_table[HTTP_TOKEN__COUNT] = {
    [HTTP_TOKEN_NONE] = {{"", 0}, 0, 0},
#define X(id, name, hpack, flags) [HTTP_TOKEN_##id] = {{name, sizeof(name) - 1}, hpack, flags},
#include "http/tokens.def"
#undef X
};

/* tchar lookup: RFC 9110 §5.6.2 */
static const unsigned char tchar_map[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1,  ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1,  ['n'] = 1, ['o'] = 1,
    ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,  ['v'] = 1, ['w'] = 1,
    ['x'] = 1, ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1,  ['D'] = 1, ['E'] = 1,
    ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,  ['L'] = 1, ['M'] = 1,
    ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1,  ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

bool http_is_tchar(unsigned char c)
{
    return tchar_map[c] != 0;
}

bool http_is_token(str_t s)
{
    if (s.len == 0) return false;
    for (size_t i = 0; i < s.len; i++)
        if (!tchar_map[(unsigned char)s.p[i]]) return false;
    return true;
}

bool http_is_field_vchar(unsigned char c)
{
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

/* Tokens bucketed by (length, first letter): a lookup compares against one or two names. */
#define BUCKET_LEN  33
#define BUCKET_SLOT 4
static unsigned char buckets[BUCKET_LEN][26][BUCKET_SLOT];

__attribute__((constructor)) static void build_buckets(void)
{
    for (int t = 1; t < HTTP_TOKEN__COUNT; t++) {
        const str_t *n = &token_table[t].name;
        unsigned char *slot = buckets[n->len][n->p[0] - 'a'];
        for (int i = 0; i < BUCKET_SLOT; i++)
            if (!slot[i]) {
                slot[i] = (unsigned char)t;
                break;
            }
    }
}

enum http_token http_token_lookup(const char *name, size_t len)
{
    if (len == 0 || len >= BUCKET_LEN) return HTTP_TOKEN_NONE;
    char first = ascii_lower(name[0]);
    if (first < 'a' || first > 'z') return HTTP_TOKEN_NONE;
    const unsigned char *slot = buckets[len][first - 'a'];
    for (int i = 0; i < BUCKET_SLOT && slot[i]; i++) {
        const str_t *n = &token_table[slot[i]].name;
        size_t j = 1;
        while (j < len && ascii_lower(name[j]) == n->p[j])
            j++;
        if (j == len) return (enum http_token)slot[i];
    }
    return HTTP_TOKEN_NONE;
}

const struct http_token_info *http_token_info(enum http_token token)
{
    if ((int)token < 0 || token >= HTTP_TOKEN__COUNT) return &token_table[0];
    return &token_table[token];
}

static int fields_grow(struct http_fields *f, struct pool *pool)
{
    if (f->count < f->cap) return 0;
    size_t cap = f->cap ? f->cap * 2 : 16;
    struct http_field *n = pool_alloc(pool, cap * sizeof(*n));
    if (!n) return -1;
    if (f->count) memcpy(n, f->items, f->count * sizeof(*n));
    f->items = n;
    f->cap = cap;
    return 0;
}

int http_fields_add(struct http_fields *f, struct pool *pool, str_t name, str_t value)
{
    if (fields_grow(f, pool) < 0) return -1;
    f->items[f->count++] = (struct http_field){name, value, http_token_lookup(name.p, name.len)};
    return 0;
}

int http_fields_add_token(struct http_fields *f, struct pool *pool, enum http_token token,
                          str_t value)
{
    if (fields_grow(f, pool) < 0) return -1;
    f->items[f->count++] = (struct http_field){token_table[token].name, value, token};
    return 0;
}

const struct http_field *http_fields_find(const struct http_fields *f, enum http_token token)
{
    for (size_t i = 0; i < f->count; i++)
        if (f->items[i].token == token) return &f->items[i];
    return NULL;
}

size_t http_fields_count_token(const struct http_fields *f, enum http_token token)
{
    size_t n = 0;
    for (size_t i = 0; i < f->count; i++)
        n += f->items[i].token == token;
    return n;
}

const struct http_field *http_fields_find_name(const struct http_fields *f, str_t name)
{
    for (size_t i = 0; i < f->count; i++)
        if (str_eq_nocase(f->items[i].name, name)) return &f->items[i];
    return NULL;
}

void http_fields_remove(struct http_fields *f, enum http_token token)
{
    size_t j = 0;
    for (size_t i = 0; i < f->count; i++)
        if (f->items[i].token != token) f->items[j++] = f->items[i];
    f->count = j;
}

void http_fields_remove_name(struct http_fields *f, str_t name)
{
    size_t j = 0;
    for (size_t i = 0; i < f->count; i++)
        if (!str_eq_nocase(f->items[i].name, name)) f->items[j++] = f->items[i];
    f->count = j;
}

bool http_split_next(str_t value, size_t *pos, char sep, str_t *part)
{
    if (*pos > value.len) return false;
    size_t start = *pos, i = start;
    bool quoted = false;
    for (; i < value.len; i++) {
        char c = value.p[i];
        if (quoted && c == '\\' && i + 1 < value.len)
            i++;
        else if (c == '"')
            quoted = !quoted;
        else if (c == sep && !quoted)
            break;
    }
    *part = str_trim_ows(str_make(value.p + start, i - start));
    *pos = i + 1;
    return true;
}

bool http_list_next(str_t value, size_t *pos, str_t *elem)
{
    while (http_split_next(value, pos, ',', elem))
        if (elem->len) return true;
    return false;
}

bool http_fields_has_word(const struct http_fields *f, enum http_token token, str_t word)
{
    for (size_t i = 0; i < f->count; i++) {
        if (f->items[i].token != token) continue;
        size_t pos = 0;
        str_t e;
        while (http_list_next(f->items[i].value, &pos, &e))
            if (str_eq_nocase(e, word)) return true;
    }
    return false;
}
