/* The datagram side of QUIC for one worker: a UDP socket on the event loop, routing by
 * destination connection ID, version negotiation, stateless reset, and the connections'
 * deadlines behind one timerfd. */
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/stats.h"
#include "core/loop.h"
#include "quic/cidmap.h"
#include "quic/deadline.h"
#include "quic/internal.h"
#include "quic/route.h"
#include "quic/udp.h"

/* Datagrams per recvmmsg, and the room for each: with GRO one message may hold up to 64 KiB
 * of coalesced datagrams, so fewer messages of that size. */
#define RECV_BATCH     32
#define RECV_SIZE      2048
#define RECV_BATCH_GRO 16
#define RECV_SIZE_GRO  65535
#define SEND_SIZE      NGTCP2_MAX_PMTUD_UDP_PAYLOAD_SIZE

/* A connection as the server holds it: its deadline and its place in the lists. */
struct qs_conn {
    struct quic_server *s;
    struct quic_conn *c;
    struct deadline dl;          /* in s->deadlines while quic_conn_expiry is finite */
    struct qs_conn *prev, *next; /* all connections */
    struct qs_conn *dirty_next;  /* touched by the current batch of datagrams */
    bool dirty;
    bool handshaking; /* counted in nhandshakes */
    /* Counted for the debug log line at the end: datagrams out and the system calls that sent
     * them (GSO makes them fewer), datagrams in and those that came coalesced (GRO). */
    uint64_t tx_dgrams, tx_calls, rx_dgrams, rx_coalesced;
};

struct quic_server {
    struct io_watch w;
    struct quic_udp udp;
    /* QUIC's timers want sub-millisecond precision (pacing, ACK delay): one timerfd per
     * socket, armed at the earliest deadline of its connections. */
    struct io_watch tw;
    struct deadline_heap deadlines;
    uint64_t timer_at; /* when tw fires (0: not armed) */
    struct loop *loop;
    struct quic_server_config cfg;
    struct sockaddr_storage bound;
    socklen_t bound_len;
    struct cidmap cids;
    struct qs_conn *conns;
    size_t nconns, nhandshakes;
    bool stopped; /* no new connections */
    uint8_t reset_secret[QUIC_RESET_SECRET_LEN];
    uint8_t *rbuf; /* rbatch messages of rsize bytes */
    size_t rbatch, rsize;
    uint8_t sbuf[QUIC_UDP_TRAIN_MAX]; /* one train of datagrams (or one of ours) */
};

/* Retry and NEW_TOKEN tokens are sealed with one secret per process, so that any worker
 * validates a token another issued (a returning client may hash to another worker). */
static uint8_t token_secret[QUIC_TOKEN_SECRET_LEN];
static bool token_secret_ok;
static pthread_once_t token_once = PTHREAD_ONCE_INIT;

static void token_secret_init(void)
{
    token_secret_ok = gnutls_rnd(GNUTLS_RND_KEY, token_secret, sizeof(token_secret)) == 0;
}

/* How long a Retry token and a NEW_TOKEN token are good for. */
#define RETRY_TOKEN_TTL   (10 * NGTCP2_SECONDS)
#define REGULAR_TOKEN_TTL (3600 * NGTCP2_SECONDS)

/* ---- sending ---- */

static void send_to(struct quic_server *s, const uint8_t *data, size_t len,
                    const struct quic_path *path)
{
    struct quic_udp_sent r = quic_udp_send(&s->udp, data, len, len, path, 0);
    if (r.datagrams) {
        stats_add(&stats_here->bytes_out[SW_H3], len);
        STATS_INC(quic_datagrams_out);
    }
}

static void handshake_over(struct qs_conn *q)
{
    if (q->handshaking) {
        q->handshaking = false;
        q->s->nhandshakes--;
    }
}

