/* Request methods (RFC 9110 §9): case-sensitive names. */
#include <string.h>

#include "http/request.h"

static const char *const method_names[] = {
    [HTTP_METHOD_UNKNOWN] = "UNKNOWN", [HTTP_METHOD_GET] = "GET",
    [HTTP_METHOD_HEAD] = "HEAD",       [HTTP_METHOD_POST] = "POST",
    [HTTP_METHOD_PUT] = "PUT",         [HTTP_METHOD_DELETE] = "DELETE",
    [HTTP_METHOD_CONNECT] = "CONNECT", [HTTP_METHOD_OPTIONS] = "OPTIONS",
    [HTTP_METHOD_TRACE] = "TRACE",     [HTTP_METHOD_PATCH] = "PATCH",
};

enum http_method http_method_from_str(str_t name)
{
    /* the first byte and the length pick the only candidate */
    enum http_method m = HTTP_METHOD_UNKNOWN;
    if (name.len < 3 || name.len > 7) return m;
    switch (name.p[0]) {
    case 'G': m = HTTP_METHOD_GET; break;
    case 'H': m = HTTP_METHOD_HEAD; break;
    case 'P':
        m = name.len == 3 ? HTTP_METHOD_PUT : name.len == 4 ? HTTP_METHOD_POST : HTTP_METHOD_PATCH;
        break;
    case 'D': m = HTTP_METHOD_DELETE; break;
    case 'C': m = HTTP_METHOD_CONNECT; break;
    case 'O': m = HTTP_METHOD_OPTIONS; break;
    case 'T': m = HTTP_METHOD_TRACE; break;
    default: return HTTP_METHOD_UNKNOWN;
    }
    const char *n = method_names[m];
    return strlen(n) == name.len && memcmp(n, name.p, name.len) == 0 ? m : HTTP_METHOD_UNKNOWN;
}

const char *http_method_name(enum http_method m)
{
    if ((unsigned)m >= sizeof(method_names) / sizeof(method_names[0])) return "UNKNOWN";
    return method_names[m];
}
