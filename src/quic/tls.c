/* GnuTLS server credentials and sessions for QUIC: TLS 1.3 only, ALPN "h3" only; the
 * certificate chosen by SNI; session tickets and 0-RTT (RFC 9001 §4.6) with ticket.c. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "quic/internal.h"
#include "tls/ja4.h"

/* RFC 9001 §4.6.1: a ticket that allows 0-RTT says max_early_data_size 0xffffffff. */
#define QUIC_MAX_EARLY_DATA 0xffffffffu

struct cert {
    gnutls_certificate_credentials_t cred;
    uint8_t ticket_key[QUIC_TICKET_KEY_LEN]; /* when tickets are on */
};

struct quic_certs {
    atomic_uint refs;
    struct cert *certs; /* certs[0] is the default */
    size_t n_certs;
    struct sni_name *names;
    size_t n_names;
    gnutls_priority_t prio;
    struct quic_keys *keys; /* NULL: no tickets */
    unsigned ticket_lifetime;
    bool early_data; /* only with tickets */
    uint64_t early_context;
};

struct quic_tls {
    struct quic_certs *certs;
    struct quic_antireplay *ar; /* for certs' early_context; NULL without early data */
    uint64_t ar_context;
    void (*refresh)(struct quic_tls *t, void *ud);
    void *refresh_ud;
};

/* What a session holds (the GnuTLS session's db pointer: no database is used with tickets). */
struct session_ctx {
    struct quic_certs *certs;
    struct quic_antireplay *ar; /* NULL: no 0-RTT for this session */
    char ja4[JA4_LEN + 1];      /* the client's fingerprint, from its first ClientHello */
};

/* ---- certificates ---- */

static int load_cert(struct quic_certs *c, struct cert *ct, const struct quic_tls_cert *src,
                     char *err, size_t errlen)
{
    const char *key_file = src->key_file ? src->key_file : src->cert_file;
    int rv = gnutls_certificate_allocate_credentials(&ct->cred);
    if (rv < 0) {
        snprintf(err, errlen, "gnutls: %s", gnutls_strerror(rv));
        return -1;
    }
    rv = gnutls_certificate_set_x509_key_file(ct->cred, src->cert_file, key_file,
                                              GNUTLS_X509_FMT_PEM);
    if (rv < 0) {
        snprintf(err, errlen, "%s / %s: %s", src->cert_file, key_file, gnutls_strerror(rv));
        return -1;
    }
    if (!c->keys) return 0;
    /* a ticket opens only with the certificate it was issued with (as on TCP) */
    gnutls_datum_t der;
    if (gnutls_certificate_get_crt_raw(ct->cred, 0, 0, &der) < 0 ||
        quic_keys_ticket_key(c->keys, &der, ct->ticket_key) < 0) {
        snprintf(err, errlen, "%s: cannot derive its session ticket key", src->cert_file);
        return -1;
    }
    return 0;
}

