#include "h3/conn.h"

#ifdef TERN_HAVE_QUIC

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/stats.h"
#include "h3/certs.h"
#include "h3/session.h"
#include "quic/quic.h"
#include "server/dispatch.h"
#include "server/server.h"
#include "server/wire.h"

/* One UDP listener of one worker. */
struct h3_listener {
    struct worker *wk;
    struct h3_tls *tls; /* certificates by server name, tickets, 0-RTT (h3/certs.h) */
    struct quic_server *qs;
};

struct h3_conn {
    struct conn base; /* in the worker's list; base.w is unused (the socket is the listener's) */
    struct worker *wk;
    struct quic_conn *qc;
    struct h3_session *s;
    struct timer timer;      /* the session's deadlines (h3_session_next_deadline) */
    struct loop_task resume; /* streams whose handler has more (h3_session_want_resume) */
    bool in_list;            /* counted in the worker's connections */
    bool closing;            /* CONNECTION_CLOSE asked for */
    bool graceful; /* a stop: close once the session is done and everything was acknowledged */
    char peer[64];
};

static const struct conn_ops h3_ops;

/* ---- session callbacks ---- */

/* req.resume of every request stream: the session remembers the stream and the connection's
 * resume task runs later, outside the handler's callbacks. */
static void resume_request(struct http_request *req)
{
    struct h3_stream *st = req->wire;
    struct h3_conn *hc = st->session->ud;
    h3_session_want_resume(st->session, st);
    loop_defer(hc->wk->loop, &hc->resume);
}

static void pump(struct h3_conn *hc);

static void on_resume(struct loop_task *t)
{
    struct h3_conn *hc = (struct h3_conn *)((char *)t - offsetof(struct h3_conn, resume));
    if (!hc->s || !hc->qc) return;
    h3_session_resume_queued(hc->s);
    pump(hc);
    /* outside QUIC's callbacks: send what the handler's answer queued */
    if (hc->qc) quic_server_flush(hc->qc);
}

static void on_request(struct h3_session *s, struct h3_stream *st)
{
    struct h3_conn *hc = s->ud;
    st->req.resume = resume_request;
    const struct config *cfg = hc->wk->cfg;
    st->req.now = loop_now(hc->wk->loop);
    st->req.now_ms = loop_now_ms(hc->wk->loop);
    st->req.ja4 = quic_conn_ja4(hc->qc);
    struct sockaddr_storage ss; /* the path now: a migrated client's new port */
    if (quic_conn_remote(hc->qc, &ss) > 0)
        st->req.peer_port =
            ntohs(ss.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((const struct sockaddr_in *)&ss)->sin_port);
    if (st->reject_status)
        dispatch_error(&st->req, &st->resp, st->reject_status);
    else
        dispatch_request(cfg, hc->wk, &st->req, &st->resp);
}

static void on_stream_close(struct h3_session *s, struct h3_stream *st)
{
    struct h3_conn *hc = s->ud;
    wire_exchange_done(hc->wk, &st->req, &st->resp);
}

static struct pool *take_pool(void *ud)
{
    struct h3_conn *hc = ud;
    return worker_take_pool(hc->wk);
}

static void give_pool(void *ud, struct pool *p)
{
    struct h3_conn *hc = ud;
    worker_give_pool(hc->wk, p);
}

static const char *date(void *ud)
{
    struct h3_conn *hc = ud;
    return loop_date(hc->wk->loop);
}

static int64_t open_uni(void *ud)
{
    struct h3_conn *hc = ud;
    int64_t id;
    return quic_open_uni_stream(hc->qc, &id) == 0 ? id : -1;
}

static void reset_stream(void *ud, int64_t stream_id, uint64_t code)
{
    struct h3_conn *hc = ud;
    quic_stream_reset(hc->qc, stream_id, code);
}

static void stop_sending(void *ud, int64_t stream_id, uint64_t code)
{
    struct h3_conn *hc = ud;
    quic_stream_stop_sending(hc->qc, stream_id, code);
}

