/* `tern bench --h3`: HTTP/3 connections of the load generator. Each one is a connect(2)ed UDP
 * socket in its thread's event loop, tern's QUIC client connection and the h3 session in the
 * client role on top, glued as `tern get --http3` glues them (client/h3_glue.h); a timerfd per
 * connection honours QUIC's deadline (loss detection, ACK delay, pacing want sub-millisecond
 * precision, which the loop's 16 ms timer wheel does not give). Up to depth request streams
 * run at once; the server's stream limit (RFC 9000 §4.6) holds back the rest. */
#include "client/load_internal.h"

#ifdef TERN_HAVE_QUIC

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "client/h3_glue.h"

struct lconn_h3 {
    struct lconn *c;
    struct h3_glue g;
    struct io_watch tw; /* a timerfd armed at the QUIC deadline */
    uint64_t timer_at;  /* when it fires (quic_now_ns); 0: not armed */
    char peer[96];
};

/* ---- the session's response callbacks: every request counted once ---- */

static int on_head(struct h3_session *s, struct h3_stream *st, int status, const str_t *names,
                   const str_t *values, size_t n)
{
    (void)s;
    struct stream_slot *sl = st->user;
    struct lthread *t = sl->c->t;
    if (!sl->first_byte) {
        sl->first_byte = true;
        hist_record(&t->r.ttfb, (uint64_t)(load_now_us() - sl->sent));
    }
    /* decoded as h2load counts them (the coded bytes come from the session at the end) */
    for (size_t i = 0; i < n; i++)
        t->r.bytes_head_decoded += names[i].len + values[i].len;
    t->r.bytes_head_decoded += 7 + 3; /* ":status" and its value */
    if (status >= 200) sl->status = status;
    return 0;
}

static int on_data(struct h3_session *s, struct h3_stream *st, const uint8_t *p, size_t len)
{
    (void)s;
    (void)p;
    struct stream_slot *sl = st->user;
    sl->c->t->r.bytes_body += len;
    return 0;
}

static void on_end(struct h3_session *s, struct h3_stream *st, uint64_t code, const char *why)
{
    (void)s;
    (void)why;
    struct stream_slot *sl = st->user;
    struct lconn *c = sl->c;
    sl->used = false;
    if (c->tearing_down) return; /* counted by load_conn_fail, or a finished bench */
    c->inflight--;
    /* RFC 9114 §4.1.1, §5.2: a request rejected (or beyond the server's GOAWAY) was not
     * processed: it starts again */
    if (code == H3_REQUEST_REJECTED && !sl->first_byte) {
        c->t->r.started--;
        return;
    }
    load_slot_done(c, sl, code == H3_NO_ERROR);
}

static const struct h3_session_callbacks response_cbs = {
    .on_response_head = on_head,
    .on_response_data = on_data,
    .on_response_end = on_end,
};

/* ---- the timer ---- */

/* Arms the timerfd at the QUIC deadline, unless it fires at or before it already (a timer that
 * fires early finds nothing due and is armed again: cheaper than a system call each time). */
static void arm(struct lconn_h3 *h)
{
    uint64_t exp = quic_conn_expiry(h->g.qc), now = quic_now_ns();
    if (exp == UINT64_MAX) return;
    /* the deadline passed and did not move when it ran: give it a millisecond */
    if (exp <= now) exp = now + 1000000u;
    if (h->timer_at && h->timer_at <= exp) return;
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(exp / 1000000000u), .tv_nsec = (long)(exp % 1000000000u)}};
    if (timerfd_settime(h->tw.fd, TFD_TIMER_ABSTIME, &its, NULL) == 0) h->timer_at = exp;
}

static void disarm(struct lconn_h3 *h)
{
    struct itimerspec its = {0};
    timerfd_settime(h->tw.fd, 0, &its, NULL);
    h->timer_at = 0;
}

/* ---- requests ---- */

/* Starts the requests that may start now, on new request streams. */
static void fill(struct lconn *c)
{
    struct lthread *t = c->t;
    struct h3_session *s = c->h3->g.s;
    int64_t now = load_now_us(), due;
    bool going_away = s->dead || s->peer_goaway_id != UINT64_MAX;
    while (!going_away && !c->close_after && c->inflight < t->p->depth &&
           load_may_start(t, now, &due)) {
        struct stream_slot *sl = NULL;
        for (int i = 0; i < t->p->depth && !sl; i++)
            if (!c->slots[i].used) sl = &c->slots[i];
        if (!sl) break;
        *sl = (struct stream_slot){.c = c, .due = due, .sent = now, .used = true};
        /* NULL at the server's stream limit: MAX_STREAMS lets more start later */
        if (!h3_session_submit(s, t->h3_req, NULL, 0, sl)) {
            sl->used = false;
            break;
        }
        c->inflight++;
        t->r.started++;
        load_unfresh(c);
        if (t->p->reconnect) break; /* one request per connection */
    }
    if (!c->inflight && going_away) c->close_after = true; /* GOAWAY: go on with a new one */
}

/* ---- the connection ---- */

static void on_timer(struct io_watch *w, uint32_t events);

static void on_io(struct io_watch *w, uint32_t events)
{
    (void)events;
    struct lconn *c = (struct lconn *)w;
    struct lthread *t = c->t;
    size_t n = h3_glue_receive(&c->h3->g, t->dgram, LOAD_DGRAM_BUF);
    if (n) {
        t->r.bytes_total += n;
        c->last_io = load_now_us();
    }
    load_h3_drive(c);
    load_after_event(c);
}

