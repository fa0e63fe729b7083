/* On-the-fly compression: one small codec abstraction over zlib, brotli and zstd, used both
 * for whole-file compression (small files, cached by the file cache) and for a streaming body
 * source (larger files, unknown length). */
#include "handler/compress.h"

#include <brotli/encode.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "http/negotiate.h"

#define STREAM_BUF (64u << 10)

struct codec {
    int coding;
    bool live;
    z_stream z;
    BrotliEncoderState *br;
    ZSTD_CCtx *zs;
};

static int codec_init(struct codec *c, int coding, const struct config_compression *cc, size_t size)
{
    memset(c, 0, sizeof(*c));
    c->coding = coding;
    switch (coding) {
    case HTTP_CODING_GZIP:
        /* windowBits 15 + 16: a gzip wrapper (RFC 1952) instead of zlib's */
        if (deflateInit2(&c->z, cc->gzip_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return -1;
        break;
    case HTTP_CODING_BR:
        c->br = BrotliEncoderCreateInstance(NULL, NULL, NULL);
        if (!c->br) return -1;
        BrotliEncoderSetParameter(c->br, BROTLI_PARAM_QUALITY, (uint32_t)cc->brotli_level);
        if (size < (1u << 30))
            BrotliEncoderSetParameter(c->br, BROTLI_PARAM_SIZE_HINT, (uint32_t)size);
        break;
    case HTTP_CODING_ZSTD:
        c->zs = ZSTD_createCCtx();
        if (!c->zs) return -1;
        ZSTD_CCtx_setParameter(c->zs, ZSTD_c_compressionLevel, cc->zstd_level);
        ZSTD_CCtx_setPledgedSrcSize(c->zs, size);
        break;
    default: return -1;
    }
    c->live = true;
    return 0;
}

static void codec_end(struct codec *c)
{
    if (!c->live) return;
    c->live = false;
    if (c->coding == HTTP_CODING_GZIP) deflateEnd(&c->z);
    if (c->br) BrotliEncoderDestroyInstance(c->br);
    if (c->zs) ZSTD_freeCCtx(c->zs);
    c->br = NULL;
    c->zs = NULL;
}

/* Feeds input and drains output, advancing both. Returns 1 once the stream is complete
 * (finish was set and everything is out), 0 to go on, -1 on a codec error. */
static int codec_step(struct codec *c, const uint8_t **in, size_t *in_len, uint8_t **out,
                      size_t *out_len, bool finish)
{
    switch (c->coding) {
    case HTTP_CODING_GZIP: {
        c->z.next_in = (Bytef *)*in;
        c->z.avail_in = (uInt)(*in_len > UINT32_MAX ? UINT32_MAX : *in_len);
        c->z.next_out = *out;
        c->z.avail_out = (uInt)(*out_len > UINT32_MAX ? UINT32_MAX : *out_len);
        uInt in0 = c->z.avail_in, out0 = c->z.avail_out;
        int r = deflate(&c->z, finish ? Z_FINISH : Z_NO_FLUSH);
        *in += in0 - c->z.avail_in;
        *in_len -= in0 - c->z.avail_in;
        *out += out0 - c->z.avail_out;
        *out_len -= out0 - c->z.avail_out;
        if (r == Z_STREAM_END) return 1;
        return (r == Z_OK || r == Z_BUF_ERROR) ? 0 : -1;
    }
    case HTTP_CODING_BR:
        if (!BrotliEncoderCompressStream(
                c->br, finish ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS, in_len, in,
                out_len, out, NULL))
            return -1;
        return finish && BrotliEncoderIsFinished(c->br) ? 1 : 0;
    case HTTP_CODING_ZSTD: {
        ZSTD_inBuffer ib = {*in, *in_len, 0};
        ZSTD_outBuffer ob = {*out, *out_len, 0};
        size_t r = ZSTD_compressStream2(c->zs, &ob, &ib, finish ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(r)) return -1;
        *in += ib.pos;
        *in_len -= ib.pos;
        *out += ob.pos;
        *out_len -= ob.pos;
        return finish && r == 0 ? 1 : 0;
    }
    }
    return -1;
}

static int read_full(int fd, char *dst, size_t n, off_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, dst + done, n - done, off + (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1; /* error, or the file shrank below its stat size */
        done += (size_t)r;
    }
    return 0;
}

int compress_file(const struct config_compression *cc, int coding, int fd, size_t size, char **out,
                  size_t *out_len)
{
    char *src = malloc(size ? size : 1);
    size_t cap = size + size / 8 + 1024;
    char *dst = malloc(cap);
    struct codec c;
    if (!src || !dst || read_full(fd, src, size, 0) < 0 || codec_init(&c, coding, cc, size) < 0)
        goto fail;
    const uint8_t *ip = (const uint8_t *)src;
    size_t il = size, used = 0;
    for (;;) {
        uint8_t *op = (uint8_t *)dst + used;
        size_t ol = cap - used;
        int r = codec_step(&c, &ip, &il, &op, &ol, true);
        used = cap - ol;
        if (r < 0) {
            codec_end(&c);
            goto fail;
        }
        if (r == 1) break;
        if (ol == 0) {
            char *n = realloc(dst, cap * 2);
            if (!n) {
                codec_end(&c);
                goto fail;
            }
            dst = n;
            cap *= 2;
        }
    }
    codec_end(&c);
    free(src);
    *out = dst;
    *out_len = used;
    return 0;
fail:
    free(src);
    free(dst);
    return -1;
}

struct compress_src {
    struct body_source base;
    struct codec codec;
    int fd;
    off_t pos; /* next file offset to read */
    size_t size;
    char *in;
    size_t in_off, in_len;
    char *out;
    size_t out_off, out_len;
    bool done;
};

static enum body_next_result compress_next(struct body_source *src, struct body_chunk *chunk,
                                           size_t max)
{
    struct compress_src *s = (struct compress_src *)src;
    if (s->out_off == s->out_len) {
        if (s->done) return BODY_END;
        s->out_off = s->out_len = 0;
        while (s->out_len == 0 && !s->done) {
            if (s->in_off == s->in_len && (size_t)s->pos < s->size) {
                size_t n = s->size - (size_t)s->pos;
                if (n > STREAM_BUF) n = STREAM_BUF;
                if (read_full(s->fd, s->in, n, s->pos) < 0) return BODY_ERROR;
                s->pos += (off_t)n;
                s->in_off = 0;
                s->in_len = n;
            }
            bool finish = (size_t)s->pos >= s->size;
            const uint8_t *ip = (const uint8_t *)s->in + s->in_off;
            size_t il = s->in_len - s->in_off;
            uint8_t *op = (uint8_t *)s->out;
            size_t ol = STREAM_BUF;
            int r = codec_step(&s->codec, &ip, &il, &op, &ol, finish);
            if (r < 0) return BODY_ERROR;
            s->in_off = s->in_len - il;
            s->out_len = STREAM_BUF - ol;
            if (r == 1) {
                s->done = true;
                codec_end(&s->codec);
            }
        }
        if (s->out_len == 0) return BODY_END;
    }
    size_t n = s->out_len - s->out_off;
    if (n > max) n = max;
    *chunk = (struct body_chunk){
        .kind = BODY_CHUNK_MEM, .data = s->out + s->out_off, .len = n, .fd = -1};
    s->out_off += n;
    return BODY_CHUNK;
}

static void compress_close(struct body_source *src)
{
    codec_end(&((struct compress_src *)src)->codec);
}

static void compress_cleanup(void *arg)
{
    codec_end(&((struct compress_src *)arg)->codec);
}

struct body_source *compress_source(struct pool *pool, const struct config_compression *cc,
                                    int coding, int fd, size_t size)
{
    struct compress_src *s = pool_calloc(pool, sizeof(*s));
    if (!s) return NULL;
    s->in = pool_alloc(pool, STREAM_BUF);
    s->out = pool_alloc(pool, STREAM_BUF);
    if (!s->in || !s->out || codec_init(&s->codec, coding, cc, size) < 0) return NULL;
    if (pool_on_cleanup(pool, compress_cleanup, s) < 0) {
        codec_end(&s->codec);
        return NULL;
    }
    s->base.next = compress_next;
    s->base.close = compress_close;
    s->fd = fd;
    s->size = size;
    return &s->base;
}
