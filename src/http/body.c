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
