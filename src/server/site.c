#include "server/site.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "handler/static.h"
#include "http/path.h"
#include "http/request_id.h"
#include "http/template.h"
#include "server/dispatch.h"

#define TARGET_MAX 8192

/* ---- template variables of a request ---- */

static void request_vars(const struct http_request *req, str_t path, struct template_vars *v)
{
    memset(v, 0, sizeof(*v));
    v->scheme = req->scheme;
    v->host = req->host;
    v->path = path;
    v->query = req->has_query ? req->query : STR_NULL;
    char *id = pool_alloc(req->pool, REQUEST_ID_MAX + 1);
    if (id) v->request_id = str_make(id, request_id_format(req, id));
    /* the port: from the authority, else the scheme's */
    str_t a = req->authority;
    const char *colon = a.len && a.p[a.len - 1] != ']' ? memrchr(a.p, ':', a.len) : NULL;
    if (colon && (a.p[0] != '[' || memchr(colon, ']', a.len - (size_t)(colon - a.p)) == NULL))
        v->port = str_make(colon + 1, a.len - (size_t)(colon - a.p) - 1);
    else
        v->port = req->is_tls ? STR_LIT("443") : STR_LIT("80");
}

static int respond_redirect(struct http_request *req, struct http_response *resp, int status,
                            const char *location, size_t len)
{
    char *copy = pool_strndup(req->pool, location, len);
    if (!copy || http_response_simple(resp, req->pool, status) < 0) return -1;
    resp->status = status;
    return http_fields_add_token(&resp->headers, req->pool, HTTP_TOKEN_LOCATION,
                                 str_make(copy, len));
}

/* ---- before the handler ---- */

static bool acme_challenge(str_t path)
{
    static const char prefix[] = "/.well-known/acme-challenge/";
    return path.len >= sizeof(prefix) - 1 && !memcmp(path.p, prefix, sizeof(prefix) - 1);
}

bool site_https_redirect(const struct config *cfg, struct http_request *req,
                         struct http_response *resp)
{
    if (!cfg->https_redirect || req->is_tls || acme_challenge(req->path)) return false;
    int port = 443;
    for (size_t i = 0; i < cfg->n_listens; i++)
        if (cfg->listens[i].tls && !cfg->listens[i].quic_only) {
            port = cfg->listens[i].port;
            break;
        }
    char target[TARGET_MAX], portpart[8] = "";
    if (port != 443) snprintf(portpart, sizeof(portpart), ":%d", port);
    str_t host = req->host;
    bool v6 = memchr(host.p, ':', host.len) != NULL;
    int n = snprintf(target, sizeof(target), "https://%s%.*s%s%s%.*s%s%.*s", v6 ? "[" : "",
                     (int)host.len, host.p, v6 ? "]" : "", portpart, (int)req->path.len,
                     req->path.p, req->has_query ? "?" : "", (int)req->query.len, req->query.p);
    if (!host.len || n < 0 || n >= (int)sizeof(target)) return false; /* served as it is */
    /* RFC 9110 §15.4.9: 308 keeps the method and body; GET and HEAD take the 301 every
     * client knows */
    bool safe = req->method == HTTP_METHOD_GET || req->method == HTTP_METHOD_HEAD;
    if (respond_redirect(req, resp, safe ? 301 : 308, target, (size_t)n) < 0) {
        memset(resp, 0, sizeof(*resp));
        dispatch_error(req, resp, 500);
    }
    return true;
}

/* The captures percent-encoded for a URL (they come from the decoded path). */
static void encoded_caps(struct http_request *req, const struct site_match *m,
                         struct template_vars *v)
{
    v->n_caps = m->n_caps;
    for (int i = 1; i <= m->n_caps && i <= TEMPLATE_MAX_CAPTURES; i++) {
        size_t cap = m->caps[i].len * 3 + 1;
        char *e = pool_alloc(req->pool, cap);
        long n = e ? http_path_encode(m->caps[i].p, m->caps[i].len, e, cap) : -1;
        v->caps[i] = n >= 0 ? str_make(e, (size_t)n) : STR_LIT("");
    }
}

