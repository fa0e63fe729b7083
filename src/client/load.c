#include "client/load.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/exchange.h"
#include "client/load_internal.h"
#include "client/transport.h"
#include "core/buf.h"
#include "core/loop.h"
#include "h1/chunked.h"
#include "h1/parser.h"
#include "h2/session.h"
#include "h3/session.h"
#include "tls/tls.h"

#define READ_CHUNK 65536
#define TICK_MS    10

static void conn_event(struct io_watch *w, uint32_t events);

int64_t load_now_us(void)
{
    return client_now_us();
}

/* May another request start now, and when was it due? */
bool load_may_start(struct lthread *t, int64_t now, int64_t *due)
{
    if (t->over || t->r.started >= t->quota) return false;
    if (t->end && now >= t->end) {
        t->over = true;
        return false;
    }
    if (t->rate > 0) {
        int64_t d = t->t0 + (int64_t)((double)t->r.started * 1e6 / t->rate);
        if (d > now) return false;
        *due = d;
    } else {
        *due = now;
    }
    return true;
}

/* The connection started a request or closed: it no longer holds one of the requests left. */
void load_unfresh(struct lconn *c)
{
    if (!c->fresh) return;
    c->fresh = false;
    c->t->opening--;
}

void load_conn_close(struct lconn *c)
{
    load_unfresh(c);
    if (c->state == C_CLOSED) return;
    if (c->h3) {
        load_h3_close(c); /* its socket, its timer, the QUIC connection and the session */
    } else {
        loop_remove(c->t->loop, &c->w);
        if (c->h2) {
            c->t->r.bytes_head += c->h2->header_bytes_in;
            c->tearing_down = true;
            h2_session_free(c->h2);
            c->h2 = NULL;
            c->tearing_down = false;
        }
        if (c->tls) tls_conn_free(c->tls);
        c->tls = NULL;
        close(c->w.fd);
    }
    c->w.fd = -1;
    c->state = C_CLOSED;
    buf_clear(&c->out);
    buf_clear(&c->in);
    c->inflight = 0;
    c->served = 0;
    c->in_body = false;
    c->close_after = false;
    h1_parser_reset(&c->parser);
}

/* The requests in flight on a failed connection fail (errored: the network or the protocol). */
void load_conn_fail(struct lconn *c, bool timeout)
{
    struct load_result *r = &c->t->r;
    r->failed += (uint64_t)c->inflight;
    if (timeout)
        r->timeouts += (uint64_t)c->inflight;
    else
        r->errored += (uint64_t)c->inflight;
    load_conn_close(c);
}

/* RFC 9112 §9.3.1: a server may close a kept-alive connection just as a request goes out on
 * it; a client then sends the (idempotent) request again on a new connection, as browsers and
 * curl do. True when that is the case for c (HTTP/1.1, a response already read on it, not a
 * byte of the next one), and the requests in flight were put back to start again. */
static bool load_conn_retry(struct lconn *c)
{
    if (c->h2 || c->h3 || !c->inflight || !c->served || c->first_byte || c->in_body ||
        buf_size(&c->in))
        return false;
    c->t->r.started -= (uint64_t)c->inflight;
    c->t->r.retried += (uint64_t)c->inflight;
    load_conn_close(c);
    return true;
}

/* A connect failed. While no connection has worked yet the server is taken to be down: the
 * slot is not retried (so a bench against nothing ends), later ones are. */
void load_connect_failed(struct lconn *c)
{
    c->t->r.connect_errors++;
    if (!c->t->r.connects) c->dead = true;
}

