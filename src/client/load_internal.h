/* The load generator's threads and connections, shared by its wire drivers: load.c (HTTP/1.1
 * and HTTP/2 over TCP, the threads, the counting) and load_h3.c (HTTP/3 over QUIC). Internal
 * to src/client. */
#ifndef TERN_CLIENT_LOAD_INTERNAL_H
#define TERN_CLIENT_LOAD_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client/load.h"
#include "core/buf.h"
#include "core/loop.h"
#include "h1/chunked.h"
#include "h1/parser.h"

#define MAX_DEPTH 256
/* A thread's buffer for one datagram train or one received datagram (HTTP/3). */
#define LOAD_DGRAM_BUF 65536

enum conn_state { C_CLOSED, C_CONNECTING, C_HANDSHAKE, C_OPEN };

struct lthread;
struct lconn;
struct lconn_h3;
struct h3_request_head;

/* A request in flight on a connection with streams (HTTP/2, HTTP/3): they end in any order. */
struct stream_slot {
    struct lconn *c;
    int64_t due, sent;
    bool used, first_byte;
    int status;
};

struct lconn {
    struct io_watch w; /* first: the callback finds the connection from it */
    struct lthread *t;
    struct tls_conn *tls;
    enum conn_state state;
    struct buf out, in;
    struct h1_parser parser;
    struct h1_response_head head;
    struct h1_field fields[64];
    bool in_body;
    enum h1_body_kind kind;
    int64_t left;
    struct h1_chunked_decoder dec;
    int inflight;
    uint32_t served;                         /* responses read on this connection */
    int64_t due[MAX_DEPTH], sent[MAX_DEPTH]; /* ring of the requests in flight (µs) */
    int ring;                                /* index of the oldest */
    bool first_byte;                         /* of the response being read */
    bool close_after;                        /* the response ends the connection */
    bool dead;  /* its first connect failed before any connection worked: not retried */
    bool fresh; /* opened, no request started on it yet (counted in t->opening) */
    int64_t t_open, last_io;
    /* HTTP/2: the session engine in the client role; HTTP/3: the QUIC connection and the h3
     * session (load_h3.c); and the requests in flight on either */
    struct h2_session *h2;
    struct lconn_h3 *h3;
    struct stream_slot *slots; /* depth of them */
    bool tearing_down;         /* the session is being freed: its streams were counted already */
};

struct lthread {
    pthread_t th;
    struct loop *loop;
    const struct load_params *p;
    const struct sockaddr_storage *addr;
    socklen_t addr_len;
    const char *req;
    size_t req_len;
    const struct h2_request_out *h2_req;  /* the request, for HTTP/2 */
    const struct h3_request_head *h3_req; /* the request, for HTTP/3 */
    uint8_t *dgram;                       /* HTTP/3: the thread's datagram buffer */
    struct lconn *conns;
    int n_conns;
    uint64_t quota; /* requests this thread starts; UINT64_MAX with a duration */
    double rate;    /* per second, this thread's share; 0: closed loop */
    int64_t t0, end;
    struct timer tick;
    bool over;        /* no new requests */
    uint64_t opening; /* connections opened that have not started a request yet */
    struct load_result r;
};

/* ---- load.c, for the wire drivers ---- */

int64_t load_now_us(void);
/* May another request start now, and when was it due? */
bool load_may_start(struct lthread *t, int64_t now, int64_t *due);
/* The connection started a request or closed: it no longer holds one of the requests left. */
void load_unfresh(struct lconn *c);
/* Closes the connection (its requests in flight are not counted). */
void load_conn_close(struct lconn *c);
/* The requests in flight on a failed connection fail (timeout or errored), then it closes. */
void load_conn_fail(struct lconn *c, bool timeout);
/* A connect failed (counted; while no connection has worked yet, the slot is not retried). */
void load_connect_failed(struct lconn *c);
/* The connection is open (handshake done): counts it and its time to connect. */
void load_connected(struct lconn *c);
/* A request on a stream ended: counts it once (status, latency) from its slot. */
void load_slot_done(struct lconn *c, struct stream_slot *sl, bool ok);
/* After an event on c: a closed connection is replaced, a finished thread stops its loop. */
void load_after_event(struct lconn *c);

/* ---- load_h3.c ---- */

/* Opens an HTTP/3 connection: a connected UDP socket in the thread's loop and a QUIC client
 * connection; its first flight goes out. false when it could not start (not counted). */
bool load_h3_open(struct lconn *c);
/* Runs the connection: timers, handshake, requests that may start, output. */
void load_h3_drive(struct lconn *c);
/* Frees the connection's QUIC state and socket (CONNECTION_CLOSE first when still open). */
void load_h3_close(struct lconn *c);
/* Frees what load_h3_open allocated for c for good (at the end of a thread). */
void load_h3_free(struct lconn *c);

#endif