bool site_redirect(const struct config_location *loc, const struct site_match *m,
                   struct http_request *req, struct http_response *resp)
{
    if (!loc->redirect_to) return false;
    struct template_vars v;
    request_vars(req, m->url_path, &v);
    encoded_caps(req, m, &v);
    char target[TARGET_MAX];
    long n = template_expand(loc->redirect_to, &v, target, sizeof(target));
    if (n < 0 || respond_redirect(req, resp, loc->redirect_status, target, (size_t)n) < 0) {
        log_info("%s: redirect target too long for %.*s", req->peer,
                 (int)(req->path.len > 200 ? 200 : req->path.len), req->path.p);
        memset(resp, 0, sizeof(*resp));
        dispatch_error(req, resp, 500);
    }
    return true;
}

/* ---- try_files ---- */

static void drop_response(struct http_response *resp)
{
    if (resp->body && resp->body->close) resp->body->close(resp->body);
    memset(resp, 0, sizeof(*resp));
}

/* The decoded path for template expansion, with '%' written as "%25" so that normalizing the
 * result (which decodes) gives back the same bytes. */
static void internal_vars(struct http_request *req, const char *path, const struct site_match *m,
                          struct template_vars *v)
{
    request_vars(req, str_cstr(path), v); /* {path}: the normalized path, as files are found */
    v->n_caps = m ? m->n_caps : 0;
    for (int i = 1; i <= v->n_caps && i <= TEMPLATE_MAX_CAPTURES; i++)
        v->caps[i] = m->caps[i];
    str_t *parts[TEMPLATE_MAX_CAPTURES + 1] = {&v->path};
    for (int i = 1; i <= v->n_caps; i++)
        parts[i] = &v->caps[i];
    for (int i = 0; i <= v->n_caps; i++) {
        str_t s = *parts[i];
        if (!s.len || !memchr(s.p, '%', s.len)) continue;
        char *e = pool_alloc(req->pool, s.len * 3 + 1);
        if (!e) continue;
        size_t n = 0;
        for (size_t k = 0; k < s.len; k++) {
            if (s.p[k] == '%') {
                memcpy(e + n, "%25", 3);
                n += 3;
            } else {
                e[n++] = s.p[k];
            }
        }
        *parts[i] = str_make(e, n);
    }
}

int site_rewrite(const struct config_server *srv, const struct config_location **loc,
                 struct http_request *req, char *path, size_t cap, size_t *len, str_t *caps,
                 int *rewrites)
{
    char tmp[TARGET_MAX];
    while ((*loc)->rewrite_to) {
        if (++*rewrites > SITE_MAX_REWRITES) {
            log_info("%s: more than %d rewrites for %.*s: a loop in the configuration", req->peer,
                     SITE_MAX_REWRITES, (int)(req->path.len > 200 ? 200 : req->path.len),
                     req->path.p);
            return -1;
        }
        struct site_match m = {.caps = caps, .n_caps = (*loc)->n_captures};
        struct template_vars v;
        internal_vars(req, path, &m, &v);
        long n = template_expand((*loc)->rewrite_to, &v, tmp, sizeof(tmp));
        if (n <= 0) return -1;
        /* "?query" in the result replaces the request's query */
        char *q = memchr(tmp, '?', (size_t)n);
        if (q) {
            size_t ql = (size_t)(tmp + n - q - 1);
            char *copy = pool_strndup(req->pool, q + 1, ql);
            if (!copy) return -1;
            req->query = str_make(copy, ql);
            req->has_query = true;
            n = q - tmp;
        }
        long m2 = http_path_normalize(tmp, (size_t)n, path, cap);
        if (m2 < 0) {
            log_info("%s: a rewrite gave a path that cannot be: %.*s", req->peer, (int)n, tmp);
            return -1;
        }
        *len = (size_t)m2;
        *loc = config_match_location(srv, path, *len, caps);
    }
    return 0;
}

