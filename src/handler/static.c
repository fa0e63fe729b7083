/* The static file handler: path -> file under the location's root, then RFC 9110 semantics on
 * the selected representation: content coding (§12.5.3, §8.4), conditionals (§13.2.2),
 * ranges (§14), and directory redirects, index files and listings.
 *
 * Decisions:
 * - Anything that resolves outside the root (symlink escape) answers 404 like a missing file,
 *   so the response does not reveal what exists outside; so do FIFOs, sockets and devices.
 * - On-the-fly codings: files up to ONESHOT_MAX are compressed whole (Content-Length known) and
 *   the result kept with the cache entry; larger ones (up to compression.max_size) are streamed
 *   with content_length -1.
 * - Precompressed siblings (file.br/.zst/.gz) count only when at least as new as the file.
 * - Dotfiles (.env, .git/, .htpasswd: a segment starting with '.') answer 404 unless the
 *   location sets `dotfiles`; they often hold secrets that were never meant to be published. */
#include "handler/static.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "handler/compress.h"
#include "handler/dirlist.h"
#include "handler/filecache.h"
#include "handler/fsopen.h"
#include "handler/multipart.h"
#include "http/conditional.h"
#include "http/negotiate.h"
#include "http/path.h"
#include "http/range.h"

#define ONESHOT_MAX (256u << 10)
#define ALL_CODINGS (HTTP_CODING_GZIP | HTTP_CODING_BR | HTTP_CODING_ZSTD)

/* A reference on a cache entry held for one request: released by the body's close() or, at the
 * latest, when the request pool is reset. */
struct entry_ref {
    struct fc_entry *e;
};

static void entry_ref_release(void *arg)
{
    struct entry_ref *r = arg;
    if (r->e) {
        fc_entry_unref(r->e);
        r->e = NULL;
    }
}

static struct entry_ref *entry_ref_hold(struct pool *pool, struct fc_entry *e)
{
    struct entry_ref *r = pool_alloc(pool, sizeof(*r));
    if (!r || pool_on_cleanup(pool, entry_ref_release, r) < 0) {
        fc_entry_unref(e);
        return NULL;
    }
    r->e = e;
    return r;
}

/* A body source that keeps its entry (fd, compressed copy) alive until close(). */
struct ref_source {
    struct body_source base;
    struct body_source *inner;
    struct entry_ref *ref;
};

static enum body_next_result ref_next(struct body_source *src, struct body_chunk *out, size_t max)
{
    struct ref_source *r = (struct ref_source *)src;
    return r->inner->next(r->inner, out, max);
}

static void ref_close(struct body_source *src)
{
    struct ref_source *r = (struct ref_source *)src;
    if (r->inner->close) r->inner->close(r->inner);
    entry_ref_release(r->ref);
}

static struct body_source *ref_wrap(struct pool *pool, struct body_source *inner,
                                    struct entry_ref *ref)
{
    if (!inner) return NULL;
    struct ref_source *r = pool_alloc(pool, sizeof(*r));
    if (!r) return NULL;
    *r = (struct ref_source){{ref_next, ref_close}, inner, ref};
    return &r->base;
}

static int add(struct http_response *resp, struct pool *pool, enum http_token t, const char *v,
               size_t len)
{
    return http_fields_add_token(&resp->headers, pool, t, str_make(v, len));
}

#define ADD_LIT(resp, pool, t, s) add((resp), (pool), (t), (s), sizeof(s) - 1)

static int simple(struct http_response *resp, struct pool *pool, int status)
{
    return http_response_simple(resp, pool, status) < 0 ? -1 : 0;
}

static int error_status(int err)
{
    /* out of descriptors or memory: the file is fine, the server is busy (RFC 9110 §15.6.4) */
    if (fsopen_resource_error(err)) return 503;
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case EXDEV: /* escape attempt: answered like a missing file */
    case ELOOP:
    case ENAMETOOLONG: return 404;
    case EACCES:
    case EPERM: return 403;
    default: return 500;
    }
}

