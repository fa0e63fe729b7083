/* server/redis_rate: the key of a shared bucket (stable, made of names, path and client) and
 * the reading of the script's reply, garbage included; and the `redis` configuration. */
#include <string.h>

#include <hiredis/hiredis.h>

#include "check.h"
#include "server/config.h"
#include "server/redis_rate.h"

static void test_key(void)
{
    char *names[] = {"example.com", "www.example.com"};
    char buf[128];
    size_t n = redis_rate_key(buf, sizeof(buf), "tern:", names, 2, "/api/", "192.0.2.7");
    CHECK_STR(buf, "tern:rl:example.com,www.example.com:/api/:192.0.2.7");
    CHECK_INT(n, strlen(buf));
    n = redis_rate_key(buf, sizeof(buf), "", NULL, 0, "/", "2001:db8::1");
    CHECK_STR(buf, "rl:_:/:2001:db8::1");
    /* as snprintf: the length it needs, the output cut and terminated */
    char small[8];
    n = redis_rate_key(small, sizeof(small), "tern:", names, 1, "/api/", "192.0.2.7");
    CHECK_INT(n, strlen("tern:rl:example.com:/api/:192.0.2.7"));
    CHECK_STR(small, "tern:rl");
    CHECK_INT(redis_rate_key(NULL, 0, "p:", names, 1, "/", "1.2.3.4"),
              strlen("p:rl:example.com:/:1.2.3.4"));
}

static redisReply integer(long long v)
{
    redisReply r = {.type = REDIS_REPLY_INTEGER, .integer = v};
    return r;
}

static int parse_pair(redisReply a, redisReply b, struct rate_verdict *v)
{
    redisReply *el[2] = {&a, &b};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = el};
    return redis_rate_parse(&arr, v);
}

static void test_parse(void)
{
    struct rate_verdict v;
    CHECK_INT(parse_pair(integer(0), integer(0), &v), 0);
    CHECK_INT(v.wait_ms, 0);
    CHECK_INT(v.delay_ms, 0);
    CHECK(!v.log);
    CHECK_INT(parse_pair(integer(5999), integer(0), &v), 0);
    CHECK_INT(v.wait_ms, 5999);
    CHECK_INT(parse_pair(integer(0), integer(200), &v), 0);
    CHECK_INT(v.delay_ms, 200);
    /* garbage */
    CHECK_INT(redis_rate_parse(NULL, &v), -1);
    CHECK_INT(parse_pair(integer(-1), integer(0), &v), -1);
    CHECK_INT(parse_pair(integer(0), integer(-5), &v), -1);
    CHECK_INT(parse_pair(integer(10), integer(10), &v), -1);
    CHECK_INT(parse_pair(integer(1LL << 62), integer(0), &v), -1);
    redisReply s = {.type = REDIS_REPLY_STRING, .str = "0", .len = 1};
    CHECK_INT(parse_pair(s, integer(0), &v), -1);
    redisReply err = {.type = REDIS_REPLY_ERROR, .str = "NOSCRIPT No matching script", .len = 27};
    CHECK_INT(redis_rate_parse(&err, &v), -1);
    redisReply one = integer(0);
    CHECK_INT(redis_rate_parse(&one, &v), -1);
    redisReply *el[3] = {&one, &one, &one};
    redisReply three = {.type = REDIS_REPLY_ARRAY, .elements = 3, .element = el};
    CHECK_INT(redis_rate_parse(&three, &v), -1);
    redisReply *holes[2] = {&one, NULL};
    redisReply hole = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = holes};
    CHECK_INT(redis_rate_parse(&hole, &v), -1);
    redisReply nil = {.type = REDIS_REPLY_NIL};
    CHECK_INT(redis_rate_parse(&nil, &v), -1);
}

static struct config *load(const char *yaml, char *err, size_t errlen)
{
    return config_load_buffer("t.yaml", yaml, strlen(yaml), err, errlen);
}

static void test_config(void)
{
    char err[512] = "";
    struct config *cfg = load("redis: {address: 'localhost:6380', timeout: 20ms}\n"
                              "servers:\n  - root: /\n    locations:\n      - path: /p/\n"
                              "        rate_limit: {rate: 5/s, shared: true, on_error: open}\n"
                              "      - path: /q/\n        rate_limit: {rate: 5/s}\n",
                              err, sizeof(err));
    CHECK(cfg != NULL);
    if (!cfg) return;
    CHECK_STR(cfg->redis.address, "localhost:6380");
    CHECK(cfg->redis.host && (!strcmp(cfg->redis.host, "127.0.0.1") ||
                              !strcmp(cfg->redis.host, "::1"))); /* resolved at load */
    CHECK_INT(cfg->redis.port, 6380);
    CHECK(cfg->redis.path == NULL);
    CHECK_INT(cfg->redis.timeout_ms, 20);
    CHECK_STR(cfg->redis.key_prefix, "tern:");
    const struct config_location *p = config_find_location(&cfg->servers[0], "/p/x", 4);
    const struct config_location *q = config_find_location(&cfg->servers[0], "/q/x", 4);
    CHECK(p->rate_limit.shared && p->rate_limit.on_error == CONFIG_RATE_ON_ERROR_OPEN);
    CHECK(!q->rate_limit.shared && q->rate_limit.on_error == CONFIG_RATE_ON_ERROR_LOCAL);
    config_free(cfg);

    cfg =
        load("redis: {address: 'unix:/run/r.sock', key_prefix: 'a:'}\nroot: /\n", err, sizeof(err));
    CHECK(cfg != NULL);
    if (!cfg) return;
    CHECK_STR(cfg->redis.path, "/run/r.sock");
    CHECK(cfg->redis.host == NULL);
    CHECK_INT(cfg->redis.timeout_ms, 50);
    CHECK_STR(cfg->redis.key_prefix, "a:");
    config_free(cfg);

    cfg = load("redis: {address: '[::1]:7000'}\nroot: /\n", err, sizeof(err));
    CHECK(cfg && !strcmp(cfg->redis.host, "::1") && cfg->redis.port == 7000);
    config_free(cfg);

    static const char *const bad[][2] = {
        {"redis: {address: '127.0.0.1'}\nroot: /\n",
         "t.yaml:1: 'address' of 'redis' must be host:port or unix:/path, not '127.0.0.1'"},
        {"redis: {address: '127.0.0.1:0'}\nroot: /\n",
         "t.yaml:1: 'address' of 'redis' must be host:port or unix:/path, not '127.0.0.1:0'"},
        {"redis: {address: 'unix:r.sock'}\nroot: /\n",
         "t.yaml:1: 'address' unix:PATH needs an absolute path (under 108 bytes)"},
        {"redis: {timeout: 1s}\nroot: /\n",
         "t.yaml:1: 'redis' needs 'address' (host:port or unix:/path)"},
        {"redis: {address: '127.0.0.1:1', db: 2}\nroot: /\n",
         "t.yaml:1: unknown key 'db' in redis"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        cfg = load(bad[i][0], err, sizeof(err));
        CHECK(cfg == NULL);
        config_free(cfg);
        CHECK_STR(err, bad[i][1]);
    }
}

int main(void)
{
    test_key();
    test_parse();
    test_config();
    return check_done("server/redis_rate");
}
