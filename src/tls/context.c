/* Server contexts: one SSL_CTX per distinct certificate, chosen by SNI in the ClientHello
 * callback; ALPN (RFC 7301) h2 then http/1.1; OCSP stapling (RFC 6066 section 8) from a file. */
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/pem.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/internal.h"
#include "tls/tls.h"

/* TLS 1.2: forward secrecy and AEAD only (RFC 9113 section 9.2.2 wants the same for h2). TLS 1.3
 * keeps OpenSSL's default suites, all AEAD. */
static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char tls_groups[] = "X25519:P-256:P-384";
#define OCSP_MAX_SIZE   (1 << 20)
#define TICKET_HINT_MAX 604800 /* RFC 8446 section 4.6.1: at most seven days */

/* Reasons that only say "a lower layer failed" (PEM lib, system lib, nested asn1 error): the
 * lower layer's own entry, further along the queue, says more. */
static bool generic_reason(unsigned long e)
{
    return !ERR_SYSTEM_ERROR(e) && (ERR_GET_REASON(e) & ERR_RFLAG_COMMON);
}

/* The most telling error of the queue: the first specific one, else the first. Clears it. */
static unsigned long telling_error(void)
{
    unsigned long e, first = 0, chosen = 0;
    while ((e = ERR_get_error())) {
        if (!first) first = e;
        if (!chosen && !generic_reason(e)) chosen = e;
    }
    return chosen ? chosen : first;
}

/* e in words: errno text for system errors (OpenSSL 3 files fopen failures under ERR_LIB_SYS
 * with the errno as reason, and has no reason string for them), else OpenSSL's reason. */
static const char *error_words(unsigned long e, char *buf, size_t cap)
{
    if (!e) return "unknown error";
    if (ERR_SYSTEM_ERROR(e)) return strerror(ERR_GET_REASON(e));
    const char *r = ERR_reason_error_string(e);
    if (r) return r;
    ERR_error_string_n(e, buf, cap);
    return buf;
}

const char *tls_err_reason(void)
{
    static _Thread_local char buf[256];
    return error_words(telling_error(), buf, sizeof(buf));
}

/* Why a certificate or key file failed to load (what: "certificate", "private key"). */
static const char *load_reason(const char *what)
{
    static _Thread_local char buf[256];
    unsigned long e = telling_error();
    int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);
    /* no PEM block at all (PEM), or nothing the decoders recognise as a key (OSSL_DECODER) */
    if (!ERR_SYSTEM_ERROR(e) && ((lib == ERR_LIB_PEM && reason == PEM_R_NO_START_LINE) ||
                                 (lib == ERR_LIB_OSSL_DECODER && reason == ERR_R_UNSUPPORTED))) {
        snprintf(buf, sizeof(buf), "no PEM %s in the file", what);
        return buf;
    }
    return error_words(e, buf, sizeof(buf));
}

/* Why path cannot be loaded as a file, in words, or NULL when it can be opened for reading. */
static const char *file_problem(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return strerror(errno);
    struct stat st;
    bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    close(fd);
    return dir ? strerror(EISDIR) : NULL;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    ERR_clear_error();
}

/* The server's SNI choice happens here, before OpenSSL looks at session tickets, so a resumed
 * session is checked against the chosen certificate's session id context. */
static int client_hello_cb(SSL *ssl, int *al, void *arg)
{
    const struct tls_server *srv = arg;
    const unsigned char *p;
    size_t len;
    (void)al;
    if (srv->n_certs < 2 || !SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len))
        return SSL_CLIENT_HELLO_SUCCESS;
    /* ServerNameList: u16 length, then NameType host_name (0), u16 length, the name. A
     * malformed list is left for OpenSSL to reject. */
    if (len < 5 || (size_t)(p[0] << 8 | p[1]) != len - 2 || p[2] != 0)
        return SSL_CLIENT_HELLO_SUCCESS;
    size_t nl = (size_t)(p[3] << 8 | p[4]);
    if (nl == 0 || nl > len - 5) return SSL_CLIENT_HELLO_SUCCESS;
    size_t idx = sni_lookup(srv->names, srv->n_names, (const char *)p + 5, nl);
    if (idx && SSL_get_SSL_CTX(ssl) != srv->certs[idx].ctx &&
        !SSL_set_SSL_CTX(ssl, srv->certs[idx].ctx)) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* The certificate is already chosen; acknowledging makes the ServerHello carry an empty
 * server_name extension (RFC 6066 section 3). */
