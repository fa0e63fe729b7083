#include "client/h3_glue.h"

#ifdef TERN_HAVE_QUIC

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/exchange.h"
#include "client/transport.h"

/* Limits for what a server sends (the request side is ours). */
#define RESPONSE_SECTION_MAX (64 * 1024)
#define QPACK_TABLE          4096
#define QPACK_BLOCKED        16

/* ---- the session's transport callbacks ---- */

static int64_t open_uni(void *ud)
{
    struct h3_glue *g = ud;
    int64_t id;
    return quic_open_uni_stream(g->qc, &id) == 0 ? id : -1;
}

static int64_t open_bidi(void *ud)
{
    struct h3_glue *g = ud;
    int64_t id;
    return quic_open_bidi_stream(g->qc, &id) == 0 ? id : -1;
}

static void reset_stream(void *ud, int64_t id, uint64_t code)
{
    struct h3_glue *g = ud;
    quic_stream_reset(g->qc, id, code);
}

static void stop_sending(void *ud, int64_t id, uint64_t code)
{
    struct h3_glue *g = ud;
    quic_stream_stop_sending(g->qc, id, code);
}

/* ---- QUIC's callbacks ---- */

static void q_handshake_done(struct quic_conn *qc, void *app)
{
    (void)qc;
    struct h3_glue *g = app;
    g->t_handshake_us = client_now_us();
}

static ssize_t q_stream_data(struct quic_conn *qc, int64_t id, const uint8_t *data, size_t len,
                             bool fin, void *app)
{
    (void)qc;
    struct h3_glue *g = app;
    if (g->s) {
        h3_session_recv_stream(g->s, id, data, len, fin, client_now_ms());
        return (ssize_t)len; /* the session keeps what it needs: credit goes back at once */
    }
    size_t i = 0;
    while (i < g->n_early && g->early[i].id != id)
        i++;
    if (i == g->n_early) {
        if (i == H3_GLUE_EARLY_STREAMS) {
            g->early_lost = true;
            return (ssize_t)len;
        }
        g->early[g->n_early++].id = id;
    }
    if (buf_append(&g->early[i].data, data, len) < 0) g->early_lost = true;
    g->early[i].fin = fin;
    return (ssize_t)len;
}

static void q_stream_reset(struct quic_conn *qc, int64_t id, uint64_t code, void *app)
{
    (void)qc;
    struct h3_glue *g = app;
    if (g->s) h3_session_stream_reset(g->s, id, code, client_now_ms());
}

static const struct quic_conn_callbacks quic_cbs = {
    .handshake_done = q_handshake_done,
    .stream_data = q_stream_data,
    .stream_reset = q_stream_reset,
    /* STOP_SENDING ends only our upload (the response may still come, RFC 9114 §4.1.1);
     * src/quic drops what was left of it */
};

/* ---- the connection ---- */

int h3_glue_socket(struct h3_glue *g, const struct sockaddr *addr, socklen_t len)
{
    g->fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (g->fd < 0) return -1;
    memset(&g->path, 0, sizeof(g->path));
    memcpy(&g->path.remote, addr, len);
    g->path.remote_len = len;
    g->path.local_len = sizeof(g->path.local);
    if (connect(g->fd, addr, len) < 0 ||
        getsockname(g->fd, (struct sockaddr *)&g->path.local, &g->path.local_len) < 0)
        return -1;
    /* UDP GRO: the kernel may hand over a run of the server's datagrams in one read, with
     * their size in a control message; a download then costs a read per run, not per packet */
    int one = 1;
    setsockopt(g->fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one));
    return 0;
}

int h3_glue_connect(struct h3_glue *g, struct quic_client_config *cfg, char *err, size_t errlen)
{
    cfg->cb = &quic_cbs;
    cfg->app = g;
    g->qc = quic_client_connect(cfg, &g->path, quic_now_ns(), err, errlen);
    return g->qc ? 0 : -1;
}

/* Hands the bytes that came before the session to it. */
static void replay_early(struct h3_glue *g)
{
    for (size_t i = 0; i < g->n_early; i++) {
        struct h3_glue_early *es = &g->early[i];
        h3_session_recv_stream(g->s, es->id, (const uint8_t *)buf_ptr(&es->data),
                               buf_size(&es->data), es->fin, client_now_ms());
        buf_free(&es->data);
    }
    g->n_early = 0;
}