static int error_response(struct http_response *resp, struct pool *pool, int err, const char *path)
{
    int status = error_status(err);
    if (status == 500) log_error("static: %s: %s", path, strerror(err));
    if (status == 503) {
        /* a peer can trigger this: log_msg limits each call site's lines per second */
        log_warn("static: %s: %s, answering 503", path, strerror(err));
        /* RFC 9110 §10.2.3: the client may try again after a second */
        if (simple(resp, pool, 503) < 0) return -1;
        return ADD_LIT(resp, pool, HTTP_TOKEN_RETRY_AFTER, "1");
    }
    return simple(resp, pool, status);
}

/* True when the normalized path has a segment starting with '.' (it has no "." or ".."
 * segments left). /.well-known/ itself is public by design (RFC 8615 §3), but a dot segment
 * below it (/.well-known/.git/x) is not. */
static bool hidden_path(const char *path)
{
    static const char wk[] = "/.well-known";
    const size_t wl = sizeof(wk) - 1;
    if (strncmp(path, wk, wl) == 0 && (path[wl] == '/' || path[wl] == '\0')) path += wl;
    for (; *path; path++)
        if (path[0] == '/' && path[1] == '.') return true;
    return false;
}

/* The path relative to the root (config_location_subpath: the whole path, or the rest after
 * the prefix of a location with its own root), without leading or trailing slashes ("." for
 * the root itself). */
static char *map_relative(struct pool *pool, const struct config_location *loc, const char *path)
{
    size_t len;
    const char *p = config_location_subpath(loc, path, strlen(path), &len);
    while (len && *p == '/')
        p++, len--;
    while (len && p[len - 1] == '/')
        len--;
    return len ? pool_strndup(pool, p, len) : pool_strndup(pool, ".", 1);
}

static int redirect_slash(const struct http_request *req, const char *path,
                          struct http_response *resp)
{
    struct pool *pool = req->pool;
    size_t len = strlen(path), cap = 3 * len + 2;
    char *enc = pool_alloc(pool, cap);
    if (!enc) return -1;
    long n = http_path_encode(path, len, enc, cap);
    if (n < 0) return -1;
    char *loc = req->has_query
                    ? pool_printf(pool, &len, "%s/?%.*s", enc, (int)req->query.len, req->query.p)
                    : pool_printf(pool, &len, "%s/", enc);
    if (!loc || simple(resp, pool, 301) < 0) return -1;
    return add(resp, pool, HTTP_TOKEN_LOCATION, loc, len);
}

static int listing(const struct http_request *req, struct fc_entry *dir, const char *path,
                   bool dotfiles, struct http_response *resp)
{
    char *html;
    size_t len;
    if (dirlist_render(req->pool, dir->file.fd, path, dotfiles, &html, &len) < 0)
        return error_response(resp, req->pool, errno, path);
    resp->status = 200;
    resp->content_length = (int64_t)len;
    resp->body = req->method == HTTP_METHOD_HEAD ? NULL : body_source_mem(req->pool, html, len);
    if (req->method != HTTP_METHOD_HEAD && !resp->body) return -1;
    return ADD_LIT(resp, req->pool, HTTP_TOKEN_CONTENT_TYPE, "text/html; charset=utf-8");
}

/* Accept-Encoding as one value: several field lines are joined per RFC 9110 §5.3. */
static str_t accept_encoding(const struct http_request *req, int *present)
{
    const struct http_fields *h = &req->headers;
    size_t n = http_fields_count_token(h, HTTP_TOKEN_ACCEPT_ENCODING);
    *present = n > 0;
    if (n <= 1) {
        const struct http_field *f = http_fields_find(h, HTTP_TOKEN_ACCEPT_ENCODING);
        return f ? f->value : STR_NULL;
    }
    size_t total = 0;
    for (size_t i = 0; i < h->count; i++)
        if (h->items[i].token == HTTP_TOKEN_ACCEPT_ENCODING) total += h->items[i].value.len + 2;
    char *buf = pool_alloc(req->pool, total);
    if (!buf) return STR_NULL;
    size_t at = 0;
    for (size_t i = 0; i < h->count; i++) {
        if (h->items[i].token != HTTP_TOKEN_ACCEPT_ENCODING) continue;
        if (at) {
            buf[at++] = ',';
            buf[at++] = ' ';
        }
        memcpy(buf + at, h->items[i].value.p, h->items[i].value.len);
        at += h->items[i].value.len;
    }
    return str_make(buf, at);
}