static void conn_free(struct qs_conn *q)
{
    struct quic_server *s = q->s;
    handshake_over(q);
    deadline_remove(&s->deadlines, &q->dl);
    log_debug("quic: connection done: %llu datagrams out in %llu sends, %llu in (%llu coalesced)",
              (unsigned long long)q->tx_dgrams, (unsigned long long)q->tx_calls,
              (unsigned long long)q->rx_dgrams, (unsigned long long)q->rx_coalesced);
    if (s->cfg.conn_free) s->cfg.conn_free(q->c, quic_conn_app(q->c), s->cfg.ud);
    quic_conn_free(q->c);
    if (q->prev)
        q->prev->next = q->next;
    else
        s->conns = q->next;
    if (q->next) q->next->prev = q->prev;
    s->nconns--;
    free(q);
}

/* Arms the timerfd for the earliest deadline, unless it fires at or before it already (a
 * timer that fires early finds nothing due and is armed again: cheaper than a system call at
 * every change). */
static void timer_update(struct quic_server *s)
{
    struct deadline *m = deadline_min(&s->deadlines);
    if (!m || (s->timer_at && s->timer_at <= m->at)) return;
    uint64_t at = m->at ? m->at : 1; /* 0 would disarm; any past time fires at once */
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(at / 1000000000u), .tv_nsec = (long)(at % 1000000000u)}};
    if (timerfd_settime(s->tw.fd, TFD_TIMER_ABSTIME, &its, NULL) == 0) s->timer_at = at;
}

static void arm(struct qs_conn *q, uint64_t now)
{
    (void)now;
    uint64_t exp = quic_conn_expiry(q->c);
    if (exp == UINT64_MAX)
        deadline_remove(&q->s->deadlines, &q->dl);
    else
        deadline_set(&q->s->deadlines, &q->dl, exp);
    timer_update(q->s);
}

/* Sends everything the connection has now; false when it is closed (caller frees). */
static bool flush(struct qs_conn *q, uint64_t now)
{
    if (q->handshaking && quic_conn_handshake_done(q->c)) handshake_over(q);
    struct quic_server *s = q->s;
    struct quic_train t;
    /* A train is bounded by the send quantum, and ngtcp2 writes nothing once pacing or the
     * congestion window says wait; 4096 trains is only a backstop. */
    for (int i = 0; i < 4096 && quic_conn_write_train(q->c, s->sbuf, sizeof(s->sbuf),
                                                      QUIC_UDP_MAX_SEGS, &t, now);
         i++) {
        struct quic_udp_sent r = quic_udp_send(&s->udp, s->sbuf, t.len, t.seg, &t.path, t.ecn);
        q->tx_dgrams += (t.len + t.seg - 1) / t.seg;
        size_t sent = (size_t)r.datagrams * t.seg < t.len ? (size_t)r.datagrams * t.seg : t.len;
        stats_add(&stats_here->bytes_out[SW_H3], sent);
        stats_add(&stats_here->quic_datagrams_out, r.datagrams);
        q->tx_calls += r.calls;
    }
    if (quic_conn_is_closed(q->c)) return false;
    arm(q, now);
    return true;
}

void quic_server_flush(struct quic_conn *c)
{
    struct qs_conn *q = quic_conn_owner(c);
    /* Not freed here: the caller may still hold c. The timer reaps it. */
    if (!flush(q, quic_now_ns())) {
        deadline_set(&q->s->deadlines, &q->dl, 0);
        timer_update(q->s);
    }
}

/* Runs every connection whose deadline has passed. */
static void on_timer(struct io_watch *w, uint32_t events)
{
    (void)events;
    struct quic_server *s = (struct quic_server *)((char *)w - offsetof(struct quic_server, tw));
    uint64_t ticks;
    while (read(s->tw.fd, &ticks, sizeof(ticks)) < 0 && errno == EINTR)
        ;
    s->timer_at = 0;
    uint64_t now = quic_now_ns();
    struct deadline *m;
    while ((m = deadline_min(&s->deadlines)) && m->at <= now) {
        struct qs_conn *q = (struct qs_conn *)((char *)m - offsetof(struct qs_conn, dl));
        quic_conn_handle_expiry(q->c, now);
        if (!flush(q, now)) {
            conn_free(q);
            continue;
        }
        /* A deadline that did not move would run again at once: give it a millisecond, so
         * that nothing spins. */
        if (q->dl.idx != DEADLINE_NONE && q->dl.at <= now)
            deadline_set(&s->deadlines, &q->dl, now + 1000000u);
    }
    timer_update(s);
}

