/* Virtual-host and location routing, listen address parsing and the scalar value parsers. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "server/config.h"
#include "server/regex.h"
#include "server/config_internal.h"

static const struct config_server *host(const struct config *cfg, const char *h)
{
    return config_find_server(cfg, h, strlen(h));
}

static const char *loc_path(const struct config_server *srv, const char *p)
{
    const struct config_location *loc = config_find_location(srv, p, strlen(p));
    return loc ? loc->path : "(null)";
}

static void test_servers(void)
{
    char err[256] = "";
    const char *yaml = "root: /\n"
                       "servers:\n"
                       "  - names: [first.test]\n"
                       "  - names: [example.com, \"*.example.org\", \"*.deep.example.org\"]\n"
                       "  - names: [a.example.org]\n"
                       "  - names: [dflt.test]\n"
                       "    default: true\n"
                       "  - names: [\"*.com\"]\n";
    struct config *cfg = config_load_buffer("t", yaml, strlen(yaml), err, sizeof(err));
    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (!cfg) return;
    const struct config_server *s = cfg->servers;
    CHECK(host(cfg, "first.test") == &s[0]);
    CHECK(host(cfg, "example.com") == &s[1]);
    CHECK(host(cfg, "EXAMPLE.com") == &s[1]);  /* case-insensitive */
    CHECK(host(cfg, "example.com.") == &s[1]); /* one trailing dot */
    CHECK(host(cfg, "example.com..") == &s[3]);
    /* exact beats a wildcard even when the wildcard's server comes first */
    CHECK(host(cfg, "a.example.org") == &s[2]);
    CHECK(host(cfg, "b.example.org") == &s[1]);
    CHECK(host(cfg, "x.y.example.org") == &s[1]);
    CHECK(host(cfg, "example.org") == &s[3]); /* the wildcard needs a label before it */
    CHECK(host(cfg, ".example.org") == &s[3]);
    CHECK(host(cfg, "x.deep.example.org") == &s[1]); /* longest wildcard suffix wins */
    CHECK(host(cfg, "www.example.com") == &s[4]);
    CHECK(host(cfg, "unknown.test") == &s[3]); /* the default */
    CHECK(host(cfg, "") == &s[3]);
    CHECK(config_find_server(cfg, "first.testXYZ", 10) == &s[0]); /* length, not NUL */
    CHECK(host(cfg, "first.tes") == &s[3]);
    config_free(cfg);

    /* without default: true the first server is the default */
    yaml = "root: /\nservers:\n  - names: a.test\n  - names: b.test\n";
    cfg = config_load_buffer("t", yaml, strlen(yaml), err, sizeof(err));
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK_INT(cfg->default_server, 0);
        CHECK(cfg->servers[0].is_default);
        CHECK(host(cfg, "b.test") == &cfg->servers[1]);
        CHECK(host(cfg, "c.test") == &cfg->servers[0]);
    }
    config_free(cfg);

    cfg = config_default("/");
    CHECK(cfg != NULL);
    if (cfg) CHECK(host(cfg, "anything") == &cfg->servers[0]);
    config_free(cfg);
}