struct quic_certs *quic_certs_new(const struct quic_tls_setup *setup, char *err, size_t errlen)
{
    if (setup->n_certs == 0) {
        snprintf(err, errlen, "no certificate");
        return NULL;
    }
    struct quic_certs *c = calloc(1, sizeof(*c));
    if (!c || !(c->certs = calloc(setup->n_certs, sizeof(*c->certs))) ||
        (setup->n_names && !(c->names = calloc(setup->n_names, sizeof(*c->names))))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    atomic_init(&c->refs, 1);
    if (setup->tickets) {
        if (!(c->keys = quic_keys_acquire())) {
            snprintf(err, errlen, "cannot make the session ticket secret");
            goto fail;
        }
        c->ticket_lifetime = setup->ticket_lifetime ? setup->ticket_lifetime : 1;
        c->early_data = setup->early_data;
        c->early_context = setup->early_context;
    }
    for (; c->n_certs < setup->n_certs; c->n_certs++)
        if (load_cert(c, &c->certs[c->n_certs], &setup->certs[c->n_certs], err, errlen) < 0) {
            c->n_certs++; /* its credentials are freed below */
            goto fail;
        }
    for (; c->n_names < setup->n_names; c->n_names++) {
        const struct sni_name *in = &setup->names[c->n_names];
        struct sni_name *n = &c->names[c->n_names];
        if (!(n->name = strndup(in->name, in->len))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        n->len = in->len;
        n->cert = in->cert < setup->n_certs ? in->cert : SIZE_MAX;
    }
    int rv = gnutls_priority_init2(&c->prio, QUIC_PRIORITY, NULL, 0);
    if (rv < 0) {
        snprintf(err, errlen, "gnutls: %s", gnutls_strerror(rv));
        goto fail;
    }
    if (c->early_data) quic_keys_set_context(c->keys, c->early_context);
    return c;
fail:
    quic_certs_release(c);
    return NULL;
}

void quic_certs_retain(struct quic_certs *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void quic_certs_release(struct quic_certs *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) > 1) return;
    for (size_t i = 0; i < c->n_certs; i++) {
        if (c->certs[i].cred) gnutls_certificate_free_credentials(c->certs[i].cred);
        gnutls_memset(c->certs[i].ticket_key, 0, sizeof(c->certs[i].ticket_key));
    }
    for (size_t i = 0; i < c->n_names; i++)
        free(c->names[i].name);
    if (c->prio) gnutls_priority_deinit(c->prio);
    quic_keys_release(c->keys);
    free(c->certs);
    free(c->names);
    free(c);
}

/* ---- a listener's TLS ---- */

struct quic_tls *quic_tls_with(struct quic_certs *certs)
{
    struct quic_tls *t = calloc(1, sizeof(*t));
    if (!t) {
        quic_certs_release(certs);
        return NULL;
    }
    quic_tls_set_certs(t, certs);
    return t;
}

struct quic_tls *quic_tls_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    struct quic_tls_cert cert = {cert_file, key_file};
    struct quic_tls_setup setup = {.certs = &cert, .n_certs = 1};
    struct quic_certs *c = quic_certs_new(&setup, err, errlen);
    struct quic_tls *t = c ? quic_tls_with(c) : NULL;
    if (c && !t) snprintf(err, errlen, "out of memory");
    return t;
}

void quic_tls_set_certs(struct quic_tls *t, struct quic_certs *certs)
{
    quic_certs_release(t->certs);
    t->certs = certs;
    if (!certs->early_data) {
        quic_antireplay_release(t->ar);
        t->ar = NULL;
        return;
    }
    /* 0-RTT carries on across a reload that keeps what it relies on; otherwise a new window
     * starts, and tickets issued before it get no 0-RTT */
    if (t->ar && t->ar_context == certs->early_context) return;
    quic_antireplay_release(t->ar);
    t->ar = quic_antireplay_new(certs->keys); /* NULL (OOM): no 0-RTT, tickets still work */
    t->ar_context = certs->early_context;
}

void quic_tls_set_refresh(struct quic_tls *t, void (*fn)(struct quic_tls *t, void *ud), void *ud)
{
    t->refresh = fn;
    t->refresh_ud = ud;
}

void quic_tls_free(struct quic_tls *t)
{
    if (!t) return;
    quic_antireplay_release(t->ar);
    quic_certs_release(t->certs);
    free(t);
}

/* ---- sessions ---- */

/* After the ClientHello is processed: refuse a client that did not offer h3 (GnuTLS only
 * enforces GNUTLS_ALPN_MANDATORY when the extension is present). */
static int alpn_hook(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
                     const gnutls_datum_t *msg)
{
    (void)htype, (void)when, (void)incoming;
    struct session_ctx *sc = gnutls_db_get_ptr(s);
    if (!sc->ja4[0] && msg && msg->size > 0) { /* JA4 with "q": the ClientHello as sent */
        if (msg->data[0] == 1)                 /* the handshake header included */
            ja4_from_client_hello('q', msg->data, msg->size, sc->ja4);
        else /* the body alone (a ClientHello body starts with its legacy version, 0x03) */
            ja4_from_client_hello_body('q', msg->data, msg->size, sc->ja4);
    }
    gnutls_datum_t sel;
    if (gnutls_alpn_get_selected_protocol(s, &sel) != 0 || sel.size != sizeof(ALPN_H3) - 1 ||
        memcmp(sel.data, ALPN_H3, sel.size) != 0)
        return GNUTLS_E_NO_APPLICATION_PROTOCOL;
    return 0;
}

