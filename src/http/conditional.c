/* Conditional request evaluation (RFC 9110 §13.1, in the order of §13.2.2). */
#include "http/conditional.h"

#include "http/date.h"
#include "http/etag.h"

enum list_result { LIST_ABSENT, LIST_MATCH, LIST_NO_MATCH, LIST_MALFORMED };

/* Evaluates If-Match / If-None-Match over all its field lines (a list field may be split). */
static enum list_result eval_list(const struct http_fields *f, enum http_token token,
                                  const struct http_validators *v, bool weak)
{
    enum list_result r = LIST_ABSENT;
    for (size_t i = 0; i < f->count; i++) {
        if (f->items[i].token != token) continue;
        bool malformed;
        bool m = http_etag_list_match(f->items[i].value, v->etag, weak, &malformed);
        if (malformed) return LIST_MALFORMED;
        /* "*" matches only a current representation; a list needs an ETag to match */
        if (m && v->exists)
            r = LIST_MATCH;
        else if (r == LIST_ABSENT)
            r = LIST_NO_MATCH;
    }
    return r;
}

/* The single HTTP-date of a date-valued field; false when absent, repeated or invalid. */
static bool field_date(const struct http_fields *f, enum http_token token, time_t *out)
{
    if (http_fields_count_token(f, token) != 1) return false;
    const struct http_field *h = http_fields_find(f, token);
    return http_date_parse(h->value.p, h->value.len, out);
}

int http_conditional_eval(const struct http_request *req, const struct http_validators *v)
{
    const struct http_fields *f = &req->headers;
    bool get_head = req->method == HTTP_METHOD_GET || req->method == HTTP_METHOD_HEAD;
    time_t date;

    /* Step 1: If-Match (§13.1.1), strong comparison; malformed or no representation: false. */
    enum list_result im = eval_list(f, HTTP_TOKEN_IF_MATCH, v, false);
    if (im != LIST_ABSENT) {
        if (im != LIST_MATCH) return 412;
    } else if (v->exists && v->last_modified != 0 &&
               field_date(f, HTTP_TOKEN_IF_UNMODIFIED_SINCE, &date)) {
        /* Step 2: If-Unmodified-Since (§13.1.4); ignored without a modification date. */
        if (v->last_modified > date) return 412;
    }

    /* Step 3: If-None-Match (§13.1.2), weak comparison. A malformed one is ignored. */
    enum list_result inm = eval_list(f, HTTP_TOKEN_IF_NONE_MATCH, v, true);
    if (inm == LIST_MATCH) return get_head ? 304 : 412;
    if (inm == LIST_NO_MATCH) return 0;

    /* Step 4: If-Modified-Since (§13.1.3), GET/HEAD only; a date later than now is ignored. */
    if (get_head && v->exists && v->last_modified != 0 &&
        field_date(f, HTTP_TOKEN_IF_MODIFIED_SINCE, &date)) {
        time_t now = req->now ? req->now : time(NULL);
        if (date <= now && v->last_modified <= date) return 304;
    }
    return 0;
}

bool http_if_range_allows(const struct http_request *req, const struct http_validators *v)
{
    const struct http_fields *f = &req->headers;
    size_t n = http_fields_count_token(f, HTTP_TOKEN_IF_RANGE);
    if (n == 0) return true;
    if (n > 1 || !v->exists) return false;
    str_t val = str_trim_ows(http_fields_find(f, HTTP_TOKEN_IF_RANGE)->value);
    if (val.len && (val.p[0] == '"' || (val.len > 1 && val.p[0] == 'W' && val.p[1] == '/'))) {
        /* entity-tag: strong comparison, so a weak tag on either side never matches */
        return v->etag.len && http_etag_strong_eq(val, v->etag);
    }
    time_t date;
    return v->last_modified != 0 && http_date_parse(val.p, val.len, &date) &&
           date == v->last_modified;
}
