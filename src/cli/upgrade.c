#include "cli/upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"

extern char **environ;

#define FIRST_FD 3
#define MAX_FDS  4096

static char binary[PATH_MAX];

void upgrade_remember_binary(void)
{
    ssize_t n = readlink("/proc/self/exe", binary, sizeof(binary) - 1);
    binary[n > 0 ? n : 0] = '\0';
}

/* The environment of the new process: ours, less any inherited-socket variables, plus the
 * count of sockets and who started it. */
static char **new_environment(size_t n_fds, char *count, size_t count_len, char *from,
                              size_t from_len)
{
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **envp = calloc(n_env + 3, sizeof(*envp));
    if (!envp) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        const char *e = environ[i];
        if (strncmp(e, "TERN_LISTEN_FDS=", 16) == 0 || strncmp(e, "LISTEN_", 7) == 0 ||
            strncmp(e, "TERN_UPGRADE_FROM=", 18) == 0)
            continue;
        envp[k++] = environ[i];
    }
    snprintf(count, count_len, "TERN_LISTEN_FDS=%zu", n_fds);
    snprintf(from, from_len, "TERN_UPGRADE_FROM=%ld", (long)getpid());
    envp[k++] = count;
    envp[k++] = from;
    envp[k] = NULL;
    return envp;
}

pid_t upgrade_start(int argc, char **argv, const int *fds, size_t n_fds)
{
    if (!binary[0]) {
        log_error("binary upgrade: the path of this binary is unknown");
        return -1;
    }
    if (n_fds > MAX_FDS) n_fds = MAX_FDS;
    char count[48], from[48];
    char **envp = new_environment(n_fds, count, sizeof(count), from, sizeof(from));
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    if (!envp || !args) {
        log_error("binary upgrade: out of memory");
        free(envp);
        free(args);
        return -1;
    }
    args[0] = "tern";
    for (int i = 0; i < argc; i++)
        args[i + 1] = argv[i];
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls from here to execve: the parent has threads. Every
         * socket first goes above the range it will be moved to, so no dup2 overwrites one
         * not yet moved; dup2 leaves the final copies without FD_CLOEXEC, the others close. */
        int base = FIRST_FD + (int)n_fds;
        int high[MAX_FDS];
        for (size_t i = 0; i < n_fds; i++)
            if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, base)) < 0) _exit(126);
        for (size_t i = 0; i < n_fds; i++)
            if (dup2(high[i], FIRST_FD + (int)i) < 0) _exit(126);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* the parent blocks what it sigwaits */
        execve(binary, args, envp);
        _exit(127);
    }
    int e = errno;
    free(envp);
    free(args);
    if (pid < 0) {
        log_error("binary upgrade: fork: %s", strerror(e));
        return -1;
    }
    log_info("binary upgrade: started %s as pid %ld with %zu listening sockets; send this "
             "process (%ld) QUIT once it serves",
             binary, (long)pid, n_fds, (long)getpid());
    return pid;
}

bool upgrade_reap(pid_t *pid)
{
    if (*pid <= 0) return false;
    int status;
    pid_t r = waitpid(*pid, &status, WNOHANG);
    if (r != *pid) return false;
    if (WIFSIGNALED(status))
        log_error("binary upgrade: the new process %ld was killed by signal %d; this one "
                  "keeps serving",
                  (long)*pid, WTERMSIG(status));
    else
        log_error("binary upgrade: the new process %ld exited with status %d; this one keeps "
                  "serving",
                  (long)*pid, WEXITSTATUS(status));
    *pid = 0;
    return true;
}
