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

#include "client/upload.h"
#include "h3/session.h"
#include "quic/quic_client.h"

#define DGRAM_BUF 65536
/* Limits for what a server sends (the request side is ours). */
#define RESPONSE_SECTION_MAX (64 * 1024)
#define QPACK_TABLE          4096
#define QPACK_BLOCKED        16

/* One transfer's wire state. */
struct xfer {
    struct client_transfer *t;
    struct client_request_fields f;
    struct client_upload up; /* the request body source */
    bool got_head;           /* the final head came */
    struct xfer *next;
};

/* Stream bytes the server sent before our handshake completed (its control and QPACK streams
 * in 0.5-RTT data), kept until the session exists; QUIC flow control bounds them. */
#define EARLY_STREAMS 4
struct early_stream {
    int64_t id;
    struct buf data;
    bool fin;
};

struct h3_client {
    int fd;
    struct quic_path path;
    struct quic_conn *qc;
    struct h3_session *s;
    int64_t deadline_ms;
    struct xfer *xfers;
    bool refused; /* ICMP port unreachable: nothing listens there */
    struct early_stream early[EARLY_STREAMS];
    size_t n_early;
    bool early_lost; /* more streams than early[] holds, or OOM: the connection fails */
    struct h3_client_info info;
    uint8_t buf[DGRAM_BUF];
};

/* ---- the session's callbacks (client role) ---- */

static int64_t open_uni(void *ud)
{
    struct h3_client *c = ud;
    int64_t id;
    return quic_open_uni_stream(c->qc, &id) == 0 ? id : -1;
}

static int64_t open_bidi(void *ud)
{
    struct h3_client *c = ud;
    int64_t id;
    return quic_open_bidi_stream(c->qc, &id) == 0 ? id : -1;
}

static void reset_stream(void *ud, int64_t id, uint64_t code)
{
    struct h3_client *c = ud;
    quic_stream_reset(c->qc, id, code);
}

static void stop_sending(void *ud, int64_t id, uint64_t code)
{
    struct h3_client *c = ud;
    quic_stream_stop_sending(c->qc, id, code);
}

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
    .open_uni = open_uni,
    .open_bidi = open_bidi,
    .reset_stream = reset_stream,
    .stop_sending = stop_sending,
    .on_response_head = on_head,
    .on_response_data = on_data,
    .on_response_end = on_end,
};

/* ---- QUIC's callbacks ---- */

static void q_handshake_done(struct quic_conn *qc, void *app)
{
    (void)qc;
    struct h3_client *c = app;
    c->info.t_tls_done = client_now_us();
}

static ssize_t q_stream_data(struct quic_conn *qc, int64_t id, const uint8_t *data, size_t len,
                             bool fin, void *app)
{
    (void)qc;
    struct h3_client *c = app;
    if (c->s) {
        h3_session_recv_stream(c->s, id, data, len, fin, client_now_ms());
        return (ssize_t)len; /* the session keeps what it needs: credit goes back at once */
    }
    size_t i = 0;
    while (i < c->n_early && c->early[i].id != id)
        i++;
    if (i == c->n_early) {
        if (i == EARLY_STREAMS) {
            c->early_lost = true;
            return (ssize_t)len;
        }
        c->early[c->n_early++].id = id;
    }
    if (buf_append(&c->early[i].data, data, len) < 0) c->early_lost = true;
    c->early[i].fin = fin;
    return (ssize_t)len;
}

/* Hands the bytes that came before the session to it. */
static void replay_early(struct h3_client *c)
{
    for (size_t i = 0; i < c->n_early; i++) {
        struct early_stream *es = &c->early[i];
        h3_session_recv_stream(c->s, es->id, (const uint8_t *)buf_ptr(&es->data),
                               buf_size(&es->data), es->fin, client_now_ms());
        buf_free(&es->data);
    }
    c->n_early = 0;
}

static void q_stream_reset(struct quic_conn *qc, int64_t id, uint64_t code, void *app)
{
    (void)qc;
    struct h3_client *c = app;
    if (c->s) h3_session_stream_reset(c->s, id, code, client_now_ms());
}

static const struct quic_conn_callbacks quic_cbs = {
    .handshake_done = q_handshake_done,
    .stream_data = q_stream_data,
    .stream_reset = q_stream_reset,
    /* STOP_SENDING ends only our upload (the response may still come, RFC 9114 §4.1.1);
     * src/quic drops what was left of it */
};

/* ---- the socket ---- */

/* Sends what QUIC has to send now; a train is cut into its datagrams. */
static void flush(struct h3_client *c)
{
    struct quic_train t;
    uint64_t now = quic_now_ns();
    size_t n;
    while ((n = quic_conn_write_train(c->qc, c->buf, sizeof(c->buf), 16, &t, now)) > 0) {
        for (size_t off = 0; off < n; off += t.seg) {
            size_t len = n - off < t.seg ? n - off : t.seg;
            /* a lost datagram is QUIC's to recover, as any loss */
            (void)send(c->fd, c->buf + off, len, MSG_DONTWAIT);
        }
    }
}

/* Reads every datagram waiting. */
static void receive(struct h3_client *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == ECONNREFUSED) c->refused = true;
            if (errno == EINTR) continue;
            return;
        }
        if (!c->info.t_connected) c->info.t_connected = client_now_us();
        quic_conn_recv(c->qc, c->buf, (size_t)n, &c->path, 0, quic_now_ns());
    }
}

/* Moves the session's output into the QUIC streams; closes the connection when the session
 * failed. */