static void test_locations(void)
{
    char err[256] = "";
    const char *yaml = "servers:\n"
                       "  - root: /\n"
                       "    locations:\n"
                       "      - path: /downloads/\n"
                       "        root: /tmp\n"
                       "      - path: /downloads/big/\n"
                       "      - path: /static\n"
                       "        root: /tmp\n"
                       "      - path: /a\n";
    struct config *cfg = config_load_buffer("t", yaml, strlen(yaml), err, sizeof(err));
    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (!cfg) return;
    const struct config_server *srv = &cfg->servers[0];
    CHECK_INT(srv->n_locations, 5);
    CHECK_STR(loc_path(srv, "/"), "/");
    CHECK_STR(loc_path(srv, "/index.html"), "/");
    CHECK_STR(loc_path(srv, "/downloads/"), "/downloads/");
    CHECK_STR(loc_path(srv, "/downloads/x.tar"), "/downloads/");
    CHECK_STR(loc_path(srv, "/downloads"), "/"); /* documented: no trailing-slash match */
    CHECK_STR(loc_path(srv, "/downloads/big/file"), "/downloads/big/");
    CHECK_STR(loc_path(srv, "/downloads/bigger"), "/downloads/");
    CHECK_STR(loc_path(srv, "/static"), "/static");
    CHECK_STR(loc_path(srv, "/static/css/a.css"), "/static");
    CHECK_STR(loc_path(srv, "/staticx"), "/"); /* segment boundary */
    CHECK_STR(loc_path(srv, "/a"), "/a");
    CHECK_STR(loc_path(srv, "/ab"), "/");
    CHECK_STR(loc_path(srv, "/a/b"), "/a");
    CHECK_STR(loc_path(srv, "/A"), "/"); /* paths are case-sensitive */
    CHECK_STR(loc_path(srv, "*"), "/");  /* OPTIONS * still gets a location */
    CHECK_STR(loc_path(srv, ""), "/");

    /* what each location appends to its root */
    size_t n;
    const char *p;
    const struct config_location *dl = config_find_location(srv, "/downloads/x.tar", 16);
    p = config_location_subpath(dl, "/downloads/x.tar", 16, &n);
    CHECK_STRN(p, n, "/x.tar");
    p = config_location_subpath(dl, "/downloads/", 11, &n);
    CHECK_STRN(p, n, "/");
    const struct config_location *st = config_find_location(srv, "/static/a.css", 13);
    p = config_location_subpath(st, "/static/a.css", 13, &n);
    CHECK_STRN(p, n, "/a.css");
    p = config_location_subpath(st, "/static", 7, &n);
    CHECK_STRN(p, n, "/");
    const struct config_location *big = config_find_location(srv, "/downloads/big/f", 16);
    CHECK(!big->own_root);
    p = config_location_subpath(big, "/downloads/big/f", 16, &n);
    CHECK_STRN(p, n, "/downloads/big/f"); /* inherited root: the whole path */
    CHECK_STR(big->root, "/");
    config_free(cfg);
}

static void test_listen(void)
{
    struct config_listen l;
    struct {
        const char *in, *host;
        int port;
    } ok[] = {
        {"127.0.0.1:8080", "127.0.0.1", 8080},
        {"[::1]:8080", "::1", 8080},
        {"[::]:443", "::", 443},
        {"localhost:8080", "localhost", 8080},
        {":8080", "0.0.0.0", 8080},
        {"8080", "0.0.0.0", 8080},
        {"*:80", "0.0.0.0", 80},
        {"1", "0.0.0.0", 1},
        {"0.0.0.0:65535", "0.0.0.0", 65535},
        {"[fe80::1]:1", "fe80::1", 1},
        {"Example.COM:81", "Example.COM", 81},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        memset(&l, 0, sizeof(l));
        int rc = config_parse_listen(ok[i].in, &l);
        CHECK_INT(rc, 0);
        if (rc == 0) {
            CHECK_STR(l.host, ok[i].host);
            CHECK_INT(l.port, ok[i].port);
            free(l.host);
        }
    }
    const char *bad[] = {"",
                         ":",
                         "0",
                         "65536",
                         "127.0.0.1:0",
                         "127.0.0.1",
                         "127.0.0.1:",
                         "127.0.0.1:80x",
                         "127.0.0.1:-1",
                         "127.0.0.1:+80",
                         "::1:8080",
                         "[::1]",
                         "[::1]8080",
                         "[::1]:",
                         "[nothost]:80",
                         "[127.0.0.1]:80",
                         "bad host:80",
                         "host/x:80",
                         "99999999999999999999",
                         "[::1]:080808"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l.host = NULL;
        int rc = config_parse_listen(bad[i], &l);
        if (rc != -1) fprintf(stderr, "accepted bad listen '%s'\n", bad[i]);
        CHECK_INT(rc, -1);
        CHECK(l.host == NULL);
    }
    CHECK_INT(config_parse_listen(NULL, &l), -1);
}

