#include "handler/cache_range.h"

#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "http/date.h"
#include "http/range.h"

static int add(struct http_response *resp, struct pool *pool, enum http_token token,
               const char *value, size_t len)
{
    return http_fields_add_token(&resp->headers, pool, token, str_make(value, len));
}

void cache_entry_validators(const struct cache_entry *e, struct http_validators *v)
{
    const struct http_field *etag = http_fields_find(&e->fields, HTTP_TOKEN_ETAG);
    const struct http_field *lm = http_fields_find(&e->fields, HTTP_TOKEN_LAST_MODIFIED);
    *v = (struct http_validators){etag ? etag->value : STR_NULL, 0, true};
    if (lm && !http_date_parse(lm->value.p, lm->value.len, &v->last_modified)) v->last_modified = 0;
}

/* If-Range against the stored validators (RFC 9110 §13.1.5: a strong ETag, or the exact
 * Last-Modified date). */
static bool if_range_allows(const struct http_request *req, const struct cache_entry *e)
{
    struct http_validators v;
    cache_entry_validators(e, &v);
    return http_if_range_allows(req, &v);
}

int cache_range_apply(struct http_request *req, struct http_response *resp,
                      const struct cache_entry *e, const struct multipart_data *data,
                      size_t max_ranges)
{
    const struct http_field *range = http_fields_find(&req->headers, HTTP_TOKEN_RANGE);
    if (!range || resp->status != 200 || req->method != HTTP_METHOD_GET || !if_range_allows(req, e))
        return 0;
    struct pool *pool = req->pool;
    uint64_t size = e->body_len;
    size_t count = 0;
    struct http_range *ranges = pool_alloc(pool, max_ranges * sizeof(*ranges));
    if (!ranges) return -1;
    enum http_range_result rr = http_range_parse(range->value, size, ranges, max_ranges, &count);
    if (rr == HTTP_RANGE_IGNORE) return 0;
    http_fields_remove(&resp->headers, HTTP_TOKEN_CONTENT_RANGE);
    size_t n;
    if (rr != HTTP_RANGE_OK || count == 0) { /* §15.5.17 */
        char *cr = pool_printf(pool, &n, "bytes */%" PRIu64, size);
        resp->status = 416;
        resp->content_length = 0;
        resp->body = NULL;
        http_fields_remove(&resp->headers, HTTP_TOKEN_CONTENT_TYPE);
        return cr ? add(resp, pool, HTTP_TOKEN_CONTENT_RANGE, cr, n) : -1;
    }
    resp->status = 206;
    if (count == 1) {
        uint64_t len = ranges[0].last - ranges[0].first + 1;
        char *cr = pool_printf(pool, &n, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, ranges[0].first,
                               ranges[0].last, size);
        if (!cr || add(resp, pool, HTTP_TOKEN_CONTENT_RANGE, cr, n) < 0) return -1;
        resp->content_length = (int64_t)len;
        resp->body = data->mem
                         ? body_source_mem(pool, data->mem + ranges[0].first, (size_t)len)
                         : body_source_file(pool, data->fd, (off_t)(data->offset + ranges[0].first),
                                            (size_t)len);
        return resp->body ? 0 : -1;
    }
    const struct http_field *ct = http_fields_find(&resp->headers, HTTP_TOKEN_CONTENT_TYPE);
    char *ctype = pool_strndup(pool, ct ? ct->value.p : "application/octet-stream",
                               ct ? ct->value.len : strlen("application/octet-stream"));
    unsigned char rnd[8];
    char boundary[17];
    if (!ctype || RAND_bytes(rnd, sizeof(rnd)) != 1) return -1;
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(boundary + 2 * i, 3, "%02x", rnd[i]);
    struct multipart mp;
    if (multipart_build_from(pool, data, size, ctype, boundary, ranges, count, &mp) < 0) return -1;
    http_fields_remove(&resp->headers, HTTP_TOKEN_CONTENT_TYPE);
    resp->content_length = mp.length;
    resp->body = mp.body;
    return add(resp, pool, HTTP_TOKEN_CONTENT_TYPE, mp.content_type, strlen(mp.content_type));
}
