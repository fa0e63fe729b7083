/* QUIC's TLS from the configuration: the certificates by server name (the rules and files of
 * the TCP side: tls.cert, each server's tls: {cert, key}), session tickets (tls.tickets,
 * tls.ticket_lifetime) and 0-RTT (http3.early_data). One set of certificates per configuration
 * is shared by all workers; after a reload each listener takes the new set when its next
 * connection arrives, and open connections keep theirs. */
#ifndef TERN_H3_CERTS_H
#define TERN_H3_CERTS_H

#include <stddef.h>
#include <stdint.h>

#include "server/config.h"

struct worker;
struct h3_tls;
struct quic_tls;

/* A listener's TLS for the worker wk, following wk->cfg. NULL with a message in err. */
struct h3_tls *h3_tls_open(struct worker *wk, char *err, size_t errlen);
/* What quic_server_config.tls takes. */
struct quic_tls *h3_tls_quic(const struct h3_tls *ht);
void h3_tls_close(struct h3_tls *ht);

/* What a client's 0-RTT relies on in cfg besides the transport parameters: our HTTP/3
 * SETTINGS (RFC 9114 §7.2.4.2: not to be reduced for 0-RTT). Equal values, equal contexts. */
uint64_t h3_early_context(const struct config *cfg);

#endif
