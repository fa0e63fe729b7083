/* Reference counts shared between threads. */
#ifndef TERN_CORE_REFCOUNT_H
#define TERN_CORE_REFCOUNT_H

#include <stdatomic.h>
#include <stdbool.h>

static inline void refcount_get(atomic_uint *r)
{
    atomic_fetch_add_explicit(r, 1, memory_order_relaxed);
}

/* Drops one reference; true when it was the last (the caller frees, seeing every write made
 * under the other references). */
static inline bool refcount_put(atomic_uint *r)
{
    return atomic_fetch_sub_explicit(r, 1, memory_order_acq_rel) == 1;
}

#endif