/* The representation chosen for a file. */
struct repr {
    int coding; /* HTTP_CODING_* */
    int fd;     /* file to read (identity or sibling); on-the-fly reads the original */
    bool on_the_fly;
    const char *etag;
    size_t etag_len;
    const char *last_modified;
    time_t mtime;
    int64_t length; /* -1 when streamed */
};

/* Validator and metadata fields shared by 200, 206 and 304 (RFC 9110 §15.4.5). Strings are
 * copied into the pool: the entry may be evicted before the wire layer writes the head. */
static int add_validators(struct http_response *resp, struct pool *pool,
                          const struct config_location *loc, const struct repr *r, bool vary)
{
    char *etag = pool_strndup(pool, r->etag, r->etag_len);
    char *lm = pool_strndup(pool, r->last_modified, HTTP_DATE_LEN);
    if (!etag || !lm || add(resp, pool, HTTP_TOKEN_ETAG, etag, r->etag_len) < 0 ||
        add(resp, pool, HTTP_TOKEN_LAST_MODIFIED, lm, HTTP_DATE_LEN) < 0)
        return -1;
    if (loc->cache_control && add(resp, pool, HTTP_TOKEN_CACHE_CONTROL, loc->cache_control,
                                  strlen(loc->cache_control)) < 0)
        return -1;
    if (vary && ADD_LIT(resp, pool, HTTP_TOKEN_VARY, "Accept-Encoding") < 0) return -1;
    return 0;
}

/* Compressed bytes of a small file for coding: the entry's kept copy, or made now. */
static int oneshot_body(const struct config *cfg, const struct http_request *req,
                        struct fc_entry *e, int coding, const char **data, size_t *len)
{
    int idx = fc_coding_index(coding);
    if (!e->blob[idx].data) {
        char *out;
        size_t n;
        if (compress_file(&cfg->compression, coding, e->file.fd, (size_t)e->file.st.st_size, &out,
                          &n) < 0)
            return -1;
        if (!fc_blob_store(e, idx, out, n)) {
            *data = pool_strndup(req->pool, out, n);
            *len = n;
            free(out);
            return *data ? 0 : -1;
        }
    }
    *data = e->blob[idx].data;
    *len = e->blob[idx].len;
    return 0;
}

/* One request's context. */
struct ctx {
    struct static_cache *cache;
    const struct config *cfg;
    const struct config_location *loc;
    const struct http_request *req;
    const char *path;
    struct http_response *resp;
    struct pool *pool;
};

/* Range handling on the identity representation; *handled is false when the Range header is to
 * be ignored (then the caller sends the whole 200). */
static int serve_ranges(const struct ctx *c, struct fc_entry *e, struct entry_ref *ref,
                        const struct http_field *range, bool *handled)
{
    const struct config *cfg = c->cfg;
    struct http_response *resp = c->resp;
    struct pool *pool = c->pool;
    uint64_t size = (uint64_t)e->file.st.st_size;
    size_t max = cfg->limits.ranges ? cfg->limits.ranges : 16, count = 0;
    struct http_range *ranges = pool_alloc(pool, max * sizeof(*ranges));
    if (!ranges) return -1;
    enum http_range_result rr = http_range_parse(range->value, size, ranges, max, &count);
    *handled = rr != HTTP_RANGE_IGNORE;
    if (rr == HTTP_RANGE_IGNORE) return 0;
    if (rr != HTTP_RANGE_OK || count == 0) {
        size_t n;
        char *cr = pool_printf(pool, &n, "bytes */%" PRIu64, size);
        if (!cr || simple(resp, pool, 416) < 0) return -1;
        return add(resp, pool, HTTP_TOKEN_CONTENT_RANGE, cr, n);
    }
    resp->status = 206;
    if (count == 1) {
        size_t n;
        char *cr = pool_printf(pool, &n, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, ranges[0].first,
                               ranges[0].last, size);
        if (!cr || add(resp, pool, HTTP_TOKEN_CONTENT_RANGE, cr, n) < 0 ||
            add(resp, pool, HTTP_TOKEN_CONTENT_TYPE, e->content_type, strlen(e->content_type)) < 0)
            return -1;
        resp->content_length = (int64_t)(ranges[0].last - ranges[0].first + 1);
        resp->body = ref_wrap(pool,
                              body_source_file(pool, e->file.fd, (off_t)ranges[0].first,
                                               (size_t)resp->content_length),
                              ref);
        return resp->body ? 0 : -1;
    }
    char boundary[17];
    snprintf(boundary, sizeof(boundary), "%016" PRIx64, fc_unique(c->cache));
    struct multipart mp;
    if (multipart_build(pool, e->file.fd, size, e->content_type, boundary, ranges, count, &mp) < 0)
        return -1;
    resp->content_length = mp.length;
    resp->body = ref_wrap(pool, mp.body, ref);
    if (!resp->body) return -1;
    return add(resp, pool, HTTP_TOKEN_CONTENT_TYPE, mp.content_type, strlen(mp.content_type));
}

