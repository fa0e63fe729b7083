/* A QUIC connection over ngtcp2: datagrams in and out, stream events, send buffers kept until
 * acknowledged, flow-control credit given back as the application consumes. Everything here
 * serves both roles; the server's creation is here too, the client's is in client.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quic/conn_internal.h"
#include "quic/quic_client.h"
#include "quic/route.h"

uint64_t quic_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

ngtcp2_conn *quic_conn_get_ngtcp2(ngtcp2_crypto_conn_ref *ref)
{
    return ((struct quic_conn *)ref->user_data)->nc;
}

/* ---- ngtcp2 callbacks ---- */

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
    (void)ctx;
    gnutls_rnd(GNUTLS_RND_RANDOM, dest, len);
}

static int new_cid_cb(ngtcp2_conn *nc, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *ud)
{
    (void)nc;
    struct quic_conn *c = ud;
    if (c->client) {
        /* nothing routes by a client's CIDs: random ones, and a random reset token (we never
         * send a stateless reset as a client) */
        if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) != 0 ||
            gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) != 0)
            return NGTCP2_ERR_CALLBACK_FAILURE;
        cid->datalen = cidlen;
        return 0;
    }
    if (cidlen != QUIC_SCID_LEN || quic_route_make_cid(cid->data, c->cfg.server_id, c->cfg.worker))
        return NGTCP2_ERR_CALLBACK_FAILURE;
    cid->datalen = cidlen;
    if (ngtcp2_crypto_generate_stateless_reset_token(token, c->cfg.reset_secret,
                                                     QUIC_RESET_SECRET_LEN, cid) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    if (c->cfg.cid_add) c->cfg.cid_add(c->cfg.owner, cid->data, cid->datalen);
    return 0;
}

static int remove_cid_cb(ngtcp2_conn *nc, const ngtcp2_cid *cid, void *ud)
{
    (void)nc;
    struct quic_conn *c = ud;
    if (c->cfg.cid_remove) c->cfg.cid_remove(c->cfg.owner, cid->data, cid->datalen);
    return 0;
}

static int handshake_completed_cb(ngtcp2_conn *nc, void *ud)
{
    struct quic_conn *c = ud;
    c->handshake_done = true;
    if (!c->client) quic_tls_session_handshake_done(c->tls); /* a ticket, when they are on */
    if (!c->client && c->cfg.token_secret) {
        /* A token for the client's next connection from this address (RFC 9000 §8.1.3). */
        uint8_t tok[NGTCP2_CRYPTO_MAX_REGULAR_TOKENLEN];
        const ngtcp2_path *p = ngtcp2_conn_get_path(nc);
        ngtcp2_ssize n =
            ngtcp2_crypto_generate_regular_token(tok, c->cfg.token_secret, QUIC_TOKEN_SECRET_LEN,
                                                 p->remote.addr, p->remote.addrlen, quic_now_ns());
        if (n > 0) ngtcp2_conn_submit_new_token(nc, tok, (size_t)n);
    }
    if (c->cfg.cb->handshake_done) c->cfg.cb->handshake_done(c, c->cfg.app);
    return 0;
}

static int stream_open_cb(ngtcp2_conn *nc, int64_t id, void *ud)
{
    (void)nc;
    struct quic_conn *c = ud;
    if (!quic_streams_add(&c->streams, id)) return NGTCP2_ERR_CALLBACK_FAILURE;
    if (c->cfg.cb->stream_open) c->cfg.cb->stream_open(c, id, c->cfg.app);
    return 0;
}