static void set_priority(void *ud, int64_t stream_id, struct http_priority prio)
{
    struct h3_conn *hc = ud;
    quic_stream_set_priority(hc->qc, stream_id, prio.urgency, prio.incremental);
}

static bool streams_body(struct h3_session *s, struct h3_stream *st)
{
    struct h3_conn *hc = s->ud;
    return dispatch_streams_body(hc->wk->cfg, &st->req);
}

/* A handler took streamed body bytes: credit them, and send it from the resume task. */
static void consumed(void *ud, int64_t stream_id, size_t n)
{
    struct h3_conn *hc = ud;
    if (!hc->qc) return;
    quic_stream_consumed(hc->qc, stream_id, n);
    loop_defer(hc->wk->loop, &hc->resume);
}

static const struct h3_session_callbacks session_callbacks = {
    .on_request = on_request,
    .streams_body = streams_body,
    .consumed = consumed,
    .on_stream_close = on_stream_close,
    .take_pool = take_pool,
    .give_pool = give_pool,
    .date = date,
    .open_uni = open_uni,
    .reset_stream = reset_stream,
    .stop_sending = stop_sending,
    .set_priority = set_priority,
};

/* ---- the connection ---- */

/* Leaves the worker's list (the QUIC connection may live on through its closing period). */
static void conn_leave(struct h3_conn *hc)
{
    if (!hc->in_list) return;
    hc->in_list = false;
    worker_retire_conn(hc->wk, &hc->base);
}

static void conn_close(struct h3_conn *hc, uint64_t code, const char *reason)
{
    if (hc->closing) return;
    hc->closing = true;
    quic_conn_close(hc->qc, code, reason);
}

/* Arms the timer for the session's next deadline (or cancels it). */
static void arm_timer(struct h3_conn *hc)
{
    int64_t d = hc->s && !hc->closing ? h3_session_next_deadline(hc->s) : 0;
    if (!d) {
        timer_cancel(&hc->timer);
        return;
    }
    if (!timer_armed(&hc->timer) || hc->timer.expires_ms != d)
        timer_arm(hc->wk->loop, &hc->timer, d);
}

/* The session goes away (the connection is freed or stopped fast). */
static void session_free(struct h3_conn *hc)
{
    timer_cancel(&hc->timer);
    loop_task_cancel(&hc->resume);
    h3_session_free(hc->s);
    hc->s = NULL;
}

static void pump_io(struct h3_conn *hc);

/* Moves the session's output into the QUIC streams, closes when the session is done, and
 * re-arms the deadline timer. */
static void pump(struct h3_conn *hc)
{
    pump_io(hc);
    arm_timer(hc);
}

static void pump_io(struct h3_conn *hc)
{
    if (!hc->s || hc->closing) return;
    h3_session_set_time(hc->s, loop_now_ms(hc->wk->loop));
    int64_t id = -1;
    const uint8_t *data;
    size_t len;
    bool fin;
    while (h3_session_next_output(hc->s, &id, &data, &len, &fin)) {
        ssize_t n = quic_stream_send(hc->qc, id, data, len, fin);
        if (n < 0)
            h3_session_output_consumed(hc->s, id, len); /* the stream is gone: drop it */
        else if (n > 0 || (len == 0 && fin))
            h3_session_output_consumed(hc->s, id, (size_t)n);
    }
    if (!h3_session_done(hc->s)) return;
    uint64_t code = h3_session_error_code(hc->s);
    if (code != UINT64_MAX && code != H3_NO_ERROR) {
        conn_close(hc, code, "HTTP/3 connection error");
        return;
    }
    /* a graceful end: close only when the client has every byte (closing earlier would
     * throw away what is still in flight) */
    if (quic_conn_all_acked(hc->qc)) conn_close(hc, H3_NO_ERROR, "");
}

static struct h3_conn *conn_of(void *app)
{
    return app;
}

