#include "client/h3_client.h"

#ifdef TERN_HAVE_QUIC

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/h3_glue.h"
#include "client/upload.h"
#include "h3/session.h"
#include "quic/quic_client.h"

/* One transfer's wire state. */
struct xfer {
    struct client_transfer *t;
    struct client_request_fields f;
    struct client_upload up; /* the request body source */
    bool got_head;           /* the final head came */
    struct xfer *next;
};

struct h3_client {
    struct h3_glue g; /* the socket, the QUIC connection and the session (client/h3_glue.h) */
    int64_t deadline_ms;
    struct xfer *xfers;
    struct h3_client_info info;
    uint8_t buf[H3_GLUE_DGRAM_BUF];
};

/* ---- the session's callbacks (client role) ---- */

static int on_head(struct h3_session *s, struct h3_stream *st, int status, const str_t *names,
                   const str_t *values, size_t n)
{
    (void)s;
    struct xfer *x = st->user;
    struct client_transfer *t = x->t;
    if (!t->rs->t_first_byte) t->rs->t_first_byte = client_now_us();
    if (client_response_set_head(t->rs, 30, status, names, values, n) < 0) {
        client_fail(&t->e, CLIENT_RECV, "the response head has more than %d fields",
                    CLIENT_MAX_FIELDS);
        return -1;
    }
    bool interim = status < 200;
    if (!interim) x->got_head = true;
    if (t->sinks->head && t->sinks->head(t->sinks->ctx, t->rs, buf_ptr(&t->rs->raw),
                                         buf_size(&t->rs->raw), interim) < 0) {
        if (!t->e.status) client_fail(&t->e, CLIENT_WRITE, "the response head was refused");
        return -1;
    }
    return 0;
}

static int on_data(struct h3_session *s, struct h3_stream *st, const uint8_t *p, size_t len)
{
    (void)s;
    struct client_transfer *t = ((struct xfer *)st->user)->t;
    t->rs->body_bytes += (int64_t)len;
    if (t->sinks->body && t->sinks->body(t->sinks->ctx, (const char *)p, len) < 0) {
        if (!t->e.status) client_fail(&t->e, CLIENT_WRITE, "the response could not be written");
        return -1;
    }
    return 0;
}

static void on_end(struct h3_session *s, struct h3_stream *st, uint64_t code, const char *why)
{
    (void)s;
    struct xfer *x = st->user;
    struct client_transfer *t = x->t;
    t->done = true;
    t->wire = NULL;
    if (code == H3_NO_ERROR || t->e.status) return;
    /* RFC 9114 §4.1.1, §5.2: a request rejected or beyond the server's GOAWAY was not
     * processed, whatever its method */
    t->unprocessed = code == H3_REQUEST_REJECTED && !x->got_head;
    client_fail(&t->e, CLIENT_HTTP3, "HTTP/3 stream %lld: %s (%s)", (long long)st->id, why,
                h3_error_name(code));
}

static const struct h3_session_callbacks session_cbs = {
    .on_response_head = on_head,
    .on_response_data = on_data,
    .on_response_end = on_end,
};

/* ---- the socket ---- */

static void flush(struct h3_client *c)
{
    h3_glue_flush(&c->g, c->buf, sizeof(c->buf));
}

/* Reads every datagram waiting. */
static void receive(struct h3_client *c)
{
    int64_t now = client_now_us(); /* before the datagrams that may complete the handshake */
    if (h3_glue_receive(&c->g, c->buf, sizeof(c->buf)) && !c->info.t_connected)
        c->info.t_connected = now;
}

static void pump(struct h3_client *c)
{
    h3_glue_pump(&c->g);
}

static int64_t sooner(int64_t a, int64_t b)
{
    if (!a) return b;
    if (!b) return a;
    return a < b ? a : b;
}

/* One round: send, wait for a datagram, the QUIC timer or until (ms, 0: none), read, run
 * timers, pump. */
