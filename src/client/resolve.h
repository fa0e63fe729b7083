/* Name resolution that never blocks the event loop: getaddrinfo_a(3) resolves in glibc's
 * helper threads and its completion is posted back to the loop through a pipe, so callbacks
 * run on the loop's thread. One resolver per worker thread. */
#ifndef TERN_CLIENT_RESOLVE_H
#define TERN_CLIENT_RESOLVE_H

#include <netdb.h>

struct loop;
struct resolver;
struct resolve_req;

/* err 0 and res the addresses, or err an EAI_* code (gai_strerror) and res NULL; res is
 * freed after the call. */
typedef void (*resolve_cb)(void *ctx, const struct addrinfo *res, int err);

struct resolver *resolver_new(struct loop *loop);
/* Cancels what it can and waits for lookups still running (bounded by the system resolver's
 * own timeouts), then frees everything. */
void resolver_free(struct resolver *r);
/* Starts a lookup of host and port for TCP; cb runs later on the loop (never within this
 * call). NULL when it could not start (cb will not run). */
struct resolve_req *resolver_lookup(struct resolver *r, const char *host, const char *port,
                                    resolve_cb cb, void *ctx);
/* cb will not run for q (its memory goes when the lookup finishes). */
void resolve_cancel(struct resolve_req *q);

#endif
