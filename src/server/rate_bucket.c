/* Token bucket arithmetic, see rate_bucket.h. */
#include "server/rate_bucket.h"

static int64_t capacity(const struct rate_spec *s)
{
    return (int64_t)s->burst * s->period_ms; /* <= 1e6 * 6e4: fits easily */
}

/* Credit at now_ms: what was there plus count units per elapsed ms, up to the capacity. */
static int64_t credit_at(const struct rate_bucket *b, const struct rate_spec *s, int64_t now_ms)
{
    int64_t cap = capacity(s);
    int64_t elapsed = now_ms - b->stamp_ms;
    if (elapsed <= 0) return b->credit;
    if (elapsed >= (cap - b->credit) / s->count + 1) return cap; /* and no overflow below */
    int64_t c = b->credit + elapsed * s->count;
    return c > cap ? cap : c;
}

void rate_bucket_init(struct rate_bucket *b, const struct rate_spec *s, int64_t now_ms)
{
    b->credit = capacity(s);
    b->stamp_ms = now_ms;
}

int64_t rate_bucket_take_queued(struct rate_bucket *b, const struct rate_spec *s, int64_t now_ms,
                                int64_t *delay_ms)
{
    int64_t credit = credit_at(b, s, now_ms);
    if (now_ms > b->stamp_ms) b->stamp_ms = now_ms;
    b->credit = credit;
    int64_t token = s->period_ms;
    *delay_ms = 0;
    if (credit >= token) {
        b->credit = credit - token;
        return 0;
    }
    /* owed at most queue tokens after this one: credit may go down to -queue * token */
    if (credit - token >= -(int64_t)s->queue * token) {
        b->credit = credit - token;
        *delay_ms = (token - credit + s->count - 1) / s->count; /* until its token has come */
        return 0;
    }
    /* ms until the missing units have come in, rounded up */
    return (token - credit + s->count - 1) / s->count;
}

int64_t rate_bucket_take(struct rate_bucket *b, const struct rate_spec *s, int64_t now_ms)
{
    struct rate_spec plain = *s;
    plain.queue = 0;
    int64_t delay;
    return rate_bucket_take_queued(b, &plain, now_ms, &delay);
}

int64_t rate_bucket_full_at(const struct rate_bucket *b, const struct rate_spec *s)
{
    return b->stamp_ms + (capacity(s) - b->credit + s->count - 1) / s->count;
}
