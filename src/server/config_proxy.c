/* The loader's `proxy` of a location: `proxy: URL`, or a mapping with `upstreams` and the
 * options of struct config_proxy (docs/config.md, "Reverse proxy"). */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "http/header.h"
#include "server/config_internal.h"
#include "tls/tls.h"

#define MAX_UPSTREAMS 64

/* "http://host[:port][/path]", "https://...", "h2c://..." or "unix:/path/to/socket". Host names are
 * resolved now, once (as nginx does): the event loop never waits for DNS. */
static int parse_upstream(struct loader *L, const struct cnode *v, struct config_upstream *up)
{
    const char *s;
    char buf[120];
    if (cfg_text(L, v, "upstream", &s) < 0) return -1;
    if (!(up->url = strdup(s))) return cfg_fail(L, v, "out of memory");
    if (strncmp(s, "unix:", 5) == 0) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&up->addr;
        const char *path = s + 5;
        if (path[0] != '/' || strlen(path) >= sizeof(sun->sun_path))
            return cfg_fail(L, v, "upstream '%s': a unix socket is unix:/absolute/path",
                            cfg_show(v, buf, sizeof(buf)));
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, path, strlen(path) + 1);
        up->addr_len = (unsigned)sizeof(*sun);
        up->is_unix = true;
        if (!(up->authority = strdup("localhost"))) return cfg_fail(L, v, "out of memory");
        return 0;
    }
    up->tls = strncmp(s, "https://", 8) == 0;
    up->h2c = strncmp(s, "h2c://", 6) == 0;
    if (strncmp(s, "http://", 7) != 0 && !up->tls && !up->h2c)
        return cfg_fail(L, v,
                        "upstream '%s' must be http://host[:port][/path], https://..., "
                        "h2c://... or unix:/path",
                        cfg_show(v, buf, sizeof(buf)));
    const char *a = s + (up->tls ? 8 : up->h2c ? 6 : 7), *end = a + strcspn(a, "/?#");
    if (*end == '?' || *end == '#')
        return cfg_fail(L, v, "upstream '%s' has a query or fragment",
                        cfg_show(v, buf, sizeof(buf)));
    size_t alen = (size_t)(end - a);
    char host[256], port[8];
    strcpy(port, up->tls ? "443" : "80");
    const char *colon = NULL;
    if (alen && a[0] == '[') {
        const char *rb = memchr(a, ']', alen);
        if (!rb || (size_t)(rb - a - 1) >= sizeof(host)) goto bad;
        memcpy(host, a + 1, (size_t)(rb - a - 1));
        host[rb - a - 1] = '\0';
        if (rb + 1 < end) {
            if (rb[1] != ':') goto bad;
            colon = rb + 1;
        }
    } else {
        colon = memchr(a, ':', alen);
        size_t hlen = colon ? (size_t)(colon - a) : alen;
        if (hlen == 0 || hlen >= sizeof(host)) goto bad;
        memcpy(host, a, hlen);
        host[hlen] = '\0';
    }
    if (colon) {
        size_t plen = (size_t)(end - colon - 1);
        if (plen == 0 || plen > 5 || strspn(colon + 1, "0123456789") < plen) goto bad;
        memcpy(port, colon + 1, plen);
        port[plen] = '\0';
        if (atoi(port) < 1 || atoi(port) > 65535) goto bad;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return cfg_fail(L, v, "upstream '%s': %s", cfg_show(v, buf, sizeof(buf)), gai_strerror(rc));
    memcpy(&up->addr, res->ai_addr, res->ai_addrlen);
    up->addr_len = (unsigned)res->ai_addrlen;
    freeaddrinfo(res);
    if (!(up->authority = strndup(a, alen)) || !(up->server_name = strdup(host)))
        return cfg_fail(L, v, "out of memory");
    if (*end == '/' && !(up->path = strdup(end))) return cfg_fail(L, v, "out of memory");
    return 0;
bad:
    return cfg_fail(L, v, "upstream '%s' has no valid host and port",
                    cfg_show(v, buf, sizeof(buf)));
}

