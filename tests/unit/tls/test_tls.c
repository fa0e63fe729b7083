/* src/tls: real handshakes between tern's server side and an OpenSSL client over socketpairs:
 * SNI, ALPN, versions and ciphers, session tickets and their rotation, OCSP stapling, I/O
 * mapping (EAGAIN, EOF), bad input, and configuration errors. */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "check.h"
#include "core/log.h"
#include "harness.h"

static unsigned char *ocsp_a, *ocsp_b;
static size_t ocsp_a_len, ocsp_b_len;

static void make_files(void)
{
    char err[256];
    char *c = tmp_path("default.crt"), *k = tmp_path("default.key");
    CHECK_INT(tls_generate_self_signed(c, k, "default.test", err, sizeof(err)), 0);
    free(c), free(k);
    c = tmp_path("wild.crt"), k = tmp_path("wild.key");
    CHECK_INT(tls_generate_self_signed(c, k, "wild.test", err, sizeof(err)), 0);
    free(c), free(k);
    c = tmp_path("other.crt"), k = tmp_path("other.key");
    make_rsa_cert(c, k, "other.test");
    free(c), free(k);
    ocsp_a = make_ocsp_der(OCSP_RESPONSE_STATUS_TRYLATER, &ocsp_a_len);
    ocsp_b = make_ocsp_der(OCSP_RESPONSE_STATUS_INTERNALERROR, &ocsp_b_len);
    c = tmp_path("default.ocsp");
    write_file(c, ocsp_a, ocsp_a_len);
    free(c);
    c = tmp_path("wild.ocsp");
    write_file(c, ocsp_b, ocsp_b_len);
    free(c);
    c = tmp_path("garbage.pem");
    write_file(c, "-----BEGIN CERTIFICATE-----\nnope\n", 34);
    free(c);
}

/* default cert (ECDSA, OCSP a), other.test (RSA), *.wild.test (ECDSA, OCSP b), plain.test (no
 * cert of its own). */
static struct config *make_config(void)
{
    struct config *cfg = config_default(tmpdir);
    set_cert(&cfg->tls.cert, "default.crt", "default.key", "default.ocsp");
    struct config_server *s = add_server(cfg, "other.test", "www.other.test");
    set_cert(&s->cert, "other.crt", "other.key", NULL);
    s = add_server(cfg, "*.wild.test", NULL);
    set_cert(&s->cert, "wild.crt", "wild.key", "wild.ocsp");
    add_server(cfg, "plain.test", NULL);
    return cfg;
}

static struct tls_server *make_server(struct config *cfg)
{
    char err[256] = "";
    struct tls_server *srv = tls_server_create(cfg, err, sizeof(err));
    if (!srv) fprintf(stderr, "tls_server_create: %s\n", err);
    CHECK(srv != NULL);
    return srv;
}

