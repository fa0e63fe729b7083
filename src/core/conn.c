#include "core/conn.h"

#include "core/log.h"
#include "core/stats.h"

void conn_list_add(struct conn_list *l, struct conn *c, const struct conn_ops *ops)
{
    c->ops = ops;
    c->retired = false;
    c->prev = NULL;
    c->next = l->live;
    if (l->live) l->live->prev = c;
    l->live = c;
    l->count++;
    if (c->stats_wire < SW_COUNT && c->stats_transport < ST_COUNT)
        stats_add(&stats_here->conns_opened[c->stats_wire][c->stats_transport], 1);
}

void conn_list_retire(struct conn_list *l, struct conn *c)
{
    if (c->retired) return;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->live = c->next;
    if (c->next) c->next->prev = c->prev;
    l->count--;
    c->retired = true;
    if (c->stats_wire < SW_COUNT && c->stats_transport < ST_COUNT)
        stats_add(&stats_here->conns_closed[c->stats_wire][c->stats_transport], 1);
    c->prev = NULL;
    c->next = l->retired;
    l->retired = c;
}

void conn_list_shutdown(struct conn_list *l, bool graceful)
{
    if (graceful) {
        /* a connection may retire itself (and add a lingering successor at the head, which
         * has nothing to finish): walk from a saved next */
        for (struct conn *c = l->live, *next; c; c = next) {
            next = c->next;
            c->ops->shutdown(c, true);
        }
        return;
    }
    while (l->live) {
        struct conn *c = l->live;
        c->ops->shutdown(c, false);
        if (l->live == c && !c->retired) {
            log_error("%s connection ignored a fast stop; dropping it", c->ops->name);
            conn_list_retire(l, c);
        }
    }
}

void conn_list_reload(struct conn_list *l)
{
    for (struct conn *c = l->live, *next; c; c = next) {
        next = c->next;
        if (c->ops->reload) c->ops->reload(c);
    }
}

void conn_list_reap(struct conn_list *l)
{
    while (l->retired) {
        struct conn *c = l->retired;
        l->retired = c->next;
        c->ops->free(c);
    }
}
