/* HTTP/3 in a process of its own (http3.isolate): the main process serves TCP and supervises a
 * child, the same binary started again with the same arguments, that serves the UDP listeners.
 * A crash inside the QUIC library then ends the child only; the main process logs it and
 * starts another, with a back-off when the child keeps dying. Signals sent to the main process
 * (HUP, USR1, QUIT, TERM, INT) are passed on, and the main process exits after its child. */
#ifndef TERN_CLI_QUIC_PROCESS_H
#define TERN_CLI_QUIC_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct quic_process {
    char **argv;           /* the child's command line (NULL-terminated) */
    pid_t pid;             /* the running child, or 0 */
    int64_t started_ms;    /* when it was started (monotonic) */
    int64_t restart_at_ms; /* when the next one starts; 0: none due */
    int backoff_ms;        /* the wait before the next restart after a quick death */
    bool stopping;         /* no restarts: the server is stopping */
};

/* The environment variable that makes `tern serve` the HTTP/3 child: "READYFD:PARENTPID". */
#define QUIC_PROCESS_ENV "TERN_QUIC_PROCESS"

/* In the child, from its environment: true when this process is the HTTP/3 child. The variable
 * is removed; *ready_fd is where to report readiness (quic_process_ready). The child ends when
 * the main process does (PR_SET_PDEATHSIG). */
bool quic_process_is_child(int *ready_fd);
/* In the child, once its listeners are bound: tells the main process it serves. */
void quic_process_ready(int ready_fd);

/* Starts the child (argv: "serve" and the arguments after it, argc of them) and waits until it
 * serves or fails. 0, or -1 with err set (the child exited or did not answer in time). */
int quic_process_start(struct quic_process *qp, int argc, char **argv, char *err, size_t errlen);
/* After SIGCHLD: reaps the child if it ended and, unless stopping, schedules its restart. */
void quic_process_reap(struct quic_process *qp);
/* Milliseconds until a restart is due (0: now), or -1 when none is pending. */
int64_t quic_process_wait_ms(const struct quic_process *qp);
/* Starts the child again if its restart is due (without waiting for it to serve). */
void quic_process_restart_due(struct quic_process *qp);
/* Passes a signal on to the running child. */
void quic_process_signal(struct quic_process *qp, int sig);
/* Stops restarting, passes sig on and waits up to timeout_ms for the child to exit, then kills
 * it. */
void quic_process_stop(struct quic_process *qp, int sig, int timeout_ms);
void quic_process_free(struct quic_process *qp);

#endif