int site_try_files(struct static_cache *cache, const struct config *cfg,
                   const struct config_server *srv, const struct config_location *loc,
                   const struct site_match *sm, struct http_request *req, const char *path,
                   struct http_response *resp)
{
    struct template_vars v;
    internal_vars(req, path, sm, &v);
    char cand[TARGET_MAX], norm[TARGET_MAX];
    for (size_t i = 0; i < loc->n_try_files; i++) {
        const char *t = loc->try_files[i];
        if (t[0] == '=') {
            dispatch_error(req, resp, atoi(t + 1));
            return 0;
        }
        long n = template_expand(t, &v, cand, sizeof(cand));
        if (n <= 0) continue;
        /* the candidate is a path of its own: normalized again (dot segments, '//') */
        long m = http_path_normalize(cand, (size_t)n, norm, sizeof(norm));
        if (m < 0) continue;
        const struct config_location *cl = config_find_location(srv, norm, (size_t)m);
        bool last = i + 1 == loc->n_try_files;
        if (static_handle(cache, cfg, cl, req, norm, resp) < 0) return -1;
        /* the last candidate is served whatever it gives (nginx's fallback URI) */
        if (resp->status != 404 || last) return 0;
        drop_response(resp);
    }
    dispatch_error(req, resp, 404);
    return 0;
}

/* ---- on the way out ---- */

static const struct config_error_page *find_page(const struct config_error_page *p, size_t n,
                                                 int status)
{
    for (size_t i = 0; i < n; i++)
        if (p[i].status == status) return &p[i];
    return NULL;
}

#define ERROR_TEMPLATE_MAX 65536 /* bytes of a template page read */

/* The whole body of a page fetched for a template, NUL-terminated in the pool; NULL when it is
 * larger than ERROR_TEMPLATE_MAX or cannot be read. */
static char *read_page(struct http_request *req, struct http_response *page, size_t *len)
{
    if (page->content_length < 0 || page->content_length > ERROR_TEMPLATE_MAX) return NULL;
    size_t want = (size_t)page->content_length, n = 0;
    char *text = pool_alloc(req->pool, want + 1);
    if (!text) return NULL;
    while (n < want && page->body) {
        struct body_chunk chunk;
        if (page->body->next(page->body, &chunk, want - n) != BODY_CHUNK) break;
        ssize_t got = body_chunk_copy(&chunk, text + n, want - n);
        if (got <= 0) return NULL;
        n += (size_t)got;
    }
    if (n != want) return NULL;
    text[n] = 0;
    *len = n;
    return text;
}

/* Expands an error page template for req into resp's body (HTML-escaped values: the path and
 * the id come from the client). False when it does not fit or memory is short. */
static bool expand_page(struct http_request *req, int status, const char *tpl, size_t len,
                        struct http_response *out)
{
    struct template_vars v;
    request_vars(req, req->path, &v);
    v.html = true;
    char code[8];
    v.status = str_make(code, (size_t)snprintf(code, sizeof(code), "%d", status));
    v.reason = str_cstr(http_status_reason(status));
    /* each placeholder's value grows at most six times (&quot;) and is at most a target long:
     * enough for a page that names each once; one naming some many times gets more room, twice */
    size_t cap = len + 6 * (req->target.len + req->authority.len + REQUEST_ID_MAX) + 256;
    char *body = NULL;
    long n = -1;
    for (int tries = 0; n < 0 && tries < 3; tries++, cap *= 8)
        n = (body = pool_alloc(req->pool, cap)) ? template_expand(tpl, &v, body, cap) : -1;
    if (n < 0) return false;
    out->body = (size_t)n && req->method != HTTP_METHOD_HEAD
                    ? body_source_mem(req->pool, body, (size_t)n)
                    : NULL;
    out->content_length = n;
    return true;
}

/* Serves the error page's content under the original status; a missing page (or one that
 * answers other than 200) leaves the response as it was: no loop, no second error. A template
 * page (or an inline body) is expanded with the status, its reason and the request id. */
