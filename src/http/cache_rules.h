/* HTTP caching rules for a shared cache (RFC 9111, with RFC 5861 stale-* and RFC 9211
 * Cache-Status): pure functions over fields and times, no store and no I/O. A caching proxy
 * parses Cache-Control once per message, asks whether a response may be stored, computes its
 * freshness lifetime and current age, and decides per request whether a stored response can be
 * used as is, used stale, or must be validated first. */
#ifndef TERN_HTTP_CACHE_RULES_H
#define TERN_HTTP_CACHE_RULES_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/pool.h"
#include "core/str.h"
#include "http/header.h"
#include "http/request.h"

/* RFC 9111 §1.2.2: a delta-seconds too big to represent (or an overflowing sum) counts as 2^31. */
#define CACHE_DELTA_MAX INT64_C(2147483648)

/* Cache-Control directives (RFC 9111 §5.2), as bits of cache_control.flags. */
enum cache_cc_flag {
    CACHE_CC_MAX_AGE = 1u << 0,                 /* request and response */
    CACHE_CC_S_MAXAGE = 1u << 1,                /* response */
    CACHE_CC_MAX_STALE = 1u << 2,               /* request; max_stale is the limit */
    CACHE_CC_MAX_STALE_ANY = 1u << 3,           /* request "max-stale" without a value */
    CACHE_CC_MIN_FRESH = 1u << 4,               /* request */
    CACHE_CC_NO_CACHE = 1u << 5,                /* both; response may be qualified */
    CACHE_CC_NO_STORE = 1u << 6,                /* both */
    CACHE_CC_NO_TRANSFORM = 1u << 7,            /* both */
    CACHE_CC_ONLY_IF_CACHED = 1u << 8,          /* request */
    CACHE_CC_PRIVATE = 1u << 9,                 /* response; may be qualified */
    CACHE_CC_PUBLIC = 1u << 10,                 /* response */
    CACHE_CC_MUST_REVALIDATE = 1u << 11,        /* response */
    CACHE_CC_PROXY_REVALIDATE = 1u << 12,       /* response */
    CACHE_CC_MUST_UNDERSTAND = 1u << 13,        /* response */
    CACHE_CC_IMMUTABLE = 1u << 14,              /* response (RFC 8246) */
    CACHE_CC_STALE_WHILE_REVALIDATE = 1u << 15, /* response (RFC 5861 §3) */
    CACHE_CC_STALE_IF_ERROR = 1u << 16,         /* both (RFC 5861 §4) */
};

struct cache_control {
    unsigned flags; /* enum cache_cc_flag */
    /* delta-seconds of the directives whose flag is set, capped at CACHE_DELTA_MAX */
    int64_t max_age, s_maxage, max_stale, min_fresh, stale_while_revalidate, stale_if_error;
    /* The field names of a qualified no-cache="a, b" / private="a, b" (the text inside the
     * quotes, pointing into the parsed field value); len 0 when unqualified. A shared cache
     * stores the response without them (cache_fields_for_store) and may then reuse it. */
    str_t no_cache_fields, private_fields;
    /* Response: a malformed or conflicting max-age / s-maxage (RFC 9111 §4.2.1): stale. */
    bool freshness_invalid;
};

/* Parses every Cache-Control line of fields (a list, RFC 9110 §5.6.1) into *cc. Names are
 * case-insensitive, arguments token or quoted-string, unknown directives and directives of the
 * other role ignored. A request without Cache-Control but with Pragma: no-cache gets no-cache
 * (RFC 9111 §5.4). Repeated response max-age / s-maxage with different values, or malformed
 * ones ("max-age=-1", "max-age=x", "max-age"), set freshness_invalid; a repeated request
 * directive keeps its most restrictive value; a malformed request max-age counts as 0. */
void cache_control_parse(const struct http_fields *fields, bool request, struct cache_control *cc);
/* Adds the directives of one field value to *cc (zero it first); no Pragma. */
void cache_control_parse_value(str_t value, bool request, struct cache_control *cc);

/* Parses delta-seconds (RFC 9111 §1.2.2: 1*DIGIT), capping at CACHE_DELTA_MAX. */
bool cache_delta_parse(str_t s, int64_t *out);
/* Age value (RFC 9111 §5.1) of a response: 0 when absent; CACHE_DELTA_MAX (so stale) when
 * malformed or repeated with different values. */
