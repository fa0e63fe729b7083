/* QUIC transport (server side) over ngtcp2 0.12 + GnuTLS: tern's own small interface.
 * Nothing outside src/quic includes ngtcp2 or GnuTLS; HTTP/3 sees streams and bytes only.
 *
 * A struct quic_conn is an I/O-free engine: datagrams in (quic_conn_recv), datagrams out
 * (quic_conn_write_train), a deadline (quic_conn_expiry / quic_conn_handle_expiry), and stream
 * events through struct quic_conn_callbacks. Times are CLOCK_MONOTONIC nanoseconds
 * (quic_now_ns). struct quic_server (server.c) is the UDP socket glue for one worker. */
#ifndef TERN_QUIC_QUIC_H
#define TERN_QUIC_QUIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "core/sni.h"

/* Each stream keeps at most this many bytes sent but not yet acknowledged (back-pressure). */
#define QUIC_STREAM_SEND_MAX (256u * 1024u)
/* stream_writable fires when the room grows to at least this much, not per acknowledgement:
 * refilling the buffer packet by packet costs a file read and a DATA frame per packet. */
#define QUIC_STREAM_WRITABLE_MIN (QUIC_STREAM_SEND_MAX / 4)
/* Connection IDs this server issues are this long (routing of short-header packets). */
#define QUIC_SCID_LEN 18
/* Length of the secret that stateless reset tokens are derived from. */
#define QUIC_RESET_SECRET_LEN 32
/* Length of the per-process secret that Retry and NEW_TOKEN tokens are sealed with. */
#define QUIC_TOKEN_SECRET_LEN 32
/* Handshakes in flight on a worker above which new clients must prove their address first. */
#define QUIC_RETRY_THRESHOLD_DEFAULT 200

struct quic_tls;
struct quic_conn;

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t quic_now_ns(void);

/* ---- tls.c: GnuTLS server credentials for QUIC (TLS 1.3 only, ALPN "h3" only) ---- */

/* Window of the 0-RTT freshness check and of ClientHello recording (RFC 8446 §8.2). */
#define QUIC_EARLY_WINDOW_MS 10000
/* ClientHellos with early data recorded at once (all workers); beyond, 0-RTT is refused. */
#define QUIC_REPLAY_CAPACITY 16384

struct quic_certs;

/* A certificate chain and its key (PEM files). */
struct quic_tls_cert {
    const char *cert_file, *key_file;
};

/* What a struct quic_certs is made of. */
struct quic_tls_setup {
    const struct quic_tls_cert *certs; /* certs[0] is the default */
    size_t n_certs;
    const struct sni_name *names; /* server name -> index into certs (core/sni.h) */
    size_t n_names;
    /* Session tickets (RFC 8446 §4.6.1) sealed with keys from a per-process secret, so that
     * every worker and every later quic_certs (a reload) opens them; a ticket resumes only
     * with the certificate it was issued with. GnuTLS rotates the key every 3 lifetimes. */
    bool tickets;
    unsigned ticket_lifetime; /* seconds */
    /* Accept 0-RTT on resumption (RFC 9001 §4.6.1), with replayed ClientHellos refused. */
    bool early_data;
    /* What 0-RTT relies on besides the transport parameters (the HTTP/3 SETTINGS, RFC 9114
     * §7.2.4.2): when it changes, tickets issued before get no 0-RTT (they still resume). */
    uint64_t early_context;
};

/* Loads the certificates of a setup: immutable and shared by threads. NULL on failure with a
 * message naming the file in err. */
struct quic_certs *quic_certs_new(const struct quic_tls_setup *setup, char *err, size_t errlen);
void quic_certs_retain(struct quic_certs *c);
/* Drops a reference; sessions hold their own, so certificates replaced by a reload stay until
 * their last connection is gone. */
void quic_certs_release(struct quic_certs *c);

/* One listener's TLS (used by one thread): the certificates new connections get and that
 * thread's 0-RTT anti-replay state. quic_tls_new: one certificate, no tickets (tools). */
struct quic_tls *quic_tls_new(const char *cert_file, const char *key_file, char *err,
                              size_t errlen);
/* Takes over the reference to certs. NULL on OOM (the reference is dropped). */
struct quic_tls *quic_tls_with(struct quic_certs *certs);
/* Connections accepted from now on use certs (takes over the reference); open ones keep
 * theirs. */
void quic_tls_set_certs(struct quic_tls *t, struct quic_certs *certs);
/* fn runs before each new connection's TLS session is made (it may call quic_tls_set_certs:
 * a reload is seen there). */
void quic_tls_set_refresh(struct quic_tls *t, void (*fn)(struct quic_tls *t, void *ud), void *ud);
void quic_tls_free(struct quic_tls *t);

/* ---- conn.c: one server connection ---- */

/* A network path: the local address the datagram came to and the peer's address. */
struct quic_path {
    struct sockaddr_storage local, remote;
    socklen_t local_len, remote_len;
};

