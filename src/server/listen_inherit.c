#include "server/listen_inherit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define FIRST_FD      3 /* SD_LISTEN_FDS_START */
#define MAX_INHERITED 1024

struct inherited {
    int fd;
    int type;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool taken;
};

static struct inherited *sockets;
static size_t n_sockets;

/* A count from the environment, or 0 when absent or garbled. */
static size_t env_count(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || *end || n > MAX_INHERITED) {
        log_warn("ignoring %s=%s", name, v);
        return 0;
    }
    return n;
}

/* systemd's variables apply to the process they name (sd_listen_fds(3)); TERN_LISTEN_FDS is
 * set by the tern that execs this one for a binary upgrade, and removed at once. */
static size_t inherited_count(void)
{
    size_t n = env_count("TERN_LISTEN_FDS");
    if (n == 0) {
        const char *pid = getenv("LISTEN_PID");
        if (pid && strtol(pid, NULL, 10) == (long)getpid()) n = env_count("LISTEN_FDS");
    }
    unsetenv("TERN_LISTEN_FDS");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDNAMES");
    return n;
}

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%d", host, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%d", host, port);
    } else {
        snprintf(out, cap, "(family %d)", ss->ss_family);
    }
}

size_t listen_inherit_collect(void)
{
    size_t n = inherited_count();
    if (n == 0) return 0;
    sockets = calloc(n, sizeof(*sockets));
    if (!sockets) {
        log_error("inherited sockets: out of memory; binding instead");
        for (size_t i = 0; i < n; i++)
            close(FIRST_FD + (int)i);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int fd = FIRST_FD + (int)i;
        struct inherited *s = &sockets[n_sockets];
        struct stat st;
        socklen_t len = sizeof(s->type);
        s->addrlen = sizeof(s->addr);
        if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &s->type, &len) < 0 ||
            getsockname(fd, (struct sockaddr *)&s->addr, &s->addrlen) < 0 ||
            (s->addr.ss_family != AF_INET && s->addr.ss_family != AF_INET6)) {
            log_warn("inherited descriptor %d is not an IP socket; closed", fd);
            close(fd);
            continue;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        s->fd = fd;
        n_sockets++;
    }
    return n_sockets;
}

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family) return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

size_t listen_inherit_take(int type, const struct config_listen *l, int worker, int n_workers,
                           int *fds, size_t max)
{
    if (n_sockets == 0 || max == 0) return 0;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = type, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    char port[8];
    snprintf(port, sizeof(port), "%d", l->port);
    if (getaddrinfo(l->host, port, &hints, &res) != 0) return 0;
    size_t match[MAX_INHERITED], m = 0;
    for (size_t i = 0; i < n_sockets; i++)
        if (sockets[i].type == type && same_address(&sockets[i].addr, res->ai_addr)) match[m++] = i;
    freeaddrinfo(res);
    if (m == 0) return 0;
    if (n_workers < 1) n_workers = 1;
    size_t n = 0;
    for (size_t j = 0; j < m && n < max; j++) {
        /* all sockets are served; with fewer sockets than workers, workers share one */
        bool mine = m >= (size_t)n_workers ? j % (size_t)n_workers == (size_t)worker
                                           : j == (size_t)worker % m;
        if (!mine) continue;
        struct inherited *s = &sockets[match[j]];
        int fd = fcntl(s->fd, F_DUPFD_CLOEXEC, FIRST_FD);
        if (fd < 0) {
            log_error("inherited socket: dup: %s", strerror(errno));
            continue;
        }
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        s->taken = true;
        fds[n++] = fd;
    }
    return n;
}

void listen_inherit_done(void)
{
    for (size_t i = 0; i < n_sockets; i++) {
        if (!sockets[i].taken) {
            char text[80];
            addr_text(&sockets[i].addr, text, sizeof(text));
            log_warn("inherited %s socket %s is not a listener of the configuration; closed",
                     sockets[i].type == SOCK_DGRAM ? "UDP" : "TCP", text);
        }
        close(sockets[i].fd);
    }
    free(sockets);
    sockets = NULL;
    n_sockets = 0;
}
