/* ClientHello recording against 0-RTT replay (RFC 8446 §8.2, RFC 9001 §9.2): a bounded set of
 * identities of ClientHellos whose early data was accepted (their PSK binders), each kept until
 * it expires. A ClientHello seen again before then is a replay and its early data is refused.
 * Plain C, no locking: the caller serialises (one set serves every worker). */
#ifndef TERN_QUIC_REPLAY_H
#define TERN_QUIC_REPLAY_H

#include <stddef.h>
#include <stdint.h>

/* Longest identity kept (a binder is a SHA-256 or SHA-384 HMAC; longer ones are cut). */
#define QUIC_REPLAY_ID_MAX 64

enum quic_replay_result {
    QUIC_REPLAY_NEW,  /* recorded: accept the early data */
    QUIC_REPLAY_SEEN, /* recorded before and not expired: a replay */
    QUIC_REPLAY_FULL, /* no room left (every entry still live): refuse the early data */
};

struct quic_replay;

/* A set of at most capacity identities; an entry whose expiry lies more than max_keep seconds
 * after the time it is looked at is dropped as well (the clock went back). NULL on OOM. */
struct quic_replay *quic_replay_new(size_t capacity, uint64_t max_keep);
void quic_replay_free(struct quic_replay *r);
/* Forgets entries that expired by now (seconds, the same clock as expires), then records id
 * until expires unless it is there already. */
enum quic_replay_result quic_replay_add(struct quic_replay *r, const uint8_t *id, size_t len,
                                        uint64_t expires, uint64_t now);
/* Identities held now. */
size_t quic_replay_count(const struct quic_replay *r);

#endif
