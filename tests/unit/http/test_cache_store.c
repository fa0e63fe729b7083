/* http/cache_store: lookup and insert, LRU eviction by size, reference counts that keep an
 * entry read by someone alive after eviction, Vary variants under one key, removal, and a
 * few threads hammering one store. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/cache_rules.h"
#include "http/cache_store.h"

/* An entry for key with a body of n bytes of c, and optional Vary and request fields. */
static struct cache_entry *entry(const char *key, size_t n, char c, const char *vary,
                                 const char *ae)
{
    struct cache_entry *e = cache_entry_new();
    CHECK(e != NULL);
    CHECK_INT(cache_entry_set_key(e, key, strlen(key)), 0);
    e->status = 200;
    if (n) {
        e->body = malloc(n);
        memset(e->body, c, n);
        e->body_len = n;
    }
    if (vary) http_fields_add(&e->fields, e->pool, STR_LIT("Vary"), str_cstr(vary));
    if (ae) http_fields_add(&e->req_fields, e->pool, STR_LIT("Accept-Encoding"), str_cstr(ae));
    return e;
}

static void put(struct cache_store *s, struct cache_entry *e)
{
    CHECK_INT(cache_store_insert(s, e, NULL, NULL), 0);
    cache_entry_release(e);
}

static struct cache_entry *get(struct cache_store *s, const char *key)
{
    return cache_store_lookup(s, key, strlen(key), NULL, NULL, NULL);
}

static bool has(struct cache_store *s, const char *key)
{
    struct cache_entry *e = get(s, key);
    cache_entry_release(e);
    return e != NULL;
}

static void test_basic(void)
{
    struct cache_store *s = cache_store_new(1 << 20);
    bool seen = true;
    CHECK(cache_store_lookup(s, "k", 1, NULL, NULL, &seen) == NULL);
    CHECK(!seen);
    put(s, entry("http://a/x", 10, 'x', NULL, NULL));
    struct cache_entry *e = get(s, "http://a/x");
    CHECK(e && e->body_len == 10 && e->body[0] == 'x');
    cache_entry_release(e);
    CHECK(!has(s, "http://a/y"));
    /* the same key again replaces it */
    put(s, entry("http://a/x", 5, 'y', NULL, NULL));
    e = get(s, "http://a/x");
    CHECK(e && e->body_len == 5 && e->body[0] == 'y');
    cache_entry_release(e);
    size_t bytes, n;
    cache_store_usage(s, &bytes, &n);
    CHECK_INT(n, 1);
    CHECK_INT(cache_store_remove(s, "http://a/x", 10), 1);
    CHECK(!has(s, "http://a/x"));
    cache_store_usage(s, &bytes, &n);
    CHECK_INT(n, 0);
    CHECK_INT(bytes, 0);
    cache_store_free(s);
}

static void test_lru_eviction(void)
{
    /* room for about three 30 KB entries */
    struct cache_store *s = cache_store_new(100000);
    put(s, entry("k1", 30000, '1', NULL, NULL));
    put(s, entry("k2", 30000, '2', NULL, NULL));
    put(s, entry("k3", 30000, '3', NULL, NULL));
    CHECK(has(s, "k1")); /* k1 is now the most recently used; k2 the least */
    put(s, entry("k4", 30000, '4', NULL, NULL));
    CHECK(!has(s, "k2"));
    CHECK(has(s, "k1") && has(s, "k3") && has(s, "k4"));
    size_t bytes, n;
    cache_store_usage(s, &bytes, &n);
    CHECK(bytes <= 100000);
    CHECK_INT(n, 3);
    /* bigger than the whole store: refused, nothing evicted for it */
    struct cache_entry *big = entry("big", 200000, 'b', NULL, NULL);
    CHECK_INT(cache_store_insert(s, big, NULL, NULL), -1);
    cache_entry_release(big);
    CHECK(has(s, "k1") && has(s, "k3") && has(s, "k4"));
    /* one that needs the room of all others evicts them all */
    put(s, entry("k5", 90000, '5', NULL, NULL));
    CHECK(has(s, "k5") && !has(s, "k1") && !has(s, "k3") && !has(s, "k4"));
    cache_store_free(s);
}

