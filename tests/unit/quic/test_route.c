/* Worker-naming connection IDs and the steering program, run by a small cBPF interpreter and
 * compared with quic_route_pick. */
#include <linux/filter.h>
#include <stdlib.h>
#include <string.h>

#include "cbpf_run.h"
#include "check.h"
#include "quic/quic.h"
#include "quic/route.h"

/* The program's answer as quic_route_pick reports it (-1: out of range, the kernel hashes). */
static int run(const uint8_t *pkt, size_t len, uint8_t sid, unsigned n)
{
    struct sock_filter prog[QUIC_ROUTE_PROG_MAX];
    size_t pn = quic_route_program(prog, sid, n);
    uint32_t r = cbpf_run(prog, pn, pkt, len);
    return r >= n ? -1 : (int)r;
}

int main(void)
{
    uint8_t cid[QUIC_SCID_LEN], pkt[64];
    CHECK(quic_route_make_cid(cid, 7, 3) == 0);
    CHECK_INT(cid[0], 7);
    CHECK_INT(cid[1], 3);

    /* short header: 0x40, then our DCID */
    memset(pkt, 0xaa, sizeof(pkt));
    pkt[0] = 0x40;
    memcpy(pkt + 1, cid, sizeof(cid));
    CHECK_INT(quic_route_pick(pkt, 40, 7, 4), 3);
    CHECK_INT(run(pkt, 40, 7, 4), 3);
    CHECK_INT(quic_route_pick(pkt, 40, 7, 2), 1); /* modulo the group */
    CHECK_INT(run(pkt, 40, 7, 2), 1);
    CHECK_INT(quic_route_pick(pkt, 40, 8, 4), -1); /* another server's CID */
    CHECK_INT(run(pkt, 40, 8, 4), -1);
    CHECK_INT(quic_route_pick(pkt, 1 + QUIC_SCID_LEN - 1, 7, 4), -1); /* too short */
    CHECK_INT(run(pkt, 1 + QUIC_SCID_LEN - 1, 7, 4), -1);
    CHECK(quic_route_may_reset(pkt, 40, 7, 3, 4));
    CHECK(!quic_route_may_reset(pkt, 40, 7, 2, 4)); /* worker 3 owns it */
    CHECK(quic_route_may_reset(pkt, 40, 7, 2, 1));  /* alone: every CID is ours */
    pkt[1] = 9;                                     /* not our layout: nobody owns it */
    CHECK(quic_route_may_reset(pkt, 40, 7, 2, 4));

    /* long header: 0xc0, version, DCID length, DCID */
    memset(pkt, 0, sizeof(pkt));
    pkt[0] = 0xc0;
    pkt[4] = 1;
    pkt[5] = QUIC_SCID_LEN;
    memcpy(pkt + 6, cid, sizeof(cid));
    CHECK_INT(quic_route_pick(pkt, 60, 7, 4), 3);
    CHECK_INT(run(pkt, 60, 7, 4), 3);
    pkt[5] = 8; /* a client's own first DCID: the kernel's hash */
    CHECK_INT(quic_route_pick(pkt, 60, 7, 4), -1);
    CHECK_INT(run(pkt, 60, 7, 4), -1);

    /* random datagrams: the program and the C function always agree */
    srand(1);
    for (int i = 0; i < 200000; i++) {
        size_t len = (size_t)rand() % 40;
        for (size_t j = 0; j < len; j++)
            pkt[j] = (uint8_t)rand();
        if (len > 5 && rand() % 2) pkt[5] = QUIC_SCID_LEN;
        if (len > 6 && rand() % 2) pkt[6] = 7;
        if (len > 1 && rand() % 2) pkt[1] = 7;
        unsigned n = 1 + (unsigned)rand() % 8;
        CHECK_INT(run(pkt, len, 7, n), quic_route_pick(pkt, len, 7, n));
    }
    return check_done("quic/route");
}
