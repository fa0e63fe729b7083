/* Shared-cache rules of RFC 9111 (storing, freshness, age, reuse, Vary, invalidation, updates),
 * RFC 5861 (stale-while-revalidate, stale-if-error) and RFC 9211 (Cache-Status). */
#include "http/cache_rules.h"

#include <inttypes.h>
#include <stdio.h>

#include "http/date.h"
#include "http/etag.h"
#include "http/response.h"

/* The value of a field that must appear once; false when absent. Lines with different values
 * set *conflict (§4.2.1: a repeated value may be read as stale). */
static bool single_value(const struct http_fields *f, enum http_token token, str_t *out,
                         bool *conflict)
{
    bool found = false;
    *conflict = false;
    for (size_t i = 0; i < f->count; i++) {
        if (f->items[i].token != token) continue;
        str_t v = str_trim_ows(f->items[i].value);
        if (found && !str_eq(v, *out)) *conflict = true;
        if (!found) *out = v;
        found = true;
    }
    return found;
}

/* A date-valued field that appears once with a valid HTTP-date. */
static bool field_date(const struct http_fields *f, enum http_token token, time_t *out)
{
    str_t v;
    bool conflict;
    return single_value(f, token, &v, &conflict) && !conflict && http_date_parse(v.p, v.len, out);
}

int64_t cache_age_value(const struct http_fields *res)
{
    str_t v;
    bool conflict;
    int64_t age;
    if (!single_value(res, HTTP_TOKEN_AGE, &v, &conflict)) return 0;
    if (conflict || !cache_delta_parse(v, &age)) return CACHE_DELTA_MAX;
    return age;
}

size_t cache_age_format(int64_t age, char out[16])
{
    if (age < 0) age = 0;
    if (age > CACHE_DELTA_MAX) age = CACHE_DELTA_MAX;
    return (size_t)snprintf(out, 16, "%" PRId64, age);
}

bool cache_expires(const struct http_fields *res, time_t *out)
{
    str_t v;
    bool conflict;
    if (!single_value(res, HTTP_TOKEN_EXPIRES, &v, &conflict)) return false;
    /* §5.3: an invalid date, "0" above all, is a time in the past */
    if (conflict || !http_date_parse(v.p, v.len, out)) *out = 0;
    return true;
}

const char *cache_nostore_name(enum cache_nostore reason)
{
    switch (reason) {
    case CACHE_STORABLE: return "storable";
    case CACHE_NOSTORE_METHOD: return "method";
    case CACHE_NOSTORE_STATUS: return "status";
    case CACHE_NOSTORE_REQ_NO_STORE: return "request-no-store";
    case CACHE_NOSTORE_NO_STORE: return "no-store";
    case CACHE_NOSTORE_PRIVATE: return "private";
    case CACHE_NOSTORE_AUTHORIZATION: return "authorization";
    case CACHE_NOSTORE_NO_FRESHNESS: return "no-freshness";
    }
    return "unknown";
}

bool cache_status_heuristic(int status)
{
    switch (status) {
    case 200:
    case 203:
    case 204:
    case 206:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501: return true;
    default: return false;
    }
}

/* Statuses this cache implements the caching rules of: known final codes, but not 206 (no
 * partial-content store) nor 304 (an update, never stored itself). */
static bool status_understood(int status)
{
    return status >= 200 && status <= 599 && status != 206 && status != 304 &&
           strcmp(http_status_reason(status), "Unknown") != 0;
}