static int recv_stream_data_cb(ngtcp2_conn *nc, uint32_t flags, int64_t id, uint64_t offset,
                               const uint8_t *data, size_t len, void *ud, void *sud)
{
    (void)offset, (void)sud;
    struct quic_conn *c = ud;
    bool fin = flags & NGTCP2_STREAM_DATA_FLAG_FIN;
    ssize_t used = (ssize_t)len;
    c->rx_early = flags & NGTCP2_STREAM_DATA_FLAG_EARLY;
    if (c->cfg.cb->stream_data) used = c->cfg.cb->stream_data(c, id, data, len, fin, c->cfg.app);
    c->rx_early = false;
    if (used < 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    if (used > 0) {
        ngtcp2_conn_extend_max_stream_offset(nc, id, (uint64_t)used);
        ngtcp2_conn_extend_max_offset(nc, (uint64_t)used);
    }
    return 0;
}

static int acked_cb(ngtcp2_conn *nc, int64_t id, uint64_t offset, uint64_t len, void *ud, void *sud)
{
    (void)nc, (void)sud;
    struct quic_conn *c = ud;
    struct quic_stream *st = quic_streams_find(&c->streams, id);
    if (!st) return 0;
    size_t before = quic_stream_room(st);
    quic_stream_acked(st, offset + len);
    size_t after = quic_stream_room(st);
    /* Also when the last byte held is acknowledged: a graceful close waits for that. */
    bool drained = after == QUIC_STREAM_SEND_MAX && before < after;
    if ((drained || (before < QUIC_STREAM_WRITABLE_MIN && after >= QUIC_STREAM_WRITABLE_MIN)) &&
        c->cfg.cb->stream_writable)
        c->cfg.cb->stream_writable(c, id, c->cfg.app);
    return 0;
}

static int stream_close_cb(ngtcp2_conn *nc, uint32_t flags, int64_t id, uint64_t app_error,
                           void *ud, void *sud)
{
    (void)sud;
    struct quic_conn *c = ud;
    if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) app_error = 0;
    if (c->cfg.cb->stream_close) c->cfg.cb->stream_close(c, id, app_error, c->cfg.app);
    quic_streams_remove(&c->streams, id);
    /* A peer's stream is done: let the peer open another one. */
    if (!ngtcp2_conn_is_local_stream(nc, id)) {
        if (id & 2)
            ngtcp2_conn_extend_max_streams_uni(nc, 1);
        else
            ngtcp2_conn_extend_max_streams_bidi(nc, 1);
    }
    return 0;
}

static int stream_reset_cb(ngtcp2_conn *nc, int64_t id, uint64_t final_size, uint64_t app_error,
                           void *ud, void *sud)
{
    (void)nc, (void)final_size, (void)sud;
    struct quic_conn *c = ud;
    if (c->cfg.cb->stream_reset) c->cfg.cb->stream_reset(c, id, app_error, c->cfg.app);
    return 0;
}

static int stop_sending_cb(ngtcp2_conn *nc, int64_t id, uint64_t app_error, void *ud, void *sud)
{
    (void)nc, (void)sud;
    struct quic_conn *c = ud;
    struct quic_stream *st = quic_streams_find(&c->streams, id);
    if (st) quic_streams_drop_send(&c->streams, st);
    if (c->cfg.cb->stream_stop_sending)
        c->cfg.cb->stream_stop_sending(c, id, app_error, c->cfg.app);
    return 0;
}

static int extend_stream_data_cb(ngtcp2_conn *nc, int64_t id, uint64_t max, void *ud, void *sud)
{
    (void)nc, (void)max, (void)sud;
    struct quic_conn *c = ud;
    struct quic_stream *st = quic_streams_find(&c->streams, id);
    if (st) quic_streams_queue(&c->streams, st);
    return 0;
}

void quic_conn_fill_callbacks(ngtcp2_callbacks *cb, bool client)
{
    memset(cb, 0, sizeof(*cb));
    if (client) {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    } else {
        cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    }
    cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb->rand = rand_cb;
    cb->get_new_connection_id = new_cid_cb;
    cb->remove_connection_id = remove_cid_cb;
    cb->handshake_completed = handshake_completed_cb;
    cb->stream_open = stream_open_cb;
    cb->recv_stream_data = recv_stream_data_cb;
    cb->acked_stream_data_offset = acked_cb;
    cb->stream_close = stream_close_cb;
    cb->stream_reset = stream_reset_cb;
    cb->stream_stop_sending = stop_sending_cb;
    cb->extend_max_stream_data = extend_stream_data_cb;
}

/* ---- lifecycle ---- */

static ngtcp2_path npath(const struct quic_path *p)
{
    ngtcp2_path np = {
        .local = {(ngtcp2_sockaddr *)&p->local, p->local_len},
        .remote = {(ngtcp2_sockaddr *)&p->remote, p->remote_len},
    };
    return np;
}