static void on_timer(struct io_watch *w, uint32_t events)
{
    (void)events;
    struct lconn_h3 *h = (struct lconn_h3 *)((char *)w - offsetof(struct lconn_h3, tw));
    uint64_t ticks;
    ssize_t r = read(w->fd, &ticks, sizeof(ticks)); /* fails when re-armed meanwhile: no matter */
    (void)r;
    h->timer_at = 0;
    if (h->c->state == C_CLOSED) return;
    load_h3_drive(h->c);
    load_after_event(h->c);
}

/* The per-connection state that outlives its QUIC connections: the timerfd in the loop. */
static struct lconn_h3 *h3_state(struct lconn *c)
{
    if (c->h3) return c->h3;
    struct lconn_h3 *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    h->c = c;
    h->g.fd = -1;
    h->tw.cb = on_timer;
    h->tw.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (h->tw.fd < 0 || loop_add(c->t->loop, &h->tw, EPOLLIN | EPOLLET) < 0) {
        if (h->tw.fd >= 0) close(h->tw.fd);
        free(h);
        return NULL;
    }
    c->h3 = h;
    return h;
}

bool load_h3_open(struct lconn *c)
{
    struct lthread *t = c->t;
    const struct url *u = t->p->url;
    struct lconn_h3 *h = h3_state(c);
    if (!h) return false;
    if (!c->slots && !(c->slots = calloc((size_t)t->p->depth, sizeof(*c->slots)))) return false;
    snprintf(h->peer, sizeof(h->peer), "%.60s port %u", u->host, u->port);
    struct quic_client_config qcfg = {
        .host = u->host,
        .host_is_ip = u->ipv6 || strspn(u->host, "0123456789.") == strlen(u->host),
        .insecure = t->p->insecure,
        .handshake_timeout_ns = t->p->timeout_s > 0 ? (uint64_t)(t->p->timeout_s * 1e9) : 0,
    };
    char err[200];
    if (h3_glue_socket(&h->g, (const struct sockaddr *)t->addr, t->addr_len) < 0 ||
        h3_glue_connect(&h->g, &qcfg, err, sizeof(err)) < 0)
        goto fail;
    c->w.fd = h->g.fd;
    c->w.cb = on_io;
    if (loop_add(t->loop, &c->w, EPOLLIN | EPOLLET) < 0) goto fail;
    c->state = C_HANDSHAKE;
    h3_glue_flush(&h->g, t->dgram, LOAD_DGRAM_BUF); /* the first Initial */
    arm(h);
    return true;
fail:
    h3_glue_reset(&h->g);
    c->w.fd = -1;
    return false;
}

void load_h3_drive(struct lconn *c)
{
    struct lthread *t = c->t;
    struct lconn_h3 *h = c->h3;
    struct h3_glue *g = &h->g;
    h3_glue_expire(g);
    if (c->state == C_HANDSHAKE) {
        /* nothing on the UDP port (ICMP), a TLS failure, or no answer in time */
        if (g->refused || quic_conn_state(g->qc) != QUIC_CONN_ACTIVE) {
            load_conn_close(c);
            load_connect_failed(c);
            return;
        }
        if (!quic_conn_handshake_done(g->qc)) {
            h3_glue_flush(g, t->dgram, LOAD_DGRAM_BUF);
            arm(h);
            return;
        }
        if (h3_glue_start_session(g, &response_cbs, h->peer) < 0) {
            load_conn_close(c);
            load_connect_failed(c);
            return;
        }
        c->state = C_OPEN;
        load_connected(c);
    }
    if (c->state != C_OPEN) return;
    if (!g->refused && quic_conn_state(g->qc) == QUIC_CONN_ACTIVE) fill(c);
    h3_glue_pump(g); /* a failed session closes the connection with its error here */
    h3_glue_flush(g, t->dgram, LOAD_DGRAM_BUF);
    /* the server closed the connection (or it failed): its requests in flight fail */
    if (g->refused || quic_conn_state(g->qc) != QUIC_CONN_ACTIVE) {
        load_conn_fail(c, false);
        return;
    }
    if (c->close_after && !c->inflight) {
        load_conn_close(c);
        return;
    }
    arm(h);
}

void load_h3_close(struct lconn *c)
{
    struct lconn_h3 *h = c->h3;
    struct lthread *t = c->t;
    loop_remove(t->loop, &c->w);
    /* RFC 9114 §5.2: a connection we are done with ends with H3_NO_ERROR */
    if (h->g.qc && quic_conn_state(h->g.qc) == QUIC_CONN_ACTIVE) {
        quic_conn_close(h->g.qc, H3_NO_ERROR, "");
        h3_glue_flush(&h->g, t->dgram, LOAD_DGRAM_BUF);
    }
    if (h->g.s) t->r.bytes_head += h->g.s->header_bytes_in;
    c->tearing_down = true;
    h3_glue_reset(&h->g); /* the session's requests end here: counted already */
    c->tearing_down = false;
    disarm(h);
}

void load_h3_free(struct lconn *c)
{
    struct lconn_h3 *h = c->h3;
    if (!h) return;
    loop_remove(c->t->loop, &h->tw);
    close(h->tw.fd);
    free(h);
    c->h3 = NULL;
}

#else /* no QUIC in this build */

bool load_h3_open(struct lconn *c)
{
    (void)c;
    return false;
}

void load_h3_drive(struct lconn *c)
{
    (void)c;
}

void load_h3_close(struct lconn *c)
{
    (void)c;
}

void load_h3_free(struct lconn *c)
{
    (void)c;
}

#endif