static int servername_cb(SSL *ssl, int *al, void *arg)
{
    (void)ssl, (void)al, (void)arg;
    return SSL_TLSEXT_ERR_OK;
}

/* Server preference: h2 (when enabled), then http/1.1; nothing in common: no ALPN, HTTP/1.1. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const char *const ours[] = {"h2", "http/1.1"};
    const struct tls_server *srv = arg;
    (void)ssl;
    for (size_t k = srv->http2 ? 0 : 1; k < 2; k++) {
        size_t ol = strlen(ours[k]);
        for (unsigned i = 0; i < inlen;) {
            unsigned l = in[i];
            if (l == 0 || i + 1 + l > inlen) break;
            if (l == ol && memcmp(in + i + 1, ours[k], ol) == 0) {
                *out = in + i + 1;
                *outlen = (unsigned char)l;
                return SSL_TLSEXT_ERR_OK;
            }
            i += 1 + l;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* Called when the client sent status_request: staple this certificate's response. */
static int status_cb(SSL *ssl, void *arg)
{
    const struct tls_cert_ctx *cc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    (void)arg;
    if (!cc || !cc->ocsp) return SSL_TLSEXT_ERR_NOACK;
    unsigned char *copy = OPENSSL_malloc(cc->ocsp_len); /* OpenSSL frees it with the SSL */
    if (!copy) return SSL_TLSEXT_ERR_NOACK;
    memcpy(copy, cc->ocsp, cc->ocsp_len);
    if (!SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)cc->ocsp_len)) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* Encrypted keys are refused instead of prompting on the terminal; u notes that one was met. */
static int no_password_cb(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag;
    if (u) *(bool *)u = true;
    return 0;
}

static int load_ocsp(struct tls_cert_ctx *cc, const char *path, char *err, size_t errlen)
{
    const char *why = file_problem(path);
    FILE *f = why ? NULL : fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "cannot load OCSP response %s: %s", path, why ? why : strerror(errno));
        return -1;
    }
    unsigned char *data = malloc(OCSP_MAX_SIZE);
    size_t n = data ? fread(data, 1, OCSP_MAX_SIZE, f) : 0;
    bool too_big = data && n == OCSP_MAX_SIZE;
    fclose(f);
    const unsigned char *p = data;
    OCSP_RESPONSE *resp = n && !too_big ? d2i_OCSP_RESPONSE(NULL, &p, (long)n) : NULL;
    if (!resp || p != data + n) {
        OCSP_RESPONSE_free(resp);
        free(data);
        set_err(err, errlen, "cannot load OCSP response %s: %s", path,
                too_big ? "file too large" : "not a DER OCSP response");
        return -1;
    }
    OCSP_RESPONSE_free(resp);
    unsigned char *fit = realloc(data, n);
    cc->ocsp = fit ? fit : data;
    cc->ocsp_len = n;
    return 0;
}

/* Session id context: the leaf certificate's SHA-256, so a session resumes only with the
 * certificate it was made with, also across reloads. */
static int set_sid_ctx(SSL_CTX *ctx)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    X509 *x = SSL_CTX_get0_certificate(ctx);
    if (!x || !X509_digest(x, EVP_sha256(), md, &mdlen)) return -1;
    if (mdlen > SSL_MAX_SID_CTX_LENGTH) mdlen = SSL_MAX_SID_CTX_LENGTH;
    return SSL_CTX_set_session_id_context(ctx, md, mdlen) == 1 ? 0 : -1;
}