static void set_params(ngtcp2_transport_params *tp, const ngtcp2_pkt_hd *hd, const ngtcp2_cid *scid,
                       const struct quic_conn_config *cfg)
{
    const uint8_t *secret = cfg->reset_secret;
    ngtcp2_transport_params_default(tp);
    tp->initial_max_streams_bidi = 100;
    tp->initial_max_streams_uni = 3;
    tp->initial_max_stream_data_bidi_remote = 256 * 1024;
    tp->initial_max_stream_data_bidi_local = 256 * 1024;
    tp->initial_max_stream_data_uni = 256 * 1024;
    tp->initial_max_data = 1024 * 1024;
    tp->max_idle_timeout = 30 * NGTCP2_SECONDS;
    tp->active_connection_id_limit = 4;
    tp->original_dcid = hd->dcid;
    if (cfg->retry_odcid_len) {
        /* After a Retry both IDs go back to the client, which checks them (RFC 9000 §7.3). */
        ngtcp2_cid_init(&tp->original_dcid, cfg->retry_odcid, cfg->retry_odcid_len);
        tp->retry_scid = hd->dcid;
        tp->retry_scid_present = 1;
    }
    tp->stateless_reset_token_present = 1;
    ngtcp2_crypto_generate_stateless_reset_token(tp->stateless_reset_token, secret,
                                                 QUIC_RESET_SECRET_LEN, scid);
}

struct quic_conn *quic_conn_accept(const struct quic_conn_config *cfg, const uint8_t *pkt,
                                   size_t len, const struct quic_path *path, uint64_t now)
{
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, pkt, len) != 0) return NULL;
    struct quic_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->cfg = *cfg;
    /* These point into the first datagram: only quic_conn_accept reads them. */
    c->cfg.token = c->cfg.retry_odcid = NULL;
    c->cfg.token_len = c->cfg.retry_odcid_len = 0;
    c->odcid = hd.dcid;
    c->conn_ref.get_conn = quic_conn_get_ngtcp2;
    c->conn_ref.user_data = c;
    quic_streams_init(&c->streams);

    ngtcp2_cid scid = {.datalen = QUIC_SCID_LEN};
    if (quic_route_make_cid(scid.data, cfg->server_id, cfg->worker) != 0) {
        free(c);
        return NULL;
    }
    ngtcp2_callbacks cb;
    quic_conn_fill_callbacks(&cb, false);
    ngtcp2_settings st;
    ngtcp2_settings_default(&st);
    st.initial_ts = now;
    st.max_tx_udp_payload_size = NGTCP2_MAX_PMTUD_UDP_PAYLOAD_SIZE;
    st.max_window = 16 * 1024 * 1024;
    st.max_stream_window = 4 * 1024 * 1024;
    st.handshake_timeout = 10 * NGTCP2_SECONDS; /* a half-open connection does not stay 30 s */
    ngtcp2_transport_params tp;
    set_params(&tp, &hd, &scid, cfg);
    if (cfg->token_len) { /* validated by the server: the path needs no validation */
        st.token.base = (uint8_t *)cfg->token;
        st.token.len = cfg->token_len;
    }
    ngtcp2_path np = npath(path);
    /* The client's DCID of its first Initial is our DCID for it until it moves to ours. */
    if (ngtcp2_conn_server_new(&c->nc, &hd.scid, &scid, &np, hd.version, &cb, &st, &tp, NULL, c) !=
        0) {
        free(c);
        return NULL;
    }
    c->tls = quic_tls_session_new(cfg->tls, &c->conn_ref);
    if (!c->tls) {
        ngtcp2_conn_del(c->nc);
        free(c);
        return NULL;
    }
    ngtcp2_conn_set_tls_native_handle(c->nc, c->tls);
    if (cfg->cid_add) {
        cfg->cid_add(cfg->owner, scid.data, scid.datalen);
        cfg->cid_add(cfg->owner, c->odcid.data, c->odcid.datalen);
    }
    return c;
}

