/* A misbehaving HTTP/3 server on the src/quic API, for the client's tests (test_get_h3.py):
 * it completes the QUIC handshake, opens its control stream with an empty SETTINGS, and
 * answers each request (once its FIN came) the way MODE says, with hand-encoded frames and
 * QPACK field sections (static table and literals only):
 *   ok        200 with content-length 5 and "hello"
 *   cl-short  content-length 10 and 3 bytes of DATA
 *   cl-long   content-length 2 and 5 bytes of DATA
 *   upper     an upper-case field name
 *   pseudo    a request pseudo-header (:path) in the response
 *   bomb      a 100 kB field value (over the client's header section limit)
 *   push      a push stream (type 0x01), though the client allowed no push
 *   goaway    GOAWAY 0 on the control stream: the request was not processed
 *   goaway-once  that on the first connection, then as ok
 *   reset     RESET_STREAM on the request stream (H3_INTERNAL_ERROR)
 *   close     CONNECTION_CLOSE with H3_INTERNAL_ERROR
 *   stall     nothing at all
 *   cut       HEADERS, then the stream ends inside a DATA frame
 *   close-every  as ok, but every 7th request closes its connection instead
 *                (CONNECTION_CLOSE with H3_NO_ERROR): the requests in flight on it are lost
 * Usage: h3_hostile_server ADDR PORT CERT KEY MODE. Prints "ready"; SIGTERM stops it. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "quic/quic.h"

static const char *mode;
static unsigned long requests; /* requests answered so far */
static volatile sig_atomic_t stop;
static struct loop *loop;
static uint8_t out[256 * 1024];
static size_t out_len;

static void put(const void *p, size_t n)
{
    memcpy(out + out_len, p, n);
    out_len += n;
}

/* A QUIC variable-length integer (RFC 9000 §16), up to 4 bytes here. */
static void put_varint(uint64_t v)
{
    uint8_t b[4];
    if (v < 64) {
        b[0] = (uint8_t)v;
        put(b, 1);
    } else if (v < 16384) {
        b[0] = (uint8_t)(0x40 | (v >> 8)), b[1] = (uint8_t)v;
        put(b, 2);
    } else {
        b[0] = (uint8_t)(0x80 | (v >> 24)), b[1] = (uint8_t)(v >> 16);
        b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
        put(b, 4);
    }
}

/* A HEADERS frame around a field section (its prefix: Required Insert Count 0, Base 0). */
static void put_headers(const uint8_t *fields, size_t n)
{
    put_varint(0x01);
    put_varint(n + 2);
    put("\x00\x00", 2);
    put(fields, n);
}

static void put_data(const char *p, size_t n)
{
    put_varint(0x00);
    put_varint(n);
    put(p, n);
}

/* :status 200 (static 25), content-length with the value (a literal with the static name 4). */
static size_t status_and_length(uint8_t *f, const char *len)
{
    size_t n = 0;
    f[n++] = 0xd9;
    f[n++] = 0x54;
    f[n++] = (uint8_t)strlen(len);
    memcpy(f + n, len, strlen(len));
    return n + strlen(len);
}