int64_t cache_age_value(const struct http_fields *res);
/* Formats an Age value: negative as 0, capped at CACHE_DELTA_MAX. Returns the length (< 16). */
size_t cache_age_format(int64_t age, char out[16]);
/* Expires (RFC 9111 §5.3): false when absent; an invalid value (such as "0") or differing
 * repeated values read as a time in the past (0). */
bool cache_expires(const struct http_fields *res, time_t *out);

/* Why a response may not be stored (RFC 9111 §3); CACHE_STORABLE when it may. */
enum cache_nostore {
    CACHE_STORABLE = 0,
    CACHE_NOSTORE_METHOD,        /* not GET or HEAD */
    CACHE_NOSTORE_STATUS,        /* not final, or not understood (206, 304, unknown codes) */
    CACHE_NOSTORE_REQ_NO_STORE,  /* request no-store (§5.2.1.5) */
    CACHE_NOSTORE_NO_STORE,      /* response no-store (§5.2.2.5) */
    CACHE_NOSTORE_PRIVATE,       /* unqualified private (§5.2.2.7) */
    CACHE_NOSTORE_AUTHORIZATION, /* Authorization without public/s-maxage/must-revalidate §3.5 */
    CACHE_NOSTORE_NO_FRESHNESS, /* no explicit freshness, not heuristically cacheable, not public */
};
/* Short token for logs and Cache-Status detail ("no-store"). */
const char *cache_nostore_name(enum cache_nostore reason);

/* RFC 9110 §15.1: 200 203 204 206 300 301 308 404 405 410 414 501. */
bool cache_status_heuristic(int status);

/* May a shared cache store this response to this request (RFC 9111 §3)? A qualified private or
 * no-cache does not stop it: store it after cache_fields_for_store. must-understand makes
 * no-store ignored for an understood status (§5.2.2.3). */
enum cache_nostore cache_storable(enum http_method method, const struct http_fields *req,
                                  const struct cache_control *req_cc, int status,
                                  const struct http_fields *res,
                                  const struct cache_control *res_cc);

/* Freshness lifetime in seconds for a shared cache (RFC 9111 §4.2.1): s-maxage, else max-age,
 * else Expires - Date (Date absent or invalid: response_time), else the heuristic of §4.2.2:
 * 10% of Date - Last-Modified, at most heuristic_max, for heuristically cacheable statuses or
 * public responses (*heuristic set true, may be NULL). 0 when freshness_invalid. */
int64_t cache_freshness_lifetime(const struct http_fields *res, const struct cache_control *res_cc,
                                 int status, time_t response_time, int64_t heuristic_max,
                                 bool *heuristic);

/* The current age of RFC 9111 §4.2.3 from its inputs: apparent_age = max(0, response_time -
 * date_value), corrected_age_value = age_value + response_time - request_time, then
 * max(apparent_age, corrected_age_value) + now - response_time; capped at CACHE_DELTA_MAX. */
int64_t cache_age_compute(int64_t age_value, time_t date_value, time_t request_time,
                          time_t response_time, time_t now);
/* The same, reading Age and Date from the stored response (Date absent: response_time). */
int64_t cache_current_age(const struct http_fields *res, time_t request_time, time_t response_time,
                          time_t now);

/* What to do with a stored response for a request (RFC 9111 §4.2.4, §5.2; RFC 5861). */
enum cache_use {
    CACHE_USE_FRESH,            /* serve it */
    CACHE_USE_STALE,            /* serve it stale: max-stale, or stale-if-error on an error */
    CACHE_USE_STALE_REVALIDATE, /* serve it stale and revalidate in the background (RFC 5861 §3) */
    CACHE_USE_VALIDATE,         /* validate first; if the origin fails, ask again with error */
    CACHE_USE_VALIDATE_STRICT,  /* validate first and never serve it unvalidated: no-cache,
                                 * or stale with must-revalidate/proxy-revalidate/s-maxage */
};
/* Decides for a stored response of the given lifetime and current age. origin_error: the
 * origin could not be reached or answered 500/502/503/504 (RFC 5861 §4), so stale-if-error of
 * the request or the response may apply; an explicit directive that forbids serving stale
 * (§4.2.4) wins over it. only-if-cached is the caller's: under it VALIDATE and VALIDATE_STRICT
 * become a 504 (§5.2.1.7).
 * immutable (RFC 8246) is parsed but not used: a request's no-cache or max-age=0 still
 * validates. */
