/* The error log's rate limit: a call site writes at most 10 lines a second, then one summary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "core/log.h"

static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Waits until the wall clock has just entered a new second, so 100 calls fit in one. */
static void align_to_second(void)
{
    struct timeval a, b;
    gettimeofday(&a, NULL);
    do {
        usleep(1000);
        gettimeofday(&b, NULL);
    } while (b.tv_sec == a.tv_sec);
}

int main(void)
{
    char path[] = "/tmp/tern-log-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_INT(log_open_error(path), 0);

    align_to_second();
    for (int i = 0; i < 100; i++)
        log_warn("peer %d did something", i);
    log_info("another site %d", 1); /* a different call site is not limited by the first */
    CHECK_INT(count_lines(path, "did something"), 10);
    CHECK_INT(count_lines(path, "another site 1"), 1);
    log_flush_suppressed(); /* same second: nothing to sum up yet */
    CHECK_INT(count_lines(path, "90 more like"), 0);

    sleep(1);
    log_flush_suppressed();
    CHECK_INT(count_lines(path, "90 more like \"peer %d did something\""), 1);
    log_flush_suppressed(); /* once */
    CHECK_INT(count_lines(path, "more like"), 1);

    /* a new second: the site writes again */
    log_warn("peer %d did something", 1000);
    CHECK_INT(count_lines(path, "peer 1000 did something"), 1);

    log_open_error("stderr");
    unlink(path);
    return check_done("core/log");
}
