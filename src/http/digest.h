/* HTTP Digest access authentication (RFC 7616): parsing a Digest challenge and computing the
 * response a client sends (and, later, the server's check), with MD5, SHA-256 and
 * SHA-512-256, their -sess variants, qop=auth and userhash. */
#ifndef TERN_HTTP_DIGEST_H
#define TERN_HTTP_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

enum digest_alg { DIGEST_MD5, DIGEST_SHA256, DIGEST_SHA512_256 };

struct digest_challenge {
    char realm[256], nonce[256], opaque[256];
    enum digest_alg alg;
    bool sess;     /* algorithm "-sess" */
    bool qop_auth; /* qop offers "auth" (else no qop: RFC 2069 style) */
    bool userhash;
    bool stale;
};

/* Parses a WWW-Authenticate value holding a Digest challenge (the first one of several).
 * 0, or -1 when there is no Digest challenge or it is malformed or uses an algorithm or qop
 * we cannot answer. */
int digest_challenge_parse(str_t value, struct digest_challenge *c);
/* Computes the Authorization value for user/pass answering c for method and uri (the request
 * target), with client nonce cnonce and nonce count nc. Returns its length, or -1 when out is
 * too small. */
/* H(data) as lower-case hex into out (at least 129 bytes: SHA-512-256 is 64 hex digits). */
void digest_hash_hex(enum digest_alg alg, const char *data, size_t len, char *out);
/* The request-digest (RFC 7616 §3.4.1) from ha1 (hex), nonce, nc (8 hex digits), cnonce, with
 * qop "auth" when qop_auth (else RFC 2069's form) over method and uri, as hex into out (at
 * least 129 bytes). Returns 0, or -1 when the inputs are too long. */
int digest_response(enum digest_alg alg, const char *ha1, const char *nonce, const char *nc,
                    const char *cnonce, bool qop_auth, const char *method, const char *uri,
                    char *out);
int digest_authorization(const struct digest_challenge *c, const char *user, const char *pass,
                         const char *method, const char *uri, const char *cnonce, unsigned nc,
                         char *out, size_t outlen);

#endif
