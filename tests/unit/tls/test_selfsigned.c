/* tls_generate_self_signed: the certificate's fields, the key file's mode, and real clients
 * (`openssl s_client`, curl) verifying it against a tiny TLS server on 127.0.0.1. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include "check.h"
#include "core/log.h"
#include "harness.h"

static void test_fields(const char *cert_path, const char *key_path)
{
    struct stat st;
    CHECK(stat(key_path, &st) == 0 && (st.st_mode & 0777) == 0600);
    FILE *f = fopen(cert_path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    f = fopen(key_path, "r");
    EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    CHECK(x && key);
    if (!x || !key) return;
    CHECK(EVP_PKEY_is_a(key, "EC"));
    char group[32] = "";
    EVP_PKEY_get_group_name(key, group, sizeof(group), NULL);
    CHECK_STR(group, "prime256v1");
    CHECK(X509_check_private_key(x, key) == 1);
    CHECK(X509_verify(x, key) == 1); /* self-signed */
    CHECK(X509_check_host(x, "localhost", 0, 0, NULL) == 1);
    CHECK(X509_check_host(x, "dev.example", 0, 0, NULL) == 1); /* the CN as a SAN too */
    CHECK(X509_check_host(x, "example.org", 0, 0, NULL) == 0);
    CHECK(X509_check_ip_asc(x, "127.0.0.1", 0) == 1);
    CHECK(X509_check_ip_asc(x, "::1", 0) == 1);
    CHECK(X509_check_ip_asc(x, "127.0.0.2", 0) == 0);
    int days = 0, secs = 0;
    CHECK(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)));
    CHECK_INT(days, 365);
    CHECK(X509_cmp_current_time(X509_get0_notBefore(x)) <= 0);
    CHECK_INT(X509_get_version(x), X509_VERSION_3);
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    CHECK_STR(cn, "dev.example");
    /* it verifies as its own trust anchor, as with curl --cacert */
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, x);
    X509_STORE_CTX *vctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(vctx, store, x, NULL);
    X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(vctx), "localhost", 0);
    X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_SERVER);
    int ok = X509_verify_cert(vctx);
    if (ok != 1)
        fprintf(stderr, "verify: %s\n",
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)));
    CHECK_INT(ok, 1);
    X509_STORE_CTX_free(vctx);
    X509_STORE_free(store);
    X509_free(x);
    EVP_PKEY_free(key);

    /* a second run replaces both files (make run regenerating) */
    char err[256];
    CHECK_INT(tls_generate_self_signed(cert_path, key_path, "localhost", err, sizeof(err)), 0);
    CHECK(stat(key_path, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* an unwritable place gives a message naming it */
    CHECK_INT(tls_generate_self_signed("/nonexistent/dir/c.pem", "/nonexistent/dir/k.pem", "x", err,
                                       sizeof(err)),
              -1);
    CHECK(strstr(err, "/nonexistent/dir/k.pem") != NULL);
}

struct mini {
    int lfd;
    int port;
    struct tls_server *srv;
    int served;
    char alpn[16][16];
};

/* Waits for the socket in the direction the TLS connection wants. */
static bool wait_io(struct tls_conn *c, int fd)
{
    struct pollfd pfd = {fd, tls_conn_want_write(c) ? POLLOUT : POLLIN, 0};
    return poll(&pfd, 1, 5000) == 1;
}

/* One connection at a time: handshake, read a request head, answer "hello", close. */
static void *mini_run(void *arg)
{
    struct mini *m = arg;
    for (;;) {
        int fd = accept(m->lfd, NULL, NULL);
        if (fd < 0) break;
        set_nonblock(fd);
        struct tls_conn *c = tls_conn_new(m->srv, fd);
        int r;
        while ((r = tls_conn_handshake(c)) == 0 && wait_io(c, fd))
            ;
        if (r == 1) {
            const char *alpn = tls_conn_alpn(c);
            if (m->served < 16) snprintf(m->alpn[m->served], 16, "%s", alpn ? alpn : "-");
            char buf[4096];
            size_t got = 0;
            for (;;) {
                ssize_t n = tls_conn_read(c, buf + got, sizeof(buf) - 1 - got);
                if (n > 0) {
                    got += (size_t)n;
                    buf[got] = 0;
                    if (strstr(buf, "\r\n\r\n") || got == sizeof(buf) - 1) break;
                } else if (n < 0 && errno == EAGAIN && wait_io(c, fd)) {
                    continue;
                } else {
                    break;
                }
            }
            if (strstr(buf, "\r\n\r\n")) {
                static const char resp[] =
                    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
                size_t off = 0;
                while (off < sizeof(resp) - 1) {
                    ssize_t n = tls_conn_write(c, resp + off, sizeof(resp) - 1 - off);
                    if (n > 0)
                        off += (size_t)n;
                    else if (!(n < 0 && errno == EAGAIN && wait_io(c, fd)))
                        break;
                }
            }
        }
        m->served++;
        tls_conn_free(c);
        close(fd);
    }
    return NULL;
}

static int run(const char *cmd, char *out, size_t outlen)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    return pclose(p);
}

