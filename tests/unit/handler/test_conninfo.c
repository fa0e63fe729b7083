/* The connection_info JSON: its shape for cleartext and TLS, nulls, and escaped strings; and
 * conninfo_from_request for a request with no connection attached. */
#include "check.h"
#include "handler/conninfo.h"

static void expect(const struct conninfo *info, const char *out)
{
    struct buf b = {0};
    CHECK_INT(conninfo_json(&b, info), 0);
    CHECK_STRN(buf_ptr(&b), buf_size(&b), out);
    buf_free(&b);
}

int main(void)
{
    struct conninfo clear = {.http_version = "HTTP/1.1", .address = "127.0.0.1", .port = 54321};
    expect(&clear, "{\"http_version\":\"HTTP/1.1\",\"tls\":null,"
                   "\"client\":{\"address\":\"127.0.0.1\",\"port\":54321}}\n");

    struct conninfo tls = {.http_version = "HTTP/2",
                           .tls = true,
                           .tls_version = "TLSv1.3",
                           .cipher = "TLS_AES_128_GCM_SHA256",
                           .alpn = "h2",
                           .sni = "localhost",
                           .address = "::1",
                           .port = 443};
    expect(&tls, "{\"http_version\":\"HTTP/2\",\"tls\":{\"version\":\"TLSv1.3\","
                 "\"cipher\":\"TLS_AES_128_GCM_SHA256\",\"alpn\":\"h2\",\"sni\":\"localhost\","
                 "\"early_data\":false},"
                 "\"client\":{\"address\":\"::1\",\"port\":443}}\n");

    /* unknowns are null; every string is escaped */
    struct conninfo odd = {.tls = true, .sni = "a\"b\\\n", .early_data = true, .port = -1};
    expect(&odd, "{\"http_version\":null,\"tls\":{\"version\":null,\"cipher\":null,\"alpn\":null,"
                 "\"sni\":\"a\\\"b\\\\\\n\",\"early_data\":true},"
                 "\"client\":{\"address\":null,\"port\":null}}\n");

    /* a request the wire layer attached no connection to: no TLS, no port */
    struct http_request req = {.version = 10};
    memcpy(req.peer, "10.0.0.1", 9);
    struct conninfo info;
    conninfo_from_request(&req, &info);
    CHECK_STR(info.http_version, "HTTP/1.0");
    CHECK(!info.tls);
    CHECK_STR(info.address, "10.0.0.1");
    CHECK_INT(info.port, -1);
    req.version = 9;
    conninfo_from_request(&req, &info);
    CHECK_STR(info.http_version, "HTTP/0.9");
    return check_done("handler/conninfo");
}
