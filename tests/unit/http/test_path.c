/* http/path: decoding, dot-segment removal (RFC 3986 §5.2.4), traversal vectors, encoding. */
#include <string.h>

#include "check.h"
#include "http/path.h"

static char out[256];

static long norm(const char *in)
{
    return http_path_normalize(in, strlen(in), out, sizeof out);
}

#define CHECK_NORM(in, expect)                                                                     \
    do {                                                                                           \
        long n_ = norm(in);                                                                        \
        CHECK(n_ >= 0);                                                                            \
        if (n_ >= 0) {                                                                             \
            CHECK_STRN(out, n_, expect);                                                           \
            CHECK_INT(strlen(out), n_);                                                            \
        }                                                                                          \
    } while (0)

#define CHECK_REJECT(in) CHECK_INT(norm(in), -1)

static void test_normalize(void)
{
    CHECK_NORM("/", "/");
    CHECK_NORM("/index.html", "/index.html");
    CHECK_NORM("/a/b/c", "/a/b/c");
    CHECK_NORM("/a/b/", "/a/b/");
    CHECK_NORM("//a///b//", "/a/b/");
    CHECK_NORM("/a/./b", "/a/b");
    CHECK_NORM("/a/b/../c", "/a/c");
    CHECK_NORM("/a/..", "/");
    CHECK_NORM("/a/.", "/a/");
    CHECK_NORM("/a/b/..", "/a/");
    CHECK_NORM("/a/../b/", "/b/");
    CHECK_NORM("/.", "/");
    CHECK_NORM("/./", "/");
    CHECK_NORM("/a/b/c/./../../g", "/a/g"); /* RFC 3986 §5.2.4 example */
    CHECK_NORM("/mid/content=5/../6", "/mid/6");
    CHECK_NORM("/...", "/...");
    CHECK_NORM("/..a/a..", "/..a/a..");
    CHECK_NORM("/.hidden", "/.hidden");
    CHECK_NORM("/%7euser/%41%62", "/~user/Ab");
    CHECK_NORM("/a%20b", "/a b");
    CHECK_NORM("/%C3%A9t%c3%a9", "/\xc3\xa9t\xc3\xa9"); /* UTF-8 bytes pass through */
    CHECK_NORM("/caf\xc3\xa9", "/caf\xc3\xa9");
    CHECK_NORM("/a/%2e/b", "/a/b");
    CHECK_NORM("/a/%2E%2e/b", "/b");
    CHECK_NORM("/a/.%2e", "/");
    CHECK_NORM("/%252e%252e/x", "/%2e%2e/x"); /* double encoding stays a literal name */
    CHECK_NORM("/a;b=c,d", "/a;b=c,d");
}

static void test_traversal(void)
{
    CHECK_REJECT("/../etc/passwd");
    CHECK_REJECT("/..");
    CHECK_REJECT("/../");
    CHECK_REJECT("/a/../../b");
    CHECK_REJECT("/%2e%2e/etc/passwd");
    CHECK_REJECT("/%2E%2E/etc/passwd");
    CHECK_REJECT("/.%2e/etc/passwd");
    CHECK_REJECT("/a/%2e%2e/%2e%2e/b");
    CHECK_REJECT("/./../x");
    CHECK_REJECT("/%2fetc");
    CHECK_REJECT("/%2Fetc/passwd");
    CHECK_REJECT("/..%2fetc");
    CHECK_REJECT("/a%00b");
    CHECK_REJECT("/a%5cb");
    CHECK_REJECT("/a%5Cb");
    CHECK_REJECT("/a\\b");
    CHECK_REJECT("/..\\..\\etc");
    CHECK_REJECT("/a%0ab");
    CHECK_REJECT("/a%0D%0Ab");
    CHECK_REJECT("/a%7f");
    CHECK_REJECT("/a\tb");
    CHECK_REJECT("/a\x7f");
    CHECK_INT(http_path_normalize("/a\0b", 4, out, sizeof out), -1);
    /* malformed */
    CHECK_REJECT("");
    CHECK_REJECT("a/b");
    CHECK_REJECT("*");
    CHECK_REJECT("/%");
    CHECK_REJECT("/%4");
    CHECK_REJECT("/%zz");
    CHECK_REJECT("/%4g");
    CHECK_REJECT("/a%");
    CHECK_REJECT("/%%41");
}

static void test_capacity(void)
{
    char small[8];
    CHECK_INT(http_path_normalize("/abcdef", 7, small, 8), 7); /* exactly fits */
    CHECK_STR(small, "/abcdef");
    CHECK_INT(http_path_normalize("/abcdefg", 8, small, 8), -1);
    CHECK_INT(http_path_normalize("/abcde/", 7, small, 8), 7);
    CHECK_STR(small, "/abcde/");
    CHECK_INT(http_path_normalize("/abcdef/", 8, small, 8), -1); /* the slash does not fit */
    CHECK_INT(http_path_normalize("/abcdef/.", 9, small, 8), -1);
    CHECK_INT(http_path_normalize("/abcde/.", 8, small, 8), 7);
    CHECK_INT(http_path_normalize("/%61%62%63%64%65%66", 19, small, 8), 6 + 1);
    CHECK_STR(small, "/abcdef");
    CHECK_INT(http_path_normalize("/x/../abcdef", 12, small, 8), 7);
    CHECK_INT(http_path_normalize("/", 1, small, 2), 1);
    CHECK_INT(http_path_normalize("/", 1, small, 1), -1);
    CHECK_INT(http_path_normalize("/a", 2, small, 2), -1);
}

static void test_encode(void)
{
    char enc[256];
    long n = http_path_encode("/a b/c%d", 8, enc, sizeof enc);
    CHECK_STRN(enc, n, "/a%20b/c%25d");
    n = http_path_encode("/Az09-._~", 9, enc, sizeof enc);
    CHECK_STRN(enc, n, "/Az09-._~");
    n = http_path_encode("/\"<>?#&'", 8, enc, sizeof enc);
    CHECK_STRN(enc, n, "/%22%3C%3E%3F%23%26%27");
    n = http_path_encode("/caf\xc3\xa9", 6, enc, sizeof enc);
    CHECK_STRN(enc, n, "/caf%C3%A9");
    n = http_path_encode("", 0, enc, sizeof enc);
    CHECK_STRN(enc, n, "");
    CHECK_INT(http_path_encode("/abc", 4, enc, 5), 4);
    CHECK_INT(http_path_encode("/abc", 4, enc, 4), -1);
    CHECK_INT(http_path_encode("/a ", 3, enc, 6), 5);
    CHECK_INT(http_path_encode("/a ", 3, enc, 5), -1);
    CHECK_INT(http_path_encode("", 0, enc, 0), -1);

    /* encode then normalize gives the normalized path back */
    static const char *const paths[] = {"/a b/c", "/caf\xc3\xa9/", "/%?#\"", "/x/y.z~"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        n = http_path_encode(paths[i], strlen(paths[i]), enc, sizeof enc);
        CHECK(n > 0);
        CHECK_NORM(enc, paths[i]);
    }
}

int main(void)
{
    test_normalize();
    test_traversal();
    test_capacity();
    test_encode();
    return check_done("http/path");
}