static int parse_upstreams(struct loader *L, const struct cnode *v, struct config_proxy *p)
{
    size_t n = v->kind == CNODE_SEQ ? v->count : 1;
    if (n == 0 || n > MAX_UPSTREAMS)
        return cfg_fail(L, v, "'upstreams' lists 1 to %d URLs", MAX_UPSTREAMS);
    if (!(p->upstreams = calloc(n, sizeof(*p->upstreams)))) return cfg_fail(L, v, "out of memory");
    p->n_upstreams = n;
    const struct cnode *it = v->kind == CNODE_SEQ ? v->first : v;
    for (size_t i = 0; i < n; i++, it = it->next) {
        if (parse_upstream(L, it, &p->upstreams[i]) < 0) return -1;
        p->upstreams[i].stats_slot = L->cfg->n_upstreams++;
    }
    return 0;
}

static int parse_choice(struct loader *L, const struct cnode *v, const char *key,
                        const char *const *names, int *out)
{
    const char *s;
    char buf[80];
    if (cfg_text(L, v, key, &s) < 0) return -1;
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return cfg_fail(L, v, "'%s' cannot be '%s'", key, cfg_show(v, buf, sizeof(buf)));
}

/* `host: keep` (the client's, the default), `upstream` (the URL's) or a value of its own. */
static int parse_host(struct loader *L, const struct cnode *v, struct config_proxy *p)
{
    const char *s;
    if (cfg_text(L, v, "host", &s) < 0) return -1;
    if (strcmp(s, "keep") == 0) {
        p->host_mode = CONFIG_PROXY_HOST_KEEP;
    } else if (strcmp(s, "upstream") == 0) {
        p->host_mode = CONFIG_PROXY_HOST_UPSTREAM;
    } else {
        for (const char *c = s; *c; c++)
            if ((unsigned char)*c <= ' ' || *c == 0x7f)
                return cfg_fail(L, v, "'host' holds a space or control character");
        p->host_mode = CONFIG_PROXY_HOST_SET;
        if (cfg_string(L, v, "host", &p->host) < 0) return -1;
    }
    return 0;
}

/* https upstreams: one client context for the location (OpenSSL's are thread-safe), trusting
 * ca (PEM) or the system store, verifying unless told not to, offering ALPN http/1.1; with
 * `http2: true` a second one offering "h2,http/1.1" for the connections that try HTTP/2. */
static int tls_setup(struct loader *L, const struct cnode *v, struct config_proxy *p, bool verify,
                     const char *ca, const char *name)
{
    bool any = false;
    for (size_t i = 0; i < p->n_upstreams; i++) {
        if (!p->upstreams[i].tls) continue;
        any = true;
        if (name) {
            free(p->upstreams[i].server_name);
            if (!(p->upstreams[i].server_name = strdup(name)))
                return cfg_fail(L, v, "out of memory");
        }
    }
    if (!any) return 0;
    char err[256];
    static const char alpn[] = "\x08http/1.1";
    p->tls = tls_client_create(ca, !verify, alpn, sizeof(alpn) - 1, err, sizeof(err));
    if (!p->tls) return cfg_fail(L, v, "proxy: %s", err);
    static const char alpn_h2[] = "\x02h2\x08http/1.1";
    if (p->http2 && !(p->tls_h2 = tls_client_create(ca, !verify, alpn_h2, sizeof(alpn_h2) - 1, err,
                                                    sizeof(err))))
        return cfg_fail(L, v, "proxy: %s", err);
    return 0;
}

