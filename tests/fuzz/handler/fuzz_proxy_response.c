/* libFuzzer target for what the reverse proxy makes of an upstream's response: the head as
 * h1_parse_response_head takes it, the fields proxy_response_fields passes on, then the body
 * through the chunked decoder in place, in slices whose size byte 0 picks (as the proxy's body
 * source decodes what each pull may take). No hop-by-hop field, no field the Connection field
 * names, no Content-Length and no Date may reach the client; decoding in place never produces
 * more than it consumed. Any breach: abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "h1/chunked.h"
#include "h1/parser.h"
#include "handler/proxy_fields.h"

#define MAXF 32

static bool connection_names(const struct h1_response_head *h, str_t name)
{
    for (size_t i = 0; i < h->n_fields; i++) {
        if (!str_eq_nocase(h->fields[i].name, STR_LIT("connection"))) continue;
        size_t pos = 0;
        str_t e;
        while (http_list_next(h->fields[i].value, &pos, &e))
            if (str_eq_nocase(e, name)) return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 8192) return 0;
    size_t slice = 1 + data[0];
    char *buf = malloc(size - 1);
    memcpy(buf, data + 1, size - 1);
    size_t len = size - 1;
    struct h1_parse_options opts = {
        .max_request_line = 8192, .max_head_size = 8192, .max_fields = MAXF};
    struct h1_field fields[MAXF];
    struct h1_response_head head = {.fields = fields};
    struct h1_parser p = {0};
    struct h1_error err;
    int n = h1_parse_response_head(&p, buf, len, &opts, &head, &err);
    if (n <= 0) {
        free(buf);
        return 0;
    }
    struct pool *pool = pool_create(4096);
    struct config_proxy pc = {.via = data[0] & 1};
    struct http_response resp = {0};
    if (proxy_response_fields(&resp, pool, &pc, &head) == 0) {
        for (size_t i = 0; i < resp.headers.count; i++) {
            const struct http_field *f = &resp.headers.items[i];
            enum http_token tk = http_token_lookup(f->name.p, f->name.len);
            if (tk != HTTP_TOKEN_NONE && (http_token_info(tk)->flags & HTTP_TOKEN_HOP_BY_HOP))
                abort();
            if (tk == HTTP_TOKEN_CONTENT_LENGTH || tk == HTTP_TOKEN_DATE) abort();
            if (tk != HTTP_TOKEN_VIA && connection_names(&head, f->name)) abort();
        }
    }
    if (h1_response_body(&head, false, false) == H1_BODY_CHUNKED) {
        struct h1_chunked_decoder d;
        h1_chunked_decoder_init(&d);
        char *q = buf + n;
        size_t left = len - (size_t)n;
        while (left) {
            size_t in = left < slice ? left : slice, used = 0, produced = 0;
            enum h1_chunked_result r = h1_chunked_decode(&d, q, in, &used, q, &produced);
            if (produced > used || used > in) abort();
            if (r != H1_CHUNKED_MORE) break;
            q += used;
            left -= used;
        }
    }
    pool_destroy(pool);
    free(buf);
    return 0;
}
