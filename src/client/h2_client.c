#include "client/h2_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/upload.h"
#include "h2/session.h"

#define READ_SIZE  65536
#define HIGH_WATER (256 * 1024)
/* Times a transfer is sent when the server refuses its stream unprocessed. */
#define MAX_ATTEMPTS 3

/* A transfer while it runs. */
struct xfer {
    struct client_transfer *t;
    struct h2_client *hc;
    struct client_request_fields f;
    struct client_upload up;
};

struct h2_client {
    struct transport_conn *c;
    struct h2_session *s;
    struct client_transfer **queue;
    size_t n_queued, cap, next; /* queue[next..n_queued) wait for a stream */
    size_t running;
    struct buf in;
    bool started; /* the session's bytes went out (not before an h2c Upgrade is answered) */
};

static void on_response(struct h2_session *s, struct h2_stream *st, bool interim)
{
    (void)s;
    struct xfer *x = st->user;
    struct client_transfer *t = x->t;
    struct client_response *rs = t->rs;
    if (!rs->t_first_byte) rs->t_first_byte = client_now_us();
    if (t->e.status) return;
    str_t names[CLIENT_MAX_FIELDS], values[CLIENT_MAX_FIELDS];
    size_t n = st->resp.headers.count;
    if (n > CLIENT_MAX_FIELDS) n = CLIENT_MAX_FIELDS; /* the session's limit is the same */
    for (size_t i = 0; i < n; i++) {
        names[i] = st->resp.headers.items[i].name;
        values[i] = st->resp.headers.items[i].value;
    }
    if (client_response_set_head(rs, 20, st->resp.status, names, values, n) < 0) {
        client_fail(&t->e, CLIENT_RECV, "out of memory");
        return;
    }
    if (t->sinks->head &&
        t->sinks->head(t->sinks->ctx, rs, buf_ptr(&rs->raw), buf_size(&rs->raw), interim) < 0)
        client_fail(&t->e, CLIENT_WRITE, "failed writing the response head");
}

static int on_data(struct h2_session *s, struct h2_stream *st, const uint8_t *data, size_t len)
{
    (void)s;
    struct xfer *x = st->user;
    struct client_transfer *t = x->t;
    if (t->e.status) return -1; /* a sink failed on the head */
    t->rs->body_bytes += (int64_t)len;
    if (t->sinks->body && t->sinks->body(t->sinks->ctx, (const char *)data, len) < 0) {
        client_fail(&t->e, CLIENT_WRITE, "failed writing the body");
        return -1;
    }
    return 0;
}

static void on_stream_close(struct h2_session *s, struct h2_stream *st)
{
    struct xfer *x = st->user;
    struct client_transfer *t = x->t;
    struct h2_client *hc = x->hc;
    if (!t->e.status && st->error_code == H2_REFUSED_STREAM && !t->rs->head.status &&
        t->attempts < MAX_ATTEMPTS && h2_session_can_submit(s)) {
        /* not processed (§8.7): send it again, on this connection if it takes more */
        hc->running--;
        buf_free(&x->f.text);
        free(x);
        t->wire = NULL;
        if (t->rq->body_fd >= 0) lseek(t->rq->body_fd, 0, SEEK_SET);
        h2_client_submit(hc, t);
        return;
    }
    if (!t->e.status && !(st->response_done && !st->error)) {
        if (st->error)
            client_fail(&t->e, CLIENT_HTTP2_STREAM, "HTTP/2 stream %u failed: %s", st->id,
                        st->error);
        else if (s->dead && s->error_reason)
            client_fail(&t->e, CLIENT_HTTP2, "HTTP/2 connection error %s: %s",
                        h2_error_name(s->error_code), s->error_reason);
        else
            client_fail(&t->e, CLIENT_HTTP2, "the HTTP/2 connection ended before the response");
    }
    t->done = true;
    t->wire = NULL;
    hc->running--;
    buf_free(&x->f.text);
    free(x);
}

static const struct h2_session_callbacks callbacks = {
    .on_response = on_response, .on_data = on_data, .on_stream_close = on_stream_close};

