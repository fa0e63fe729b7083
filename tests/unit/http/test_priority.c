/* RFC 9218 priorities: parsing the Priority field, and the scheduler's order (lower urgency
 * first; non-incremental streams by id, then incremental ones round-robin) checked against a
 * brute-force reference through random adds, removes, sends, priority updates and stalls. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/priority.h"

static void test_parse(void)
{
    struct http_priority p = {HTTP_URGENCY_DEFAULT, false};
    http_priority_parse(STR_LIT("u=1, i"), &p);
    CHECK_INT(p.urgency, 1);
    CHECK(p.incremental);
    http_priority_parse(STR_LIT("u=9, i=?0"), &p); /* out of range: ignored */
    CHECK_INT(p.urgency, 1);
    CHECK(!p.incremental);
}

#define N 24

static struct http_sched_node nodes[N];
static bool stalled[N];

static bool ready(struct http_sched_node *n, void *ctx)
{
    (void)ctx;
    return !stalled[n - nodes];
}

static bool before(const struct http_sched_node *a, const struct http_sched_node *b)
{
    if (a->prio.urgency != b->prio.urgency) return a->prio.urgency < b->prio.urgency;
    if (a->prio.incremental != b->prio.incremental) return !a->prio.incremental;
    if (a->prio.incremental) return a->seq < b->seq;
    return a->id < b->id;
}

static struct http_sched_node *reference_pick(void)
{
    struct http_sched_node *best = NULL;
    for (int i = 0; i < N; i++)
        if (nodes[i].queued && !stalled[i] && (!best || before(&nodes[i], best))) best = &nodes[i];
    return best;
}

static void test_scheduler(void)
{
    struct http_sched s;
    memset(&s, 0, sizeof(s));
    srand(7);
    for (int i = 0; i < N; i++) {
        nodes[i].id = (uint32_t)(2 * i + 1);
        nodes[i].prio.urgency = (uint8_t)(rand() % 8);
        nodes[i].prio.incremental = rand() % 2;
    }
    for (int step = 0; step < 20000; step++) {
        int i = rand() % N;
        switch (rand() % 6) {
        case 0: http_sched_add(&s, &nodes[i]); break;
        case 1: http_sched_remove(&s, &nodes[i]); break;
        case 2:
            nodes[i].prio.urgency = (uint8_t)(rand() % 8);
            nodes[i].prio.incremental = rand() % 2;
            http_sched_update(&s, &nodes[i]);
            break;
        case 3: stalled[i] = !stalled[i]; break;
        default: {
            struct http_sched_node *n = http_sched_pick(&s, ready, NULL);
            CHECK(n == reference_pick());
            if (n) http_sched_sent(&s, n);
            break;
        }
        }
        uint32_t count = 0;
        for (struct http_sched_node *n = s.head; n; n = n->next)
            count++;
        CHECK_INT(count, s.count);
    }
}

int main(void)
{
    test_parse();
    test_scheduler();
    return check_done("http/priority");
}
