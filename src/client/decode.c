#include "client/decode.h"

#include <brotli/decode.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

enum coding { C_GZIP, C_BR, C_ZSTD };

struct content_decoder {
    enum coding kind;
    bool done;
    z_stream z;
    BrotliDecoderState *br;
    ZSTD_DStream *zs;
    char out[65536];
};

static bool is(str_t s, const char *lit)
{
    return s.len == strlen(lit) && strncasecmp(s.p, lit, s.len) == 0;
}

struct content_decoder *content_decoder_new(str_t coding, bool *unsupported)
{
    *unsupported = false;
    enum coding kind;
    if (is(coding, "gzip") || is(coding, "x-gzip") || is(coding, "deflate"))
        kind = C_GZIP;
    else if (is(coding, "br"))
        kind = C_BR;
    else if (is(coding, "zstd"))
        kind = C_ZSTD;
    else {
        *unsupported = true;
        return NULL;
    }
    struct content_decoder *d = calloc(1, sizeof(*d));
    if (!d) return NULL;
    d->kind = kind;
    bool ok = true;
    if (kind == C_GZIP)
        ok = inflateInit2(&d->z, 15 + 32) == Z_OK; /* gzip or zlib header, detected */
    else if (kind == C_BR)
        ok = (d->br = BrotliDecoderCreateInstance(NULL, NULL, NULL)) != NULL;
    else
        ok = (d->zs = ZSTD_createDStream()) != NULL && !ZSTD_isError(ZSTD_initDStream(d->zs));
    if (!ok) {
        content_decoder_free(d);
        return NULL;
    }
    return d;
}

int content_decoder_feed(struct content_decoder *d, const char *in, size_t len,
                         int (*sink)(void *ctx, const char *p, size_t n), void *ctx,
                         bool *sink_failed)
{
    *sink_failed = false;
    if (d->kind == C_GZIP) {
        d->z.next_in = (Bytef *)in;
        d->z.avail_in = (uInt)len;
        while (d->z.avail_in && !d->done) {
            d->z.next_out = (Bytef *)d->out;
            d->z.avail_out = sizeof(d->out);
            int r = inflate(&d->z, Z_NO_FLUSH);
            if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) return -1;
            size_t n = sizeof(d->out) - d->z.avail_out;
            if (n && sink(ctx, d->out, n) < 0) return *sink_failed = true, -1;
            if (r == Z_STREAM_END) d->done = true;
            if (r == Z_BUF_ERROR && n == 0) break;
        }
        return 0;
    }
    if (d->kind == C_BR) {
        const uint8_t *next_in = (const uint8_t *)in;
        size_t avail_in = len;
        for (;;) {
            uint8_t *next_out = (uint8_t *)d->out;
            size_t avail_out = sizeof(d->out);
            BrotliDecoderResult r = BrotliDecoderDecompressStream(d->br, &avail_in, &next_in,
                                                                  &avail_out, &next_out, NULL);
            if (r == BROTLI_DECODER_RESULT_ERROR) return -1;
            size_t n = sizeof(d->out) - avail_out;
            if (n && sink(ctx, d->out, n) < 0) return *sink_failed = true, -1;
            if (r == BROTLI_DECODER_RESULT_SUCCESS) {
                d->done = true;
                return 0;
            }
            if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) return 0;
        }
    }
    ZSTD_inBuffer ib = {in, len, 0};
    while (ib.pos < ib.size || !d->done) {
        ZSTD_outBuffer ob = {d->out, sizeof(d->out), 0};
        size_t r = ZSTD_decompressStream(d->zs, &ob, &ib);
        if (ZSTD_isError(r)) return -1;
        if (ob.pos && sink(ctx, d->out, ob.pos) < 0) return *sink_failed = true, -1;
        d->done = r == 0;
        if (ob.pos < ob.size && ib.pos == ib.size) break;
    }
    return 0;
}

bool content_decoder_done(const struct content_decoder *d)
{
    return d->done;
}

void content_decoder_free(struct content_decoder *d)
{
    if (!d) return;
    if (d->kind == C_GZIP) inflateEnd(&d->z);
    if (d->br) BrotliDecoderDestroyInstance(d->br);
    if (d->zs) ZSTD_freeDStream(d->zs);
    free(d);
}