/* Application events. Any may be NULL. Calls into quic_stream_* are allowed from them. */
struct quic_conn_callbacks {
    void (*handshake_done)(struct quic_conn *c, void *app);
    /* A stream the peer opened. */
    void (*stream_open)(struct quic_conn *c, int64_t stream_id, void *app);
    /* In-order bytes of a stream (len may be 0 with fin). Returns how many bytes the
     * application consumed now (their flow-control credit goes back to the peer at once);
     * report the rest later with quic_stream_consumed. Negative closes the connection. */
    ssize_t (*stream_data)(struct quic_conn *c, int64_t stream_id, const uint8_t *data, size_t len,
                           bool fin, void *app);
    /* The peer reset the stream (RESET_STREAM) or asked us to stop (STOP_SENDING). */
    void (*stream_reset)(struct quic_conn *c, int64_t stream_id, uint64_t app_error, void *app);
    void (*stream_stop_sending)(struct quic_conn *c, int64_t stream_id, uint64_t app_error,
                                void *app);
    /* The stream is gone on both sides; its id is not valid any more. */
    void (*stream_close)(struct quic_conn *c, int64_t stream_id, uint64_t app_error, void *app);
    /* Acknowledgements made room in the stream's send buffer (quic_stream_send_room): it
     * grew from below QUIC_STREAM_WRITABLE_MIN to at least that much, or all it held is
     * acknowledged. */
    void (*stream_writable)(struct quic_conn *c, int64_t stream_id, void *app);
};

/* How the server side (or a test) owns a connection. */
struct quic_conn_config {
    struct quic_tls *tls;
    const uint8_t *reset_secret; /* QUIC_RESET_SECRET_LEN bytes, for stateless reset tokens */
    const struct quic_conn_callbacks *cb;
    void *app; /* passed to cb; quic_conn_set_app may change it later */
    /* Every connection ID the connection issues is added, every retired one removed. */
    void (*cid_add)(void *owner, const uint8_t *cid, size_t len);
    void (*cid_remove)(void *owner, const uint8_t *cid, size_t len);
    void *owner;
    /* Every CID issued starts with these two bytes (route.h): datagrams are steered by them. */
    uint8_t server_id, worker;
    /* QUIC_TOKEN_SECRET_LEN bytes: once the handshake is done, a NEW_TOKEN frame gives the
     * client a token that validates its address next time (RFC 9000 §8.1.3). NULL: none. */
    const uint8_t *token_secret;
    /* The Initial carried a token the server validated (token_len > 0); after a Retry, also the
     * DCID of the client's very first Initial (RFC 9000 §7.3: original_destination_connection_id;
     * the Initial's own DCID is then the Retry's SCID). */
    const uint8_t *token;
    size_t token_len;
    const uint8_t *retry_odcid;
    size_t retry_odcid_len;
};

/* Lifecycle states, in order. */
enum quic_conn_state {
    QUIC_CONN_ACTIVE,
    QUIC_CONN_CLOSING,  /* we sent CONNECTION_CLOSE; answer with it again until expiry */
    QUIC_CONN_DRAINING, /* the peer closed; stay silent until expiry */
    QUIC_CONN_CLOSED,   /* free it */
};

/* Creates a connection from a client's first Initial datagram, which the caller then passes
 * to quic_conn_recv. Returns NULL if the packet is not an acceptable Initial (or on OOM).
 * The first connection IDs (the server's and the client's original DCID) go to cid_add. */
struct quic_conn *quic_conn_accept(const struct quic_conn_config *cfg, const uint8_t *pkt,
                                   size_t len, const struct quic_path *path, uint64_t now);
/* Frees the connection (no packet is sent). Issued CIDs go to cid_remove first. */
void quic_conn_free(struct quic_conn *c);
void quic_conn_set_app(struct quic_conn *c, void *app);
void *quic_conn_app(const struct quic_conn *c);
void *quic_conn_owner(const struct quic_conn *c);
/* True when every byte sent on every stream was acknowledged and no request stream is open
 * (a graceful close loses nothing then). */
bool quic_conn_all_acked(const struct quic_conn *c);
/* The peer's current address (it may change with migration); returns its length. */
socklen_t quic_conn_remote(const struct quic_conn *c, struct sockaddr_storage *out);

/* Feeds one received datagram with the ECN codepoint of its IP header (RFC 9000 §13.4).
 * Errors move the connection to CLOSING, DRAINING or CLOSED. */
void quic_conn_recv(struct quic_conn *c, const uint8_t *data, size_t len,
                    const struct quic_path *path, uint8_t ecn, uint64_t now);

/* Datagrams written in one go, for one path and one ECN codepoint: len bytes, every datagram
 * seg bytes except the last, which may be shorter (the shape UDP GSO sends in one call). */
struct quic_train {
    struct quic_path path;
    size_t len, seg;
    uint8_t ecn;
};
/* Writes the datagrams due now into buf (cap >= 1452): at most max_segs of them and about
 * the send quantum ngtcp2 allows before pacing (RFC 9002 §7.7). Returns t->len, 0 when there
 * is nothing to send now. Call until it returns 0. */
size_t quic_conn_write_train(struct quic_conn *c, uint8_t *buf, size_t cap, size_t max_segs,
                             struct quic_train *t, uint64_t now);
