/* multipart/byteranges: each part is "--B CRLF Content-Type CRLF Content-Range CRLF CRLF data",
 * every part's data is followed by the CRLF that starts the next delimiter, and the body ends
 * with "--B--" CRLF (RFC 9110 §14.6, RFC 2046 §5.1.1). Headers are formatted up front so the
 * exact length is known before the first byte is sent. */
#include "handler/multipart.h"

#include <inttypes.h>
#include <string.h>

struct part {
    const char *head; /* "\r\n" (not for the first part) + delimiter + part header fields */
    size_t head_len;
    uint64_t first, len;
};

struct multipart_src {
    struct body_source base;
    struct multipart_data data;
    struct part *parts;
    size_t count;
    const char *tail; /* "\r\n--B--\r\n" */
    size_t tail_len;
    size_t index; /* current part; count means the tail */
    int stage;    /* 0: header, 1: data, 2: next part */
    size_t done;  /* bytes of the current stage already handed out */
};

static enum body_next_result mp_next(struct body_source *src, struct body_chunk *out, size_t max)
{
    struct multipart_src *m = (struct multipart_src *)src;
    for (;;) {
        if (m->index > m->count) return BODY_END;
        if (m->index == m->count) {
            if (m->done == m->tail_len) {
                m->index++;
                return BODY_END;
            }
            size_t n = m->tail_len - m->done;
            n = n < max ? n : max;
            *out = (struct body_chunk){
                .kind = BODY_CHUNK_MEM, .data = m->tail + m->done, .len = n, .fd = -1};
            m->done += n;
            return BODY_CHUNK;
        }
        struct part *p = &m->parts[m->index];
        if (m->stage == 0) {
            if (m->done < p->head_len) {
                size_t n = p->head_len - m->done;
                n = n < max ? n : max;
                *out = (struct body_chunk){
                    .kind = BODY_CHUNK_MEM, .data = p->head + m->done, .len = n, .fd = -1};
                m->done += n;
                return BODY_CHUNK;
            }
            m->stage = 1;
            m->done = 0;
        }
        if (m->done < p->len) {
            uint64_t n = p->len - m->done;
            n = n < max ? n : max;
            if (m->data.mem)
                *out = (struct body_chunk){.kind = BODY_CHUNK_MEM,
                                           .data = m->data.mem + p->first + m->done,
                                           .len = (size_t)n,
                                           .fd = -1};
            else
                *out = (struct body_chunk){.kind = BODY_CHUNK_FILE,
                                           .len = (size_t)n,
                                           .fd = m->data.fd,
                                           .offset = (off_t)(m->data.offset + p->first + m->done)};
            m->done += (size_t)n;
            return BODY_CHUNK;
        }
        m->index++;
        m->stage = 0;
        m->done = 0;
    }
}

int multipart_build(struct pool *pool, int fd, uint64_t size, const char *ctype,
                    const char *boundary, const struct http_range *ranges, size_t count,
                    struct multipart *out)
{
    struct multipart_data d = {NULL, fd, 0};
    return multipart_build_from(pool, &d, size, ctype, boundary, ranges, count, out);
}

int multipart_build_from(struct pool *pool, const struct multipart_data *d, uint64_t size,
                         const char *ctype, const char *boundary, const struct http_range *ranges,
                         size_t count, struct multipart *out)
{
    struct multipart_src *m = pool_calloc(pool, sizeof(*m));
    struct part *parts = pool_alloc(pool, count * sizeof(*parts));
    if (!m || !parts) return -1;
    int64_t total = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n;
        parts[i].head =
            pool_printf(pool, &n,
                        "%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes "
                        "%" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n\r\n",
                        i ? "\r\n" : "", boundary, ctype, ranges[i].first, ranges[i].last, size);
        if (!parts[i].head) return -1;
        parts[i].head_len = n;
        parts[i].first = ranges[i].first;
        parts[i].len = ranges[i].last - ranges[i].first + 1;
        total += (int64_t)(n + parts[i].len);
    }
    m->tail = pool_printf(pool, &m->tail_len, "\r\n--%s--\r\n", boundary);
    out->content_type = pool_printf(pool, NULL, "multipart/byteranges; boundary=%s", boundary);
    if (!m->tail || !out->content_type) return -1;
    total += (int64_t)m->tail_len;
    m->base.next = mp_next;
    m->data = *d;
    m->parts = parts;
    m->count = count;
    out->body = &m->base;
    out->length = total;
    return 0;
}
