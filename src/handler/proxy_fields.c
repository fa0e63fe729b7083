#include "handler/proxy_fields.h"
#include "http/request_id.h"

#include <stdlib.h>
#include <string.h>

/* True when name is an element of the Connection field value v (RFC 9110 §7.6.1). */
static bool list_has(str_t v, str_t name)
{
    size_t pos = 0;
    str_t e;
    while (http_list_next(v, &pos, &e))
        if (str_eq_nocase(e, name)) return true;
    return false;
}

/* True when a Connection field of the request names name. */
static bool request_connection_names(const struct http_fields *h, str_t name)
{
    for (size_t i = 0; i < h->count; i++)
        if (h->items[i].token == HTTP_TOKEN_CONNECTION && list_has(h->items[i].value, name))
            return true;
    return false;
}

/* True when a Connection field of the response head names name. */
static bool response_connection_names(const struct h1_response_head *head, str_t name)
{
    for (size_t i = 0; i < head->n_fields; i++)
        if (str_eq_nocase(head->fields[i].name, STR_LIT("connection")) &&
            list_has(head->fields[i].value, name))
            return true;
    return false;
}

/* Fields that never go upstream as the client sent them: hop-by-hop ones, those tern writes
 * itself (Host, Content-Length, Via, Forwarded, X-Forwarded-*, Max-Forwards), Expect (the
 * body is already here) and the credentials of a proxy in front (Proxy-Authorization). */
static bool request_field_dropped(const struct http_field *f)
{
    if (f->token != HTTP_TOKEN_NONE) {
        if (http_token_info(f->token)->flags & HTTP_TOKEN_HOP_BY_HOP) return true;
        switch (f->token) {
        case HTTP_TOKEN_HOST:
        case HTTP_TOKEN_CONTENT_LENGTH:
        case HTTP_TOKEN_EXPECT:
        case HTTP_TOKEN_VIA:
        case HTTP_TOKEN_FORWARDED:
        case HTTP_TOKEN_X_FORWARDED_FOR:
        case HTTP_TOKEN_X_FORWARDED_PROTO:
        case HTTP_TOKEN_MAX_FORWARDS:
        case HTTP_TOKEN_PROXY_AUTHORIZATION:
        case HTTP_TOKEN_PROXY_AUTHENTICATE:
        case HTTP_TOKEN_COOKIE: /* joined into one line below */
        case HTTP_TOKEN_TRAILER: return true;
        default: return false;
        }
    }
    return str_eq_nocase(f->name, STR_LIT("x-forwarded-host"));
}

/* "1.1", "2", "3": the protocol the request came in on, for Via (RFC 9110 §7.6.3). */
static const char *via_protocol(int version)
{
    switch (version) {
    case 9: return "0.9";
    case 10: return "1.0";
    case 20: return "2";
    case 30: return "3";
    default: return "1.1";
    }
}

/* Appends ", " + the values of every field with token (a list), then nothing: the caller adds
 * its own element. Returns true when there was a value. */
static bool append_existing(struct buf *out, const struct http_fields *f, enum http_token token)
{
    bool any = false;
    for (size_t i = 0; i < f->count; i++) {
        if (f->items[i].token != token || f->items[i].value.len == 0) continue;
        if (any) buf_append(out, ", ", 2);
        buf_append(out, f->items[i].value.p, f->items[i].value.len);
        any = true;
    }
    return any;
}

/* RFC 7239 §6: the client as a node: an IPv6 address in brackets, quoted. */
static void forwarded_node(struct buf *out, const char *peer)
{
    if (strchr(peer, ':'))
        buf_appendf(out, "\"[%s]\"", peer);
    else
        buf_appendf(out, "%s", peer);
}

/* A value as a token when it is one, else as a quoted-string (RFC 7239 §4). */
static void forwarded_value(struct buf *out, str_t v)
{
    if (http_is_token(v)) {
        buf_append(out, v.p, v.len);
        return;
    }
    buf_append(out, "\"", 1);
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] == '"' || v.p[i] == '\\') buf_append(out, "\\", 1);
        buf_append(out, &v.p[i], 1);
    }
    buf_append(out, "\"", 1);
}

