/* Key, script and reply of a shared rate limit, see redis_rate.h. */
#include "server/redis_rate.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

/* Integer arithmetic as rate_bucket.c: a token is period units, every ms adds count units, the
 * bucket holds burst * period at most and may go down to -queue * period (tokens owed). Lua
 * numbers are doubles: every value here stays below 2^53 (at most 1e6 * 6e4 units). */
const char redis_rate_script[] =
    "local now = redis.call('TIME')\n"
    "now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)\n"
    "local count, period = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local burst, queue = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local cap = burst * period\n"
    "local s = redis.call('HMGET', KEYS[1], 'c', 't')\n"
    "local credit, stamp = tonumber(s[1]), tonumber(s[2])\n"
    "if not credit or not stamp then credit, stamp = cap, now end\n"
    "if credit > cap then credit = cap end\n"
    "if now > stamp then\n"
    "  credit = math.min(cap, credit + (now - stamp) * count)\n"
    "  stamp = now\n"
    "end\n"
    "local delay = 0\n"
    "if credit < period then\n"
    "  if credit - period < -queue * period then\n"
    "    return {math.ceil((period - credit) / count), 0}\n"
    "  end\n"
    "  delay = math.ceil((period - credit) / count)\n"
    "end\n"
    "credit = credit - period\n"
    "redis.call('HSET', KEYS[1], 'c', credit, 't', stamp)\n"
    "redis.call('PEXPIRE', KEYS[1], math.ceil((cap - credit) / count) + 1000)\n"
    "return {0, delay}\n";

size_t redis_rate_key(char *out, size_t cap, const char *prefix, char *const *names, size_t n_names,
                      const char *path, const char *client)
{
    size_t len = 0;
#define PUT(s)                                                                                     \
    do {                                                                                           \
        size_t n_ = strlen(s);                                                                     \
        if (len < cap) memcpy(out + len, s, len + n_ < cap ? n_ : cap - len);                      \
        len += n_;                                                                                 \
    } while (0)
    PUT(prefix);
    PUT("rl:");
    if (!n_names) PUT("_");
    for (size_t i = 0; i < n_names; i++) {
        if (i) PUT(",");
        PUT(names[i]);
    }
    PUT(":");
    PUT(path);
    PUT(":");
    PUT(client);
#undef PUT
    if (cap) out[len < cap ? len : cap - 1] = '\0';
    return len;
}

#define MAX_WAIT_MS (24LL * 3600 * 1000 * 1000) /* beyond any bucket: burst 1e6 at 1/m */

int redis_rate_parse(const struct redisReply *r, struct rate_verdict *v)
{
    memset(v, 0, sizeof(*v));
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return -1;
    const struct redisReply *w = r->element[0], *d = r->element[1];
    if (!w || !d || w->type != REDIS_REPLY_INTEGER || d->type != REDIS_REPLY_INTEGER) return -1;
    if (w->integer < 0 || w->integer > MAX_WAIT_MS || d->integer < 0 || d->integer > MAX_WAIT_MS)
        return -1;
    if (w->integer && d->integer) return -1; /* refused and queued at once */
    v->wait_ms = w->integer;
    v->delay_ms = d->integer;
    return 0;
}
