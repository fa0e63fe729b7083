/* Session tickets (RFC 5077 for TLS 1.2, RFC 8446 4.6.1 for TLS 1.3) sealed with our own keys:
 * AES-256-CBC + HMAC-SHA256 in OpenSSL's ticket format, a current key that seals and a previous
 * key that still opens tickets (which are then renewed), rotated every `lifetime` seconds. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "tls/internal.h"

static int key_generate(struct tls_ticket_key *k, time_t now)
{
    if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
        RAND_bytes(k->hmac, sizeof(k->hmac)) != 1)
        return -1;
    k->created = now;
    k->valid = true;
    return 0;
}

int tls_ticket_init(struct tls_ticket_ring *ring, double lifetime, time_t now)
{
    memset(ring, 0, sizeof(*ring));
    pthread_mutex_init(&ring->lock, NULL);
    ring->lifetime = lifetime > 1 ? lifetime : 1;
    ring->cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    if (!ring->cipher || key_generate(&ring->current, now) < 0) {
        tls_ticket_free(ring);
        return -1;
    }
    return 0;
}

void tls_ticket_free(struct tls_ticket_ring *ring)
{
    EVP_CIPHER_free(ring->cipher);
    ring->cipher = NULL;
    OPENSSL_cleanse(&ring->current, sizeof(ring->current));
    OPENSSL_cleanse(&ring->previous, sizeof(ring->previous));
    pthread_mutex_destroy(&ring->lock);
}

void tls_ticket_rotate_if_due(struct tls_ticket_ring *ring, time_t now)
{
    pthread_mutex_lock(&ring->lock);
    if (ring->cipher && difftime(now, ring->current.created) >= ring->lifetime) {
        struct tls_ticket_key next;
        /* a failing RNG keeps the current key rather than sealing with a weak one */
        if (key_generate(&next, now) == 0) {
            ring->previous = ring->current;
            ring->current = next;
        }
        OPENSSL_cleanse(&next, sizeof(next));
    }
    pthread_mutex_unlock(&ring->lock);
}

static int mac_init(EVP_MAC_CTX *hctx, const unsigned char *key)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key, TLS_TICKET_KEY_LEN),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

/* OpenSSL's contract: sealing returns 1 (0: no ticket); opening returns 0 when the key name is
 * unknown (full handshake), 1 on success, 2 on success with a renewed ticket. */
int tls_ticket_key_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                      EVP_MAC_CTX *hctx, int enc)
{
    const struct tls_cert_ctx *cc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    struct tls_ticket_ring *ring = &cc->srv->ring;
    struct tls_ticket_key key;
    int ret;

    pthread_mutex_lock(&ring->lock);
    if (enc) {
        key = ring->current;
        ret = 1;
    } else if (ring->current.valid &&
               memcmp(key_name, ring->current.name, TLS_TICKET_NAME_LEN) == 0) {
        key = ring->current;
        ret = 1;
    } else if (ring->previous.valid &&
               memcmp(key_name, ring->previous.name, TLS_TICKET_NAME_LEN) == 0) {
        key = ring->previous;
        ret = 2;
    } else {
        ret = 0;
    }
    pthread_mutex_unlock(&ring->lock);
    if (ret == 0) return 0;

    int iv_len = EVP_CIPHER_get_iv_length(ring->cipher);
    if (enc) {
        memcpy(key_name, key.name, TLS_TICKET_NAME_LEN);
        if (RAND_bytes(iv, iv_len) != 1 ||
            EVP_EncryptInit_ex(cctx, ring->cipher, NULL, key.aes, iv) != 1)
            ret = 0;
    } else if (EVP_DecryptInit_ex(cctx, ring->cipher, NULL, key.aes, iv) != 1) {
        ret = 0;
    }
    /* a crypto failure costs a ticket (or a resumption), never the handshake */
    if (ret > 0 && mac_init(hctx, key.hmac) < 0) ret = 0;
    OPENSSL_cleanse(&key, sizeof(key));
    return ret;
}
