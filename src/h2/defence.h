/* Budgets against abusive HTTP/2 peers (DESIGN "Limits on everything a peer controls"): a count
 * of events per 10-second window, e.g. client resets (Rapid Reset, CVE-2023-44487) or frames
 * doing no useful work (SETTINGS, PING, empty DATA... floods). */
#ifndef TERN_H2_DEFENCE_H
#define TERN_H2_DEFENCE_H

#include <stdbool.h>
#include <stdint.h>

#define H2_BUDGET_WINDOW_MS 10000

struct h2_budget {
    int64_t window_start_ms;
    uint32_t used;
};

/* Spends n units at now_ms; true when more than limit units were spent in the current 10 s
 * window (the peer must be stopped). limit 0 means unlimited. */
bool h2_budget_spend(struct h2_budget *b, int64_t now_ms, uint32_t n, uint32_t limit);

#endif
