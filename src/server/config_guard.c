/* The loader's access rules (`allow`, `deny`) and `rate_limit` of a location. */
#include <stdlib.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "server/config_internal.h"
#include "server/rate_table.h"

#define CONFIG_MAX_ACCESS_RULES 1024 /* per location */

static bool key_is(const struct cnode *k, const char *name)
{
    return k->kind == CNODE_SCALAR && k->len == strlen(name) && memcmp(k->str, name, k->len) == 0;
}

/* One address, prefix or `all` of key's value into *net. */
static int parse_prefix(struct loader *L, const struct cnode *item, const char *key,
                        struct cidr *net)
{
    const char *s;
    char buf[80], fixed[64];
    if (cfg_text(L, item, key, &s) < 0) return -1;
    if (strcmp(s, "all") == 0) {
        *net = cidr_all();
        return 0;
    }
    switch (cidr_parse(s, strlen(s), net)) {
    case CIDR_OK: return 0;
    case CIDR_HOST_BITS:
        /* refused rather than masked: "10.0.0.1/8" is more often a typo than a wish */
        return cfg_fail(L, item, "'%s' value '%s' has bits set after its prefix length; write %s",
                        key, cfg_show(item, buf, sizeof(buf)),
                        cidr_format(net, fixed, sizeof(fixed)));
    case CIDR_BAD_LENGTH:
        return cfg_fail(L, item,
                        "'%s' value '%s' has a prefix length beyond the address (at most 32 for "
                        "IPv4, 128 for IPv6)",
                        key, cfg_show(item, buf, sizeof(buf)));
    default:
        return cfg_fail(L, item,
                        "'%s' value '%s' is not an IP address, a CIDR prefix (like 10.0.0.0/8 "
                        "or 2001:db8::/32) or 'all'",
                        key, cfg_show(item, buf, sizeof(buf)));
    }
}

static int add_rule(struct loader *L, struct config_location *loc, const struct cnode *item,
                    bool allow)
{
    struct config_access_rule *r = &loc->access[loc->n_access];
    if (parse_prefix(L, item, allow ? "allow" : "deny", &r->net) < 0) return -1;
    r->allow = allow;
    r->line = item->line;
    loc->n_access++;
    return 0;
}

int cfg_prefix_list(struct loader *L, const struct cnode *v, const char *key, struct cidr **out,
                    size_t *n_out)
{
    size_t n = 1;
    if (v->kind == CNODE_SEQ) {
        n = 0;
        for (const struct cnode *item = v->first; item; item = item->next)
            n++;
    }
    if (v->kind == CNODE_MAP || n == 0 || n > CONFIG_MAX_ACCESS_RULES)
        return cfg_fail(L, v, "'%s' must be an address, a prefix or a list of them (at most %d)",
                        key, CONFIG_MAX_ACCESS_RULES);
    if (!(*out = calloc(n, sizeof(**out)))) return cfg_fail(L, v, "out of memory");
    const struct cnode *item = v->kind == CNODE_SEQ ? v->first : v;
    for (; item && *n_out < n; item = item->next) {
        if (parse_prefix(L, item, key, &(*out)[*n_out]) < 0) return -1;
        (*n_out)++;
    }
    return 0;
}

enum { RI_FROM, RI_HEADER, RI_RECURSIVE, RI_COUNT };

