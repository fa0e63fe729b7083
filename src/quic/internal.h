/* Shared between the files of src/quic only (includes GnuTLS and ngtcp2). */
#ifndef TERN_QUIC_INTERNAL_H
#define TERN_QUIC_INTERNAL_H

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "quic/quic.h"

/* QUIC forbids the TLS 1.3 middlebox compatibility mode (RFC 9001 §8.4). */
#define QUIC_PRIORITY                                                                              \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"      \
    "+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:"    \
    "%DISABLE_TLS13_COMPAT_MODE"

#define ALPN_H3 "h3" /* the only ALPN QUIC speaks here (RFC 9114 §3.1) */

/* ---- tls.c: sessions ---- */

/* A server TLS session for one QUIC connection, configured for ngtcp2; conn_ref must outlive
 * it. NULL on failure. */
gnutls_session_t quic_tls_session_new(struct quic_tls *t, ngtcp2_crypto_conn_ref *conn_ref);
/* The handshake is complete: sends a NewSessionTicket when tickets are on. */
void quic_tls_session_handshake_done(gnutls_session_t s);
/* The client's JA4 (tls/ja4.h, transport "q") from its ClientHello, or NULL. */
const char *quic_tls_session_ja4(gnutls_session_t s);
/* Frees a session made by quic_tls_session_new (and what it holds). */
void quic_tls_session_free(gnutls_session_t s);

/* ---- tls_client.c: client sessions ---- */

/* A client TLS session for one QUIC connection (ALPN h3, SNI unless host_is_ip, the
 * certificate verified against cacert or the system store and host unless insecure); conn_ref
 * must outlive it. NULL with a message in err. */
gnutls_session_t quic_tls_client_session_new(const char *host, bool host_is_ip, const char *cacert,
                                             bool insecure, ngtcp2_crypto_conn_ref *conn_ref,
                                             char *err, size_t errlen);
/* Frees a session made by quic_tls_client_session_new and its credentials. */
void quic_tls_client_session_free(gnutls_session_t s);

/* ---- ticket.c: ticket keys and 0-RTT replay defence, one set per process ---- */

#define QUIC_TICKET_KEY_LEN 64

struct quic_keys;
/* The process's ticket secret and ClientHello recording set (made by the first caller; the
 * same one while any reference lives). NULL when the RNG fails or on OOM. */
struct quic_keys *quic_keys_acquire(void);
void quic_keys_release(struct quic_keys *k);
/* The ticket key for a certificate (its DER): GnuTLS's master key for
 * gnutls_session_ticket_enable_server. 0 or -1. */
int quic_keys_ticket_key(struct quic_keys *k, const gnutls_datum_t *cert_der,
                         uint8_t out[QUIC_TICKET_KEY_LEN]);
/* The newest early_context (struct quic_tls_setup): tickets are issued only under it. */
void quic_keys_set_context(struct quic_keys *k, uint64_t context);
uint64_t quic_keys_context(struct quic_keys *k);

/* One thread's GnuTLS anti-replay state (freshness window, RFC 8446 §8.2), recording into the
 * process's set; refcounted (sessions hold one). Tickets made before it was made get no
 * 0-RTT from it. */
struct quic_antireplay;
struct quic_antireplay *quic_antireplay_new(struct quic_keys *keys);
void quic_antireplay_retain(struct quic_antireplay *a);
void quic_antireplay_release(struct quic_antireplay *a);
gnutls_anti_replay_t quic_antireplay_get(const struct quic_antireplay *a);

#endif
