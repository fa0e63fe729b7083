/* HTTP/2 flow-control windows (RFC 9113 §5.2, §6.9): send windows may go negative after a
 * SETTINGS_INITIAL_WINDOW_SIZE change; no window may exceed 2^31-1. */
#ifndef TERN_H2_FLOW_H
#define TERN_H2_FLOW_H

#include <stdbool.h>
#include <stdint.h>

/* Adds a WINDOW_UPDATE increment (or a settings delta, possibly negative). Returns 0, or -1
 * when the result would exceed 2^31-1 (FLOW_CONTROL_ERROR, §6.9.1); *w is then unchanged. */
int h2_window_add(int64_t *w, int64_t delta);

/* Receive side: `unacked` bytes were consumed since our last WINDOW_UPDATE for a window of
 * `target` bytes. True when it is time to send an update (half the window consumed), which
 * keeps a fast sender from ever waiting on us. */
static inline bool h2_window_should_update(uint32_t unacked, uint32_t target)
{
    return unacked > 0 && unacked >= target / 2;
}

#endif