static void forwarding_fields(struct buf *out, const struct config_proxy *pc,
                              const struct http_request *req)
{
    const struct http_fields *h = &req->headers;
    if (pc->via) {
        buf_append(out, "Via: ", 5);
        if (append_existing(out, h, HTTP_TOKEN_VIA)) buf_append(out, ", ", 2);
        buf_appendf(out, "%s tern\r\n", via_protocol(req->version));
    }
    if (pc->forwarded) {
        buf_append(out, "Forwarded: ", 11);
        if (append_existing(out, h, HTTP_TOKEN_FORWARDED)) buf_append(out, ", ", 2);
        buf_append(out, "for=", 4);
        forwarded_node(out, req->hop_peer ? req->hop_peer : req->peer);
        buf_appendf(out, ";proto=%.*s", (int)req->scheme.len, req->scheme.p);
        if (req->authority.len) {
            buf_append(out, ";host=", 6);
            forwarded_value(out, req->authority);
        }
        buf_append(out, "\r\n", 2);
    }
    if (pc->x_forwarded) {
        buf_append(out, "X-Forwarded-For: ", 17);
        if (append_existing(out, h, HTTP_TOKEN_X_FORWARDED_FOR)) buf_append(out, ", ", 2);
        buf_appendf(out, "%s\r\nX-Forwarded-Proto: %.*s\r\n",
                    req->hop_peer ? req->hop_peer : req->peer, (int)req->scheme.len, req->scheme.p);
        if (req->authority.len)
            buf_appendf(out, "X-Forwarded-Host: %.*s\r\n", (int)req->authority.len,
                        req->authority.p);
    }
}

/* Max-Forwards (RFC 9110 §7.6.2): a proxy forwarding OPTIONS or TRACE sends it less one (the
 * handler answers 0 itself). */
static void max_forwards(struct buf *out, const struct http_request *req)
{
    if (req->method != HTTP_METHOD_OPTIONS && req->method != HTTP_METHOD_TRACE) return;
    const struct http_field *f = http_fields_find(&req->headers, HTTP_TOKEN_MAX_FORWARDS);
    if (!f) return;
    unsigned long long v = 0;
    for (size_t i = 0; i < f->value.len && v < 1000000; i++) {
        if (f->value.p[i] < '0' || f->value.p[i] > '9') return; /* invalid: not forwarded */
        v = v * 10 + (unsigned)(f->value.p[i] - '0');
    }
    if (v > 0) buf_appendf(out, "Max-Forwards: %llu\r\n", v - 1);
}

