#include "server/access_log.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "server/access_format.h"
#include "server/server.h"

#define LINE_MAX_LEN 4096

/* Appends s escaped; stops before overflowing (the line is then truncated, never unsafe). */
static size_t put_escaped(char *out, size_t pos, size_t cap, str_t s)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (pos + 4 >= cap) break;
        if (ch == '"' || ch == '\\') {
            out[pos++] = '\\';
            out[pos++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            out[pos++] = '\\';
            out[pos++] = 'x';
            out[pos++] = hex[ch >> 4];
            out[pos++] = hex[ch & 15];
        } else {
            out[pos++] = (char)ch;
        }
    }
    return pos;
}

static size_t put_raw(char *out, size_t pos, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (pos + 1 >= cap) return pos;
    if (pos + n >= cap) n = cap - pos - 1;
    memcpy(out + pos, s, n);
    return pos + n;
}

static size_t put_field(char *out, size_t pos, size_t cap, const struct http_request *req,
                        enum http_token token)
{
    const struct http_field *f = http_fields_find(&req->headers, token);
    out[pos++] = '"';
    pos = f ? put_escaped(out, pos, cap - 2, f->value) : put_raw(out, pos, cap - 2, "-");
    out[pos++] = '"';
    return pos;
}

/* A JSON or custom line, written straight into the worker's batch */
static void log_formatted(struct worker *wk, int slot, const struct config_access_log *a,
                          const struct http_request *req, const struct http_response *resp)
{
    size_t mark;
    struct buf *b = worker_access_begin(wk, slot, &mark);
    int rc = a->format == CONFIG_LOG_JSON ? access_format_json(b, wk, req, resp)
                                          : access_format_custom(b, &a->custom, wk, req, resp);
    worker_access_end(wk, slot, mark, rc == 0);
}

void access_log_request(struct worker *wk, const struct http_request *req,
                        const struct http_response *resp)
{
    const struct config *cfg = wk->cfg;
    const struct config_access_log *a = &cfg->access;
    int slot = 0;
    if (cfg->server_logs) { /* the log of the server the request went to, when it has one */
        const struct config_server *srv = config_find_server(cfg, req->host.p, req->host.len);
        if (srv && srv->access) {
            a = srv->access;
            if ((slot = a->slot) < 0) return; /* off */
        }
    }
    if (!slot && !log_access_enabled()) return;
    if (a->format != CONFIG_LOG_COMBINED) {
        log_formatted(wk, slot, a, req, resp);
        return;
    }
    char line[LINE_MAX_LEN];
    size_t cap = sizeof(line) - 1, pos = 0;
    pos = put_raw(line, pos, cap, req->peer[0] ? req->peer : "-");
    pos = put_raw(line, pos, cap, " - ");
    /* the authenticated user (handler/auth.h), from the user file but escaped all the same */
    pos = req->remote_user ? put_escaped(line, pos, cap - 64, str_cstr(req->remote_user))
                           : put_raw(line, pos, cap, "-");
    pos = put_raw(line, pos, cap, " ");
    pos = put_raw(line, pos, cap, worker_log_time(wk));
    pos = put_raw(line, pos, cap, " \"");
    if (req->method_name.len) {
        pos = put_escaped(line, pos, cap - 64, req->method_name);
        line[pos++] = ' ';
        pos = put_escaped(line, pos, cap - 64, req->target);
        char v[32];
        snprintf(v, sizeof(v), " HTTP/%d.%d", req->version / 10, req->version % 10);
        pos = put_raw(line, pos, cap, v);
    } else {
        line[pos++] = '-';
    }
    char tail[48];
    snprintf(tail, sizeof(tail), "\" %d %lld ", resp->status, (long long)resp->bytes_sent);
    pos = put_raw(line, pos, cap, tail);
    pos = put_field(line, pos, cap, req, HTTP_TOKEN_REFERER);
    line[pos++] = ' ';
    pos = put_field(line, pos, cap, req, HTTP_TOKEN_USER_AGENT);
    /* a caching location's answer (handler/cache.h) ends with its Cache-Status */
    const struct http_field *cs = http_fields_find_name(&resp->headers, STR_LIT("cache-status"));
    if (cs) {
        pos = put_raw(line, pos, cap - 4, " \"");
        pos = put_escaped(line, pos, cap - 2, cs->value);
        line[pos++] = '"';
    }
    line[pos++] = '\n';
    worker_access_log(wk, slot, line, pos);
}
