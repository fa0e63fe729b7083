#include "cli/quic_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/stats.h"

extern char **environ;

#define READY_TIMEOUT_MS 30000
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS   30000
#define STABLE_MS        60000 /* a child that lived this long restarts without delay */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool quic_process_is_child(int *ready_fd)
{
    const char *v = getenv(QUIC_PROCESS_ENV);
    if (!v) return false;
    int fd = -1, stats_fd = -1;
    long parent = 0;
    int got = sscanf(v, "%d:%ld:%d", &fd, &parent, &stats_fd);
    if (got < 2) fd = -1;
    if (got == 3 && stats_fd >= 0) {
        /* the parent's counters (core/stats.h): this process counts in blocks of its own */
        fcntl(stats_fd, F_SETFD, FD_CLOEXEC);
        if (stats_region_attach(stats_fd) < 0) close(stats_fd);
    }
    unsetenv(QUIC_PROCESS_ENV); /* nothing this process starts inherits the role */
    /* the main process may die without passing on a signal (SIGKILL): end with it */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != (pid_t)parent) raise(SIGTERM); /* it died before the line above */
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
    *ready_fd = fd;
    return true;
}

void quic_process_ready(int ready_fd)
{
    if (ready_fd < 0) return;
    char c = 'r';
    if (write(ready_fd, &c, 1) < 0) {
    } /* a restarted child has nobody waiting: the main process closed its end */
    close(ready_fd);
}

/* Starts a child; returns the read end of its readiness pipe, or -1. */
static int spawn(struct quic_process *qp)
{
    int p[2];
    if (pipe2(p, 0) < 0) {
        log_error("HTTP/3 process: pipe: %s", strerror(errno));
        return -1;
    }
    fcntl(p[0], F_SETFD, FD_CLOEXEC); /* the write end alone goes to the child */
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **envp = calloc(n_env + 2, sizeof(*envp));
    char role[64];
    /* the counters' mapping goes to the child too (its descriptor, for the exec only) */
    int stats_fd = stats_region_fd();
    if (stats_fd >= 0 && fcntl(stats_fd, F_SETFD, 0) < 0) stats_fd = -1;
    snprintf(role, sizeof(role), "%s=%d:%ld:%d", QUIC_PROCESS_ENV, p[1], (long)getpid(), stats_fd);
    int rc = -1;
    if (envp) {
        size_t k = 0;
        for (size_t i = 0; i < n_env; i++)
            if (strncmp(environ[i], QUIC_PROCESS_ENV "=", sizeof(QUIC_PROCESS_ENV)) != 0)
                envp[k++] = environ[i];
        envp[k++] = role;
        envp[k] = NULL;
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none); /* the main process blocks what it sigwaits */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        pid_t pid;
        rc = posix_spawn(&pid, "/proc/self/exe", NULL, &attr, qp->argv, envp);
        posix_spawnattr_destroy(&attr);
        if (rc == 0) {
            qp->pid = pid;
            qp->started_ms = now_ms();
        } else {
            log_error("HTTP/3 process: cannot start: %s", strerror(rc));
        }
    }
    free(envp);
    if (stats_fd >= 0) fcntl(stats_fd, F_SETFD, FD_CLOEXEC);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        return -1;
    }
    return p[0];
}

static void describe_exit(int status, char *out, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(out, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
}

int quic_process_start(struct quic_process *qp, int argc, char **argv, char *err, size_t errlen)
{
    memset(qp, 0, sizeof(*qp));
    qp->backoff_ms = BACKOFF_FIRST_MS;
    qp->argv = calloc((size_t)argc + 2, sizeof(char *));
    if (!qp->argv) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    qp->argv[0] = "tern-http3"; /* what ps shows */
    for (int i = 0; i < argc; i++)
        qp->argv[i + 1] = argv[i];
    int fd = spawn(qp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot start the HTTP/3 process");
        return -1;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n;
    do
        n = poll(&pfd, 1, READY_TIMEOUT_MS);
    while (n < 0 && errno == EINTR);
    char c;
    bool ready = n == 1 && read(fd, &c, 1) == 1;
    close(fd);
    if (ready) return 0;
    int status = 0;
    if (n == 0) kill(qp->pid, SIGKILL); /* no answer in time */
    waitpid(qp->pid, &status, 0);
    qp->pid = 0;
    char how[96];
    describe_exit(status, how, sizeof(how));
    snprintf(err, errlen, "the HTTP/3 process %s before it served", n == 0 ? "hung" : how);
    return -1;
}

void quic_process_reap(struct quic_process *qp)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid != qp->pid) continue;
        qp->pid = 0;
        if (qp->stopping) continue;
        char how[96];
        describe_exit(status, how, sizeof(how));
        int64_t now = now_ms();
        if (now - qp->started_ms >= STABLE_MS) qp->backoff_ms = BACKOFF_FIRST_MS;
        qp->restart_at_ms = now + qp->backoff_ms;
        log_error("HTTP/3 process %ld %s; HTTP/1 and HTTP/2 go on; starting another in %d ms",
                  (long)pid, how, qp->backoff_ms);
        qp->backoff_ms = qp->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : qp->backoff_ms * 2;
    }
}

int64_t quic_process_wait_ms(const struct quic_process *qp)
{
    if (qp->pid || qp->stopping || !qp->restart_at_ms) return -1;
    int64_t left = qp->restart_at_ms - now_ms();
    return left > 0 ? left : 0;
}

void quic_process_restart_due(struct quic_process *qp)
{
    if (quic_process_wait_ms(qp) != 0) return;
    qp->restart_at_ms = 0;
    int fd = spawn(qp);
    if (fd >= 0) {
        close(fd); /* nobody waits: the child logs when it serves, and a failure is reaped */
        return;
    }
    qp->restart_at_ms = now_ms() + qp->backoff_ms;
}

void quic_process_signal(struct quic_process *qp, int sig)
{
    if (qp->pid) kill(qp->pid, sig);
}

void quic_process_stop(struct quic_process *qp, int sig, int timeout_ms)
{
    qp->stopping = true;
    qp->restart_at_ms = 0;
    if (!qp->pid) return;
    kill(qp->pid, sig);
    int64_t deadline = now_ms() + timeout_ms;
    int status;
    while (waitpid(qp->pid, &status, WNOHANG) == 0) {
        if (now_ms() >= deadline) {
            log_error("HTTP/3 process %ld did not stop in time; killing it", (long)qp->pid);
            kill(qp->pid, SIGKILL);
            waitpid(qp->pid, &status, 0);
            break;
        }
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    qp->pid = 0;
}

void quic_process_free(struct quic_process *qp)
{
    free(qp->argv);
    qp->argv = NULL;
}
