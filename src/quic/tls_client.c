/* GnuTLS client sessions for QUIC: TLS 1.3, ALPN "h3", SNI, and the server's certificate
 * checked against the system trust store or a CA file, and against the host name or IP
 * address (RFC 9110 §4.3.4), unless the caller is insecure on purpose. */
#include <stdio.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "quic/internal.h"

static int load_trust(gnutls_certificate_credentials_t cred, const char *cacert, char *err,
                      size_t errlen)
{
    int rv = cacert ? gnutls_certificate_set_x509_trust_file(cred, cacert, GNUTLS_X509_FMT_PEM)
                    : gnutls_certificate_set_x509_system_trust(cred);
    if (rv < 0) {
        snprintf(err, errlen, "%s: %s", cacert ? cacert : "system trust store",
                 gnutls_strerror(rv));
        return -1;
    }
    if (rv == 0 && cacert) { /* a file with no certificate in it trusts nobody */
        snprintf(err, errlen, "%s: no CA certificate in it", cacert);
        return -1;
    }
    return 0;
}

gnutls_session_t quic_tls_client_session_new(const char *host, bool host_is_ip, const char *cacert,
                                             bool insecure, ngtcp2_crypto_conn_ref *conn_ref,
                                             char *err, size_t errlen)
{
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!insecure && load_trust(cred, cacert, err, errlen) < 0) {
        gnutls_certificate_free_credentials(cred);
        return NULL;
    }
    gnutls_session_t s;
    /* RFC 9001 §8.3: QUIC has no EndOfEarlyData message */
    if (gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NO_END_OF_EARLY_DATA) != 0) {
        gnutls_certificate_free_credentials(cred);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    gnutls_db_set_ptr(s, cred); /* freed with the session */
    gnutls_datum_t alpn = {(unsigned char *)ALPN_H3, sizeof(ALPN_H3) - 1};
    int rv = gnutls_priority_set_direct(s, QUIC_PRIORITY, NULL);
    if (rv == 0) rv = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
    if (rv == 0) rv = gnutls_alpn_set_protocols(s, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    if (rv == 0 && !host_is_ip) rv = gnutls_server_name_set(s, GNUTLS_NAME_DNS, host, strlen(host));
    if (rv == 0 && ngtcp2_crypto_gnutls_configure_client_session(s) != 0)
        rv = GNUTLS_E_INTERNAL_ERROR;
    if (rv != 0) {
        snprintf(err, errlen, "TLS setup: %s", gnutls_strerror(rv));
        quic_tls_client_session_free(s);
        return NULL;
    }
    /* the handshake fails when the chain or the name does not check out; GnuTLS compares
     * an IP literal with the certificate's iPAddress names */
    if (!insecure) gnutls_session_set_verify_cert(s, host, 0);
    gnutls_session_set_ptr(s, conn_ref);
    return s;
}

void quic_tls_client_session_free(gnutls_session_t s)
{
    if (!s) return;
    gnutls_certificate_credentials_t cred = gnutls_db_get_ptr(s);
    gnutls_deinit(s);
    if (cred) gnutls_certificate_free_credentials(cred);
}