static void on_timer(struct timer *t)
{
    struct h3_conn *hc = (struct h3_conn *)((char *)t - offsetof(struct h3_conn, timer));
    if (!hc->s || !hc->qc) return;
    h3_session_timeout(hc->s, loop_now_ms(hc->wk->loop));
    pump(hc);
    /* outside QUIC's callbacks: send what the timeout queued (resets, GOAWAY, a close) */
    if (hc->qc) quic_server_flush(hc->qc);
}

static bool session_ready(struct h3_conn *hc)
{
    if (hc->s) return true;
    if (hc->closing) return false;
    struct h3_session_params p;
    h3_session_params_from_config(&p, hc->wk->cfg, hc->peer);
    hc->s = h3_session_new(&p, &session_callbacks, hc, loop_now_ms(hc->wk->loop));
    if (!hc->s) {
        log_error("%s: out of memory for an HTTP/3 session", hc->peer);
        conn_close(hc, H3_INTERNAL_ERROR, "out of memory");
        return false;
    }
    if (hc->wk->state != SERVER_RUNNING || hc->graceful) h3_session_shutdown(hc->s, true);
    return true;
}

static void q_handshake_done(struct quic_conn *c, void *app)
{
    (void)c;
    struct h3_conn *hc = conn_of(app);
    if (hc && session_ready(hc)) pump(hc);
}

static ssize_t q_stream_data(struct quic_conn *c, int64_t stream_id, const uint8_t *data,
                             size_t len, bool fin, void *app)
{
    struct h3_conn *hc = conn_of(app);
    if (!hc || !session_ready(hc)) return (ssize_t)len;
    /* bytes from 0-RTT packets: their requests are marked, unsafe ones answered 425 */
    int (*recv)(struct h3_session *, int64_t, const uint8_t *, size_t, bool, int64_t) =
        quic_conn_rx_early(c) ? h3_session_recv_early : h3_session_recv_stream;
    if (recv(hc->s, stream_id, data, len, fin, loop_now_ms(hc->wk->loop)) < 0)
        log_info("%s: HTTP/3 connection error %s", hc->peer,
                 h3_error_name(h3_session_error_code(hc->s)));
    /* streamed request body bytes get their credit as the handler takes them */
    size_t held = hc->s ? h3_session_take_withheld(hc->s) : 0;
    pump(hc);
    return (ssize_t)(len - (held < len ? held : len));
}

static void q_stream_reset(struct quic_conn *c, int64_t stream_id, uint64_t app_error, void *app)
{
    (void)c;
    struct h3_conn *hc = conn_of(app);
    if (!hc || !hc->s) return;
    h3_session_stream_reset(hc->s, stream_id, app_error, loop_now_ms(hc->wk->loop));
    pump(hc);
}

static void q_stream_event(struct quic_conn *c, int64_t stream_id, void *app)
{
    (void)c;
    (void)stream_id;
    struct h3_conn *hc = conn_of(app);
    if (hc) pump(hc);
}

static void q_stream_close(struct quic_conn *c, int64_t stream_id, uint64_t app_error, void *app)
{
    (void)app_error;
    q_stream_event(c, stream_id, app);
}

static const struct quic_conn_callbacks quic_callbacks = {
    .handshake_done = q_handshake_done,
    .stream_data = q_stream_data,
    .stream_reset = q_stream_reset,
    .stream_stop_sending = q_stream_reset,
    .stream_close = q_stream_close,
    .stream_writable = q_stream_event,
};

static void peer_text(struct quic_conn *qc, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = quic_conn_remote(qc, &ss);
    if (getnameinfo((struct sockaddr *)&ss, len, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST))
        snprintf(out, cap, "-");
}

static void *q_conn_new(struct quic_conn *qc, void *ud)
{
    struct h3_listener *l = ud;
    struct worker *wk = l->wk;
    struct h3_conn *hc = calloc(1, sizeof(*hc));
    if (!hc) {
        log_error("out of memory for an HTTP/3 connection");
        return NULL; /* a connection without an application: it times out */
    }
    hc->wk = wk;
    hc->qc = qc;
    hc->base.w.fd = -1;
    hc->timer.cb = on_timer;
    hc->resume.cb = on_resume;
    peer_text(qc, hc->peer, sizeof(hc->peer));
    hc->base.stats_wire = SW_H3;
    hc->base.stats_transport = ST_QUIC;
    worker_add_conn(wk, &hc->base, &h3_ops);
    STATS_INC(accepted[ST_QUIC]);
    hc->in_list = true;
    return hc;
}