void quic_conn_free(struct quic_conn *c)
{
    if (!c) return;
    if (c->cfg.cid_remove) {
        size_t n = ngtcp2_conn_get_num_scid(c->nc);
        ngtcp2_cid *ids = calloc(n ? n : 1, sizeof(*ids));
        if (ids) {
            n = ngtcp2_conn_get_scid(c->nc, ids);
            for (size_t i = 0; i < n; i++)
                c->cfg.cid_remove(c->cfg.owner, ids[i].data, ids[i].datalen);
            free(ids);
        }
        c->cfg.cid_remove(c->cfg.owner, c->odcid.data, c->odcid.datalen);
    }
    quic_streams_free(&c->streams);
    ngtcp2_conn_del(c->nc);
    if (c->client)
        quic_tls_client_session_free(c->tls);
    else
        quic_tls_session_free(c->tls);
    free(c->close_pkt);
    free(c->carry);
    free(c);
}

void quic_conn_set_app(struct quic_conn *c, void *app)
{
    c->cfg.app = app;
}

void *quic_conn_app(const struct quic_conn *c)
{
    return c->cfg.app;
}

void *quic_conn_owner(const struct quic_conn *c)
{
    return c->cfg.owner;
}

bool quic_conn_all_acked(const struct quic_conn *c)
{
    const struct quic_streams *t = &c->streams;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (const struct quic_stream *st = t->buckets[i]; st; st = st->hnext) {
            /* a bidirectional stream is removed once its FIN is acknowledged */
            if (!(st->id & 0x2)) return false;
            if (st->acked_off < st->end_off) return false;
        }
    return true;
}

socklen_t quic_conn_remote(const struct quic_conn *c, struct sockaddr_storage *out)
{
    const ngtcp2_path *p = ngtcp2_conn_get_path(c->nc);
    socklen_t len = (socklen_t)p->remote.addrlen;
    if (len > sizeof(*out)) len = sizeof(*out);
    memcpy(out, p->remote.addr, len);
    return len;
}

enum quic_conn_state quic_conn_state(const struct quic_conn *c)
{
    return c->state;
}

const char *quic_conn_ja4(const struct quic_conn *c)
{
    return c->client || !c->tls ? NULL : quic_tls_session_ja4(c->tls);
}

bool quic_conn_handshake_done(const struct quic_conn *c)
{
    return c->handshake_done;
}

bool quic_conn_rx_early(const struct quic_conn *c)
{
    return c->rx_early;
}

/* The closing or draining period lasts three PTOs (RFC 9000 §10.2). */
static void enter_period(struct quic_conn *c, enum quic_conn_state st, uint64_t now)
{
    c->state = st;
    c->close_deadline = now + 3 * ngtcp2_conn_get_pto(c->nc);
}

/* Writes CONNECTION_CLOSE for ccerr and enters the closing period (or closes outright). */
static void close_with(struct quic_conn *c, const ngtcp2_connection_close_error *ccerr,
                       uint64_t now)
{
    if (c->state != QUIC_CONN_ACTIVE) return;
    if (ngtcp2_conn_is_in_closing_period(c->nc) || ngtcp2_conn_is_in_draining_period(c->nc)) {
        c->state = QUIC_CONN_CLOSED;
        return;
    }
    uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_ssize n =
        ngtcp2_conn_write_connection_close(c->nc, &ps.path, NULL, buf, sizeof(buf), ccerr, now);
    if (n <= 0 || !(c->close_pkt = malloc((size_t)n))) {
        c->state = QUIC_CONN_CLOSED;
        return;
    }
    memcpy(c->close_pkt, buf, (size_t)n);
    c->close_len = (size_t)n;
    c->close_pending = true;
    enter_period(c, QUIC_CONN_CLOSING, now);
}

static void close_liberr(struct quic_conn *c, int rv, uint64_t now)
{
    if (!c->last_liberr) c->last_liberr = rv;
    ngtcp2_connection_close_error ccerr;
    ngtcp2_connection_close_error_default(&ccerr);
    if (rv == NGTCP2_ERR_CRYPTO)
        ngtcp2_connection_close_error_set_transport_error_tls_alert(
            &ccerr, ngtcp2_conn_get_tls_alert(c->nc), NULL, 0);
    else
        ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, rv, NULL, 0);
    close_with(c, &ccerr, now);
}

