/* OpenSSL client contexts (the client role: `tern get`, later the proxy): TLS 1.2 and 1.3,
 * certificates verified against the system store or a given CA file, the server's name checked
 * (RFC 6125 via OpenSSL's host checks), SNI for names but not for IP literals (RFC 6066 §3). */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/internal.h"
#include "tls/tls.h"

struct tls_client {
    SSL_CTX *ctx;
    bool insecure;
};

struct tls_client *tls_client_create(const char *cafile, bool insecure, const char *alpn,
                                     size_t alpn_len, char *err, size_t errlen)
{
    struct tls_client *cl = calloc(1, sizeof(*cl));
    if (!cl) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cl->insecure = insecure;
    ERR_clear_error();
    cl->ctx = SSL_CTX_new(TLS_client_method());
    if (!cl->ctx || !SSL_CTX_set_min_proto_version(cl->ctx, TLS1_2_VERSION)) {
        snprintf(err, errlen, "TLS: %s", tls_err_reason());
        tls_client_free(cl);
        return NULL;
    }
    int loaded = cafile ? SSL_CTX_load_verify_locations(cl->ctx, cafile, NULL)
                        : SSL_CTX_set_default_verify_paths(cl->ctx);
    if (loaded != 1 && !insecure) {
        snprintf(err, errlen, "cannot load CA certificates%s%s: %s", cafile ? " from " : "",
                 cafile ? cafile : "", tls_err_reason());
        tls_client_free(cl);
        return NULL;
    }
    SSL_CTX_set_verify(cl->ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    /* as the server side: writes of whole records, from a buffer that may move between
     * retries (tls_conn_write's contract); a bare EOF reads as the end of the stream */
    SSL_CTX_set_options(cl->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(cl->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (alpn &&
        SSL_CTX_set_alpn_protos(cl->ctx, (const unsigned char *)alpn, (unsigned)alpn_len) != 0) {
        snprintf(err, errlen, "TLS: cannot set ALPN");
        tls_client_free(cl);
        return NULL;
    }
    ERR_clear_error();
    return cl;
}

void tls_client_free(struct tls_client *cl)
{
    if (!cl) return;
    SSL_CTX_free(cl->ctx);
    free(cl);
}

static bool is_ip_literal(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

SSL *tls_client_ssl_new(struct tls_client *cl, const char *host)
{
    SSL *ssl = SSL_new(cl->ctx);
    if (!ssl) return NULL;
    bool ip = is_ip_literal(host);
    if (!ip && SSL_set_tlsext_host_name(ssl, host) != 1) goto fail;
    if (!cl->insecure) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if ((ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) : SSL_set1_host(ssl, host)) != 1)
            goto fail;
    }
    return ssl;
fail:
    SSL_free(ssl);
    return NULL;
}
