/* http/websocket: the handshake values of RFC 6455 §1.3 and §4.1. */
#include <string.h>

#include "check.h"
#include "http/websocket.h"

static void test_accept(void)
{
    /* the RFC's own example */
    CHECK(websocket_accept_ok("dGhlIHNhbXBsZSBub25jZQ==", STR_LIT("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")));
    CHECK(!websocket_accept_ok("dGhlIHNhbXBsZSBub25jZQ==", STR_LIT("s3pPLMBiTxaQ9kYGzzhZRbK+xOo")));
    CHECK(
        !websocket_accept_ok("dGhlIHNhbXBsZSBub25jZQ==", STR_LIT("t3pPLMBiTxaQ9kYGzzhZRbK+xOo=")));
    CHECK(!websocket_accept_ok("dGhlIHNhbXBsZSBub25jZQ==", STR_NULL));
    CHECK(!websocket_accept_ok("short", STR_LIT("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")));
}

static void test_key(void)
{
    char a[WEBSOCKET_KEY_LEN + 1], b[WEBSOCKET_KEY_LEN + 1];
    CHECK_INT(websocket_key_new(a), 0);
    CHECK_INT(websocket_key_new(b), 0);
    CHECK_INT(strlen(a), WEBSOCKET_KEY_LEN);
    CHECK(strcmp(a, b) != 0);
    CHECK(a[22] == '=' && a[23] == '='); /* 16 bytes: two characters of padding */
}

int main(void)
{
    test_accept();
    test_key();
    return check_done("http/websocket");
}
