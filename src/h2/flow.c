#include "h2/flow.h"

#include "h2/frame.h"

int h2_window_add(int64_t *w, int64_t delta)
{
    int64_t v = *w + delta;
    if (v > (int64_t)H2_MAX_WINDOW) return -1;
    *w = v;
    return 0;
}
