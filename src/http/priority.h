/* Extensible prioritization (RFC 9218), shared by HTTP/2 and HTTP/3: urgency 0-7 and
 * incremental, from the Priority header field and PRIORITY_UPDATE frames, and the scheduler
 * choosing which stream sends next: lower urgency first; at one urgency, non-incremental streams
 * one after another in stream-id order, then incremental streams round-robin. RFC 7540 PRIORITY
 * signals are parsed and ignored. */
#ifndef TERN_HTTP_PRIORITY_H
#define TERN_HTTP_PRIORITY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/str.h"

#define HTTP_URGENCY_DEFAULT 3

struct http_priority {
    uint8_t urgency; /* 0 (highest) to 7 */
    bool incremental;
};

/* Applies a Priority field value (RFC 9218 §4, a Structured Fields dictionary: "u=N" and "i"
 * / "i=?1" / "i=?0"). Unknown members and out-of-range values are ignored (§4.1, §4.2). */
void http_priority_parse(str_t value, struct http_priority *p);

/* A stream with something to send, linked into the scheduler (HTTP/2 streams, QUIC streams
 * carrying HTTP/3). */
struct http_sched_node {
    struct http_sched_node *next, *prev;
    int64_t id;
    struct http_priority prio;
    uint64_t seq; /* round-robin position among incremental streams */
    bool queued;
};

/* Queued nodes in sending order (urgency, then non-incremental by id, then incremental by
 * round-robin position), so the pick is the first ready node. */
struct http_sched {
    struct http_sched_node *head, *tail;
    uint64_t seq;
    uint32_t count;
};

void http_sched_add(struct http_sched *s, struct http_sched_node *n);
void http_sched_remove(struct http_sched *s, struct http_sched_node *n);
/* n's priority changed while queued: moves it to its new place. */
void http_sched_update(struct http_sched *s, struct http_sched_node *n);
/* The node that should send next among those for which ready(n, ctx) is true, or NULL. */
struct http_sched_node *http_sched_pick(struct http_sched *s,
                                        bool (*ready)(struct http_sched_node *, void *), void *ctx);
/* n sent a frame: an incremental stream goes to the back of its urgency's round. */
void http_sched_sent(struct http_sched *s, struct http_sched_node *n);

#endif
