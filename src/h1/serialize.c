#include "h1/serialize.h"

#include <string.h>

#include "http/date.h"

static char canonical[HTTP_TOKEN__COUNT][32];
static int canonical_ready;

static void canonical_init(void)
{
    for (int t = 1; t < HTTP_TOKEN__COUNT; t++) {
        const struct http_token_info *ti = http_token_info((enum http_token)t);
        char *o = canonical[t];
        bool up = true;
        for (size_t i = 0; i < ti->name.len && i < 31; i++) {
            char c = ti->name.p[i];
            o[i] = (up && c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
            up = c == '-';
        }
        o[ti->name.len < 31 ? ti->name.len : 31] = '\0';
    }
    strcpy(canonical[HTTP_TOKEN_ETAG], "ETag");
    strcpy(canonical[HTTP_TOKEN_WWW_AUTHENTICATE], "WWW-Authenticate");
    strcpy(canonical[HTTP_TOKEN_TE], "TE");
    canonical_ready = 1;
}

const char *h1_canonical_name(enum http_token token)
{
    if (!canonical_ready) canonical_init();
    return canonical[token];
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, s) put((p), (s), sizeof(s) - 1)

static char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

int h1_serialize_head(struct buf *out, const struct http_response *resp, const char *date,
                      enum h1_framing framing, int64_t length, int request_version, bool keep_alive)
{
    if (!canonical_ready) canonical_init();
    const char *reason = http_status_reason(resp->status);
    size_t need = 128 + strlen(reason) + HTTP_DATE_LEN;
    for (size_t i = 0; i < resp->headers.count; i++)
        need += resp->headers.items[i].name.len + resp->headers.items[i].value.len + 4;
    if (buf_reserve(out, need) < 0) return -1;
    char *p = buf_tail(out);
    p = PUT_LIT(p, "HTTP/1.1 ");
    int st = resp->status;
    *p++ = (char)('0' + st / 100 % 10);
    *p++ = (char)('0' + st / 10 % 10);
    *p++ = (char)('0' + st % 10);
    *p++ = ' ';
    p = put(p, reason, strlen(reason));
    /* the default Server field, unless the response has its own or asked for none */
    if (resp->no_server || http_fields_find(&resp->headers, HTTP_TOKEN_SERVER))
        p = PUT_LIT(p, "\r\nDate: ");
    else
        p = PUT_LIT(p, "\r\nServer: tern\r\nDate: ");
    p = put(p, date, HTTP_DATE_LEN);
    p = PUT_LIT(p, "\r\n");
    for (size_t i = 0; i < resp->headers.count; i++) {
        const struct http_field *f = &resp->headers.items[i];
        if (f->token != HTTP_TOKEN_NONE) {
            const char *cn = canonical[f->token];
            p = put(p, cn, f->name.len);
        } else {
            p = put(p, f->name.p, f->name.len);
        }
        *p++ = ':';
        *p++ = ' ';
        p = put(p, f->value.p, f->value.len);
        p = PUT_LIT(p, "\r\n");
    }
    if (framing == H1_FRAMING_LENGTH) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_u64(p, (uint64_t)length);
        p = PUT_LIT(p, "\r\n");
    } else if (framing == H1_FRAMING_CHUNKED) {
        p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    }
    if (!keep_alive && request_version >= 11)
        p = PUT_LIT(p, "Connection: close\r\n");
    else if (keep_alive && request_version == 10)
        p = PUT_LIT(p, "Connection: keep-alive\r\n");
    p = PUT_LIT(p, "\r\n");
    buf_commit(out, (size_t)(p - buf_tail(out)));
    return 0;
}
