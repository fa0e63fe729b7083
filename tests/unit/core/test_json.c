/* JSON string writing: escapes, control characters, and ill-formed UTF-8 turned into U+FFFD. */
#include "check.h"
#include "core/json.h"

static void expect(const char *in, size_t len, const char *out)
{
    struct buf b = {0};
    CHECK_INT(json_append_string(&b, in, len), 0);
    CHECK_STRN(buf_ptr(&b), buf_size(&b), out);
    buf_free(&b);
}

int main(void)
{
    expect("", 0, "\"\"");
    expect("TLS_AES_128_GCM_SHA256", 22, "\"TLS_AES_128_GCM_SHA256\"");
    expect("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"");
    expect("\n\r\t\x01\x1f\x7f", 6, "\"\\n\\r\\t\\u0001\\u001f\\u007f\"");
    expect("a\0b", 3, "\"a\\u0000b\"");
    /* well-formed UTF-8 passes through: é (2 bytes), € (3), 😀 (4) */
    expect("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* a lone continuation byte, a truncated sequence, an overlong '/', a surrogate, > U+10FFFF */
    expect("\x80", 1, "\"\\ufffd\"");
    expect("x\xe2\x82", 3, "\"x\\ufffd\\ufffd\"");
    expect("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");
    expect("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");
    expect("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    expect("\xff", 1, "\"\\ufffd\"");

    struct buf b = {0};
    CHECK_INT(json_append_cstr_or_null(&b, NULL), 0);
    CHECK_INT(json_append_cstr_or_null(&b, "h2"), 0);
    CHECK_STRN(buf_ptr(&b), buf_size(&b), "null\"h2\"");
    buf_free(&b);
    return check_done("core/json");
}