static int ctx_setup(struct tls_server *srv, struct tls_cert_ctx *cc, const struct config *cfg,
                     const struct config_cert *cert, char *err, size_t errlen)
{
    const char *key_file = cert->key_file ? cert->key_file : cert->cert_file;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    cc->ctx = ctx;
    cc->srv = srv;
    if (!ctx) {
        set_err(err, errlen, "cannot create TLS context: %s", tls_err_reason());
        return -1;
    }
    SSL_CTX_set_app_data(ctx, cc);
    /* a bare EOF reads as the end of the stream and leaves the connection writable (HTTP framing
     * detects truncation itself) */
    uint64_t opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA |
                    SSL_OP_IGNORE_UNEXPECTED_EOF;
    if (!cfg->tls.tickets) opts |= SSL_OP_NO_TICKET;
    SSL_CTX_set_options(ctx, opts);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1); /* one read(2) for several records */
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, tls12_ciphers) ||
        !SSL_CTX_set1_groups_list(ctx, tls_groups)) {
        set_err(err, errlen, "cannot configure TLS context: %s", tls_err_reason());
        return -1;
    }
    /* tickets carry the whole session: no server-side cache */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (cfg->tls.tickets) {
        double life = cfg->tls.ticket_lifetime;
        SSL_CTX_set_timeout(ctx, life < 1                 ? 1
                                 : life > TICKET_HINT_MAX ? TICKET_HINT_MAX
                                                          : (long)life);
        SSL_CTX_set_num_tickets(ctx, 1);
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_key_cb);
    } else {
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, srv);
    SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, srv);
    SSL_CTX_set_default_passwd_cb(ctx, no_password_cb);

    const char *why = file_problem(cert->cert_file);
    if (why || SSL_CTX_use_certificate_chain_file(ctx, cert->cert_file) != 1) {
        set_err(err, errlen, "cannot load certificate %s: %s", cert->cert_file,
                why ? why : load_reason("certificate"));
        return -1;
    }
    if ((why = file_problem(key_file))) {
        set_err(err, errlen, "cannot load key %s: %s", key_file, why);
        return -1;
    }
    /* A key of the certificate's type is checked against it here (X509_R_KEY_VALUES_MISMATCH);
     * a key of another type lands in another slot and fails the check below. */
    bool encrypted = false;
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &encrypted);
    bool loaded = SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) == 1;
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    unsigned long e = loaded ? 0 : ERR_peek_last_error();
    bool mismatch = !loaded && ERR_GET_LIB(e) == ERR_LIB_X509 &&
                    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
    if (!loaded && !mismatch) {
        set_err(err, errlen, "cannot load key %s: %s", key_file,
                encrypted ? "the key is encrypted; give it without a passphrase"
                          : load_reason("private key"));
        return -1;
    }
    if (mismatch || SSL_CTX_check_private_key(ctx) != 1) {
        set_err(err, errlen, "key %s does not match the certificate %s", key_file, cert->cert_file);
        return -1;
    }
    if (set_sid_ctx(ctx) < 0) {
        set_err(err, errlen, "cannot configure TLS context: %s", tls_err_reason());
        return -1;
    }
    if (cert->ocsp_file) {
        if (load_ocsp(cc, cert->ocsp_file, err, errlen) < 0) return -1;
        SSL_CTX_set_tlsext_status_cb(ctx, status_cb);
    }
    return 0;
}

static bool str_same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool cert_same(const struct config_cert *a, const struct config_cert *b)
{
    return str_same(a->cert_file, b->cert_file) && str_same(a->key_file, b->key_file) &&
           str_same(a->ocsp_file, b->ocsp_file);
}

