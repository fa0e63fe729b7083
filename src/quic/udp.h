/* The UDP socket calls of QUIC (internal to src/quic): trains of equal-size datagrams out with
 * one sendmsg (UDP GSO) or one sendmmsg, coalesced datagrams in (UDP GRO), ECN both ways. */
#ifndef TERN_QUIC_UDP_H
#define TERN_QUIC_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "quic/quic.h"

/* Linux takes at most this many segments in one UDP GSO send (UDP_MAX_SEGMENTS). */
#define QUIC_UDP_MAX_SEGS 64
/* Bytes of one train: below the 64 KiB an IP datagram may carry, headers included. */
#define QUIC_UDP_TRAIN_MAX 65000
/* Control-message room for one datagram we receive or send. */
#define QUIC_UDP_CMSG_SPACE 128

/* One socket's capabilities, found once and updated when the kernel refuses one. */
struct quic_udp {
    int fd;
    int family;
    bool gso; /* sendmsg takes UDP_SEGMENT (turned off for good at the first refusal) */
    bool gro; /* the kernel may hand us several datagrams coalesced (UDP_GRO) */
};

/* Sets the receive options on a bound socket (packet info, ECN, GRO when the kernel has it)
 * and probes GSO. 0, or -1 with errno when packet info cannot be had. */
int quic_udp_setup(struct quic_udp *u, int fd, int family);

/* What the control messages of a received datagram say: the local address (into p->local,
 * which holds the bound address), the ECN codepoint, and the segment size when the kernel
 * coalesced several datagrams (0: one datagram). */
void quic_udp_recv_info(const struct msghdr *mh, struct quic_path *p, uint8_t *ecn, size_t *seg);

/* What a send did: the number of system calls made and datagrams the kernel took. */
struct quic_udp_sent {
    unsigned calls, datagrams;
};

/* Sends len bytes as datagrams of seg bytes (the last may be shorter) on path, marked with
 * ecn: one sendmsg with UDP_SEGMENT when the socket has GSO, else one sendmmsg. Datagrams the
 * kernel does not take (a full buffer) are lost, and QUIC's loss recovery sends them again. */
struct quic_udp_sent quic_udp_send(struct quic_udp *u, const uint8_t *data, size_t len, size_t seg,
                                   const struct quic_path *path, uint8_t ecn);

#endif
