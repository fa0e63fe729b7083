/* Non-blocking server-side TLS connections: OpenSSL's WANT_READ/WANT_WRITE become 0 (handshake)
 * or EAGAIN (read/write), so the caller's event loop treats TLS like a socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "tls/internal.h"
#include "tls/ja4.h"
#include "tls/tls.h"

struct tls_conn {
    SSL *ssl;
    struct tls_server *srv;
    int fd;
    bool done;             /* handshake finished */
    bool fatal;            /* a fatal error or EOF: no more I/O, no close_notify */
    bool eof;              /* the peer ended its side (cleanly or not): reads return 0 */
    bool want_write;       /* the last call that blocked waits for the socket to be writable */
    bool read_blocked;     /* the last read needed bytes from the socket */
    bool notified;         /* close_notify sent (or given up) */
    bool client;           /* our side connects (tls_conn_new_client) */
    char error[160];       /* why the handshake failed */
    char ja4[JA4_LEN + 1]; /* the client's fingerprint (server side), or "" */
};

/* OpenSSL shows each handshake message as it reads it: the ClientHello, as it came, is what
 * JA4 is made from. The callback is dropped after it, so later records cost nothing. */
static void hello_seen(int write_p, int version, int content_type, const void *buf, size_t len,
                       SSL *ssl, void *arg)
{
    (void)version;
    const uint8_t *p = buf;
    if (write_p || content_type != SSL3_RT_HANDSHAKE || len < 4 || p[0] != SSL3_MT_CLIENT_HELLO)
        return;
    struct tls_conn *c = arg;
    ja4_from_client_hello('t', p, len, c->ja4);
    SSL_set_msg_callback(ssl, NULL);
}

struct tls_conn *tls_conn_new(struct tls_server *srv, int fd)
{
    struct tls_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    ERR_clear_error();
    c->ssl = SSL_new(srv->certs[0].ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
        SSL_free(c->ssl);
        free(c);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_accept_state(c->ssl);
    SSL_set_msg_callback(c->ssl, hello_seen);
    SSL_set_msg_callback_arg(c->ssl, c);
    c->fd = fd;
    c->srv = srv;
    tls_server_retain(srv);
    return c;
}

struct tls_conn *tls_conn_new_client(struct tls_client *cl, int fd, const char *host)
{
    struct tls_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    ERR_clear_error();
    c->ssl = tls_client_ssl_new(cl, host);
    if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
        SSL_free(c->ssl);
        free(c);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_connect_state(c->ssl);
    c->fd = fd;
    c->client = true;
    return c;
}

const char *tls_conn_error(const struct tls_conn *c)
{
    return c->error[0] ? c->error : NULL;
}

bool tls_conn_verify_failed(const struct tls_conn *c)
{
    return c->client && SSL_get_verify_result(c->ssl) != X509_V_OK;
}

static void peer_name(int fd, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    snprintf(out, outlen, "local client");
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        snprintf(out, outlen, "%s:%u", host, ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        snprintf(out, outlen, "[%s]:%u", host, ntohs(a->sin6_port));
    }
}

int tls_conn_handshake(struct tls_conn *c)
{
    if (c->done) return 1;
    if (c->fatal) return -1;
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->done = true;
        c->want_write = false;
        return 1;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->want_write = e == SSL_ERROR_WANT_WRITE;
        return 0;
    }
    int saved = errno;
    c->fatal = true;
    const char *reason;
    if (ERR_peek_error() == 0) /* EOF or a socket error, no TLS alert */
        reason = saved && e == SSL_ERROR_SYSCALL ? strerror(saved) : "connection closed";
    else
        reason = tls_err_reason();
    long vr = SSL_get_verify_result(c->ssl);
    if (c->client && vr != X509_V_OK) reason = X509_verify_cert_error_string(vr);
    snprintf(c->error, sizeof(c->error), "%s", reason);
    if (c->client) {
        ERR_clear_error();
        return -1;
    }
    char peer[INET6_ADDRSTRLEN + 16];
    peer_name(c->fd, peer, sizeof(peer));
    const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
    /* the client's doing, not ours: info, never error */
    log_info("tls: handshake with %s%s%s failed: %s", peer, sni ? " for " : "", sni ? sni : "",
             reason);
    ERR_clear_error();
    return -1;
}

