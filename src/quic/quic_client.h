/* QUIC in the client role (ngtcp2 0.12 + GnuTLS): the same I/O-free struct quic_conn as the
 * server's (quic.h: quic_conn_recv, quic_conn_write_train, quic_conn_expiry, streams), made by
 * quic_client_connect instead of quic_conn_accept. TLS 1.3 with ALPN "h3", the server's
 * certificate checked against the system trust store (or a CA file) and the host name. */
#ifndef TERN_QUIC_QUIC_CLIENT_H
#define TERN_QUIC_QUIC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quic/quic.h"

struct quic_client_config {
    const char *host;   /* the server's name or IP literal: checked against its certificate */
    bool host_is_ip;    /* no SNI for an IP literal (RFC 6066 §3) */
    const char *cacert; /* PEM file of trusted CAs instead of the system store; NULL: system */
    bool insecure;      /* no certificate check at all (curl -k) */
    uint64_t handshake_timeout_ns; /* 0: ngtcp2's default */
    const struct quic_conn_callbacks *cb;
    void *app;
};

/* Starts a connection on path (the connected UDP socket's local and remote addresses); the
 * first Initial is written by quic_conn_write_train. NULL with a message in err. */
struct quic_conn *quic_client_connect(const struct quic_client_config *cfg,
                                      const struct quic_path *path, uint64_t now, char *err,
                                      size_t errlen);

/* Opens a client-initiated bidirectional stream. 0 or -1 (the server's limit, not ready). */
int quic_open_bidi_stream(struct quic_conn *c, int64_t *stream_id);

/* Why a connection ended or failed (curl's exit codes follow from it). */
enum quic_failure {
    QUIC_FAIL_NONE,
    QUIC_FAIL_CERT,       /* the server's certificate was refused */
    QUIC_FAIL_TLS,        /* another handshake failure (alert, ALPN, version) */
    QUIC_FAIL_NO_ANSWER,  /* not a packet from the server */
    QUIC_FAIL_TIMEOUT,    /* handshake or idle timeout after the server answered */
    QUIC_FAIL_PEER_CLOSE, /* the server closed the connection with an application (HTTP/3)
                           * error code, in msg */
    QUIC_FAIL_TRANSPORT,  /* a QUIC error: in what the server sent, or the server's own */
};
/* The failure so far, with a message for the user in msg. */
enum quic_failure quic_client_failure(const struct quic_conn *c, char *msg, size_t len);
/* A datagram from the server was read. */
bool quic_client_got_packet(const struct quic_conn *c);
/* The negotiated TLS version, cipher and ALPN (after the handshake), or "". */
void quic_client_tls_info(const struct quic_conn *c, const char **version, const char **cipher,
                          const char **alpn);

#endif
