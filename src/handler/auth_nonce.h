/* Digest nonces (RFC 7616 §3.3, §5.4): self-validating, the time they were made, random
 * bytes and an HMAC-SHA-256 over both and the realm with a random key made once per process,
 * so no state is kept for a nonce until a client uses it; then a bounded table shared by the
 * worker threads keeps the highest nonce-count seen for it and refuses a request that does not
 * raise it. */
#ifndef TERN_HANDLER_AUTH_NONCE_H
#define TERN_HANDLER_AUTH_NONCE_H

#include <stdint.h>

#include "core/str.h"

#define AUTH_NONCE_LEN  64 /* hex: 8 bytes of time, 8 random, 16 of MAC */
#define AUTH_OPAQUE_LEN 32

enum auth_nonce_verdict {
    AUTH_NONCE_OK,
    AUTH_NONCE_BAD,    /* not one of ours (or made for another realm): a plain 401 */
    AUTH_NONCE_STALE,  /* ours but too old or forgotten: 401 with stale=true */
    AUTH_NONCE_REPLAY, /* nc not above the highest seen for this nonce */
};

/* Writes a nonce for realm made at now (seconds, a clock that all threads share and that never
 * goes back) into out (AUTH_NONCE_LEN + 1 bytes).
 * Returns 0, or -1 when no random key could be made. */
int auth_nonce_make(const char *realm, int64_t now, char *out);
/* Checks that nonce is ours for realm and younger than lifetime seconds. */
enum auth_nonce_verdict auth_nonce_check(str_t nonce, const char *realm, int64_t now,
                                         double lifetime);
/* Records nc for a nonce that auth_nonce_check found OK: AUTH_NONCE_OK when nc is above the
 * highest seen for it, AUTH_NONCE_REPLAY when not, AUTH_NONCE_STALE when the table had to
 * forget it (the client gets a new nonce). */
enum auth_nonce_verdict auth_nonce_use(str_t nonce, uint32_t nc, int64_t now, double lifetime);
/* The opaque value of realm's challenges (AUTH_OPAQUE_LEN + 1 bytes); 0 or -1. */
int auth_opaque(const char *realm, char *out);

#endif