struct h2_client *h2_client_new(struct transport_conn *c, struct client_error *e)
{
    struct h2_client *hc = calloc(1, sizeof(*hc));
    struct h2_session_params p;
    h2_session_client_params(&p, c->tls != NULL, c->peer);
    if (hc) hc->s = h2_session_new(&p, &callbacks, hc, client_now_ms());
    if (!hc || !hc->s) {
        free(hc);
        client_fail(e, CLIENT_RECV, "out of memory");
        return NULL;
    }
    hc->c = c;
    return hc;
}

void h2_client_submit(struct h2_client *hc, struct client_transfer *t)
{
    t->done = false;
    t->e.status = 0;
    if (hc->n_queued == hc->cap) {
        size_t cap = hc->cap ? hc->cap * 2 : 16;
        struct client_transfer **q = realloc(hc->queue, cap * sizeof(*q));
        if (!q) {
            client_fail(&t->e, CLIENT_SEND, "out of memory");
            t->done = true;
            return;
        }
        hc->queue = q;
        hc->cap = cap;
    }
    hc->queue[hc->n_queued++] = t;
}

/* Opens a stream for a queued transfer. */
static void start(struct h2_client *hc, struct client_transfer *t)
{
    struct xfer *x = calloc(1, sizeof(*x));
    if (!x || client_request_fields(t->rq, &x->f) < 0) {
        client_fail(&t->e, CLIENT_SEND, x ? "too many or invalid request fields" : "out of memory");
        if (x) buf_free(&x->f.text);
        free(x);
        t->done = true;
        return;
    }
    x->t = t;
    x->hc = hc;
    t->attempts++;
    const struct client_request *rq = t->rq;
    struct h2_request_out out = {.method = x->f.method,
                                 .scheme = x->f.scheme,
                                 .authority = x->f.authority,
                                 .path = x->f.path,
                                 .names = x->f.names,
                                 .values = x->f.values,
                                 .n_fields = x->f.n,
                                 .body_length = rq->body_len,
                                 .user = x};
    out.body = client_upload_init(&x->up, rq);
    if (t->sinks->request_head) {
        struct buf text = {0};
        if (client_request_fields_text(&x->f, "HTTP/2", &text) == 0)
            t->sinks->request_head(t->sinks->ctx, buf_ptr(&text), buf_size(&text));
        buf_free(&text);
    }
    hc->running++;
    t->wire = h2_session_submit(hc->s, &out);
    if (!t->wire) {
        hc->running--;
        client_fail(&t->e, CLIENT_SEND, "no HTTP/2 stream could be opened");
        buf_free(&x->f.text);
        free(x);
        t->done = true;
    }
}

static int flush(struct h2_client *hc, struct client_error *e)
{
    struct buf *out = h2_session_output(hc->s);
    while (buf_size(out)) {
        if (transport_write(hc->c, buf_ptr(out), buf_size(out), e) < 0) return -1;
        buf_clear(out);
        h2_session_produce(hc->s, HIGH_WATER);
    }
    return 0;
}

/* Fails the transfers still queued (the connection cannot take them). */
static void fail_queued(struct h2_client *hc, const struct client_error *e)
{
    for (; hc->next < hc->n_queued; hc->next++) {
        struct client_transfer *t = hc->queue[hc->next];
        t->e = *e;
        t->done = true;
    }
}

