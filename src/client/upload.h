/* A request body as a pulled source (src/http/body.h) for the multiplexing wires: bytes in
 * memory, a file of known length, or a descriptor read to its end (`-T -`: stdin, its length
 * unknown), read only as the flow-control windows let it go. */
#ifndef TERN_CLIENT_UPLOAD_H
#define TERN_CLIENT_UPLOAD_H

#include "client/exchange.h"
#include "http/body.h"

struct client_upload {
    struct body_source src;
    const char *mem;
    int fd;
    int64_t left; /* -1: until the end of fd */
    char buf[16384];
};

/* Sets u up for rq's body and returns its source, or NULL when rq has none. */
struct body_source *client_upload_init(struct client_upload *u, const struct client_request *rq);

#endif
