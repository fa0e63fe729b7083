#include "http/reqcheck.h"

#include <string.h>

static int malformed(struct http_reqcheck *c, const char *why)
{
    if (!c->malformed) c->why = why;
    c->malformed = true;
    return 1;
}

/* §8.2.1 / §4.2: no NUL, CR or LF; no leading or trailing SP/HTAB. */
static bool value_ok(str_t v)
{
    if (v.len &&
        (v.p[0] == ' ' || v.p[0] == '\t' || v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
        return false;
    const unsigned bad = 1u << 0 | 1u << '\n' | 1u << '\r';
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char)v.p[i];
        if (ch <= '\r' && (bad >> ch & 1)) return false;
    }
    return true;
}

/* §8.2 / §4.2: lower-case token characters only. */
static bool name_ok(str_t n)
{
    if (n.len == 0) return false;
    for (size_t i = 0; i < n.len; i++) {
        unsigned char ch = (unsigned char)n.p[i];
        if ((ch >= 'A' && ch <= 'Z') || !http_is_tchar(ch)) return false;
    }
    return true;
}

void http_reqcheck_init(struct http_reqcheck *c, struct http_request *req, size_t max_count,
                        bool trailers)
{
    *c = (struct http_reqcheck){.req = req,
                                .fields = trailers ? &req->trailers : &req->headers,
                                .pool = req->pool,
                                .max_count = max_count,
                                .trailers = trailers,
                                .content_length = -1};
}

void http_reqcheck_init_response(struct http_reqcheck *c, struct http_fields *fields,
                                 struct pool *pool, size_t max_count, bool trailers)
{
    *c = (struct http_reqcheck){.fields = fields,
                                .pool = pool,
                                .response = true,
                                .max_count = max_count,
                                .trailers = trailers,
                                .content_length = -1};
}

/* §8.3.2 / §4.3.2: exactly three digits. */
static int status_pseudo(struct http_reqcheck *c, str_t value)
{
    if (c->status) return malformed(c, "duplicated :status");
    if (value.len != 3) return malformed(c, "invalid :status");
    int v = 0;
    for (size_t i = 0; i < 3; i++) {
        if (value.p[i] < '0' || value.p[i] > '9') return malformed(c, "invalid :status");
        v = v * 10 + (value.p[i] - '0');
    }
    if (v < 100) return malformed(c, "invalid :status");
    c->status = v;
    return 0;
}

bool http_reqcheck_finish_response(struct http_reqcheck *c)
{
    if (!c->status) return malformed(c, "missing :status"), false;
    return !c->malformed;
}

static int pseudo(struct http_reqcheck *c, str_t name, str_t value)
{
    if (c->trailers) return malformed(c, "pseudo-header in trailers");
    if (c->regular_seen) return malformed(c, "pseudo-header after regular fields");
    if (c->response) {
        if (name.len == 7 && memcmp(name.p, ":status", 7) == 0) return status_pseudo(c, value);
        return malformed(c, "request pseudo-header in a response");
    }
    str_t *slot;
    bool *has;
    if (name.len == 7 && memcmp(name.p, ":method", 7) == 0) {
        slot = &c->method;
        has = &c->has_method;
    } else if (name.len == 7 && memcmp(name.p, ":scheme", 7) == 0) {
        slot = &c->scheme;
        has = &c->has_scheme;
    } else if (name.len == 5 && memcmp(name.p, ":path", 5) == 0) {
        slot = &c->path;
        has = &c->has_path;
    } else if (name.len == 10 && memcmp(name.p, ":authority", 10) == 0) {
        slot = &c->authority;
        has = &c->has_authority;
    } else if (name.len == 9 && memcmp(name.p, ":protocol", 9) == 0 && c->allow_protocol) {
        slot = &c->protocol; /* RFC 8441 §4; unknown (malformed) where not offered */
        has = &c->has_protocol;
    } else {
        return malformed(c, "unknown pseudo-header");
    }
    if (*has) return malformed(c, "duplicated pseudo-header");
    if (!value_ok(value)) return malformed(c, "invalid pseudo-header value");
    *slot = value; /* the decoder's strings live in the request's pool */
    *has = true;
    return 0;
}

