/* Alt-Svc (RFC 7838): the field's grammar, and the cache's rules (a new field replaces the
 * origin's entries, "clear" forgets them, ma expires them), through a file and back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "client/altsvc.h"

static int parse(const char *v, struct altsvc_alt *alts, bool *clear)
{
    return altsvc_parse(str_cstr(v), alts, ALTSVC_MAX_ALTS, clear);
}

static void test_parse(void)
{
    struct altsvc_alt a[ALTSVC_MAX_ALTS];
    bool clear;
    CHECK_INT(parse("h3=\":443\"; ma=86400", a, &clear), 1);
    CHECK(!clear && !strcmp(a[0].alpn, "h3") && a[0].host[0] == 0 && a[0].port == 443);
    CHECK_INT(a[0].max_age, 86400);
    /* RFC 7838 §3's examples */
    CHECK_INT(parse("h2=\"new.example.org:80\"", a, &clear), 1);
    CHECK(!strcmp(a[0].host, "new.example.org") && a[0].port == 80);
    CHECK_INT(a[0].max_age, ALTSVC_DEFAULT_MA);
    CHECK_INT(parse("h2=\":443\"; ma=2592000; persist=1", a, &clear), 1);
    CHECK_INT(a[0].max_age, 2592000);
    CHECK_INT(parse("w%3D%3D=\":443\"", a, &clear), 1);
    CHECK(!strcmp(a[0].alpn, "w=="));
    CHECK_INT(parse("h3-29=\":8443\", h3=\"[::1]:9443\";ma=60 , h2=\"alt.test:443\"", a, &clear),
              3);
    CHECK(!strcmp(a[1].alpn, "h3") && !strcmp(a[1].host, "::1") && a[1].port == 9443);
    CHECK_INT(a[1].max_age, 60);
    CHECK(!strcmp(a[2].host, "alt.test"));
    CHECK_INT(parse(" clear ", a, &clear), 0);
    CHECK(clear);
    CHECK_INT(parse("h3=\":443\"; foo=\"a;b\"", a, &clear), 1);
    /* malformed: each is refused whole */
    const char *bad[] = {
        "h3=:443",          "h3=\":\"",  "h3=\":0\"",       "h3=\":65536\"",     "h3=\"host\"",
        "h3=\":443\" junk", "=\":443\"", "h3=\":443\"; ma", "h3=\":443\"; ma=x", "h3=\"a b:1\"",
        "h%4=\":443\"",     "h3=\":443", "Clear",           "h3=\"[::1:443\"",   "h3=\":44a3\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse(bad[i], a, &clear);
        if (r != -1) fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK_INT(r, -1);
    }
}

static void test_cache(void)
{
    static struct altsvc_cache c, d;
    int64_t now = 1000000;
    altsvc_update(&c, "a.test", 443, STR_LIT("h3=\":8443\"; ma=100, h2=\"b.test:443\""), now);
    const struct altsvc_entry *e = altsvc_lookup(&c, "a.test", 443, "h3", now);
    CHECK(e && !strcmp(e->host, "a.test") && e->port == 8443);
    CHECK(altsvc_lookup(&c, "a.test", 443, "h2", now) != NULL);
    CHECK(altsvc_lookup(&c, "a.test", 8443, "h3", now) == NULL);
    CHECK(altsvc_lookup(&c, "a.test", 443, "h3", now + 100) == NULL); /* ma passed */
    /* a new field replaces the old alternatives; a malformed one changes nothing */
    altsvc_update(&c, "a.test", 443, STR_LIT("h3=\":9443\""), now);
    CHECK(altsvc_lookup(&c, "a.test", 443, "h2", now) == NULL);
    altsvc_update(&c, "a.test", 443, STR_LIT("h3=broken"), now);
    e = altsvc_lookup(&c, "a.test", 443, "h3", now);
    CHECK(e && e->port == 9443);
    altsvc_update(&c, "z.test", 443, STR_LIT("h3=\":443\""), now);
    /* through a file */
    char path[] = "/tmp/tern-altsvc-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_INT(altsvc_save(&c, path), 0);
    altsvc_load(&d, path, now);
    CHECK_INT(d.n, 2);
    e = altsvc_lookup(&d, "a.test", 443, "h3", now);
    CHECK(e && e->port == 9443);
    altsvc_load(&d, path, now + ALTSVC_DEFAULT_MA + 1); /* all expired on the way in */
    CHECK_INT(d.n, 0);
    /* clear and forget */
    altsvc_update(&c, "a.test", 443, STR_LIT("clear"), now);
    CHECK(altsvc_lookup(&c, "a.test", 443, "h3", now) == NULL);
    altsvc_forget(&c, "z.test", 443, "h3");
    CHECK_INT(c.n, 0);
    /* bounded: the oldest entries go */
    for (int i = 0; i < ALTSVC_MAX_CACHED + 10; i++) {
        char host[32];
        snprintf(host, sizeof(host), "h%d.test", i);
        altsvc_update(&c, host, 443, STR_LIT("h3=\":443\""), now);
    }
    CHECK_INT(c.n, ALTSVC_MAX_CACHED);
    CHECK(altsvc_lookup(&c, "h0.test", 443, "h3", now) == NULL);
    CHECK(altsvc_lookup(&c, "h73.test", 443, "h3", now) != NULL);
    unlink(path);
}

int main(void)
{
    test_parse();
    test_cache();
    return check_done("client/altsvc");
}