/* When quic_conn_handle_expiry wants to be called (UINT64_MAX: never). */
uint64_t quic_conn_expiry(struct quic_conn *c);
/* Runs timers (loss detection, idle timeout, end of closing/draining); then write. */
void quic_conn_handle_expiry(struct quic_conn *c, uint64_t now);
/* Sends CONNECTION_CLOSE with an application error and enters the closing period. */
void quic_conn_close(struct quic_conn *c, uint64_t app_error, const char *reason);
enum quic_conn_state quic_conn_state(const struct quic_conn *c);
static inline bool quic_conn_is_closed(const struct quic_conn *c)
{
    return quic_conn_state(c) == QUIC_CONN_CLOSED;
}
bool quic_conn_handshake_done(const struct quic_conn *c);
/* Server side: the client's JA4 fingerprint (tls/ja4.h, "q..."), or NULL. */
const char *quic_conn_ja4(const struct quic_conn *c);
/* Within the stream_data callback: true when those bytes came in 0-RTT packets (early data,
 * RFC 9001 §4.6.1), which an attacker may have replayed. */
bool quic_conn_rx_early(const struct quic_conn *c);

/* ---- conn.c: streams ---- */

/* Copies up to len bytes into the stream's send buffer (kept until acknowledged) and marks
 * fin if all of it fitted. Returns the bytes accepted (0..len) or -1 (unknown or closed
 * stream). fin with len 0 just ends the stream. */
ssize_t quic_stream_send(struct quic_conn *c, int64_t stream_id, const uint8_t *data, size_t len,
                         bool fin);
/* The stream's priority (RFC 9218: urgency 0-7, incremental) for the order in which streams
 * fill packets; unknown streams are ignored. */
void quic_stream_set_priority(struct quic_conn *c, int64_t stream_id, uint8_t urgency,
                              bool incremental);
/* Bytes quic_stream_send would accept now (0 for an unknown stream). */
size_t quic_stream_send_room(struct quic_conn *c, int64_t stream_id);
/* Gives back flow-control credit for n bytes the application consumed after stream_data. */
void quic_stream_consumed(struct quic_conn *c, int64_t stream_id, size_t n);
/* Opens a server-initiated unidirectional stream. 0 or -1 (limit reached, not ready). */
int quic_open_uni_stream(struct quic_conn *c, int64_t *stream_id);
/* RESET_STREAM (send side) and STOP_SENDING (receive side) with an application error. */
int quic_stream_reset(struct quic_conn *c, int64_t stream_id, uint64_t app_error);
int quic_stream_stop_sending(struct quic_conn *c, int64_t stream_id, uint64_t app_error);

/* ---- server.c: the UDP side of one worker ---- */

struct loop;
struct quic_server;

struct quic_server_config {
    struct quic_tls *tls;
    const struct quic_conn_callbacks *cb;
    /* A new connection was accepted: returns its app pointer (may be NULL). */
    void *(*conn_new)(struct quic_conn *c, void *ud);
    /* The connection is about to be freed. */
    void (*conn_free)(struct quic_conn *c, void *app, void *ud);
    void *ud;
    /* This socket's place in its SO_REUSEPORT group: sockets must be created in worker order,
     * so that the group index equals worker. With nworkers > 1 a steering program sends each
     * datagram to the worker its connection ID names (migration keeps its worker). Tests turn
     * it off with the environment variable TERN_TEST_QUIC_NO_STEERING to show what it does. */
    unsigned worker, nworkers;
    uint8_t server_id; /* first byte of every connection ID (for an L4 balancer) */
    /* Address validation (RFC 9000 §8.1): a client without a valid token gets a Retry when
     * retry_always, or when the worker's handshakes in flight reach retry_threshold (0: the
     * default QUIC_RETRY_THRESHOLD_DEFAULT). Returning clients bring a NEW_TOKEN token. */
    bool retry_always;
    unsigned retry_threshold;
    /* Caps per worker (0: none): live connections, and handshakes in flight. A new client over
     * either gets CONNECTION_CLOSE with CONNECTION_REFUSED (RFC 9000 §20.1). */
    size_t max_conns, max_handshakes;
};

/* Binds a non-blocking UDP socket (SO_REUSEPORT, packet info) and watches it on loop.
 * NULL on failure with errno set. */
struct quic_server *quic_server_new(struct loop *loop, const struct sockaddr *addr,
                                    socklen_t addrlen, const struct quic_server_config *cfg);
/* Closes the socket and frees every connection (silently). */
void quic_server_free(struct quic_server *s);
int quic_server_fd(const struct quic_server *s);
/* Sends what c has to send now and re-arms its timer; call after quic_stream_send outside
 * a callback. (Within callbacks, the server flushes on its own.) */
void quic_server_flush(struct quic_conn *c);
/* From now on Initials of new connections are dropped (a stop); open ones go on. */
void quic_server_stop_accepting(struct quic_server *s);
/* Number of live connections. */
size_t quic_server_conn_count(const struct quic_server *s);
/* Number of connections whose handshake has not completed yet. */
size_t quic_server_handshake_count(const struct quic_server *s);

#endif
