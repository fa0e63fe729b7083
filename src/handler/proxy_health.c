/* Active health checks of a proxy's upstreams: every `interval`, per worker, a GET of the
 * configured path on a connection of its own (TLS for https upstreams); a 2xx or 3xx status
 * within `timeout` passes. `fails` failures in a row take the upstream out of balancing,
 * `passes` passes in a row bring it back; each change is logged. The check speaks the
 * upstream's protocol: HTTP/1.1, or HTTP/2 for h2c:// and for https with `http2` (ALPN h2;
 * should the upstream choose http/1.1, the check goes on in HTTP/1.1 on that connection),
 * through the one h2 session engine (h2/session.h) in its client role, on a session of the
 * probe's own. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "h2/session.h"
#include "handler/proxy_internal.h"
#include "tls/tls.h"

enum probe_state { P_CONNECTING, P_HANDSHAKE, P_SENDING, P_READING, P_H2 };

struct health_probe {
    struct io_watch w; /* first */
    struct timer timer;
    struct proxy_state *st;
    size_t up;
    struct tls_conn *tls;
    enum probe_state state;
    char out[600];
    size_t out_len, sent;
    char in[128];
    size_t in_len;
    bool want_h2;          /* h2c://, or https with http2: HTTP/2 once connected */
    struct h2_session *h2; /* P_H2 */
    int h2_status;         /* the response's status once it came (the callbacks set it) */
    const char *h2_failed; /* why the stream or session ended without one */
    struct buf h2_in;      /* what the session did not take yet (a frame cut short) */
};

static void probe_free(struct health_probe *p)
{
    timer_cancel(&p->timer);
    loop_remove(p->st->pw->loop, &p->w);
    tls_conn_free(p->tls);
    h2_session_free(p->h2);
    buf_free(&p->h2_in);
    close(p->w.fd);
    p->st->probes[p->up] = NULL;
    free(p);
}

/* Counts a check's result for upstream i: `fails` failures in a row take it out of service,
 * `passes` passes in a row bring it back. */
static void record(struct proxy_state *st, size_t i, bool ok, const char *why)
{
    const struct config_proxy *pc = st->pc;
    const char *url = pc->upstreams[i].url;
    if (ok) {
        st->check_fails[i] = 0;
        if (st->check_down[i] && ++st->check_passes[i] >= pc->health_passes) {
            st->check_down[i] = false;
            st->check_passes[i] = 0;
            log_warn("upstream %s: health check passed, back in service", url);
        }
        return;
    }
    st->check_passes[i] = 0;
    if (!st->check_down[i] && ++st->check_fails[i] >= pc->health_fails) {
        st->check_down[i] = true;
        st->check_fails[i] = 0;
        log_warn("upstream %s: health check failed (%s), out of service", url, why);
    }
}

/* Records a result and frees the probe. */
static void probe_done(struct health_probe *p, bool ok, const char *why)
{
    struct proxy_state *st = p->st;
    size_t i = p->up;
    probe_free(p);
    record(st, i, ok, why);
}

/* "HTTP/1.x NNN": a 2xx or 3xx passes. */
static void parse_status(struct health_probe *p)
{
    char *eol = memchr(p->in, '\n', p->in_len);
    if (!eol && p->in_len < sizeof(p->in) - 1) return; /* more to come */
    int status = 0;
    if (p->in_len >= 12 && memcmp(p->in, "HTTP/1.", 7) == 0 && p->in[8] == ' ' &&
        isdigit((unsigned char)p->in[9]) && isdigit((unsigned char)p->in[10]) &&
        isdigit((unsigned char)p->in[11]))
        status = (p->in[9] - '0') * 100 + (p->in[10] - '0') * 10 + (p->in[11] - '0');
    char why[32];
    snprintf(why, sizeof(why), status ? "status %d" : "not an HTTP response", status);
    probe_done(p, status >= 200 && status < 400, why);
}

/* ---- HTTP/2 ---- */

static void h2_on_response(struct h2_session *s, struct h2_stream *st, bool interim)
{
    (void)s;
    struct health_probe *p = st->user;
    if (p && !interim) p->h2_status = st->resp.status;
}

static int h2_on_data(struct h2_session *s, struct h2_stream *st, const uint8_t *data, size_t len)
{
    (void)s, (void)st, (void)data, (void)len;
    return 0; /* the status is all a check wants; the probe ends with the head */
}

