/* Range header parsing for the bytes unit (RFC 9110 §14.1.1, §14.1.2, §14.2, §14.3). */
#include "http/range.h"

#include "http/header.h"

/* 1*DIGIT at s[*pos..]; false when there is none or it overflows uint64. */
static bool parse_u64(str_t s, size_t *pos, uint64_t *out)
{
    size_t i = *pos;
    uint64_t v = 0;
    while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9') {
        unsigned d = (unsigned)(s.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
        i++;
    }
    if (i == *pos) return false;
    *pos = i;
    *out = v;
    return true;
}

/* One range-spec. Returns -1 when invalid, 0 when unsatisfiable, 1 with *r filled. */
static int parse_spec(str_t e, uint64_t size, struct http_range *r)
{
    size_t pos = 0;
    uint64_t a, b;
    if (e.p[0] == '-') { /* suffix-range = "-" suffix-length */
        pos = 1;
        if (!parse_u64(e, &pos, &b) || pos != e.len) return -1;
        if (b == 0 || size == 0) return 0;
        r->first = b >= size ? 0 : size - b;
        r->last = size - 1;
        return 1;
    }
    /* int-range = first-pos "-" [ last-pos ] */
    if (!parse_u64(e, &pos, &a) || pos >= e.len || e.p[pos] != '-') return -1;
    pos++;
    b = UINT64_MAX;
    if (pos < e.len && (!parse_u64(e, &pos, &b) || b < a)) return -1;
    if (pos != e.len) return -1;
    if (a >= size) return 0;
    r->first = a;
    r->last = b >= size ? size - 1 : b;
    return 1;
}

static bool touch(const struct http_range *x, const struct http_range *y)
{
    /* overlapping or adjacent; last < UINT64_MAX since last < size */
    return x->first <= y->last + 1 && y->first <= x->last + 1;
}

/* Adds r to out[0..*n), coalescing it with every range it touches; a merged range keeps the
 * earliest position so the order stays that of the request. False when out is full. */
static bool add_range(struct http_range *out, size_t max, size_t *n, struct http_range r)
{
    size_t at = *n;
    for (size_t i = 0; i < *n; i++) {
        if (!touch(&out[i], &r)) continue;
        if (r.first < out[i].first) out[i].first = r.first;
        if (r.last > out[i].last) out[i].last = r.last;
        at = i;
        break;
    }
    if (at == *n) {
        if (*n >= max) return false;
        out[(*n)++] = r;
        return true;
    }
    /* the grown range may now touch later ones: fold them in */
    for (size_t j = at + 1; j < *n;) {
        if (!touch(&out[at], &out[j])) {
            j++;
            continue;
        }
        if (out[j].first < out[at].first) out[at].first = out[j].first;
        if (out[j].last > out[at].last) out[at].last = out[j].last;
        for (size_t k = j + 1; k < *n; k++)
            out[k - 1] = out[k];
        (*n)--;
        j = at + 1; /* restart: the range grew again */
    }
    return true;
}

enum http_range_result http_range_parse(str_t value, uint64_t size, struct http_range *out,
                                        size_t max, size_t *count)
{
    *count = 0;
    size_t eq = 0;
    while (eq < value.len && value.p[eq] != '=')
        eq++;
    if (eq == value.len || !str_eq_nocase(str_make(value.p, eq), STR_LIT("bytes")))
        return HTTP_RANGE_IGNORE;

    str_t set = str_make(value.p + eq + 1, value.len - eq - 1);
    size_t pos = 0, n = 0, elements = 0;
    bool too_many = false;
    str_t e;
    while (http_list_next(set, &pos, &e)) {
        elements++;
        struct http_range r;
        int rc = parse_spec(e, size, &r);
        if (rc < 0) return HTTP_RANGE_IGNORE; /* one invalid range-spec invalidates the set */
        if (rc > 0 && !too_many && !add_range(out, max, &n, r)) too_many = true;
    }
    if (elements == 0) return HTTP_RANGE_IGNORE; /* range-set = 1#range-spec */
    if (too_many) return HTTP_RANGE_TOO_MANY;
    if (n == 0) return HTTP_RANGE_UNSATISFIABLE;
    *count = n;
    return HTTP_RANGE_OK;
}
