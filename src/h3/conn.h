/* HTTP/3 connections: the glue between the QUIC transport (src/quic, one UDP listener per
 * worker and TLS listen address) and the I/O-free HTTP/3 session engine (h3/session.c). Each
 * connection joins the worker's list, so stops and reloads treat it like HTTP/1 and HTTP/2. */
#ifndef TERN_H3_CONN_H
#define TERN_H3_CONN_H

/* Registers HTTP/3 as the server's datagram wire (a no-op without QUIC in the build). */
void h3_register(void);

#endif
