/* TLS over TCP with OpenSSL 3: server contexts (certificates chosen by SNI, ALPN h2/http/1.1,
 * session tickets with rotating keys, OCSP stapling) and non-blocking TLS connections. */
#ifndef TERN_TLS_TLS_H
#define TERN_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "server/config.h"

struct tls_server; /* shared by all workers (OpenSSL contexts are thread-safe) */
struct tls_conn;

/* Builds the contexts for cfg: cfg->tls.cert as the default certificate (else the default
 * server's cert, else the first server's), each server's cert for its names (SNI: exact, then
 * the longest "*.suffix"; no match: the default). TLS 1.2 and 1.3 only, ECDHE + AEAD ciphers
 * only, ECDSA and RSA keys.
 * ALPN offers h2 (when cfg->http2.enabled) and http/1.1. Returns NULL with "message" in err
 * (naming the file) when a certificate or key cannot be loaded or does not match. */
struct tls_server *tls_server_create(const struct config *cfg, char *err, size_t errlen);
/* Drops the creator's reference: each tls_conn holds one too, so a server replaced on reload
 * may be freed while its connections drain. Keeps no pointer into cfg after create. */
void tls_server_free(struct tls_server *srv);
/* Rotates session ticket keys when the current one is older than its lifetime; old keys
 * still decrypt for one more lifetime. Call now and then (e.g. once a second); thread-safe. */
void tls_server_tick(struct tls_server *srv, time_t now);
/* After a reload: take over old's ticket keys so tickets issued before still resume. */
void tls_server_inherit_tickets(struct tls_server *srv, const struct tls_server *old);

/* A server-side TLS connection over a connected non-blocking socket (not owned); NULL when out
 * of memory. One thread at a time per connection. The process must ignore SIGPIPE. */
struct tls_conn *tls_conn_new(struct tls_server *srv, int fd);
/* Drives the handshake: 1 done, 0 in progress (wait for the socket), -1 failed (the reason
 * is logged at info level). */
int tls_conn_handshake(struct tls_conn *c);
/* ALPN result after the handshake: "h2", "http/1.1", or NULL when none was negotiated. */
const char *tls_conn_alpn(const struct tls_conn *c);
/* The client's JA4 fingerprint (tls/ja4.h) from its ClientHello, or NULL (a client-side
 * connection, a ClientHello not yet read or malformed). */
const char *tls_conn_ja4(const struct tls_conn *c);
/* SNI host name sent by the client, or NULL. */
const char *tls_conn_sni(const struct tls_conn *c);
/* Like read(2)/write(2) on the plaintext: >0 bytes, 0 on EOF (read; close_notify or a bare
 * EOF), -1 with errno EAGAIN (retry when the socket is readable or writable, see
 * tls_conn_want_write) or another errno (EIO, ECONNRESET, EPIPE) on failure. A write may
 * take part of the buffer (whole records); after EAGAIN retry with the same bytes (at least as
 * many). */
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len);
ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len);
/* True when bytes are buffered that need no socket read (read them before waiting). */
bool tls_conn_pending(const struct tls_conn *c);
/* After tls_conn_handshake returned 0 or a read/write failed with EAGAIN: true when it waits
 * for the socket to be writable, false when readable. */
bool tls_conn_want_write(const struct tls_conn *c);
/* Negotiated protocol version ("TLSv1.3", "TLSv1.2") and whether the session was resumed. */
const char *tls_conn_version(const struct tls_conn *c);
bool tls_conn_resumed(const struct tls_conn *c);
/* Negotiated cipher suite by its IANA/RFC name ("TLS_AES_128_GCM_SHA256",
 * "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"), or NULL before the handshake. */
const char *tls_conn_cipher(const struct tls_conn *c);
/* Sends close_notify once (non-blocking, best effort; not after a fatal error nor behind a
 * stalled write). */
void tls_conn_close_notify(struct tls_conn *c);
/* Sends close_notify if not sent yet and frees; does not close the fd. */
void tls_conn_free(struct tls_conn *c);

/* ---- the client role ---- */

struct tls_client; /* an OpenSSL client context: trust store, ALPN offer */

/* A client context: certificates verified against cafile, else the system store (none when
 * insecure); alpn is the ALPN offer in wire format ("\x08http/1.1"), or NULL. NULL with err. */
struct tls_client *tls_client_create(const char *cafile, bool insecure, const char *alpn,
                                     size_t alpn_len, char *err, size_t errlen);
void tls_client_free(struct tls_client *cl);
/* A client-side connection over a connected non-blocking socket; host is sent as SNI (unless
 * it is an IP literal) and checked against the certificate. Drive it with tls_conn_handshake,
 * then read and write as a server-side one. NULL when out of memory. */
struct tls_conn *tls_conn_new_client(struct tls_client *cl, int fd, const char *host);
/* After a failed handshake: why ("certificate has expired", "wrong version number", ...). */
const char *tls_conn_error(const struct tls_conn *c);
/* After a failed handshake of a client connection: true when the certificate did not verify. */
bool tls_conn_verify_failed(const struct tls_conn *c);

/* Writes a self-signed ECDSA P-256 certificate (one year; CN common_name; SAN DNS:localhost,
 * IP:127.0.0.1, IP:::1, and common_name when it is a host name) and its key (mode 0600) as PEM.
 * Returns 0, or -1 with a message in err. */
int tls_generate_self_signed(const char *cert_path, const char *key_path, const char *common_name,
                             char *err, size_t errlen);

#endif
