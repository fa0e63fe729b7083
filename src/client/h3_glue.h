/* The glue between one client QUIC connection (src/quic, client role) on a connect(2)ed UDP
 * socket and the HTTP/3 engine in the client role (src/h3/session.h), shared by the blocking
 * driver of `tern get --http3` (h3_client.c) and the event-loop driver of `tern bench --h3`
 * (load_h3.c): the QUIC callbacks that feed the session (and keep the server's stream bytes
 * that come before the session exists), the session's transport callbacks, moving the
 * session's output into QUIC streams, and the socket's datagrams in and out. The caller owns
 * the waiting (poll, epoll) and the response callbacks. Only in builds with QUIC. */
#ifndef TERN_CLIENT_H3_GLUE_H
#define TERN_CLIENT_H3_GLUE_H

#ifdef TERN_HAVE_QUIC

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "h3/session.h"
#include "quic/quic_client.h"

/* Size of a buffer for one datagram train (and one received datagram). */
#define H3_GLUE_DGRAM_BUF 65536

/* Stream bytes the server sent before our handshake completed (its control and QPACK streams
 * in 0.5-RTT data), kept until the session exists; QUIC flow control bounds them. */
#define H3_GLUE_EARLY_STREAMS 4
struct h3_glue_early {
    int64_t id;
    struct buf data;
    bool fin;
};

struct h3_glue {
    int fd; /* -1: none */
    struct quic_path path;
    struct quic_conn *qc;
    struct h3_session *s;
    struct h3_session_callbacks cbs; /* the caller's response callbacks and the transport's */
    bool refused;                    /* ICMP port unreachable: nothing listens there */
    bool early_lost; /* more streams than early[] holds, or OOM: the connection fails */
    struct h3_glue_early early[H3_GLUE_EARLY_STREAMS];
    size_t n_early;
    int64_t t_handshake_us; /* client_now_us when the handshake completed; 0: not yet */
};

/* Makes g->fd a non-blocking UDP socket connected to addr, and fills g->path. 0, or -1 with
 * errno (g->fd may be open: h3_glue_reset closes it). */
int h3_glue_socket(struct h3_glue *g, const struct sockaddr *addr, socklen_t len);
/* Starts the QUIC connection on g->path with the glue's callbacks (cfg->cb and cfg->app are
 * set here). 0, or -1 with a message in err. */
int h3_glue_connect(struct h3_glue *g, struct quic_client_config *cfg, char *err, size_t errlen);
/* After the handshake: creates the HTTP/3 session with the caller's response callbacks
 * (on_response_head/data/end; st->user is the caller's per-request context) and hands it the
 * server's stream bytes that came before. 0, or -1 (out of memory, or too many early streams:
 * the connection is not usable). */
int h3_glue_start_session(struct h3_glue *g, const struct h3_session_callbacks *app,
                          const char *peer);
/* Reads every datagram waiting on the socket into QUIC (buf: H3_GLUE_DGRAM_BUF bytes).
 * Returns the payload bytes read; sets g->refused on ICMP port unreachable. */
size_t h3_glue_receive(struct h3_glue *g, uint8_t *buf, size_t cap);
/* Moves the session's output into the QUIC streams (while the connection is active); when the
 * session is done, closes the connection with its error code (RFC 9114 §5.2, §8). */
void h3_glue_pump(struct h3_glue *g);
/* Sends what QUIC has to send now (buf: H3_GLUE_DGRAM_BUF bytes). */
void h3_glue_flush(struct h3_glue *g, uint8_t *buf, size_t cap);
/* Runs QUIC's timers when their deadline has passed. */
void h3_glue_expire(struct h3_glue *g);
/* Frees the session (ending its requests through on_response_end), the connection and the
 * socket, silently; g can connect again. */
void h3_glue_reset(struct h3_glue *g);

#endif
#endif