static void close_app(struct quic_conn *c, uint64_t now)
{
    ngtcp2_connection_close_error ccerr;
    ngtcp2_connection_close_error_default(&ccerr);
    ngtcp2_connection_close_error_set_application_error(&ccerr, c->close_err, c->close_reason,
                                                        c->close_reason_len);
    c->close_req = false;
    close_with(c, &ccerr, now);
}

void quic_conn_close(struct quic_conn *c, uint64_t app_error, const char *reason)
{
    if (c->state != QUIC_CONN_ACTIVE || c->close_req) return;
    c->close_err = app_error;
    c->close_reason_len = reason ? strlen(reason) : 0;
    if (c->close_reason_len > sizeof(c->close_reason))
        c->close_reason_len = sizeof(c->close_reason);
    if (c->close_reason_len) memcpy(c->close_reason, reason, c->close_reason_len);
    c->close_req = true;
    /* ngtcp2 must not write packets from inside its callbacks: close once they return. */
    if (!c->in_ngtcp2) close_app(c, quic_now_ns());
}

void quic_conn_recv(struct quic_conn *c, const uint8_t *data, size_t len,
                    const struct quic_path *path, uint8_t ecn, uint64_t now)
{
    switch (c->state) {
    case QUIC_CONN_CLOSING: c->close_pending = true; return;
    case QUIC_CONN_ACTIVE: break;
    default: return;
    }
    ngtcp2_path np = npath(path);
    ngtcp2_pkt_info pi = {.ecn = ecn & NGTCP2_ECN_MASK};
    c->in_ngtcp2 = true;
    int rv = ngtcp2_conn_read_pkt(c->nc, &np, &pi, data, len, now);
    c->in_ngtcp2 = false;
    c->got_packet = true;
    switch (rv) {
    case 0:
        if (c->close_req) close_app(c, now);
        return;
    case NGTCP2_ERR_DRAINING:
        c->last_liberr = rv;
        enter_period(c, QUIC_CONN_DRAINING, now);
        return;
    case NGTCP2_ERR_DROP_CONN:
    case NGTCP2_ERR_RETRY:
        c->last_liberr = rv;
        c->state = QUIC_CONN_CLOSED;
        return;
    default: close_liberr(c, rv, now); return;
    }
}

/* Copies the connection's current path into *p. */
static void current_path(struct quic_conn *c, struct quic_path *p)
{
    const ngtcp2_path *np = ngtcp2_conn_get_path(c->nc);
    memcpy(&p->local, np->local.addr, np->local.addrlen);
    p->local_len = np->local.addrlen;
    memcpy(&p->remote, np->remote.addr, np->remote.addrlen);
    p->remote_len = np->remote.addrlen;
}

/* Writes one packet of the queued streams' data (each stream in turn, coalesced into one
 * packet) into buf. Returns its length, 0 when there is nothing to send now (or no room), or
 * a fatal ngtcp2 error. */