/* `hash_key: address` (the default), `uri`, or `header NAME`. */
static int parse_hash_key(struct loader *L, const struct cnode *v, struct config_proxy *p)
{
    const char *s;
    char buf[80];
    if (cfg_text(L, v, "hash_key", &s) < 0) return -1;
    if (strcmp(s, "address") == 0) return 0;
    if (strcmp(s, "uri") == 0) {
        p->hash_uri = true;
        return 0;
    }
    if (strncmp(s, "header ", 7) == 0 && http_is_token(str_cstr(s + 7))) {
        if (!(p->hash_header = strdup(s + 7))) return cfg_fail(L, v, "out of memory");
        return 0;
    }
    return cfg_fail(L, v, "'hash_key' is address, uri or 'header NAME', not '%s'",
                    cfg_show(v, buf, sizeof(buf)));
}

enum hc_key { HC_PATH, HC_INTERVAL, HC_TIMEOUT, HC_FAILS, HC_PASSES, HC_COUNT };

/* `health_check: /path` or {path, interval, timeout, fails, passes}. */
static int parse_health(struct loader *L, const struct cnode *v, struct config_proxy *p)
{
    static const char *const keys[] = {"path", "interval", "timeout", "fails", "passes", NULL};
    const struct cnode *val[HC_COUNT] = {0};
    uint64_t seen = 0, u;
    p->health_interval = 5;
    p->health_timeout = 2;
    p->health_fails = 2;
    p->health_passes = 1;
    if (v->kind == CNODE_MAP) {
        for (const struct cnode *k = v->first; k; k = k->next->next) {
            int i = cfg_key(L, k, keys, "health_check", &seen);
            if (i < 0) return -1;
            val[i] = k->next;
        }
    } else {
        val[HC_PATH] = v;
    }
    if (!val[HC_PATH]) return cfg_fail(L, v, "'health_check' has no 'path'");
    if (cfg_string(L, val[HC_PATH], "path", &p->health_path) < 0) return -1;
    if (p->health_path[0] != '/' || strlen(p->health_path) > 400)
        return cfg_fail(L, val[HC_PATH], "a health check path starts with '/' (at most 400 bytes)");
    for (const char *c = p->health_path; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return cfg_fail(L, val[HC_PATH],
                            "a health check path has no space or control character");
    if ((val[HC_INTERVAL] &&
         cfg_duration(L, val[HC_INTERVAL], "interval", 0, false, 3600, &p->health_interval) < 0) ||
        (val[HC_TIMEOUT] &&
         cfg_duration(L, val[HC_TIMEOUT], "timeout", 0, false, 3600, &p->health_timeout) < 0))
        return -1;
    if (val[HC_FAILS]) {
        if (cfg_uint(L, val[HC_FAILS], "fails", false, 1, 100, &u) < 0) return -1;
        p->health_fails = (unsigned)u;
    }
    if (val[HC_PASSES]) {
        if (cfg_uint(L, val[HC_PASSES], "passes", false, 1, 100, &u) < 0) return -1;
        p->health_passes = (unsigned)u;
    }
    return 0;
}

enum px_key {
    PX_UPSTREAMS,
    PX_BALANCE,
    PX_CONNECT_TIMEOUT,
    PX_READ_TIMEOUT,
    PX_SEND_TIMEOUT,
    PX_IDLE_TIMEOUT,
    PX_KEEPALIVE,
    PX_RETRIES,
    PX_MAX_FAILS,
    PX_FAIL_TIMEOUT,
    PX_HOST,
    PX_FORWARDED,
    PX_X_FORWARDED,
    PX_VIA,
    PX_TLS_VERIFY,
    PX_TLS_CA,
    PX_TLS_SERVER_NAME,
    PX_HEALTH_CHECK,
    PX_HASH_KEY,
    PX_HTTP2,
    PX_COUNT
};

static int parse_options(struct loader *L, const struct cnode *v, struct config_proxy *p)
{
    static const char *const keys[] = {"upstreams",
                                       "balance",
                                       "connect_timeout",
                                       "read_timeout",
                                       "send_timeout",
                                       "idle_timeout",
                                       "keepalive",
                                       "retries",
                                       "max_fails",
                                       "fail_timeout",
                                       "host",
                                       "forwarded",
                                       "x_forwarded",
                                       "via",
                                       "tls_verify",
                                       "tls_ca",
                                       "tls_server_name",
                                       "health_check",
                                       "hash_key",
                                       "http2",
                                       NULL};
    static const char *const balances[] = {"round_robin", "least_conn", "hash", NULL};
    const struct cnode *val[PX_COUNT] = {0};
    uint64_t seen = 0, u;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "proxy", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    if (!val[PX_UPSTREAMS]) return cfg_fail(L, v, "'proxy' has no 'upstreams'");
    if (parse_upstreams(L, val[PX_UPSTREAMS], p) < 0) return -1;
    int b = 0;
    if (val[PX_BALANCE]) {
        if (parse_choice(L, val[PX_BALANCE], "balance", balances, &b) < 0) return -1;
        p->balance = (enum config_balance)b;
    }
    if ((val[PX_CONNECT_TIMEOUT] && cfg_duration(L, val[PX_CONNECT_TIMEOUT], "connect_timeout", 0,
                                                 false, 3600, &p->connect_timeout) < 0) ||
        (val[PX_READ_TIMEOUT] && cfg_duration(L, val[PX_READ_TIMEOUT], "read_timeout", 0, false,
                                              86400, &p->read_timeout) < 0) ||
        (val[PX_SEND_TIMEOUT] && cfg_duration(L, val[PX_SEND_TIMEOUT], "send_timeout", 0, false,
                                              86400, &p->send_timeout) < 0) ||
        (val[PX_IDLE_TIMEOUT] && cfg_duration(L, val[PX_IDLE_TIMEOUT], "idle_timeout", 0, false,
                                              3600, &p->idle_timeout) < 0) ||
        (val[PX_FAIL_TIMEOUT] && cfg_duration(L, val[PX_FAIL_TIMEOUT], "fail_timeout", 0, false,
                                              3600, &p->fail_timeout) < 0))
        return -1;
    if (val[PX_KEEPALIVE]) {
        if (cfg_uint(L, val[PX_KEEPALIVE], "keepalive", false, 0, 4096, &u) < 0) return -1;
        p->keepalive = (unsigned)u;
    }
    if (val[PX_RETRIES]) {
        if (cfg_uint(L, val[PX_RETRIES], "retries", false, 0, 16, &u) < 0) return -1;
        p->retries = (unsigned)u;
    }
    if (val[PX_MAX_FAILS]) {
        if (cfg_uint(L, val[PX_MAX_FAILS], "max_fails", false, 0, 1000, &u) < 0) return -1;
        p->max_fails = (unsigned)u;
    }
    if (val[PX_HOST] && parse_host(L, val[PX_HOST], p) < 0) return -1;
    if ((val[PX_FORWARDED] && cfg_bool(L, val[PX_FORWARDED], "forwarded", &p->forwarded) < 0) ||
        (val[PX_X_FORWARDED] &&
         cfg_bool(L, val[PX_X_FORWARDED], "x_forwarded", &p->x_forwarded) < 0) ||
        (val[PX_VIA] && cfg_bool(L, val[PX_VIA], "via", &p->via) < 0))
        return -1;
    if (val[PX_HEALTH_CHECK] && parse_health(L, val[PX_HEALTH_CHECK], p) < 0) return -1;
    if (val[PX_HASH_KEY] && parse_hash_key(L, val[PX_HASH_KEY], p) < 0) return -1;
    if (val[PX_HTTP2] && cfg_bool(L, val[PX_HTTP2], "http2", &p->http2) < 0) return -1;
    bool verify = true;
    char *ca = NULL, *name = NULL;
    if (val[PX_TLS_VERIFY] && cfg_bool(L, val[PX_TLS_VERIFY], "tls_verify", &verify) < 0) return -1;
    int rc = 0;
    if ((val[PX_TLS_CA] && cfg_path(L, val[PX_TLS_CA], "tls_ca", &ca) < 0) ||
        (val[PX_TLS_SERVER_NAME] &&
         cfg_string(L, val[PX_TLS_SERVER_NAME], "tls_server_name", &name) < 0))
        rc = -1;
    if (rc == 0) rc = tls_setup(L, v, p, verify, ca, name);
    free(ca);
    free(name);
    return rc;
}

int cfg_proxy(struct loader *L, const struct cnode *v, struct config_proxy **out)
{
    struct config_proxy *p = calloc(1, sizeof(*p));
    if (!p) return cfg_fail(L, v, "out of memory");
    *out = p; /* freed with the location, also after an error */
    /* nginx's defaults where it has them (proxy_connect_timeout 60 s is long for a reverse
     * proxy on one network: 5 s); keep-alive on, as an upstream block with keepalive */
    p->connect_timeout = 5;
    p->read_timeout = 60;
    p->send_timeout = 60;
    p->idle_timeout = 60;
    p->keepalive = 32;
    p->retries = 1;
    p->max_fails = 1;
    p->fail_timeout = 10;
    p->forwarded = true;
    p->x_forwarded = true;
    p->via = true;
    p->id = L->cfg->n_proxies++;
    if (v->kind == CNODE_MAP) return parse_options(L, v, p);
    if (parse_upstreams(L, v, p) < 0) return -1;
    return tls_setup(L, v, p, true, NULL, NULL);
}

enum fw_key { FW_ENABLED, FW_ALLOW, FW_ALLOW_PRIVATE, FW_CONNECT_TIMEOUT, FW_AUTH, FW_COUNT };

int cfg_forward_proxy(struct loader *L, const struct cnode *v)
{
    static const char *const keys[] = {"enabled",         "allow", "allow_private",
                                       "connect_timeout", "auth",  NULL};
    const struct cnode *val[FW_COUNT] = {0};
    uint64_t seen = 0;
    struct config_forward *f = &L->cfg->forward;
    if (cfg_want_map(L, v, "forward_proxy") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "forward_proxy", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    f->connect_timeout = 10;
    if ((val[FW_ENABLED] && cfg_bool(L, val[FW_ENABLED], "enabled", &f->enabled) < 0) ||
        (val[FW_ALLOW_PRIVATE] &&
         cfg_bool(L, val[FW_ALLOW_PRIVATE], "allow_private", &f->allow_private) < 0) ||
        (val[FW_CONNECT_TIMEOUT] && cfg_duration(L, val[FW_CONNECT_TIMEOUT], "connect_timeout", 0,
                                                 false, 3600, &f->connect_timeout) < 0))
        return -1;
    if (val[FW_AUTH] && cfg_auth(L, &f->auth, val[FW_AUTH]) < 0) return -1;
    if (val[FW_ALLOW]) return cfg_strv(L, val[FW_ALLOW], "allow", 1024, &f->allow, &f->n_allow);
    /* RFC 9110 §9.3.6: tunnels to arbitrary ports are a known hazard: 443 unless told */
    if (!(f->allow = calloc(1, sizeof(char *))) || !(f->allow[0] = strdup("*:443")))
        return cfg_fail(L, v, "out of memory");
    f->n_allow = 1;
    return 0;
}

void config_proxy_free(struct config_proxy *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n_upstreams; i++) {
        free(p->upstreams[i].url);
        free(p->upstreams[i].authority);
        free(p->upstreams[i].path);
        free(p->upstreams[i].server_name);
    }
    tls_client_free(p->tls);
    tls_client_free(p->tls_h2);
    free(p->upstreams);
    free(p->host);
    free(p->health_path);
    free(p->hash_header);
    free(p);
}
