#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct log_target {
    char path[1024];
    int fd; /* -1 = off */
};

static struct log_target error_log = {"stderr", 2};
static struct log_target access_log = {"off", -1};
/* The servers' own access logs, by slot (0 is the top-level log above); opened once per path
 * and kept to the end, so that a reload that names a path again reuses its slot. */
static struct log_target server_logs[LOG_ACCESS_SLOTS];
static int n_server_logs = 1;

static enum log_level current_level = LOG_INFO;
static pthread_mutex_t reopen_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return current_level;
}

static int open_target(struct log_target *t, const char *path, int std_fd, const char *std_name)
{
    int fd;
    if (strcmp(path, "off") == 0)
        fd = -1;
    else if (strcmp(path, std_name) == 0)
        fd = std_fd;
    else {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return -1;
    }
    pthread_mutex_lock(&reopen_lock);
    int old = t->fd;
    t->fd = fd;
    snprintf(t->path, sizeof(t->path), "%s", path);
    pthread_mutex_unlock(&reopen_lock);
    if (old > 2 && old != fd) close(old);
    return 0;
}

int log_open_error(const char *path)
{
    return open_target(&error_log, path, 2, "stderr");
}

int log_open_access(const char *path)
{
    return open_target(&access_log, path, 1, "stdout");
}

void log_reopen(void)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s", error_log.path);
    if (open_target(&error_log, p, 2, "stderr") < 0)
        log_error("cannot reopen error log %s: %s", p, strerror(errno));
    snprintf(p, sizeof(p), "%s", access_log.path);
    if (open_target(&access_log, p, 1, "stdout") < 0)
        log_error("cannot reopen access log %s: %s", p, strerror(errno));
    pthread_mutex_lock(&reopen_lock);
    int n = n_server_logs;
    pthread_mutex_unlock(&reopen_lock);
    for (int i = 1; i < n; i++) {
        snprintf(p, sizeof(p), "%s", server_logs[i].path);
        if (open_target(&server_logs[i], p, 1, "stdout") < 0)
            log_error("cannot reopen access log %s: %s", p, strerror(errno));
    }
}

int log_access_enabled(void)
{
    return access_log.fd >= 0;
}

int log_open_access_slot(const char *path)
{
    if (!strcmp(path, "off")) return -1;
    pthread_mutex_lock(&reopen_lock);
    int n = n_server_logs;
    pthread_mutex_unlock(&reopen_lock);
    for (int i = 1; i < n; i++)
        if (!strcmp(server_logs[i].path, path)) return i;
    if (n == LOG_ACCESS_SLOTS) {
        errno = EMFILE;
        return -2;
    }
    server_logs[n].fd = -1;
    if (open_target(&server_logs[n], path, 1, "stdout") < 0) return -2;
    pthread_mutex_lock(&reopen_lock);
    n_server_logs = n + 1;
    pthread_mutex_unlock(&reopen_lock);
    return n;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void log_access_write(const char *line, size_t len)
{
    int fd = access_log.fd;
    if (fd >= 0) write_all(fd, line, len);
}

void log_access_write_slot(int slot, const char *line, size_t len)
{
    if (slot <= 0 || slot >= LOG_ACCESS_SLOTS) {
        log_access_write(line, len);
        return;
    }
    int fd = server_logs[slot].fd;
    if (fd >= 0) write_all(fd, line, len);
}

/* Rate limit (DESIGN.md: a log line a peer can trigger is rate-limited): each call site,
 * known by its format string, writes at most LOG_BURST lines a second per thread; the rest
 * are counted and summed up in one line once their second is over. */
#define LOG_SITES 64
#define LOG_BURST 10

struct log_site {
    const char *fmt;
    time_t window; /* the second being counted */
    unsigned written, suppressed;
    enum log_level level;
};

static _Thread_local struct log_site tl_sites[LOG_SITES];
static _Thread_local unsigned tl_pending; /* sites with suppressed lines not summed up yet */

static char process_tag[24]; /* "http3: " in the HTTP/3 process, else empty */

void log_set_process_tag(const char *tag)
{
    snprintf(process_tag, sizeof(process_tag), "%s%s", tag, *tag ? ": " : "");
}

static void write_line(enum log_level level, const struct timeval *tv, const char *fmt, va_list ap)
{
    char line[2048];
    struct tm tm;
    gmtime_r(&tv->tv_sec, &tm);
    int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03dZ [%s] %s", (int)(tv->tv_usec / 1000),
                  level_names[level], process_tag);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0) m = 0;
    n += m;
    if ((size_t)n > sizeof(line) - 2) n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    write_all(error_log.fd, line, (size_t)n);
}

static void write_fmt(enum log_level level, const struct timeval *tv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void write_fmt(enum log_level level, const struct timeval *tv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(level, tv, fmt, ap);
    va_end(ap);
}

static void site_summarize(struct log_site *site, const struct timeval *tv)
{
    if (!site->suppressed) return;
    if (error_log.fd >= 0)
        write_fmt(site->level, tv,
                  "%u more like \"%.120s\" not written in that second (at most %d a second)",
                  site->suppressed, site->fmt, LOG_BURST);
    site->suppressed = 0;
    tl_pending--;
}

void log_flush_suppressed(void)
{
    if (!tl_pending) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    for (int i = 0; i < LOG_SITES && tl_pending; i++)
        if (tl_sites[i].suppressed && tl_sites[i].window != tv.tv_sec)
            site_summarize(&tl_sites[i], &tv);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > current_level || error_log.fd < 0) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct log_site *site = &tl_sites[((uintptr_t)fmt >> 3) % LOG_SITES];
    if (site->fmt != fmt || site->window != tv.tv_sec) {
        site_summarize(site, &tv);
        site->fmt = fmt;
        site->window = tv.tv_sec;
        site->written = 0;
        site->level = level;
    }
    if (site->written >= LOG_BURST) {
        if (!site->suppressed++) tl_pending++;
        return;
    }
    site->written++;
    va_list ap;
    va_start(ap, fmt);
    write_line(level, &tv, fmt, ap);
    va_end(ap);
}