static ngtcp2_ssize write_pkt(struct quic_conn *c, uint8_t *buf, size_t cap, struct quic_path *path,
                              uint8_t *ecn, uint64_t now)
{
    ngtcp2_path np = {
        .local = {(ngtcp2_sockaddr *)&path->local, sizeof(path->local)},
        .remote = {(ngtcp2_sockaddr *)&path->remote, sizeof(path->remote)},
    };
    ngtcp2_pkt_info pi = {0};
    struct quic_stream *st = quic_streams_first(&c->streams);
    for (;;) {
        int64_t id = -1;
        uint32_t flags = st ? NGTCP2_WRITE_STREAM_FLAG_MORE : NGTCP2_WRITE_STREAM_FLAG_NONE;
        ngtcp2_vec v[2];
        size_t nv = 0;
        if (st) {
            id = st->id;
            nv = quic_stream_unsent(st, v);
            if (quic_stream_fin_due(st)) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        ngtcp2_ssize written = -1;
        ngtcp2_ssize n =
            ngtcp2_conn_writev_stream(c->nc, &np, &pi, buf, cap, &written, flags, id, v, nv, now);
        if (st && written >= 0) quic_stream_sent(st, (size_t)written, flags);
        struct quic_stream *next = st ? quic_streams_next(&c->streams, st) : NULL;
        if (st && (n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND))
            quic_streams_drop_send(&c->streams, st);
        else if (st && !quic_stream_has_pending(st))
            quic_streams_unqueue(&c->streams, st);
        else if (st && written > 0)
            quic_streams_rotate(&c->streams, st); /* round robin between packets */
        if (n == NGTCP2_ERR_WRITE_MORE || n == NGTCP2_ERR_STREAM_DATA_BLOCKED ||
            n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) {
            st = next;
            continue;
        }
        if (n > 0) {
            path->local_len = np.local.addrlen;
            path->remote_len = np.remote.addrlen;
            *ecn = (uint8_t)(pi.ecn & NGTCP2_ECN_MASK);
        }
        return n;
    }
}

static bool same_path(const struct quic_path *a, const struct quic_path *b)
{
    return a->local_len == b->local_len && a->remote_len == b->remote_len &&
           memcmp(&a->local, &b->local, a->local_len) == 0 &&
           memcmp(&a->remote, &b->remote, a->remote_len) == 0;
}

/* A packet written for another path or ECN codepoint than its train's, or longer than its
 * first datagram (a PMTUD probe): it leads the next train. */
struct quic_carry {
    struct quic_path path;
    uint8_t ecn;
    size_t len;
    uint8_t data[NGTCP2_MAX_PMTUD_UDP_PAYLOAD_SIZE];
};

size_t quic_conn_write_train(struct quic_conn *c, uint8_t *buf, size_t cap, size_t max_segs,
                             struct quic_train *t, uint64_t now)
{
    t->len = t->seg = 0;
    t->ecn = 0;
    if (c->carry) {
        struct quic_carry *k = c->carry;
        c->carry = NULL;
        t->path = k->path;
        t->ecn = k->ecn;
        if (cap >= k->len) {
            memcpy(buf, k->data, k->len);
            t->len = t->seg = k->len;
        }
        free(k);
        if (t->len) return t->len;
    }
    if (c->state == QUIC_CONN_CLOSING) {
        if (!c->close_pending || cap < c->close_len) return 0;
        c->close_pending = false;
        current_path(c, &t->path);
        memcpy(buf, c->close_pkt, c->close_len);
        t->len = t->seg = c->close_len;
        return t->len;
    }
    if (c->state != QUIC_CONN_ACTIVE) return 0;

    /* The train ends at the send quantum (at least one datagram), at max_segs, at a datagram
     * shorter than the first, or at one for another path or ECN codepoint or longer than the
     * first. ngtcp2 gets room for its largest datagram every time: given less, it may have to
     * write a packet that does not fit (a retransmitted CRYPTO frame), and it asserts. */
    size_t full = ngtcp2_conn_get_max_tx_udp_payload_size(c->nc);
    size_t mtu = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->nc);
    size_t limit = ngtcp2_conn_get_send_quantum(c->nc);
    if (limit < full) limit = full;
    if (limit > cap) limit = cap;
    struct quic_path p;
    for (size_t nseg = 0; nseg < max_segs && limit - t->len >= full; nseg++) {
        uint8_t ecn = 0;
        ngtcp2_ssize n = write_pkt(c, buf + t->len, full, t->len ? &p : &t->path, &ecn, now);
        if (n < 0) {
            close_liberr(c, (int)n, now);
            if (t->len) break; /* the close goes in the next train */
            return quic_conn_write_train(c, buf, cap, max_segs, t, now);
        }
        if (n == 0) break;
        if (!t->len) {
            t->ecn = ecn;
            t->len = t->seg = (size_t)n;
            if ((size_t)n < mtu) break; /* a short datagram ends the train */
            continue;
        }
        if ((size_t)n > t->seg || ecn != t->ecn || !same_path(&p, &t->path)) {
            struct quic_carry *k = malloc(sizeof(*k));
            if (k) { /* else the packet is lost and recovered as any lost packet */
                k->path = p;
                k->ecn = ecn;
                k->len = (size_t)n;
                memcpy(k->data, buf + t->len, (size_t)n);
                c->carry = k;
            }
            break;
        }
        t->len += (size_t)n;
        if ((size_t)n < t->seg) break;
    }
    /* Once per train, as ngtcp2 asks when datagrams are sent in aggregate (pacing). */
    ngtcp2_conn_update_pkt_tx_time(c->nc, now);
    return t->len;
}