static void step(struct h3_client *c, int64_t until)
{
    pump(c);
    flush(c);
    uint64_t exp = quic_conn_expiry(c->g.qc);
    uint64_t now = quic_now_ns();
    int64_t wait_ms = -1;
    if (exp != UINT64_MAX) wait_ms = exp <= now ? 0 : (int64_t)((exp - now + 999999) / 1000000);
    if (until) {
        int64_t left = until - client_now_ms();
        if (left < 0) left = 0;
        if (wait_ms < 0 || left < wait_ms) wait_ms = left;
    }
    if (wait_ms > 1000000) wait_ms = 1000000;
    struct pollfd p = {.fd = c->g.fd, .events = POLLIN};
    int r = poll(&p, 1, (int)wait_ms);
    if (r > 0) receive(c);
    now = quic_now_ns();
    if (quic_conn_expiry(c->g.qc) <= now) quic_conn_handle_expiry(c->g.qc, now);
    pump(c);
    flush(c);
}

/* The connection's failure as curl's exit codes put it. */
static int quic_error(struct h3_client *c, struct client_error *e)
{
    char msg[200];
    if (c->g.refused)
        return client_fail(e, CLIENT_CONNECT, "connect to %s failed: connection refused (QUIC)",
                           c->info.peer);
    switch (quic_client_failure(c->g.qc, msg, sizeof(msg))) {
    case QUIC_FAIL_CERT: return client_fail(e, CLIENT_CERT, "SSL certificate problem: %s", msg);
    case QUIC_FAIL_TLS: return client_fail(e, CLIENT_TLS, "QUIC with %s: %s", c->info.peer, msg);
    case QUIC_FAIL_NO_ANSWER:
    case QUIC_FAIL_TIMEOUT:
        return client_fail(e, CLIENT_TIMEOUT, "QUIC with %s: %s", c->info.peer, msg);
    case QUIC_FAIL_PEER_CLOSE: return client_fail(e, CLIENT_HTTP3, "%s", msg);
    default:
        return client_fail(e, CLIENT_RECV, "QUIC with %s: %s", c->info.peer,
                           *msg ? msg : "the connection closed");
    }
}

/* ---- the connection ---- */

static void free_client(struct h3_client *c)
{
    h3_glue_reset(&c->g); /* the session's end ends the transfers still running */
    for (struct xfer *x = c->xfers, *next; x; x = next) {
        next = x->next;
        buf_free(&x->f.text);
        free(x);
    }
    free(c);
}

