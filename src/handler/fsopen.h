/* Opening a path under a root directory without ever leaving it (the static handler's guard). */
#ifndef TERN_HANDLER_FSOPEN_H
#define TERN_HANDLER_FSOPEN_H

#include <stdbool.h>

/* Opens rel (relative, no leading '/', no ".." segments; "." for the root itself) read-only
 * under the directory rootfd. With beneath, resolution may not leave the root, not even
 * through symlinks or magic links (openat2 RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS; on kernels
 * without openat2, a realpath() prefix check against root_path). Returns an fd (O_CLOEXEC,
 * O_NONBLOCK so FIFOs cannot block) or -1 with errno: EXDEV for an escape, else open's errno. */
int fsopen_beneath(int rootfd, const char *root_path, const char *rel, bool beneath);

/* True for the errnos of an open that failed for lack of descriptors or memory (EMFILE,
 * ENFILE, ENOMEM, ENOBUFS): a passing condition, worth a retry rather than a verdict. */
bool fsopen_resource_error(int err);

#endif