uint64_t quic_conn_expiry(struct quic_conn *c)
{
    switch (c->state) {
    case QUIC_CONN_ACTIVE: return ngtcp2_conn_get_expiry(c->nc);
    case QUIC_CONN_CLOSED: return 0;
    default: return c->close_deadline;
    }
}

void quic_conn_handle_expiry(struct quic_conn *c, uint64_t now)
{
    if (c->state == QUIC_CONN_CLOSING || c->state == QUIC_CONN_DRAINING) {
        if (now >= c->close_deadline) c->state = QUIC_CONN_CLOSED;
        return;
    }
    if (c->state != QUIC_CONN_ACTIVE || now < ngtcp2_conn_get_expiry(c->nc)) return;
    c->in_ngtcp2 = true;
    int rv = ngtcp2_conn_handle_expiry(c->nc, now);
    c->in_ngtcp2 = false;
    if (rv == 0 && c->close_req)
        close_app(c, now);
    else if (rv == NGTCP2_ERR_IDLE_CLOSE) {
        c->last_liberr = rv;
        c->state = QUIC_CONN_CLOSED; /* silently, as idle timeout means (RFC 9000 §10.1) */
    } else if (rv != 0)
        close_liberr(c, rv, now);
}

/* ---- streams ---- */

ssize_t quic_stream_send(struct quic_conn *c, int64_t id, const uint8_t *data, size_t len, bool fin)
{
    struct quic_stream *st = quic_streams_find(&c->streams, id);
    if (!st || st->fin || st->send_dropped || c->state != QUIC_CONN_ACTIVE) return -1;
    size_t n = quic_stream_append(st, data, len);
    if (n == (size_t)-1) return -1;
    if (fin && n == len) st->fin = true;
    if (n || st->fin) quic_streams_queue(&c->streams, st);
    return (ssize_t)n;
}

size_t quic_stream_send_room(struct quic_conn *c, int64_t id)
{
    struct quic_stream *st = quic_streams_find(&c->streams, id);
    return st && !st->fin && !st->send_dropped ? quic_stream_room(st) : 0;
}

void quic_stream_consumed(struct quic_conn *c, int64_t id, size_t n)
{
    if (c->state != QUIC_CONN_ACTIVE || n == 0) return;
    ngtcp2_conn_extend_max_stream_offset(c->nc, id, n);
    ngtcp2_conn_extend_max_offset(c->nc, n);
}

/* Opens a local stream (bidi or uni) and its send buffer. */
static int open_stream(struct quic_conn *c, int64_t *id, bool bidi)
{
    if (c->state != QUIC_CONN_ACTIVE) return -1;
    int rv = bidi ? ngtcp2_conn_open_bidi_stream(c->nc, id, NULL)
                  : ngtcp2_conn_open_uni_stream(c->nc, id, NULL);
    if (rv != 0) return -1;
    if (!quic_streams_add(&c->streams, *id)) {
        ngtcp2_conn_shutdown_stream(c->nc, *id, 0);
        return -1;
    }
    return 0;
}

int quic_open_uni_stream(struct quic_conn *c, int64_t *id)
{
    return open_stream(c, id, false);
}

int quic_open_bidi_stream(struct quic_conn *c, int64_t *id)
{
    return open_stream(c, id, true);
}

int quic_stream_reset(struct quic_conn *c, int64_t id, uint64_t app_error)
{
    struct quic_stream *st = quic_streams_find(&c->streams, id);
    if (st) quic_streams_drop_send(&c->streams, st);
    return ngtcp2_conn_shutdown_stream_write(c->nc, id, app_error) == 0 ? 0 : -1;
}

void quic_stream_set_priority(struct quic_conn *c, int64_t stream_id, uint8_t urgency,
                              bool incremental)
{
    struct quic_stream *st = quic_streams_find(&c->streams, stream_id);
    if (st)
        quic_streams_set_priority(&c->streams, st,
                                  (struct http_priority){urgency > 7 ? 7 : urgency, incremental});
}

int quic_stream_stop_sending(struct quic_conn *c, int64_t id, uint64_t app_error)
{
    return ngtcp2_conn_shutdown_stream_read(c->nc, id, app_error) == 0 ? 0 : -1;
}
