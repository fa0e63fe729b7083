/* Digest nonces and their replay table, see auth_nonce.h. */
#include "handler/auth_nonce.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define MAC_LEN  16
#define WAYS     8
#define SETS     512 /* 4096 nonces in use at once */
#define TIME_LEN 8
#define SALT_LEN 8 /* random, so that two clients never share a nonce (nor its nc) */
#define HEAD_LEN (TIME_LEN + SALT_LEN)

static unsigned char key[32];
static bool key_ok;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void make_key(void)
{
    key_ok = RAND_bytes(key, sizeof(key)) == 1;
}

/* HMAC-SHA-256(key, tag || time || salt || realm), cut to MAC_LEN bytes. */
static int mac(char tag, const unsigned char head[HEAD_LEN], const char *realm, unsigned char *out)
{
    pthread_once(&key_once, make_key);
    if (!key_ok) return -1;
    unsigned char data[1 + HEAD_LEN + 256], md[EVP_MAX_MD_SIZE];
    size_t rlen = strlen(realm), n = 0;
    if (rlen > sizeof(data) - 1 - HEAD_LEN) rlen = sizeof(data) - 1 - HEAD_LEN;
    data[n++] = (unsigned char)tag;
    if (head) memcpy(data + n, head, HEAD_LEN), n += HEAD_LEN;
    memcpy(data + n, realm, rlen);
    unsigned mdlen = 0;
    if (!HMAC(EVP_sha256(), key, sizeof(key), data, n + rlen, md, &mdlen)) return -1;
    memcpy(out, md, MAC_LEN);
    return 0;
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = 0;
}

static bool from_hex(str_t s, unsigned char *out)
{
    for (size_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) return false;
        out[i / 2] = (unsigned char)(i % 2 ? out[i / 2] | v : v << 4);
    }
    return true;
}

int auth_nonce_make(const char *realm, int64_t now, char *out)
{
    unsigned char b[HEAD_LEN + MAC_LEN];
    for (int i = 0; i < TIME_LEN; i++)
        b[i] = (unsigned char)((uint64_t)now >> (56 - 8 * i));
    if (RAND_bytes(b + TIME_LEN, SALT_LEN) != 1 || mac('n', b, realm, b + HEAD_LEN) < 0) return -1;
    to_hex(b, sizeof(b), out);
    return 0;
}

/* The bytes of a nonce in hex: time, salt, MAC. */
static bool decode(str_t nonce, unsigned char b[HEAD_LEN + MAC_LEN])
{
    return nonce.len == AUTH_NONCE_LEN && from_hex(nonce, b);
}

static int64_t time_of(const unsigned char *b)
{
    uint64_t t = 0;
    for (int i = 0; i < TIME_LEN; i++)
        t = t << 8 | b[i];
    return (int64_t)(t & INT64_MAX);
}

/* The time a nonce was made, when it is ours for realm; -1 when not. */
static int64_t nonce_time(str_t nonce, const char *realm)
{
    unsigned char b[HEAD_LEN + MAC_LEN], want[MAC_LEN];
    if (!decode(nonce, b) || mac('n', b, realm, want) < 0 ||
        CRYPTO_memcmp(want, b + HEAD_LEN, MAC_LEN) != 0)
        return -1;
    return time_of(b);
}

enum auth_nonce_verdict auth_nonce_check(str_t nonce, const char *realm, int64_t now,
                                         double lifetime)
{
    int64_t t = nonce_time(nonce, realm);
    if (t < 0 || t > now + 1) return AUTH_NONCE_BAD; /* a nonce from the future is none of ours */
    return (double)(now - t) > lifetime ? AUTH_NONCE_STALE : AUTH_NONCE_OK;
}

int auth_opaque(const char *realm, char *out)
{
    unsigned char b[MAC_LEN];
    if (mac('o', NULL, realm, b) < 0) return -1;
    to_hex(b, sizeof(b), out);
    return 0;
}

/* ---- replay table: sets of WAYS entries, one lock a set ---- */

struct entry {
    unsigned char mac[MAC_LEN];
    int64_t made, expires; /* expires 0: free */
    uint32_t nc;
};

struct set {
    pthread_mutex_t lock;
    /* the newest `made` of a live entry this set forgot: a nonce made at or before it that is
     * not in the set may have been used, so it is stale rather than new */
    int64_t forgot;
    struct entry e[WAYS];
};

static struct set sets[SETS];
static pthread_once_t sets_once = PTHREAD_ONCE_INIT;

static void init_sets(void)
{
    for (size_t i = 0; i < SETS; i++)
        pthread_mutex_init(&sets[i].lock, NULL);
}

static bool live(const struct entry *e, int64_t now)
{
    return e->expires && e->expires >= now;
}

/* The entry for mac in s (*found), or the slot a new one takes: a free or expired one, else
 * the oldest. */
static struct entry *find(struct set *s, const unsigned char *m, int64_t now, bool *found)
{
    struct entry *slot = &s->e[0];
    *found = false;
    for (size_t i = 0; i < WAYS; i++) {
        struct entry *e = &s->e[i];
        if (live(e, now) && memcmp(e->mac, m, MAC_LEN) == 0) {
            *found = true;
            return e;
        }
        if (live(slot, now) && (!live(e, now) || e->made < slot->made)) slot = e;
    }
    return slot;
}

enum auth_nonce_verdict auth_nonce_use(str_t nonce, uint32_t nc, int64_t now, double lifetime)
{
    unsigned char b[HEAD_LEN + MAC_LEN];
    /* the caller checked it with auth_nonce_check; the MAC alone says which nonce it is */
    if (!decode(nonce, b)) return AUTH_NONCE_BAD;
    const unsigned char *m = b + HEAD_LEN;
    int64_t made = time_of(b);
    pthread_once(&sets_once, init_sets);
    struct set *s = &sets[(m[0] | m[1] << 8) % SETS];
    enum auth_nonce_verdict v = AUTH_NONCE_OK;
    pthread_mutex_lock(&s->lock);
    bool found;
    struct entry *e = find(s, m, now, &found);
    if (found) {
        if (nc <= e->nc)
            v = AUTH_NONCE_REPLAY;
        else
            e->nc = nc;
    } else if (made <= s->forgot) {
        v = AUTH_NONCE_STALE;
    } else {
        if (live(e, now) && e->made > s->forgot) s->forgot = e->made;
        memcpy(e->mac, m, MAC_LEN);
        e->made = made;
        e->expires = made + (int64_t)lifetime + 1;
        e->nc = nc;
    }
    pthread_mutex_unlock(&s->lock);
    return v;
}
