#include "cli/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void progress_start(struct progress *p, bool silent, bool body_to_stdout)
{
    *p = (struct progress){.total = -1};
    p->on = !silent && isatty(STDERR_FILENO) && !(body_to_stdout && isatty(STDOUT_FILENO));
    p->start_us = now_us();
}

void progress_expect(struct progress *p, int64_t total)
{
    p->total = total >= 0 ? total + p->done : -1;
}

/* 12.3 MiB style. */
static void human(double v, char *out, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024 && u < 4)
        v /= 1024, u++;
    snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void draw(struct progress *p, int64_t now)
{
    double secs = (double)(now - p->start_us) / 1e6;
    double rate = secs > 0 ? (double)p->done / secs : 0;
    char got[32], all[32], r[32], eta[32] = "--:--:--";
    human((double)p->done, got, sizeof(got));
    human(rate, r, sizeof(r));
    if (p->total > 0) {
        human((double)p->total, all, sizeof(all));
        if (rate > 0) {
            long left = (long)((double)(p->total - p->done) / rate);
            snprintf(eta, sizeof(eta), "%ld:%02ld:%02ld", left / 3600, left / 60 % 60, left % 60);
        }
        fprintf(stderr, "\r%10s / %-10s %3d%%  %10s/s  ETA %s ", got, all,
                (int)(p->done * 100 / p->total), r, eta);
    } else {
        fprintf(stderr, "\r%10s  %10s/s ", got, r);
    }
    p->drawn = true;
}

void progress_add(struct progress *p, int64_t n)
{
    p->done += n;
    if (!p->on) return;
    int64_t now = now_us();
    if (now - p->last_us < 200000) return;
    p->last_us = now;
    draw(p, now);
}

void progress_end(struct progress *p)
{
    if (!p->on) return;
    draw(p, now_us());
    fputc('\n', stderr);
}