/* ---- connection IDs ---- */

static void cid_add(void *owner, const uint8_t *cid, size_t len)
{
    struct qs_conn *q = owner;
    cidmap_put(&q->s->cids, cid, len, q);
}

static void cid_remove(void *owner, const uint8_t *cid, size_t len)
{
    struct qs_conn *q = owner;
    cidmap_del(&q->s->cids, cid, len, q);
}

/* ---- receiving ---- */

static void send_version_negotiation(struct quic_server *s, const ngtcp2_version_cid *vc,
                                     const struct quic_path *path)
{
    uint32_t sv[] = {NGTCP2_PROTO_VER_V1};
    uint8_t r;
    gnutls_rnd(GNUTLS_RND_NONCE, &r, 1);
    /* Our SCID is their DCID and the other way round. */
    ngtcp2_ssize n =
        ngtcp2_pkt_write_version_negotiation(s->sbuf, SEND_SIZE, r, vc->scid, vc->scidlen, vc->dcid,
                                             vc->dcidlen, sv, sizeof(sv) / sizeof(sv[0]));
    if (n > 0) send_to(s, s->sbuf, (size_t)n, path);
}

static void send_stateless_reset(struct quic_server *s, const ngtcp2_version_cid *vc, size_t len,
                                 const struct quic_path *path)
{
    /* Smaller than what triggered it, so two endpoints cannot loop (RFC 9000 §10.3.3). */
    if (len <= 43) return;
    size_t out = len - 1 < 64 ? len - 1 : 64;
    uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN], rnd[64];
    ngtcp2_cid cid;
    ngtcp2_cid_init(&cid, vc->dcid, vc->dcidlen);
    if (ngtcp2_crypto_generate_stateless_reset_token(token, s->reset_secret,
                                                     sizeof(s->reset_secret), &cid) != 0)
        return;
    size_t rlen = out - 1 - NGTCP2_STATELESS_RESET_TOKENLEN;
    gnutls_rnd(GNUTLS_RND_NONCE, rnd, rlen);
    ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(s->sbuf, SEND_SIZE, token, rnd, rlen);
    if (n > 0) send_to(s, s->sbuf, (size_t)n, path);
}

/* The token of a client's Initial, once checked. */
struct checked_token {
    const uint8_t *token; /* NULL: none, or not valid */
    size_t len;
    ngtcp2_cid odcid; /* after a Retry: the DCID of the client's first Initial */
    bool retried;
};

static struct qs_conn *accept_conn(struct quic_server *s, const uint8_t *data, size_t len,
                                   const struct quic_path *path, const struct checked_token *tk,
                                   uint64_t now)
{
    if (deadline_reserve(&s->deadlines, s->nconns + 1) != 0) return NULL;
    struct qs_conn *q = calloc(1, sizeof(*q));
    if (!q) return NULL;
    q->s = s;
    deadline_init(&q->dl);
    struct quic_conn_config cc = {
        .tls = s->cfg.tls,
        .reset_secret = s->reset_secret,
        .cb = s->cfg.cb,
        .cid_add = cid_add,
        .cid_remove = cid_remove,
        .owner = q,
        .server_id = s->cfg.server_id,
        .worker = (uint8_t)s->cfg.worker,
        .token_secret = token_secret_ok ? token_secret : NULL,
        .token = tk->token,
        .token_len = tk->token ? tk->len : 0,
        .retry_odcid = tk->retried ? tk->odcid.data : NULL,
        .retry_odcid_len = tk->retried ? tk->odcid.datalen : 0,
    };
    if (!(q->c = quic_conn_accept(&cc, data, len, path, now))) {
        free(q);
        return NULL;
    }
    q->next = s->conns;
    if (s->conns) s->conns->prev = q;
    s->conns = q;
    s->nconns++;
    q->handshaking = true;
    s->nhandshakes++;
    if (s->cfg.conn_new) quic_conn_set_app(q->c, s->cfg.conn_new(q->c, s->cfg.ud));
    return q;
}

/* Checks the token of an Initial (hd); false when it is a Retry token that is not valid
 * (RFC 9000 §8.1.3: a bad NEW_TOKEN token is only ignored). */
