#include "h3/certs.h"

#ifdef TERN_HAVE_QUIC

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "h3/session.h"
#include "quic/quic.h"
#include "server/server.h"

struct h3_tls {
    struct quic_tls *tls;
    struct worker *wk;
    const struct config *cfg; /* the configuration tls's certificates come from */
};

/* The certificates of the newest configuration, shared by every listener. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct config *cache_cfg;  /* cache_certs were made from it */
static struct quic_certs *cache_certs;  /* one reference held here */
static const struct config *cache_fail; /* a configuration whose certificates failed */
static size_t cache_users;              /* open h3_tls; the last one out empties the cache */

static bool str_same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdu;
}

uint64_t h3_early_context(const struct config *cfg)
{
    struct h3_session_params p;
    h3_session_params_from_config(&p, cfg, NULL);
    uint64_t h = mix(0, p.max_field_section_size);
    h = mix(h, p.qpack_max_table_capacity);
    return mix(h, p.qpack_blocked_streams);
}

/* The certificate files as the TCP side uses them (tls/context.c): the default first, then
 * each server's own, once each; every server name points at its server's certificate or at
 * none (SIZE_MAX: the default). */
static struct quic_certs *certs_make(const struct config *cfg, char *err, size_t errlen)
{
    const struct config_cert *def = config_default_cert(cfg);
    if (!def) {
        snprintf(err, errlen, "no TLS certificate for QUIC");
        return NULL;
    }
    size_t n_names = 0;
    for (size_t i = 0; i < cfg->n_servers; i++)
        n_names += cfg->servers[i].n_names;
    struct quic_tls_cert *certs = calloc(cfg->n_servers + 1, sizeof(*certs));
    struct sni_name *names = calloc(n_names + 1, sizeof(*names));
    if (!certs || !names) {
        free(certs);
        free(names);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t n_certs = 1;
    certs[0] = (struct quic_tls_cert){def->cert_file, def->key_file};
    n_names = 0;
    for (size_t i = 0; i < cfg->n_servers; i++) {
        const struct config_server *s = &cfg->servers[i];
        size_t idx = SIZE_MAX;
        if (s->cert.cert_file) {
            for (idx = 0; idx < n_certs && !(str_same(certs[idx].cert_file, s->cert.cert_file) &&
                                             str_same(certs[idx].key_file, s->cert.key_file));
                 idx++)
                ;
            if (idx == n_certs)
                certs[n_certs++] = (struct quic_tls_cert){s->cert.cert_file, s->cert.key_file};
        }
        for (size_t j = 0; j < s->n_names; j++)
            names[n_names++] = (struct sni_name){s->names[j], strlen(s->names[j]), idx};
    }
    double life = cfg->tls.ticket_lifetime;
    struct quic_tls_setup setup = {
        .certs = certs,
        .n_certs = n_certs,
        .names = names,
        .n_names = n_names,
        .tickets = cfg->tls.tickets,
        /* RFC 8446 §4.6.1: a ticket lives at most seven days */
        .ticket_lifetime = life < 1        ? 1
                           : life > 604800 ? 604800
                                           : (unsigned)life,
        .early_data = cfg->http3.early_data,
        .early_context = h3_early_context(cfg),
    };
    struct quic_certs *c = quic_certs_new(&setup, err, errlen);
    free(certs);
    free(names);
    return c;
}

/* A new reference to cfg's certificates, made by the first listener that asks. NULL when
 * they cannot be loaded (logged once per configuration after the first). */
static struct quic_certs *certs_for(const struct config *cfg, char *err, size_t errlen)
{
    pthread_mutex_lock(&cache_lock);
    struct quic_certs *c = NULL;
    if (cfg == cache_cfg) {
        c = cache_certs;
    } else if (cfg == cache_fail) {
        snprintf(err, errlen, "the certificates failed to load");
    } else if ((c = certs_make(cfg, err, errlen))) {
        quic_certs_release(cache_certs);
        cache_certs = c;
        cache_cfg = cfg;
    } else {
        if (cache_certs) /* a reload: what serves now goes on serving */
            log_error("reload: QUIC keeps the previous certificates: %s", err);
        cache_fail = cfg;
    }
    if (c) quic_certs_retain(c);
    pthread_mutex_unlock(&cache_lock);
    return c;
}

/* Before each new connection: a reload installed another configuration. */
static void refresh(struct quic_tls *t, void *ud)
{
    struct h3_tls *ht = ud;
    if (ht->cfg == ht->wk->cfg) return;
    ht->cfg = ht->wk->cfg;
    char err[256];
    struct quic_certs *c = certs_for(ht->cfg, err, sizeof(err));
    if (c) quic_tls_set_certs(t, c);
}

struct h3_tls *h3_tls_open(struct worker *wk, char *err, size_t errlen)
{
    struct h3_tls *ht = calloc(1, sizeof(*ht));
    if (!ht) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&cache_lock);
    cache_users++;
    pthread_mutex_unlock(&cache_lock);
    ht->wk = wk;
    ht->cfg = wk->cfg;
    struct quic_certs *c = certs_for(wk->cfg, err, errlen);
    if (c && !(ht->tls = quic_tls_with(c))) snprintf(err, errlen, "out of memory");
    if (!ht->tls) {
        h3_tls_close(ht);
        return NULL;
    }
    quic_tls_set_refresh(ht->tls, refresh, ht);
    return ht;
}

struct quic_tls *h3_tls_quic(const struct h3_tls *ht)
{
    return ht->tls;
}

void h3_tls_close(struct h3_tls *ht)
{
    if (!ht) return;
    quic_tls_free(ht->tls);
    pthread_mutex_lock(&cache_lock);
    if (--cache_users == 0) {
        quic_certs_release(cache_certs);
        cache_certs = NULL;
        cache_cfg = cache_fail = NULL;
    }
    pthread_mutex_unlock(&cache_lock);
    free(ht);
}

#endif
