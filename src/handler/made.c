#include "handler/made.h"

#include "http/body.h"
#include "http/header.h"

int respond_made(const struct http_request *req, struct http_response *resp, struct buf *b,
                 str_t type)
{
    size_t n = buf_size(b);
    char *text = pool_strndup(req->pool, n ? buf_ptr(b) : "", n);
    buf_free(b);
    if (!text) return -1;
    resp->status = 200;
    resp->content_length = (int64_t)n;
    resp->body = req->method == HTTP_METHOD_HEAD ? NULL : body_source_mem(req->pool, text, n);
    if (req->method != HTTP_METHOD_HEAD && !resp->body) return -1;
    if (http_fields_add_token(&resp->headers, req->pool, HTTP_TOKEN_CONTENT_TYPE, type) < 0 ||
        http_fields_add_token(&resp->headers, req->pool, HTTP_TOKEN_CACHE_CONTROL,
                              STR_LIT("no-store")) < 0)
        return -1;
    return 0;
}
