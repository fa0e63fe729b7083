#include "h2/push.h"

#include <string.h>

/* True when a rel parameter value (possibly quoted, space-separated list) holds "preload". */
static bool rel_has_preload(str_t v)
{
    if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"') v = str_make(v.p + 1, v.len - 2);
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && v.p[i] == ' ')
            i++;
        size_t s = i;
        while (i < v.len && v.p[i] != ' ')
            i++;
        if (str_eq_nocase(str_make(v.p + s, i - s), STR_LIT("preload"))) return true;
    }
    return false;
}

bool h2_push_next_preload(str_t value, size_t *pos, str_t *uri)
{
    size_t i = *pos;
    while (i < value.len) {
        while (i < value.len && value.p[i] != '<')
            i++;
        if (i >= value.len) break;
        size_t us = ++i;
        while (i < value.len && value.p[i] != '>')
            i++;
        if (i >= value.len) break;
        str_t u = str_make(value.p + us, i - us);
        i++;
        bool preload = false, nopush = false;
        /* parameters up to the next ',' outside quotes */
        while (i < value.len && value.p[i] != ',') {
            if (value.p[i] != ';') {
                i++;
                continue;
            }
            i++;
            while (i < value.len && (value.p[i] == ' ' || value.p[i] == '\t'))
                i++;
            size_t ns = i;
            while (i < value.len && value.p[i] != '=' && value.p[i] != ';' && value.p[i] != ',')
                i++;
            str_t name = str_trim_ows(str_make(value.p + ns, i - ns));
            str_t val = STR_NULL;
            if (i < value.len && value.p[i] == '=') {
                size_t vs = ++i;
                bool q = i < value.len && value.p[i] == '"';
                if (q) i++;
                while (i < value.len &&
                       (q ? value.p[i] != '"' : (value.p[i] != ';' && value.p[i] != ',')))
                    i++;
                if (q && i < value.len) i++;
                val = str_trim_ows(str_make(value.p + vs, i - vs));
            }
            if (str_eq_nocase(name, STR_LIT("rel")) && rel_has_preload(val)) preload = true;
            if (str_eq_nocase(name, STR_LIT("nopush"))) nopush = true;
        }
        if (preload && !nopush) {
            *uri = u;
            *pos = i;
            return true;
        }
    }
    *pos = value.len;
    return false;
}

void h2_push_for_response(struct h2_session *s, struct h2_stream *st, const struct config *cfg)
{
    if (st->pushed || st->resp.status != 200 || !s->peer_push) return;
    const struct config_server *srv = config_find_server(cfg, st->req.host.p, st->req.host.len);
    if (!srv) return;
    const struct config_location *loc = config_find_location(srv, st->req.path.p, st->req.path.len);
    if (!loc || !loc->push) return;
    for (size_t i = 0; i < loc->n_push_paths; i++) {
        str_t p = str_cstr(loc->push_paths[i]);
        if (!str_eq(p, st->req.path)) h2_session_push(s, st, p);
    }
    const struct http_fields *h = &st->resp.headers;
    for (size_t i = 0; i < h->count; i++) {
        if (h->items[i].token != HTTP_TOKEN_LINK) continue;
        size_t pos = 0;
        str_t uri;
        while (h2_push_next_preload(h->items[i].value, &pos, &uri))
            if (uri.len && uri.p[0] == '/' && (uri.len < 2 || uri.p[1] != '/') &&
                !str_eq(uri, st->req.path))
                h2_session_push(s, st, uri); /* same origin: an absolute path */
    }
}
