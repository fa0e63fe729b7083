/* The WebSocket opening handshake's key and accept values (RFC 6455 §4.1, §4.2.2), for a proxy
 * that turns an HTTP/2 extended CONNECT (RFC 8441) into an HTTP/1.1 Upgrade: it is then the
 * client of the upstream's handshake. */
#ifndef TERN_HTTP_WEBSOCKET_H
#define TERN_HTTP_WEBSOCKET_H

#include <stdbool.h>

#include "core/str.h"

#define WEBSOCKET_KEY_LEN    24 /* base64 of 16 random bytes */
#define WEBSOCKET_ACCEPT_LEN 28 /* base64 of a SHA-1 */

/* A fresh Sec-WebSocket-Key: 16 random bytes, base64, NUL-terminated. 0, or -1 when no
 * randomness was to be had. */
int websocket_key_new(char out[WEBSOCKET_KEY_LEN + 1]);
/* Does accept answer key (base64 of SHA-1 of the key and the RFC's GUID)? */
bool websocket_accept_ok(const char *key, str_t accept);

#endif