/* Picks the coding: a Range that will be honoured forces identity; otherwise Accept-Encoding
 * among the precompressed siblings and (for compressible sizes) the on-the-fly codings. */
static void choose(const struct ctx *c, struct fc_entry *e, unsigned avail, bool ranged,
                   struct repr *r)
{
    int coding = HTTP_CODING_IDENTITY;
    if (avail && !ranged) {
        int present;
        str_t ae = accept_encoding(c->req, &present);
        int got = http_negotiate_coding(ae, present, avail);
        if (got > 0 && ((unsigned)got & avail))
            coding = got; /* -1 (identity refused, nothing else): identity anyway, §12.5.3 */
    }
    *r = (struct repr){
        .coding = coding,
        .fd = e->file.fd,
        .etag = e->file.etag,
        .etag_len = e->file.etag_len,
        .last_modified = e->file.last_modified,
        .mtime = e->file.st.st_mtim.tv_sec,
        .length = (int64_t)e->file.st.st_size,
    };
    if (coding == HTTP_CODING_IDENTITY) return;
    int idx = fc_coding_index(coding);
    if (e->siblings & (unsigned)coding) {
        const struct fc_file *s = &e->sibling[idx];
        r->fd = s->fd;
        r->etag = s->etag;
        r->etag_len = s->etag_len;
        r->last_modified = s->last_modified;
        r->mtime = s->st.st_mtim.tv_sec;
        r->length = (int64_t)s->st.st_size;
        return;
    }
    r->on_the_fly = true;
    r->etag = e->coded_etag[idx];
    r->etag_len = e->coded_etag_len[idx];
    r->length = e->file.st.st_size <= (off_t)ONESHOT_MAX ? 0 : -1; /* 0: not known yet */
}

static int serve_file(const struct ctx *c, struct fc_entry *e, struct entry_ref *ref)
{
    const struct config *cfg = c->cfg;
    const struct http_request *req = c->req;
    struct http_response *resp = c->resp;
    struct pool *pool = c->pool;
    bool is_get = req->method == HTTP_METHOD_GET;
    uint64_t size = (uint64_t)e->file.st.st_size;

    bool otf = cfg->compression.on_the_fly && c->loc->compress && e->compressible &&
               size >= cfg->compression.min_size && size <= cfg->compression.max_size;
    unsigned avail = e->siblings | (otf ? ALL_CODINGS : 0);
    bool vary = avail != 0; /* the choice depended on Accept-Encoding, even if identity won */

    struct http_validators idv = {str_make(e->file.etag, e->file.etag_len),
                                  e->file.st.st_mtim.tv_sec, true};
    const struct http_field *range =
        is_get ? http_fields_find(&req->headers, HTTP_TOKEN_RANGE) : NULL;
    bool ranged = range && http_if_range_allows(req, &idv);

    struct repr r;
    choose(c, e, avail, ranged, &r);

    struct http_validators v = {str_make(r.etag, r.etag_len), r.mtime, true};
    int cond = http_conditional_eval(req, &v);
    if (cond == 304) {
        resp->status = 304;
        resp->content_length = -1;
        resp->body = NULL;
        return add_validators(resp, pool, c->loc, &r, vary);
    }
    if (cond == 412) return simple(resp, pool, 412);

    if (add_validators(resp, pool, c->loc, &r, vary) < 0 ||
        ADD_LIT(resp, pool, HTTP_TOKEN_ACCEPT_RANGES, "bytes") < 0)
        return -1;

    if (ranged) {
        bool handled;
        if (serve_ranges(c, e, ref, range, &handled) < 0) return -1;
        if (handled) return 0;
    }

    resp->status = 200;
    if (add(resp, pool, HTTP_TOKEN_CONTENT_TYPE, e->content_type, strlen(e->content_type)) < 0)
        return -1;
    if (r.coding != HTTP_CODING_IDENTITY) {
        const char *name = http_coding_name((enum http_coding)r.coding);
        if (add(resp, pool, HTTP_TOKEN_CONTENT_ENCODING, name, strlen(name)) < 0) return -1;
    }
    resp->body = NULL;
    if (!r.on_the_fly) {
        resp->content_length = r.length;
        if (is_get && r.length > 0) {
            const struct fc_blob *small = r.fd == e->file.fd ? fc_small_content(e) : NULL;
            struct body_source *src = small ? body_source_mem(pool, small->data, small->len)
                                            : body_source_file(pool, r.fd, 0, (size_t)r.length);
            resp->body = ref_wrap(pool, src, ref);
            if (!resp->body) return -1;
        }
        return 0;
    }
    if (r.length == 0) { /* small: compress whole, length known */
        const char *data;
        size_t len;
        if (oneshot_body(cfg, req, e, r.coding, &data, &len) < 0) return -1;
        resp->content_length = (int64_t)len;
        if (is_get) {
            resp->body = ref_wrap(pool, body_source_mem(pool, data, len), ref);
            if (!resp->body) return -1;
        }
        return 0;
    }
    resp->content_length = -1; /* streamed: chunked on HTTP/1.1, close-delimited on 1.0 */
    if (is_get) {
        resp->body = ref_wrap(
            pool, compress_source(pool, &cfg->compression, r.coding, e->file.fd, (size_t)size),
            ref);
        if (!resp->body) return -1;
    }
    return 0;
}

