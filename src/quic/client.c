/* A QUIC connection in the client role: made here, run by the code both roles share (conn.c).
 * RFC 9000 §7.2: the client picks random connection IDs, the server's one comes later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quic/conn_internal.h"
#include "quic/quic_client.h"

#define CLIENT_CID_LEN 18

static void client_params(ngtcp2_transport_params *tp)
{
    ngtcp2_transport_params_default(tp);
    /* RFC 9114 §6.2: the server opens a control stream and two QPACK streams; no push. A
     * server never opens a bidirectional stream in HTTP/3 (§6.1). */
    tp->initial_max_streams_bidi = 0;
    tp->initial_max_streams_uni = 3;
    tp->initial_max_stream_data_bidi_local = 1024 * 1024; /* response bodies */
    tp->initial_max_stream_data_uni = 64 * 1024;
    tp->initial_max_data = 4 * 1024 * 1024;
    tp->max_idle_timeout = 30 * NGTCP2_SECONDS;
    tp->active_connection_id_limit = 4;
}

struct quic_conn *quic_client_connect(const struct quic_client_config *cfg,
                                      const struct quic_path *path, uint64_t now, char *err,
                                      size_t errlen)
{
    struct quic_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->client = true;
    c->cfg.cb = cfg->cb;
    c->cfg.app = cfg->app;
    c->conn_ref.get_conn = quic_conn_get_ngtcp2;
    c->conn_ref.user_data = c;
    quic_streams_init(&c->streams);
    ngtcp2_cid scid = {.datalen = CLIENT_CID_LEN}, dcid = {.datalen = CLIENT_CID_LEN};
    if (gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0 ||
        gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen) != 0) {
        snprintf(err, errlen, "no random numbers");
        free(c);
        return NULL;
    }
    ngtcp2_callbacks cb;
    quic_conn_fill_callbacks(&cb, true);
    ngtcp2_settings st;
    ngtcp2_settings_default(&st);
    st.initial_ts = now;
    st.max_window = 16 * 1024 * 1024; /* flow-control windows grow to these (auto-tuning) */
    st.max_stream_window = 8 * 1024 * 1024;
    if (cfg->handshake_timeout_ns) st.handshake_timeout = cfg->handshake_timeout_ns;
    ngtcp2_transport_params tp;
    client_params(&tp);
    ngtcp2_path np = {
        .local = {(ngtcp2_sockaddr *)&path->local, path->local_len},
        .remote = {(ngtcp2_sockaddr *)&path->remote, path->remote_len},
    };
    if (ngtcp2_conn_client_new(&c->nc, &dcid, &scid, &np, NGTCP2_PROTO_VER_V1, &cb, &st, &tp, NULL,
                               c) != 0) {
        snprintf(err, errlen, "out of memory");
        free(c);
        return NULL;
    }
    c->tls = quic_tls_client_session_new(cfg->host, cfg->host_is_ip, cfg->cacert, cfg->insecure,
                                         &c->conn_ref, err, errlen);
    if (!c->tls) {
        ngtcp2_conn_del(c->nc);
        free(c);
        return NULL;
    }
    ngtcp2_conn_set_tls_native_handle(c->nc, c->tls);
    return c;
}

bool quic_client_got_packet(const struct quic_conn *c)
{
    return c->got_packet;
}

/* The server's CONNECTION_CLOSE, as a message. */
static enum quic_failure peer_close(const struct quic_conn *c, char *msg, size_t len)
{
    ngtcp2_connection_close_error cc;
    ngtcp2_conn_get_connection_close_error(c->nc, &cc);
    int rl = (int)(cc.reasonlen > 100 ? 100 : cc.reasonlen);
    const char *reason = cc.reason ? (const char *)cc.reason : "";
    if (cc.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION) {
        snprintf(msg, len, "the server closed the connection: HTTP/3 error 0x%llx %.*s",
                 (unsigned long long)cc.error_code, rl, reason);
        return QUIC_FAIL_PEER_CLOSE;
    }
    /* RFC 9001 §4.8: CRYPTO_ERROR 0x100 + a TLS alert */
    if (cc.error_code >= 0x100 && cc.error_code < 0x200) {
        snprintf(msg, len, "the server refused the TLS handshake: alert %s (%u) %.*s",
                 gnutls_alert_get_strname((gnutls_alert_description_t)(cc.error_code - 0x100)),
                 (unsigned)(cc.error_code - 0x100), rl, reason);
        return QUIC_FAIL_TLS;
    }
    snprintf(msg, len, "the server closed the connection: QUIC error 0x%llx %.*s",
             (unsigned long long)cc.error_code, rl, reason);
    return QUIC_FAIL_TRANSPORT;
}

enum quic_failure quic_client_failure(const struct quic_conn *c, char *msg, size_t len)
{
    *msg = 0;
    int rv = c->last_liberr;
    if (!c->handshake_done && gnutls_session_get_verify_cert_status(c->tls)) {
        gnutls_datum_t out = {0};
        unsigned status = gnutls_session_get_verify_cert_status(c->tls);
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0) {
            snprintf(msg, len, "server certificate verification failed: %s", out.data);
            size_t n = strlen(msg);
            while (n && msg[n - 1] == ' ') /* GnuTLS ends its text with a space */
                msg[--n] = 0;
            gnutls_free(out.data);
        } else {
            snprintf(msg, len, "server certificate verification failed");
        }
        return QUIC_FAIL_CERT;
    }
    if (c->state == QUIC_CONN_ACTIVE && !rv) return QUIC_FAIL_NONE;
    if (!c->got_packet) {
        snprintf(msg, len, "no answer from the server (QUIC handshake)");
        return QUIC_FAIL_NO_ANSWER;
    }
    if (rv == NGTCP2_ERR_DRAINING) return peer_close(c, msg, len);
    if (rv == NGTCP2_ERR_IDLE_CLOSE || rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
        snprintf(msg, len, "%s",
                 rv == NGTCP2_ERR_IDLE_CLOSE ? "QUIC idle timeout" : "QUIC handshake timeout");
        return QUIC_FAIL_TIMEOUT;
    }
    if (!c->handshake_done) {
        int alert = ngtcp2_conn_get_tls_alert(c->nc);
        snprintf(msg, len, "TLS handshake failed: %s%s%s", ngtcp2_strerror(rv),
                 alert ? ", alert " : "",
                 alert ? gnutls_alert_get_strname((gnutls_alert_description_t)alert) : "");
        return QUIC_FAIL_TLS;
    }
    snprintf(msg, len, "QUIC connection failed: %s", rv ? ngtcp2_strerror(rv) : "closed");
    return QUIC_FAIL_TRANSPORT;
}

void quic_client_tls_info(const struct quic_conn *c, const char **version, const char **cipher,
                          const char **alpn)
{
    *version = *cipher = *alpn = "";
    if (!c->handshake_done) return;
    const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls));
    const char *ci = gnutls_cipher_get_name(gnutls_cipher_get(c->tls));
    *version = v ? v : "";
    *cipher = ci ? ci : "";
    gnutls_datum_t sel;
    if (gnutls_alpn_get_selected_protocol(c->tls, &sel) == 0 && sel.size == sizeof(ALPN_H3) - 1 &&
        memcmp(sel.data, ALPN_H3, sel.size) == 0)
        *alpn = ALPN_H3;
}
