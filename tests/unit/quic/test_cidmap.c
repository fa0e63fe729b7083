/* The connection ID routing table. */
#include "check.h"
#include "quic/cidmap.h"

static void make_cid(uint8_t *cid, int i)
{
    for (int j = 0; j < 18; j++)
        cid[j] = (uint8_t)(j * 13);
    cid[3] = (uint8_t)i;
    cid[9] = (uint8_t)(i >> 8);
}

int main(void)
{
    struct cidmap m;
    cidmap_init(&m, 12345);
    int vals[3];
    uint8_t cid[20];
    for (int i = 0; i < 1000; i++) {
        make_cid(cid, i);
        CHECK(cidmap_put(&m, cid, 18, &vals[i % 3]));
    }
    CHECK_INT(m.count, 1000);
    make_cid(cid, 500);
    CHECK(cidmap_get(&m, cid, 18) == &vals[500 % 3]);
    CHECK(cidmap_get(&m, cid, 17) == NULL); /* the length is part of the key */
    cidmap_del(&m, cid, 18, &vals[0]);      /* not its value: kept */
    CHECK(cidmap_get(&m, cid, 18) != NULL);
    cidmap_del(&m, cid, 18, &vals[500 % 3]);
    CHECK(cidmap_get(&m, cid, 18) == NULL);
    CHECK_INT(m.count, 999);
    CHECK(!cidmap_put(&m, cid, 21, &vals[0])); /* longer than any QUIC CID */
    CHECK(cidmap_put(&m, cid, 0, &vals[1]));   /* zero-length CIDs are keys too */
    CHECK(cidmap_get(&m, cid, 0) == &vals[1]);
    cidmap_free(&m);
    return check_done("quic/cidmap");
}