static void h2_on_stream_close(struct h2_session *s, struct h2_stream *st)
{
    struct health_probe *p = st->user;
    st->user = NULL;
    if (p && !p->h2_status) p->h2_failed = st->error ? st->error : "stream ended";
    (void)s;
}

static const struct h2_session_callbacks h2_callbacks = {
    .on_response = h2_on_response, .on_data = h2_on_data, .on_stream_close = h2_on_stream_close};

/* The session and its one stream (the preface, SETTINGS and the GET are queued). 0 or -1. */
static int h2_begin(struct health_probe *p)
{
    const struct config_proxy *pc = p->st->pc;
    const struct config_upstream *up = &pc->upstreams[p->up];
    struct h2_session_params prm;
    h2_session_client_params(&prm, p->tls != NULL, up->url);
    int64_t now = loop_now_ms(p->st->pw->loop);
    if (!(p->h2 = h2_session_new(&prm, &h2_callbacks, p, now))) return -1;
    static const str_t names[] = {STR_LIT("user-agent")}, values[] = {STR_LIT("tern-health-check")};
    struct h2_request_out rq = {.method = STR_LIT("GET"),
                                .scheme = p->tls ? STR_LIT("https") : STR_LIT("http"),
                                .authority = str_cstr(up->authority),
                                .path = str_cstr(pc->health_path),
                                .names = names,
                                .values = values,
                                .n_fields = 1,
                                .user = p};
    return h2_session_submit(p->h2, &rq) ? 0 : -1;
}

/* Reads and writes the session until it would block; true when the probe is over (freed). */
static bool h2_step(struct health_probe *p)
{
    int64_t now = loop_now_ms(p->st->pw->loop);
    for (;;) {
        if (p->h2_status) {
            char why[32];
            snprintf(why, sizeof(why), "status %d", p->h2_status);
            probe_done(p, p->h2_status >= 200 && p->h2_status < 400, why);
            return true;
        }
        if (p->h2_failed || p->h2->dead) {
            char why[160];
            snprintf(why, sizeof(why), "HTTP/2: %s",
                     p->h2_failed          ? p->h2_failed
                     : p->h2->error_reason ? p->h2->error_reason
                                           : "connection error");
            probe_done(p, false, why);
            return true;
        }
        h2_session_produce(p->h2, 16384);
        struct buf *out = h2_session_output(p->h2);
        bool progress = false;
        if (buf_size(out)) {
            ssize_t n = p->tls ? tls_conn_write(p->tls, buf_ptr(out), buf_size(out))
                               : send(p->w.fd, buf_ptr(out), buf_size(out), MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN) {
                probe_done(p, false, "send failed");
                return true;
            }
            if (n > 0) {
                buf_consume(out, (size_t)n);
                progress = true;
            }
        }
        if (buf_reserve(&p->h2_in, 16384) < 0) {
            probe_done(p, false, "out of memory");
            return true;
        }
        size_t room = p->h2_in.cap - p->h2_in.len;
        ssize_t n = p->tls ? tls_conn_read(p->tls, buf_tail(&p->h2_in), room)
                           : recv(p->w.fd, buf_tail(&p->h2_in), room, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            probe_done(p, false, "closed before a response");
            return true;
        }
        if (n > 0) {
            buf_commit(&p->h2_in, (size_t)n);
            size_t used = h2_session_recv(p->h2, (const uint8_t *)buf_ptr(&p->h2_in),
                                          buf_size(&p->h2_in), now);
            buf_consume(&p->h2_in, used);
            buf_compact(&p->h2_in);
            progress = true;
        }
        if (!progress) return false;
    }
}

