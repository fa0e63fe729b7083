/* struct quic_conn, shared by the two roles' files (conn.c: what both roles do, server side
 * creation; client.c: client side creation). Internal to src/quic. */
#ifndef TERN_QUIC_CONN_INTERNAL_H
#define TERN_QUIC_CONN_INTERNAL_H

#include "quic/internal.h"
#include "quic/stream.h"

struct quic_carry;

struct quic_conn {
    ngtcp2_conn *nc;
    gnutls_session_t tls;
    ngtcp2_crypto_conn_ref conn_ref;
    struct quic_conn_config cfg;
    bool client; /* made by quic_client_connect: random CIDs, no tickets or tokens to issue */
    enum quic_conn_state state;
    uint64_t close_deadline; /* end of the closing or draining period */
    uint8_t *close_pkt;      /* our CONNECTION_CLOSE, sent again while closing */
    size_t close_len;
    bool close_pending; /* close_pkt is due to be sent */
    bool in_ngtcp2;     /* inside read_pkt or handle_expiry: callbacks may run */
    bool close_req;     /* quic_conn_close was called from a callback: close_err waits */
    uint64_t close_err;
    uint8_t close_reason[64];
    size_t close_reason_len;
    bool handshake_done;
    bool rx_early;            /* the stream bytes being delivered came in 0-RTT packets */
    int last_liberr;          /* the ngtcp2 error that ended the connection, 0: none */
    bool got_packet;          /* a datagram from the peer was read (client: it answers) */
    struct quic_carry *carry; /* a packet that leads the next train (quic_conn_write_train) */
    ngtcp2_cid odcid;         /* the client's first DCID, routed to us until the handshake ends */
    struct quic_streams streams;
};

/* The ngtcp2 callbacks of a connection in either role (the crypto ones differ). */
void quic_conn_fill_callbacks(ngtcp2_callbacks *cb, bool client);
/* ngtcp2_crypto_conn_ref.get_conn for a struct quic_conn. */
ngtcp2_conn *quic_conn_get_ngtcp2(ngtcp2_crypto_conn_ref *ref);

#endif
