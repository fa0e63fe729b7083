/* The loader's top-level `metrics`: {listen: ADDR:PORT, allow: [...], status: bool,
 * sample_interval: seconds}. */
#include <stdlib.h>
#include <string.h>

#include "server/config_internal.h"

enum { MX_LISTEN, MX_ALLOW, MX_STATUS, MX_SAMPLE_INTERVAL, MX_COUNT };

/* True when a and b would take the same TCP connections: the same address, or a wildcard
 * (0.0.0.0, ::) and an address of its family on the same port (SO_REUSEPORT lets both bind, and
 * the more specific one would take the other's clients). */
static bool same_socket_address(const struct config_listen *a, const struct config_listen *b)
{
    if (a->port != b->port) return false;
    if (strcmp(a->host, b->host) == 0) return true;
    bool v6a = strchr(a->host, ':') != NULL, v6b = strchr(b->host, ':') != NULL;
    if (v6a != v6b) return false;
    const char *any = v6a ? "::" : "0.0.0.0";
    return strcmp(a->host, any) == 0 || strcmp(b->host, any) == 0;
}

int cfg_metrics(struct loader *L, const struct cnode *v)
{
    static const char *const keys[] = {"listen", "allow", "status", "sample_interval", NULL};
    const struct cnode *val[MX_COUNT] = {0};
    uint64_t seen = 0;
    struct config_metrics *m = &L->cfg->metrics;
    const char *s;
    char buf[80];
    if (cfg_want_map(L, v, "metrics") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "metrics", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    if (!val[MX_LISTEN])
        return cfg_fail(L, v, "'metrics' needs 'listen': the address to serve /metrics on");
    if (cfg_text(L, val[MX_LISTEN], "listen", &s) < 0) return -1;
    if (config_parse_listen(s, &m->listen) < 0)
        return cfg_fail(L, val[MX_LISTEN],
                        "invalid metrics listen address '%s' (ADDR:PORT, [IPv6]:PORT or PORT, "
                        "port 1-65535)",
                        cfg_show(val[MX_LISTEN], buf, sizeof(buf)));
    for (size_t i = 0; i < L->cfg->n_listens; i++) {
        const struct config_listen *l = &L->cfg->listens[i];
        if (l->port == m->listen.port && !l->quic_only && same_socket_address(l, &m->listen))
            return cfg_fail(L, val[MX_LISTEN],
                            "metrics listen address '%s' is also a listen or tls_listen address",
                            cfg_show(val[MX_LISTEN], buf, sizeof(buf)));
    }
    m->enabled = true;
    if (val[MX_ALLOW] && cfg_prefix_list(L, val[MX_ALLOW], "allow", &m->allow, &m->n_allow) < 0)
        return -1;
    if (val[MX_STATUS] && cfg_bool(L, val[MX_STATUS], "status", &m->status) < 0) return -1;
    if (val[MX_SAMPLE_INTERVAL] && cfg_duration(L, val[MX_SAMPLE_INTERVAL], "sample_interval", 0.1,
                                                true, 3600, &m->sample_interval) < 0)
        return -1;
    return 0;
}
