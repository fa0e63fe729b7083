/* libFuzzer round trip of QPACK: the input drives tests/unit/h3/qpack_sim.h (which field lists
 * are encoded, when encoder/decoder-stream bytes are delivered and in what pieces, which
 * sections are decoded or cancelled, in what order); bytes 0-1 pick the table capacity and the
 * blocked-streams setting. Any section that does not decode to its input aborts. */
#include <stdint.h>
#include <stdlib.h>

#include "../../unit/h3/qpack_sim.h"

struct src {
    const uint8_t *p;
    size_t len, pos;
};

static unsigned take(void *ctx)
{
    struct src *s = ctx;
    return s->pos < s->len ? s->p[s->pos++] : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    struct src s = {data, size, 2};
    if (sim_run(take, &s, size, (size_t)data[0] * 8, data[1] % 4) != 0) abort();
    return 0;
}