enum cache_use cache_use_decide(const struct cache_control *req_cc,
                                const struct cache_control *res_cc, int64_t lifetime, int64_t age,
                                bool origin_error);

/* Vary (RFC 9111 §4.1): does a stored response (its fields res, and the fields of the request
 * that caused it) match a new request? A "*" member or a malformed member never matches; each
 * listed field matches when absent from both requests or when the values of all its lines,
 * taken as one list, have the same elements once OWS around commas and ';' is ignored. */
bool cache_vary_match(const struct http_fields *res, const struct http_fields *stored_req,
                      const struct http_fields *new_req);

/* Must a response with this status to this method invalidate the target URI (RFC 9111 §4.4)?
 * Unsafe methods (anything but GET, HEAD, OPTIONS, TRACE) with a 2xx or 3xx status. */
bool cache_invalidates(enum http_method method, int status);
/* For Location / Content-Location value uri of such a response: true when it has the target's
 * origin (a relative reference does; scheme and host compare case-insensitively, a default port
 * equals none), with its path and query in *path ("" of an absolute URI becomes "/"). */
bool cache_invalidation_uri(str_t scheme, str_t authority, str_t uri, str_t *path);

/* Removes from fields what a cache must not store (RFC 9111 §3.1): Connection and the fields it
 * names, the hop-by-hop fields, Proxy-Authenticate, Proxy-Authorization and
 * Proxy-Authentication-Info, and the fields a qualified no-cache or private names (res_cc may be
 * NULL). */
void cache_fields_for_store(struct http_fields *fields, const struct cache_control *res_cc);
/* Updates stored fields from a 304 or HEAD response (RFC 9111 §3.2, §4.3.4): each field of
 * fresh replaces every stored line of its name, except Content-Length and what §3.1 excludes.
 * Names and values are copied into pool. 0, or -1 on OOM (stored then partly updated). */
int cache_fields_update(struct http_fields *stored, struct pool *pool,
                        const struct http_fields *fresh);

/* Validation (RFC 9111 §4.3.1): replaces req's If-None-Match and If-Modified-Since with the
 * stored response's ETag and Last-Modified (those it has), copied into pool. 0, or -1 on OOM. */
int cache_add_validators(struct http_fields *req, struct pool *pool,
                         const struct http_fields *stored);
/* Does a 304 select this stored response for update (RFC 9111 §4.3.4)? A strong ETag in the 304
 * must equal the stored one strongly, a weak one weakly; without an ETag its Last-Modified must
 * equal the stored one; without either, only a stored response without validators matches
 * (the caller makes sure it is the only one stored). */
bool cache_304_selects(const struct http_fields *stored, const struct http_fields *res304);

/* Cache-Status (RFC 9211 §2). */
enum cache_fwd {
    CACHE_FWD_NONE = 0, /* a hit: no fwd parameter */
    CACHE_FWD_BYPASS,
    CACHE_FWD_METHOD,
    CACHE_FWD_URI_MISS,
    CACHE_FWD_VARY_MISS,
    CACHE_FWD_MISS,
    CACHE_FWD_REQUEST,
    CACHE_FWD_STALE,
    CACHE_FWD_PARTIAL,
};
struct cache_status {
    bool hit;
    enum cache_fwd fwd;
    int fwd_status; /* the forwarded response's status, 0 for none */
    bool has_ttl;
    int64_t ttl; /* lifetime - age: negative when stale */
    bool stored;
    bool collapsed;
    const char *detail; /* sf-token (e.g. cache_nostore_name) or NULL */
};
/* Appends one Cache-Status member "name; hit; ttl=12" to b (name as an sf-token when it is
 * one, else an sf-string). Returns 0, or -1 on OOM. */
int cache_status_format(struct buf *b, str_t name, const struct cache_status *st);

#endif