enum cache_nostore cache_storable(enum http_method method, const struct http_fields *req,
                                  const struct cache_control *req_cc, int status,
                                  const struct http_fields *res, const struct cache_control *res_cc)
{
    unsigned rf = res_cc->flags;
    /* §3: the method is understood and cacheable; POST only with Content-Location, not here */
    if (method != HTTP_METHOD_GET && method != HTTP_METHOD_HEAD) return CACHE_NOSTORE_METHOD;
    /* §3: a final status; 206, 304 and any status under must-understand must be understood */
    bool understood = status_understood(status);
    if (status < 200 || status > 599) return CACHE_NOSTORE_STATUS;
    if ((status == 206 || status == 304 || (rf & CACHE_CC_MUST_UNDERSTAND)) && !understood)
        return CACHE_NOSTORE_STATUS;
    if (req_cc->flags & CACHE_CC_NO_STORE) return CACHE_NOSTORE_REQ_NO_STORE;
    /* §5.2.2.3: must-understand overrides no-store when the status is understood */
    if ((rf & CACHE_CC_NO_STORE) && !((rf & CACHE_CC_MUST_UNDERSTAND) && understood))
        return CACHE_NOSTORE_NO_STORE;
    /* §5.2.2.7: a qualified private only keeps its fields out (cache_fields_for_store) */
    if ((rf & CACHE_CC_PRIVATE) && res_cc->private_fields.len == 0) return CACHE_NOSTORE_PRIVATE;
    /* §3.5 */
    if (http_fields_find(req, HTTP_TOKEN_AUTHORIZATION) &&
        !(rf & (CACHE_CC_PUBLIC | CACHE_CC_S_MAXAGE | CACHE_CC_MUST_REVALIDATE)))
        return CACHE_NOSTORE_AUTHORIZATION;
    /* §3: explicit freshness, public, or a heuristically cacheable status */
    if ((rf & (CACHE_CC_PUBLIC | CACHE_CC_MAX_AGE | CACHE_CC_S_MAXAGE)) ||
        http_fields_find(res, HTTP_TOKEN_EXPIRES) || cache_status_heuristic(status))
        return CACHE_STORABLE;
    return CACHE_NOSTORE_NO_FRESHNESS;
}

static int64_t clamp_delta(int64_t v)
{
    return v < 0 ? 0 : v > CACHE_DELTA_MAX ? CACHE_DELTA_MAX : v;
}

/* a - b for times from dates, saturating instead of overflowing */
static int64_t time_diff(int64_t a, int64_t b)
{
    int64_t d;
    if (__builtin_sub_overflow(a, b, &d)) return a > b ? INT64_MAX : INT64_MIN;
    return d;
}

int64_t cache_freshness_lifetime(const struct http_fields *res, const struct cache_control *res_cc,
                                 int status, time_t response_time, int64_t heuristic_max,
                                 bool *heuristic)
{
    if (heuristic) *heuristic = false;
    if (res_cc->freshness_invalid) return 0;
    /* §4.2.1, shared cache order */
    if (res_cc->flags & CACHE_CC_S_MAXAGE) return res_cc->s_maxage;
    if (res_cc->flags & CACHE_CC_MAX_AGE) return res_cc->max_age;
    time_t date, expires, last_modified;
    if (!field_date(res, HTTP_TOKEN_DATE, &date)) date = response_time;
    if (cache_expires(res, &expires)) return clamp_delta(time_diff(expires, date));
    /* §4.2.2: heuristic freshness, only where §3 allows storing without explicit freshness */
    if (!cache_status_heuristic(status) && !(res_cc->flags & CACHE_CC_PUBLIC)) return 0;
    if (!field_date(res, HTTP_TOKEN_LAST_MODIFIED, &last_modified)) return 0;
    int64_t lifetime = clamp_delta(time_diff(date, last_modified)) / 10;
    if (lifetime > heuristic_max) lifetime = heuristic_max < 0 ? 0 : heuristic_max;
    if (heuristic) *heuristic = true;
    return lifetime;
}

int64_t cache_age_compute(int64_t age_value, time_t date_value, time_t request_time,
                          time_t response_time, time_t now)
{
    /* §4.2.3, each term clamped to [0, 2^31] so that no sum overflows */
    int64_t apparent_age = clamp_delta(time_diff(response_time, date_value));
    int64_t response_delay = clamp_delta(time_diff(response_time, request_time));
    int64_t corrected_age_value = clamp_delta(age_value) + response_delay;
    int64_t corrected_initial_age =
        apparent_age > corrected_age_value ? apparent_age : corrected_age_value;
    int64_t resident_time = clamp_delta(time_diff(now, response_time));
    return clamp_delta(corrected_initial_age + resident_time);
}

