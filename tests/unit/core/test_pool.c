#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/pool.h"

static int cleanup_calls;
static void on_cleanup(void *arg)
{
    cleanup_calls += *(int *)arg;
}

int main(void)
{
    struct pool *p = pool_create(1024);
    CHECK(p != NULL);
    /* alignment and independence of small allocations */
    char *a = pool_alloc(p, 3), *b = pool_alloc(p, 5);
    CHECK(((uintptr_t)a & 15) == 0);
    CHECK(((uintptr_t)b & 15) == 0);
    CHECK(b >= a + 3);
    memset(a, 'a', 3);
    memset(b, 'b', 5);
    CHECK(a[2] == 'a' && b[0] == 'b');
    /* many allocations spill into new blocks; large ones get their own */
    for (int i = 0; i < 1000; i++) {
        char *x = pool_alloc(p, 100);
        CHECK(x != NULL);
        memset(x, i & 0xff, 100);
    }
    char *big = pool_alloc(p, 100000);
    CHECK(big != NULL);
    memset(big, 1, 100000);
    CHECK(pool_used(p) >= 100000 + 100 * 1000);
    char *z = pool_calloc(p, 64);
    int zero = 1;
    for (int i = 0; i < 64; i++)
        zero &= z[i] == 0;
    CHECK(zero);
    char *s = pool_strndup(p, "hello world", 5);
    CHECK_STR(s, "hello");
    size_t n = 0;
    char *f = pool_printf(p, &n, "%d-%s", 42, "x");
    CHECK_STR(f, "42-x");
    CHECK_INT(n, 4);
    /* cleanups run on reset, in reverse order, once */
    int one = 1, ten = 10;
    pool_on_cleanup(p, on_cleanup, &one);
    pool_on_cleanup(p, on_cleanup, &ten);
    pool_reset(p);
    CHECK_INT(cleanup_calls, 11);
    CHECK_INT(pool_used(p), 0);
    pool_reset(p);
    CHECK_INT(cleanup_calls, 11);
    /* the pool is usable after a reset */
    char *c = pool_alloc(p, 10);
    CHECK(c != NULL);
    pool_on_cleanup(p, on_cleanup, &one);
    pool_destroy(p);
    CHECK_INT(cleanup_calls, 12);
    pool_destroy(NULL);
    return check_done("core/pool");
}
