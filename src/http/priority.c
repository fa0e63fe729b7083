#include "http/priority.h"

#include <stddef.h>

/* Skips SP/HTAB from i. */
static size_t skip_ows(str_t v, size_t i)
{
    while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'))
        i++;
    return i;
}

void http_priority_parse(str_t v, struct http_priority *p)
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

/* True when a should send before b. */
static bool before(const struct http_sched_node *a, const struct http_sched_node *b)
{
    if (a->prio.urgency != b->prio.urgency) return a->prio.urgency < b->prio.urgency;
    if (a->prio.incremental != b->prio.incremental) return !a->prio.incremental;
    if (a->prio.incremental) return a->seq < b->seq;
    return a->id < b->id;
}

static void unlink_node(struct http_sched *s, struct http_sched_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        s->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        s->tail = n->prev;
    n->next = n->prev = NULL;
}

/* Inserts n at its place in the order; new and re-queued streams usually belong at the end,
 * so the search starts there. */
static void insert_sorted(struct http_sched *s, struct http_sched_node *n)
{
    struct http_sched_node *p = s->tail;
    while (p && before(n, p))
        p = p->prev;
    n->prev = p;
    n->next = p ? p->next : s->head;
    if (n->next)
        n->next->prev = n;
    else
        s->tail = n;
    if (p)
        p->next = n;
    else
        s->head = n;
}

void http_sched_add(struct http_sched *s, struct http_sched_node *n)
{
    if (n->queued) return;
    n->queued = true;
    n->seq = ++s->seq;
    insert_sorted(s, n);
    s->count++;
}

void http_sched_remove(struct http_sched *s, struct http_sched_node *n)
{
    if (!n->queued) return;
    unlink_node(s, n);
    n->queued = false;
    s->count--;
}

void http_sched_update(struct http_sched *s, struct http_sched_node *n)
{
    if (!n->queued) return;
    unlink_node(s, n);
    insert_sorted(s, n);
}

struct http_sched_node *http_sched_pick(struct http_sched *s,
                                        bool (*ready)(struct http_sched_node *, void *), void *ctx)
{
    for (struct http_sched_node *n = s->head; n; n = n->next)
        if (ready(n, ctx)) return n;
    return NULL;
}

void http_sched_sent(struct http_sched *s, struct http_sched_node *n)
{
    if (!n->prio.incremental) return;
    n->seq = ++s->seq;
    if (n->queued) http_sched_update(s, n);
}
