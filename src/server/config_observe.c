/* What the configuration says about following requests: the top-level `access_log` (a path, or
 * a mapping with its format and batching) and `request_id` (issue #9). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/header.h"
#include "server/config_internal.h"

static int log_path(struct loader *L, const struct cnode *v, char **dst)
{
    const char *s;
    if (cfg_text(L, v, "access_log", &s) < 0) return -1;
    if (!strcmp(s, "stdout") || !strcmp(s, "off")) return cfg_string(L, v, "access_log", dst);
    return cfg_path(L, v, "access_log", dst);
}

static int log_format(struct loader *L, const struct cnode *v, struct config_access_log *a)
{
    const char *s;
    if (cfg_text(L, v, "format", &s) < 0) return -1;
    if (!strcmp(s, "combined")) {
        a->format = CONFIG_LOG_COMBINED;
        return 0;
    }
    if (!strcmp(s, "json")) {
        a->format = CONFIG_LOG_JSON;
        return 0;
    }
    if (!strchr(s, '$'))
        return cfg_fail(
            L, v, "'format' is combined, json or a format string with $variables, not '%s'", s);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return cfg_fail(L, v, "'format' must not hold control characters (a line each)");
    char err[160];
    log_format_free(&a->custom);
    if (log_format_parse(s, strlen(s), &a->custom, err, sizeof(err)) < 0)
        return cfg_fail(L, v, "access_log format: %s", err);
    a->format = CONFIG_LOG_CUSTOM;
    return 0;
}

/* access_log as a path, or {path, format, buffer, flush} (a server's: {path, format}) */
static int access_log_into(struct loader *L, const struct cnode *v, char **path,
                           struct config_access_log *a, bool top)
{
    if (v->kind == CNODE_SCALAR) return log_path(L, v, path);
    if (cfg_want_map(L, v, "access_log") < 0) return -1;
    static const char *const keys[] = {"path", "format", "buffer", "flush", NULL};
    static const char *const server_keys[] = {"path", "format", NULL};
    enum { PATH, FORMAT, BUFFER, FLUSH };
    const struct cnode *val[4] = {0};
    uint64_t seen = 0, x;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, top ? keys : server_keys, "access_log", &seen);
        if (i < 0) return -1;
        val[i] = k->next;
    }
    if (!val[PATH]) return cfg_fail(L, v, "'access_log' needs a 'path' (a file, stdout or off)");
    if (log_path(L, val[PATH], path) < 0) return -1;
    if (val[FORMAT] && log_format(L, val[FORMAT], a) < 0) return -1;
    if (val[BUFFER]) {
        /* a file opened O_APPEND takes each write whole, however large */
        if (cfg_uint(L, val[BUFFER], "buffer", true, 0, 16 << 20, &x) < 0) return -1;
        a->buffer = (size_t)x;
    }
    if (val[FLUSH]) {
        double d;
        if (cfg_duration(L, val[FLUSH], "flush", 0, true, 60, &d) < 0) return -1;
        a->flush_ms = (int)(d * 1000 + 0.5);
    }
    return 0;
}

static bool log_uses(const struct config_access_log *a, enum log_var v)
{
    if (!a || a->format == CONFIG_LOG_COMBINED) return false;
    if (a->format == CONFIG_LOG_JSON) return true; /* every field */
    for (size_t i = 0; i < a->custom.n_items; i++)
        if (a->custom.items[i].var == (int)v) return true;
    return false;
}

bool config_logs_use(const struct config *cfg, enum log_var v)
{
    if (log_uses(&cfg->access, v)) return true;
    for (size_t i = 0; i < cfg->n_servers; i++)
        if (log_uses(cfg->servers[i].access, v)) return true;
    return false;
}

int cfg_access_log(struct loader *L, const struct cnode *v)
{
    return access_log_into(L, v, &L->cfg->access_log, &L->cfg->access, true);
}

int cfg_server_access_log(struct loader *L, const struct cnode *v, struct config_server *srv)
{
    if (!(srv->access = calloc(1, sizeof(*srv->access)))) return cfg_fail(L, v, "out of memory");
    srv->access->slot = -1;
    L->cfg->server_logs = true;
    return access_log_into(L, v, &srv->access->path, srv->access, false);
}

void config_access_log_free(struct config_access_log *a)
{
    if (!a) return;
    log_format_free(&a->custom);
    free(a->path);
    free(a);
}

static int field_name(struct loader *L, const struct cnode *v, const char *key, char **dst)
{
    if (cfg_string(L, v, key, dst) < 0) return -1;
    if (!http_is_token(str_cstr(*dst)))
        return cfg_fail(L, v, "'%s' must be a field name (a token), not '%s'", key, *dst);
    return 0;
}

int cfg_request_id(struct loader *L, const struct cnode *v)
{
    struct config *cfg = L->cfg;
    if (cfg_want_map(L, v, "request_id") < 0) return -1;
    static const char *const keys[] = {"header", "response_header", NULL};
    uint64_t seen = 0;
    for (const struct cnode *k = v->first; k; k = k->next->next) {
        int i = cfg_key(L, k, keys, "request_id", &seen);
        if (i < 0) return -1;
        if (field_name(L, k->next, keys[i],
                       i == 0 ? &cfg->request_id.header : &cfg->request_id.response_header) < 0)
            return -1;
    }
    return 0;
}
