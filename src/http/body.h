/* Pulled response bodies. The wire layer asks the source for the next chunk when it can send;
 * a chunk is memory or a file range, so cleartext HTTP/1 can sendfile() file chunks. */
#ifndef TERN_HTTP_BODY_H
#define TERN_HTTP_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/pool.h"

enum body_chunk_kind { BODY_CHUNK_MEM, BODY_CHUNK_FILE };

struct body_chunk {
    enum body_chunk_kind kind;
    const char *data; /* MEM: valid until the next call on the source */
    size_t len;       /* bytes in this chunk (> 0) */
    int fd;           /* FILE: not owned by the consumer */
    off_t offset;     /* FILE: where the range starts */
};

enum body_next_result {
    BODY_ERROR = -1, /* the response must be aborted (connection closed) */
    BODY_END = 0,    /* no more chunks */
    BODY_CHUNK = 1,  /* *out filled */
    /* Nothing now (a proxied body whose next bytes have not arrived): the source calls its
     * request's resume (http/request.h) when it has more, and the wire asks again then. */
    BODY_WAIT = 2,
};

struct body_source {
    /* Produces the next chunk of at most max bytes (max > 0). */
    enum body_next_result (*next)(struct body_source *src, struct body_chunk *out, size_t max);
    /* Releases resources; called once, also when the response is aborted. May be NULL. */
    void (*close)(struct body_source *src);
};

/* A source over bytes that live at least as long as the pool. */
struct body_source *body_source_mem(struct pool *pool, const char *data, size_t len);
/* A source over [offset, offset+len) of fd; the fd must outlive the source (the caller keeps
 * it open, e.g. the open-file cache; close is not called on it). */
struct body_source *body_source_file(struct pool *pool, int fd, off_t offset, size_t len);

/* Helper for consumers that cannot sendfile: copies up to cap bytes of a chunk into dst
 * (pread for FILE chunks). Returns bytes copied, or -1 on error. */
ssize_t body_chunk_copy(const struct body_chunk *chunk, char *dst, size_t cap);

/* Copies a source's chunks into a caller's buffer, a chunk at a time, for wires that frame
 * the body themselves (HTTP/2 and HTTP/3 DATA frames). */
struct body_reader {
    struct body_chunk chunk; /* the current chunk */
    size_t off;              /* bytes of it already copied */
    bool has_chunk;          /* chunk holds bytes not copied yet */
    bool eof;                /* the source said END */
    bool wait;               /* the last pull stopped at BODY_WAIT */
};
/* Copies up to max bytes of src into dst, and never more than left when left >= 0 (what is
 * left of a known Content-Length). Returns the bytes copied, or -1 on a body error; r->wait
 * says whether it stopped because the source has nothing now. */
ssize_t body_reader_pull(struct body_reader *r, struct body_source *src, int64_t left, char *dst,
                         size_t max);

#endif