int h2_client_run(struct h2_client *hc, struct client_error *e)
{
    struct h2_session *s = hc->s;
    hc->started = true;
    for (;;) {
        while (hc->next < hc->n_queued && h2_session_can_submit(s))
            start(hc, hc->queue[hc->next++]);
        if (hc->running == 0 && hc->next == hc->n_queued) return 0;
        h2_session_produce(s, HIGH_WATER);
        if (flush(hc, e) < 0) break;
        if (s->dead) {
            client_fail(e, CLIENT_HTTP2, "HTTP/2 connection error %s: %s",
                        h2_error_name(s->error_code), s->error_reason ? s->error_reason : "closed");
            break;
        }
        if (hc->running == 0 && !h2_session_can_submit(s)) {
            client_fail(e, CLIENT_HTTP2, "the server refused more requests on this connection");
            break;
        }
        /* wait for input no longer than the session's next deadline */
        int64_t overall = hc->c->deadline_ms, due = h2_session_next_deadline(s);
        if (due && (!overall || due < overall)) hc->c->deadline_ms = due;
        if (buf_reserve(&hc->in, READ_SIZE) < 0) {
            client_fail(e, CLIENT_RECV, "out of memory");
            break;
        }
        ssize_t n = transport_read(hc->c, buf_tail(&hc->in), READ_SIZE, e);
        hc->c->deadline_ms = overall;
        int64_t now = client_now_ms();
        if (n < 0 && e->status == CLIENT_TIMEOUT && (!overall || now < overall)) {
            e->status = 0;
            h2_session_timeout(s, now);
            continue;
        }
        if (n < 0) break;
        if (n == 0) {
            client_fail(e, CLIENT_RECV, "the server closed the connection%s",
                        s->peer_goaway ? " after GOAWAY" : "");
            break;
        }
        buf_commit(&hc->in, (size_t)n);
        size_t used = h2_session_recv(s, (const uint8_t *)buf_ptr(&hc->in), buf_size(&hc->in), now);
        buf_consume(&hc->in, used);
        buf_compact(&hc->in);
        h2_session_timeout(s, now);
    }
    /* the connection failed: every transfer not finished fails with it */
    fail_queued(hc, e);
    for (struct h2_stream *st = s->streams.all; st; st = st->next) {
        struct xfer *x = st->user;
        if (!x->t->e.status) x->t->e = *e;
    }
    return -1;
}

void h2_client_free(struct h2_client *hc)
{
    if (!hc) return;
    if (!hc->s->dead && hc->started) {
        struct client_error ignored;
        h2_session_shutdown(hc->s, false, client_now_ms());
        struct buf *out = h2_session_output(hc->s);
        if (!hc->c->eof && transport_write(hc->c, buf_ptr(out), buf_size(out), &ignored) == 0)
            buf_clear(out);
    }
    h2_session_free(hc->s);
    buf_free(&hc->in);
    free(hc->queue);
    free(hc);
}

void h2_client_upgrade_settings(struct h2_client *hc, char *out, size_t cap)
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const uint8_t *p;
    size_t n = h2_session_settings_payload(hc->s, &p), o = 0;
    /* RFC 7540 §3.2.1: base64url without padding */
    for (size_t i = 0; i < n && o + 5 < cap; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        if (i + 1 < n) out[o++] = b64url[v >> 6 & 63];
        if (i + 2 < n) out[o++] = b64url[v & 63];
    }
    out[o] = 0;
}

int h2_client_run_upgraded(struct h2_client *hc, struct client_transfer *t, const char *rest,
                           size_t n, struct client_error *e)
{
    struct xfer *x = calloc(1, sizeof(*x));
    if (!x) return client_fail(e, CLIENT_RECV, "out of memory");
    x->t = t;
    x->hc = hc;
    t->attempts = MAX_ATTEMPTS; /* it cannot be sent again on this connection */
    t->wire = h2_session_client_upgraded(hc->s, x, !strcmp(t->rq->method, "HEAD"));
    if (!t->wire) {
        free(x);
        return client_fail(e, CLIENT_RECV, "out of memory");
    }
    hc->running++;
    if (n) {
        if (buf_append(&hc->in, rest, n) < 0) return client_fail(e, CLIENT_RECV, "out of memory");
        size_t used = h2_session_recv(hc->s, (const uint8_t *)buf_ptr(&hc->in), buf_size(&hc->in),
                                      client_now_ms());
        buf_consume(&hc->in, used);
    }
    return h2_client_run(hc, e);
}

int h2_client_exchange(struct transport_conn *c, const struct client_request *rq,
                       struct client_response *rs, const struct client_sinks *sinks,
                       struct client_error *e)
{
    struct h2_client *hc = h2_client_new(c, e);
    if (!hc) return -1;
    struct client_transfer t = {.rq = rq, .rs = rs, .sinks = sinks};
    h2_client_submit(hc, &t);
    int rc = h2_client_run(hc, e);
    h2_client_free(hc);
    if (rc == 0 && t.e.status) {
        *e = t.e;
        rc = -1;
    }
    return rc;
}