/* The QUIC connection is freed (closed, timed out, or the listener went away). */
static void q_conn_free(struct quic_conn *qc, void *app, void *ud)
{
    (void)qc;
    (void)ud;
    struct h3_conn *hc = conn_of(app);
    if (!hc) return;
    session_free(hc);
    hc->qc = NULL;
    conn_leave(hc); /* freed by the worker's reap */
}

/* ---- struct conn ops: stops ---- */

static void op_shutdown(struct conn *base, bool graceful)
{
    struct h3_conn *hc = (struct h3_conn *)base;
    if (graceful) {
        hc->graceful = true;
        if (hc->s) {
            h3_session_shutdown(hc->s, true);
            pump(hc);
        } else {
            conn_close(hc, H3_NO_ERROR, ""); /* no session yet: nothing in flight */
        }
        if (hc->qc) quic_server_flush(hc->qc);
        return;
    }
    /* fast: CONNECTION_CLOSE now, and leave the list; the QUIC connection finishes its
     * closing period alone (or goes with the listener) and no longer knows hc */
    if (hc->s) h3_session_shutdown(hc->s, false);
    pump(hc);
    conn_close(hc, H3_NO_ERROR, "");
    quic_server_flush(hc->qc);
    quic_conn_set_app(hc->qc, NULL);
    session_free(hc);
    hc->qc = NULL;
    conn_leave(hc); /* freed by the worker's reap */
}

static void op_free(struct conn *base)
{
    struct h3_conn *hc = (struct h3_conn *)base;
    if (!hc->qc) free(hc); /* still owned by its QUIC connection otherwise */
}

static const struct conn_ops h3_ops = {
    .name = "h3",
    .shutdown = op_shutdown,
    .free = op_free,
};

/* ---- the datagram wire ---- */

static void *udp_open(struct worker *wk, const struct config_listen *cl, char *err, size_t errlen)
{
    struct h3_listener *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->wk = wk;
    l->tls = h3_tls_open(wk, err, errlen);
    if (!l->tls) {
        free(l);
        return NULL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%d", cl->port);
    int rc = getaddrinfo(cl->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s", gai_strerror(rc));
        h3_tls_close(l->tls);
        free(l);
        return NULL;
    }
    struct quic_server_config qcfg = {
        .tls = h3_tls_quic(l->tls),
        .cb = &quic_callbacks,
        .conn_new = q_conn_new,
        .conn_free = q_conn_free,
        .ud = l,
        .worker = (unsigned)wk->id,
        .nworkers = (unsigned)wk->srv->n_workers,
        .retry_always = wk->cfg->http3.retry_always,
        .retry_threshold = wk->cfg->http3.retry_threshold,
        .max_conns = wk->cfg->limits.connections,
        .max_handshakes = wk->cfg->http3.max_handshakes,
    };
    l->qs = quic_server_new(wk->loop, res->ai_addr, res->ai_addrlen, &qcfg);
    freeaddrinfo(res);
    if (!l->qs) {
        snprintf(err, errlen, "%s", strerror(errno));
        h3_tls_close(l->tls);
        free(l);
        return NULL;
    }
    return l;
}

static void udp_stop(void *listener)
{
    struct h3_listener *l = listener;
    quic_server_stop_accepting(l->qs);
}

static void udp_free(void *listener)
{
    struct h3_listener *l = listener;
    quic_server_free(l->qs);
    h3_tls_close(l->tls);
    free(l);
}

static const struct wire_udp_ops udp_ops = {
    .open = udp_open,
    .stop = udp_stop,
    .free = udp_free,
};

void h3_register(void)
{
    wire_register_udp(&udp_ops);
}

#else

void h3_register(void) {}

#endif