/* A QUIC handshake with one address, until connect_deadline. 0 or -1 with *e. */
static int try_address(struct h3_client *c, const struct h3_client_params *p,
                       const struct addrinfo *ai, int64_t connect_deadline, struct client_error *e)
{
    if (h3_glue_socket(&c->g, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (c->g.fd < 0) return client_fail(e, CLIENT_CONNECT, "socket: %s", strerror(errno));
        return client_fail(e, CLIENT_CONNECT, "connect to %s failed: %s", c->info.peer,
                           strerror(errno));
    }
    const struct url *u = p->url;
    struct quic_client_config qcfg = {
        .host = u->host,
        .host_is_ip = u->ipv6 || strspn(u->host, "0123456789.") == strlen(u->host),
        .cacert = p->cacert,
        .insecure = p->insecure,
    };
    char err[200];
    if (h3_glue_connect(&c->g, &qcfg, err, sizeof(err)) < 0)
        return client_fail(e, p->cacert && strstr(err, p->cacert) ? 77 : CLIENT_TLS, "%s", err);
    while (!quic_conn_handshake_done(c->g.qc)) {
        if (quic_conn_state(c->g.qc) != QUIC_CONN_ACTIVE || c->g.refused) {
            int rc = quic_error(c, e);
            for (int i = 0; i < 3 && quic_conn_state(c->g.qc) == QUIC_CONN_CLOSING; i++)
                flush(c); /* our CONNECTION_CLOSE (an alert) goes out */
            return rc;
        }
        if (connect_deadline && client_now_ms() >= connect_deadline) {
            if (p->deadline_ms && client_now_ms() >= p->deadline_ms)
                return client_fail(e, CLIENT_TIMEOUT,
                                   "Operation timed out (QUIC handshake "
                                   "with %s)",
                                   c->info.peer);
            return client_fail(e, CLIENT_TIMEOUT, "QUIC handshake with %s timed out", c->info.peer);
        }
        step(c, connect_deadline);
    }
    c->info.t_tls_done = c->g.t_handshake_us;
    quic_client_tls_info(c->g.qc, &c->info.tls_version, &c->info.cipher, &c->info.alpn);
    return 0;
}

/* Forgets a failed address's connection and socket. */
static void drop_address(struct h3_client *c)
{
    h3_glue_reset(&c->g);
    c->info.t_connected = 0;
}

struct h3_client *h3_client_open(const struct h3_client_params *p, struct client_error *e)
{
    const struct url *u = p->url;
    if (!u->https) {
        client_fail(e, CLIENT_UNSUPPORTED, "HTTP/3 needs an https:// URL");
        return NULL;
    }
    struct h3_client *c = calloc(1, sizeof(*c));
    if (!c) {
        client_fail(e, CLIENT_RECV, "out of memory");
        return NULL;
    }
    c->g.fd = -1;
    c->deadline_ms = p->deadline_ms;
    c->info.t_start = client_now_us();
    c->info.tls_version = c->info.cipher = c->info.alpn = "";
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_ADDRCONFIG};
    if (u->ipv6) hints.ai_flags = AI_NUMERICHOST;
    char port[8];
    uint16_t udp_port = p->port ? p->port : u->port;
    snprintf(port, sizeof(port), "%u", udp_port);
    struct addrinfo *res = NULL;
    if (getaddrinfo(u->host, port, &hints, &res) != 0) {
        client_fail(e, CLIENT_RESOLVE, "could not resolve host: %s", u->host);
        free(c);
        return NULL;
    }
    int rc = -1;
    for (const struct addrinfo *ai = res; ai && rc < 0; ai = ai->ai_next) {
        char host[64] = "?";
        getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
        snprintf(c->info.peer, sizeof(c->info.peer), "%s%s%s port %u",
                 ai->ai_family == AF_INET6 ? "[" : "", host, ai->ai_family == AF_INET6 ? "]" : "",
                 udp_port);
        int64_t cd = sooner(p->deadline_ms,
                            p->connect_timeout_ms ? client_now_ms() + p->connect_timeout_ms : 0);
        rc = try_address(c, p, ai, cd, e);
        if (rc < 0) {
            drop_address(c);
            /* another address may answer, unless the server itself said no */
            if (e->status == CLIENT_CERT || e->status == CLIENT_TLS || e->status == 77) break;
            if (p->deadline_ms && client_now_ms() >= p->deadline_ms) break;
        }
    }
    freeaddrinfo(res);
    if (rc < 0) {
        free_client(c);
        return NULL;
    }
    if (h3_glue_start_session(&c->g, &session_cbs, c->info.peer) < 0) {
        client_fail(e, CLIENT_RECV,
                    c->g.early_lost ? "too many streams from the server before the "
                                      "handshake completed"
                                    : "out of memory");
        free_client(c);
        return NULL;
    }
    pump(c);
    flush(c);
    return c;
}

