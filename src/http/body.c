/* Pulled response bodies: memory and file-range sources, and a copy helper for consumers that
 * cannot sendfile(). */
#include "http/body.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

struct mem_source {
    struct body_source base;
    const char *data;
    size_t len;
    size_t pos;
};

static enum body_next_result mem_next(struct body_source *src, struct body_chunk *out, size_t max)
{
    struct mem_source *m = (struct mem_source *)src;
    if (m->pos >= m->len) return BODY_END;
    size_t n = m->len - m->pos;
    if (max && n > max) n = max;
    *out =
        (struct body_chunk){.kind = BODY_CHUNK_MEM, .data = m->data + m->pos, .len = n, .fd = -1};
    m->pos += n;
    return BODY_CHUNK;
}

struct body_source *body_source_mem(struct pool *pool, const char *data, size_t len)
{
    struct mem_source *m = pool_alloc(pool, sizeof(*m));
    if (!m) return NULL;
    *m = (struct mem_source){{mem_next, NULL}, data, len, 0};
    return &m->base;
}

struct file_source {
    struct body_source base;
    int fd;
    off_t offset; /* next byte to hand out */
    size_t left;
};

static enum body_next_result file_next(struct body_source *src, struct body_chunk *out, size_t max)
{
    struct file_source *f = (struct file_source *)src;
    if (f->left == 0) return BODY_END;
    size_t n = f->left;
    if (max && n > max) n = max;
    *out = (struct body_chunk){.kind = BODY_CHUNK_FILE, .len = n, .fd = f->fd, .offset = f->offset};
    f->offset += (off_t)n;
    f->left -= n;
    return BODY_CHUNK;
}

struct body_source *body_source_file(struct pool *pool, int fd, off_t offset, size_t len)
{
    struct file_source *f = pool_alloc(pool, sizeof(*f));
    if (!f) return NULL;
    *f = (struct file_source){{file_next, NULL}, fd, offset, len};
    return &f->base;
}

ssize_t body_chunk_copy(const struct body_chunk *chunk, char *dst, size_t cap)
{
    size_t n = chunk->len < cap ? chunk->len : cap;
    if (chunk->kind == BODY_CHUNK_MEM) {
        if (n) memcpy(dst, chunk->data, n);
        return (ssize_t)n;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(chunk->fd, dst + done, n - done, chunk->offset + (off_t)done);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) /* the file shrank under us: the promised length can no longer be met */
            return -1;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

ssize_t body_reader_pull(struct body_reader *r, struct body_source *src, int64_t left, char *dst,
                         size_t max)
{
    size_t got = 0;
    r->wait = false;
    while (got < max && !r->eof) {
        if (!r->has_chunk) {
            if (left >= 0 && (int64_t)got >= left) break;
            enum body_next_result res = src->next(src, &r->chunk, max - got);
            if (res == BODY_ERROR) return -1;
            if (res == BODY_END) {
                r->eof = true;
                break;
            }
            if (res == BODY_WAIT) {
                r->wait = true;
                break;
            }
            r->has_chunk = true;
            r->off = 0;
        }
        size_t n = r->chunk.len - r->off;
        if (n > max - got) n = max - got;
        if (r->chunk.kind == BODY_CHUNK_MEM) {
            memcpy(dst + got, r->chunk.data + r->off, n);
        } else {
            struct body_chunk sub = r->chunk;
            sub.offset += (off_t)r->off;
            sub.len = n;
            if (body_chunk_copy(&sub, dst + got, n) != (ssize_t)n) return -1;
        }
        r->off += n;
        got += n;
        if (r->off == r->chunk.len) r->has_chunk = false;
    }
    return (ssize_t)got;
}
