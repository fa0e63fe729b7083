/* http/status: reason phrases (RFC 9110 §15) and simple HTML responses. */
#include <string.h>

#include "check.h"
#include "core/pool.h"
#include "http/response.h"

/* Drains a body source into buf; returns the byte count or -1. */
static long drain(struct body_source *src, char *buf, size_t cap)
{
    size_t n = 0;
    struct body_chunk c;
    enum body_next_result r;
    while ((r = src->next(src, &c, 7)) == BODY_CHUNK) {
        if (c.kind != BODY_CHUNK_MEM || c.len > 7 || n + c.len > cap) return -1;
        memcpy(buf + n, c.data, c.len);
        n += c.len;
    }
    if (src->close) src->close(src);
    return r == BODY_END ? (long)n : -1;
}

static void test_reasons(void)
{
    static const struct {
        int code;
        const char *reason;
    } table[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
        {103, "Early Hints"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {203, "Non-Authoritative Information"},
        {204, "No Content"},
        {205, "Reset Content"},
        {206, "Partial Content"},
        {300, "Multiple Choices"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {305, "Use Proxy"},
        {306, "(Unused)"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {402, "Payment Required"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {407, "Proxy Authentication Required"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {410, "Gone"},
        {411, "Length Required"},
        {412, "Precondition Failed"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {416, "Range Not Satisfiable"},
        {417, "Expectation Failed"},
        {418, "(Unused)"},
        {421, "Misdirected Request"},
        {422, "Unprocessable Content"},
        {426, "Upgrade Required"},
        {428, "Precondition Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
        {0, "Unknown"},
        {299, "Unknown"},
        {-1, "Unknown"},
        {999, "Unknown"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        CHECK_STR(http_status_reason(table[i].code), table[i].reason);
}

static void test_simple(void)
{
    struct pool *pool = pool_create(4096);
    struct http_response resp;
    memset(&resp, 0, sizeof resp);
    CHECK_INT(http_response_simple(&resp, pool, 404), 0);
    CHECK_INT(resp.status, 404);
    static const char expect[] =
        "<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1></body>"
        "</html>\n";
    CHECK_INT(resp.content_length, sizeof(expect) - 1);
    const struct http_field *ct = http_fields_find(&resp.headers, HTTP_TOKEN_CONTENT_TYPE);
    CHECK(ct != NULL);
    if (ct) CHECK_STRN(ct->value.p, ct->value.len, "text/html; charset=utf-8");
    CHECK(resp.body != NULL);
    char buf[512];
    if (resp.body) {
        long n = drain(resp.body, buf, sizeof buf);
        CHECK(n >= 0);
        if (n >= 0) CHECK_STRN(buf, n, expect);
    }

    /* reusing the response replaces the Content-Type instead of adding a second one */
    CHECK_INT(http_response_simple(&resp, pool, 500), 0);
    CHECK_INT(http_fields_count_token(&resp.headers, HTTP_TOKEN_CONTENT_TYPE), 1);
    CHECK_INT(resp.status, 500);
    long n = drain(resp.body, buf, sizeof buf);
    CHECK(n > 0 && memmem(buf, (size_t)n, "<h1>500 Internal Server Error</h1>", 34) != NULL);

    static const int bodiless[] = {100, 103, 204, 304};
    for (size_t i = 0; i < sizeof(bodiless) / sizeof(bodiless[0]); i++) {
        memset(&resp, 0, sizeof resp);
        CHECK_INT(http_response_simple(&resp, pool, bodiless[i]), 0);
        CHECK_INT(resp.status, bodiless[i]);
        CHECK(resp.body == NULL);
        CHECK_INT(resp.content_length, 0);
        CHECK_INT(http_fields_count_token(&resp.headers, HTTP_TOKEN_CONTENT_TYPE), 0);
    }
    memset(&resp, 0, sizeof resp);
    CHECK_INT(http_response_simple(&resp, pool, 799), 0);
    n = drain(resp.body, buf, sizeof buf);
    CHECK(n > 0 && memmem(buf, (size_t)n, "<h1>799 Unknown</h1>", 20) != NULL);
    pool_destroy(pool);
}

int main(void)
{
    test_reasons();
    test_simple();
    return check_done("http/status");
}