static bool check_token(const ngtcp2_pkt_hd *hd, const struct quic_path *path, uint64_t now,
                        struct checked_token *tk)
{
    memset(tk, 0, sizeof(*tk));
    if (!hd->token.len || !token_secret_ok) return true;
    const ngtcp2_sockaddr *ra = (const ngtcp2_sockaddr *)&path->remote;
    if (hd->token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
        if (ngtcp2_crypto_verify_retry_token(
                &tk->odcid, hd->token.base, hd->token.len, token_secret, sizeof(token_secret),
                hd->version, ra, path->remote_len, &hd->dcid, RETRY_TOKEN_TTL, now) != 0)
            return false;
        tk->retried = true;
    } else if (hd->token.base[0] != NGTCP2_CRYPTO_TOKEN_MAGIC_REGULAR ||
               ngtcp2_crypto_verify_regular_token(hd->token.base, hd->token.len, token_secret,
                                                  sizeof(token_secret), ra, path->remote_len,
                                                  REGULAR_TOKEN_TTL, now) != 0) {
        return true;
    }
    tk->token = hd->token.base;
    tk->len = hd->token.len;
    return true;
}

/* Answers an Initial with a stateless Retry (RFC 9000 §17.2.5): the client comes back with
 * the token, which proves it receives at its address. The Retry's SCID names this worker, so
 * the client's next Initial is steered back here. */
static void send_retry(struct quic_server *s, const ngtcp2_pkt_hd *hd, const struct quic_path *path,
                       uint64_t now)
{
    ngtcp2_cid scid = {.datalen = QUIC_SCID_LEN};
    uint8_t tok[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
    if (quic_route_make_cid(scid.data, s->cfg.server_id, (uint8_t)s->cfg.worker) != 0) return;
    ngtcp2_ssize tl = ngtcp2_crypto_generate_retry_token(
        tok, token_secret, sizeof(token_secret), hd->version,
        (const ngtcp2_sockaddr *)&path->remote, path->remote_len, &scid, &hd->dcid, now);
    if (tl <= 0) return;
    ngtcp2_ssize n = ngtcp2_crypto_write_retry(s->sbuf, SEND_SIZE, hd->version, &hd->scid, &scid,
                                               &hd->dcid, tok, (size_t)tl);
    if (n > 0) {
        STATS_INC(quic_retries);
        send_to(s, s->sbuf, (size_t)n, path);
    }
}

/* Refuses a new client with CONNECTION_CLOSE in an Initial (RFC 9000 §10.2.3). */
static void send_refused(struct quic_server *s, const ngtcp2_pkt_hd *hd, uint64_t error,
                         const struct quic_path *path)
{
    ngtcp2_ssize n = ngtcp2_crypto_write_connection_close(s->sbuf, SEND_SIZE, hd->version,
                                                          &hd->scid, &hd->dcid, error, NULL, 0);
    if (n > 0) send_to(s, s->sbuf, (size_t)n, path);
}

/* A datagram for no connection that is not a short-header one: a new client's Initial, which
 * the limits, address validation and Retry decide on. */
static struct qs_conn *new_client(struct quic_server *s, const uint8_t *data, size_t len,
                                  const struct quic_path *path, uint64_t now)
{
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, data, len) != 0 || hd.type != NGTCP2_PKT_INITIAL) return NULL;
    if ((s->cfg.max_conns && s->nconns >= s->cfg.max_conns) ||
        (s->cfg.max_handshakes && s->nhandshakes >= s->cfg.max_handshakes)) {
        send_refused(s, &hd, NGTCP2_CONNECTION_REFUSED, path);
        return NULL;
    }
    struct checked_token tk;
    if (!check_token(&hd, path, now, &tk)) {
        send_refused(s, &hd, NGTCP2_INVALID_TOKEN, path);
        return NULL;
    }
    unsigned threshold =
        s->cfg.retry_threshold ? s->cfg.retry_threshold : QUIC_RETRY_THRESHOLD_DEFAULT;
    if (!tk.token && token_secret_ok && (s->cfg.retry_always || s->nhandshakes >= threshold)) {
        send_retry(s, &hd, path, now);
        return NULL;
    }
    return accept_conn(s, data, len, path, &tk, now);
}

