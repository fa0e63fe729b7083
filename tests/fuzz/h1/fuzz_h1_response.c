/* libFuzzer target for h1_parse_response_head (the client role). Byte 0 picks the options; the
 * rest is the input. The head is parsed whole, then byte by byte in a buffer that grows by
 * one: both must give the same answer, and a complete head must be consistent, else abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1/parser.h"

#define MAXF 16

struct outcome {
    int rc;
    struct h1_error err;
    struct h1_response_head head;
    struct h1_field fields[MAXF];
};

static void parse_whole(struct outcome *o, const char *buf, size_t len,
                        const struct h1_parse_options *opts)
{
    struct h1_parser p = {0};
    o->head.fields = o->fields;
    o->rc = h1_parse_response_head(&p, buf, len, opts, &o->head, &o->err);
}

static void parse_bytewise(struct outcome *o, const char *data, size_t len,
                           const struct h1_parse_options *opts)
{
    struct h1_parser p = {0};
    o->head.fields = o->fields;
    o->rc = 0;
    for (size_t n = 1; n <= len && o->rc == 0; n++) {
        char *buf = malloc(n); /* exactly n bytes: ASan sees any read past them */
        memcpy(buf, data, n);
        o->rc = h1_parse_response_head(&p, buf, n, opts, &o->head, &o->err);
        if (o->rc > 0) {
            /* the head must point into this buffer; check its shape before freeing it */
            if ((size_t)o->rc > n || o->head.n_fields > opts->max_fields) abort();
            for (size_t i = 0; i < o->head.n_fields; i++)
                if (o->head.fields[i].name.p < buf ||
                    o->head.fields[i].value.p + o->head.fields[i].value.len > buf + o->rc)
                    abort();
        }
        free(buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096) return 0;
    struct h1_parse_options opts = {
        .max_request_line = 64 + (data[0] & 0x0f) * 16,
        .max_head_size = 256 + (data[0] & 0x30) * 32,
        .max_fields = 1 + (data[0] & 0x07),
        .allow_bare_lf = data[0] & 0x40,
        .allow_obs_fold = false, /* it writes into the buffer; the request target covers it */
    };
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    struct outcome a, b;
    parse_whole(&a, in, len, &opts);
    parse_bytewise(&b, in, len, &opts);
    if (a.rc != b.rc) abort();
    if (a.rc < 0 && (a.err.status != 502 || a.err.status != b.err.status ||
                     strcmp(a.err.reason, b.err.reason) != 0))
        abort();
    if (a.rc > 0) {
        const struct h1_response_head *h = &a.head;
        if (h->status < 100 || h->status > 599 || (h->version != 10 && h->version != 11)) abort();
        if (h->chunked && (h->content_length >= 0 || h->te_other)) abort();
        if (h->n_fields != b.head.n_fields || h->status != b.head.status ||
            h->chunked != b.head.chunked || h->content_length != b.head.content_length ||
            h->keep_alive != b.head.keep_alive || h->reason.len != b.head.reason.len)
            abort();
    }
    return 0;
}