static struct fc_entry *lookup(const struct ctx *c, const char *rel, int *err,
                               struct entry_ref **ref)
{
    struct fc_entry *e = fc_lookup(c->cache, c->loc->root, !c->loc->symlinks_outside_root,
                                   c->cfg->compression.precompressed, rel, err);
    if (!e) return NULL;
    *ref = entry_ref_hold(c->pool, e);
    if (!*ref) {
        *err = ENOMEM;
        return NULL;
    }
    return e;
}

/* A directory requested with its trailing slash: index file, listing, or 403 (as nginx). */
static int serve_directory(const struct ctx *c, struct fc_entry *dir, const char *rel)
{
    for (size_t i = 0; i < c->loc->n_index; i++) {
        const char *name = c->loc->index[i];
        char *irel = strcmp(rel, ".") == 0 ? pool_strndup(c->pool, name, strlen(name))
                                           : pool_printf(c->pool, NULL, "%s/%s", rel, name);
        if (!irel) return -1;
        int err;
        struct entry_ref *ref;
        struct fc_entry *e = lookup(c, irel, &err, &ref);
        if (e && !e->is_dir) return serve_file(c, e, ref);
        if (e) continue;
        if (error_status(err) != 404) return error_response(c->resp, c->pool, err, c->path);
    }
    if (c->loc->listing) return listing(c->req, dir, c->path, c->loc->dotfiles, c->resp);
    return simple(c->resp, c->pool, 403);
}

int static_handle(struct static_cache *cache, const struct config *cfg,
                  const struct config_location *loc, const struct http_request *req,
                  const char *path, struct http_response *resp)
{
    struct ctx c = {cache, cfg, loc, req, path, resp, req->pool};
    resp->content_length = -1;
    resp->body = NULL;
    if (!loc->root || (!loc->dotfiles && hidden_path(path))) return simple(resp, req->pool, 404);
    char *rel = map_relative(req->pool, loc, path);
    if (!rel) return -1;
    size_t plen = strlen(path);
    bool slash = plen > 0 && path[plen - 1] == '/';

    int err;
    struct entry_ref *ref;
    struct fc_entry *e = lookup(&c, rel, &err, &ref);
    if (!e) return error_response(resp, req->pool, err, path);
    if (e->is_dir) return slash ? serve_directory(&c, e, rel) : redirect_slash(req, path, resp);
    if (slash) /* "file.txt/" names no file (open(2) would say ENOTDIR) */
        return simple(resp, req->pool, 404);
    return serve_file(&c, e, ref);
}
