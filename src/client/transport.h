/* One outbound connection for the client: name resolution, a non-blocking connect bounded by a
 * deadline, TLS (OpenSSL, src/tls) when the URL is https, and reads and writes that wait with
 * poll(2) until the deadline. Failures carry curl's exit code for the kind of failure. */
#ifndef TERN_CLIENT_TRANSPORT_H
#define TERN_CLIENT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client/url.h"

/* curl's exit codes for the failures the client reports (curl(1), "EXIT CODES"). */
enum client_status {
    CLIENT_OK = 0,
    CLIENT_UNSUPPORTED = 1,
    CLIENT_BAD_URL = 3,
    CLIENT_RESOLVE = 6,
    CLIENT_CONNECT = 7,
    CLIENT_WEIRD_REPLY = 8,
    CLIENT_PARTIAL = 18,
    CLIENT_HTTP_ERROR = 22,
    CLIENT_WRITE = 23,
    CLIENT_TIMEOUT = 28,
    CLIENT_HTTP2 = 16, /* a problem in the HTTP/2 framing layer (connection) */
    CLIENT_TLS = 35,
    CLIENT_REDIRECTS = 47,
    CLIENT_SEND = 55,
    CLIENT_RECV = 56,
    CLIENT_CERT = 60,
    CLIENT_HTTP2_STREAM = 92, /* an HTTP/2 stream failed */
    CLIENT_HTTP3 = 95,        /* an HTTP/3 layer problem */
};

struct client_error {
    enum client_status status;
    char msg[256];
};

/* Fills *e (status and a printf-style message); returns -1. */
int client_fail(struct client_error *e, enum client_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct tls_client;
struct tls_conn;

struct transport_conn {
    int fd;
    struct tls_conn *tls;
    int64_t deadline_ms; /* monotonic; 0: none */
    bool eof;
    /* timings (monotonic µs) for -w */
    int64_t t_start, t_connected, t_tls_done;
    char peer[96];
};

int64_t client_now_ms(void);
int64_t client_now_us(void);
/* Connects to u's host and port (every address in turn), then the TLS handshake when u is
 * https (tls required then). connect_timeout_ms bounds each connect (0: none); c->deadline_ms
 * (set by the caller, 0 for none) bounds everything. 0 or -1 with *e. */
int transport_open(struct transport_conn *c, const struct url *u, struct tls_client *tls,
                   int64_t connect_timeout_ms, struct client_error *e);
/* Reads up to len bytes: >0, 0 at the end of the stream, -1 with *e (timeout, reset). */
ssize_t transport_read(struct transport_conn *c, void *buf, size_t len, struct client_error *e);
/* Writes all of buf. 0 or -1 with *e. */
int transport_write(struct transport_conn *c, const void *buf, size_t len, struct client_error *e);
/* close_notify for TLS, then close. */
void transport_close(struct transport_conn *c);
/* ALPN, TLS version and cipher after the handshake, or NULL. */
const char *transport_alpn(const struct transport_conn *c);
const char *transport_tls_version(const struct transport_conn *c);
const char *transport_cipher(const struct transport_conn *c);

#endif
