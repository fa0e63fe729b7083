/* Status codes: reason phrases (RFC 9110 §15, RFC 6585, RFC 8297, RFC 7725) and small HTML
 * status bodies. */
#include <stdio.h>

#include "http/response.h"

const char *http_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 306: return "(Unused)";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "(Unused)";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int http_response_simple(struct http_response *resp, struct pool *pool, int status)
{
    resp->status = status;
    http_fields_remove(&resp->headers, HTTP_TOKEN_CONTENT_TYPE);
    resp->body = NULL;
    resp->content_length = 0;
    /* 1xx, 204 and 304 never carry content (RFC 9110 §6.4.1) */
    if ((status >= 100 && status < 200) || status == 204 || status == 304) return 0;
    const char *reason = http_status_reason(status);
    size_t len;
    char *html = pool_printf(pool, &len,
                             "<html><head><title>%d %s</title></head>"
                             "<body><h1>%d %s</h1></body></html>\n",
                             status, reason, status, reason);
    if (!html) return -1;
    struct body_source *src = body_source_mem(pool, html, len);
    if (!src || http_fields_add_token(&resp->headers, pool, HTTP_TOKEN_CONTENT_TYPE,
                                      STR_LIT("text/html; charset=utf-8")) < 0)
        return -1;
    resp->body = src;
    resp->content_length = (int64_t)len;
    return 0;
}