int proxy_request_head(struct buf *out, const struct config_proxy *pc,
                       const struct config_upstream *up, const struct http_request *req,
                       str_t target, const char *upgrade_key)
{
    /* an extended CONNECT (RFC 8441 §5) becomes the HTTP/1.1 Upgrade it stands for: a GET
     * asking to switch to :protocol, its DATA the bytes after the upstream's 101 */
    bool extended = req->protocol.len > 0;
    str_t method = extended ? STR_LIT("GET") : req->method_name;
    /* room for everything first (the authority goes into Host, Forwarded, quoted and perhaps
     * escaped, and X-Forwarded-Host), so that no append below can fail half way (an upstream
     * would get a head with a field missing) */
    size_t need = 600 + req->protocol.len + target.len + 5 * req->authority.len +
                  4 * sizeof(req->peer) + strlen(up->authority) +
                  (pc->host ? strlen(pc->host) : 0) +
                  (req->id_field ? strlen(req->id_field) + REQUEST_ID_MAX + 4 : 0);
    for (size_t i = 0; i < req->headers.count; i++)
        need += req->headers.items[i].name.len + req->headers.items[i].value.len + 4;
    if (buf_reserve(out, need) < 0) return -1;
    buf_appendf(out, "%.*s %.*s HTTP/1.1\r\n", (int)method.len, method.p, (int)target.len,
                target.p);
    str_t host = str_cstr(up->authority);
    if (pc->host_mode == CONFIG_PROXY_HOST_SET)
        host = str_cstr(pc->host);
    else if (pc->host_mode == CONFIG_PROXY_HOST_KEEP && req->authority.len)
        host = req->authority;
    buf_appendf(out, "Host: %.*s\r\n", (int)host.len, host.p);

    bool cookie_done = false;
    for (size_t i = 0; i < req->headers.count; i++) {
        const struct http_field *f = &req->headers.items[i];
        if (f->token == HTTP_TOKEN_COOKIE) {
            /* HTTP/2 and HTTP/3 may split Cookie into many fields; HTTP/1.1 wants them in one
             * line, joined with "; " (RFC 9113 §8.2.3), where the first one was */
            if (cookie_done) continue;
            cookie_done = true;
            buf_append(out, "Cookie: ", 8);
            bool first = true;
            for (size_t k = i; k < req->headers.count; k++) {
                const struct http_field *c = &req->headers.items[k];
                if (c->token != HTTP_TOKEN_COOKIE) continue;
                if (!first) buf_append(out, "; ", 2);
                buf_append(out, c->value.p, c->value.len);
                first = false;
            }
            buf_append(out, "\r\n", 2);
            continue;
        }
        if (request_field_dropped(f) || request_connection_names(&req->headers, f->name)) continue;
        if (req->id_field && str_eq_nocase(f->name, str_cstr(req->id_field))) continue; /* ours */
        if (extended && str_eq_nocase(f->name, STR_LIT("sec-websocket-key"))) continue; /* ours */
        buf_appendf(out, "%.*s: %.*s\r\n", (int)f->name.len, f->name.p, (int)f->value.len,
                    f->value.p);
    }
    forwarding_fields(out, pc, req);
    if (req->id_field) { /* the request id, so that the upstream's logs can name it too */
        char id[REQUEST_ID_MAX + 1];
        size_t n = request_id_format(req, id);
        if (n) buf_appendf(out, "%s: %.*s\r\n", req->id_field, (int)n, id);
    }
    max_forwards(out, req);
    bool bodiless = req->body_len == 0 &&
                    (req->method == HTTP_METHOD_GET || req->method == HTTP_METHOD_HEAD ||
                     req->method == HTTP_METHOD_OPTIONS || req->method == HTTP_METHOD_TRACE ||
                     req->method == HTTP_METHOD_DELETE);
    if (extended)
        ; /* no body: the stream's DATA follows the switch */
    else if (req->body_in && req->body_in_length < 0)
        buf_append(out, "Transfer-Encoding: chunked\r\n", 28); /* streamed, length unknown */
    else if (req->body_in)
        buf_appendf(out, "Content-Length: %lld\r\n", (long long)req->body_in_length);
    else if (!bodiless)
        buf_appendf(out, "Content-Length: %zu\r\n", req->body_len);
    const struct http_field *upgrade = http_fields_find(&req->headers, HTTP_TOKEN_UPGRADE);
    if (extended) {
        buf_appendf(out, "Connection: upgrade\r\nUpgrade: %.*s\r\n", (int)req->protocol.len,
                    req->protocol.p);
        if (upgrade_key) buf_appendf(out, "Sec-WebSocket-Key: %s\r\n", upgrade_key);
    } else if (req->take_connection && upgrade)
        /* the client may switch protocols (WebSocket): ask the upstream the same (RFC 9110
         * §7.8); a 101 turns both connections into a tunnel */
        buf_appendf(out, "Connection: upgrade\r\nUpgrade: %.*s\r\n", (int)upgrade->value.len,
                    upgrade->value.p);
    else if (!pc->keepalive)
        buf_append(out, "Connection: close\r\n", 19);
    return buf_append(out, "\r\n", 2);
}

int proxy_request_h2(struct proxy_h2_head *h, const struct config_proxy *pc,
                     const struct config_upstream *up, struct http_request *req, str_t target)
{
    /* the HTTP/1.1 head says what crosses; its lines become HTTP/2 fields */
    struct buf text = {0};
    int rc = -1;
    *h = (struct proxy_h2_head){.body_length = 0};
    if (proxy_request_head(&text, pc, up, req, target, NULL) < 0) goto out;
    size_t max = req->headers.count + 16;
    h->names = pool_alloc(req->pool, max * sizeof(str_t));
    h->values = pool_alloc(req->pool, max * sizeof(str_t));
    if (!h->names || !h->values) goto out;
    const char *p = buf_ptr(&text), *end = p + buf_size(&text);
    p = memchr(p, '\n', (size_t)(end - p)) + 1; /* past the request line */
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol || eol - p < 2) break; /* the empty line */
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon) break;
        str_t name = str_make(p, (size_t)(colon - p));
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        str_t value = str_make(v, (size_t)(eol - 1 - v));
        p = eol + 1;
        enum http_token tk = http_token_lookup(name.p, name.len);
        if (tk == HTTP_TOKEN_TRANSFER_ENCODING) h->body_length = -1; /* chunked: length unknown */
        if (tk == HTTP_TOKEN_CONTENT_LENGTH) {
            h->body_length = 0;
            for (size_t i = 0; i < value.len; i++)
                h->body_length = h->body_length * 10 + (value.p[i] - '0');
        }
        if (tk != HTTP_TOKEN_NONE && (http_token_info(tk)->flags & HTTP_TOKEN_HOP_BY_HOP))
            continue; /* RFC 9113 §8.2.2 */
        char *vc = pool_strndup(req->pool, value.p, value.len);
        if (!vc) goto out;
        if (tk == HTTP_TOKEN_HOST) {
            h->authority = str_make(vc, value.len);
            continue;
        }
        char *nc = pool_strndup(req->pool, name.p, name.len);
        if (!nc || h->n == max) goto out;
        for (size_t i = 0; i < name.len; i++)
            if (nc[i] >= 'A' && nc[i] <= 'Z') nc[i] = (char)(nc[i] - 'A' + 'a');
        h->names[h->n] = str_make(nc, name.len);
        h->values[h->n++] = str_make(vc, value.len);
    }
    rc = h->authority.p ? 0 : -1;
