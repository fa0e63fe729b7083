/* Protocol upgrade from HTTP/1.1 (RFC 9110 §7.8): another protocol registers an Upgrade token
 * and, when a request asks for it, takes over the connection with the bytes already read. */
#ifndef TERN_H1_UPGRADE_H
#define TERN_H1_UPGRADE_H

#include <stddef.h>

#include "http/request.h"

struct worker;

struct h1_upgrade_protocol {
    const char *token; /* Upgrade token, e.g. "h2c" (matched case-insensitively) */
    /* Takes over the connection: fd (now owned by the callee, still registered nowhere), the
     * request that asked for the upgrade (valid during the call only) and the bytes that
     * followed it. It writes the 101 response itself. Returns 0, or -1 to decline, in which
     * case the request is answered as plain HTTP/1.1. */
    int (*take_over)(struct worker *wk, int fd, const char *peer, const struct http_request *req,
                     const char *rest, size_t rest_len);
};

/* Registers a protocol (at start-up, before workers run). 0, or -1 when the table is full. */
int h1_upgrade_register(const struct h1_upgrade_protocol *proto);
/* The registered protocol for the first acceptable token of an Upgrade value, or NULL. */
const struct h1_upgrade_protocol *h1_upgrade_find(str_t upgrade_value);

#endif
