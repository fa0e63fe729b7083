/* GnuTLS server credentials and sessions for QUIC: TLS 1.3 only, ALPN "h3" only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "quic/internal.h"

/* QUIC forbids the TLS 1.3 middlebox compatibility mode (RFC 9001 §8.4). */
#define QUIC_PRIORITY                                                                              \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"      \
    "+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:"    \
    "%DISABLE_TLS13_COMPAT_MODE"

static const char ALPN_H3[] = "h3";

struct quic_tls {
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
};

struct quic_tls *quic_tls_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    struct quic_tls *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int rv = gnutls_certificate_allocate_credentials(&t->cred);
    if (rv == 0) {
        rv =
            gnutls_certificate_set_x509_key_file(t->cred, cert_file, key_file, GNUTLS_X509_FMT_PEM);
        if (rv < 0) {
            snprintf(err, errlen, "%s / %s: %s", cert_file, key_file, gnutls_strerror(rv));
            quic_tls_free(t);
            return NULL;
        }
        rv = gnutls_priority_init2(&t->prio, QUIC_PRIORITY, NULL, 0);
    }
    if (rv < 0) {
        snprintf(err, errlen, "gnutls: %s", gnutls_strerror(rv));
        quic_tls_free(t);
        return NULL;
    }
    return t;
}

void quic_tls_free(struct quic_tls *t)
{
    if (!t) return;
    if (t->prio) gnutls_priority_deinit(t->prio);
    if (t->cred) gnutls_certificate_free_credentials(t->cred);
    free(t);
}

/* After the ClientHello is processed: refuse a client that did not offer h3 (GnuTLS only
 * enforces GNUTLS_ALPN_MANDATORY when the extension is present). */
static int alpn_hook(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
                     const gnutls_datum_t *msg)
{
    (void)htype, (void)when, (void)incoming, (void)msg;
    gnutls_datum_t sel;
    if (gnutls_alpn_get_selected_protocol(s, &sel) != 0 || sel.size != sizeof(ALPN_H3) - 1 ||
        memcmp(sel.data, ALPN_H3, sel.size) != 0)
        return GNUTLS_E_NO_APPLICATION_PROTOCOL;
    return 0;
}

gnutls_session_t quic_tls_session_new(struct quic_tls *t, ngtcp2_crypto_conn_ref *conn_ref)
{
    gnutls_session_t s;
    if (gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET) != 0) return NULL;
    gnutls_datum_t alpn = {(unsigned char *)ALPN_H3, sizeof(ALPN_H3) - 1};
    if (gnutls_priority_set(s, t->prio) != 0 ||
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, t->cred) != 0 ||
        gnutls_alpn_set_protocols(s, &alpn, 1, GNUTLS_ALPN_MANDATORY) != 0 ||
        ngtcp2_crypto_gnutls_configure_server_session(s) != 0) {
        gnutls_deinit(s);
        return NULL;
    }
    gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_POST,
                                       alpn_hook);
    gnutls_session_set_ptr(s, conn_ref);
    return s;
}