static void error_page(struct static_cache *cache, const struct config *cfg,
                       const struct config_server *srv, const struct config_location *loc,
                       struct http_request *req, struct http_response *resp)
{
    const struct config_error_page *page = NULL;
    if (loc) page = find_page(loc->error_pages, loc->n_error_pages, resp->status);
    if (!page) page = find_page(srv->error_pages, srv->n_error_pages, resp->status);
    if (!page) return;
    struct http_response alt = {0};
    if (page->body) {
        if (!expand_page(req, resp->status, page->body, strlen(page->body), &alt)) return;
        alt.status = 200;
        http_fields_add_token(&alt.headers, req->pool, HTTP_TOKEN_CONTENT_TYPE,
                              STR_LIT("text/html; charset=utf-8"));
    } else {
        size_t len = strlen(page->path);
        const struct config_location *pl = config_find_location(srv, page->path, len);
        enum http_method method = req->method;
        /* the page is fetched; a template's body even for HEAD, to know its length */
        if (method != HTTP_METHOD_HEAD || page->template) req->method = HTTP_METHOD_GET;
        /* a template is read as it is on disk: no coding, range or condition of the client's */
        struct http_fields fields = req->headers;
        if (page->template) req->headers = (struct http_fields){0};
        int rc = static_handle(cache, cfg, pl, req, page->path, &alt);
        req->method = method;
        req->headers = fields;
        if (rc < 0 || alt.status != 200) {
            drop_response(&alt);
            return;
        }
        if (page->template) {
            size_t tlen = 0;
            char *tpl = read_page(req, &alt, &tlen);
            struct body_source *file = alt.body;
            alt.body = NULL;
            bool ok = tpl && expand_page(req, resp->status, tpl, tlen, &alt);
            if (file && file->close) file->close(file);
            if (!ok) {
                drop_response(&alt);
                return;
            }
        }
    }
    int status = resp->status;
    struct http_fields keep = {0}; /* Allow, WWW-Authenticate, Retry-After... stay */
    for (size_t i = 0; i < resp->headers.count; i++) {
        const struct http_field *f = &resp->headers.items[i];
        if (f->token != HTTP_TOKEN_CONTENT_TYPE && f->token != HTTP_TOKEN_CONTENT_LENGTH)
            http_fields_add(&keep, req->pool, f->name, f->value);
    }
    drop_response(resp);
    *resp = alt;
    resp->status = status;
    /* the page's validators describe the page, not this error */
    http_fields_remove(&resp->headers, HTTP_TOKEN_ETAG);
    http_fields_remove(&resp->headers, HTTP_TOKEN_LAST_MODIFIED);
    http_fields_remove(&resp->headers, HTTP_TOKEN_ACCEPT_RANGES);
    for (size_t i = 0; i < keep.count; i++)
        http_fields_add(&resp->headers, req->pool, keep.items[i].name, keep.items[i].value);
}

/* nginx's add_header statuses: the fields go on these unless `always` */
static bool status_takes_fields(int s)
{
    return s == 200 || s == 201 || s == 204 || s == 206 || s == 301 || s == 302 || s == 303 ||
           s == 304 || s == 307 || s == 308;
}

/* Removal holds for every status (a field the operator does not want out, such as Server,
 * stays in on no error page); set and add follow nginx's add_header: 2xx and 3xx unless
 * `always`. */
static void apply_fields(const struct config_headers *h, struct http_request *req,
                         struct http_response *resp)
{
    for (size_t i = 0; i < h->n_remove; i++) {
        http_fields_remove_name(&resp->headers, str_cstr(h->remove[i]));
        if (!strcasecmp(h->remove[i], "server")) resp->no_server = true;
    }
    if (!h->always && !status_takes_fields(resp->status)) return;
    for (size_t i = 0; i < h->n_set; i++) {
        http_fields_remove_name(&resp->headers, str_cstr(h->set[i].name));
        http_fields_add(&resp->headers, req->pool, str_cstr(h->set[i].name),
                        str_cstr(h->set[i].value));
    }
    for (size_t i = 0; i < h->n_add; i++)
        http_fields_add(&resp->headers, req->pool, str_cstr(h->add[i].name),
                        str_cstr(h->add[i].value));
}

void site_finish(struct static_cache *cache, const struct config *cfg,
                 const struct config_server *srv, const struct config_location *loc,
                 struct http_request *req, struct http_response *resp)
{
    if (!srv) return;
    if (resp->status >= 400) error_page(cache, cfg, srv, loc, req, resp);
    apply_fields(&srv->headers, req, resp);
    if (loc) apply_fields(&loc->headers, req, resp);
    if (srv->hsts.value && req->is_tls) { /* RFC 6797 §7.2: never over cleartext */
        http_fields_remove_name(&resp->headers, STR_LIT("strict-transport-security"));
        http_fields_add(&resp->headers, req->pool, STR_LIT("strict-transport-security"),
                        str_cstr(srv->hsts.value));
    }
}
