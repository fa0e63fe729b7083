/* Request ids: which values from a request field are taken, and the made ones (32 hex digits of
 * the worker's prefix and count). */
#include <string.h>

#include "check.h"
#include "http/request_id.h"

int main(void)
{
    CHECK(request_id_acceptable(STR_LIT("abc-123")));
    CHECK(request_id_acceptable(STR_LIT("0f8fad5b-d9cb-469f-a165-70867728950e")));
    CHECK(request_id_acceptable(STR_LIT("a!#$%&'*+-.^_`|~Z9")));
    CHECK(!request_id_acceptable(STR_LIT("")));
    CHECK(!request_id_acceptable(STR_LIT("has space")));
    CHECK(!request_id_acceptable(STR_LIT("semi;colon")));
    CHECK(!request_id_acceptable(STR_LIT("quote\"")));
    CHECK(!request_id_acceptable(STR_LIT("back\\slash")));
    CHECK(!request_id_acceptable(STR_LIT("ctl\x01")));
    CHECK(!request_id_acceptable(STR_LIT("high\xc3\xa9")));
    char max[REQUEST_ID_MAX + 2];
    memset(max, 'a', sizeof(max));
    CHECK(request_id_acceptable(str_make(max, REQUEST_ID_MAX)));
    CHECK(!request_id_acceptable(str_make(max, REQUEST_ID_MAX + 1)));

    char out[REQUEST_ID_MAX + 1];
    struct http_request req = {0};
    CHECK_INT(request_id_format(&req, out), 0); /* not assigned */
    CHECK_STR(out, "");
    req.id_prefix = 0x0123456789abcdefull;
    req.id_seq = 42;
    CHECK_INT(request_id_format(&req, out), 32);
    CHECK_STR(out, "0123456789abcdef000000000000002a");
    req.id_given = STR_LIT("given-1");
    CHECK_INT(request_id_format(&req, out), 7);
    CHECK_STR(out, "given-1");
    CHECK_INT(request_id_make(~0ull, 1, out), 32);
    CHECK_STR(out, "ffffffffffffffff0000000000000001");
    return check_done("http/request_id");
}