static void test_scalars(void)
{
    bool b = false;
    CHECK(config_parse_bool("true", &b) == 0 && b);
    CHECK(config_parse_bool("YES", &b) == 0 && b);
    CHECK(config_parse_bool("On", &b) == 0 && b);
    CHECK(config_parse_bool("false", &b) == 0 && !b);
    CHECK(config_parse_bool("no", &b) == 0 && !b);
    CHECK(config_parse_bool("off", &b) == 0 && !b);
    CHECK_INT(config_parse_bool("1", &b), -1);
    CHECK_INT(config_parse_bool("y", &b), -1);
    CHECK_INT(config_parse_bool("", &b), -1);

    uint64_t u = 0;
    CHECK(config_parse_uint("0", false, &u) == 0 && u == 0);
    CHECK(config_parse_uint("1048576", false, &u) == 0 && u == 1048576);
    CHECK(config_parse_uint("1k", true, &u) == 0 && u == 1024);
    CHECK(config_parse_uint("8M", true, &u) == 0 && u == 8u << 20);
    CHECK(config_parse_uint("2g", true, &u) == 0 && u == UINT64_C(2) << 30);
    CHECK(config_parse_uint("18446744073709551615", false, &u) == 0 && u == UINT64_MAX);
    CHECK_INT(config_parse_uint("18446744073709551616", false, &u), -2);
    CHECK_INT(config_parse_uint("17179869184g", true, &u), -2);
    CHECK_INT(config_parse_uint("1k", false, &u), -1);
    CHECK_INT(config_parse_uint("1kb", true, &u), -1);
    CHECK_INT(config_parse_uint("1t", true, &u), -1);
    CHECK_INT(config_parse_uint("k", true, &u), -1);
    CHECK_INT(config_parse_uint("", false, &u), -1);
    CHECK_INT(config_parse_uint("-1", false, &u), -1);
    CHECK_INT(config_parse_uint("+1", false, &u), -1);
    CHECK_INT(config_parse_uint(" 1", false, &u), -1);
    CHECK_INT(config_parse_uint("0x10", false, &u), -1);
    CHECK_INT(config_parse_uint("1.5k", true, &u), -1);

    double d = 0;
    CHECK(config_parse_duration("10", &d) == 0 && d == 10);
    CHECK(config_parse_duration("2.5", &d) == 0 && d == 2.5);
    CHECK(config_parse_duration(".5", &d) == 0 && d == 0.5);
    CHECK(config_parse_duration("3.", &d) == 0 && d == 3);
    CHECK(config_parse_duration("500ms", &d) == 0 && d == 0.5);
    CHECK(config_parse_duration("10s", &d) == 0 && d == 10);
    CHECK(config_parse_duration("2m", &d) == 0 && d == 120);
    CHECK(config_parse_duration("1h", &d) == 0 && d == 3600);
    CHECK(config_parse_duration("0", &d) == 0 && d == 0);
    CHECK_INT(config_parse_duration("", &d), -1);
    CHECK_INT(config_parse_duration(".", &d), -1);
    CHECK_INT(config_parse_duration("s", &d), -1);
    CHECK_INT(config_parse_duration("-1", &d), -1);
    CHECK_INT(config_parse_duration("1e3", &d), -1);
    CHECK_INT(config_parse_duration("inf", &d), -1);
    CHECK_INT(config_parse_duration("nan", &d), -1);
    CHECK_INT(config_parse_duration("1.2.3", &d), -1);
    CHECK_INT(config_parse_duration("10 s", &d), -1);
    CHECK_INT(config_parse_duration("10us", &d), -1);
    CHECK_INT(config_parse_duration("9999999999999999999", &d), -2);
}

/* The precedence table (docs/config.md): exact paths, then regexes in the order of the file,
 * then the longest prefix; a regex's captures come back. */
static void test_precedence(void)
{
    char err[256] = "";
    const char *yaml = "servers:\n"
                       "  - root: /\n"
                       "    locations:\n"
                       "      - path: /img/\n"
                       "      - regex: \"\\\\.(png|jpg)$\"\n"
                       "      - regex: \"^/img/(.+)/(.+)\\\\.png$\"\n"
                       "      - exact: /img/logo.png\n"
                       "      - path: /img/raw/\n";
    struct config *cfg = config_load_buffer("t", yaml, strlen(yaml), err, sizeof(err));
    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (!cfg) return;
    const struct config_server *srv = &cfg->servers[0];
    CHECK_STR(loc_path(srv, "/img/logo.png"), "/img/logo.png");  /* exact first */
    CHECK_STR(loc_path(srv, "/img/a/b.png"), "\\.(png|jpg)$");   /* the first regex */
    CHECK_STR(loc_path(srv, "/img/raw/x.jpg"), "\\.(png|jpg)$"); /* a regex beats a prefix */
    CHECK_STR(loc_path(srv, "/img/raw/x.gif"), "/img/raw/");      /* then the longest prefix */
    CHECK_STR(loc_path(srv, "/img/x.gif"), "/img/");
    CHECK_STR(loc_path(srv, "/other"), "/");
    str_t caps[REGEX_MAX_CAPTURES + 1];
    const char *p = "/img/dir/name.jpg";
    const struct config_location *loc = config_match_location(srv, p, strlen(p), caps);
    CHECK(loc && loc->kind == CONFIG_LOC_REGEX && loc->n_captures == 1);
    CHECK_STRN(caps[1].p, caps[1].len, "jpg");
    CHECK_INT(caps[2].len, 0); /* a group the pattern does not have is empty */
    config_free(cfg);
}

int main(void)
{
    test_servers();
    test_locations();
    test_precedence();
    test_listen();
    test_scalars();
    return check_done("server/route");
}
