/* server/config_cache: a proxy location's `cache`, its defaults, its options and its errors. */
#include <string.h>

#include "check.h"
#include "server/config.h"

static struct config *load(const char *yaml, char *err, size_t errlen)
{
    return config_load_buffer("t.yaml", yaml, strlen(yaml), err, errlen);
}

#define EXPECT_ERROR(yaml, want)                                                                   \
    do {                                                                                           \
        char err_[512] = "";                                                                       \
        struct config *c_ = load((yaml), err_, sizeof(err_));                                      \
        CHECK(c_ == NULL);                                                                         \
        config_free(c_);                                                                           \
        CHECK_STR(err_, (want));                                                                   \
    } while (0)

#define LOC "servers:\n  - root: /\n    locations:\n      - path: /c/\n"

static const struct config_location *find(const struct config *c, const char *path)
{
    const struct config_server *srv = &c->servers[0];
    for (size_t i = 0; i < srv->n_locations; i++)
        if (strcmp(srv->locations[i].path, path) == 0) return &srv->locations[i];
    return NULL;
}

static void test_values(void)
{
    char err[512] = "";
    struct config *c =
        load(LOC "        proxy: http://127.0.0.1:1\n        cache: true\n", err, sizeof(err));
    CHECK(c != NULL);
    const struct config_location *loc = c ? find(c, "/c/") : NULL;
    CHECK(loc && loc->cache && loc->cache->store);
    if (loc && loc->cache) {
        CHECK_INT(loc->cache->max_size, 64 << 20);
        CHECK_INT(loc->cache->max_object_size, 8 << 20);
        CHECK(loc->cache->heuristic_max == 86400);
    }
    config_free(c);
    c = load(LOC "        proxy: http://127.0.0.1:1\n"
                 "        cache: {max_size: 1m, max_object_size: 10k, heuristic_max: 1h}\n",
             err, sizeof(err));
    CHECK(c != NULL);
    loc = c ? find(c, "/c/") : NULL;
    CHECK(loc && loc->cache);
    if (loc && loc->cache) {
        CHECK_INT(loc->cache->max_size, 1 << 20);
        CHECK_INT(loc->cache->max_object_size, 10 << 10);
        CHECK(loc->cache->heuristic_max == 3600);
    }
    config_free(c);
    c = load(LOC "        proxy: http://127.0.0.1:1\n        cache: false\n", err, sizeof(err));
    CHECK(c != NULL);
    loc = c ? find(c, "/c/") : NULL;
    CHECK(loc && !loc->cache);
    config_free(c);
}

static void test_errors(void)
{
    EXPECT_ERROR(LOC "        cache: true\n", "t.yaml:5: 'cache' needs 'proxy'");
    EXPECT_ERROR(LOC "        proxy: http://127.0.0.1:1\n        cache: {size: 1m}\n",
                 "t.yaml:6: unknown key 'size' in cache");
    EXPECT_ERROR(LOC "        proxy: http://127.0.0.1:1\n        cache: maybe\n",
                 "t.yaml:6: 'cache' must be true or false, not 'maybe'");
    EXPECT_ERROR(LOC "        proxy: http://127.0.0.1:1\n"
                     "        cache: {max_size: 1m, max_object_size: 2m}\n",
                 "t.yaml:6: 'max_object_size' is larger than 'max_size'");
}

int main(void)
{
    test_values();
    test_errors();
    return check_done("server/config_cache");
}
