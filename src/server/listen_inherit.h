/* Listening sockets handed to this process at start instead of bound by it: by systemd's socket
 * activation (LISTEN_FDS and LISTEN_PID, the fds from 3 on; sd_listen_fds(3)), or by the tern
 * that started this one for a binary upgrade (the same variables, see cli/upgrade.c). A
 * listener of the configuration takes the inherited sockets bound to its address; sockets no
 * listener takes are closed once the server started. */
#ifndef TERN_SERVER_LISTEN_INHERIT_H
#define TERN_SERVER_LISTEN_INHERIT_H

#include <stdbool.h>
#include <stddef.h>

#include "server/config.h"

/* Takes the sockets named by the environment (and removes the variables, so children do not
 * see them). Returns how many were inherited; a descriptor that is not a socket is logged and
 * closed. */
size_t listen_inherit_collect(void);

/* The inherited sockets of type (SOCK_STREAM or SOCK_DGRAM) bound to l's address that worker
 * `worker` of `n_workers` serves: every socket goes to some worker, and when there are fewer
 * sockets than workers, workers share one. Each fd written to fds is a new descriptor (close-
 * on-exec, non-blocking) the caller owns. Returns how many were written (0: bind one). */
size_t listen_inherit_take(int type, const struct config_listen *l, int worker, int n_workers,
                           int *fds, size_t max);

/* After the server started: closes what no listener took, with a log line for each. */
void listen_inherit_done(void);

#endif
