#include "cli/sd_notify.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

static struct sockaddr_un addr;
static socklen_t addr_len;
static bool warned;

void sd_notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path && (path[0] == '/' || path[0] == '@') && strlen(path) < sizeof(addr.sun_path)) {
        addr.sun_family = AF_UNIX;
        size_t len = strlen(path);
        memcpy(addr.sun_path, path, len);
        if (path[0] == '@') addr.sun_path[0] = '\0'; /* an abstract socket */
        addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    } else if (path) {
        log_warn("NOTIFY_SOCKET %s is not a path or an abstract name; not notifying", path);
    }
    unsetenv("NOTIFY_SOCKET");
}

void sd_notify_send(const char *msg)
{
    if (!addr_len) return;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ssize_t n = -1;
    if (fd >= 0) {
        n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
        close(fd);
    }
    if (n < 0 && !warned) {
        warned = true;
        log_warn("cannot notify the service manager: %s", strerror(errno));
    }
}

void sd_notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[96];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    sd_notify_send(msg);
}