static void test_clients(const char *cert_path, const char *key_path)
{
    if (system("command -v openssl >/dev/null && command -v curl >/dev/null") != 0) {
        printf("openssl or curl missing: real client checks skipped\n");
        return;
    }
    struct mini m = {0};
    struct config *cfg = config_default(tmpdir);
    cfg->tls.cert.cert_file = strdup(cert_path);
    cfg->tls.cert.key_file = strdup(key_path);
    char err[256] = "";
    m.srv = tls_server_create(cfg, err, sizeof(err));
    config_free(cfg);
    CHECK(m.srv != NULL);
    if (!m.srv) return;
    m.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    CHECK(bind(m.lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(m.lfd, 8) == 0);
    getsockname(m.lfd, (struct sockaddr *)&a, &al);
    m.port = ntohs(a.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, mini_run, &m);

    char cmd[1024], out[16384];
    snprintf(cmd, sizeof(cmd),
             "timeout 20 openssl s_client -connect 127.0.0.1:%d -servername localhost "
             "-alpn h2,http/1.1 -CAfile %s -verify_return_error -verify_hostname localhost "
             "</dev/null 2>&1",
             m.port, cert_path);
    run(cmd, out, sizeof(out));
    CHECK(strstr(out, "ALPN protocol: h2") != NULL);
    CHECK(strstr(out, "Verify return code: 0 (ok)") != NULL);
    CHECK(strstr(out, "TLSv1.3") != NULL);
    if (!strstr(out, "Verify return code: 0 (ok)")) fprintf(stderr, "%s\n", out);

    const char *urls[] = {"https://localhost:%d/", "https://127.0.0.1:%d/"};
    for (int i = 0; i < 2; i++) {
        char url[64];
        snprintf(url, sizeof(url), urls[i], m.port);
        snprintf(cmd, sizeof(cmd), "curl -s --max-time 20 --http1.1 --cacert %s %s 2>&1", cert_path,
                 url);
        int rc = run(cmd, out, sizeof(out));
        CHECK_INT(rc, 0);
        CHECK_STR(out, "hello");
    }
    /* curl over TLS 1.2 with http/1.1 offered by ALPN */
    snprintf(cmd, sizeof(cmd),
             "curl -s --max-time 20 --http1.1 --tlsv1.2 --tls-max 1.2 --cacert %s "
             "https://localhost:%d/ 2>&1",
             cert_path, m.port);
    CHECK_INT(run(cmd, out, sizeof(out)), 0);
    CHECK_STR(out, "hello");

    shutdown(m.lfd, SHUT_RDWR);
    pthread_join(t, NULL);
    close(m.lfd);
    CHECK_INT(m.served, 4);
    CHECK_STR(m.alpn[0], "h2");
    CHECK_STR(m.alpn[1], "http/1.1");
    CHECK_STR(m.alpn[3], "http/1.1");
    tls_server_free(m.srv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(getenv("TERN_TEST_VERBOSE") ? LOG_DEBUG : LOG_WARN);
    tmp_setup();
    char *cert = tmp_path("cert.pem"), *key = tmp_path("key.pem"), err[256];
    CHECK_INT(tls_generate_self_signed(cert, key, "dev.example", err, sizeof(err)), 0);
    test_fields(cert, key);
    test_clients(cert, key);
    free(cert);
    free(key);
    tmp_cleanup();
    return check_done("tls/selfsigned");
}
