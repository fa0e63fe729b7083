/* Non-cryptographic hashing for in-memory tables. */
#ifndef TERN_CORE_HASH_H
#define TERN_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit FNV-1a of n bytes (not for tables keyed by what an attacker chooses freely when
 * collisions would cost more than a longer chain). */
#define HASH_FNV1A_INIT 0xcbf29ce484222325ull

/* FNV-1a continued over n more bytes from the hash h (HASH_FNV1A_INIT to start). */
static inline uint64_t hash_fnv1a_more(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

static inline uint64_t hash_fnv1a(const void *p, size_t n)
{
    return hash_fnv1a_more(HASH_FNV1A_INIT, p, n);
}

#endif
