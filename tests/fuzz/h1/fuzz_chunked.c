/* libFuzzer target for h1_chunked_decode. Byte 0 picks a split point, byte 1 the options; the
 * rest is a chunked body. It is decoded whole into a separate buffer, in place in two pieces,
 * and byte by byte: results, consumed bytes, output and trailers must agree, else abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1/chunked.h"

struct run {
    enum h1_chunked_result rc;
    size_t consumed, out_len;
    uint64_t trailer_hash;
    unsigned n_trailers;
};

static void on_trailer(void *ctx, str_t name, str_t value)
{
    struct run *r = ctx;
    if (name.len == 0) abort();
    for (size_t i = 0; i < name.len; i++)
        r->trailer_hash = r->trailer_hash * 131 + (unsigned char)name.p[i];
    r->trailer_hash = r->trailer_hash * 131 + ':';
    for (size_t i = 0; i < value.len; i++)
        r->trailer_hash = r->trailer_hash * 131 + (unsigned char)value.p[i];
    r->n_trailers++;
}

static void init(struct h1_chunked_decoder *d, struct run *r, uint8_t flags)
{
    memset(r, 0, sizeof(*r));
    h1_chunked_decoder_init(d);
    d->allow_bare_lf = flags & 1;
    if (flags & 2) d->max_line = 16;
    if (flags & 4) d->max_trailer = 32;
    d->on_trailer = on_trailer;
    d->ctx = r;
}

/* Feeds in[0..len) in pieces ending at the given cut points; out may be in. */
static void feed(struct h1_chunked_decoder *d, struct run *r, const char *in, size_t len, char *out,
                 const size_t *cuts, size_t n_cuts)
{
    size_t pos = 0;
    r->rc = H1_CHUNKED_MORE;
    for (size_t k = 0; k <= n_cuts && r->rc == H1_CHUNKED_MORE; k++) {
        size_t end = k < n_cuts ? cuts[k] : len;
        size_t used, olen;
        r->rc = h1_chunked_decode(d, in + pos, end - pos, &used, out + r->out_len, &olen);
        if (used > end - pos || r->out_len + olen > pos + used)
            abort(); /* output may never overtake input */
        if (r->rc == H1_CHUNKED_MORE && used != end - pos) abort();
        pos += used;
        r->out_len += olen;
    }
    r->consumed = pos;
}

static void same(const struct run *a, const struct run *b, const char *oa, const char *ob)
{
    if (a->rc != b->rc || a->out_len != b->out_len || memcmp(oa, ob, a->out_len) ||
        a->n_trailers != b->n_trailers || a->trailer_hash != b->trailer_hash)
        abort();
    if (a->consumed != b->consumed) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t split_byte = data[0], flags = data[1];
    const char *in = (const char *)data + 2;
    size_t len = size - 2;
    size_t split = len * split_byte / 256;
    struct h1_chunked_decoder d;
    struct run whole, inplace, bytes;

    char *out = malloc(len ? len : 1);
    init(&d, &whole, flags);
    feed(&d, &whole, in, len, out, NULL, 0);

    char *buf = malloc(len ? len : 1);
    memcpy(buf, in, len);
    init(&d, &inplace, flags);
    feed(&d, &inplace, buf, len, buf, &split, 1);
    same(&whole, &inplace, out, buf);

    if (len <= 4096) {
        size_t *cuts = malloc((len ? len : 1) * sizeof(*cuts));
        for (size_t i = 0; i < len; i++)
            cuts[i] = i;
        char *out2 = malloc(len ? len : 1);
        init(&d, &bytes, flags);
        feed(&d, &bytes, in, len, out2, cuts, len);
        same(&whole, &bytes, out, out2);
        free(out2);
        free(cuts);
    }
    free(out);
    free(buf);
    return 0;
}