int h3_glue_start_session(struct h3_glue *g, const struct h3_session_callbacks *app,
                          const char *peer)
{
    g->cbs = (struct h3_session_callbacks){
        .open_uni = open_uni,
        .open_bidi = open_bidi,
        .reset_stream = reset_stream,
        .stop_sending = stop_sending,
        .on_response_head = app->on_response_head,
        .on_response_data = app->on_response_data,
        .on_response_end = app->on_response_end,
    };
    struct h3_session_params sp = {
        .max_field_section_size = RESPONSE_SECTION_MAX,
        .header_count = CLIENT_MAX_FIELDS,
        .body_size = UINT64_MAX,
        .max_resets_per_10s = 1000,
        .qpack_max_table_capacity = QPACK_TABLE,
        .qpack_blocked_streams = QPACK_BLOCKED,
        .peer = peer,
        .client = true,
    };
    if (g->early_lost) return -1;
    g->s = h3_session_new(&sp, &g->cbs, g, client_now_ms());
    if (!g->s) return -1;
    replay_early(g);
    return 0;
}

/* ---- the socket ---- */

/* The segment size of a coalesced read (UDP_GRO), or 0 for a single datagram. */
static size_t gro_segment(struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm))
        if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_GRO) {
            int seg;
            memcpy(&seg, CMSG_DATA(cm), sizeof(seg));
            return seg > 0 ? (size_t)seg : 0;
        }
    return 0;
}

size_t h3_glue_receive(struct h3_glue *g, uint8_t *buf, size_t cap)
{
    size_t total = 0;
    for (;;) {
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {.iov_base = buf, .iov_len = cap};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.buf,
                            .msg_controllen = sizeof(ctl)};
        ssize_t n = recvmsg(g->fd, &mh, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == ECONNREFUSED) g->refused = true;
            if (errno == EINTR) continue;
            return total;
        }
        total += (size_t)n;
        size_t seg = gro_segment(&mh);
        if (!seg || seg > (size_t)n) seg = (size_t)n;
        uint64_t now = quic_now_ns();
        for (size_t off = 0; off < (size_t)n; off += seg) {
            size_t len = (size_t)n - off < seg ? (size_t)n - off : seg;
            quic_conn_recv(g->qc, buf + off, len, &g->path, 0, now);
        }
    }
}

void h3_glue_pump(struct h3_glue *g)
{
    if (!g->s || quic_conn_state(g->qc) != QUIC_CONN_ACTIVE) return;
    h3_session_set_time(g->s, client_now_ms());
    int64_t id = -1;
    const uint8_t *data;
    size_t len;
    bool fin;
    while (h3_session_next_output(g->s, &id, &data, &len, &fin)) {
        ssize_t n = quic_stream_send(g->qc, id, data, len, fin);
        if (n < 0)
            h3_session_output_consumed(g->s, id, len); /* the stream is gone: drop it */
        else if (n > 0 || (len == 0 && fin))
            h3_session_output_consumed(g->s, id, (size_t)n);
    }
    if (h3_session_done(g->s)) {
        uint64_t code = h3_session_error_code(g->s);
        quic_conn_close(g->qc, code == UINT64_MAX ? H3_NO_ERROR : code, "HTTP/3 error");
    }
}

void h3_glue_flush(struct h3_glue *g, uint8_t *buf, size_t cap)
{
    struct quic_train t;
    size_t n;
    while ((n = quic_conn_write_train(g->qc, buf, cap, 16, &t, quic_now_ns())) > 0) {
        for (size_t off = 0; off < n; off += t.seg) {
            size_t len = n - off < t.seg ? n - off : t.seg;
            /* a lost datagram is QUIC's to recover, as any loss */
            (void)send(g->fd, buf + off, len, MSG_DONTWAIT);
        }
    }
}

void h3_glue_expire(struct h3_glue *g)
{
    uint64_t now = quic_now_ns();
    if (quic_conn_expiry(g->qc) <= now) quic_conn_handle_expiry(g->qc, now);
}

void h3_glue_reset(struct h3_glue *g)
{
    h3_session_free(g->s);
    g->s = NULL;
    for (size_t i = 0; i < g->n_early; i++)
        buf_free(&g->early[i].data);
    g->n_early = 0;
    g->early_lost = false;
    quic_conn_free(g->qc);
    g->qc = NULL;
    if (g->fd >= 0) close(g->fd);
    g->fd = -1;
    g->refused = false;
    g->t_handshake_us = 0;
}

#endif
