/* The download progress line of `tern get` on a terminal: bytes, percentage, rate and ETA,
 * redrawn at most five times a second on stderr. */
#ifndef TERN_CLI_PROGRESS_H
#define TERN_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
    bool on;
    int64_t start_us, last_us;
    int64_t total; /* expected bytes, or -1 */
    int64_t done;
    bool drawn;
};

/* Turns the line on when stderr is a terminal and neither silent nor verbose output asks
 * otherwise, and the body does not go to that terminal. */
void progress_start(struct progress *p, bool silent, bool body_to_stdout);
/* A response began: total is its length (Content-Length), or -1. */
void progress_expect(struct progress *p, int64_t total);
void progress_add(struct progress *p, int64_t n);
/* Draws the final state and ends the line. */
void progress_end(struct progress *p);

#endif