struct tls_server *tls_server_create(const struct config *cfg, char *err, size_t errlen)
{
    const struct config_cert *def = config_default_cert(cfg);
    if (!def) {
        set_err(err, errlen, "no TLS certificate: set tls.cert or a server's cert");
        return NULL;
    }
    struct tls_server *srv = calloc(1, sizeof(*srv));
    const struct config_cert **uniq = calloc(cfg->n_servers + 1, sizeof(*uniq));
    size_t n_names = 0;
    for (size_t i = 0; i < cfg->n_servers; i++)
        n_names += cfg->servers[i].n_names;
    if (srv) {
        atomic_init(&srv->refs, 1);
        srv->certs = calloc(cfg->n_servers + 1, sizeof(*srv->certs));
        srv->names = calloc(n_names + 1, sizeof(*srv->names));
    }
    if (!srv || !uniq || !srv->certs || !srv->names) {
        set_err(err, errlen, "out of memory");
        free(uniq);
        tls_server_free(srv);
        return NULL;
    }
    srv->http2 = cfg->http2.enabled;
    srv->tickets = cfg->tls.tickets;
    if (tls_ticket_init(&srv->ring, cfg->tls.ticket_lifetime, time(NULL)) < 0) {
        set_err(err, errlen, "cannot make session ticket keys: %s", tls_err_reason());
        goto fail;
    }
    srv->ring_ready = true;
    uniq[0] = def;
    srv->n_certs = 1;
    if (ctx_setup(srv, &srv->certs[0], cfg, def, err, errlen) < 0) goto fail;
    for (size_t i = 0; i < cfg->n_servers; i++) {
        const struct config_server *s = &cfg->servers[i];
        size_t idx = SIZE_MAX;
        if (s->cert.cert_file) {
            for (idx = 0; idx < srv->n_certs && !cert_same(uniq[idx], &s->cert); idx++)
                ;
            if (idx == srv->n_certs) {
                uniq[idx] = &s->cert;
                srv->n_certs++;
                if (ctx_setup(srv, &srv->certs[idx], cfg, &s->cert, err, errlen) < 0) goto fail;
            }
        }
        for (size_t j = 0; j < s->n_names; j++) {
            struct sni_name *n = &srv->names[srv->n_names];
            n->name = strdup(s->names[j]);
            if (!n->name) {
                set_err(err, errlen, "out of memory");
                goto fail;
            }
            n->len = strlen(n->name);
            n->cert = idx;
            srv->n_names++;
        }
    }
    free(uniq);
    return srv;
fail:
    free(uniq);
    tls_server_free(srv);
    return NULL;
}

static void server_destroy(struct tls_server *srv)
{
    for (size_t i = 0; i < srv->n_certs; i++) {
        SSL_CTX_free(srv->certs[i].ctx);
        free(srv->certs[i].ocsp);
    }
    for (size_t i = 0; i < srv->n_names; i++)
        free(srv->names[i].name);
    free(srv->certs);
    free(srv->names);
    if (srv->ring_ready) tls_ticket_free(&srv->ring);
    free(srv);
}

void tls_server_retain(struct tls_server *srv)
{
    atomic_fetch_add_explicit(&srv->refs, 1, memory_order_relaxed);
}

void tls_server_free(struct tls_server *srv)
{
    if (srv && atomic_fetch_sub_explicit(&srv->refs, 1, memory_order_acq_rel) == 1)
        server_destroy(srv);
}

void tls_server_tick(struct tls_server *srv, time_t now)
{
    if (srv->tickets) tls_ticket_rotate_if_due(&srv->ring, now);
}

void tls_server_inherit_tickets(struct tls_server *srv, const struct tls_server *old)
{
    if (!srv->tickets || !old || !old->tickets) return;
    struct tls_ticket_ring *from = (struct tls_ticket_ring *)&old->ring;
    pthread_mutex_lock(&from->lock);
    struct tls_ticket_key cur = from->current, prev = from->previous;
    pthread_mutex_unlock(&from->lock);
    pthread_mutex_lock(&srv->ring.lock);
    srv->ring.current = cur;
    srv->ring.previous = prev;
    pthread_mutex_unlock(&srv->ring.lock);
    OPENSSL_cleanse(&cur, sizeof(cur));
    OPENSSL_cleanse(&prev, sizeof(prev));
}