static void probe_run(struct health_probe *p)
{
    for (;;) {
        switch (p->state) {
        case P_CONNECTING: {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(p->w.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
            if (err == EINPROGRESS) return;
            if (err) {
                probe_done(p, false, strerror(err));
                return;
            }
            p->state = p->tls ? P_HANDSHAKE : p->want_h2 ? P_H2 : P_SENDING;
            if (p->state == P_H2 && h2_begin(p) < 0) {
                probe_done(p, false, "out of memory");
                return;
            }
            break;
        }
        case P_HANDSHAKE: {
            int r = tls_conn_handshake(p->tls);
            if (r < 0) {
                probe_done(p, false, "TLS handshake failed");
                return;
            }
            if (r == 0) return;
            const char *alpn = tls_conn_alpn(p->tls);
            p->state = p->want_h2 && alpn && strcmp(alpn, "h2") == 0 ? P_H2 : P_SENDING;
            if (p->state == P_H2 && h2_begin(p) < 0) {
                probe_done(p, false, "out of memory");
                return;
            }
            break;
        }
        case P_H2: h2_step(p); return;
        case P_SENDING: {
            ssize_t n = p->tls
                            ? tls_conn_write(p->tls, p->out + p->sent, p->out_len - p->sent)
                            : send(p->w.fd, p->out + p->sent, p->out_len - p->sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EAGAIN) return;
            if (n <= 0) {
                probe_done(p, false, "send failed");
                return;
            }
            p->sent += (size_t)n;
            if (p->sent == p->out_len) p->state = P_READING;
            break;
        }
        case P_READING: {
            size_t room = sizeof(p->in) - 1 - p->in_len;
            ssize_t n = p->tls ? tls_conn_read(p->tls, p->in + p->in_len, room)
                               : recv(p->w.fd, p->in + p->in_len, room, 0);
            if (n < 0 && errno == EAGAIN) return;
            if (n <= 0) {
                probe_done(p, false, "closed before a status line");
                return;
            }
            p->in_len += (size_t)n;
            if (!memchr(p->in, '\n', p->in_len) && p->in_len < sizeof(p->in) - 1) break;
            parse_status(p);
            return;
        }
        }
    }
}

static void on_probe_io(struct io_watch *w, uint32_t events)
{
    (void)events;
    probe_run((struct health_probe *)w);
}

static void on_probe_timeout(struct timer *t)
{
    probe_done((struct health_probe *)((char *)t - offsetof(struct health_probe, timer)), false,
               "timed out");
}

static void probe_start(struct proxy_state *st, size_t i)
{
    const struct config_proxy *pc = st->pc;
    const struct config_upstream *up = &pc->upstreams[i];
    struct health_probe *p = calloc(1, sizeof(*p));
    if (!p) return; /* the next round tries again */
    int n = snprintf(p->out, sizeof(p->out),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tern-health-check\r\n"
                     "Connection: close\r\n\r\n",
                     pc->health_path, up->authority);
    int fd = socket(up->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (n < 0 || (size_t)n >= sizeof(p->out) || fd < 0) {
        if (fd >= 0) close(fd);
        free(p);
        return;
    }
    p->out_len = (size_t)n;
    p->w.fd = fd;
    p->w.cb = on_probe_io;
    p->timer.cb = on_probe_timeout;
    p->st = st;
    p->up = i;
    st->probes[i] = p;
    if (connect(fd, (const struct sockaddr *)&up->addr, up->addr_len) < 0 && errno != EINPROGRESS &&
        errno != EAGAIN) {
        int err = errno;
        close(fd);
        st->probes[i] = NULL;
        free(p);
        /* refused at once (a unix socket with nobody behind it): a failed check */
        record(st, i, false, strerror(err));
        return;
    }
    p->want_h2 = up->h2c || (up->tls && pc->http2 && pc->tls_h2 && !st->h1_only[i]);
    if (up->tls &&
        !(p->tls = tls_conn_new_client(p->want_h2 ? pc->tls_h2 : pc->tls, fd, up->server_name))) {
        close(fd);
        st->probes[i] = NULL;
        free(p);
        return;
    }
    if (loop_add(st->pw->loop, &p->w, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
        tls_conn_free(p->tls);
        close(fd);
        st->probes[i] = NULL;
        free(p);
        return;
    }
    timer_arm(st->pw->loop, &p->timer,
              loop_now_ms(st->pw->loop) + (int64_t)(pc->health_timeout * 1000));
}

static void on_health_timer(struct timer *t)
{
    struct proxy_state *st =
        (struct proxy_state *)((char *)t - offsetof(struct proxy_state, health_timer));
    for (size_t i = 0; i < st->pc->n_upstreams; i++)
        if (!st->probes[i]) probe_start(st, i);
    timer_arm(st->pw->loop, &st->health_timer,
              loop_now_ms(st->pw->loop) + (int64_t)(st->pc->health_interval * 1000));
}

void proxy_health_start(struct proxy_state *st)
{
    if (!st->pc->health_path || timer_armed(&st->health_timer)) return;
    st->health_timer.cb = on_health_timer;
    timer_arm(st->pw->loop, &st->health_timer, loop_now_ms(st->pw->loop));
}

void proxy_health_stop(struct proxy_state *st)
{
    timer_cancel(&st->health_timer);
    for (size_t i = 0; i < PROXY_MAX_UPSTREAMS; i++)
        if (st->probes[i]) probe_free(st->probes[i]);
}
