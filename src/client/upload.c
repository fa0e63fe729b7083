#include "client/upload.h"

#include <errno.h>
#include <unistd.h>

static enum body_next_result upload_next(struct body_source *src, struct body_chunk *out,
                                         size_t max)
{
    struct client_upload *u = (struct client_upload *)src;
    if (u->left == 0) return BODY_END;
    size_t n = u->left < 0 || (int64_t)max < u->left ? max : (size_t)u->left;
    if (u->mem) {
        *out = (struct body_chunk){.kind = BODY_CHUNK_MEM, .data = u->mem, .len = n};
        u->mem += n;
    } else {
        if (n > sizeof(u->buf)) n = sizeof(u->buf);
        ssize_t got;
        do
            got = read(u->fd, u->buf, n);
        while (got < 0 && errno == EINTR);
        if (got == 0 && u->left < 0) return BODY_END; /* the stream ended: so does the body */
        if (got <= 0) return BODY_ERROR;              /* a file that shrank, or failed */
        n = (size_t)got;
        *out = (struct body_chunk){.kind = BODY_CHUNK_MEM, .data = u->buf, .len = n};
    }
    if (u->left > 0) u->left -= (int64_t)n;
    return BODY_CHUNK;
}

struct body_source *client_upload_init(struct client_upload *u, const struct client_request *rq)
{
    if (!client_request_has_body(rq)) return NULL;
    u->src = (struct body_source){.next = upload_next};
    u->mem = rq->body_stream ? NULL : rq->body;
    u->fd = rq->body_fd;
    u->left = rq->body_stream ? -1 : rq->body_len;
    return &u->src;
}
