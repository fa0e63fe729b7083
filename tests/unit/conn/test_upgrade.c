/* The HTTP/1.1 upgrade hook, through a real connection on a socketpair. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "h1/conn.h"
#include "h1/upgrade.h"
#include "handler/static.h"
#include "server/server.h"

static int taken_fd = -1;
static char taken_rest[64];
static char taken_target[64];
static int decline;

static int take_over(struct worker *wk, int fd, const char *peer, const struct http_request *req,
                     const char *rest, size_t rest_len)
{
    (void)wk;
    (void)peer;
    if (decline) return -1;
    taken_fd = fd;
    snprintf(taken_rest, sizeof(taken_rest), "%.*s", (int)rest_len, rest);
    snprintf(taken_target, sizeof(taken_target), "%.*s", (int)req->target.len, req->target.p);
    static const char r101[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                               "Upgrade: tern-test\r\n\r\n";
    CHECK_INT(write(fd, r101, sizeof(r101) - 1), (long)sizeof(r101) - 1);
    return 0;
}

static const struct h1_upgrade_protocol proto = {"tern-test", take_over};

static void read_all(int fd, char *out, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
}

int main(void)
{
    CHECK_INT(h1_upgrade_register(&proto), 0);
    CHECK(h1_upgrade_find(STR_LIT("websocket, TERN-test")) == &proto);
    CHECK(h1_upgrade_find(STR_LIT("websocket")) == NULL);

    char root[] = "/tmp/tern-upgrade-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    struct worker wk;
    memset(&wk, 0, sizeof(wk));
    wk.loop = loop_create();
    wk.cfg = config_default(root);
    wk.cache = static_cache_create(16);
    CHECK(wk.loop && wk.cfg && wk.cache);

    static const char req[] = "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                              "Upgrade: tern-test\r\n\r\nEXTRA";
    /* taken: the protocol gets the socket, the request and the bytes after it */
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    CHECK_INT(write(sv[1], req, sizeof(req) - 1), (long)sizeof(req) - 1);
    h1_conn_open(&wk, sv[0], "test");
    CHECK_INT(taken_fd, sv[0]);
    CHECK_STR(taken_rest, "EXTRA");
    CHECK_STR(taken_target, "/chat");
    CHECK_INT(wk.conns.count, 0);
    conn_list_reap(&wk.conns);
    char buf[2048];
    shutdown(sv[0], SHUT_WR);
    read_all(sv[1], buf, sizeof(buf));
    CHECK(strncmp(buf, "HTTP/1.1 101 ", 13) == 0);
    close(sv[0]);
    close(sv[1]);

    /* declined: the request is answered as HTTP/1.1 (no such file: 404) */
    decline = 1;
    taken_fd = -1;
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    static const char req2[] = "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\n"
                               "Upgrade: tern-test\r\n\r\n";
    CHECK_INT(write(sv[1], req2, sizeof(req2) - 1), (long)sizeof(req2) - 1);
    h1_conn_open(&wk, sv[0], "test");
    CHECK_INT(taken_fd, -1);
    read_all(sv[1], buf, sizeof(buf));
    CHECK(strncmp(buf, "HTTP/1.1 404 ", 13) == 0);
    conn_list_shutdown(&wk.conns, false);
    CHECK_INT(wk.conns.count, 0);
    conn_list_reap(&wk.conns);
    close(sv[1]);

    for (size_t i = 0; i < wk.n_spare_pools; i++)
        pool_destroy(wk.spare_pools[i]);
    for (size_t i = 0; i < wk.n_spare_bufs; i++)
        free(wk.spare_bufs[i]);
    h1_thread_cleanup();
    static_cache_destroy(wk.cache);
    config_free((struct config *)wk.cfg);
    loop_destroy(wk.loop);
    rmdir(root);
    return check_done("conn/upgrade");
}
