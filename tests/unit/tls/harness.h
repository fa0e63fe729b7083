/* Test helpers for src/tls: temporary certificates, hand-built configurations, and a server
 * tls_conn talking to an OpenSSL client SSL over a socketpair, both driven in one thread. */
#ifndef TERN_TEST_TLS_HARNESS_H
#define TERN_TEST_TLS_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/config.h"
#include "tls/tls.h"

static char tmpdir[64];

static inline void tmp_setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tern-tls-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(2);
    }
}

static inline void tmp_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* A malloc'd path inside the temporary directory (config_free frees such strings). */
static inline char *tmp_path(const char *name)
{
    char *p = malloc(strlen(tmpdir) + strlen(name) + 2);
    sprintf(p, "%s/%s", tmpdir, name);
    return p;
}

static inline void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

/* An RSA-2048 self-signed certificate made with the OpenSSL API (the ECDSA ones come from
 * tls_generate_self_signed). */
static inline void make_rsa_cert(const char *cert_path, const char *key_path, const char *cn)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, name);
    X509_sign(x, key, EVP_sha256());
    FILE *f = fopen(cert_path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key_path, "w");
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* A DER OCSPResponse with only a status (RFC 6960 section 4.2.1), distinct per status. */
static inline unsigned char *make_ocsp_der(int status, size_t *len)
{
    OCSP_RESPONSE *r = OCSP_response_create(status, NULL);
    unsigned char *der = NULL;
    int n = i2d_OCSP_RESPONSE(r, &der);
    OCSP_RESPONSE_free(r);
    *len = n > 0 ? (size_t)n : 0;
    return der;
}

static inline void set_cert(struct config_cert *c, const char *cert, const char *key,
                            const char *ocsp)
{
    free(c->cert_file);
    free(c->key_file);
    free(c->ocsp_file);
    c->cert_file = cert ? tmp_path(cert) : NULL;
    c->key_file = key ? tmp_path(key) : NULL;
    c->ocsp_file = ocsp ? tmp_path(ocsp) : NULL;
}

/* Adds a server with one or two names to cfg (names and root malloc'd). */
static inline struct config_server *add_server(struct config *cfg, const char *name1,
                                               const char *name2)
{
    cfg->servers = realloc(cfg->servers, (cfg->n_servers + 1) * sizeof(*cfg->servers));
    struct config_server *s = &cfg->servers[cfg->n_servers++];
    memset(s, 0, sizeof(*s));
    s->names = calloc(2, sizeof(char *));
    s->names[s->n_names++] = strdup(name1);
    if (name2) s->names[s->n_names++] = strdup(name2);
    s->root = strdup(tmpdir);
    return s;
}

struct pair {
    int sfd, cfd;
    struct tls_conn *s;
    SSL *c;
    int s_result, c_result; /* 1 done, -1 failed, 0 not yet */
};

static inline void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static inline SSL_CTX *client_ctx(int min_version, int max_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(ctx, 0); /* let old versions and ciphers be offered */
    SSL_CTX_set_min_proto_version(ctx, min_version);
    SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

static inline void pair_open(struct pair *p, struct tls_server *srv, SSL_CTX *cctx, const char *sni,
                             SSL_SESSION *sess)
{
    int fds[2];
    memset(p, 0, sizeof(*p));
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0) {
        perror("socketpair");
        exit(2);
    }
    p->sfd = fds[0];
    p->cfd = fds[1];
    set_nonblock(p->sfd);
    set_nonblock(p->cfd);
    p->s = tls_conn_new(srv, p->sfd);
    p->c = SSL_new(cctx);
    SSL_set_fd(p->c, p->cfd);
    SSL_set_connect_state(p->c);
    if (sni) SSL_set_tlsext_host_name(p->c, sni);
    if (sess) SSL_set_session(p->c, sess);
}

/* Drives both ends until both finished or one failed; returns 1 when both succeeded. */
static inline int pair_handshake(struct pair *p)
{
    for (int i = 0; i < 200 && !(p->s_result && p->c_result); i++) {
        if (!p->c_result) {
            ERR_clear_error();
            int r = SSL_do_handshake(p->c);
            if (r == 1)
                p->c_result = 1;
            else {
                int e = SSL_get_error(p->c, r);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) p->c_result = -1;
            }
        }
        if (!p->s_result) p->s_result = tls_conn_handshake(p->s);
        if (p->s_result < 0 && p->c_result == 0 && i > 50) break;
    }
    ERR_clear_error();
    return p->s_result == 1 && p->c_result == 1;
}

/* Server writes a byte the client reads: the client then holds TLS 1.3 tickets. */
static inline void pair_ping(struct pair *p)
{
    char b = 'x', r = 0;
    size_t n = 0;
    tls_conn_write(p->s, &b, 1);
    for (int i = 0; i < 10 && r != 'x'; i++)
        SSL_read_ex(p->c, &r, 1, &n);
    ERR_clear_error();
}

static inline void pair_close(struct pair *p)
{
    /* an SSL freed without close_notify marks its session not resumable */
    if (p->c && p->c_result == 1) SSL_shutdown(p->c);
    tls_conn_free(p->s);
    SSL_free(p->c);
    close(p->sfd);
    if (p->cfd >= 0) close(p->cfd);
    ERR_clear_error();
}

/* The peer certificate's subject CN as seen by the client ("" when none). */
static inline const char *peer_cn(SSL *c)
{
    static char cn[128];
    cn[0] = 0;
    X509 *x = SSL_get1_peer_certificate(c);
    if (x) X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    X509_free(x);
    return cn;
}

#endif
