/* Connection IDs that name the worker owning the connection, and the steering of datagrams to
 * that worker's socket by a classic BPF program on the SO_REUSEPORT group (internal to
 * src/quic). Layout of every CID the server issues (QUIC_SCID_LEN bytes):
 *   byte 0: server id (for a future L4 balancer), byte 1: worker index, the rest random. */
#ifndef TERN_QUIC_ROUTE_H
#define TERN_QUIC_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUIC_ROUTE_SERVER_BYTE 0
#define QUIC_ROUTE_WORKER_BYTE 1
/* Longest steering program quic_route_program writes. */
#define QUIC_ROUTE_PROG_MAX 24

struct sock_filter;

/* Writes a new connection ID of QUIC_SCID_LEN bytes for worker of server_id into cid.
 * 0 or -1 (no randomness). */
int quic_route_make_cid(uint8_t *cid, uint8_t server_id, uint8_t worker);

/* The socket index the steering program picks for a datagram (the UDP payload) in a group of
 * nworkers sockets: the worker byte (modulo nworkers) of a DCID in our layout, or -1 when the
 * kernel's 4-tuple hash decides (a DCID that is not ours, a long header whose DCID is not
 * QUIC_SCID_LEN bytes, a datagram too short to hold one). */
int quic_route_pick(const uint8_t *pkt, size_t len, uint8_t server_id, unsigned nworkers);

/* Writes the classic BPF form of quic_route_pick into prog (QUIC_ROUTE_PROG_MAX entries);
 * returns its length. Its "hash" answer is 0xffffffff, out of range for any group. */
size_t quic_route_program(struct sock_filter *prog, uint8_t server_id, unsigned nworkers);

/* Attaches the steering program to fd's SO_REUSEPORT group (SO_ATTACH_REUSEPORT_CBPF; no
 * privileges needed). 0 or -1 with errno. */
int quic_route_attach(int fd, uint8_t server_id, unsigned nworkers);

/* Whether a short-header datagram for a connection this worker does not know may get a
 * stateless reset from it: not when its DCID names another worker, which owns it (RFC 9000
 * §10.3: a reset ends the connection). */
bool quic_route_may_reset(const uint8_t *pkt, size_t len, uint8_t server_id, unsigned worker,
                          unsigned nworkers);

#endif
