/* The YAML loader's TLS and HTTP/2 parts: the `tls` and `http2` sections, `tls_listen`, a
 * server's certificate, and a location's push and early-hints lists. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/config_internal.h"

/* A readable file path (relative to the config file's directory) into *dst; when it is not,
 * the message says why in words (No such file or directory, Permission denied...). */
static int readable_file(struct loader *L, const struct cnode *v, const char *key, char **dst)
{
    if (cfg_path(L, v, key, dst) < 0) return -1;
    int fd = open(*dst, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int why = fd < 0 ? errno : fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (fd >= 0) close(fd);
    if (why) return cfg_fail(L, v, "%s '%s' cannot be read: %s", key, *dst, strerror(why));
    return 0;
}

int cfg_cert(struct loader *L, const struct cnode *v, const char *where, struct config_cert *cert,
             const char *const *extra_keys, const struct cnode **extra_vals)
{
    const char *keys[16] = {"cert", "key", "ocsp"};
    size_t nk = 3;
    for (size_t i = 0; extra_keys && extra_keys[i] && nk < 15; i++)
        keys[nk++] = extra_keys[i];
    keys[nk] = NULL;
    const struct cnode *val[16] = {0};
    uint64_t seen = 0;
    if (cfg_want_map(L, v, where) < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, where, &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    if (val[0] && readable_file(L, val[0], "cert", &cert->cert_file) < 0) return -1;
    if (val[1] && readable_file(L, val[1], "key", &cert->key_file) < 0) return -1;
    if (val[2] && readable_file(L, val[2], "ocsp", &cert->ocsp_file) < 0) return -1;
    if (!val[0] != !val[1]) return cfg_fail(L, v, "%s: 'cert' and 'key' go together", where);
    if (val[2] && !val[0]) return cfg_fail(L, v, "%s: 'ocsp' needs 'cert' and 'key'", where);
    for (size_t i = 3; i < nk; i++)
        extra_vals[i - 3] = val[i];
    return 0;
}

int cfg_tls(struct loader *L, const struct cnode *v)
{
    static const char *const extra[] = {"tickets", "ticket_lifetime", "handshake_timeout", NULL};
    const struct cnode *val[3] = {0};
    struct config_tls *t = &L->cfg->tls;
    if (cfg_cert(L, v, "tls", &t->cert, extra, val) < 0) return -1;
    if (val[0] && cfg_bool(L, val[0], "tickets", &t->tickets) < 0) return -1;
    if (val[1] &&
        cfg_duration(L, val[1], "ticket_lifetime", 60, true, 7 * 86400.0, &t->ticket_lifetime) < 0)
        return -1;
    if (val[2] &&
        cfg_duration(L, val[2], "handshake_timeout", 0, false, 3600, &t->handshake_timeout) < 0)
        return -1;
    return 0;
}

int cfg_http2(struct loader *L, const struct cnode *v)
{
    static const char *const keys[] = {"enabled",
                                       "h2c",
                                       "max_concurrent_streams",
                                       "initial_window_size",
                                       "connection_window",
                                       "max_frame_size",
                                       "header_table_size",
                                       "max_header_list_size",
                                       "max_resets_per_10s",
                                       "max_continuations",
                                       "max_idle_frames_per_10s",
                                       "max_control_queue",
                                       "preface_timeout",
                                       "idle_timeout",
                                       "stalled_stream_timeout",
                                       NULL};
    struct config_http2 *h = &L->cfg->http2;
    /* RFC 9113 §6.5.2 bounds for the window and frame sizes */
    struct {
        uint32_t *dst;
        bool sizes;
        uint64_t min, max;
    } u32[] = {
        {&h->max_concurrent_streams, false, 1, 100000},
        {&h->initial_window_size, true, 1, 0x7fffffff},
        {&h->connection_window, true, 65535, 0x7fffffff},
        {&h->max_frame_size, true, 16384, 16777215},
        {&h->header_table_size, true, 0, 1 << 20},
        {&h->max_header_list_size, true, 1024, 64u << 20},
        {&h->max_resets_per_10s, false, 1, 1000000},
        {&h->max_continuations, false, 1, 100000},
        {&h->max_idle_frames_per_10s, false, 1, 100000000},
    };
    double *durations[] = {&h->preface_timeout, &h->idle_timeout, &h->stalled_stream_timeout};
    uint64_t seen = 0, x;
    if (cfg_want_map(L, v, "http2") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "http2", &seen);
        const struct cnode *val = k->next;
        if (i < 0) return -1;
        if (i == 0 || i == 1) {
            if (cfg_bool(L, val, keys[i], i == 0 ? &h->enabled : &h->h2c) < 0) return -1;
        } else if (i < 11) {
            int j = i - 2;
            if (cfg_uint(L, val, keys[i], u32[j].sizes, u32[j].min, u32[j].max, &x) < 0) return -1;
            *u32[j].dst = (uint32_t)x;
        } else if (i == 11) {
            if (cfg_uint(L, val, keys[i], true, 1024, 64u << 20, &x) < 0) return -1;
            h->max_control_queue = (size_t)x;
        } else {
            if (cfg_duration(L, val, keys[i], 0, false, 86400.0, durations[i - 12]) < 0) return -1;
        }
    }
    return 0;
}

int cfg_http3(struct loader *L, const struct cnode *v)
{
    static const char *const keys[] = {"retry",      "retry_threshold", "max_handshakes",
                                       "early_data", "isolate",         NULL};
    struct config_http3 *h = &L->cfg->http3;
    uint64_t seen = 0, x;
    const char *s;
    char buf[80];
    if (cfg_want_map(L, v, "http3") < 0) return -1;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "http3", &seen);
        const struct cnode *val = k->next;
        if (i < 0) return -1;
        if (i == 0) {
            if (cfg_text(L, val, "retry", &s) < 0) return -1;
            if (strcmp(s, "always") == 0)
                h->retry_always = true;
            else if (strcmp(s, "auto") == 0)
                h->retry_always = false;
            else
                return cfg_fail(L, val, "'retry' must be auto or always, not '%s'",
                                cfg_show(val, buf, sizeof(buf)));
        } else if (i == 3) {
            if (cfg_bool(L, val, keys[i], &h->early_data) < 0) return -1;
        } else if (i == 4) {
            if (cfg_bool(L, val, keys[i], &h->isolate) < 0) return -1;
        } else {
            if (cfg_uint(L, val, keys[i], false, 1, 1000000, &x) < 0) return -1;
            *(i == 1 ? &h->retry_threshold : &h->max_handshakes) = (uint32_t)x;
        }
    }
    return 0;
}