int cfg_real_ip(struct loader *L, const struct cnode *v)
{
    static const char *const keys[] = {"from", "header", "recursive", NULL};
    const struct cnode *val[RI_COUNT] = {0};
    uint64_t seen = 0;
    struct config_real_ip *ri = &L->cfg->real_ip;
    if (cfg_want_map(L, v, "real_ip") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "real_ip", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    const struct cnode *from = val[RI_FROM];
    if (!from) return cfg_fail(L, v, "'real_ip' needs 'from': the proxies to believe");
    if (cfg_prefix_list(L, from, "from", &ri->from, &ri->n_from) < 0) return -1;
    ri->rules.trusted = ri->from;
    ri->rules.n_trusted = ri->n_from;
    ri->rules.header = REALIP_X_FORWARDED_FOR;
    if (val[RI_HEADER]) {
        const char *s;
        char buf[80];
        if (cfg_text(L, val[RI_HEADER], "header", &s) < 0) return -1;
        if (strcasecmp(s, "forwarded") == 0)
            ri->rules.header = REALIP_FORWARDED;
        else if (strcasecmp(s, "x-forwarded-for") != 0)
            return cfg_fail(L, val[RI_HEADER],
                            "'header' must be X-Forwarded-For or Forwarded, not '%s'",
                            cfg_show(val[RI_HEADER], buf, sizeof(buf)));
    }
    if (val[RI_RECURSIVE] && cfg_bool(L, val[RI_RECURSIVE], "recursive", &ri->rules.recursive) < 0)
        return -1;
    return 0;
}

/* The rules of one `allow` or `deny` value: an entry or a list of them. */
static int add_rules(struct loader *L, struct config_location *loc, const struct cnode *v,
                     bool allow)
{
    if (v->kind == CNODE_MAP)
        return cfg_fail(L, v, "'%s' must be an address, a prefix, 'all' or a list of them",
                        allow ? "allow" : "deny");
    if (v->kind != CNODE_SEQ) return add_rule(L, loc, v, allow);
    for (const struct cnode *item = v->first; item; item = item->next)
        if (add_rule(L, loc, item, allow) < 0) return -1;
    return 0;
}

/* `allow` and `deny` in the order they are written: the first matching rule decides. */
static int parse_access(struct loader *L, struct config_location *loc, const struct cnode *n)
{
    size_t count = 0;
    for (const struct cnode *k = n->first; k; k = k->next->next)
        if (key_is(k, "allow") || key_is(k, "deny"))
            count += k->next->kind == CNODE_SEQ ? k->next->count : 1;
    if (count > CONFIG_MAX_ACCESS_RULES)
        return cfg_fail(L, n, "more than %d access rules in a location", CONFIG_MAX_ACCESS_RULES);
    if (count == 0) return 0;
    loc->access = calloc(count, sizeof(*loc->access));
    if (!loc->access) return cfg_fail(L, n, "out of memory");
    for (const struct cnode *k = n->first; k; k = k->next->next) {
        if (key_is(k, "allow") && add_rules(L, loc, k->next, true) < 0) return -1;
        if (key_is(k, "deny") && add_rules(L, loc, k->next, false) < 0) return -1;
    }
    return 0;
}

/* "N/s" or "N/m": N requests a second or a minute. */
static int parse_rate(struct loader *L, const struct cnode *v, struct rate_spec *spec)
{
    const char *s;
    char buf[80];
    if (cfg_text(L, v, "rate", &s) < 0) return -1;
    const char *slash = strchr(s, '/');
    uint64_t n = 0;
    bool ok =
        slash && slash > s && slash - s <= 7 && (!strcmp(slash, "/s") || !strcmp(slash, "/m"));
    for (const char *p = s; ok && p < slash; p++) {
        ok = *p >= '0' && *p <= '9';
        n = n * 10 + (uint64_t)(*p - '0');
    }
    if (!ok)
        return cfg_fail(L, v,
                        "'rate' must be requests per second or minute, like 10/s or 100/m, "
                        "not '%s'",
                        cfg_show(v, buf, sizeof(buf)));
    if (n < 1 || n > RATE_MAX_COUNT)
        return cfg_fail(L, v, "'rate' must count between 1 and %d requests, not '%s'",
                        RATE_MAX_COUNT, cfg_show(v, buf, sizeof(buf)));
    spec->count = (uint32_t)n;
    spec->period_ms = slash[1] == 's' ? 1000 : 60000;
    return 0;
}

enum rl_key { RL_RATE, RL_BURST, RL_KEY, RL_QUEUE, RL_SHARED, RL_ON_ERROR, RL_COUNT };

static int parse_rate_limit(struct loader *L, struct config_location *loc, const struct cnode *v)
{
    static const char *const keys[] = {"rate", "burst", "key", "queue", "shared", "on_error", NULL};
    const struct cnode *val[RL_COUNT] = {0};
    uint64_t seen = 0, burst;
    char buf[80];
    if (cfg_want_map(L, v, "rate_limit") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "rate_limit", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    struct rate_spec *spec = &loc->rate_limit.spec;
    if (!val[RL_RATE]) return cfg_fail(L, v, "'rate_limit' has no 'rate' (like 10/s or 100/m)");
    if (parse_rate(L, val[RL_RATE], spec) < 0) return -1;
    spec->burst = spec->count; /* by default one period's worth may come at once */
    if (val[RL_BURST]) {
        if (cfg_uint(L, val[RL_BURST], "burst", false, 1, RATE_MAX_COUNT, &burst) < 0) return -1;
        spec->burst = (uint32_t)burst;
    }
    if (val[RL_QUEUE]) { /* as nginx's limit_req without nodelay: wait for the token */
        uint64_t queue;
        if (cfg_uint(L, val[RL_QUEUE], "queue", false, 0, RATE_MAX_COUNT, &queue) < 0) return -1;
        spec->queue = (uint32_t)queue;
    }
    const char *key;
    if (val[RL_KEY]) { /* what tells clients apart; only the address for now */
        if (cfg_text(L, val[RL_KEY], "key", &key) < 0) return -1;
        if (strcmp(key, "address") != 0)
            return cfg_fail(L, val[RL_KEY], "'key' of 'rate_limit' must be 'address', not '%s'",
                            cfg_show(val[RL_KEY], buf, sizeof(buf)));
    }
    if (val[RL_SHARED] && cfg_bool(L, val[RL_SHARED], "shared", &loc->rate_limit.shared) < 0)
        return -1;
    if (val[RL_ON_ERROR]) {
        const char *e;
        if (cfg_text(L, val[RL_ON_ERROR], "on_error", &e) < 0) return -1;
        if (strcmp(e, "local") == 0)
            loc->rate_limit.on_error = CONFIG_RATE_ON_ERROR_LOCAL;
        else if (strcmp(e, "open") == 0)
            loc->rate_limit.on_error = CONFIG_RATE_ON_ERROR_OPEN;
        else if (strcmp(e, "closed") == 0)
            loc->rate_limit.on_error = CONFIG_RATE_ON_ERROR_CLOSED;
        else
            return cfg_fail(L, val[RL_ON_ERROR],
                            "'on_error' of 'rate_limit' must be local, open or closed, not '%s'",
                            cfg_show(val[RL_ON_ERROR], buf, sizeof(buf)));
        if (!loc->rate_limit.shared)
            return cfg_fail(L, val[RL_ON_ERROR],
                            "'on_error' applies to a 'shared' rate limit only");
    }
    struct config *cfg = L->cfg;
    if (!cfg->rate_table && !(cfg->rate_table = rate_table_new(RATE_TABLE_ENTRIES)))
        return cfg_fail(L, v, "out of memory");
    loc->rate_limit.id = ++cfg->n_rate_limits;
    return 0;
}

/* `limit_conn: N`: at most N requests of one client in flight here at once. */
static int parse_limit_conn(struct loader *L, struct config_location *loc, const struct cnode *v)
{
    uint64_t max;
    if (cfg_uint(L, v, "limit_conn", false, 1, RATE_MAX_COUNT, &max) < 0) return -1;
    struct config *cfg = L->cfg;
    if (!cfg->rate_table && !(cfg->rate_table = rate_table_new(RATE_TABLE_ENTRIES)))
        return cfg_fail(L, v, "out of memory");
    loc->limit_conn.max = (uint32_t)max;
    loc->limit_conn.id = ++cfg->n_rate_limits; /* the same table, a key of its own */
    return 0;
}

int cfg_location_guards(struct loader *L, struct config_location *loc, const struct cnode *n,
                        const struct cnode *rate_limit, const struct cnode *limit_conn)
{
    if (!(loc->guard_counts = calloc(1, sizeof(*loc->guard_counts))))
        return cfg_fail(L, n, "out of memory");
    if (parse_access(L, loc, n) < 0) return -1;
    if (rate_limit && parse_rate_limit(L, loc, rate_limit) < 0) return -1;
    if (limit_conn && parse_limit_conn(L, loc, limit_conn) < 0) return -1;
    return 0;
}

#define REDIS_MAX_PREFIX 128

/* "unix:/path", "host:port" or "[v6]:port" into cfg->redis. */
static int parse_redis_address(struct loader *L, const struct cnode *v, struct config_redis *r)
{
    const char *s;
    char buf[80];
    if (cfg_text(L, v, "address", &s) < 0) return -1;
    if (!(r->address = strdup(s))) return cfg_fail(L, v, "out of memory");
    if (strncmp(s, "unix:", 5) == 0) {
        if (s[5] != '/' || strlen(s + 5) >= 108)
            return cfg_fail(L, v, "'address' unix:PATH needs an absolute path (under 108 bytes)");
        if (!(r->path = strdup(s + 5))) return cfg_fail(L, v, "out of memory");
        return 0;
    }
    const char *colon = strrchr(s, ':');
    const char *host = s, *host_end = colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close + 1 != colon) colon = NULL;
        host = s + 1;
        host_end = close;
    }
    uint64_t port = 0;
    bool ok = colon && host_end > host && colon[1];
    for (const char *p = colon ? colon + 1 : s; ok && *p; p++) {
        ok = *p >= '0' && *p <= '9' && port < 65536;
        port = port * 10 + (uint64_t)(*p - '0');
    }
    if (!ok || port < 1 || port > 65535)
        return cfg_fail(L, v, "'address' of 'redis' must be host:port or unix:/path, not '%s'",
                        cfg_show(v, buf, sizeof(buf)));
    char name[256];
    if ((size_t)(host_end - host) >= sizeof(name))
        return cfg_fail(L, v, "'address' of 'redis' has a host name too long");
    memcpy(name, host, (size_t)(host_end - host));
    name[host_end - host] = '\0';
    /* resolved once, here: hiredis would resolve on every connect, blocking the worker */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    char numeric[INET6_ADDRSTRLEN];
    if (rc != 0 || getnameinfo(res->ai_addr, res->ai_addrlen, numeric, sizeof(numeric), NULL, 0,
                               NI_NUMERICHOST) != 0) {
        if (res) freeaddrinfo(res);
        return cfg_fail(L, v, "'address' of 'redis': cannot resolve '%s': %s", name,
                        rc ? gai_strerror(rc) : "no address");
    }
    freeaddrinfo(res);
    if (!(r->host = strdup(numeric))) return cfg_fail(L, v, "out of memory");
    r->port = (int)port;
    return 0;
}