static void test_refcount_outlives_eviction(void)
{
    struct cache_store *s = cache_store_new(50000);
    put(s, entry("old", 30000, 'o', NULL, NULL));
    struct cache_entry *reader = get(s, "old");   /* being served */
    put(s, entry("new", 30000, 'n', NULL, NULL)); /* evicts "old" */
    CHECK(!has(s, "old"));
    /* the reader's copy is intact (ASan would see a use after free) */
    CHECK(reader && reader->body_len == 30000 && reader->body[29999] == 'o');
    CHECK(!reader->linked);
    /* removal and replacement too */
    struct cache_entry *r2 = get(s, "new");
    CHECK_INT(cache_store_remove(s, "new", 3), 1);
    CHECK(r2 && r2->body[0] == 'n');
    cache_entry_release(r2);
    cache_entry_release(reader);
    /* and the store going away (a reload) before its readers */
    put(s, entry("last", 10, 'l', NULL, NULL));
    struct cache_entry *r3 = get(s, "last");
    cache_store_free(s);
    CHECK(r3 && r3->body[9] == 'l');
    cache_entry_release(r3);
}

static bool vary_match(const struct cache_entry *e, void *ctx)
{
    return cache_vary_match(&e->fields, &e->req_fields, ctx);
}

static void test_vary_variants(void)
{
    struct cache_store *s = cache_store_new(1 << 20);
    struct cache_entry *gz = entry("k", 4, 'g', "Accept-Encoding", "gzip");
    struct cache_entry *br = entry("k", 4, 'b', "Accept-Encoding", "br");
    CHECK_INT(cache_store_insert(s, gz, vary_match, &gz->req_fields), 0);
    CHECK_INT(cache_store_insert(s, br, vary_match, &br->req_fields), 0);
    cache_entry_release(gz);
    cache_entry_release(br);
    struct pool *pool = pool_create(1024);
    struct http_fields req = {0};
    http_fields_add(&req, pool, STR_LIT("accept-encoding"), STR_LIT("gzip"));
    struct cache_entry *e = cache_store_lookup(s, "k", 1, vary_match, &req, NULL);
    CHECK(e && e->body[0] == 'g');
    cache_entry_release(e);
    req.items[0].value = STR_LIT("br");
    e = cache_store_lookup(s, "k", 1, vary_match, &req, NULL);
    CHECK(e && e->body[0] == 'b');
    cache_entry_release(e);
    /* no such variant: a miss, but the key was seen */
    bool seen = false;
    req.items[0].value = STR_LIT("zstd");
    CHECK(cache_store_lookup(s, "k", 1, vary_match, &req, &seen) == NULL);
    CHECK(seen);
    /* a new gzip response replaces the gzip variant only */
    struct cache_entry *gz2 = entry("k", 4, 'G', "Accept-Encoding", "gzip");
    CHECK_INT(cache_store_insert(s, gz2, vary_match, &gz2->req_fields), 0);
    cache_entry_release(gz2);
    size_t bytes, n;
    cache_store_usage(s, &bytes, &n);
    CHECK_INT(n, 2);
    req.items[0].value = STR_LIT("gzip");
    e = cache_store_lookup(s, "k", 1, vary_match, &req, NULL);
    CHECK(e && e->body[0] == 'G');
    cache_entry_release(e);
    /* invalidation removes every variant */
    CHECK_INT(cache_store_remove(s, "k", 1), 2);
    pool_destroy(pool);
    cache_store_free(s);
}

static void test_close(void)
{
    struct cache_store *s = cache_store_new(1 << 20);
    put(s, entry("a", 100, 'a', NULL, NULL));
    struct cache_entry *reader = get(s, "a");
    cache_store_close(s); /* a reload replaced its configuration */
    CHECK(!has(s, "a"));
    struct cache_entry *late = entry("b", 10, 'b', NULL, NULL);
    CHECK_INT(cache_store_insert(s, late, NULL, NULL), -1);
    cache_entry_release(late);
    size_t bytes, n;
    cache_store_usage(s, &bytes, &n);
    CHECK_INT(n, 0);
    CHECK_INT(bytes, 0);
    CHECK(reader && reader->body[99] == 'a');
    cache_entry_release(reader);
    cache_store_free(s);
}

static struct cache_store *shared;

static void *hammer(void *arg)
{
    size_t bad = 0;
    char key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "k%d", (i * 7 + (int)(size_t)arg) % 50);
        struct cache_entry *e = get(shared, key);
        if (e) {
            if (e->body_len != 1000 || e->body[999] != key[1]) bad++;
            cache_entry_release(e);
        } else {
            /* CHECK is not thread-safe: no entry()/put() here */
            struct cache_entry *n = cache_entry_new();
            if (!n || cache_entry_set_key(n, key, strlen(key)) < 0 || !(n->body = malloc(1000))) {
                bad++;
                cache_entry_release(n);
                continue;
            }
            memset(n->body, key[1], 1000);
            n->body_len = 1000;
            cache_store_insert(shared, n, NULL, NULL);
            cache_entry_release(n);
        }
        if (i % 97 == 0) cache_store_remove(shared, key, strlen(key));
    }
    return (void *)bad;
}

