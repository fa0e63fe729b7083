/* server/rate_bucket and server/rate_table: the token bucket against an independent reference
 * (GCRA in exact integer time, RFC-free but textbook) on a fake clock; burst, refill and the
 * wait behind Retry-After; the table's keys, its eviction of idle slots first, and one bucket
 * shared by two threads. */
#include <pthread.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "server/rate_bucket.h"
#include "server/rate_table.h"

/* Generic cell rate algorithm with times scaled by count, so every quantity is an integer:
 * one request every `period` scaled units, `burst - 1` of them early at most. */
struct gcra {
    int64_t tat; /* theoretical arrival time, scaled */
};

static int64_t gcra_take(struct gcra *g, const struct rate_spec *s, int64_t now_ms)
{
    int64_t now = now_ms * s->count, t = s->period_ms;
    int64_t tau = (int64_t)(s->burst - 1) * t;
    if (g->tat < now) g->tat = now;
    if (now < g->tat - tau) {
        int64_t wait = g->tat - tau - now;
        return (wait + s->count - 1) / s->count;
    }
    g->tat += t;
    return 0;
}

static void test_examples(void)
{
    struct rate_spec s = {.count = 5, .period_ms = 1000, .burst = 5};
    struct rate_bucket b;
    rate_bucket_init(&b, &s, 1000);
    for (int i = 0; i < 5; i++)
        CHECK_INT(rate_bucket_take(&b, &s, 1000), 0);
    CHECK_INT(rate_bucket_take(&b, &s, 1000), 200); /* a token every 200 ms */
    CHECK_INT(rate_bucket_take(&b, &s, 1150), 50);
    CHECK_INT(rate_bucket_take(&b, &s, 1200), 0);
    CHECK_INT(rate_bucket_take(&b, &s, 1200), 200);
    CHECK_INT(rate_bucket_full_at(&b, &s), 2200);
    /* a clock going back stands still */
    CHECK_INT(rate_bucket_take(&b, &s, 900), 200);
    /* after a long pause the bucket holds burst tokens, no more */
    int ok = 0;
    while (rate_bucket_take(&b, &s, 100000) == 0)
        ok++;
    CHECK_INT(ok, 5);

    struct rate_spec m = {.count = 1, .period_ms = 60000, .burst = 1};
    rate_bucket_init(&b, &m, 0);
    CHECK_INT(rate_bucket_take(&b, &m, 0), 0);
    CHECK_INT(rate_bucket_take(&b, &m, 0), 60000);
    CHECK_INT(rate_bucket_take(&b, &m, 59999), 1);
    CHECK_INT(rate_bucket_take(&b, &m, 60000), 0);

    /* 3/s: a token every 333.3 ms; the wait rounds up, the credit keeps the remainder */
    struct rate_spec t = {.count = 3, .period_ms = 1000, .burst = 1};
    rate_bucket_init(&b, &t, 0);
    CHECK_INT(rate_bucket_take(&b, &t, 0), 0);
    CHECK_INT(rate_bucket_take(&b, &t, 0), 334);
    CHECK_INT(rate_bucket_take(&b, &t, 333), 1);
    CHECK_INT(rate_bucket_take(&b, &t, 334), 0);
    /* at 334 the bucket was full (capped at one token) before the take: no credit carried */
    CHECK_INT(rate_bucket_take(&b, &t, 667), 1);
    CHECK_INT(rate_bucket_take(&b, &t, 668), 0);

    /* the largest values allowed: no overflow */
    struct rate_spec big = {.count = RATE_MAX_COUNT, .period_ms = 60000, .burst = RATE_MAX_COUNT};
    rate_bucket_init(&b, &big, 0);
    CHECK_INT(rate_bucket_take(&b, &big, INT64_MAX / 2), 0);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_against_reference(void)
{
    static const struct rate_spec specs[] = {
        {1, 1000, 1, 0},  {5, 1000, 5, 0},    {5, 1000, 1, 0},   {3, 1000, 7, 0},
        {7, 60000, 2, 0}, {100, 1000, 20, 0}, {1, 60000, 10, 0}, {1000, 1000, 1, 0},
    };
    for (size_t k = 0; k < sizeof(specs) / sizeof(specs[0]); k++) {
        const struct rate_spec *s = &specs[k];
        struct rate_bucket b;
        struct gcra g = {0};
        int64_t now = 5000;
        rate_bucket_init(&b, s, now);
        g.tat = now;
        int mismatches = 0, allowed = 0;
        for (int i = 0; i < 20000; i++) {
            uint64_t r = next_rand();
            /* mostly bursts at one instant, sometimes small steps, sometimes long pauses */
            now += r % 4 == 0   ? 0
                   : r % 4 == 1 ? (int64_t)(r >> 8) % 7
                   : r % 4 == 2 ? (int64_t)(r >> 8) % (s->period_ms / s->count + 2)
                                : (int64_t)(r >> 8) % 3 * s->period_ms;
            int64_t got = rate_bucket_take(&b, s, now), want = gcra_take(&g, s, now);
            if (got != want && mismatches++ < 3)
                fprintf(stderr, "spec %zu step %d at %lld: bucket %lld, reference %lld\n", k, i,
                        (long long)now, (long long)got, (long long)want);
            allowed += got == 0;
        }
        CHECK_INT(mismatches, 0);
        CHECK(allowed > 0);
    }
}

static struct ip_addr addr_n(unsigned n)
{
    struct ip_addr a = {.family = IP_V4, .bytes = {10, 0, (uint8_t)(n >> 8), (uint8_t)n}};
    return a;
}

static void test_table_keys(void)
{
    struct rate_table *t = rate_table_new(RATE_TABLE_ENTRIES);
    CHECK(t != NULL);
    struct rate_spec s = {.count = 2, .period_ms = 1000, .burst = 2};
    struct ip_addr a = addr_n(1), b = addr_n(2);
    CHECK_INT(rate_table_take(t, 1, &s, &a, 0, 1000).wait_ms, 0);
    CHECK_INT(rate_table_take(t, 1, &s, &a, 0, 1000).wait_ms, 0);
    struct rate_verdict v = rate_table_take(t, 1, &s, &a, 0, 1000);
    CHECK_INT(v.wait_ms, 500);
    CHECK(v.log);
    v = rate_table_take(t, 1, &s, &a, 10, 1000);
    CHECK_INT(v.wait_ms, 490);
    CHECK(!v.log); /* once per client per interval */
    /* another client, or the same client under another limit, has its own bucket */
    CHECK_INT(rate_table_take(t, 1, &s, &b, 10, 1000).wait_ms, 0);
    CHECK_INT(rate_table_take(t, 2, &s, &a, 10, 1000).wait_ms, 0);
    CHECK_INT(rate_table_used(t), 3);
    CHECK_INT(rate_table_take(t, 1, &s, &a, 500, 1000).wait_ms, 0);
    v = rate_table_take(t, 1, &s, &a, 1000, 1000);
    CHECK_INT(v.wait_ms, 0);
    v = rate_table_take(t, 1, &s, &a, 1000, 1000);
    CHECK(v.wait_ms > 0 && v.log); /* the interval has passed: logged again */
    rate_table_free(t);
}

static void test_table_eviction(void)
{
    struct rate_table *t = rate_table_new(RATE_TABLE_WAYS); /* one set: every key collides */
    struct rate_spec minute = {.count = 1, .period_ms = 60000, .burst = 1};
    struct rate_spec second = {.count = 1, .period_ms = 1000, .burst = 1};
    /* seven busy clients and one that is idle again from t=1000 */
    for (unsigned i = 1; i <= 7; i++) {
        struct ip_addr a = addr_n(i);
        CHECK_INT(rate_table_take(t, 1, &minute, &a, (int64_t)i, 1000).wait_ms, 0);
    }
    struct ip_addr idle = addr_n(100);
    CHECK_INT(rate_table_take(t, 2, &second, &idle, 0, 1000).wait_ms, 0);
    CHECK_INT(rate_table_used(t), 8);
    /* a newcomer at t=5000 takes the idle slot: the busy clients keep their state */
    struct ip_addr newcomer = addr_n(200);
    CHECK_INT(rate_table_take(t, 1, &minute, &newcomer, 5000, 1000).wait_ms, 0);
    CHECK_INT(rate_table_used(t), 8);
    for (unsigned i = 1; i <= 7; i++) {
        struct ip_addr a = addr_n(i);
        CHECK(rate_table_take(t, 1, &minute, &a, 5000, 1000).wait_ms > 0);
    }
    /* no idle slot left: the one that would be idle first (client 1) is forgotten */
    struct ip_addr other = addr_n(300);
    CHECK_INT(rate_table_take(t, 1, &minute, &other, 6000, 1000).wait_ms, 0);
    CHECK_INT(rate_table_used(t), 8);
    struct ip_addr first = addr_n(1);
    CHECK_INT(rate_table_take(t, 1, &minute, &first, 6000, 1000).wait_ms, 0);
    rate_table_free(t);
}

/* The queue: requests beyond the burst take a token on credit and wait for it, at the rate,
 * up to queue owed; beyond that refused as without it. */
static void test_queue(void)
{
    struct rate_spec s = {.count = 5, .period_ms = 1000, .burst = 2, .queue = 3};
    struct rate_bucket b;
    int64_t delay;
    rate_bucket_init(&b, &s, 1000);
    CHECK_INT(rate_bucket_take_queued(&b, &s, 1000, &delay), 0);
    CHECK_INT(delay, 0);
    CHECK_INT(rate_bucket_take_queued(&b, &s, 1000, &delay), 0);
    CHECK_INT(delay, 0);
    for (int i = 1; i <= 3; i++) { /* the queue: a token every 200 ms, each one later */
        CHECK_INT(rate_bucket_take_queued(&b, &s, 1000, &delay), 0);
        CHECK_INT(delay, 200 * i);
    }
    CHECK_INT(rate_bucket_take_queued(&b, &s, 1000, &delay), 800); /* full: refused */
    CHECK_INT(delay, 0);
    CHECK_INT(rate_bucket_take(&b, &s, 1000), 800); /* without the queue: the same debt */
    /* 200 ms later one token has come: one more place in the queue, waiting 600 ms */
    CHECK_INT(rate_bucket_take_queued(&b, &s, 1200, &delay), 0);
    CHECK_INT(delay, 600);
    /* all paid back and refilled 1.4 s after the last debt */
    CHECK_INT(rate_bucket_full_at(&b, &s), 1200 + 600 + 400);
}

/* limit_conn: requests in flight counted per (limit, client), refused at max, let out at the
 * end; a slot with requests in flight is never given to another client or bucket. */
static void test_in_flight(void)
{
    struct rate_table *t = rate_table_new(RATE_TABLE_WAYS); /* one set: every key collides */
    struct ip_addr a = addr_n(1), b = addr_n(2);
    bool log;
    long s1 = rate_table_enter(t, 5, 2, &a, 0, 1000, &log);
    long s2 = rate_table_enter(t, 5, 2, &a, 0, 1000, &log);
    CHECK(s1 >= 0 && s1 == s2);
    CHECK_INT(rate_table_enter(t, 5, 2, &a, 0, 1000, &log), -1);
    CHECK(log);
    CHECK_INT(rate_table_enter(t, 5, 2, &a, 10, 1000, &log), -1);
    CHECK(!log);                                               /* once per client per interval */
    CHECK(rate_table_enter(t, 5, 2, &b, 10, 1000, &log) >= 0); /* another client */
    CHECK(rate_table_enter(t, 6, 2, &a, 10, 1000, &log) >= 0); /* another location */
    rate_table_leave(t, s1);
    long s3 = rate_table_enter(t, 5, 2, &a, 20, 1000, &log);
    CHECK_INT(s3, s1);
    /* five more clients fill the set with requests in flight: none is evicted for a bucket */
    for (unsigned i = 10; i < 15; i++) {
        struct ip_addr c = addr_n(i);
        CHECK(rate_table_enter(t, 5, 1, &c, 30, 1000, &log) >= 0);
    }
    struct ip_addr newcomer = addr_n(99);
    CHECK_INT(rate_table_enter(t, 5, 1, &newcomer, 40, 1000, &log), -2); /* let in, uncounted */
    struct rate_spec s = {.count = 1, .period_ms = 1000, .burst = 1};
    CHECK_INT(rate_table_take(t, 1, &s, &newcomer, 40, 1000).wait_ms, 0); /* not limited */
    CHECK_INT(rate_table_enter(t, 5, 2, &a, 50, 1000, &log), -1);         /* a's count survived */
    rate_table_free(t);
}

/* A million clients through the process's table: it holds RATE_TABLE_ENTRIES of them at most
 * and allocates nothing as they come (the memory is the table's, fixed at its making); the
 * most recent clients are still limited. */
static void test_million_keys(void)
{
    struct rate_table *t = rate_table_new(RATE_TABLE_ENTRIES);
    struct rate_spec s = {.count = 1, .period_ms = 60000, .burst = 1};
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    for (unsigned i = 0; i < 1000000; i++) {
        struct ip_addr a = {.family = IP_V6};
        memcpy(a.bytes + 12, &i, sizeof(i));
        rate_table_take(t, 1, &s, &a, (int64_t)i / 100, 1000);
    }
    getrusage(RUSAGE_SELF, &after);
    CHECK(rate_table_used(t) <= RATE_TABLE_ENTRIES);
    CHECK(after.ru_maxrss - before.ru_maxrss < 1024); /* KiB: nothing grew */
    struct ip_addr last = {.family = IP_V6};
    unsigned i = 999999;
    memcpy(last.bytes + 12, &i, sizeof(i));
    CHECK(rate_table_take(t, 1, &s, &last, 10000, 1000).wait_ms > 0);
    rate_table_free(t);
}

/* Two threads drain one client's bucket at one instant: exactly burst tokens in all. */
static struct rate_table *shared;
static const struct rate_spec shared_spec = {.count = 10, .period_ms = 1000, .burst = 1000};

static void *drain(void *arg)
{
    int *allowed = arg;
    struct ip_addr a = addr_n(7);
    for (int i = 0; i < 5000; i++)
        *allowed += rate_table_take(shared, 1, &shared_spec, &a, 42, 1000).wait_ms == 0;
    return NULL;
}

static void test_threads(void)
{
    shared = rate_table_new(RATE_TABLE_ENTRIES);
    int n1 = 0, n2 = 0;
    pthread_t t1, t2;
    pthread_create(&t1, NULL, drain, &n1);
    pthread_create(&t2, NULL, drain, &n2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK_INT(n1 + n2, 1000);
    rate_table_free(shared);
}

int main(void)
{
    test_examples();
    test_against_reference();
    test_table_keys();
    test_table_eviction();
    test_in_flight();
    test_queue();
    test_million_keys();
    test_threads();
    return check_done("server/rate_limit");
}
