/* Session tickets and 0-RTT replay defence for QUIC, shared by every worker of the process:
 *
 * - one random secret per process (kept while any struct quic_certs lives, so across reloads)
 *   from which each certificate's ticket key is derived: GnuTLS then derives the key that
 *   seals from it and the time (a new one every 3 ticket lifetimes; the previous one still
 *   opens), and every worker derives the same keys;
 * - the ClientHello recording set (replay.c) behind a lock: GnuTLS's anti-replay check (RFC
 *   8446 §8.2) calls it for each ClientHello whose early data passed the freshness window.
 *   Each worker thread has its own gnutls_anti_replay_t (GnuTLS updates it unlocked); they all
 *   record into the one set, so a ClientHello replayed to another worker is caught too. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "quic/internal.h"
#include "quic/replay.h"

#define SECRET_LEN 64
/* GnuTLS prefixes the binder with its window's start time (tv_sec as 8 bytes, tv_nsec as 4);
 * the workers' windows start at different times, so the set keys on the binder alone. */
#define WINDOW_PREFIX_LEN 12

struct quic_keys {
    unsigned refs; /* under keys_lock */
    uint8_t secret[SECRET_LEN];
    pthread_mutex_t lock;       /* replay */
    struct quic_replay *replay; /* made when the first early data is checked */
    _Atomic uint64_t context;   /* the newest early_context */
};

static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static struct quic_keys *keys_current;

struct quic_keys *quic_keys_acquire(void)
{
    pthread_mutex_lock(&keys_lock);
    struct quic_keys *k = keys_current;
    if (!k && (k = calloc(1, sizeof(*k)))) {
        if (gnutls_rnd(GNUTLS_RND_KEY, k->secret, sizeof(k->secret)) != 0) {
            free(k);
            k = NULL;
        } else {
            pthread_mutex_init(&k->lock, NULL);
            keys_current = k;
        }
    }
    if (k) k->refs++;
    pthread_mutex_unlock(&keys_lock);
    return k;
}

void quic_keys_release(struct quic_keys *k)
{
    if (!k) return;
    pthread_mutex_lock(&keys_lock);
    bool last = --k->refs == 0;
    if (last) keys_current = NULL;
    pthread_mutex_unlock(&keys_lock);
    if (!last) return;
    quic_replay_free(k->replay);
    pthread_mutex_destroy(&k->lock);
    gnutls_memset(k->secret, 0, sizeof(k->secret));
    free(k);
}

int quic_keys_ticket_key(struct quic_keys *k, const gnutls_datum_t *cert_der,
                         uint8_t out[QUIC_TICKET_KEY_LEN])
{
    _Static_assert(QUIC_TICKET_KEY_LEN == 64, "GnuTLS's ticket master key is 64 bytes");
    uint8_t fp[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, cert_der->data, cert_der->size, fp) != 0) return -1;
    return gnutls_hmac_fast(GNUTLS_MAC_SHA512, k->secret, sizeof(k->secret), fp, sizeof(fp), out) ==
                   0
               ? 0
               : -1;
}

void quic_keys_set_context(struct quic_keys *k, uint64_t context)
{
    atomic_store(&k->context, context);
}

uint64_t quic_keys_context(struct quic_keys *k)
{
    return atomic_load(&k->context);
}

/* GnuTLS's database hook for ClientHello recording: 0 records (accept the early data),
 * GNUTLS_E_DB_ENTRY_EXISTS refuses it (a replay, or no room to record). */
static int record_client_hello(void *ptr, time_t exp_time, const gnutls_datum_t *key,
                               const gnutls_datum_t *data)
{
    (void)data;
    struct quic_keys *k = ptr;
    const uint8_t *id = key->data;
    size_t len = key->size;
    if (len > WINDOW_PREFIX_LEN) {
        id += WINDOW_PREFIX_LEN;
        len -= WINDOW_PREFIX_LEN;
    }
    time_t now = time(NULL);
    /* exp_time is in whole seconds: keep one more so that no entry leaves early */
    uint64_t keep = QUIC_EARLY_WINDOW_MS / 1000 + 2;
    enum quic_replay_result r = QUIC_REPLAY_FULL;
    pthread_mutex_lock(&k->lock);
    if (!k->replay) k->replay = quic_replay_new(QUIC_REPLAY_CAPACITY, keep);
    if (k->replay && now >= 0 && exp_time >= 0)
        r = quic_replay_add(k->replay, id, len, (uint64_t)exp_time + 1, (uint64_t)now);
    pthread_mutex_unlock(&k->lock);
    if (r == QUIC_REPLAY_NEW) return 0;
    if (r == QUIC_REPLAY_SEEN)
        log_info("QUIC: a ClientHello seen before came again: its 0-RTT data is refused "
                 "(RFC 8446 §8.2)");
    else
        log_warn("QUIC: the 0-RTT replay record is full (%d ClientHellos in %d s): 0-RTT "
                 "refused",
                 QUIC_REPLAY_CAPACITY, QUIC_EARLY_WINDOW_MS / 1000);
    return GNUTLS_E_DB_ENTRY_EXISTS;
}

struct quic_antireplay {
    atomic_uint refs;
    gnutls_anti_replay_t ar;
    struct quic_keys *keys;
};

struct quic_antireplay *quic_antireplay_new(struct quic_keys *keys)
{
    struct quic_antireplay *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    if (gnutls_anti_replay_init(&a->ar) != 0) {
        free(a);
        return NULL;
    }
    atomic_init(&a->refs, 1);
    pthread_mutex_lock(&keys_lock);
    keys->refs++;
    pthread_mutex_unlock(&keys_lock);
    a->keys = keys;
    gnutls_anti_replay_set_window(a->ar, QUIC_EARLY_WINDOW_MS);
    gnutls_anti_replay_set_add_function(a->ar, record_client_hello);
    gnutls_anti_replay_set_ptr(a->ar, keys);
    return a;
}

void quic_antireplay_retain(struct quic_antireplay *a)
{
    atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
}

void quic_antireplay_release(struct quic_antireplay *a)
{
    if (!a || atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) != 1) return;
    gnutls_anti_replay_deinit(a->ar);
    quic_keys_release(a->keys);
    free(a);
}

gnutls_anti_replay_t quic_antireplay_get(const struct quic_antireplay *a)
{
    return a->ar;
}
