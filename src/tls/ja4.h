/* JA4, FoxIO's TLS client fingerprint (github.com/FoxIO-LLC/ja4, technical_details/JA4.md),
 * computed from the ClientHello as it came over the wire: "t13d1516h2_8daaf6152771_e5627efa2ab1"
 * = transport, highest TLS version offered, SNI or not, cipher and extension counts, the first
 * ALPN value's first and last characters, then truncated SHA-256 hashes of the sorted cipher
 * suites and of the sorted extensions (less SNI and ALPN) with the signature algorithms in
 * their order. GREASE values (RFC 8701) count nowhere. I/O-free. */
#ifndef TERN_TLS_JA4_H
#define TERN_TLS_JA4_H

#include <stddef.h>
#include <stdint.h>

#define JA4_LEN 36 /* "t13d1516h2_" + 12 + "_" + 12 */

/* msg is a ClientHello handshake message (the 4-byte header first); transport is 't' (TLS over
 * TCP) or 'q' (QUIC). Writes the fingerprint, NUL-terminated, into out (JA4_LEN + 1 bytes) and
 * returns JA4_LEN, or returns 0 (out empty) when msg is not a well-formed ClientHello. */
size_t ja4_from_client_hello(char transport, const uint8_t *msg, size_t len, char *out);

/* The same from the ClientHello's body alone (the message without its 4-byte header). */
size_t ja4_from_client_hello_body(char transport, const uint8_t *body, size_t len, char *out);

/* The truncated hash part: the first 12 lower-case hex digits of SHA-256(s), or "000000000000"
 * for an empty s; out gets 13 bytes. */
void ja4_hash12(const char *s, size_t len, char *out);

#endif
