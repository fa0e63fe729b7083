/* An intrusive doubly-linked list with head and tail (LRU lists, queues): the node lives in
 * the element, container_of-style, so linking never allocates. */
#ifndef TERN_CORE_DLIST_H
#define TERN_CORE_DLIST_H

#include <stddef.h>

struct dlist_node {
    struct dlist_node *prev, *next;
};

struct dlist {
    struct dlist_node *head, *tail;
};

/* The element of type that holds node as member. */
#define DLIST_ENTRY(node, type, member) ((type *)(void *)((char *)(node)-offsetof(type, member)))

/* Takes n (which is on l) off l. */
static inline void dlist_remove(struct dlist *l, struct dlist_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

/* Puts n (on no list) first on l. */
static inline void dlist_push_front(struct dlist *l, struct dlist_node *n)
{
    n->prev = NULL;
    n->next = l->head;
    if (l->head) l->head->prev = n;
    l->head = n;
    if (!l->tail) l->tail = n;
}

#endif
