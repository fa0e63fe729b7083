/* Cache-Control (RFC 9111 §5.2) and Pragma (§5.4) parsing, delta-seconds (§1.2.2). */
#include "http/cache_rules.h"

bool cache_delta_parse(str_t s, int64_t *out)
{
    if (s.len == 0) return false;
    int64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9') return false;
        if (v < CACHE_DELTA_MAX) v = v * 10 + (s.p[i] - '0');
    }
    *out = v < CACHE_DELTA_MAX ? v : CACHE_DELTA_MAX; /* §1.2.2: overflow reads as 2^31 */
    return true;
}

enum arg_kind { ARG_NONE, ARG_OK, ARG_BAD };

/* The argument after '=' (RFC 9111 §5.2: token / quoted-string). A quoted string gives the
 * text between the quotes, quoted-pairs left as they are (no valid number or field name holds
 * one, so they fail later checks). */
static enum arg_kind split_arg(str_t elem, str_t *name, str_t *arg)
{
    const char *eq = memchr(elem.p, '=', elem.len);
    if (!eq) {
        *name = elem;
        return ARG_NONE;
    }
    *name = str_trim_ows(str_make(elem.p, (size_t)(eq - elem.p)));
    if (name->p + name->len != eq) return ARG_BAD; /* no whitespace before '=' */
    str_t a = str_make(eq + 1, elem.len - (size_t)(eq + 1 - elem.p));
    if (a.len >= 2 && a.p[0] == '"') {
        for (size_t i = 1; i < a.len; i++) {
            if (a.p[i] == '\\') {
                i++;
            } else if (a.p[i] == '"') {
                if (i != a.len - 1) return ARG_BAD; /* text after the closing quote */
                *arg = str_make(a.p + 1, a.len - 2);
                return ARG_OK;
            }
        }
        return ARG_BAD; /* unterminated */
    }
    if (!http_is_token(a)) return ARG_BAD;
    *arg = a;
    return ARG_OK;
}

/* A delta-seconds argument; false when missing or malformed. */
static bool delta_arg(enum arg_kind kind, str_t arg, int64_t *out)
{
    return kind == ARG_OK && cache_delta_parse(arg, out);
}

/* Keeps the smaller (keep_min) or larger of a repeated directive's values. */
static void set_delta(struct cache_control *cc, unsigned flag, int64_t *slot, int64_t v,
                      bool keep_min)
{
    if (!(cc->flags & flag) || (keep_min ? v < *slot : v > *slot)) *slot = v;
    cc->flags |= flag;
}

/* A response max-age / s-maxage: malformed, or repeated with another value, is invalid
 * freshness (§4.2.1), which reads as stale. */
static void set_freshness(struct cache_control *cc, unsigned flag, int64_t *slot,
                          enum arg_kind kind, str_t arg)
{
    int64_t v;
    if (!delta_arg(kind, arg, &v) || ((cc->flags & flag) && *slot != v))
        cc->freshness_invalid = true;
    else
        *slot = v;
    cc->flags |= flag;
}

/* True when list is a non-empty list of field names (tokens). */
static bool field_name_list(str_t list)
{
    size_t pos = 0, n = 0;
    str_t e;
    while (http_list_next(list, &pos, &e)) {
        if (!http_is_token(e)) return false;
        n++;
    }
    return n > 0;
}

/* no-cache / private, optionally qualified with field names (§5.2.2.4, §5.2.2.7). A malformed
 * or repeated qualified form widens to the unqualified one, the more restrictive. */
static void set_qualified(struct cache_control *cc, unsigned flag, str_t *fields,
                          enum arg_kind kind, str_t arg)
{
    bool seen = cc->flags & flag;
    cc->flags |= flag;
    if (!seen && kind == ARG_OK && field_name_list(arg))
        *fields = arg;
    else
        *fields = STR_NULL;
}

static void parse_request_directive(struct cache_control *cc, str_t name, enum arg_kind kind,
                                    str_t arg)
{
    int64_t v;
    if (str_eq_nocase(name, STR_LIT("max-age"))) {
        /* §5.2.1.1; a malformed one asks for validation, like max-age=0 */
        set_delta(cc, CACHE_CC_MAX_AGE, &cc->max_age, delta_arg(kind, arg, &v) ? v : 0, true);
    } else if (str_eq_nocase(name, STR_LIT("max-stale"))) {
        /* §5.2.1.2: no value accepts any staleness; a value limits it */
        if (kind == ARG_NONE) {
            cc->flags |= CACHE_CC_MAX_STALE_ANY;
        } else if (delta_arg(kind, arg, &v)) {
            set_delta(cc, CACHE_CC_MAX_STALE, &cc->max_stale, v, true);
        }
    } else if (str_eq_nocase(name, STR_LIT("min-fresh"))) {
        if (delta_arg(kind, arg, &v)) set_delta(cc, CACHE_CC_MIN_FRESH, &cc->min_fresh, v, false);
    } else if (str_eq_nocase(name, STR_LIT("stale-if-error"))) {
        if (delta_arg(kind, arg, &v))
            set_delta(cc, CACHE_CC_STALE_IF_ERROR, &cc->stale_if_error, v, true);
    } else if (str_eq_nocase(name, STR_LIT("no-cache"))) {
        cc->flags |= CACHE_CC_NO_CACHE;
    } else if (str_eq_nocase(name, STR_LIT("no-store"))) {
        cc->flags |= CACHE_CC_NO_STORE;
    } else if (str_eq_nocase(name, STR_LIT("no-transform"))) {
        cc->flags |= CACHE_CC_NO_TRANSFORM;
    } else if (str_eq_nocase(name, STR_LIT("only-if-cached"))) {
        cc->flags |= CACHE_CC_ONLY_IF_CACHED;
    }
}