/* GnuTLS calls this once SNI is parsed and before the pre_shared_key extension is: the
 * certificate for the name (core/sni.h rules, as on TCP), and that certificate's ticket key,
 * which then opens the client's ticket (or not: a full handshake). */
static int client_hello_cb(gnutls_session_t s)
{
    const struct session_ctx *sc = gnutls_db_get_ptr(s);
    const struct quic_certs *c = sc->certs;
    size_t idx = 0;
    if (c->n_names) {
        char name[256];
        size_t len = sizeof(name);
        unsigned type;
        if (gnutls_server_name_get(s, name, &len, &type, 0) == 0 && type == GNUTLS_NAME_DNS)
            idx = sni_lookup(c->names, c->n_names, name, strnlen(name, len));
    }
    if (idx && gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->certs[idx].cred) < 0)
        return GNUTLS_E_INTERNAL_ERROR;
    if (c->keys) {
        gnutls_datum_t key = {(unsigned char *)c->certs[idx].ticket_key, QUIC_TICKET_KEY_LEN};
        /* fails only on a second ClientHello (after a HelloRetryRequest): the key stays */
        (void)gnutls_session_ticket_enable_server(s, &key);
    }
    return 0;
}

gnutls_session_t quic_tls_session_new(struct quic_tls *t, ngtcp2_crypto_conn_ref *conn_ref)
{
    if (t->refresh) t->refresh(t, t->refresh_ud);
    struct quic_certs *c = t->certs;
    struct session_ctx *sc = calloc(1, sizeof(*sc));
    if (!sc) return NULL;
    bool early = c->early_data && t->ar;
    unsigned flags = GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET;
    /* RFC 9001 §8.3: QUIC has no EndOfEarlyData message */
    if (early) flags |= GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA;
    gnutls_session_t s;
    if (gnutls_init(&s, flags) != 0) {
        free(sc);
        return NULL;
    }
    quic_certs_retain(c);
    sc->certs = c;
    if (early) {
        quic_antireplay_retain(t->ar);
        sc->ar = t->ar;
    }
    gnutls_db_set_ptr(s, sc);
    gnutls_datum_t alpn = {(unsigned char *)ALPN_H3, sizeof(ALPN_H3) - 1};
    if (gnutls_priority_set(s, c->prio) != 0 ||
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->certs[0].cred) != 0 ||
        gnutls_alpn_set_protocols(s, &alpn, 1, GNUTLS_ALPN_MANDATORY) != 0 ||
        ngtcp2_crypto_gnutls_configure_server_session(s) != 0 ||
        (early && gnutls_record_set_max_early_data_size(s, QUIC_MAX_EARLY_DATA) != 0)) {
        quic_tls_session_free(s);
        return NULL;
    }
    gnutls_handshake_set_post_client_hello_function(s, client_hello_cb);
    gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_POST,
                                       alpn_hook);
    if (c->keys) gnutls_db_set_cache_expiration(s, (int)c->ticket_lifetime);
    if (early) gnutls_anti_replay_enable(s, quic_antireplay_get(sc->ar));
    gnutls_session_set_ptr(s, conn_ref);
    return s;
}

const char *quic_tls_session_ja4(gnutls_session_t s)
{
    const struct session_ctx *sc = gnutls_db_get_ptr(s);
    return sc && sc->ja4[0] ? sc->ja4 : NULL;
}

void quic_tls_session_handshake_done(gnutls_session_t s)
{
    const struct session_ctx *sc = gnutls_db_get_ptr(s);
    const struct quic_certs *c = sc->certs;
    if (!c->keys) return;
    /* A session made before a reload changed what 0-RTT relies on issues no ticket: its
     * client would come back with early data sent under the older limits (RFC 9000 §7.4.1). */
    if (c->early_data && quic_keys_context(c->keys) != c->early_context) return;
    (void)gnutls_session_ticket_send(s, 1, 0); /* no ticket costs a resumption, nothing more */
}

void quic_tls_session_free(gnutls_session_t s)
{
    if (!s) return;
    struct session_ctx *sc = gnutls_db_get_ptr(s);
    gnutls_deinit(s);
    if (!sc) return;
    quic_antireplay_release(sc->ar);
    quic_certs_release(sc->certs);
    free(sc);
}