static void pump(struct h3_client *c)
{
    if (!c->s || quic_conn_state(c->qc) != QUIC_CONN_ACTIVE) return;
    h3_session_set_time(c->s, client_now_ms());
    int64_t id = -1;
    const uint8_t *data;
    size_t len;
    bool fin;
    while (h3_session_next_output(c->s, &id, &data, &len, &fin)) {
        ssize_t n = quic_stream_send(c->qc, id, data, len, fin);
        if (n < 0)
            h3_session_output_consumed(c->s, id, len); /* the stream is gone: drop it */
        else if (n > 0 || (len == 0 && fin))
            h3_session_output_consumed(c->s, id, (size_t)n);
    }
    if (h3_session_done(c->s)) {
        uint64_t code = h3_session_error_code(c->s);
        quic_conn_close(c->qc, code == UINT64_MAX ? H3_NO_ERROR : code, "HTTP/3 error");
    }
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
    uint64_t exp = quic_conn_expiry(c->qc);
    uint64_t now = quic_now_ns();
    int64_t wait_ms = -1;
    if (exp != UINT64_MAX) wait_ms = exp <= now ? 0 : (int64_t)((exp - now + 999999) / 1000000);
    if (until) {
        int64_t left = until - client_now_ms();
        if (left < 0) left = 0;
        if (wait_ms < 0 || left < wait_ms) wait_ms = left;
    }
    if (wait_ms > 1000000) wait_ms = 1000000;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int r = poll(&p, 1, (int)wait_ms);
    if (r > 0) receive(c);
    now = quic_now_ns();
    if (quic_conn_expiry(c->qc) <= now) quic_conn_handle_expiry(c->qc, now);
    pump(c);
    flush(c);
}

/* The connection's failure as curl's exit codes put it. */
static int quic_error(struct h3_client *c, struct client_error *e)
{
    char msg[200];
    if (c->refused)
        return client_fail(e, CLIENT_CONNECT, "connect to %s failed: connection refused (QUIC)",
                           c->info.peer);
    switch (quic_client_failure(c->qc, msg, sizeof(msg))) {
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
    h3_session_free(c->s); /* ends the transfers still running */
    for (size_t i = 0; i < c->n_early; i++)
        buf_free(&c->early[i].data);
    quic_conn_free(c->qc);
    if (c->fd >= 0) close(c->fd);
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
    c->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return client_fail(e, CLIENT_CONNECT, "socket: %s", strerror(errno));
    memset(&c->path, 0, sizeof(c->path));
    memcpy(&c->path.remote, ai->ai_addr, ai->ai_addrlen);
    c->path.remote_len = ai->ai_addrlen;
    c->path.local_len = sizeof(c->path.local);
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        getsockname(c->fd, (struct sockaddr *)&c->path.local, &c->path.local_len) < 0)
        return client_fail(e, CLIENT_CONNECT, "connect to %s failed: %s", c->info.peer,
                           strerror(errno));
    const struct url *u = p->url;
    struct quic_client_config qcfg = {
        .host = u->host,
        .host_is_ip = u->ipv6 || strspn(u->host, "0123456789.") == strlen(u->host),
        .cacert = p->cacert,
        .insecure = p->insecure,
        .cb = &quic_cbs,
        .app = c,
    };
    char err[200];
    c->qc = quic_client_connect(&qcfg, &c->path, quic_now_ns(), err, sizeof(err));
    if (!c->qc)
        return client_fail(e, p->cacert && strstr(err, p->cacert) ? 77 : CLIENT_TLS, "%s", err);
    while (!quic_conn_handshake_done(c->qc)) {
        if (quic_conn_state(c->qc) != QUIC_CONN_ACTIVE || c->refused) {
            int rc = quic_error(c, e);
            for (int i = 0; i < 3 && quic_conn_state(c->qc) == QUIC_CONN_CLOSING; i++)
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
    quic_client_tls_info(c->qc, &c->info.tls_version, &c->info.cipher, &c->info.alpn);
    return 0;
}

/* Forgets a failed address's connection and socket. */
static void drop_address(struct h3_client *c)
{
    quic_conn_free(c->qc);
    c->qc = NULL;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    for (size_t i = 0; i < c->n_early; i++)
        buf_free(&c->early[i].data);
    c->n_early = 0;
    c->refused = false;
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
    c->fd = -1;
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
    struct h3_session_params sp = {
        .max_field_section_size = RESPONSE_SECTION_MAX,
        .header_count = CLIENT_MAX_FIELDS,
        .body_size = UINT64_MAX,
        .max_resets_per_10s = 1000,
        .qpack_max_table_capacity = QPACK_TABLE,
        .qpack_blocked_streams = QPACK_BLOCKED,
        .peer = c->info.peer,
        .client = true,
    };
    c->s = h3_session_new(&sp, &session_cbs, c, client_now_ms());
    if (!c->s || c->early_lost) {
        client_fail(e, CLIENT_RECV,
                    c->s ? "too many streams from the server before the "
                           "handshake completed"
                         : "out of memory");
        free_client(c);
        return NULL;
    }
    replay_early(c);
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
    struct h3_stream *st = h3_session_submit(c->s, &h, body, rq->body_len, x);
    if (!st) {
        t->done = true;
        return client_fail(&t->e, CLIENT_SEND, "%s",
                           c->s->peer_goaway_id != UINT64_MAX
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
        if (quic_conn_state(c->qc) != QUIC_CONN_ACTIVE || h3_session_done(c->s)) {
            uint64_t code = h3_session_error_code(c->s);
            if (code != UINT64_MAX && code != H3_NO_ERROR)
                client_fail(e, CLIENT_HTTP3, "HTTP/3 connection error %s: %s", h3_error_name(code),
                            h3_session_error_reason(c->s));
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
    if (quic_conn_state(c->qc) == QUIC_CONN_ACTIVE) {
        quic_conn_close(c->qc, H3_NO_ERROR, "");
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
