/* Binary upgrade, as nginx's USR2: this tern starts the binary at the path it was started from
 * (by then, typically, a newer build put in its place), with the same arguments, and hands it
 * every listening TCP socket (TERN_LISTEN_FDS, server/listen_inherit.h). Both serve until the
 * operator sends this one QUIT: it stops accepting, finishes what is in flight and exits, while
 * the sockets, and the connections queued on them, live on in the new process. */
#ifndef TERN_CLI_UPGRADE_H
#define TERN_CLI_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Remembers this binary's path; call at start, before anything could replace it. */
void upgrade_remember_binary(void);

/* Starts the new binary with argv ("serve" and its arguments, argc of them) and the listening
 * sockets fds. Returns its pid, or -1 with a log line. */
pid_t upgrade_start(int argc, char **argv, const int *fds, size_t n_fds);

/* After SIGCHLD: true (with a log line) when the upgraded process *pid exited; *pid is then 0. */
bool upgrade_reap(pid_t *pid);

#endif
