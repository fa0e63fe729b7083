/* A QPACK round trip simulation shared by the unit test and the fuzz target: an encoder and a
 * decoder joined by encoder/decoder streams whose bytes are delivered late and field sections
 * decoded out of order, driven by a byte source. Every decoded section must equal its input. */
#ifndef TERN_TEST_QPACK_SIM_H
#define TERN_TEST_QPACK_SIM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h3/qpack.h"
#include "h3/qpack_internal.h"

typedef unsigned (*sim_byte_fn)(void *src);

#define SIM_MAX_FIELDS 8
#define SIM_PENDING    6

struct sim_section {
    uint64_t stream_id;
    struct buf bytes;
    struct http_field want[SIM_MAX_FIELDS];
    size_t n;
    bool blocked;
};

struct sim_check {
    const struct sim_section *s;
    size_t i;
    bool bad;
};

static int sim_collect(void *ctx, str_t name, str_t value, enum http_token token, bool never)
{
    struct sim_check *c = ctx;
    (void)token;
    (void)never;
    if (c->i >= c->s->n) {
        c->bad = true;
        return 1;
    }
    const struct http_field *w = &c->s->want[c->i++];
    if (!str_eq_nocase(name, w->name) || !str_eq(value, w->value)) c->bad = true;
    return 0;
}

static const char *const sim_names[] = {":authority",    "server", "content-type",  "x-custom",
                                        "cache-control", "date",   "authorization", "Vary"};
static const char *const sim_values[] = {
    "www.example.com",    "tern", "text/html", "a", "", "no-cache", "max-age=60, public",
    "some longer value x"};

/* Decodes pending section k; returns -1 on a mismatch or error. */
static int sim_decode(struct qpack_decoder *d, struct sim_section *s, struct pool *pool)
{
    struct sim_check c = {s, 0, false};
    enum qpack_result r = qpack_decode_section(d, s->stream_id, (const uint8_t *)buf_ptr(&s->bytes),
                                               buf_size(&s->bytes), 1 << 20, pool, sim_collect, &c);
    if (r == QPACK_BLOCKED) {
        s->blocked = true;
        return 1;
    }
    if (r != QPACK_OK || c.bad || c.i != s->n) {
        fprintf(stderr, "qpack sim: ins %llu drop %llu sec %02x %02x %02x: ",
                (unsigned long long)d->table->inserted, (unsigned long long)d->table->dropped,
                (uint8_t)buf_ptr(&s->bytes)[0], (uint8_t)buf_ptr(&s->bytes)[1],
                (uint8_t)buf_ptr(&s->bytes)[2]);
        fprintf(stderr, "qpack sim: stream %llu result %d bad %d (%zu of %zu)\n",
                (unsigned long long)s->stream_id, r, c.bad, c.i, s->n);
        return -1;
    }
    return 0;
}

static void sim_drop(struct sim_section *pend, size_t *n_pend, size_t i)
{
    buf_free(&pend[i].bytes);
    pend[i] = pend[--*n_pend];
    memset(&pend[*n_pend], 0, sizeof(pend[*n_pend]));
}

/* Runs `steps` steps. cap/blocked: the decoder's settings. 0 when every section round-tripped. */
static int sim_run(sim_byte_fn next, void *src, size_t steps, size_t cap, size_t blocked)
{
    struct qpack_encoder e;
    struct qpack_decoder d;
    struct pool *pool = pool_create(4096);
    struct buf enc_stream = {0}, dec_stream = {0};
    struct sim_section pend[SIM_PENDING];
    size_t n_pend = 0;
    uint64_t next_stream = 0;
    int rc = 0;
    memset(pend, 0, sizeof(pend));
    qpack_encoder_init(&e);
    qpack_decoder_init(&d, cap, blocked);
    qpack_encoder_set_peer_settings(&e, cap, blocked);
    qpack_encoder_take_encoder_stream(&e, &enc_stream);
    for (size_t step = 0; step < steps && rc == 0; step++) {
        unsigned op = next(src) % 8;
        if (op < 3 && n_pend < SIM_PENDING) { /* encode a new section */
            struct sim_section *s = &pend[n_pend++];
            s->stream_id = next_stream;
            next_stream += 4;
            s->n = 1 + next(src) % SIM_MAX_FIELDS;
            s->blocked = false;
            for (size_t i = 0; i < s->n; i++) {
                const char *nm = sim_names[next(src) % 8], *v = sim_values[next(src) % 8];
                s->want[i] = (struct http_field){str_cstr(nm), str_cstr(v),
                                                 http_token_lookup(nm, strlen(nm))};
            }
            if (qpack_encode_section(&e, s->stream_id, s->want, s->n, &s->bytes) != QPACK_OK)
                rc = -1;
            if (qpack_encoder_take_encoder_stream(&e, &enc_stream) < 0) rc = -1;
        } else if (op < 5 && buf_size(&enc_stream)) { /* deliver part of the encoder stream */
            size_t k = 1 + next(src) % buf_size(&enc_stream);
            const uint8_t *p = (const uint8_t *)buf_ptr(&enc_stream);
            if (qpack_decoder_encoder_stream(&d, p, k) != QPACK_OK) {
                fprintf(stderr, "qpack sim: encoder stream error\n");
                rc = -1;
            }
            buf_consume(&enc_stream, k);
            uint64_t ids[SIM_PENDING];
            size_t n = qpack_decoder_take_unblocked(&d, ids, SIM_PENDING);
            for (size_t j = 0; j < n && rc == 0; j++) {
                for (size_t i = 0; i < n_pend; i++) {
                    if (pend[i].stream_id != ids[j]) continue;
                    int r = sim_decode(&d, &pend[i], pool);
                    if (r < 0)
                        rc = -1;
                    else if (r == 0)
                        sim_drop(pend, &n_pend, i);
                    break;
                }
            }
            qpack_decoder_take_decoder_stream(&d, &dec_stream);
        } else if (op < 7 && n_pend) { /* decode (or cancel) a pending section, in any order */
            size_t i = next(src) % n_pend;
            int r = 0;
            if (next(src) % 8 == 0)
                qpack_decoder_cancel_stream(&d, pend[i].stream_id);
            else
                r = sim_decode(&d, &pend[i], pool);
            if (r < 0)
                rc = -1;
            else if (r == 0)
                sim_drop(pend, &n_pend, i);
            qpack_decoder_take_decoder_stream(&d, &dec_stream);
        } else if (buf_size(&dec_stream)) { /* deliver part of the decoder stream */
            size_t k = 1 + next(src) % buf_size(&dec_stream);
            const uint8_t *p = (const uint8_t *)buf_ptr(&dec_stream);
            if (qpack_encoder_decoder_stream(&e, p, k) != QPACK_OK) {
                fprintf(stderr, "qpack sim: decoder stream error\n");
                rc = -1;
            }
            buf_consume(&dec_stream, k);
        }
        pool_reset(pool);
    }
    for (size_t i = 0; i < SIM_PENDING; i++)
        buf_free(&pend[i].bytes);
    buf_free(&enc_stream);
    buf_free(&dec_stream);
    qpack_encoder_free(&e);
    qpack_decoder_free(&d);
    pool_destroy(pool);
    return rc;
}

#endif
