/* Datagram routing: the steering decision (C and its cBPF program must agree), the stateless
 * reset decision, and the CID map under puts, gets and deletes driven by the input. */
#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../unit/quic/cbpf_run.h"
#include "quic/cidmap.h"
#include "quic/quic.h"
#include "quic/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t sid = data[0];
    unsigned n = 1 + data[1] % 16;
    const uint8_t *pkt = data + 2;
    size_t len = size - 2;
    struct sock_filter prog[QUIC_ROUTE_PROG_MAX];
    size_t pn = quic_route_program(prog, sid, n);
    uint32_t r = cbpf_run(prog, pn, pkt, len);
    int pick = quic_route_pick(pkt, len, sid, n);
    if ((r >= n ? -1 : (int)r) != pick) abort();
    for (unsigned w = 0; w < n; w++)
        if (pick >= 0 && (unsigned)pick != w && quic_route_may_reset(pkt, len, sid, w, n) && n > 1)
            abort(); /* would reset another worker's connection */

    /* The rest of the input as cidmap operations: op byte, length byte, CID bytes. */
    struct cidmap m;
    cidmap_init(&m, 42);
    static int vals[4];
    for (size_t i = 0; i + 2 <= len;) {
        uint8_t op = pkt[i], cl = pkt[i + 1] % 21;
        i += 2;
        if (i + cl > len) break;
        const uint8_t *cid = pkt + i;
        i += cl;
        int *v = &vals[op % 4];
        switch ((op >> 2) % 3) {
        case 0:
            if (cidmap_put(&m, cid, cl, v) && cidmap_get(&m, cid, cl) != v) abort();
            break;
        case 1: cidmap_del(&m, cid, cl, v); break;
        default: (void)cidmap_get(&m, cid, cl); break;
        }
    }
    cidmap_free(&m);
    return 0;
}
