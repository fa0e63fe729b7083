#include "server/access_format.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "http/request_id.h"
#include "server/server.h"
#include "tls/tls.h"

/* What one line is made from: the exchange, and the text of values made for it. */
struct line_ctx {
    struct worker *wk;
    const struct http_request *req;
    const struct http_response *resp;
    char id[REQUEST_ID_MAX + 1];
    size_t id_len;
};

/* ISO 8601 in UTC with milliseconds, "2026-12-08T00:18:15.123Z"; the date part made once a
 * second per thread. */
static size_t iso_time(char *out, size_t cap)
{
    static _Thread_local time_t last_sec = -1;
    static _Thread_local char prefix[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != last_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(prefix, sizeof(prefix), "%Y-%m-%dT%H:%M:%S", &tm);
        last_sec = ts.tv_sec;
    }
    int n = snprintf(out, cap, "%s.%03dZ", prefix, (int)(ts.tv_nsec / 1000000));
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static int64_t duration_us(const struct http_request *req)
{
    if (!req->start_us) return -1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t d = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - req->start_us;
    return d < 0 ? 0 : d;
}

/* A request that never reached dispatch (refused by its wire) gets its id here. */
static void line_id(struct line_ctx *c)
{
    c->id_len = request_id_format(c->req, c->id);
    if (!c->id_len)
        c->id_len = request_id_make(c->wk->request_id_prefix, ++c->wk->request_id_seq, c->id);
}

static str_t field(const struct http_fields *f, enum http_token token)
{
    const struct http_field *x = http_fields_find(f, token);
    return x ? x->value : STR_NULL;
}

/* The TLS facts of the connection, as handler/conninfo.c tells them; NULL when unknown. */
static const char *tls_fact(const struct http_request *req, enum log_var v)
{
    if (req->tls) {
        switch (v) {
        case LOG_VAR_TLS_VERSION: return tls_conn_version(req->tls);
        case LOG_VAR_TLS_CIPHER: return tls_conn_cipher(req->tls);
        case LOG_VAR_SNI: return tls_conn_sni(req->tls);
        case LOG_VAR_ALPN: return tls_conn_alpn(req->tls);
        case LOG_VAR_JA4: return tls_conn_ja4(req->tls);
        default: return NULL;
        }
    }
    if (req->version == 30) { /* QUIC always runs TLS 1.3 (RFC 9001); its session is in quic/ */
        if (v == LOG_VAR_TLS_VERSION) return "TLSv1.3";
        if (v == LOG_VAR_ALPN) return "h3";
        if (v == LOG_VAR_JA4) return req->ja4;
    }
    return NULL;
}

enum value_kind { V_NULL, V_STRING, V_NUMBER };

/* The value of v for this line: a string (escaped by the writer) or a number, whose text goes
 * to tmp (64 bytes) when it is made here. */
static enum value_kind value_of(struct line_ctx *c, enum log_var v, char *tmp, str_t *out)
{
    const struct http_request *req = c->req;
    const struct http_response *resp = c->resp;
    int n;
    switch (v) {
    case LOG_VAR_TIME: *out = str_make(tmp, iso_time(tmp, 64)); return V_STRING;
    case LOG_VAR_TIME_LOCAL: *out = str_cstr(worker_log_time(c->wk)); return V_STRING;
    case LOG_VAR_REMOTE_ADDR: *out = str_cstr(req->peer); break;
    case LOG_VAR_REMOTE_USER:
        *out = req->remote_user ? str_cstr(req->remote_user) : STR_NULL;
        break;
    case LOG_VAR_REQUEST: /* the Combined line's request: the writer puts the pieces */
    case LOG_VAR_METHOD: *out = req->method_name; break;
    case LOG_VAR_TARGET: *out = req->method_name.len ? req->target : STR_NULL; break;
    case LOG_VAR_VERSION:
        if (!req->method_name.len) return V_NULL;
        n = snprintf(tmp, 64, "HTTP/%d.%d", req->version / 10, req->version % 10);
        *out = str_make(tmp, (size_t)n);
        return V_STRING;
    case LOG_VAR_STATUS:
        *out = str_make(tmp, (size_t)snprintf(tmp, 64, "%d", resp->status));
        return V_NUMBER;
    case LOG_VAR_BYTES:
        *out = str_make(tmp, (size_t)snprintf(tmp, 64, "%lld", (long long)resp->bytes_sent));
        return V_NUMBER;
    case LOG_VAR_DURATION_US: {
        int64_t d = duration_us(req);
        if (d < 0) return V_NULL;
        *out = str_make(tmp, (size_t)snprintf(tmp, 64, "%lld", (long long)d));
        return V_NUMBER;
    }
    case LOG_VAR_REQUEST_ID: *out = str_make(c->id, c->id_len); break;
    case LOG_VAR_TLS_VERSION:
    case LOG_VAR_TLS_CIPHER:
    case LOG_VAR_SNI:
    case LOG_VAR_ALPN:
    case LOG_VAR_JA4: {
        const char *s = tls_fact(req, v);
        *out = s ? str_cstr(s) : STR_NULL;
        break;
    }
    case LOG_VAR_USER_AGENT: *out = field(&req->headers, HTTP_TOKEN_USER_AGENT); break;
    case LOG_VAR_REFERER: *out = field(&req->headers, HTTP_TOKEN_REFERER); break;
    case LOG_VAR_HOST: *out = req->host; break;
    case LOG_VAR_HTTP2_FINGERPRINT:
        *out = req->h2_fingerprint ? str_cstr(req->h2_fingerprint) : STR_NULL;
        break;
    case LOG_VAR_CACHE_STATUS: {
        const struct http_field *cs =
            http_fields_find_name(&resp->headers, STR_LIT("cache-status"));
        *out = cs ? cs->value : STR_NULL;
        break;
    }
    default: return V_NULL;
    }
    return out->p && out->len ? V_STRING : V_NULL;
}

int access_format_json(struct buf *b, struct worker *wk, const struct http_request *req,
                       const struct http_response *resp)
{
    static const enum log_var fields[] = {
        LOG_VAR_TIME,        LOG_VAR_REMOTE_ADDR,  LOG_VAR_REMOTE_USER, LOG_VAR_METHOD,
        LOG_VAR_TARGET,      LOG_VAR_VERSION,      LOG_VAR_STATUS,      LOG_VAR_BYTES,
        LOG_VAR_DURATION_US, LOG_VAR_REQUEST_ID,   LOG_VAR_TLS_VERSION, LOG_VAR_TLS_CIPHER,
        LOG_VAR_SNI,         LOG_VAR_ALPN,         LOG_VAR_USER_AGENT,  LOG_VAR_REFERER,
        LOG_VAR_HOST,        LOG_VAR_CACHE_STATUS, LOG_VAR_JA4,         LOG_VAR_HTTP2_FINGERPRINT};
    struct line_ctx c = {.wk = wk, .req = req, .resp = resp};
    line_id(&c);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char tmp[64];
        str_t val = STR_NULL;
        enum value_kind k = value_of(&c, fields[i], tmp, &val);
        if (buf_appendf(b, "%s\"%s\":", i ? "," : "{", log_var_name(fields[i])) < 0) return -1;
        int rc = k == V_NULL     ? buf_append(b, "null", 4)
                 : k == V_NUMBER ? buf_append(b, val.p, val.len)
                                 : json_append_string(b, val.p, val.len);
        if (rc < 0) return -1;
    }
    return buf_append(b, "}\n", 2);
}