int64_t cache_current_age(const struct http_fields *res, time_t request_time, time_t response_time,
                          time_t now)
{
    time_t date;
    /* RFC 9110 §6.6.1: without a (valid) Date the receipt time stands for it */
    if (!field_date(res, HTTP_TOKEN_DATE, &date)) date = response_time;
    return cache_age_compute(cache_age_value(res), date, request_time, response_time, now);
}

enum cache_use cache_use_decide(const struct cache_control *req_cc,
                                const struct cache_control *res_cc, int64_t lifetime, int64_t age,
                                bool origin_error)
{
    unsigned q = req_cc->flags, r = res_cc->flags;
    if (age < 0) age = 0;
    if (lifetime < 0) lifetime = 0;
    /* §5.2.2.4: an unqualified no-cache needs validation every time */
    if ((r & CACHE_CC_NO_CACHE) && res_cc->no_cache_fields.len == 0)
        return CACHE_USE_VALIDATE_STRICT;
    bool fresh = lifetime > age;
    int64_t staleness = fresh ? 0 : age - lifetime;
    /* §5.2.1: the request's own limits on age and remaining freshness */
    bool req_ok = !(q & CACHE_CC_NO_CACHE) && !((q & CACHE_CC_MAX_AGE) && age > req_cc->max_age);
    if (fresh) {
        if (origin_error) return CACHE_USE_FRESH; /* better than the error */
        if (req_ok && !((q & CACHE_CC_MIN_FRESH) && lifetime - age < req_cc->min_fresh))
            return CACHE_USE_FRESH;
        return CACHE_USE_VALIDATE;
    }
    /* §4.2.4: must-revalidate, and for a shared cache proxy-revalidate and s-maxage (§5.2.2.10),
     * forbid serving it stale, even on error (RFC 5861 §4 defers to them) */
    if (r & (CACHE_CC_MUST_REVALIDATE | CACHE_CC_PROXY_REVALIDATE | CACHE_CC_S_MAXAGE))
        return CACHE_USE_VALIDATE_STRICT;
    if (origin_error) {
        /* RFC 5861 §4: stale-if-error of the request or the response */
        if ((q & CACHE_CC_STALE_IF_ERROR) && staleness <= req_cc->stale_if_error)
            return CACHE_USE_STALE;
        if ((r & CACHE_CC_STALE_IF_ERROR) && staleness <= res_cc->stale_if_error)
            return CACHE_USE_STALE;
        return CACHE_USE_VALIDATE;
    }
    if (!req_ok) return CACHE_USE_VALIDATE;
    /* §5.2.1.2 */
    if ((q & CACHE_CC_MAX_STALE_ANY) ||
        ((q & CACHE_CC_MAX_STALE) && staleness <= req_cc->max_stale))
        return CACHE_USE_STALE;
    /* RFC 5861 §3 */
    if ((r & CACHE_CC_STALE_WHILE_REVALIDATE) && staleness <= res_cc->stale_while_revalidate)
        return CACHE_USE_STALE_REVALIDATE;
    return CACHE_USE_VALIDATE;
}

/* List elements equal but for OWS around ';' (RFC 9110 §5.6.6 parameters). */
static bool element_eq(str_t a, str_t b)
{
    size_t pa = 0, pb = 0;
    str_t x, y;
    for (;;) {
        bool more_a = http_split_next(a, &pa, ';', &x), more_b = http_split_next(b, &pb, ';', &y);
        if (more_a != more_b) return false;
        if (!more_a) return true;
        if (!str_eq(x, y)) return false;
    }
}

/* The list elements of every line of one field, in order. */
struct field_elems {
    const struct http_fields *f;
    str_t name;
    size_t line, pos;
};

static bool field_elems_next(struct field_elems *it, str_t *elem)
{
    for (; it->line < it->f->count; it->line++, it->pos = 0) {
        const struct http_field *h = &it->f->items[it->line];
        if (!str_eq_nocase(h->name, it->name)) continue;
        if (http_list_next(h->value, &it->pos, elem)) return true;
    }
    return false;
}

/* §4.1: the field named `name` has the same value in both requests once whitespace is
 * normalised and its lines are combined. */