int h3_client_submit(struct h3_client *c, struct client_transfer *t)
{
    t->done = t->unprocessed = false;
    t->attempts++;
    memset(&t->e, 0, sizeof(t->e));
    struct xfer *x = calloc(1, sizeof(*x));
    if (!x) {
        t->done = true;
        return client_fail(&t->e, CLIENT_SEND, "out of memory");
    }
    x->t = t;
    x->next = c->xfers;
    c->xfers = x;
    const struct client_request *rq = t->rq;
    if (client_request_fields(rq, &x->f) < 0) {
        t->done = true;
        return client_fail(&t->e, CLIENT_SEND, "the request's fields cannot be sent");
    }
    x->f.scheme = STR_LIT("https");
    struct body_source *body = rq->body_len != 0 ? client_upload_init(&x->up, rq) : NULL;
    struct h3_request_head h = {.method = x->f.method,
                                .scheme = x->f.scheme,
                                .authority = x->f.authority,
                                .path = x->f.path,
                                .names = x->f.names,
                                .values = x->f.values,
                                .n = x->f.n};
    if (t->sinks->request_head) {
        struct buf text = {0};
        if (client_request_fields_text(&x->f, "HTTP/3", &text) == 0)
            t->sinks->request_head(t->sinks->ctx, buf_ptr(&text), buf_size(&text));
        buf_free(&text);
    }
    struct h3_stream *st = h3_session_submit(c->g.s, &h, body, rq->body_len, x);
    if (!st) {
        t->done = true;
        return client_fail(&t->e, CLIENT_SEND, "%s",
                           c->g.s->peer_goaway_id != UINT64_MAX
                               ? "the server is going away (GOAWAY): the request was not sent"
                               : "no HTTP/3 request stream could be opened");
    }
    t->wire = st;
    pump(c);
    return 0;
}

static bool all_done(const struct h3_client *c)
{
    for (const struct xfer *x = c->xfers; x; x = x->next)
        if (!x->t->done) return false;
    return true;
}

/* Every transfer still running fails with e. */
static void fail_all(struct h3_client *c, const struct client_error *e)
{
    for (struct xfer *x = c->xfers; x; x = x->next)
        if (!x->t->done) {
            x->t->done = true;
            if (!x->t->e.status) x->t->e = *e;
        }
}

int h3_client_run(struct h3_client *c, struct client_error *e)
{
    while (!all_done(c)) {
        if (quic_conn_state(c->g.qc) != QUIC_CONN_ACTIVE || h3_session_done(c->g.s)) {
            uint64_t code = h3_session_error_code(c->g.s);
            if (code != UINT64_MAX && code != H3_NO_ERROR)
                client_fail(e, CLIENT_HTTP3, "HTTP/3 connection error %s: %s", h3_error_name(code),
                            h3_session_error_reason(c->g.s));
            else
                quic_error(c, e);
            fail_all(c, e);
            return -1;
        }
        if (c->deadline_ms && client_now_ms() >= c->deadline_ms) {
            client_fail(e, CLIENT_TIMEOUT, "Operation timed out");
            fail_all(c, e);
            return -1;
        }
        step(c, c->deadline_ms);
    }
    return 0;
}

void h3_client_close(struct h3_client *c)
{
    if (!c) return;
    if (quic_conn_state(c->g.qc) == QUIC_CONN_ACTIVE) {
        quic_conn_close(c->g.qc, H3_NO_ERROR, "");
        flush(c);
    }
    free_client(c);
}

const struct h3_client_info *h3_client_info(const struct h3_client *c)
{
    return &c->info;
}

#else /* no QUIC in this build */

struct h3_client *h3_client_open(const struct h3_client_params *p, struct client_error *e)
{
    (void)p;
    client_fail(e, CLIENT_UNSUPPORTED, "this tern was built without HTTP/3 (QUIC)");
    return NULL;
}

int h3_client_submit(struct h3_client *c, struct client_transfer *t)
{
    (void)c, (void)t;
    return -1;
}

int h3_client_run(struct h3_client *c, struct client_error *e)
{
    (void)c;
    return client_fail(e, CLIENT_UNSUPPORTED, "no HTTP/3");
}

void h3_client_close(struct h3_client *c)
{
    (void)c;
}

const struct h3_client_info *h3_client_info(const struct h3_client *c)
{
    (void)c;
    return NULL;
}

#endif
