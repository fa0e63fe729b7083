/* QPACK round trips: random field lists through encoder and decoder, without a dynamic table,
 * with one, with blocked streams allowed or not, stream bytes delivered late and in pieces, and
 * sections decoded (so acknowledged) out of order or cancelled. */
#include <stdint.h>

#include "check.h"
#include "qpack_sim.h"

static unsigned rnd(void *src)
{
    uint64_t *s = src; /* xorshift64 */
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (unsigned)(*s >> 24);
}

int main(void)
{
    static const size_t caps[] = {0, 100, 220, 4096, 65536};
    static const size_t blocked[] = {0, 1, 100};
    for (size_t c = 0; c < 5; c++)
        for (size_t b = 0; b < 3; b++)
            for (uint64_t seed = 1; seed <= 20; seed++) {
                uint64_t s = seed * 0x9e3779b97f4a7c15u + c * 31 + b;
                CHECK_INT(sim_run(rnd, &s, 2000, caps[c], blocked[b]), 0);
            }
    return check_done("h3/qpack_roundtrip");
}
