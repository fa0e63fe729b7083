/* The latency histogram: exact below 128, within 1/64 above, quantiles by rank, merging. */
#include <stdlib.h>

#include "check.h"
#include "client/histogram.h"

int main(void)
{
    static struct histogram h, g;
    hist_init(&h);
    CHECK_INT(hist_quantile(&h, 0.5), 0);
    for (uint64_t v = 1; v <= 100; v++)
        hist_record(&h, v);
    CHECK_INT(hist_quantile(&h, 0.5), 50);
    CHECK_INT(hist_quantile(&h, 0.99), 99);
    CHECK_INT(hist_quantile(&h, 1.0), 100);
    CHECK_INT(h.min, 1);
    CHECK_INT(h.max, 100);
    CHECK((int)(hist_mean(&h) * 10) == 505);
    /* large values: within 1/64 of the truth, never below it, never above max */
    srand(7);
    for (int i = 0; i < 10000; i++) {
        uint64_t v = (uint64_t)rand() * 1000u + 128u;
        hist_init(&g);
        hist_record(&g, v);
        hist_record(&g, v * 2); /* so that v's bucket top is not capped by max */
        uint64_t q = hist_quantile(&g, 0.5);
        if (q < v || (double)(q - v) > (double)v / 64) {
            CHECK(0);
            break;
        }
    }
    /* merging two histograms gives the union */
    hist_init(&g);
    for (uint64_t v = 101; v <= 200; v++)
        hist_record(&g, v);
    hist_merge(&h, &g);
    CHECK_INT(h.total, 200);
    CHECK_INT(h.max, 200);
    uint64_t med = hist_quantile(&h, 0.5);
    CHECK(med >= 100 && med <= 101);
    /* a value past the last bucket lands in it and max stays exact */
    hist_record(&h, UINT64_MAX / 2);
    CHECK_INT(hist_quantile(&h, 1.0), UINT64_MAX / 2);
    return check_done("client/histogram");
}