out:
    buf_free(&text);
    return rc;
}

str_t proxy_target(const struct config_upstream *up, const struct config_location *loc,
                   const struct http_request *req, str_t url_path)
{
    str_t path = url_path;
    size_t rest_off = 0;
    if (up->path) {
        path = str_cstr(up->path);
        /* a prefix location maps its prefix onto the URL's path (nginx's proxy_pass URI) */
        if (loc->kind == CONFIG_LOC_PREFIX && url_path.len >= loc->path_len)
            rest_off = loc->path_len;
        else
            rest_off = url_path.len;
    }
    size_t rest = up->path ? url_path.len - rest_off : 0;
    size_t len = path.len + rest + (req->has_query ? 1 + req->query.len : 0);
    char *t = pool_alloc(req->pool, len + 1);
    if (!t) return STR_NULL;
    size_t n = 0;
    memcpy(t, path.p, path.len);
    n += path.len;
    if (rest) {
        /* "/app/" + "x" but not "/app" + "x" nor "/app/" + "/x" */
        const char *r = url_path.p + rest_off;
        size_t rl = rest;
        if (n && t[n - 1] == '/' && r[0] == '/') r++, rl--;
        memcpy(t + n, r, rl);
        n += rl;
    }
    if (req->has_query) {
        t[n++] = '?';
        memcpy(t + n, req->query.p, req->query.len);
        n += req->query.len;
    }
    t[n] = '\0';
    return str_make(t, n);
}

/* Response fields that stop at tern: hop-by-hop ones, and those the client-side wire writes
 * itself (Content-Length or chunked framing, Date). */
static bool response_field_dropped(enum http_token token)
{
    if (token == HTTP_TOKEN_NONE) return false;
    if (http_token_info(token)->flags & HTTP_TOKEN_HOP_BY_HOP) return true;
    return token == HTTP_TOKEN_CONTENT_LENGTH || token == HTTP_TOKEN_DATE ||
           token == HTTP_TOKEN_TRAILER || token == HTTP_TOKEN_PROXY_AUTHENTICATE;
}

int proxy_response_fields(struct http_response *resp, struct pool *pool,
                          const struct config_proxy *pc, const struct h1_response_head *head)
{
    struct buf via = {0};
    bool have_via = false;
    for (size_t i = 0; i < head->n_fields; i++) {
        const struct h1_field *f = &head->fields[i];
        enum http_token token = http_token_lookup(f->name.p, f->name.len);
        if (response_field_dropped(token) || response_connection_names(head, f->name)) continue;
        if (token == HTTP_TOKEN_VIA && pc->via) { /* one Via with ours last */
            buf_append(&via, have_via ? ", " : "", have_via ? 2 : 0);
            buf_append(&via, f->value.p, f->value.len);
            have_via = true;
            continue;
        }
        char *name = pool_strndup(pool, f->name.p, f->name.len);
        char *value = pool_strndup(pool, f->value.p, f->value.len);
        if (!name || !value ||
            http_fields_add(&resp->headers, pool, str_make(name, f->name.len),
                            str_make(value, f->value.len)) < 0) {
            buf_free(&via);
            return -1;
        }
    }
    int rc = 0;
    if (pc->via) {
        buf_appendf(&via, "%s%s tern", have_via ? ", " : "",
                    head->version == 10   ? "1.0"
                    : head->version == 20 ? "2"
                                          : "1.1");
        char *v = pool_strndup(pool, buf_ptr(&via), buf_size(&via));
        rc = v ? http_fields_add_token(&resp->headers, pool, HTTP_TOKEN_VIA,
                                       str_make(v, buf_size(&via)))
               : -1;
    }
    buf_free(&via);
    return rc;
}
