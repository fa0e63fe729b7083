/* libFuzzer target for h1_parse_request_head. Byte 0 picks a split point, byte 1 the options;
 * the rest is the input. The head is parsed whole, then in two pieces (the first in a buffer of
 * exactly its size, the second after moving to a new buffer), then byte by byte: all three must
 * give the same answer, else abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1/parser.h"

#define MAXF 16

struct outcome {
    int rc;
    struct h1_error err;
    struct h1_request_head head;
    struct h1_field fields[MAXF];
    const char *base;
};

static void check_head(const struct outcome *o, const char *buf, size_t len,
                       const struct h1_parse_options *opts)
{
    if (o->rc <= 0) return;
    if ((size_t)o->rc > len || o->head.n_fields > opts->max_fields ||
        (size_t)o->rc > opts->max_head_size)
        abort();
    if (o->head.method.p < buf || o->head.target.p + o->head.target.len > buf + o->rc) abort();
    if (o->head.version != 9 && o->head.version != 10 && o->head.version != 11) abort();
    if (o->head.chunked && o->head.content_length >= 0) abort();
    for (size_t i = 0; i < o->head.n_fields; i++)
        if (o->head.fields[i].name.len == 0 ||
            o->head.fields[i].value.p + o->head.fields[i].value.len > buf + o->rc)
            abort();
}

static void same(const struct outcome *a, const struct outcome *b)
{
    if (a->rc != b->rc) abort();
    if (a->rc < 0 && (a->err.status != b->err.status || strcmp(a->err.reason, b->err.reason)))
        abort();
    if (a->rc <= 0) return;
    const struct h1_request_head *x = &a->head, *y = &b->head;
    if (x->method.p - a->base != y->method.p - b->base || x->method.len != y->method.len ||
        x->target.p - a->base != y->target.p - b->base || x->target.len != y->target.len ||
        x->version != y->version || x->n_fields != y->n_fields || x->chunked != y->chunked ||
        x->content_length != y->content_length || x->keep_alive != y->keep_alive ||
        x->expect_continue != y->expect_continue ||
        x->expect_unsupported != y->expect_unsupported || x->upgrade != y->upgrade ||
        x->host.len != y->host.len || x->target_form != y->target_form)
        abort();
    for (size_t i = 0; i < x->n_fields; i++)
        if (x->fields[i].name.p - a->base != y->fields[i].name.p - b->base ||
            x->fields[i].value.p - a->base != y->fields[i].value.p - b->base ||
            x->fields[i].value.len != y->fields[i].value.len ||
            memcmp(x->fields[i].value.p, y->fields[i].value.p, x->fields[i].value.len))
            abort();
}

static void start(struct outcome *o, struct h1_parser *p)
{
    memset(o, 0, sizeof(*o));
    o->head.fields = o->fields;
    h1_parser_reset(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t split_byte = data[0], flags = data[1];
    const char *in = (const char *)data + 2;
    size_t len = size - 2;
    struct h1_parse_options opts = {
        .max_request_line = (flags & 0x10) ? 40 : 8192,
        .max_head_size = (flags & 0x20) ? 120 : 16384,
        .max_fields = (flags & 0x40) ? 3 : MAXF,
        .http09 = flags & 1,
        .allow_bare_lf = flags & 2,
        .allow_obs_fold = flags & 4,
        .allow_target_obs_text = flags & 8,
    };
    static struct outcome whole, parts, bytes;
    struct h1_parser p;

    /* whole */
    char *a = malloc(len ? len : 1);
    memcpy(a, in, len);
    start(&whole, &p);
    whole.base = a;
    whole.rc = h1_parse_request_head(&p, a, len, &opts, &whole.head, &whole.err);
    check_head(&whole, a, len, &opts);

    /* two pieces; the first in a buffer of exactly its size */
    size_t split = len * split_byte / 256;
    char *b1 = malloc(split ? split : 1);
    memcpy(b1, in, split);
    start(&parts, &p);
    parts.base = b1;
    parts.rc = h1_parse_request_head(&p, b1, split, &opts, &parts.head, &parts.err);
    char *b2 = NULL;
    if (parts.rc == 0) {
        b2 = malloc(len ? len : 1);
        memcpy(b2, in, len);
        parts.base = b2;
        parts.rc = h1_parse_request_head(&p, b2, len, &opts, &parts.head, &parts.err);
    }
    same(&whole, &parts);

    /* byte by byte in a growing buffer */
    if (len <= 2048) {
        char *c = malloc(len ? len : 1);
        start(&bytes, &p);
        bytes.base = c;
        for (size_t n = 0; n <= len && bytes.rc == 0; n++) {
            if (n) c[n - 1] = in[n - 1];
            bytes.rc = h1_parse_request_head(&p, c, n, &opts, &bytes.head, &bytes.err);
        }
        same(&whole, &bytes);
        free(c);
    }
    free(a);
    free(b1);
    free(b2);
    return 0;
}
