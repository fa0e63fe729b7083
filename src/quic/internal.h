/* Shared between the files of src/quic only (includes GnuTLS and ngtcp2). */
#ifndef TERN_QUIC_INTERNAL_H
#define TERN_QUIC_INTERNAL_H

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "quic/quic.h"

/* A server TLS session for one QUIC connection, configured for ngtcp2; conn_ref must outlive
 * it. NULL on failure. */
gnutls_session_t quic_tls_session_new(struct quic_tls *t, ngtcp2_crypto_conn_ref *conn_ref);

#endif
