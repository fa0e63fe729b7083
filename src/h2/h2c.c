#include "h2/h2c.h"

#include <errno.h>
#include <unistd.h>

#include "h1/upgrade.h"
#include "h2/conn.h"
#include "h2/frame.h"
#include "server/server.h"

#define SETTINGS_MAX 240 /* 40 settings */

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

long h2c_decode_settings(str_t v, uint8_t *out, size_t cap)
{
    size_t len = v.len;
    while (len && v.p[len - 1] == '=')
        len--;
    if (v.len - len > 2 || len % 4 == 1) return -1;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int d = b64url_value(v.p[i]);
        if (d < 0) return -1;
        acc = (acc << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= cap) return -1;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    struct h2_frame_header hd = {(uint32_t)n, H2_SETTINGS, 0, 0};
    struct h2_frame f;
    struct h2_frame_error err;
    if (h2_frame_parse(&hd, out, &f, &err) < 0) return -1;
    return (long)n;
}

long h2c_check_request(const struct http_request *req, uint8_t *out, size_t cap)
{
    if (http_fields_count_token(&req->headers, HTTP_TOKEN_HTTP2_SETTINGS) != 1) return -1;
    if (!http_fields_has_word(&req->headers, HTTP_TOKEN_CONNECTION, STR_LIT("upgrade")) ||
        !http_fields_has_word(&req->headers, HTTP_TOKEN_CONNECTION, STR_LIT("http2-settings")))
        return -1;
    const struct http_field *f = http_fields_find(&req->headers, HTTP_TOKEN_HTTP2_SETTINGS);
    return h2c_decode_settings(str_trim_ows(f->value), out, cap);
}

static int take_over(struct worker *wk, int fd, const char *peer, const struct http_request *req,
                     const char *rest, size_t rest_len)
{
    uint8_t settings[SETTINGS_MAX];
    if (!wk->cfg->http2.enabled || !wk->cfg->http2.h2c) return -1;
    if (req->body_len > 0 || http_fields_find(&req->headers, HTTP_TOKEN_CONTENT_LENGTH) ||
        http_fields_find(&req->headers, HTTP_TOKEN_TRANSFER_ENCODING))
        return -1; /* the body would have to be read first: stay on HTTP/1.1 */
    if (req->version != 11 || h2c_check_request(req, settings, sizeof(settings)) < 0) return -1;
    static const char r101[] =
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    size_t off = 0;
    while (off < sizeof(r101) - 1) {
        ssize_t n = write(fd, r101 + off, sizeof(r101) - 1 - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (off == 0) return -1; /* nothing written yet: still answerable as HTTP/1.1 */
        close(fd);               /* half a 101 on the wire: nothing sensible is left */
        return 0;
    }
    h2_conn_open(wk, (struct transport){fd, NULL}, peer, rest, rest_len, req);
    return 0;
}

static const struct h1_upgrade_protocol h2c_proto = {"h2c", take_over};

void h2c_register(void)
{
    h1_upgrade_register(&h2c_proto);
}