static bool vary_field_match(str_t name, const struct http_fields *a, const struct http_fields *b)
{
    if ((http_fields_find_name(a, name) != NULL) != (http_fields_find_name(b, name) != NULL))
        return false; /* absent matches only absent */
    struct field_elems ia = {a, name, 0, 0}, ib = {b, name, 0, 0};
    str_t x, y;
    for (;;) {
        bool more_a = field_elems_next(&ia, &x), more_b = field_elems_next(&ib, &y);
        if (more_a != more_b) return false;
        if (!more_a) return true;
        if (!element_eq(x, y)) return false;
    }
}

bool cache_vary_match(const struct http_fields *res, const struct http_fields *stored_req,
                      const struct http_fields *new_req)
{
    struct field_elems it = {res, STR_LIT("vary"), 0, 0};
    str_t name;
    while (field_elems_next(&it, &name)) {
        /* "*" never matches; nor does a member that is not a field name */
        if (str_eq(name, STR_LIT("*")) || !http_is_token(name)) return false;
        if (!vary_field_match(name, stored_req, new_req)) return false;
    }
    return true;
}

bool cache_invalidates(enum http_method method, int status)
{
    /* §4.4: unsafe methods (RFC 9110 §9.2.1; unknown ones count as unsafe), non-error status */
    bool safe = method == HTTP_METHOD_GET || method == HTTP_METHOD_HEAD ||
                method == HTTP_METHOD_OPTIONS || method == HTTP_METHOD_TRACE;
    return !safe && status >= 200 && status <= 399;
}

static str_t default_port(str_t scheme)
{
    if (str_eq_nocase(scheme, STR_LIT("http"))) return STR_LIT("80");
    if (str_eq_nocase(scheme, STR_LIT("https"))) return STR_LIT("443");
    return STR_NULL;
}

/* Splits host[:port] (an IP literal in brackets keeps its colons); port "" when none. */
static void split_authority(str_t a, str_t *host, str_t *port)
{
    size_t colon = a.len;
    for (size_t i = a.len; i > 0; i--) {
        if (a.p[i - 1] == ']') break;
        if (a.p[i - 1] == ':') {
            colon = i - 1;
            break;
        }
    }
    *host = str_make(a.p, colon);
    *port = colon < a.len ? str_make(a.p + colon + 1, a.len - colon - 1) : STR_NULL;
}

/* RFC 9110 §4.3.1: same scheme, host and port (a default or empty port equals none). */
static bool same_authority(str_t scheme, str_t a, str_t b)
{
    str_t ha, pa, hb, pb;
    split_authority(a, &ha, &pa);
    split_authority(b, &hb, &pb);
    if (pa.len == 0) pa = default_port(scheme);
    if (pb.len == 0) pb = default_port(scheme);
    return str_eq_nocase(ha, hb) && str_eq(pa, pb);
}

bool cache_invalidation_uri(str_t scheme, str_t authority, str_t uri, str_t *path)
{
    const char *hash = memchr(uri.p, '#', uri.len);
    if (hash) uri.len = (size_t)(hash - uri.p);
    size_t i = 0;
    /* an absolute URI's scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    while (i < uri.len && (http_is_tchar((unsigned char)uri.p[i]) && uri.p[i] != '/'))
        i++;
    if (i > 0 && i < uri.len && uri.p[i] == ':') {
        if (!str_eq_nocase(str_make(uri.p, i), scheme)) return false;
        uri.p += i + 1;
        uri.len -= i + 1;
    }
    if (uri.len >= 2 && uri.p[0] == '/' && uri.p[1] == '/') {
        size_t end = 2;
        while (end < uri.len && uri.p[end] != '/' && uri.p[end] != '?')
            end++;
        str_t auth = str_make(uri.p + 2, end - 2);
        if (memchr(auth.p, '@', auth.len) || !same_authority(scheme, authority, auth))
            return false; /* userinfo or another origin */
        uri.p += end;
        uri.len -= end;
        if (uri.len == 0) {
            *path = STR_LIT("/");
            return true;
        }
    }
    /* an absolute path; a relative path would need the target's path to resolve */
    if (uri.len == 0 || uri.p[0] != '/') return false;
    *path = uri;
    return true;
}

static bool name_in_list(str_t list, str_t name)
{
    size_t pos = 0;
    str_t e;
    while (http_list_next(list, &pos, &e))
        if (str_eq_nocase(e, name)) return true;
    return false;
}

