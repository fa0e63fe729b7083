/* The ClientHello recording set: a second sighting is a replay until the entry expires, the set
 * is bounded, expiry and deletion keep every live entry findable (checked against a plain list
 * under random churn), and a clock that goes back does not pin entries. */
#include <stdlib.h>

#include "check.h"
#include "quic/replay.h"

static void make_id(uint8_t *id, size_t len, uint32_t n)
{
    for (size_t i = 0; i < len; i++)
        id[i] = (uint8_t)(n >> (8 * (i % 4)) ^ i);
}

static void test_basic(void)
{
    struct quic_replay *r = quic_replay_new(4, 60);
    uint8_t a[32], b[32];
    make_id(a, 32, 1);
    make_id(b, 32, 2);
    CHECK_INT(quic_replay_add(r, a, 32, 110, 100), QUIC_REPLAY_NEW);
    CHECK_INT(quic_replay_add(r, a, 32, 111, 101), QUIC_REPLAY_SEEN); /* the replay */
    CHECK_INT(quic_replay_add(r, b, 32, 111, 101), QUIC_REPLAY_NEW);
    CHECK_INT(quic_replay_add(r, a, 31, 111, 101), QUIC_REPLAY_NEW); /* length counts */
    CHECK_INT(quic_replay_count(r), 3);
    /* at its expiry the first one is forgotten (the window is over: the age check refuses it) */
    CHECK_INT(quic_replay_add(r, a, 32, 120, 110), QUIC_REPLAY_NEW);
    CHECK_INT(quic_replay_add(r, b, 32, 120, 110), QUIC_REPLAY_SEEN);
    quic_replay_free(r);
}

static void test_full(void)
{
    struct quic_replay *r = quic_replay_new(3, 100);
    uint8_t id[48];
    for (uint32_t n = 0; n < 3; n++) {
        make_id(id, 48, n);
        CHECK_INT(quic_replay_add(r, id, 48, 200, 100), QUIC_REPLAY_NEW);
    }
    make_id(id, 48, 9);
    CHECK_INT(quic_replay_add(r, id, 48, 200, 100), QUIC_REPLAY_FULL);
    make_id(id, 48, 1);
    CHECK_INT(quic_replay_add(r, id, 48, 200, 100), QUIC_REPLAY_SEEN); /* still a replay */
    make_id(id, 48, 9);
    CHECK_INT(quic_replay_add(r, id, 48, 300, 200), QUIC_REPLAY_NEW); /* room again */
    CHECK_INT(quic_replay_count(r), 1);
    quic_replay_free(r);
}

static void test_clock_back(void)
{
    struct quic_replay *r = quic_replay_new(2, 20);
    uint8_t id[32];
    make_id(id, 32, 5);
    CHECK_INT(quic_replay_add(r, id, 32, 1010, 1000), QUIC_REPLAY_NEW);
    /* the clock went back 900 s: the entry would live 910 s more, longer than any window */
    make_id(id, 32, 6);
    CHECK_INT(quic_replay_add(r, id, 32, 110, 100), QUIC_REPLAY_NEW);
    CHECK_INT(quic_replay_count(r), 1);
    quic_replay_free(r);
}

static void test_long_id(void)
{
    struct quic_replay *r = quic_replay_new(2, 60);
    uint8_t id[80];
    make_id(id, 80, 3);
    CHECK_INT(quic_replay_add(r, id, 80, 20, 10), QUIC_REPLAY_NEW);
    CHECK_INT(quic_replay_add(r, id, 80, 20, 10), QUIC_REPLAY_SEEN);
    quic_replay_free(r);
}

/* Random churn against a model: ids from a small space so that repeats are common. */
static void test_churn(void)
{
    enum { CAP = 64, SPACE = 200, WINDOW = 5 };
    struct quic_replay *r = quic_replay_new(CAP, WINDOW);
    uint64_t live_until[SPACE] = {0}; /* model: expiry of each id, 0 = absent */
    srand(7);
    uint64_t now = 1000;
    for (int step = 0; step < 20000; step++) {
        if (rand() % 8 == 0) now++;
        uint32_t n = (uint32_t)(rand() % SPACE);
        uint8_t id[32];
        make_id(id, 32, n);
        size_t live = 0;
        for (int k = 0; k < SPACE; k++) {
            if (live_until[k] && live_until[k] <= now) live_until[k] = 0;
            live += live_until[k] != 0;
        }
        enum quic_replay_result want = live_until[n] ? QUIC_REPLAY_SEEN
                                       : live == CAP ? QUIC_REPLAY_FULL
                                                     : QUIC_REPLAY_NEW;
        enum quic_replay_result got = quic_replay_add(r, id, 32, now + WINDOW, now);
        CHECK_INT(got, want);
        if (got != want) break;
        if (got == QUIC_REPLAY_NEW) live_until[n] = now + WINDOW;
        CHECK_INT(quic_replay_count(r), live + (got == QUIC_REPLAY_NEW));
    }
    quic_replay_free(r);
}

int main(void)
{
    CHECK(quic_replay_new(0, 10) == NULL);
    test_basic();
    test_full();
    test_clock_back();
    test_long_id();
    test_churn();
    return check_done("quic/replay");
}
