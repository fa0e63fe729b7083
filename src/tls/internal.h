/* Shared between the files of src/tls/ only: the server object, the per-certificate contexts,
 * the SNI name table and the session-ticket key ring. */
#ifndef TERN_TLS_INTERNAL_H
#define TERN_TLS_INTERNAL_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/sni.h"

struct tls_server;

/* One SSL_CTX per distinct certificate; its app data points here. */
struct tls_cert_ctx {
    SSL_CTX *ctx;
    unsigned char *ocsp; /* DER OCSP response to staple, or NULL */
    size_t ocsp_len;
    struct tls_server *srv;
};

#define TLS_TICKET_NAME_LEN 16
#define TLS_TICKET_KEY_LEN  32

struct tls_ticket_key {
    unsigned char name[TLS_TICKET_NAME_LEN];
    unsigned char aes[TLS_TICKET_KEY_LEN];
    unsigned char hmac[TLS_TICKET_KEY_LEN];
    time_t created;
    bool valid;
};

/* Current key (encrypts and decrypts) and the previous one (decrypts, and the ticket is renewed).
 */
struct tls_ticket_ring {
    pthread_mutex_t lock;
    struct tls_ticket_key current;
    struct tls_ticket_key previous;
    double lifetime;
    EVP_CIPHER *cipher; /* AES-256-CBC, fetched once */
};

struct tls_server {
    atomic_uint refs;           /* the creator's and one per tls_conn */
    struct tls_cert_ctx *certs; /* certs[0] is the default */
    size_t n_certs;
    struct sni_name *names; /* certificate by server name: sni_lookup (core/sni.h) */
    size_t n_names;
    bool http2;   /* offer h2 by ALPN */
    bool tickets; /* session tickets enabled */
    struct tls_ticket_ring ring;
    bool ring_ready;
};

/* Takes a reference for a connection (tls_server_free drops one). */
void tls_server_retain(struct tls_server *srv);

/* Ticket key ring: init generates the first key (-1 when the RNG fails); the callback is
 * installed with SSL_CTX_set_tlsext_ticket_key_evp_cb and finds the ring through the
 * context's app data (struct tls_cert_ctx). */
int tls_ticket_init(struct tls_ticket_ring *ring, double lifetime, time_t now);
void tls_ticket_free(struct tls_ticket_ring *ring);
void tls_ticket_rotate_if_due(struct tls_ticket_ring *ring, time_t now);
int tls_ticket_key_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                      EVP_MAC_CTX *hctx, int enc);

/* This thread's OpenSSL error queue in words (the first specific entry; errno text for system
 * errors; "unknown error" when empty), and clears the queue. */
const char *tls_err_reason(void);

struct tls_client;
/* A new SSL for a client connection to host (SNI, host name check), or NULL. */
SSL *tls_client_ssl_new(struct tls_client *cl, const char *host);

#endif