/* §3.1: a field a cache does not store (Connection itself aside): hop-by-hop fields, the
 * fields Connection names, those specific to the proxy the cache forwards through (the cache key
 * holds no proxy identity), and those a qualified no-cache or private names. */
static bool not_stored(const struct http_fields *msg, const struct cache_control *cc,
                       const struct http_field *f)
{
    const struct http_token_info *info = http_token_info(f->token);
    if (info && (info->flags & HTTP_TOKEN_HOP_BY_HOP)) return true;
    if (f->token == HTTP_TOKEN_PROXY_AUTHENTICATE || f->token == HTTP_TOKEN_PROXY_AUTHORIZATION ||
        str_eq_nocase(f->name, STR_LIT("proxy-authentication-info")))
        return true;
    if (http_fields_has_word(msg, HTTP_TOKEN_CONNECTION, f->name)) return true;
    return cc && ((cc->flags & CACHE_CC_NO_CACHE && name_in_list(cc->no_cache_fields, f->name)) ||
                  (cc->flags & CACHE_CC_PRIVATE && name_in_list(cc->private_fields, f->name)));
}

void cache_fields_for_store(struct http_fields *fields, const struct cache_control *res_cc)
{
    /* Connection lines are kept through the first pass so that every field they name is seen;
     * the slots left behind hold copies of kept lines or of non-Connection lines only. */
    size_t w = 0;
    for (size_t i = 0; i < fields->count; i++) {
        const struct http_field *f = &fields->items[i];
        if (f->token != HTTP_TOKEN_CONNECTION && not_stored(fields, res_cc, f)) continue;
        fields->items[w++] = *f;
    }
    fields->count = w;
    http_fields_remove(fields, HTTP_TOKEN_CONNECTION);
}

static void remove_name(struct http_fields *f, str_t name)
{
    size_t w = 0;
    for (size_t i = 0; i < f->count; i++)
        if (!str_eq_nocase(f->items[i].name, name)) f->items[w++] = f->items[i];
    f->count = w;
}

/* §3.2: fields of a 304 or HEAD response that do not update the stored response. */
static bool not_updated(const struct http_fields *fresh, const struct cache_control *cc,
                        const struct http_field *f)
{
    return f->token == HTTP_TOKEN_CONTENT_LENGTH || not_stored(fresh, cc, f);
}

int cache_fields_update(struct http_fields *stored, struct pool *pool,
                        const struct http_fields *fresh)
{
    struct cache_control cc;
    cache_control_parse(fresh, false, &cc);
    for (size_t i = 0; i < fresh->count; i++)
        if (!not_updated(fresh, &cc, &fresh->items[i])) remove_name(stored, fresh->items[i].name);
    for (size_t i = 0; i < fresh->count; i++) {
        const struct http_field *f = &fresh->items[i];
        if (not_updated(fresh, &cc, f)) continue;
        char *name = pool_strndup(pool, f->name.p, f->name.len);
        char *value = pool_strndup(pool, f->value.p, f->value.len);
        if (!name || !value ||
            http_fields_add(stored, pool, str_make(name, f->name.len),
                            str_make(value, f->value.len)) != 0)
            return -1;
    }
    return 0;
}

/* Adds a copy of value under token. */
static int add_copy(struct http_fields *f, struct pool *pool, enum http_token token, str_t value)
{
    char *v = pool_strndup(pool, value.p, value.len);
    return v ? http_fields_add_token(f, pool, token, str_make(v, value.len)) : -1;
}

int cache_add_validators(struct http_fields *req, struct pool *pool,
                         const struct http_fields *stored)
{
    http_fields_remove(req, HTTP_TOKEN_IF_NONE_MATCH);
    http_fields_remove(req, HTTP_TOKEN_IF_MODIFIED_SINCE);
    /* §4.3.1: the entity tag when there is one, and Last-Modified too */
    str_t v;
    bool conflict;
    if (single_value(stored, HTTP_TOKEN_ETAG, &v, &conflict) && !conflict &&
        add_copy(req, pool, HTTP_TOKEN_IF_NONE_MATCH, v) != 0)
        return -1;
    if (single_value(stored, HTTP_TOKEN_LAST_MODIFIED, &v, &conflict) && !conflict &&
        add_copy(req, pool, HTTP_TOKEN_IF_MODIFIED_SINCE, v) != 0)
        return -1;
    return 0;
}

