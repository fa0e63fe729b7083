#include "h2/defence.h"

bool h2_budget_spend(struct h2_budget *b, int64_t now_ms, uint32_t n, uint32_t limit)
{
    if (limit == 0) return false;
    if (now_ms - b->window_start_ms >= H2_BUDGET_WINDOW_MS || now_ms < b->window_start_ms) {
        b->window_start_ms = now_ms;
        b->used = 0;
    }
    b->used = b->used + n < b->used ? UINT32_MAX : b->used + n;
    return b->used > limit;
}