static void test_threads(void)
{
    shared = cache_store_new(20000); /* small: constant eviction */
    pthread_t th[4];
    for (size_t i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer, (void *)i);
    for (size_t i = 0; i < 4; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        CHECK(bad == NULL);
    }
    size_t bytes, n;
    cache_store_usage(shared, &bytes, &n);
    CHECK(bytes <= 20000);
    cache_store_free(shared);
}

/* Flights: one leader per key, waiters counted per waker, the wakers with waiters woken once
 * at the end (not those that left), a new flight after the end. */
static void *woken[CACHE_FLIGHT_WAKERS];
static size_t n_woken;

static void wake(void *w)
{
    woken[n_woken++] = w;
}

static void test_flights(void)
{
    struct cache_store *s = cache_store_new(1 << 20);
    int a, b, c;
    struct cache_flight *lead, *w1, *w2, *w3, *other;
    CHECK_INT(cache_store_flight_join(s, "k", 1, &a, &lead), CACHE_FLIGHT_LEAD);
    CHECK(cache_store_flight_busy(s, "k", 1));
    CHECK(!cache_store_flight_busy(s, "j", 1));
    CHECK_INT(cache_store_flight_join(s, "j", 1, &a, &other), CACHE_FLIGHT_LEAD);
    CHECK_INT(cache_store_flight_join(s, "k", 1, &b, &w1), CACHE_FLIGHT_WAIT);
    CHECK_INT(cache_store_flight_join(s, "k", 1, &b, &w2), CACHE_FLIGHT_WAIT);
    CHECK_INT(cache_store_flight_join(s, "k", 1, &c, &w3), CACHE_FLIGHT_WAIT);
    CHECK(w1 == lead && w2 == lead && w3 == lead);
    cache_store_flight_leave(s, w3, &c); /* c's only waiter left: c is not woken */
    CHECK(!atomic_load(&lead->done));
    cache_store_flight_end(s, lead, wake);
    CHECK_INT(n_woken, 1);
    CHECK(woken[0] == &b);
    CHECK(atomic_load(&w1->done));
    CHECK(!cache_store_flight_busy(s, "k", 1));
    cache_store_flight_leave(s, w1, &b);
    cache_store_flight_leave(s, w2, &b); /* the last reference: freed (ASan checks) */
    CHECK_INT(cache_store_flight_join(s, "k", 1, &c, &lead), CACHE_FLIGHT_LEAD);
    cache_store_flight_end(s, lead, wake);
    cache_store_flight_end(s, other, wake);
    CHECK_INT(n_woken, 1);
    /* more wakers than a flight counts: the others fetch alone */
    static int many[CACHE_FLIGHT_WAKERS + 1];
    struct cache_flight *fl[CACHE_FLIGHT_WAKERS + 1];
    CHECK_INT(cache_store_flight_join(s, "m", 1, &a, &lead), CACHE_FLIGHT_LEAD);
    for (size_t i = 0; i < CACHE_FLIGHT_WAKERS; i++)
        CHECK_INT(cache_store_flight_join(s, "m", 1, &many[i], &fl[i]), CACHE_FLIGHT_WAIT);
    CHECK_INT(cache_store_flight_join(s, "m", 1, &many[CACHE_FLIGHT_WAKERS], &other),
              CACHE_FLIGHT_NONE);
    CHECK(other == NULL);
    /* a waker that left frees its slot for another */
    cache_store_flight_leave(s, fl[3], &many[3]);
    CHECK_INT(cache_store_flight_join(s, "m", 1, &many[CACHE_FLIGHT_WAKERS], &fl[3]),
              CACHE_FLIGHT_WAIT);
    n_woken = 0;
    cache_store_flight_end(s, lead, wake);
    CHECK_INT(n_woken, CACHE_FLIGHT_WAKERS); /* each once */
    for (size_t i = 0; i < CACHE_FLIGHT_WAKERS; i++)
        cache_store_flight_leave(s, fl[i], i == 3 ? &many[CACHE_FLIGHT_WAKERS] : &many[i]);
    cache_store_free(s);
}

int main(void)
{
    test_flights();
    test_basic();
    test_lru_eviction();
    test_refcount_outlives_eviction();
    test_vary_variants();
    test_close();
    test_threads();
    return check_done("http/cache_store");
}
