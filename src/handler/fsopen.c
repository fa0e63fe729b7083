/* Opening under a root: openat2(RESOLVE_BENEATH) where the kernel has it (Linux >= 5.6), else a
 * realpath() containment check (racy against concurrent symlink swaps, hence only a fallback). */
#include "handler/fsopen.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

static int openat2_missing; /* set once the kernel said ENOSYS; benign race between workers */

static int open_realpath_checked(const char *root_path, const char *rel)
{
    char root_real[PATH_MAX], full[PATH_MAX], real[PATH_MAX];
    if (!realpath(root_path, root_real)) return -1;
    int n = snprintf(full, sizeof(full), "%s/%s", root_real, rel);
    if (n < 0 || (size_t)n >= sizeof(full)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (!realpath(full, real)) return -1;
    size_t rl = strlen(root_real);
    bool inside = strncmp(real, root_real, rl) == 0 &&
                  (real[rl] == '\0' || real[rl] == '/' || (rl == 1 && root_real[0] == '/'));
    if (!inside) {
        errno = EXDEV;
        return -1;
    }
    return open(real, OPEN_FLAGS);
}

int fsopen_beneath(int rootfd, const char *root_path, const char *rel, bool beneath)
{
    if (!beneath) return openat(rootfd, rel, OPEN_FLAGS);
    if (!openat2_missing) {
        struct open_how how = {
            .flags = OPEN_FLAGS,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        int fd, tries = 0;
        do /* EAGAIN: a concurrent rename raced the lookup; the kernel asks us to retry */
            fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
        while (fd < 0 && errno == EAGAIN && ++tries < 8);
        if (fd >= 0 || errno != ENOSYS) return fd;
        openat2_missing = 1;
    }
    return open_realpath_checked(root_path, rel);
}

bool fsopen_resource_error(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS;
}
