/* Parsing the credentials of an Authorization or Proxy-Authorization field (RFC 9110 §11.4):
 * an auth-scheme, then a token68 (Basic, RFC 7617) or a list of auth-params (Digest, RFC 7616),
 * and the strict base64 that Basic's token68 carries. I/O-free and bounded. */
#ifndef TERN_HTTP_AUTH_PARSE_H
#define TERN_HTTP_AUTH_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

#define AUTH_MAX_PARAMS 16   /* auth-params in one credentials value; more is an error */
#define AUTH_MAX_VALUE  8192 /* bytes of a credentials value; more is an error */

struct auth_param {
    str_t name;  /* a token, as sent (compare case-insensitively, RFC 9110 §11.2) */
    str_t value; /* a token, or a quoted-string with its quotes and quoted-pairs removed */
};

struct auth_credentials {
    str_t scheme;  /* a token, as sent (compare case-insensitively, RFC 9110 §11.1) */
    str_t token68; /* set when the scheme is followed by a token68 */
    struct auth_param params[AUTH_MAX_PARAMS];
    size_t n_params;
};

/* Parses value (a field value, OWS already trimmed or not) into c. Unescaped quoted-string
 * values are written to scratch, which must hold at least value.len bytes; c points into
 * value and scratch. Returns 0, or -1 when the value is malformed, longer than AUTH_MAX_VALUE,
 * has more than AUTH_MAX_PARAMS parameters, or names a parameter twice (RFC 9110 §11.2). */
int auth_credentials_parse(str_t value, char *scratch, size_t scratch_len,
                           struct auth_credentials *c);

/* The value of parameter name (ASCII case-insensitive), or NULL. */
const str_t *auth_param_get(const struct auth_credentials *c, const char *name);

/* Decodes base64 (RFC 4648 §4, with its padding; no whitespace, no bits left over) into out.
 * Returns the decoded length, or -1 when in is not strict base64 or out is too small. */
long auth_base64_decode(str_t in, char *out, size_t outlen);

#endif