static void test_sni(struct tls_server *srv, SSL_CTX *cctx)
{
    static const struct {
        const char *sni, *cn;
    } cases[] = {
        {NULL, "default.test"},           {"other.test", "other.test"},
        {"WWW.Other.Test", "other.test"}, {"other.test.", "other.test"},
        {"a.wild.test", "wild.test"},     {"a.b.wild.test", "wild.test"},
        {"wild.test", "default.test"},    {"plain.test", "default.test"},
        {"nowhere.test", "default.test"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pair p;
        pair_open(&p, srv, cctx, cases[i].sni, NULL);
        CHECK(pair_handshake(&p));
        CHECK_STR(peer_cn(p.c), cases[i].cn);
        if (cases[i].sni)
            CHECK(tls_conn_sni(p.s) && strcmp(tls_conn_sni(p.s), cases[i].sni) == 0);
        else
            CHECK(tls_conn_sni(p.s) == NULL);
        pair_close(&p);
    }
    /* the RSA certificate is really RSA, the default really ECDSA */
    struct pair p;
    pair_open(&p, srv, cctx, "other.test", NULL);
    CHECK(pair_handshake(&p));
    X509 *x = SSL_get1_peer_certificate(p.c);
    CHECK(x && EVP_PKEY_is_a(X509_get0_pubkey(x), "RSA"));
    X509_free(x);
    pair_close(&p);
    pair_open(&p, srv, cctx, NULL, NULL);
    CHECK(pair_handshake(&p));
    x = SSL_get1_peer_certificate(p.c);
    CHECK(x && EVP_PKEY_is_a(X509_get0_pubkey(x), "EC"));
    X509_free(x);
    pair_close(&p);
}

static const char *alpn_with(struct tls_server *srv, SSL_CTX *cctx, const char *offer,
                             size_t offer_len)
{
    struct pair p;
    const char *got = "(failed)";
    pair_open(&p, srv, cctx, NULL, NULL);
    if (offer) SSL_set_alpn_protos(p.c, (const unsigned char *)offer, (unsigned)offer_len);
    if (pair_handshake(&p)) {
        got = tls_conn_alpn(p.s);
        const unsigned char *cp;
        unsigned cl;
        SSL_get0_alpn_selected(p.c, &cp, &cl);
        /* the client saw the same choice */
        CHECK(got ? cl == strlen(got) && memcmp(cp, got, cl) == 0 : cl == 0);
    }
    pair_close(&p);
    return got ? got : "(none)";
}

#define OFFER(s) s, sizeof(s) - 1

static void test_alpn(struct tls_server *srv, SSL_CTX *cctx)
{
    CHECK_STR(alpn_with(srv, cctx, OFFER("\x08http/1.1\x02h2")), "h2"); /* server preference */
    CHECK_STR(alpn_with(srv, cctx, OFFER("\x02h2\x08http/1.1")), "h2");
    CHECK_STR(alpn_with(srv, cctx, OFFER("\x08http/1.1")), "http/1.1");
    CHECK_STR(alpn_with(srv, cctx, OFFER("\x06spdy/3\x08http/1.1")), "http/1.1");
    CHECK_STR(alpn_with(srv, cctx, OFFER("\x03foo")), "(none)");
    CHECK_STR(alpn_with(srv, cctx, NULL, 0), "(none)");

    struct config *cfg = make_config();
    cfg->http2.enabled = false;
    struct tls_server *h1 = make_server(cfg);
    CHECK_STR(alpn_with(h1, cctx, OFFER("\x02h2\x08http/1.1")), "http/1.1");
    CHECK_STR(alpn_with(h1, cctx, OFFER("\x02h2")), "(none)");
    tls_server_free(h1);
    config_free(cfg);
}

static void test_versions(struct tls_server *srv)
{
    struct pair p;
    /* TLS 1.1 and below: refused */
    SSL_CTX *old = client_ctx(TLS1_VERSION, TLS1_1_VERSION);
    SSL_CTX_set_cipher_list(old, "ALL:@SECLEVEL=0");
    pair_open(&p, srv, old, NULL, NULL);
    CHECK(!pair_handshake(&p));
    CHECK_INT(p.s_result, -1);
    pair_close(&p);
    SSL_CTX_free(old);

    /* TLS 1.2 with CBC suites only: no shared cipher */
    SSL_CTX *cbc = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(cbc, "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:"
                                 "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA:"
                                 "AES256-SHA256:@SECLEVEL=0");
    pair_open(&p, srv, cbc, NULL, NULL);
    CHECK(!pair_handshake(&p));
    CHECK_INT(p.s_result, -1);
    pair_close(&p);
    pair_open(&p, srv, cbc, "other.test", NULL); /* RSA certificate: same */
    CHECK(!pair_handshake(&p));
    CHECK_INT(p.s_result, -1);
    pair_close(&p);
    SSL_CTX_free(cbc);

    /* TLS 1.2 with RSA key exchange (no forward secrecy) and GCM: refused too */
    SSL_CTX *rsa_kx = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(rsa_kx, "AES128-GCM-SHA256:AES256-GCM-SHA384");
    pair_open(&p, srv, rsa_kx, "other.test", NULL);
    CHECK(!pair_handshake(&p));
    pair_close(&p);
    SSL_CTX_free(rsa_kx);

    /* TLS 1.2 with ECDSA and RSA, AES-GCM and ChaCha20 */
    SSL_CTX *t12 = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
    const char *snis[] = {NULL, "other.test"};
    for (int i = 0; i < 2; i++) {
        pair_open(&p, srv, t12, snis[i], NULL);
        CHECK(pair_handshake(&p));
        CHECK_STR(tls_conn_version(p.s), "TLSv1.2");
        const char *cipher = SSL_get_cipher_name(p.c);
        CHECK(strstr(cipher, "ECDHE-") == cipher && strstr(cipher, "GCM"));
        pair_close(&p);
    }
    SSL_CTX_set_cipher_list(t12, "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
    for (int i = 0; i < 2; i++) {
        pair_open(&p, srv, t12, snis[i], NULL);
        CHECK(pair_handshake(&p));
        CHECK(strstr(SSL_get_cipher_name(p.c), "CHACHA20") != NULL);
        pair_close(&p);
    }
    SSL_CTX_free(t12);

    /* TLS 1.3, and X25519 preferred */
    SSL_CTX *t13 = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION);
    for (int i = 0; i < 2; i++) {
        pair_open(&p, srv, t13, snis[i], NULL);
        CHECK(pair_handshake(&p));
        CHECK_STR(tls_conn_version(p.s), "TLSv1.3");
        EVP_PKEY *tmp = NULL;
        CHECK(SSL_get_peer_tmp_key(p.c, &tmp) == 1 && EVP_PKEY_is_a(tmp, "X25519"));
        EVP_PKEY_free(tmp);
        pair_close(&p);
    }
    SSL_CTX_free(t13);
}

/* A full handshake, then the session saved for resumption. */
static SSL_SESSION *first_session(struct tls_server *srv, SSL_CTX *cctx, const char *sni)
{
    struct pair p;
    pair_open(&p, srv, cctx, sni, NULL);
    CHECK(pair_handshake(&p));
    CHECK(!tls_conn_resumed(p.s));
    pair_ping(&p);
    SSL_SESSION *s = SSL_get1_session(p.c);
    CHECK(s && SSL_SESSION_is_resumable(s));
    pair_close(&p);
    return s;
}

static int resumes(struct tls_server *srv, SSL_CTX *cctx, const char *sni, SSL_SESSION *sess)
{
    struct pair p;
    pair_open(&p, srv, cctx, sni, sess);
    int ok = pair_handshake(&p);
    CHECK(ok);
    int reused = ok && SSL_session_reused(p.c) == 1;
    CHECK_INT(tls_conn_resumed(p.s), reused);
    pair_ping(&p);
    pair_close(&p);
    return reused;
}

static void test_resumption(SSL_CTX *cctx, int version)
{
    struct config *cfg = make_config();
    struct tls_server *srv = make_server(cfg);
    time_t now = time(NULL);

    SSL_SESSION *s = first_session(srv, cctx, NULL);
    CHECK(resumes(srv, cctx, NULL, s));
    CHECK(resumes(srv, cctx, NULL, s)); /* stateless: the same ticket again */
    /* a session of one certificate does not resume under another */
    CHECK(!resumes(srv, cctx, "other.test", s));
    /* with a certificate chosen by SNI */
    SSL_SESSION *w = first_session(srv, cctx, "a.wild.test");
    CHECK(resumes(srv, cctx, "a.wild.test", w));
    SSL_SESSION *o = first_session(srv, cctx, "other.test");
    CHECK(resumes(srv, cctx, "www.other.test", o));

    /* not yet due: no rotation */
    tls_server_tick(srv, now + 10);
    CHECK(resumes(srv, cctx, NULL, s));
    /* one rotation: the old key still opens the ticket (and a new one is issued) */
    tls_server_tick(srv, now + 3600);
    CHECK(resumes(srv, cctx, NULL, s));
    SSL_SESSION *fresh = first_session(srv, cctx, NULL);
    /* a second rotation: the first key is gone */
    tls_server_tick(srv, now + 7200);
    CHECK(!resumes(srv, cctx, NULL, s));
    CHECK(resumes(srv, cctx, NULL, fresh)); /* sealed with the previous key, still fine */

    /* keys carried over to a reloaded server */
    struct tls_server *reloaded = make_server(cfg);
    CHECK(!resumes(reloaded, cctx, NULL, fresh));
    tls_server_inherit_tickets(reloaded, srv);
    CHECK(resumes(reloaded, cctx, NULL, fresh));
    tls_server_free(reloaded);

    SSL_SESSION_free(s);
    SSL_SESSION_free(w);
    SSL_SESSION_free(o);
    SSL_SESSION_free(fresh);
    tls_server_free(srv);

    /* tickets off: no resumption */
    cfg->tls.tickets = false;
    srv = make_server(cfg);
    struct pair p;
    pair_open(&p, srv, cctx, NULL, NULL);
    CHECK(pair_handshake(&p));
    pair_ping(&p);
    s = SSL_get1_session(p.c);
    pair_close(&p);
    if (version == TLS1_3_VERSION) CHECK(!SSL_SESSION_is_resumable(s)); /* no ticket sent */
    CHECK(!resumes(srv, cctx, NULL, s));
    SSL_SESSION_free(s);
    tls_server_free(srv);
    config_free(cfg);
}

static void check_ocsp(struct tls_server *srv, SSL_CTX *cctx, const char *sni, bool ask,
                       const unsigned char *want, size_t want_len)
{
    struct pair p;
    pair_open(&p, srv, cctx, sni, NULL);
    if (ask) SSL_set_tlsext_status_type(p.c, TLSEXT_STATUSTYPE_ocsp);
    CHECK(pair_handshake(&p));
    const unsigned char *resp = NULL;
    long n = SSL_get_tlsext_status_ocsp_resp(p.c, &resp);
    if (want) {
        CHECK_INT(n, (long)want_len);
        CHECK(resp && n == (long)want_len && memcmp(resp, want, want_len) == 0);
    } else {
        CHECK(n <= 0 || !resp);
    }
    pair_close(&p);
}

static void test_ocsp(struct tls_server *srv)
{
    int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
    for (int i = 0; i < 2; i++) {
        SSL_CTX *cctx = client_ctx(versions[i], versions[i]);
        check_ocsp(srv, cctx, NULL, true, ocsp_a, ocsp_a_len);
        check_ocsp(srv, cctx, "x.wild.test", true, ocsp_b, ocsp_b_len);
        check_ocsp(srv, cctx, "other.test", true, NULL, 0); /* no response for that one */
        check_ocsp(srv, cctx, NULL, false, NULL, 0);        /* not asked */
        SSL_CTX_free(cctx);
    }
}

/* Client reads until it has `len` bytes or nothing more comes. */
static size_t client_drain(SSL *c, unsigned char *out, size_t len)
{
    size_t got = 0, n;
    while (got < len && SSL_read_ex(c, out + got, len - got, &n) == 1)
        got += n;
    ERR_clear_error();
    return got;
}

static void test_io(struct tls_server *srv, SSL_CTX *cctx)
{
    struct pair p;
    char buf[64];
    size_t n;
    pair_open(&p, srv, cctx, NULL, NULL);
    CHECK(pair_handshake(&p));

    /* nothing to read yet */
    errno = 0;
    CHECK_INT(tls_conn_read(p.s, buf, sizeof(buf)), -1);
    CHECK_INT(errno, EAGAIN);
    CHECK(!tls_conn_want_write(p.s));
    CHECK(!tls_conn_pending(p.s));

    /* client to server, several records: the rest stays pending after a short read */
    CHECK(SSL_write_ex(p.c, "hello ", 6, &n) && SSL_write_ex(p.c, "tls ", 4, &n) &&
          SSL_write_ex(p.c, "world", 5, &n));
    CHECK_INT(tls_conn_read(p.s, buf, 3), 3);
    CHECK_STRN(buf, 3, "hel");
    CHECK(tls_conn_pending(p.s));
    char all[32];
    size_t got = 3;
    memcpy(all, buf, 3);
    ssize_t r;
    while ((r = tls_conn_read(p.s, all + got, sizeof(all) - got)) > 0)
        got += (size_t)r;
    CHECK_INT(r, -1);
    CHECK_INT(errno, EAGAIN);
    CHECK_STRN(all, got, "hello tls world");
    CHECK(!tls_conn_pending(p.s));

    /* server to client until the socket is full: EAGAIN and want_write */
    size_t total = 4 << 20, sent = 0;
    unsigned char *big = malloc(total), *back = malloc(total);
    for (size_t i = 0; i < total; i++)
        big[i] = (unsigned char)(i * 7 + (i >> 11));
    bool blocked = false;
    size_t received = 0;
    while (sent < total) {
        r = tls_conn_write(p.s, big + sent, total - sent);
        if (r > 0) {
            sent += (size_t)r;
            continue;
        }
        CHECK_INT(r, -1);
        CHECK_INT(errno, EAGAIN);
        CHECK(tls_conn_want_write(p.s));
        blocked = true;
        received += client_drain(p.c, back + received, total - received);
    }
    received += client_drain(p.c, back + received, total - received);
    CHECK(blocked);
    CHECK_INT(received, total);
    CHECK(memcmp(big, back, total) == 0);
    free(big);
    free(back);
    CHECK_INT(tls_conn_write(p.s, "", 0), 0);

    /* close_notify from the client: EOF */
    SSL_shutdown(p.c);
    CHECK_INT(tls_conn_read(p.s, buf, sizeof(buf)), 0);
    CHECK_INT(tls_conn_read(p.s, buf, sizeof(buf)), 0);
    pair_close(&p);

    /* close_notify from the client, and the server still answers (a half close) */
    pair_open(&p, srv, cctx, NULL, NULL);
    CHECK(pair_handshake(&p));
    SSL_write_ex(p.c, "req", 3, &n);
    SSL_shutdown(p.c);
    CHECK_INT(tls_conn_read(p.s, buf, sizeof(buf)), 3);
    CHECK_INT(tls_conn_read(p.s, buf, sizeof(buf)), 0);
    CHECK_INT(tls_conn_write(p.s, "resp", 4), 4);
    CHECK_INT(client_drain(p.c, (unsigned char *)buf, 4), 4);
    CHECK_STRN(buf, 4, "resp");
    pair_close(&p);

    /* the client half-closes TCP without close_notify: EOF, and still writable */
    pair_open(&p, srv, cctx, NULL, NULL);
    CHECK(pair_handshake(&p));
    SSL_write_ex(p.c, "bye", 3, &n);
    shutdown(p.cfd, SHUT_WR);
    CHECK_INT(tls_conn_read(p.s, buf, sizeof(buf)), 3);
    CHECK_INT(tls_conn_read(p.s, buf, sizeof(buf)), 0);
    CHECK_INT(tls_conn_read(p.s, buf, sizeof(buf)), 0);
    CHECK_INT(tls_conn_write(p.s, "late", 4), 4);
    CHECK_INT(client_drain(p.c, (unsigned char *)buf, 4), 4);
    CHECK_STRN(buf, 4, "late");
    /* then the client is gone: the write fails, not EAGAIN */
    SSL_free(p.c);
    p.c = NULL;
    close(p.cfd);
    p.cfd = -1;
    errno = 0;
    CHECK_INT(tls_conn_write(p.s, "x", 1), -1);
    CHECK(errno == EPIPE || errno == ECONNRESET);
    CHECK_INT(tls_conn_write(p.s, "x", 1), -1);
    pair_close(&p);

    /* the client resets mid-stream: an error, not EAGAIN */
    pair_open(&p, srv, cctx, NULL, NULL);
    CHECK(pair_handshake(&p));
    unsigned char junk[64];
    memset(junk, 0x17, sizeof(junk)); /* an application_data record with bogus contents */
    CHECK(write(p.cfd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
    errno = 0;
    CHECK_INT(tls_conn_read(p.s, buf, sizeof(buf)), -1);
    CHECK(errno == EIO);
    CHECK_INT(tls_conn_read(p.s, buf, sizeof(buf)), -1);
    pair_close(&p);
}

/* TLS 1.3: the client's first request can arrive with its Finished; the handshake reads both
 * (read-ahead), so pending() must tell the caller to read before waiting on the socket. */
static void test_data_with_finished(struct tls_server *srv, SSL_CTX *t13)
{
    struct pair p;
    pair_open(&p, srv, t13, NULL, NULL);
    size_t n;
    for (int i = 0; i < 50 && p.c_result != 1; i++) {
        if (SSL_do_handshake(p.c) == 1) p.c_result = 1;
        if (p.c_result != 1) CHECK_INT(tls_conn_handshake(p.s), 0);
    }
    ERR_clear_error();
    CHECK_INT(p.c_result, 1);
    CHECK(SSL_write_ex(p.c, "GET / HTTP/1.1\r\n\r\n", 18, &n) == 1);
    CHECK_INT(tls_conn_handshake(p.s), 1);
    CHECK(tls_conn_pending(p.s));
    char buf[64];
    CHECK_INT(tls_conn_read(p.s, buf, sizeof(buf)), 18);
    CHECK_STRN(buf, 18, "GET / HTTP/1.1\r\n\r\n");
    CHECK(!tls_conn_pending(p.s));
    pair_close(&p);
}

/* A key share the server does not take: HelloRetryRequest, a second ClientHello (and a second
 * run of the SNI callback). */
static void test_hello_retry(struct tls_server *srv)
{
    SSL_CTX *cctx = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION);
    CHECK(SSL_CTX_set1_groups_list(cctx, "X448:P-256") == 1);
    const char *snis[] = {NULL, "other.test", "a.wild.test"};
    const char *cns[] = {"default.test", "other.test", "wild.test"};
    for (int i = 0; i < 3; i++) {
        struct pair p;
        pair_open(&p, srv, cctx, snis[i], NULL);
        CHECK(pair_handshake(&p));
        CHECK_STR(peer_cn(p.c), cns[i]);
        EVP_PKEY *tmp = NULL;
        CHECK(SSL_get_peer_tmp_key(p.c, &tmp) == 1 && EVP_PKEY_is_a(tmp, "EC"));
        EVP_PKEY_free(tmp);
        pair_close(&p);
    }
    SSL_CTX_free(cctx);
}

static void test_bad_clients(struct tls_server *srv)
{
    struct pair p;
    SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
    /* plain HTTP on the TLS port */
    pair_open(&p, srv, cctx, NULL, NULL);
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(write(p.cfd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1);
    CHECK_INT(tls_conn_handshake(p.s), -1);
    CHECK_INT(tls_conn_handshake(p.s), -1); /* stays failed */
    pair_close(&p);

    /* a handshake record that is not a ClientHello */
    pair_open(&p, srv, cctx, NULL, NULL);
    const unsigned char junk[] = {0x16, 0x03, 0x01, 0x00, 0x08, 0x02, 0x00,
                                  0x00, 0x04, 0xde, 0xad, 0xbe, 0xef};
    CHECK(write(p.cfd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
    CHECK_INT(tls_conn_handshake(p.s), -1);
    pair_close(&p);

    /* random bytes */
    pair_open(&p, srv, cctx, NULL, NULL);
    unsigned char rnd[512];
    for (size_t i = 0; i < sizeof(rnd); i++)
        rnd[i] = (unsigned char)(i * 131 + 17);
    CHECK(write(p.cfd, rnd, sizeof(rnd)) == (ssize_t)sizeof(rnd));
    CHECK_INT(tls_conn_handshake(p.s), -1);
    pair_close(&p);

    /* a partial ClientHello: wait for more, then EOF fails */
    pair_open(&p, srv, cctx, NULL, NULL);
    CHECK(write(p.cfd, junk, 4) == 4);
    CHECK_INT(tls_conn_handshake(p.s), 0);
    CHECK(!tls_conn_want_write(p.s));
    shutdown(p.cfd, SHUT_WR);
    CHECK_INT(tls_conn_handshake(p.s), -1);
    pair_close(&p);
    SSL_CTX_free(cctx);
}

static void expect_error(struct config *cfg, const char *want)
{
    char err[512] = "";
    struct tls_server *srv = tls_server_create(cfg, err, sizeof(err));
    CHECK(srv == NULL);
    tls_server_free(srv);
    if (!strstr(err, want)) fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, want);
    CHECK(strstr(err, want) != NULL);
    config_free(cfg);
}

static void test_config_errors(void)
{
    char want[256];
    struct config *cfg = config_default(tmpdir);
    expect_error(cfg, "no TLS certificate");

    cfg = make_config();
    set_cert(&cfg->tls.cert, "missing.crt", "default.key", NULL);
    snprintf(want, sizeof(want),
             "cannot load certificate %s/missing.crt: No such file or directory", tmpdir);
    expect_error(cfg, want);

    cfg = make_config();
    set_cert(&cfg->tls.cert, "garbage.pem", "default.key", NULL);
    snprintf(want, sizeof(want), "cannot load certificate %s/garbage.pem: ", tmpdir);
    expect_error(cfg, want);

    cfg = make_config();
    set_cert(&cfg->tls.cert, "default.crt", "missing.key", NULL);
    snprintf(want, sizeof(want), "cannot load key %s/missing.key: No such file or directory",
             tmpdir);
    expect_error(cfg, want);

    cfg = make_config();
    set_cert(&cfg->servers[1].cert, "other.crt", "default.key", NULL);
    snprintf(want, sizeof(want), "key %s/default.key does not match the certificate %s/other.crt",
             tmpdir, tmpdir);
    expect_error(cfg, want);

    cfg = make_config();
    set_cert(&cfg->tls.cert, "default.crt", "default.key", "missing.ocsp");
    snprintf(want, sizeof(want),
             "cannot load OCSP response %s/missing.ocsp: No such file or directory", tmpdir);
    expect_error(cfg, want);

    cfg = make_config();
    set_cert(&cfg->tls.cert, "default.crt", "default.key", "default.crt");
    snprintf(want, sizeof(want), "cannot load OCSP response %s/default.crt: not a DER", tmpdir);
    expect_error(cfg, want);

    /* a key of the certificate's type that is not its key */
    cfg = make_config();
    set_cert(&cfg->tls.cert, "default.crt", "wild.key", NULL);
    snprintf(want, sizeof(want), "key %s/wild.key does not match the certificate %s/default.crt",
             tmpdir, tmpdir);
    expect_error(cfg, want);

    /* files without PEM blocks, and a directory */
    cfg = make_config();
    set_cert(&cfg->tls.cert, "default.ocsp", "default.key", NULL);
    snprintf(want, sizeof(want),
             "cannot load certificate %s/default.ocsp: no PEM certificate in "
             "the file",
             tmpdir);
    expect_error(cfg, want);
    cfg = make_config();
    set_cert(&cfg->tls.cert, "default.crt", "default.crt", NULL);
    snprintf(want, sizeof(want), "cannot load key %s/default.crt: no PEM private key in the file",
             tmpdir);
    expect_error(cfg, want);
    cfg = make_config();
    set_cert(&cfg->tls.cert, ".", "default.key", NULL);
    snprintf(want, sizeof(want), "cannot load certificate %s/.: Is a directory", tmpdir);
    expect_error(cfg, want);
}

/* Without tls.cert the default server's certificate is the default; servers sharing a
 * certificate share a context. */
static void test_default_from_servers(SSL_CTX *cctx)
{
    struct config *cfg = config_default(tmpdir);
    set_cert(&cfg->servers[0].cert, "other.crt", "other.key", NULL);
    struct config_server *s = add_server(cfg, "w.test", NULL);
    set_cert(&s->cert, "wild.crt", "wild.key", NULL);
    s = add_server(cfg, "w2.test", NULL);
    set_cert(&s->cert, "wild.crt", "wild.key", NULL);
    struct tls_server *srv = make_server(cfg);
    const char *snis[] = {NULL, "unknown.test", "w.test", "w2.test"};
    const char *cns[] = {"other.test", "other.test", "wild.test", "wild.test"};
    for (int i = 0; i < 4; i++) {
        struct pair p;
        pair_open(&p, srv, cctx, snis[i], NULL);
        CHECK(pair_handshake(&p));
        CHECK_STR(peer_cn(p.c), cns[i]);
        pair_close(&p);
    }
    tls_server_free(srv);

    /* no default server cert: the first server's */
    set_cert(&cfg->servers[0].cert, NULL, NULL, NULL);
    srv = make_server(cfg);
    struct pair p;
    pair_open(&p, srv, cctx, NULL, NULL);
    CHECK(pair_handshake(&p));
    CHECK_STR(peer_cn(p.c), "wild.test");
    pair_close(&p);
    tls_server_free(srv);
    config_free(cfg);
}

/* Connections keep the server alive after tls_server_free (a reload drains them). */
static void test_lifetime(SSL_CTX *cctx)
{
    struct config *cfg = make_config();
    struct tls_server *srv = make_server(cfg);
    config_free(cfg); /* no pointer into cfg is kept */
    struct pair p;
    pair_open(&p, srv, cctx, "a.wild.test", NULL);
    tls_server_free(srv);
    CHECK(pair_handshake(&p));
    CHECK_STR(peer_cn(p.c), "wild.test");
    pair_close(&p);
}

struct worker_arg {
    struct tls_server *srv;
    SSL_CTX *cctx;
    int ok;
};

static void *worker(void *arg)
{
    struct worker_arg *w = arg;
    SSL_SESSION *sess = NULL;
    for (int i = 0; i < 40; i++) {
        struct pair p;
        pair_open(&p, w->srv, w->cctx, i % 2 ? "a.wild.test" : NULL, i % 2 ? NULL : sess);
        if (pair_handshake(&p)) w->ok++;
        pair_ping(&p);
        if (!(i % 2)) {
            SSL_SESSION_free(sess);
            sess = SSL_get1_session(p.c);
        }
        pair_close(&p);
    }
    SSL_SESSION_free(sess);
    return NULL;
}

/* Workers handshake and resume while the key ring rotates under them. */
static void test_threads(SSL_CTX *cctx)
{
    struct config *cfg = make_config();
    cfg->tls.ticket_lifetime = 1;
    struct tls_server *srv = make_server(cfg);
    pthread_t t[4];
    struct worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct worker_arg){srv, cctx, 0};
        pthread_create(&t[i], NULL, worker, &args[i]);
    }
    time_t now = time(NULL);
    for (int i = 0; i < 200; i++)
        tls_server_tick(srv, now + i);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT(args[i].ok, 40);
    }
    tls_server_free(srv);
    config_free(cfg);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* handshake failures are logged at info: shown with TERN_TEST_VERBOSE set */
    log_set_level(getenv("TERN_TEST_VERBOSE") ? LOG_DEBUG : LOG_WARN);
    tmp_setup();
    make_files();
    SSL_CTX *any = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
    SSL_CTX *t12 = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *t13 = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION);

    struct config *cfg = make_config();
    struct tls_server *srv = make_server(cfg);
    if (srv) {
        test_sni(srv, any);
        test_sni(srv, t12);
        test_alpn(srv, any);
        test_alpn(srv, t12);
        test_versions(srv);
        test_ocsp(srv);
        test_io(srv, t13);
        test_io(srv, t12);
        test_data_with_finished(srv, t13);
        test_hello_retry(srv);
        test_bad_clients(srv);
        tls_server_free(srv);
    }
    config_free(cfg);
    test_resumption(t13, TLS1_3_VERSION);
    test_resumption(t12, TLS1_2_VERSION);
    test_config_errors();
    test_default_from_servers(any);
    test_lifetime(any);
    test_threads(any);

    SSL_CTX_free(any);
    SSL_CTX_free(t12);
    SSL_CTX_free(t13);
    OPENSSL_free(ocsp_a);
    OPENSSL_free(ocsp_b);
    tmp_cleanup();
    return check_done("tls/tls");
}
