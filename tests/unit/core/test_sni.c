/* Certificate choice by server name: exact names, the longest wildcard, names without a
 * certificate of their own, case and a trailing dot. */
#include "check.h"
#include "core/sni.h"

#define NAME(s, c)                                                                                 \
    {                                                                                              \
        (char *)(s), sizeof(s) - 1, (c)                                                            \
    }

int main(void)
{
    const struct sni_name names[] = {
        NAME("a.test", 1),          NAME("*.b.test", 2),
        NAME("*.x.b.test", 3),      NAME("plain.b.test", SIZE_MAX),
        NAME("*.c.test", SIZE_MAX),
    };
    const size_t n = sizeof(names) / sizeof(names[0]);
    static const struct {
        const char *host;
        size_t cert;
    } cases[] = {
        {"a.test", 1},       {"A.Test", 1},   {"a.test.", 1},    {"www.a.test", 0},
        {"b.test", 0},       {"w.b.test", 2}, {"a.w.b.test", 2}, {"y.x.b.test", 3},
        {"plain.b.test", 0}, {"q.c.test", 0}, {"", 0},           {"unknown", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INT(sni_lookup(names, n, cases[i].host, strlen(cases[i].host)), cases[i].cert);
    CHECK_INT(sni_lookup(NULL, 0, "a.test", 6), 0);
    return check_done("core/sni");
}