/* The response bytes for the mode; false: nothing is written on the request stream. */
static bool build(void)
{
    uint8_t f[64];
    size_t n;
    out_len = 0;
    if (!strcmp(mode, "ok") || !strcmp(mode, "close-every") || !strcmp(mode, "cl-short") ||
        !strcmp(mode, "cl-long") || !strcmp(mode, "cut")) {
        const char *len = !strcmp(mode, "cl-short") ? "10" : !strcmp(mode, "cl-long") ? "2" : "5";
        n = status_and_length(f, len);
        put_headers(f, n);
        if (!strcmp(mode, "cut")) {
            put_varint(0x00);
            put_varint(5);
            put("he", 2); /* the FIN comes 3 bytes early */
        } else {
            put_data(!strcmp(mode, "cl-short") ? "abc" : "hello",
                     !strcmp(mode, "cl-short") ? 3 : 5);
        }
        return true;
    }
    if (!strcmp(mode, "upper") || !strcmp(mode, "pseudo")) {
        n = 0;
        f[n++] = 0xd9;
        /* a literal field line with a literal name (RFC 9204 §4.5.6): 001 N H len(3 bits) */
        const char *name = !strcmp(mode, "upper") ? "X-Up" : ":path";
        f[n++] = (uint8_t)(0x20 | strlen(name));
        memcpy(f + n, name, strlen(name));
        n += strlen(name);
        f[n++] = 0x01;
        f[n++] = '/';
        put_headers(f, n);
        return true;
    }
    if (!strcmp(mode, "bomb")) {
        static uint8_t big[100 * 1024 + 16];
        size_t k = 0;
        big[k++] = 0xd9;
        big[k++] = 0x21; /* literal name of 1 byte */
        big[k++] = 'x';
        /* value length 102400 with a 7-bit prefix: 127, then 102273 in 7-bit groups */
        size_t v = 100 * 1024 - 127;
        big[k++] = 0x7f;
        while (v >= 128) {
            big[k++] = (uint8_t)(0x80 | (v & 0x7f));
            v >>= 7;
        }
        big[k++] = (uint8_t)v;
        memset(big + k, 'v', 100 * 1024);
        k += 100 * 1024;
        put_headers(big, k);
        return true;
    }
    return false;
}

static void on_handshake(struct quic_conn *c, void *app)
{
    (void)app;
    int64_t id;
    static const uint8_t control[] = {0x00, 0x04, 0x00}; /* control stream, empty SETTINGS */
    if (quic_open_uni_stream(c, &id) == 0) quic_stream_send(c, id, control, sizeof(control), false);
}

static ssize_t on_data(struct quic_conn *c, int64_t id, const uint8_t *data, size_t len, bool fin,
                       void *app)
{
    (void)data, (void)app;
    if ((id & 3) != 0 || !fin) return (ssize_t)len;
    if (!strcmp(mode, "goaway-once") && requests++ > 0) mode = "ok";
    if (!strcmp(mode, "close-every") && ++requests % 7 == 0) {
        quic_conn_close(c, 0x0100, "every 7th request"); /* H3_NO_ERROR */
        return (ssize_t)len;
    }
    int64_t uni;
    if (!strcmp(mode, "push")) {
        static const uint8_t push[] = {0x01, 0x00}; /* a push stream, push id 0 */
        if (quic_open_uni_stream(c, &uni) == 0) quic_stream_send(c, uni, push, sizeof(push), false);
    } else if (!strcmp(mode, "goaway") || !strcmp(mode, "goaway-once")) {
        /* the control stream is the first server uni stream: 3 */
        static const uint8_t goaway[] = {0x07, 0x01, 0x00};
        quic_stream_send(c, 3, goaway, sizeof(goaway), false);
    } else if (!strcmp(mode, "reset")) {
        quic_stream_reset(c, id, 0x0102); /* H3_INTERNAL_ERROR */
    } else if (!strcmp(mode, "close")) {
        quic_conn_close(c, 0x0102, "hostile");
    } else if (build()) {
        quic_stream_send(c, id, out, out_len, true);
    }
    return (ssize_t)len;
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
    if (argc < 6) {
        fprintf(stderr, "usage: %s ADDR PORT CERT KEY MODE\n", argv[0]);
        return 2;
    }
    mode = argv[5];
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &a4.sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", argv[1]);
        return 2;
    }
    char err[256];
    struct quic_tls *tls = quic_tls_new(argv[3], argv[4], err, sizeof(err));
    if (!tls) {
        fprintf(stderr, "tls: %s\n", err);
        return 1;
    }
    static const struct quic_conn_callbacks cb = {.handshake_done = on_handshake,
                                                  .stream_data = on_data};
    struct quic_server_config cfg = {.tls = tls, .cb = &cb};
    loop = loop_create();
    struct quic_server *srv =
        loop ? quic_server_new(loop, (struct sockaddr *)&a4, sizeof(a4), &cfg) : NULL;
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
    timer_cancel(&tick);
    quic_server_free(srv);
    loop_destroy(loop);
    quic_tls_free(tls);
    return 0;
}
