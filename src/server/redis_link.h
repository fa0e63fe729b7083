/* A worker thread's connection to the Redis of `shared` rate limits: one hiredis async context
 * driven by the worker's event loop (never blocking it), reconnected with back-off when it
 * drops, the rate script loaded once per connection (EVALSHA, EVAL when Redis lost it). Each
 * state change is logged once per process ("redis 127.0.0.1:6379: unreachable ..."). */
#ifndef TERN_SERVER_REDIS_LINK_H
#define TERN_SERVER_REDIS_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/loop.h"
#include "server/config.h"
#include "server/rate_table.h"

struct redis_link;
struct redis_call;

/* Called once with the script's verdict, or NULL when there is none (error, garbage, the
 * connection lost); never from inside redis_link_rate. */
typedef void (*redis_rate_done)(void *arg, const struct rate_verdict *v);

/* A link to cfg's address on loop; it connects at once. NULL on allocation failure. */
struct redis_link *redis_link_new(struct loop *loop, const struct config_redis *cfg);
/* Closes the connection; calls still out get their done(NULL). NULL is fine. */
void redis_link_free(struct redis_link *l);
/* True when l goes to cfg's address (else a reload changed it: make a new link). */
bool redis_link_matches(const struct redis_link *l, const struct config_redis *cfg);
/* Runs the rate script on key for s. NULL when it cannot be sent now (Redis down, too many
 * calls out, no memory): then decide without Redis. */
struct redis_call *redis_link_rate(struct redis_link *l, const char *key, const struct rate_spec *s,
                                   redis_rate_done done, void *arg);
/* The caller stopped waiting for c (its timeout, its client gone): done will not be called.
 * timed_out: counted towards dropping a connection that no longer answers. */
void redis_call_abandon(struct redis_call *c, bool timed_out);
/* True at most once a second per link: whether a refusal by a shared limit is logged. */
bool redis_link_log_refusal(struct redis_link *l);

#endif