bool cache_304_selects(const struct http_fields *stored, const struct http_fields *res304)
{
    str_t tag, stored_tag = STR_NULL;
    bool conflict;
    bool stored_has_tag = single_value(stored, HTTP_TOKEN_ETAG, &stored_tag, &conflict);
    if (single_value(res304, HTTP_TOKEN_ETAG, &tag, &conflict)) {
        if (conflict || !stored_has_tag) return false;
        bool weak = tag.len >= 2 && tag.p[0] == 'W' && tag.p[1] == '/';
        return weak ? http_etag_weak_eq(stored_tag, tag) : http_etag_strong_eq(stored_tag, tag);
    }
    time_t lm304, lm;
    bool stored_has_lm = http_fields_find(stored, HTTP_TOKEN_LAST_MODIFIED) != NULL;
    if (http_fields_find(res304, HTTP_TOKEN_LAST_MODIFIED))
        return field_date(res304, HTTP_TOKEN_LAST_MODIFIED, &lm304) &&
               field_date(stored, HTTP_TOKEN_LAST_MODIFIED, &lm) && lm == lm304;
    /* no validator in the 304: only a stored response without one */
    return !stored_has_tag && !stored_has_lm;
}

/* RFC 8941 §3.3.4 sf-token. */
static bool sf_token(str_t s)
{
    if (s.len == 0) return false;
    char c = s.p[0];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*')) return false;
    for (size_t i = 1; i < s.len; i++)
        if (!http_is_tchar((unsigned char)s.p[i]) && s.p[i] != ':' && s.p[i] != '/') return false;
    return true;
}

/* An sf-token as is, anything else as an sf-string (RFC 8941 §3.3.3; bytes it cannot hold
 * become '?'). */
static int append_sf_item(struct buf *b, str_t s)
{
    if (sf_token(s)) return buf_append(b, s.p, s.len);
    if (buf_append(b, "\"", 1) != 0) return -1;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        if (c < 0x20 || c > 0x7e) c = '?';
        if ((c == '"' || c == '\\') && buf_append(b, "\\", 1) != 0) return -1;
        if (buf_append(b, &c, 1) != 0) return -1;
    }
    return buf_append(b, "\"", 1);
}

static const char *const fwd_names[] = {
    [CACHE_FWD_BYPASS] = "bypass",     [CACHE_FWD_METHOD] = "method",
    [CACHE_FWD_URI_MISS] = "uri-miss", [CACHE_FWD_VARY_MISS] = "vary-miss",
    [CACHE_FWD_MISS] = "miss",         [CACHE_FWD_REQUEST] = "request",
    [CACHE_FWD_STALE] = "stale",       [CACHE_FWD_PARTIAL] = "partial",
};

int cache_status_format(struct buf *b, str_t name, const struct cache_status *st)
{
    /* RFC 9211 §2: the cache's name, then its parameters; hit and fwd exclude each other */
    int rc = append_sf_item(b, name);
    if (st->hit)
        rc |= buf_append(b, "; hit", 5);
    else if (st->fwd > CACHE_FWD_NONE && st->fwd <= CACHE_FWD_PARTIAL)
        rc |= buf_appendf(b, "; fwd=%s", fwd_names[st->fwd]);
    if (!st->hit && st->fwd != CACHE_FWD_NONE && st->fwd_status > 0)
        rc |= buf_appendf(b, "; fwd-status=%d", st->fwd_status);
    if (st->has_ttl) rc |= buf_appendf(b, "; ttl=%" PRId64, st->ttl);
    if (st->stored) rc |= buf_append(b, "; stored", 8);
    if (st->collapsed) rc |= buf_append(b, "; collapsed", 11);
    if (st->detail) {
        rc |= buf_append(b, "; detail=", 9);
        rc |= append_sf_item(b, str_cstr(st->detail));
    }
    return rc ? -1 : 0;
}