enum { RD_ADDRESS, RD_TIMEOUT, RD_PREFIX, RD_COUNT };

int cfg_redis(struct loader *L, const struct cnode *v)
{
    static const char *const keys[] = {"address", "timeout", "key_prefix", NULL};
    const struct cnode *val[RD_COUNT] = {0};
    uint64_t seen = 0;
    struct config_redis *r = &L->cfg->redis;
    if (cfg_want_map(L, v, "redis") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "redis", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    if (!val[RD_ADDRESS])
        return cfg_fail(L, v, "'redis' needs 'address' (host:port or unix:/path)");
    if (parse_redis_address(L, val[RD_ADDRESS], r) < 0) return -1;
    r->timeout_ms = 50;
    if (val[RD_TIMEOUT]) {
        double secs;
        if (cfg_duration(L, val[RD_TIMEOUT], "timeout", 0.001, true, 10, &secs) < 0) return -1;
        r->timeout_ms = (int)(secs * 1000 + 0.5);
    }
    const char *prefix = "tern:";
    if (val[RD_PREFIX] && cfg_text(L, val[RD_PREFIX], "key_prefix", &prefix) < 0) return -1;
    if (strlen(prefix) > REDIS_MAX_PREFIX)
        return cfg_fail(L, val[RD_PREFIX], "'key_prefix' is longer than %d bytes",
                        REDIS_MAX_PREFIX);
    if (!(r->key_prefix = strdup(prefix))) return cfg_fail(L, v, "out of memory");
    return 0;
}

int cfg_check_shared_limits(struct loader *L, const struct cnode *top)
{
    struct config *cfg = L->cfg;
    if (cfg->redis.address) return 0;
    for (size_t i = 0; i < cfg->n_servers; i++)
        for (size_t j = 0; j < cfg->servers[i].n_locations; j++)
            if (cfg->servers[i].locations[j].rate_limit.shared)
                return cfg_fail(L, top,
                                "location %s has a 'shared' rate limit but there is no top-level "
                                "'redis' to share it through",
                                cfg->servers[i].locations[j].path);
    return 0;
}