static void conn_open(struct lconn *c)
{
    struct lthread *t = c->t;
    /* with -n, no more connections than requests left: each new one takes one of them */
    if (c->dead || t->over || t->r.started + t->opening >= t->quota ||
        (t->end && load_now_us() >= t->end))
        return;
    if (t->p->http3) {
        c->t_open = c->last_io = load_now_us();
        c->fresh = true;
        t->opening++;
        if (!load_h3_open(c)) {
            load_unfresh(c);
            load_connect_failed(c);
        }
        return;
    }
    int fd = socket(t->addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        load_connect_failed(c);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->w.fd = fd;
    c->w.cb = conn_event;
    c->state = C_CONNECTING;
    c->t_open = c->last_io = load_now_us();
    c->fresh = true;
    t->opening++;
    if ((connect(fd, (const struct sockaddr *)t->addr, t->addr_len) < 0 && errno != EINPROGRESS) ||
        loop_add(t->loop, &c->w, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
        close(fd);
        c->w.fd = -1;
        c->state = C_CLOSED;
        load_unfresh(c);
        load_connect_failed(c);
    }
}

static void complete(struct lconn *c)
{
    struct lthread *t = c->t;
    int64_t now = load_now_us();
    int slot = c->ring;
    t->r.done++;
    int cls = c->head.status / 100;
    if (cls >= 1 && cls <= 5) t->r.status[cls]++;
    if (c->head.status < 400)
        t->r.succeeded++;
    else
        t->r.failed++;
    hist_record(&t->r.latency, (uint64_t)(now - c->due[slot]));
    c->ring = (c->ring + 1) % MAX_DEPTH;
    c->inflight--;
    c->served++;
    c->in_body = false;
    c->first_byte = false;
    if (!c->head.keep_alive || t->p->reconnect) c->close_after = true;
    h1_parser_reset(&c->parser);
}

/* Parses what arrived: response heads and bodies. false when the connection failed. */
static bool parse_input(struct lconn *c)
{
    static const struct h1_parse_options opts = {
        .max_request_line = 8192, .max_head_size = 65536, .max_fields = 64};
    struct lthread *t = c->t;
    for (;;) {
        size_t n = buf_size(&c->in);
        if (!n) return true;
        if (!c->inflight) { /* bytes nobody asked for */
            load_conn_fail(c, false);
            return false;
        }
        if (!c->first_byte) {
            c->first_byte = true;
            hist_record(&t->r.ttfb, (uint64_t)(load_now_us() - c->sent[c->ring]));
        }
        if (!c->in_body) {
            struct h1_error err;
            c->head.fields = c->fields;
            int rc = h1_parse_response_head(&c->parser, buf_ptr(&c->in), n, &opts, &c->head, &err);
            if (rc == 0) return true;
            if (rc < 0) {
                load_conn_fail(c, false);
                return false;
            }
            t->r.bytes_head += (uint64_t)rc;
            buf_consume(&c->in, (size_t)rc);
            if (c->head.status < 200 && c->head.status != 101) { /* interim */
                h1_parser_reset(&c->parser);
                continue;
            }
            c->kind = h1_response_body(&c->head, false, false);
            c->left = c->head.content_length;
            h1_chunked_decoder_init(&c->dec);
            c->in_body = true;
            if (c->kind == H1_BODY_NONE || (c->kind == H1_BODY_LENGTH && c->left == 0)) {
                complete(c);
                continue;
            }
            if (c->kind == H1_BODY_CLOSE) c->close_after = true;
            continue;
        }
        char *p = buf_ptr(&c->in);
        if (c->kind == H1_BODY_LENGTH) {
            size_t take = (int64_t)n < c->left ? n : (size_t)c->left;
            t->r.bytes_body += take;
            c->left -= (int64_t)take;
            buf_consume(&c->in, take);
            if (c->left == 0) complete(c);
        } else if (c->kind == H1_BODY_CHUNKED) {
            size_t used = 0, out = 0;
            enum h1_chunked_result r = h1_chunked_decode(&c->dec, p, n, &used, p, &out);
            if (r == H1_CHUNKED_ERROR) {
                load_conn_fail(c, false);
                return false;
            }
            t->r.bytes_body += out;
            buf_consume(&c->in, used);
            if (r == H1_CHUNKED_DONE) complete(c);
        } else { /* until close */
            t->r.bytes_body += n;
            buf_consume(&c->in, n);
        }
    }
}

/* ---- HTTP/2 ---- */

static void h2_on_response(struct h2_session *s, struct h2_stream *st, bool interim)
{
    struct stream_slot *sl = st->user;
    struct lthread *t = sl->c->t;
    if (!sl->first_byte) {
        sl->first_byte = true;
        hist_record(&t->r.ttfb, (uint64_t)(load_now_us() - sl->sent));
    }
    /* decoded as h2load counts them (RFC 7541 §4.1's 32 octets of overhead aside) */
    for (size_t i = 0; i < st->resp.headers.count; i++)
        t->r.bytes_head_decoded +=
            st->resp.headers.items[i].name.len + st->resp.headers.items[i].value.len;
    t->r.bytes_head_decoded += 7; /* ":status" */
    t->r.bytes_head_decoded += 3;
    (void)s;
    if (!interim) sl->status = st->resp.status;
}

static int h2_on_data(struct h2_session *s, struct h2_stream *st, const uint8_t *d, size_t n)
{
    (void)s;
    (void)d;
    struct stream_slot *sl = st->user;
    sl->c->t->r.bytes_body += n;
    return 0;
}

static void h2_on_close(struct h2_session *s, struct h2_stream *st)
{
    (void)s;
    struct stream_slot *sl = st->user;
    struct lconn *c = sl->c;
    struct lthread *t = c->t;
    sl->used = false;
    if (c->tearing_down) return; /* counted by conn_fail, or a finished bench */
    c->inflight--;
    if (st->error_code == H2_REFUSED_STREAM && !sl->first_byte) {
        t->r.started--; /* not processed (§8.7): it starts again */
        return;
    }
    load_slot_done(c, sl, st->response_done && !st->error);
}

static const struct h2_session_callbacks h2_callbacks = {
    .on_response = h2_on_response, .on_data = h2_on_data, .on_stream_close = h2_on_close};

/* Starts the session once the connection is open (after ALPN "h2" on TLS). */
static bool h2_start(struct lconn *c)
{
    struct lthread *t = c->t;
    if (c->tls) {
        const char *alpn = tls_conn_alpn(c->tls);
        if (!alpn || strcmp(alpn, "h2") != 0) return false; /* the server does not speak h2 */
    }
    if (!c->slots && !(c->slots = calloc((size_t)t->p->depth, sizeof(*c->slots)))) return false;
    struct h2_session_params sp;
    h2_session_client_params(&sp, c->tls != NULL, "server");
    c->h2 = h2_session_new(&sp, &h2_callbacks, c, load_now_us() / 1000);
    return c->h2 != NULL;
}

static bool h2_fill_and_write(struct lconn *c)
{
    struct lthread *t = c->t;
    int64_t now = load_now_us(), due;
    while (!c->close_after && c->inflight < t->p->depth && h2_session_can_submit(c->h2) &&
           load_may_start(t, now, &due)) {
        struct stream_slot *sl = NULL;
        for (int i = 0; i < t->p->depth && !sl; i++)
            if (!c->slots[i].used) sl = &c->slots[i];
        if (!sl) break;
        struct h2_request_out rq = *t->h2_req;
        rq.user = sl;
        *sl = (struct stream_slot){.c = c, .due = due, .sent = now, .used = true};
        if (!h2_session_submit(c->h2, &rq)) {
            sl->used = false;
            break;
        }
        c->inflight++;
        t->r.started++;
        load_unfresh(c);
        if (t->p->reconnect) break; /* one request per connection */
    }
    if (!c->inflight && !h2_session_can_submit(c->h2)) c->close_after = true; /* GOAWAY */
    struct buf *out = h2_session_output(c->h2);
    for (;;) {
        if (!buf_size(out)) {
            h2_session_produce(c->h2, 256 * 1024);
            if (!buf_size(out)) break;
        }
        ssize_t n = c->tls ? tls_conn_write(c->tls, buf_ptr(out), buf_size(out))
                           : send(c->w.fd, buf_ptr(out), buf_size(out), MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EAGAIN) break;
        if (n < 0 && errno == EINTR) continue;
        load_conn_fail(c, false);
        return false;
    }
    if (h2_session_done(c->h2) && !buf_size(out)) {
        if (c->inflight)
            load_conn_fail(c, false);
        else
            c->close_after = true;
        return c->state != C_CLOSED;
    }
    return true;
}

/* Feeds what arrived to the session. false when the connection failed. */
static bool h2_input(struct lconn *c)
{
    size_t used = h2_session_recv(c->h2, (const uint8_t *)buf_ptr(&c->in), buf_size(&c->in),
                                  load_now_us() / 1000);
    buf_consume(&c->in, used);
    if (c->h2->dead) {
        load_conn_fail(c, false);
        return false;
    }
    return true;
}

/* ---- HTTP/1.1 ---- */

/* Queues the requests that may start, then writes what is queued. false on failure. */
static bool fill_and_write(struct lconn *c)
{
    struct lthread *t = c->t;
    if (c->h2) return h2_fill_and_write(c);
    int64_t now = load_now_us(), due;
    while (!c->close_after && c->inflight < t->p->depth && load_may_start(t, now, &due)) {
        if (buf_append(&c->out, t->req, t->req_len) < 0) break;
        int slot = (c->ring + c->inflight) % MAX_DEPTH;
        c->due[slot] = due;
        c->sent[slot] = now;
        c->inflight++;
        t->r.started++;
        load_unfresh(c);
        if (t->p->reconnect) break; /* one request per connection */
    }
    while (buf_size(&c->out)) {
        ssize_t n = c->tls ? tls_conn_write(c->tls, buf_ptr(&c->out), buf_size(&c->out))
                           : send(c->w.fd, buf_ptr(&c->out), buf_size(&c->out), MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EAGAIN) break;
        if (n < 0 && errno == EINTR) continue;
        if (!load_conn_retry(c)) load_conn_fail(c, false);
        return false;
    }
    buf_compact(&c->out);
    return true;
}

/* Reads until the socket would block. false when the connection is gone. */
static bool read_all(struct lconn *c)
{
    struct lthread *t = c->t;
    for (;;) {
        if (buf_reserve(&c->in, READ_CHUNK) < 0) {
            load_conn_fail(c, false);
            return false;
        }
        ssize_t n = c->tls ? tls_conn_read(c->tls, buf_tail(&c->in), READ_CHUNK)
                           : read(c->w.fd, buf_tail(&c->in), READ_CHUNK);
        if (n > 0) {
            buf_commit(&c->in, (size_t)n);
            t->r.bytes_total += (uint64_t)n;
            c->last_io = load_now_us();
            if (!(c->h2 ? h2_input(c) : parse_input(c))) return false;
            buf_compact(&c->in);
            continue;
        }
        if (n < 0 && errno == EAGAIN) return true;
        if (n < 0 && errno == EINTR) continue;
        /* the end of the stream: a close-delimited body ends here, the rest failed */
        if (n == 0 && c->in_body && c->kind == H1_BODY_CLOSE) complete(c);
        if (load_conn_retry(c)) return false;
        if (c->inflight)
            load_conn_fail(c, false);
        else
            load_conn_close(c);
        return false;
    }
}

void load_connected(struct lconn *c)
{
    if (!c->t_open) return;
    c->t->r.connects++;
    hist_record(&c->t->r.connect, (uint64_t)(load_now_us() - c->t_open));
    c->t_open = 0;
}

void load_slot_done(struct lconn *c, struct stream_slot *sl, bool ok)
{
    struct lthread *t = c->t;
    if (!ok) {
        t->r.failed++;
        t->r.errored++;
        return;
    }
    t->r.done++;
    int cls = sl->status / 100;
    if (cls >= 1 && cls <= 5) t->r.status[cls]++;
    if (sl->status < 400)
        t->r.succeeded++;
    else
        t->r.failed++;
    hist_record(&t->r.latency, (uint64_t)(load_now_us() - sl->due));
    if (t->p->reconnect) c->close_after = true;
}

static void drive(struct lconn *c)
{
    struct lthread *t = c->t;
    if (c->h3) {
        load_h3_drive(c);
        return;
    }
    if (c->state == C_CONNECTING) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(c->w.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) {
            load_conn_close(c);
            load_connect_failed(c);
            return;
        }
        if (t->p->url->https) {
            c->tls = tls_conn_new_client(t->p->tls, c->w.fd, t->p->url->host);
            if (!c->tls) {
                load_conn_close(c);
                load_connect_failed(c);
                return;
            }
            c->state = C_HANDSHAKE;
        } else {
            c->state = C_OPEN;
        }
    }
    if (c->state == C_HANDSHAKE) {
        int r = tls_conn_handshake(c->tls);
        if (r == 0) return;
        if (r < 0) {
            load_conn_close(c);
            load_connect_failed(c);
            return;
        }
        c->state = C_OPEN;
    }
    if (c->state != C_OPEN) return;
    if (t->p->http2 && !c->h2) {
        if (!h2_start(c)) {
            load_conn_close(c);
            load_connect_failed(c);
            return;
        }
    }
    load_connected(c);
    for (int round = 0; round < 64; round++) {
        if (!fill_and_write(c)) return;
        if (!read_all(c)) return;
        if (c->close_after && c->inflight == 0) {
            load_conn_close(c);
            return;
        }
        int64_t due;
        if (c->inflight >= t->p->depth || !load_may_start(t, load_now_us(), &due)) return;
    }
}

static bool thread_finished(struct lthread *t)
{
    int dead = 0;
    for (int i = 0; i < t->n_conns; i++)
        dead += t->conns[i].dead;
    if (dead == t->n_conns) return true;
    if (!t->over && t->r.started < t->quota) return false;
    for (int i = 0; i < t->n_conns; i++)
        if (t->conns[i].inflight && !t->end) return false;
    return true;
}

static void conn_event(struct io_watch *w, uint32_t events)
{
    (void)events;
    struct lconn *c = (struct lconn *)w;
    drive(c);
    load_after_event(c);
}

void load_after_event(struct lconn *c)
{
    if (c->state == C_CLOSED) conn_open(c); /* go on with a new connection */
    if (thread_finished(c->t)) loop_stop(c->t->loop);
}

static void on_tick(struct timer *tm)
{
    struct lthread *t = (struct lthread *)((char *)tm - offsetof(struct lthread, tick));
    int64_t now = load_now_us();
    if (t->end && now >= t->end) t->over = true;
    for (int i = 0; i < t->n_conns; i++) {
        struct lconn *c = &t->conns[i];
        if (c->state != C_CLOSED && c->inflight && t->p->timeout_s > 0 &&
            now - c->last_io > (int64_t)(t->p->timeout_s * 1e6))
            load_conn_fail(c, true);
        if (c->state == C_CLOSED)
            conn_open(c);
        else if (c->state == C_OPEN)
            drive(c); /* open loop: requests that came due */
    }
    if (thread_finished(t)) {
        loop_stop(t->loop);
        return;
    }
    timer_arm(t->loop, &t->tick, loop_now_ms(t->loop) + TICK_MS);
}

static void *thread_main(void *arg)
{
    struct lthread *t = arg;
    t->t0 = load_now_us();
    if (t->p->duration_s > 0 && !t->p->requests) t->end = t->t0 + (int64_t)(t->p->duration_s * 1e6);
    for (int i = 0; i < t->n_conns; i++)
        conn_open(&t->conns[i]);
    t->tick.cb = on_tick;
    timer_arm(t->loop, &t->tick, loop_now_ms(t->loop) + TICK_MS);
    if (!thread_finished(t)) loop_run(t->loop);
    timer_cancel(&t->tick);
    for (int i = 0; i < t->n_conns; i++) {
        load_conn_close(&t->conns[i]);
        load_h3_free(&t->conns[i]);
        buf_free(&t->conns[i].in);
        buf_free(&t->conns[i].out);
        free(t->conns[i].slots);
    }
    return NULL;
}

static void sum_into(struct load_result *r, const struct load_result *x)
{
    r->started += x->started;
    r->done += x->done;
    r->succeeded += x->succeeded;
    r->failed += x->failed;
    r->errored += x->errored;
    r->retried += x->retried;
    r->timeouts += x->timeouts;
    for (int i = 0; i < 6; i++)
        r->status[i] += x->status[i];
    r->bytes_total += x->bytes_total;
    r->bytes_head += x->bytes_head;
    r->bytes_body += x->bytes_body;
    r->bytes_head_decoded += x->bytes_head_decoded;
    r->connects += x->connects;
    r->connect_errors += x->connect_errors;
    hist_merge(&r->latency, &x->latency);
    hist_merge(&r->connect, &x->connect);
    hist_merge(&r->ttfb, &x->ttfb);
}

static char *build_request(const struct load_params *p, size_t *len)
{
    struct buf b = {0};
    char auth[300];
    url_authority(p->url, auth, sizeof(auth));
    buf_appendf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tern-bench/%s\r\n", p->url->target,
                auth, TERN_VERSION);
    bool accept = false;
    for (int i = 0; i < p->n_headers; i++) {
        buf_appendf(&b, "%s\r\n", p->headers[i]);
        accept |= strncasecmp(p->headers[i], "accept:", 7) == 0;
    }
    if (!accept) buf_appendf(&b, "Accept: */*\r\n");
    if (buf_append(&b, "\r\n", 2) < 0) {
        buf_free(&b);
        return NULL;
    }
    *len = buf_size(&b);
    char *s = malloc(*len);
    if (s) memcpy(s, buf_ptr(&b), *len);
    buf_free(&b);
    return s;
}