/* Maps a failed SSL_read_ex/SSL_write_ex: -1 with errno EAGAIN when blocked, 0 when a read
 * meets the end of the stream, else -1 with EIO/ECONNRESET/EPIPE. */
static ssize_t io_fail(struct tls_conn *c, int r, bool reading)
{
    int saved = errno;
    int e = SSL_get_error(c->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        c->want_write = false;
        c->read_blocked = reading;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        c->want_write = true;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        /* close_notify, or a bare EOF (SSL_OP_IGNORE_UNEXPECTED_EOF): the end of what the peer
         * sends; as with a half-closed TCP socket we may still answer */
        if (reading) {
            c->eof = true;
            return 0;
        }
        c->fatal = true;
        errno = EPIPE;
        return -1;
    case SSL_ERROR_SYSCALL:
        c->fatal = true;
        if (ERR_peek_error() == 0 && saved == 0) { /* EOF where OpenSSL did not expect it */
            c->eof = true;
            if (reading) return 0;
            saved = EPIPE;
        }
        ERR_clear_error();
        errno = saved ? saved : ECONNRESET;
        return -1;
    default:
        c->fatal = true;
        log_debug("tls: %s failed: %s", reading ? "read" : "write", tls_err_reason());
        ERR_clear_error();
        errno = EIO;
        return -1;
    }
}

ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len)
{
    if (c->eof) return 0;
    if (c->fatal) {
        errno = EIO;
        return -1;
    }
    if (!len) return 0;
    size_t n = 0;
    ERR_clear_error();
    int r = SSL_read_ex(c->ssl, buf, len, &n);
    if (r == 1) {
        c->read_blocked = false;
        c->done = true; /* a read may finish the handshake too */
        return (ssize_t)n;
    }
    return io_fail(c, r, true);
}

ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
    if (c->fatal) {
        errno = EPIPE;
        return -1;
    }
    if (!len) return 0;
    size_t n = 0;
    ERR_clear_error();
    int r = SSL_write_ex(c->ssl, buf, len, &n);
    if (r == 1) {
        c->want_write = false;
        c->done = true;
        return (ssize_t)n;
    }
    return io_fail(c, r, false);
}

bool tls_conn_pending(const struct tls_conn *c)
{
    if (c->fatal) return false;
    /* read-ahead may hold undecrypted records too; a partial one needs the socket */
    return SSL_pending(c->ssl) > 0 || (!c->read_blocked && SSL_has_pending(c->ssl));
}

bool tls_conn_want_write(const struct tls_conn *c)
{
    return c->want_write;
}

const char *tls_conn_alpn(const struct tls_conn *c)
{
    const unsigned char *p = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(c->ssl, &p, &len);
    if (len == 2 && memcmp(p, "h2", 2) == 0) return "h2";
    if (len == 8 && memcmp(p, "http/1.1", 8) == 0) return "http/1.1";
    return NULL;
}

const char *tls_conn_sni(const struct tls_conn *c)
{
    return SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
}

const char *tls_conn_ja4(const struct tls_conn *c)
{
    return c->ja4[0] ? c->ja4 : NULL;
}

const char *tls_conn_version(const struct tls_conn *c)
{
    return SSL_get_version(c->ssl);
}

const char *tls_conn_cipher(const struct tls_conn *c)
{
    const SSL_CIPHER *cipher = SSL_get_current_cipher(c->ssl);
    if (!cipher) return NULL;
    const char *name = SSL_CIPHER_standard_name(cipher);
    return name ? name : SSL_CIPHER_get_name(cipher); /* OpenSSL's own name as a fallback */
}

bool tls_conn_resumed(const struct tls_conn *c)
{
    return SSL_session_reused(c->ssl) == 1;
}

void tls_conn_close_notify(struct tls_conn *c)
{
    if (c->notified) return;
    c->notified = true;
    ERR_clear_error();
    /* one non-blocking close_notify, not after a fatal error (OpenSSL forbids it) nor behind a
     * stalled write */
    if (c->done && !c->fatal && !c->want_write) SSL_shutdown(c->ssl);
    ERR_clear_error();
}

void tls_conn_free(struct tls_conn *c)
{
    if (!c) return;
    tls_conn_close_notify(c);
    SSL_free(c->ssl);
    tls_server_free(c->srv);
    free(c);
}
