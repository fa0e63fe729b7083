#include "client/exchange.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/header.h"

const char *client_response_field(const struct client_response *rs, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < rs->head.n_fields; i++) {
        const struct h1_field *f = &rs->fields[i];
        if (f->name.len == n && strncasecmp(f->name.p, name, n) == 0) {
            *len = f->value.len;
            return f->value.p;
        }
    }
    return NULL;
}

static int64_t parse_length(str_t v)
{
    if (v.len == 0 || v.len > 18) return -1;
    int64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') return -1;
        n = n * 10 + (v.p[i] - '0');
    }
    return n;
}

int client_response_set_head(struct client_response *rs, int version, int status,
                             const str_t *names, const str_t *values, size_t n_fields)
{
    if (n_fields > CLIENT_MAX_FIELDS) return -1;
    /* the whole text first, then the pointers into it (the buffer does not move after) */
    size_t need = 16;
    for (size_t i = 0; i < n_fields; i++)
        need += names[i].len + values[i].len + 4;
    buf_clear(&rs->raw);
    if (buf_reserve(&rs->raw, need + 2) < 0) return -1;
    int rc = buf_appendf(&rs->raw, "HTTP/%d %03d\r\n", version / 10, status);
    size_t at[CLIENT_MAX_FIELDS];
    for (size_t i = 0; i < n_fields; i++) {
        at[i] = buf_size(&rs->raw);
        rc |= buf_append(&rs->raw, names[i].p, names[i].len);
        rc |= buf_append(&rs->raw, ": ", 2);
        rc |= buf_append(&rs->raw, values[i].p, values[i].len);
        rc |= buf_append(&rs->raw, "\r\n", 2);
    }
    rc |= buf_append(&rs->raw, "\r\n", 2);
    if (rc < 0) return -1;
    const char *base = buf_ptr(&rs->raw);
    memset(&rs->head, 0, sizeof(rs->head));
    rs->head.version = version;
    rs->head.status = status;
    rs->head.reason = str_make(base, 0);
    rs->head.fields = rs->fields;
    rs->head.n_fields = n_fields;
    rs->head.content_length = -1;
    rs->head.keep_alive = true;
    for (size_t i = 0; i < n_fields; i++) {
        rs->fields[i].name = str_make(base + at[i], names[i].len);
        rs->fields[i].value = str_make(base + at[i] + names[i].len + 2, values[i].len);
        if (names[i].len == 14 && memcmp(names[i].p, "content-length", 14) == 0)
            rs->head.content_length = parse_length(values[i]);
    }
    rs->keep_alive = true;
    return 0;
}

/* Fields a multiplexing wire never carries (RFC 9113 §8.2.2, RFC 9114 §4.2). */
static bool connection_specific(const char *name, size_t len)
{
    static const char *const names[] = {"connection",        "keep-alive", "proxy-connection",
                                        "transfer-encoding", "upgrade",    "te",
                                        "http2-settings"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0) return true;
    return false;
}

static bool overridden(const struct client_request *rq, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < rq->n_headers; i++)
        if (strncasecmp(rq->headers[i], name, n) == 0 && rq->headers[i][n] == ':') return true;
    return false;
}

/* Appends s (lower-cased when lower) to text and returns where it lives. */
static str_t keep(struct buf *text, const char *s, size_t len, bool lower)
{
    char *at = buf_tail(text);
    memcpy(at, s, len);
    if (lower)
        for (size_t i = 0; i < len; i++)
            if (at[i] >= 'A' && at[i] <= 'Z') at[i] = (char)(at[i] + 32);
    buf_commit(text, len);
    return str_make(at, len);
}

int client_request_fields(const struct client_request *rq, struct client_request_fields *f)
{
    memset(f, 0, sizeof(*f));
    char auth[300], ua[64], cl[24];
    url_authority(rq->url, auth, sizeof(auth));
    snprintf(ua, sizeof(ua), "tern/%s", TERN_VERSION);
    snprintf(cl, sizeof(cl), "%lld", (long long)rq->body_len);
    size_t need = strlen(rq->method) + strlen(auth) + strlen(rq->url->target) + 64 + sizeof(ua);
    for (size_t i = 0; i < rq->n_headers; i++)
        need += strlen(rq->headers[i]);
    if (buf_reserve(&f->text, need) < 0) return -1;
    f->method = keep(&f->text, rq->method, strlen(rq->method), false);
    f->scheme = rq->url->https ? STR_LIT("https") : STR_LIT("http");
    f->authority = keep(&f->text, auth, strlen(auth), false);
    f->path = keep(&f->text, rq->url->target, strlen(rq->url->target), false);
    if (!overridden(rq, "user-agent")) {
        f->names[f->n] = STR_LIT("user-agent");
        f->values[f->n++] = keep(&f->text, ua, strlen(ua), false);
    }
    if (!overridden(rq, "accept")) {
        f->names[f->n] = STR_LIT("accept");
        f->values[f->n++] = STR_LIT("*/*");
    }
    for (size_t i = 0; i < rq->n_headers; i++) {
        const char *line = rq->headers[i];
        const char *colon = strchr(line, ':');
        if (!colon || colon == line) return -1;
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vlen = strlen(v);
        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        if (vlen == 0 || connection_specific(line, nlen)) continue;
        if (nlen == 4 && strncasecmp(line, "host", 4) == 0) {
            f->authority = keep(&f->text, v, vlen, false);
            continue;
        }
        if (f->n == CLIENT_MAX_REQUEST_FIELDS) return -1;
        f->names[f->n] = keep(&f->text, line, nlen, true);
        f->values[f->n++] = keep(&f->text, v, vlen, false);
    }
    if (rq->body_len >= 0 && !overridden(rq, "content-length")) {
        if (f->n == CLIENT_MAX_REQUEST_FIELDS) return -1;
        f->names[f->n] = STR_LIT("content-length");
        f->values[f->n++] = keep(&f->text, cl, strlen(cl), false);
    }
    return 0;
}

int client_request_fields_text(const struct client_request_fields *f, const char *version,
                               struct buf *out)
{
    int rc =
        buf_appendf(out, "%.*s %.*s %s\r\nhost: %.*s\r\n", (int)f->method.len, f->method.p,
                    (int)f->path.len, f->path.p, version, (int)f->authority.len, f->authority.p);
    for (size_t i = 0; i < f->n; i++)
        rc |= buf_appendf(out, "%.*s: %.*s\r\n", (int)f->names[i].len, f->names[i].p,
                          (int)f->values[i].len, f->values[i].p);
    rc |= buf_append(out, "\r\n", 2);
    return rc < 0 ? -1 : 0;
}