int http_reqcheck_field(struct http_reqcheck *c, str_t name, str_t value, enum http_token token)
{
    if (c->malformed || c->too_many) return 1;
    if (name.len && name.p[0] == ':') return pseudo(c, name, value);
    c->regular_seen = true;
    if (++c->count > c->max_count) {
        c->too_many = true;
        return 1;
    }
    const struct http_token_info *info = token != HTTP_TOKEN_NONE ? http_token_info(token) : NULL;
    /* a name spelled exactly as its token's (lower-case) name is valid */
    if (!(info && str_eq(name, info->name)) && !name_ok(name))
        return malformed(c, "invalid field name");
    if (token != HTTP_TOKEN_NONE) {
        if (info->flags & HTTP_TOKEN_HOP_BY_HOP) {
            if (token == HTTP_TOKEN_TE && !c->response) {
                if (!str_eq(value, STR_LIT("trailers")))
                    return malformed(c, "TE other than trailers");
            } else if (token != HTTP_TOKEN_HTTP2_SETTINGS || !c->allow_http2_settings) {
                return malformed(c, "connection-specific field");
            }
        }
        name = info->name; /* static: no copy */
    }
    if (!value_ok(value)) return malformed(c, "invalid field value");
    struct http_fields *f = c->fields;
    if (c->trailers) {
        if (http_fields_add(f, c->pool, name, value) < 0) return malformed(c, "out of memory");
        return 0;
    }
    if (token == HTTP_TOKEN_CONTENT_LENGTH) {
        int64_t n = 0;
        if (value.len == 0 || value.len > 18) return malformed(c, "invalid content-length");
        for (size_t i = 0; i < value.len; i++) {
            if (value.p[i] < '0' || value.p[i] > '9') return malformed(c, "invalid content-length");
            n = n * 10 + (value.p[i] - '0');
        }
        if (c->content_length >= 0 && c->content_length != n)
            return malformed(c, "conflicting content-length");
        c->content_length = n;
    }
    if (http_fields_add_token(f, c->pool, token, value) < 0) return malformed(c, "out of memory");
    if (token == HTTP_TOKEN_NONE) f->items[f->count - 1].name = name;
    return 0;
}

void http_request_derive_host(struct http_request *req)
{
    str_t a = req->authority;
    if (a.len == 0) return;
    size_t end = a.len;
    if (a.p[0] == '[') {
        const char *rb = memchr(a.p, ']', a.len);
        end = rb ? (size_t)(rb - a.p) + 1 : a.len;
    } else {
        const char *colon = memchr(a.p, ':', a.len);
        if (colon) end = (size_t)(colon - a.p);
    }
    if (end && a.p[end - 1] == '.') end--;
    char *h = pool_alloc(req->pool, end + 1);
    if (!h) return;
    for (size_t i = 0; i < end; i++)
        h[i] = ascii_lower(a.p[i]);
    h[end] = '\0';
    req->host = str_make(h, end);
}

bool http_reqcheck_finish(struct http_reqcheck *c)
{
    struct http_request *req = c->req;
    if (!c->has_method) return malformed(c, "missing :method"), false;
    req->method_name = c->method;
    req->method = http_method_from_str(c->method);
    if (c->has_protocol) {
        /* RFC 8441 §4: only on CONNECT, which then has :scheme, :path and :authority */
        if (req->method != HTTP_METHOD_CONNECT || !c->has_authority)
            return malformed(c, ":protocol without an extended CONNECT"), false;
        /* an Upgrade token (RFC 9110 §7.8) as it may go upstream in one */
        if (!http_is_token(c->protocol)) return malformed(c, "invalid :protocol"), false;
        req->protocol = c->protocol;
    }
    if (req->method == HTTP_METHOD_CONNECT && !c->has_protocol) {
        /* §8.5 / §4.4: :authority only; dispatch tunnels it (forward proxy) or refuses it */
        if (c->has_scheme || c->has_path || !c->has_authority)
            return malformed(c, "malformed CONNECT"), false;
        req->target = c->authority;
        req->path = STR_LIT("/");
    } else {
        if (!c->has_scheme || !c->has_path) return malformed(c, "missing :scheme or :path"), false;
        if (c->path.len == 0) return malformed(c, "empty :path"), false;
        if (c->path.p[0] != '/' &&
            !(c->path.len == 1 && c->path.p[0] == '*' && req->method == HTTP_METHOD_OPTIONS))
            return malformed(c, "invalid :path"), false;
        req->target = c->path;
        const char *q = memchr(c->path.p, '?', c->path.len);
        size_t plen = q ? (size_t)(q - c->path.p) : c->path.len;
        req->path = str_make(c->path.p, plen);
        if (q) {
            req->query = str_make(q + 1, c->path.len - plen - 1);
            req->has_query = true;
        }
        req->scheme = c->scheme;
    }
    const struct http_field *host = http_fields_find(&req->headers, HTTP_TOKEN_HOST);
    if (c->has_authority) {
        if (host && !str_eq_nocase(host->value, c->authority))
            return malformed(c, "Host differs from :authority"), false;
        req->authority = c->authority;
    } else if (host) {
        req->authority = host->value;
    }
    http_request_derive_host(req);
    return true;
}