/* tls_listen (TCP with TLS, and QUIC beside it) or quic_listen (UDP alone). */
static int cfg_listen_kind(struct loader *L, const struct cnode *v, const char *key, bool quic_only)
{
    struct config *cfg = L->cfg;
    size_t count = v->kind == CNODE_SEQ ? v->count : 1;
    char buf[80];
    if (v->kind == CNODE_MAP)
        return cfg_fail(L, v, "'%s' must be an address or a list of them, not a mapping", key);
    if (count == 0) return cfg_fail(L, v, "'%s' must not be empty", key);
    if (cfg->n_listens + count > CONFIG_MAX_LISTENS)
        return cfg_fail(L, v, "more than %d listen addresses", CONFIG_MAX_LISTENS);
    struct config_listen *ls = realloc(cfg->listens, (cfg->n_listens + count) * sizeof(*ls));
    if (!ls) return cfg_fail(L, v, "out of memory");
    cfg->listens = ls;
    const struct cnode *item = v->kind == CNODE_SEQ ? v->first : v;
    for (; item; item = v->kind == CNODE_SEQ ? item->next : NULL) {
        const char *s;
        struct config_listen tmp;
        if (cfg_text(L, item, key, &s) < 0) return -1;
        if (config_parse_listen(s, &tmp) < 0)
            return cfg_fail(L, item, "invalid listen address '%s' (ADDR:PORT or [IPv6]:PORT)",
                            cfg_show(item, buf, sizeof(buf)));
        for (size_t i = 0; i < cfg->n_listens; i++) {
            if (cfg->listens[i].port == tmp.port && cfg->listens[i].quic_only == quic_only &&
                strcmp(cfg->listens[i].host, tmp.host) == 0) {
                free(tmp.host);
                return cfg_fail(L, item, "listen address '%s' is given twice",
                                cfg_show(item, buf, sizeof(buf)));
            }
        }
        tmp.tls = !quic_only;
        tmp.quic_only = quic_only;
        cfg->listens[cfg->n_listens++] = tmp;
    }
    return 0;
}

int cfg_tls_listen(struct loader *L, const struct cnode *v)
{
    return cfg_listen_kind(L, v, "tls_listen", false);
}

int cfg_quic_listen(struct loader *L, const struct cnode *v)
{
    return cfg_listen_kind(L, v, "quic_listen", true);
}

int cfg_strv(struct loader *L, const struct cnode *v, const char *key, size_t max, char ***out,
             size_t *n)
{
    if (v->kind == CNODE_MAP)
        return cfg_fail(L, v, "'%s' must be a value or a list of them, not a mapping", key);
    size_t count = v->kind == CNODE_SEQ ? v->count : 1;
    if (count > max) return cfg_fail(L, v, "'%s' has more than %zu entries", key, max);
    char **list = calloc(count ? count : 1, sizeof(char *));
    if (!list) return cfg_fail(L, v, "out of memory");
    *out = list;
    *n = 0;
    const struct cnode *item = v->kind == CNODE_SEQ ? v->first : v;
    for (; item && *n < count; item = item->next) {
        char *s = NULL;
        if (cfg_string(L, item, key, &s) < 0) return -1;
        list[(*n)++] = s;
        for (const char *p = s; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return cfg_fail(L, item, "'%s' entries must not hold control characters", key);
    }
    return 0;
}

int cfg_check_tls(struct loader *L, const struct cnode *top)
{
    struct config *cfg = L->cfg;
    bool tls = false;
    for (size_t i = 0; i < cfg->n_listens; i++)
        tls |= cfg->listens[i].tls;
    if (!tls) return 0;
    if (cfg->tls.cert.cert_file) return 0;
    for (size_t i = 0; i < cfg->n_servers; i++)
        if (cfg->servers[i].cert.cert_file) return 0;
    return cfg_fail(L, top,
                    "'tls_listen' needs a certificate: set tls: {cert, key} or a "
                    "server's tls: {cert, key}");
}
