/* http/method: case-sensitive method names (RFC 9110 §9.1). */
#include "check.h"
#include "http/request.h"

int main(void)
{
    static const char *const names[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                        "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    static const enum http_method methods[] = {
        HTTP_METHOD_GET,     HTTP_METHOD_HEAD,   HTTP_METHOD_POST,
        HTTP_METHOD_PUT,     HTTP_METHOD_DELETE, HTTP_METHOD_CONNECT,
        HTTP_METHOD_OPTIONS, HTTP_METHOD_TRACE,  HTTP_METHOD_PATCH};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        CHECK_INT(http_method_from_str(str_cstr(names[i])), methods[i]);
        CHECK_STR(http_method_name(methods[i]), names[i]);
    }
    static const char *const unknown[] = {
        "get",    "Get",   "GETS",   "GE",  "",    "PROPFIND", "POSTX", "PUTT", "PATC", "TRACEX",
        "OPTION", "DELET", "CONNEC", "PAT", "HEA", "UNKNOWN",  "BREW",  "P",    "G\0T"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
        CHECK_INT(http_method_from_str(str_cstr(unknown[i])), HTTP_METHOD_UNKNOWN);
    CHECK_INT(http_method_from_str(str_make("G\0T", 3)), HTTP_METHOD_UNKNOWN);
    CHECK_INT(http_method_from_str(str_make("GETX", 3)), HTTP_METHOD_GET); /* length respected */
    CHECK_INT(http_method_from_str(STR_NULL), HTTP_METHOD_UNKNOWN);
    CHECK_STR(http_method_name(HTTP_METHOD_UNKNOWN), "UNKNOWN");
    CHECK_STR(http_method_name((enum http_method)99), "UNKNOWN");
    return check_done("http/method");
}
