/* The Redis side of a `shared` rate limit, without I/O: the bucket's key, the Lua script that
 * takes a token atomically (the same integer token bucket as server/rate_bucket.h, on Redis's
 * clock), and the reading of its reply. The connection is server/redis_link.h. */
#ifndef TERN_SERVER_REDIS_RATE_H
#define TERN_SERVER_REDIS_RATE_H

#include <stddef.h>

#include "server/rate_table.h"

struct redisReply;

/* KEYS[1] the bucket; ARGV count, period_ms, burst, queue. Returns {wait_ms, delay_ms} as
 * struct rate_verdict; the key is a hash (c: credit units, t: stamp ms) that expires once the
 * bucket would be full again. */
extern const char redis_rate_script[];

/* The bucket's key: prefix "rl:" names ":" path ":" client, where names are the server's names
 * joined by "," ("_" for a server without one). The same on every instance and across reloads.
 * Writes at most cap bytes (NUL included) and returns the length it needs (without the NUL),
 * as snprintf. */
size_t redis_rate_key(char *out, size_t cap, const char *prefix, char *const *names, size_t n_names,
                      const char *path, const char *client);

/* The script's reply into *v (log false): 0, or -1 when it is not an array of two integers in
 * range (an error reply, a wrong type, a negative or absurd wait). */
int redis_rate_parse(const struct redisReply *r, struct rate_verdict *v);

#endif