/* As Combined writes untrusted text: '"' and '\' escaped, other bytes outside printable
 * ASCII as \xHH, so a line is one line whatever a client sent. */
static int put_escaped(struct buf *b, str_t s)
{
    static const char hex[] = "0123456789abcdef";
    if (buf_reserve(b, s.len * 4) < 0) return -1;
    char *o = buf_tail(b);
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch == '"' || ch == '\\') {
            o[n++] = '\\';
            o[n++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            o[n++] = '\\';
            o[n++] = 'x';
            o[n++] = hex[ch >> 4];
            o[n++] = hex[ch & 15];
        } else {
            o[n++] = (char)ch;
        }
    }
    buf_commit(b, n);
    return 0;
}

int access_format_custom(struct buf *b, const struct log_format *f, struct worker *wk,
                         const struct http_request *req, const struct http_response *resp)
{
    struct line_ctx c = {.wk = wk, .req = req, .resp = resp};
    line_id(&c);
    for (size_t i = 0; i < f->n_items; i++) {
        const struct log_format_item *it = &f->items[i];
        int rc = 0;
        if (it->var < 0) {
            rc = buf_append(b, f->text + it->off, it->len);
        } else if (it->var == LOG_VAR_REQUEST) {
            if (!req->method_name.len) {
                rc = buf_append(b, "-", 1);
            } else {
                char v[32];
                int n = snprintf(v, sizeof(v), " HTTP/%d.%d", req->version / 10, req->version % 10);
                rc = put_escaped(b, req->method_name) | buf_append(b, " ", 1) |
                     put_escaped(b, req->target) | buf_append(b, v, (size_t)n);
            }
        } else {
            char tmp[64];
            str_t val = STR_NULL;
            enum value_kind k = value_of(&c, (enum log_var)it->var, tmp, &val);
            rc = k == V_NULL ? buf_append(b, "-", 1) : put_escaped(b, val);
        }
        if (rc < 0) return -1;
    }
    return buf_append(b, "\n", 1);
}
