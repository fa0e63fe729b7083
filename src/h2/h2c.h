/* h2c: HTTP/2 over cleartext TCP started with an HTTP/1.1 Upgrade (RFC 7540 §3.2; RFC 9113
 * §3.1 deprecates it but curl --http2 still sends it). Prior knowledge is detected by h1. */
#ifndef TERN_H2_H2C_H
#define TERN_H2_H2C_H

#include <stddef.h>
#include <stdint.h>

#include "core/str.h"
#include "http/request.h"

/* Registers the "h2c" Upgrade token with the HTTP/1 upgrade hook (once, at start-up). */
void h2c_register(void);

/* Decodes an HTTP2-Settings value (base64url, padding optional) into out. Returns the number
 * of bytes, or -1 when it is not base64url, does not fit, or is not a valid SETTINGS payload
 * (length a multiple of 6, values in range). */
long h2c_decode_settings(str_t value, uint8_t *out, size_t cap);

/* The decoded HTTP2-Settings of an Upgrade request, or -1 when it is missing, repeated or
 * invalid, or the Connection field does not list Upgrade and HTTP2-Settings. */
long h2c_check_request(const struct http_request *req, uint8_t *out, size_t cap);

#endif