/* One datagram: route it to its connection, or answer for the server. */
static struct qs_conn *on_datagram(struct quic_server *s, const uint8_t *data, size_t len,
                                   const struct quic_path *path, uint8_t ecn, uint64_t now)
{
    ngtcp2_version_cid vc;
    if (len == 0) return NULL; /* ngtcp2_pkt_decode_version_cid asserts datalen > 0 */
    int rv = ngtcp2_pkt_decode_version_cid(&vc, data, len, QUIC_SCID_LEN);
    if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
        /* Only for datagrams large enough to be a client's first flight (RFC 9000 §6.1). */
        if (len >= NGTCP2_MAX_UDP_PAYLOAD_SIZE) send_version_negotiation(s, &vc, path);
        return NULL;
    }
    if (rv != 0) return NULL;
    struct qs_conn *q = cidmap_get(&s->cids, vc.dcid, vc.dcidlen);
    if (!q) {
        if (!(data[0] & 0x80)) {
            if (quic_route_may_reset(data, len, s->cfg.server_id, s->cfg.worker, s->cfg.nworkers))
                send_stateless_reset(s, &vc, len, path);
            return NULL;
        }
        if (s->stopped || !(q = new_client(s, data, len, path, now))) return NULL;
    }
    quic_conn_recv(q->c, data, len, path, ecn, now);
    return q;
}