int load_run(const struct load_params *p, struct load_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    hist_init(&r->latency);
    hist_init(&r->connect);
    hist_init(&r->ttfb);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", p->url->port);
    if (getaddrinfo(p->url->host, port, &hints, &res) != 0 || !res) {
        snprintf(err, errlen, "could not resolve host: %s", p->url->host);
        return -1;
    }
    struct sockaddr_storage addr;
    socklen_t addr_len = res->ai_addrlen;
    memcpy(&addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    size_t req_len = 0;
    char *req = build_request(p, &req_len);
    /* the same request as a field section for HTTP/2 */
    char ua[64];
    snprintf(ua, sizeof(ua), "User-Agent: tern-bench/%s", TERN_VERSION);
    const char *lines[65];
    int n_lines = 0;
    lines[n_lines++] = ua;
    for (int i = 0; i < p->n_headers && n_lines < 65; i++)
        lines[n_lines++] = p->headers[i];
    struct client_request crq = {.method = "GET",
                                 .url = p->url,
                                 .headers = lines,
                                 .n_headers = (size_t)n_lines,
                                 .body_fd = -1,
                                 .body_len = -1};
    struct client_request_fields fields;
    if (client_request_fields(&crq, &fields) < 0) {
        buf_free(&fields.text);
        free(req);
        snprintf(err, errlen, "invalid request header fields");
        return -1;
    }
    struct h2_request_out h2_req = {.method = fields.method,
                                    .scheme = fields.scheme,
                                    .authority = fields.authority,
                                    .path = fields.path,
                                    .names = fields.names,
                                    .values = fields.values,
                                    .n_fields = fields.n};
    /* and for HTTP/3 */
    struct h3_request_head h3_req = {.method = fields.method,
                                     .scheme = fields.scheme,
                                     .authority = fields.authority,
                                     .path = fields.path,
                                     .names = fields.names,
                                     .values = fields.values,
                                     .n = fields.n};
    int nt = p->threads > p->connections ? p->connections : p->threads;
    struct lthread *ts = calloc((size_t)nt, sizeof(*ts));
    if (!req || !ts) {
        free(req);
        free(ts);
        buf_free(&fields.text);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int64_t t_start = load_now_us();
    int made = 0;
    for (int i = 0; i < nt; i++) {
        struct lthread *t = &ts[i];
        t->p = p;
        t->addr = &addr;
        t->addr_len = addr_len;
        t->req = req;
        t->req_len = req_len;
        t->h2_req = &h2_req;
        t->h3_req = &h3_req;
        t->n_conns = p->connections / nt + (i < p->connections % nt);
        t->quota = p->requests
                       ? p->requests / (uint64_t)nt + ((uint64_t)i < p->requests % (uint64_t)nt)
                       : UINT64_MAX;
        t->rate = p->rate / nt;
        t->conns = calloc((size_t)t->n_conns, sizeof(*t->conns));
        t->loop = loop_create();
        hist_init(&t->r.latency);
        hist_init(&t->r.connect);
        hist_init(&t->r.ttfb);
        if (p->http3) t->dgram = malloc(LOAD_DGRAM_BUF);
        if (!t->conns || !t->loop || (p->http3 && !t->dgram)) break;
        for (int k = 0; k < t->n_conns; k++) {
            t->conns[k].t = t;
            t->conns[k].w.fd = -1;
        }
        if (pthread_create(&t->th, NULL, thread_main, t) != 0) break;
        made++;
    }
    for (int i = 0; i < made; i++)
        pthread_join(ts[i].th, NULL);
    r->seconds = (double)(load_now_us() - t_start) / 1e6;
    for (int i = 0; i < nt; i++) {
        if (i < made) sum_into(r, &ts[i].r);
        free(ts[i].conns);
        free(ts[i].dgram);
        if (ts[i].loop) loop_destroy(ts[i].loop);
    }
    free(ts);
    free(req);
    buf_free(&fields.text);
    if (made < nt) {
        snprintf(err, errlen, "could not start %d threads", nt);
        return -1;
    }
    return 0;
}
