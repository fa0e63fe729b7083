#include "h2/priority.h"

#include <stddef.h>

/* Skips SP/HTAB from i. */
static size_t skip_ows(str_t v, size_t i)
{
    while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
        i++;
    return i;
}

void h2_priority_parse(str_t v, struct h2_priority *p)
{
    size_t i = skip_ows(v, 0);
    while (i < v.len) {
        /* key: lcalpha / "*" then lcalpha / DIGIT / "_" / "-" / "." / "*" */
        size_t ks = i;
        while (i < v.len && ((v.p[i] >= 'a' && v.p[i] <= 'z') || (v.p[i] >= '0' && v.p[i] <= '9') ||
                             v.p[i] == '_' || v.p[i] == '-' || v.p[i] == '.' || v.p[i] == '*'))
            i++;
        str_t key = str_make(v.p + ks, i - ks);
        str_t val = STR_NULL;
        if (i < v.len && v.p[i] == '=') {
            size_t vs = ++i;
            while (i < v.len && v.p[i] != ';' && v.p[i] != ',')
                i++;
            val = str_make(v.p + vs, i - vs);
            while (val.len && (val.p[val.len - 1] == ' ' || val.p[val.len - 1] == '\t'))
                val.len--;
        }
        while (i < v.len && v.p[i] != ',') /* parameters are ignored */
            i++;
        if (key.len == 1 && key.p[0] == 'u') {
            if (val.len == 1 && val.p[0] >= '0' && val.p[0] <= '7')
                p->urgency = (uint8_t)(val.p[0] - '0');
        } else if (key.len == 1 && key.p[0] == 'i') {
            if (val.p == NULL || (val.len == 2 && val.p[0] == '?' && val.p[1] == '1'))
                p->incremental = true;
            else if (val.len == 2 && val.p[0] == '?' && val.p[1] == '0')
                p->incremental = false;
        }
        if (i < v.len) i = skip_ows(v, i + 1); /* past ',' */
    }
}

void h2_sched_add(struct h2_sched *s, struct h2_sched_node *n)
{
    if (n->queued) return;
    n->queued = true;
    n->prev = NULL;
    n->next = s->head;
    if (s->head) s->head->prev = n;
    s->head = n;
    n->seq = ++s->seq;
    s->count++;
}

void h2_sched_remove(struct h2_sched *s, struct h2_sched_node *n)
{
    if (!n->queued) return;
    if (n->prev)
        n->prev->next = n->next;
    else
        s->head = n->next;
    if (n->next) n->next->prev = n->prev;
    n->next = n->prev = NULL;
    n->queued = false;
    s->count--;
}

/* True when a should send before b. */
static bool before(const struct h2_sched_node *a, const struct h2_sched_node *b)
{
    if (a->prio.urgency != b->prio.urgency) return a->prio.urgency < b->prio.urgency;
    if (a->prio.incremental != b->prio.incremental) return !a->prio.incremental;
    if (a->prio.incremental) return a->seq < b->seq;
    return a->id < b->id;
}

struct h2_sched_node *h2_sched_pick(struct h2_sched *s,
                                    bool (*ready)(struct h2_sched_node *, void *), void *ctx)
{
    struct h2_sched_node *best = NULL;
    for (struct h2_sched_node *n = s->head; n; n = n->next)
        if ((!best || before(n, best)) && ready(n, ctx)) best = n;
    return best;
}

void h2_sched_sent(struct h2_sched *s, struct h2_sched_node *n)
{
    if (n->prio.incremental) n->seq = ++s->seq;
}
