/* A test server on the src/quic API (until src/h3 exists): completes QUIC handshakes and
 * answers every HTTP/3 request with a fixed response, hand-encoded:
 *   control stream: type 0x00, SETTINGS (0x04) with no settings;
 *   request stream, once the request's fin arrived: HEADERS with a QPACK field section of
 *   static-table entries only (:status 200 = index 25), DATA with the body, fin.
 * Usage: quic_echo_server ADDR PORT CERT KEY [BODY_BYTES [close]]
 * Prints "ready" once listening; SIGTERM/SIGINT stop it and it prints counters to stderr. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "quic/quic.h"

struct req {
    size_t off;  /* bytes of the response sent */
    bool active; /* the request ended and the response is going out */
};

struct echo_conn {
    struct req *reqs; /* indexed by client bidi stream id / 4 */
    size_t nreqs;
};

static uint8_t *response;
static size_t response_len;
static unsigned long handshakes, responses, resets;
static volatile sig_atomic_t stop;
static bool close_on_request; /* "close" mode: answer a request with CONNECTION_CLOSE */
static struct loop *loop;

static size_t put_varint(uint8_t *p, uint64_t v)
{
    if (v < 64) {
        p[0] = (uint8_t)v;
        return 1;
    }
    if (v < 16384) {
        p[0] = (uint8_t)(0x40 | (v >> 8));
        p[1] = (uint8_t)v;
        return 2;
    }
    p[0] = (uint8_t)(0x80 | (v >> 24));
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4;
}

static void build_response(size_t body_len)
{
    static const uint8_t field_section[] = {
        0x00, 0x00, /* Required Insert Count 0, Base 0 */
        0xd9,       /* indexed, static, 25: :status 200 */
        0xf5,       /* indexed, static, 53: content-type text/plain;charset=utf-8 */
    };
    response = malloc(16 + sizeof(field_section) + body_len);
    size_t n = 0;
    n += put_varint(response + n, 0x01); /* HEADERS */
    n += put_varint(response + n, sizeof(field_section));
    memcpy(response + n, field_section, sizeof(field_section));
    n += sizeof(field_section);
    n += put_varint(response + n, 0x00); /* DATA */
    n += put_varint(response + n, body_len);
    static const char line[] = "tern quic echo\n";
    for (size_t i = 0; i < body_len; i++)
        response[n + i] = (uint8_t)line[i % (sizeof(line) - 1)];
    response_len = n + body_len;
}

static struct req *req_of(struct echo_conn *e, int64_t id, bool create)
{
    if ((id & 3) != 0) return NULL; /* only client-initiated bidirectional streams */
    size_t i = (size_t)(id >> 2);
    if (i >= e->nreqs) {
        if (!create) return NULL;
        size_t n = e->nreqs ? e->nreqs : 16;
        while (n <= i)
            n *= 2;
        struct req *r = realloc(e->reqs, n * sizeof(*r));
        if (!r) return NULL;
        memset(r + e->nreqs, 0, (n - e->nreqs) * sizeof(*r));
        e->reqs = r;
        e->nreqs = n;
    }
    return &e->reqs[i];
}

static void pump(struct quic_conn *c, int64_t id, struct req *r)
{
    while (r->active && r->off < response_len) {
        ssize_t n = quic_stream_send(c, id, response + r->off, response_len - r->off, true);
        if (n <= 0) return;
        r->off += (size_t)n;
        if (r->off == response_len) {
            r->active = false;
            responses++;
        }
    }
}

static void on_handshake(struct quic_conn *c, void *app)
{
    (void)app;
    handshakes++;
    int64_t id;
    static const uint8_t control[] = {0x00, 0x04, 0x00}; /* control stream, empty SETTINGS */
    if (quic_open_uni_stream(c, &id) != 0 ||
        quic_stream_send(c, id, control, sizeof(control), false) != sizeof(control))
        quic_conn_close(c, 0x0101, "control stream"); /* H3_INTERNAL_ERROR */
}

static ssize_t on_data(struct quic_conn *c, int64_t id, const uint8_t *data, size_t len, bool fin,
                       void *app)
{
    (void)data;
    struct req *r = req_of(app, id, true);
    if (r && fin && close_on_request) {
        quic_conn_close(c, 0x0100, "bye"); /* H3_NO_ERROR, from inside a callback */
    } else if (r && fin) {
        r->active = true;
        pump(c, id, r);
    }
    return (ssize_t)len;
}

static void on_writable(struct quic_conn *c, int64_t id, void *app)
{
    struct req *r = req_of(app, id, false);
    if (r) pump(c, id, r);
}

static void on_reset(struct quic_conn *c, int64_t id, uint64_t err, void *app)
{
    (void)c, (void)err;
    resets++;
    struct req *r = req_of(app, id, false);
    if (r) r->active = false;
}

static void on_close(struct quic_conn *c, int64_t id, uint64_t err, void *app)
{
    (void)c, (void)err;
    struct req *r = req_of(app, id, false);
    if (r) memset(r, 0, sizeof(*r));
}

static void *conn_new(struct quic_conn *c, void *ud)
{
    (void)c, (void)ud;
    return calloc(1, sizeof(struct echo_conn));
}

static void conn_free(struct quic_conn *c, void *app, void *ud)
{
    (void)c, (void)ud;
    struct echo_conn *e = app;
    if (e) free(e->reqs);
    free(e);
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void on_tick(struct timer *t)
{
    if (stop)
        loop_stop(loop);
    else
        timer_arm(loop, t, loop_now_ms(loop) + 50);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s ADDR PORT CERT KEY [BODY_BYTES]\n", argv[0]);
        return 2;
    }
    build_response(argc > 5 ? strtoul(argv[5], NULL, 10) : 12);
    close_on_request = argc > 6 && strcmp(argv[6], "close") == 0;
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    uint16_t port = (uint16_t)atoi(argv[2]);
    if (inet_pton(AF_INET, argv[1], &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        sl = sizeof(*a4);
    } else if (inet_pton(AF_INET6, argv[1], &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        sl = sizeof(*a6);
    } else {
        fprintf(stderr, "bad address %s\n", argv[1]);
        return 2;
    }
    char err[256];
    struct quic_tls *tls = quic_tls_new(argv[3], argv[4], err, sizeof(err));
    if (!tls) {
        fprintf(stderr, "tls: %s\n", err);
        return 1;
    }
    static const struct quic_conn_callbacks cb = {
        .handshake_done = on_handshake,
        .stream_data = on_data,
        .stream_reset = on_reset,
        .stream_close = on_close,
        .stream_writable = on_writable,
    };
    struct quic_server_config cfg = {
        .tls = tls, .cb = &cb, .conn_new = conn_new, .conn_free = conn_free};
    loop = loop_create();
    struct quic_server *srv = loop ? quic_server_new(loop, (struct sockaddr *)&ss, sl, &cfg) : NULL;
    if (!srv) {
        perror("quic_server_new");
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct timer tick = {.cb = on_tick};
    timer_arm(loop, &tick, loop_now_ms(loop) + 50);
    printf("ready\n");
    fflush(stdout);
    loop_run(loop);
    fprintf(stderr, "handshakes=%lu responses=%lu resets=%lu conns=%zu\n", handshakes, responses,
            resets, quic_server_conn_count(srv));
    timer_cancel(&tick);
    quic_server_free(srv);
    loop_destroy(loop);
    quic_tls_free(tls);
    free(response);
    return 0;
}