/* Directives that take no argument; the restrictive ones count whatever follows them. */
static const struct {
    const char *name;
    unsigned flag;
    bool needs_bare; /* permissive: honoured only without an argument */
} bare_response[] = {
    {"no-store", CACHE_CC_NO_STORE, false},
    {"no-transform", CACHE_CC_NO_TRANSFORM, false},
    {"must-revalidate", CACHE_CC_MUST_REVALIDATE, false},
    {"proxy-revalidate", CACHE_CC_PROXY_REVALIDATE, false},
    {"must-understand", CACHE_CC_MUST_UNDERSTAND, false},
    {"public", CACHE_CC_PUBLIC, true},
    {"immutable", CACHE_CC_IMMUTABLE, true},
};

static void parse_response_directive(struct cache_control *cc, str_t name, enum arg_kind kind,
                                     str_t arg)
{
    int64_t v;
    if (str_eq_nocase(name, STR_LIT("max-age"))) {
        set_freshness(cc, CACHE_CC_MAX_AGE, &cc->max_age, kind, arg);
    } else if (str_eq_nocase(name, STR_LIT("s-maxage"))) {
        set_freshness(cc, CACHE_CC_S_MAXAGE, &cc->s_maxage, kind, arg);
    } else if (str_eq_nocase(name, STR_LIT("no-cache"))) {
        set_qualified(cc, CACHE_CC_NO_CACHE, &cc->no_cache_fields, kind, arg);
    } else if (str_eq_nocase(name, STR_LIT("private"))) {
        set_qualified(cc, CACHE_CC_PRIVATE, &cc->private_fields, kind, arg);
    } else if (str_eq_nocase(name, STR_LIT("stale-while-revalidate"))) {
        if (delta_arg(kind, arg, &v))
            set_delta(cc, CACHE_CC_STALE_WHILE_REVALIDATE, &cc->stale_while_revalidate, v, true);
    } else if (str_eq_nocase(name, STR_LIT("stale-if-error"))) {
        if (delta_arg(kind, arg, &v))
            set_delta(cc, CACHE_CC_STALE_IF_ERROR, &cc->stale_if_error, v, true);
    } else {
        for (size_t i = 0; i < sizeof(bare_response) / sizeof(bare_response[0]); i++) {
            if (!str_eq_nocase(name, str_cstr(bare_response[i].name))) continue;
            if (kind == ARG_NONE || !bare_response[i].needs_bare)
                cc->flags |= bare_response[i].flag;
            return;
        }
        /* unknown extension directives are ignored (§5.2.3) */
    }
}

void cache_control_parse_value(str_t value, bool request, struct cache_control *cc)
{
    size_t pos = 0;
    str_t elem;
    while (http_list_next(value, &pos, &elem)) {
        str_t name, arg = STR_NULL;
        enum arg_kind kind = split_arg(elem, &name, &arg);
        if (request)
            parse_request_directive(cc, name, kind, arg);
        else
            parse_response_directive(cc, name, kind, arg);
    }
}

void cache_control_parse(const struct http_fields *fields, bool request, struct cache_control *cc)
{
    memset(cc, 0, sizeof(*cc));
    bool any = false;
    for (size_t i = 0; i < fields->count; i++) {
        if (fields->items[i].token != HTTP_TOKEN_CACHE_CONTROL) continue;
        any = true;
        cache_control_parse_value(fields->items[i].value, request, cc);
    }
    if (any || !request) return;
    /* §5.4: Pragma: no-cache counts as Cache-Control: no-cache when there is no Cache-Control */
    for (size_t i = 0; i < fields->count; i++) {
        const struct http_field *f = &fields->items[i];
        if (!str_eq_nocase(f->name, STR_LIT("pragma"))) continue;
        size_t pos = 0;
        str_t e;
        while (http_list_next(f->value, &pos, &e))
            if (str_eq_nocase(e, STR_LIT("no-cache"))) cc->flags |= CACHE_CC_NO_CACHE;
    }
}
