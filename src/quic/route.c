/* Worker-naming connection IDs and their steering program (see route.h). */
#include <errno.h>
#include <linux/filter.h>
#include <sys/socket.h>

#include "quic/internal.h"
#include "quic/route.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

/* Offsets in the UDP payload (RFC 9000 §17.2, §17.3): a short header's DCID starts at 1, a
 * long header's DCID length is at 5 and the DCID at 6. */
#define SHORT_DCID   1
#define LONG_DCIDLEN 5
#define LONG_DCID    6
#define HASH_ANSWER  0xffffffffu

int quic_route_make_cid(uint8_t *cid, uint8_t server_id, uint8_t worker)
{
    if (gnutls_rnd(GNUTLS_RND_RANDOM, cid, QUIC_SCID_LEN) != 0) return -1;
    cid[QUIC_ROUTE_SERVER_BYTE] = server_id;
    cid[QUIC_ROUTE_WORKER_BYTE] = worker;
    return 0;
}

/* The worker byte of a DCID starting at off, or -1 when the DCID is not in our layout. */
static int pick_at(const uint8_t *pkt, size_t len, size_t off, uint8_t server_id, unsigned n)
{
    if (len < off + QUIC_SCID_LEN || pkt[off + QUIC_ROUTE_SERVER_BYTE] != server_id) return -1;
    return (int)(pkt[off + QUIC_ROUTE_WORKER_BYTE] % (n ? n : 1));
}

int quic_route_pick(const uint8_t *pkt, size_t len, uint8_t server_id, unsigned nworkers)
{
    if (len == 0) return -1;
    if (!(pkt[0] & 0x80)) return pick_at(pkt, len, SHORT_DCID, server_id, nworkers);
    /* A client's first DCID may be any length: only one of our length can be ours. */
    if (len <= LONG_DCIDLEN || pkt[LONG_DCIDLEN] != QUIC_SCID_LEN) return -1;
    return pick_at(pkt, len, LONG_DCID, server_id, nworkers);
}

size_t quic_route_program(struct sock_filter *prog, uint8_t server_id, unsigned nworkers)
{
    /* Jump offsets count from the next instruction; HASH and LONG are instruction indexes. */
    enum { LONG = 11, HASH = 20 };
#define TO(from, to) ((uint8_t)((to) - (from)-1))
    uint32_t n = nworkers ? nworkers : 1;
    const struct sock_filter p[] = {
        /* an empty datagram: a load past the end would answer socket 0 */
        /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 1, 0, TO(1, HASH)),
        /* 2 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
        /* 3 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x80, TO(3, LONG), 0),
        /* short header: A = its length, then the DCID's server and worker bytes */
        /* 4 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 5 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, SHORT_DCID + QUIC_SCID_LEN, 0, TO(5, HASH)),
        /* 6 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SHORT_DCID + QUIC_ROUTE_SERVER_BYTE),
        /* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, server_id, 0, TO(7, HASH)),
        /* 8 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SHORT_DCID + QUIC_ROUTE_WORKER_BYTE),
        /* 9 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
        /* 10 */ BPF_STMT(BPF_RET | BPF_A, 0),
        /* 11: long header */
        /* 11 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 12 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, LONG_DCID + QUIC_SCID_LEN, 0, TO(12, HASH)),
        /* 13 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, LONG_DCIDLEN),
        /* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, QUIC_SCID_LEN, 0, TO(14, HASH)),
        /* 15 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, LONG_DCID + QUIC_ROUTE_SERVER_BYTE),
        /* 16 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, server_id, 0, TO(16, HASH)),
        /* 17 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, LONG_DCID + QUIC_ROUTE_WORKER_BYTE),
        /* 18 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
        /* 19 */ BPF_STMT(BPF_RET | BPF_A, 0),
        /* 20: an index out of range makes the kernel use its 4-tuple hash */
        /* 20 */ BPF_STMT(BPF_RET | BPF_K, HASH_ANSWER),
    };
#undef TO
    _Static_assert(sizeof(p) / sizeof(p[0]) == HASH + 1, "labels");
    _Static_assert(sizeof(p) / sizeof(p[0]) <= QUIC_ROUTE_PROG_MAX, "room");
    for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
        prog[i] = p[i];
    return sizeof(p) / sizeof(p[0]);
}

int quic_route_attach(int fd, uint8_t server_id, unsigned nworkers)
{
    struct sock_filter prog[QUIC_ROUTE_PROG_MAX];
    struct sock_fprog fp = {
        .len = (unsigned short)quic_route_program(prog, server_id, nworkers),
        .filter = prog,
    };
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fp, sizeof(fp));
}

bool quic_route_may_reset(const uint8_t *pkt, size_t len, uint8_t server_id, unsigned worker,
                          unsigned nworkers)
{
    if (nworkers <= 1) return true;
    int w = quic_route_pick(pkt, len, server_id, nworkers);
    /* A DCID not in our layout was never issued by any worker of ours. */
    return w < 0 || (unsigned)w == worker % nworkers;
}