static void on_readable(struct io_watch *w, uint32_t events)
{
    (void)events;
    struct quic_server *s = (struct quic_server *)((char *)w - offsetof(struct quic_server, w));
    struct mmsghdr msgs[RECV_BATCH];
    struct iovec iov[RECV_BATCH];
    struct sockaddr_storage from[RECV_BATCH];
    union {
        char buf[QUIC_UDP_CMSG_SPACE];
        struct cmsghdr align;
    } ctl[RECV_BATCH];
    unsigned batch = (unsigned)s->rbatch;
    for (;;) {
        for (unsigned i = 0; i < batch; i++) {
            iov[i] = (struct iovec){s->rbuf + i * s->rsize, s->rsize};
            msgs[i].msg_hdr = (struct msghdr){
                .msg_name = &from[i],
                .msg_namelen = sizeof(from[i]),
                .msg_iov = &iov[i],
                .msg_iovlen = 1,
                .msg_control = ctl[i].buf,
                .msg_controllen = sizeof(ctl[i].buf),
            };
        }
        int n = recvmmsg(s->w.fd, msgs, batch, MSG_DONTWAIT, NULL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; /* EAGAIN: drained (edge-triggered) */
        uint64_t now = quic_now_ns();
        struct qs_conn *dirty = NULL;
        for (int i = 0; i < n; i++) {
            struct msghdr *mh = &msgs[i].msg_hdr;
            if (mh->msg_flags & MSG_TRUNC) continue;
            struct quic_path path;
            memcpy(&path.local, &s->bound, s->bound_len);
            path.local_len = s->bound_len;
            memcpy(&path.remote, &from[i], mh->msg_namelen);
            path.remote_len = mh->msg_namelen;
            uint8_t ecn;
            size_t seg, len = msgs[i].msg_len;
            if (len == 0) continue;
            quic_udp_recv_info(mh, &path, &ecn, &seg);
            stats_add(&stats_here->bytes_in[SW_H3], len);
            stats_add(&stats_here->quic_datagrams_in, seg ? (len + seg - 1) / seg : 1);
            if (!seg || seg > len) seg = len;
            /* GRO: datagrams of one flow coalesced, each seg bytes but the last. */
            const uint8_t *base = s->rbuf + (size_t)i * s->rsize;
            for (size_t off = 0; off < len; off += seg) {
                size_t dl = len - off < seg ? len - off : seg;
                struct qs_conn *q = on_datagram(s, base + off, dl, &path, ecn, now);
                if (!q) continue;
                q->rx_dgrams++;
                if (seg < len) q->rx_coalesced++;
                if (!q->dirty) {
                    q->dirty = true;
                    q->dirty_next = dirty;
                    dirty = q;
                }
            }
        }
        for (struct qs_conn *q = dirty, *nx; q; q = nx) {
            nx = q->dirty_next;
            q->dirty = false;
            if (!flush(q, now)) conn_free(q);
        }
        if ((unsigned)n < batch) return;
    }
}

/* ---- lifecycle ---- */

static int open_socket(const struct sockaddr *addr, socklen_t len,
                       const struct quic_server_config *cfg, struct quic_udp *udp)
{
    int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) return -1;
    int one = 1;
    int ok = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0;
    if (addr->sa_family == AF_INET6)
        ok = ok && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0;
    ok = ok && quic_udp_setup(udp, fd, addr->sa_family) == 0;
    ok = ok && bind(fd, addr, len) == 0;
    /* After bind: a socket with a program of its own may not join a group. Each socket sets
     * the same program for the whole group; worker bytes go up to 255, so larger groups keep
     * the kernel's 4-tuple hash. */
    if (cfg->nworkers > 1 && cfg->nworkers <= 256 && !getenv("TERN_TEST_QUIC_NO_STEERING"))
        ok = ok && quic_route_attach(fd, cfg->server_id, cfg->nworkers) == 0;
    if (!ok) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

struct quic_server *quic_server_new(struct loop *loop, const struct sockaddr *addr,
                                    socklen_t addrlen, const struct quic_server_config *cfg)
{
    pthread_once(&token_once, token_secret_init);
    struct quic_server *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->loop = loop;
    s->cfg = *cfg;
    uint64_t seed;
    if (gnutls_rnd(GNUTLS_RND_KEY, s->reset_secret, sizeof(s->reset_secret)) != 0 ||
        gnutls_rnd(GNUTLS_RND_NONCE, &seed, sizeof(seed)) != 0) {
        free(s);
        errno = EIO;
        return NULL;
    }
    cidmap_init(&s->cids, seed);
    s->w.fd = open_socket(addr, addrlen, cfg, &s->udp);
    s->w.cb = on_readable;
    s->bound_len = sizeof(s->bound);
    s->rbatch = s->udp.gro ? RECV_BATCH_GRO : RECV_BATCH;
    s->rsize = s->udp.gro ? RECV_SIZE_GRO : RECV_SIZE;
    s->rbuf = s->w.fd < 0 ? NULL : malloc(s->rbatch * s->rsize);
    if (!s->rbuf && s->w.fd >= 0) errno = ENOMEM;
    s->tw.fd = -1;
    s->tw.cb = on_timer;
    if (s->rbuf) s->tw.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->w.fd < 0 || !s->rbuf || s->tw.fd < 0 || loop_add(loop, &s->tw, EPOLLIN | EPOLLET) != 0 ||
        getsockname(s->w.fd, (struct sockaddr *)&s->bound, &s->bound_len) != 0 ||
        loop_add(loop, &s->w, EPOLLIN | EPOLLET) != 0) {
        int e = errno;
        if (s->w.fd >= 0) close(s->w.fd);
        if (s->tw.fd >= 0) {
            loop_remove(loop, &s->tw);
            close(s->tw.fd);
        }
        free(s->rbuf);
        free(s);
        errno = e;
        return NULL;
    }
    log_debug("quic: UDP socket %d: GSO %s, GRO %s", s->w.fd, s->udp.gso ? "on" : "off",
              s->udp.gro ? "on" : "off");
    return s;
}

void quic_server_free(struct quic_server *s)
{
    if (!s) return;
    while (s->conns)
        conn_free(s->conns);
    loop_remove(s->loop, &s->w);
    close(s->w.fd);
    loop_remove(s->loop, &s->tw);
    close(s->tw.fd);
    deadline_heap_free(&s->deadlines);
    cidmap_free(&s->cids);
    free(s->rbuf);
    free(s);
}

void quic_server_stop_accepting(struct quic_server *s)
{
    s->stopped = true;
}

int quic_server_fd(const struct quic_server *s)
{
    return s->w.fd;
}

size_t quic_server_conn_count(const struct quic_server *s)
{
    return s->nconns;
}

size_t quic_server_handshake_count(const struct quic_server *s)
{
    return s->nhandshakes;
}
