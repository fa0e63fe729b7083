/* The YAML loader: a full configuration, every kind of error with its line, defaults, inheritance
 * and the example file. Run under ASan, the error cases double as leak tests of config_free. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/log.h"
#include "server/config.h"

static char tmp[PATH_MAX]; /* realpath of a fresh temp dir holding www/ and files/ */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static struct config *load(const char *yaml, char *err, size_t errlen)
{
    return config_load_buffer("t.yaml", yaml, strlen(yaml), err, errlen);
}

/* The loader must refuse yaml with exactly the message want. */
#define EXPECT_ERROR(yaml, want)                                                                   \
    do {                                                                                           \
        char err_[512] = "";                                                                       \
        struct config *c_ = load((yaml), err_, sizeof(err_));                                      \
        CHECK(c_ == NULL);                                                                         \
        config_free(c_);                                                                           \
        CHECK_STR(err_, (want));                                                                   \
    } while (0)

static const char full_yaml[] = "# the schema's example\n"      /* 1 */
                                "workers: 2\n"                  /* 2 */
                                "listen:\n"                     /* 3 */
                                "  - 127.0.0.1:8080\n"          /* 4 */
                                "  - \"[::1]:8443\"\n"          /* 5 */
                                "access_log: logs/access.log\n" /* 6 */
                                "error_log: stderr\n"           /* 7 */
                                "log_level: debug\n"            /* 8 */
                                "limits:\n"                     /* 9 */
                                "  request_line: 4k\n"          /* 10 */
                                "  header_size: 32768\n"        /* 11 */
                                "  header_count: 50\n"          /* 12 */
                                "  body_size: 2m\n"             /* 13 */
                                "  pipeline: 8\n"               /* 14 */
                                "  keepalive_requests: 500\n"   /* 15 */
                                "  ranges: 4\n"                 /* 16 */
                                "  connections: 1000\n"         /* 17 */
                                "timeouts:\n"                   /* 18 */
                                "  header: 5\n"                 /* 19 */
                                "  keepalive: 500ms\n"          /* 20 */
                                "  body: 2.5\n"                 /* 21 */
                                "  send: 10s\n"                 /* 22 */
                                "  graceful: 0\n"               /* 23 */
                                "http1:\n"                      /* 24 */
                                "  http09: no\n"                /* 25 */
                                "  allow_bare_lf: yes\n"        /* 26 */
                                "  allow_obs_fold: on\n"        /* 27 */
                                "compression:\n"                /* 28 */
                                "  on_the_fly: false\n"         /* 29 */
                                "  min_size: 1k\n"              /* 30 */
                                "  max_size: 8m\n"              /* 31 */
                                "  gzip_level: 9\n"             /* 32 */
                                "  brotli_level: 11\n"          /* 33 */
                                "  zstd_level: 19\n"            /* 34 */
                                "  precompressed: off\n"        /* 35 */
                                "root: www\n"                   /* 36 */
                                "servers:\n"                    /* 37 */
                                "  - names: [Example.com, \"*.example.org\"]\n"
                                "    root: www\n"
                                "    locations:\n"
                                "      - path: /\n"
                                "        index: [index.html, index.htm]\n"
                                "        listing: false\n"
                                "        cache_control: \"public, max-age=60\"\n"
                                "        methods: [GET, HEAD, OPTIONS]\n"
                                "        trace: false\n"
                                "        symlinks_outside_root: false\n"
                                "        compress: true\n"
                                "      - path: /downloads/\n"
                                "        root: files\n"
                                "        listing: true\n"
                                "        dotfiles: yes\n"
                                "      - path: /static\n"
                                "        methods: [GET, HEAD, TRACE]\n"
                                "  - names: other.test\n"
                                "    default: true\n"
                                "  - names: [third.test]\n";

static void test_full(void)
{
    char path[PATH_MAX + 32], www[PATH_MAX + 32], files[PATH_MAX + 32], log[PATH_MAX + 32];
    char err[512] = "";
    snprintf(path, sizeof(path), "%s/tern.yaml", tmp);
    snprintf(www, sizeof(www), "%s/www", tmp);
    snprintf(files, sizeof(files), "%s/files", tmp);
    snprintf(log, sizeof(log), "%s/logs/access.log", tmp);
    write_file(path, full_yaml);
    struct config *cfg = config_load_file(path, err, sizeof(err));
    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (!cfg) return;
    CHECK_STR(cfg->source, path);
    CHECK_INT(cfg->workers, 2);
    CHECK_INT(cfg->n_listens, 2);
    CHECK_STR(cfg->listens[0].host, "127.0.0.1");
    CHECK_INT(cfg->listens[0].port, 8080);
    CHECK_STR(cfg->listens[1].host, "::1");
    CHECK_INT(cfg->listens[1].port, 8443);
    CHECK_STR(cfg->access_log, log); /* relative to the file's directory */
    CHECK_STR(cfg->error_log, "stderr");
    CHECK_INT(cfg->log_level, LOG_DEBUG);
    CHECK_INT(cfg->limits.request_line, 4096);
    CHECK_INT(cfg->limits.header_size, 32768);
    CHECK_INT(cfg->limits.header_count, 50);
    CHECK_INT(cfg->limits.body_size, 2 * 1024 * 1024);
    CHECK_INT(cfg->limits.pipeline, 8);
    CHECK_INT(cfg->limits.keepalive_requests, 500);
    CHECK_INT(cfg->limits.ranges, 4);
    CHECK_INT(cfg->limits.connections, 1000);
    CHECK(cfg->timeouts.header == 5);
    CHECK(cfg->timeouts.keepalive == 0.5);
    CHECK(cfg->timeouts.body == 2.5);
    CHECK(cfg->timeouts.send == 10);
    CHECK(cfg->timeouts.graceful == 0);
    CHECK(!cfg->http1.http09);
    CHECK(cfg->http1.allow_bare_lf);
    CHECK(cfg->http1.allow_obs_fold);
    CHECK(!cfg->compression.on_the_fly);
    CHECK_INT(cfg->compression.min_size, 1024);
    CHECK_INT(cfg->compression.max_size, 8 * 1024 * 1024);
    CHECK_INT(cfg->compression.gzip_level, 9);
    CHECK_INT(cfg->compression.brotli_level, 11);
    CHECK_INT(cfg->compression.zstd_level, 19);
    CHECK(!cfg->compression.precompressed);

    CHECK_INT(cfg->n_servers, 3);
    CHECK_INT(cfg->default_server, 1);
    const struct config_server *s0 = &cfg->servers[0];
    CHECK_INT(s0->n_names, 2);
    CHECK_STR(s0->names[0], "example.com"); /* lower-cased */
    CHECK_STR(s0->names[1], "*.example.org");
    CHECK_STR(s0->root, www);
    CHECK(!s0->is_default);
    CHECK(cfg->servers[1].is_default);
    CHECK(!cfg->servers[2].is_default);
    CHECK_INT(s0->n_locations, 3);
    /* longest first */
    CHECK_STR(s0->locations[0].path, "/downloads/");
    CHECK_INT(s0->locations[0].path_len, 11);
    CHECK_STR(s0->locations[1].path, "/static");
    CHECK_STR(s0->locations[2].path, "/");
    const struct config_location *dl = &s0->locations[0], *st = &s0->locations[1];
    const struct config_location *slash = &s0->locations[2];
    CHECK_STR(dl->root, files);
    CHECK(dl->own_root);
    CHECK(dl->listing);
    CHECK(dl->dotfiles);
    CHECK_INT(dl->n_index, 1);
    CHECK_STR(dl->index[0], "index.html");
    CHECK(dl->cache_control == NULL);
    CHECK_INT(dl->methods, CONFIG_METHOD_GET | CONFIG_METHOD_HEAD | CONFIG_METHOD_OPTIONS);
    CHECK(dl->compress);
    CHECK_STR(st->root, www); /* inherited */
    CHECK(!st->own_root);
    CHECK(st->trace); /* TRACE in methods turns trace on */
    CHECK_INT(st->methods, CONFIG_METHOD_GET | CONFIG_METHOD_HEAD | CONFIG_METHOD_TRACE);
    CHECK_INT(slash->n_index, 2);
    CHECK_STR(slash->index[1], "index.htm");
    CHECK_STR(slash->cache_control, "public, max-age=60");
    CHECK(!slash->listing);
    CHECK(!slash->trace);
    CHECK(!slash->symlinks_outside_root);
    CHECK(!slash->dotfiles);
    CHECK(!st->dotfiles);
    /* the servers without root inherit the top-level one and get a "/" location */
    CHECK_STR(cfg->servers[1].root, www);
    CHECK_INT(cfg->servers[1].n_locations, 1);
    CHECK_STR(cfg->servers[1].locations[0].path, "/");
    CHECK_STR(cfg->servers[1].locations[0].root, www);
    CHECK_STR(cfg->servers[2].names[0], "third.test");
    config_free(cfg);

    /* the same through a buffer: relative roots resolve against the current directory */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    CHECK(chdir(tmp) == 0);
    cfg = config_load_buffer("buf", full_yaml, strlen(full_yaml), err, sizeof(err));
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK(cfg->source == NULL);
        CHECK_STR(cfg->servers[0].root, www);
        CHECK_STR(cfg->access_log, "logs/access.log");
    }
    config_free(cfg);
    CHECK(chdir(cwd) == 0);
}

static void test_defaults(void)
{
    struct config *cfg = config_default("/tmp");
    CHECK(cfg != NULL);
    if (!cfg) return;
    char tmpreal[PATH_MAX];
    CHECK(realpath("/tmp", tmpreal) != NULL);
    CHECK(cfg->source == NULL);
    CHECK_INT(cfg->workers, 0);
    CHECK_INT(cfg->n_listens, 1);
    CHECK_STR(cfg->listens[0].host, "127.0.0.1");
    CHECK_INT(cfg->listens[0].port, 8080);
    CHECK_STR(cfg->access_log, "off");
    CHECK_STR(cfg->error_log, "stderr");
    CHECK_INT(cfg->log_level, LOG_INFO);
    CHECK_INT(cfg->limits.request_line, 8192);
    CHECK_INT(cfg->limits.header_size, 32768);
    CHECK_INT(cfg->limits.header_count, 100);
    CHECK_INT(cfg->limits.body_size, 1048576);
    CHECK_INT(cfg->limits.pipeline, 16);
    CHECK_INT(cfg->limits.keepalive_requests, 1000);
    CHECK_INT(cfg->limits.ranges, 16);
    CHECK_INT(cfg->limits.connections, 16384);
    CHECK(cfg->timeouts.header == 10);
    CHECK(cfg->timeouts.keepalive == 30);
    CHECK(cfg->timeouts.body == 10);
    CHECK(cfg->timeouts.send == 10);
    CHECK(cfg->timeouts.graceful == 10);
    CHECK(cfg->http1.http09);
    CHECK(!cfg->http1.allow_bare_lf);
    CHECK(!cfg->http1.allow_obs_fold);
    CHECK(cfg->compression.on_the_fly);
    CHECK_INT(cfg->compression.min_size, 1024);
    CHECK_INT(cfg->compression.max_size, 8 * 1024 * 1024);
    CHECK_INT(cfg->compression.gzip_level, 6);
    CHECK_INT(cfg->compression.brotli_level, 4);
    CHECK_INT(cfg->compression.zstd_level, 3);
    CHECK(cfg->compression.precompressed);
    CHECK_INT(cfg->n_servers, 1);
    CHECK_INT(cfg->default_server, 0);
    CHECK(cfg->servers[0].is_default);
    CHECK_INT(cfg->servers[0].n_names, 0);
    CHECK_STR(cfg->servers[0].root, tmpreal);
    CHECK_INT(cfg->servers[0].n_locations, 1);
    const struct config_location *loc = &cfg->servers[0].locations[0];
    CHECK_STR(loc->path, "/");
    CHECK_INT(loc->path_len, 1);
    CHECK_STR(loc->root, tmpreal);
    CHECK(!loc->own_root);
    CHECK_INT(loc->n_index, 1);
    CHECK_STR(loc->index[0], "index.html");
    CHECK(!loc->listing);
    CHECK(loc->cache_control == NULL);
    CHECK_INT(loc->methods, CONFIG_METHOD_GET | CONFIG_METHOD_HEAD | CONFIG_METHOD_OPTIONS);
    CHECK(!loc->trace);
    CHECK(!loc->symlinks_outside_root);
    CHECK(!loc->dotfiles);
    CHECK(loc->compress);
    /* callers may replace a field: everything is malloc-owned */
    free(cfg->access_log);
    cfg->access_log = strdup("stdout");
    config_free(cfg);
    config_free(NULL);

    /* a root alone gives the same defaults */
    char err[256] = "";
    cfg = load("root: /tmp\n", err, sizeof(err));
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK_INT(cfg->n_servers, 1);
        CHECK_STR(cfg->servers[0].root, tmpreal);
        CHECK_INT(cfg->servers[0].n_locations, 1);
        CHECK_INT(cfg->limits.body_size, 1048576);
        CHECK_INT(cfg->listens[0].port, 8080);
    }
    config_free(cfg);

    /* a non-existent root is kept as given by config_default */
    cfg = config_default("/nonexistent-tern-root");
    CHECK(cfg != NULL);
    if (cfg) CHECK_STR(cfg->servers[0].root, "/nonexistent-tern-root");
    config_free(cfg);
}

static void test_values(void)
{
    char err[256] = "";
    struct config *cfg = load("root: /\n"
                              "listen: 9000\n"
                              "access_log: stdout\n"
                              "error_log: /tmp/tern-error.log\n"
                              "limits: {body_size: 0, request_line: 1K, header_size: 64M}\n"
                              "timeouts: {header: 1m, keepalive: 0.25, body: 1h}\n"
                              "http1: {http09: True, allow_bare_lf: OFF}\n"
                              "compression: {gzip_level: 1, brotli_level: 0, zstd_level: 22}\n"
                              "workers: 1024\n",
                              err, sizeof(err));
    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (!cfg) return;
    CHECK_INT(cfg->n_listens, 1);
    CHECK_STR(cfg->listens[0].host, "0.0.0.0");
    CHECK_INT(cfg->listens[0].port, 9000);
    CHECK_STR(cfg->access_log, "stdout");
    CHECK_STR(cfg->error_log, "/tmp/tern-error.log");
    CHECK_INT(cfg->limits.body_size, 0);
    CHECK_INT(cfg->limits.request_line, 1024);
    CHECK_INT(cfg->limits.header_size, 64 << 20);
    CHECK(cfg->timeouts.header == 60);
    CHECK(cfg->timeouts.keepalive == 0.25);
    CHECK(cfg->timeouts.body == 3600);
    CHECK(cfg->http1.http09);
    CHECK(!cfg->http1.allow_bare_lf);
    CHECK_INT(cfg->compression.gzip_level, 1);
    CHECK_INT(cfg->compression.brotli_level, 0);
    CHECK_INT(cfg->compression.zstd_level, 22);
    CHECK_INT(cfg->workers, 1024);
    config_free(cfg);

    /* trace: true adds TRACE; an empty index list is allowed; a null cache_control is none */
    cfg = load("servers:\n"
               "  - root: /\n"
               "    locations:\n"
               "      - {path: /a, trace: yes, index: [], cache_control: ~}\n"
               "      - {path: /b/, methods: [OPTIONS]}\n"
               "      - {path: /, index: default.htm}\n",
               err, sizeof(err));
    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (cfg) {
        const struct config_server *s = &cfg->servers[0];
        CHECK_INT(s->n_locations, 3);
        CHECK_STR(s->locations[0].path, "/b/");
        CHECK_INT(s->locations[0].methods, CONFIG_METHOD_OPTIONS);
        CHECK_STR(s->locations[1].path, "/a");
        CHECK(s->locations[1].trace);
        CHECK(s->locations[1].methods & CONFIG_METHOD_TRACE);
        CHECK_INT(s->locations[1].n_index, 0);
        CHECK(s->locations[1].cache_control == NULL);
        CHECK_INT(s->locations[2].n_index, 1);
        CHECK_STR(s->locations[2].index[0], "default.htm");
        CHECK(s->is_default);
    }
    config_free(cfg);

    /* an empty document or only a comment: nothing to serve */
    EXPECT_ERROR("", "t.yaml:1: nothing to serve: set 'root' or 'servers'");
    EXPECT_ERROR("# nothing\n", "t.yaml:1: nothing to serve: set 'root' or 'servers'");
}

static void test_errors(void)
{
    /* unknown keys, with the key's own line */
    EXPECT_ERROR("root: /\nlimits:\n  foo: 1\n", "t.yaml:3: unknown key 'foo' in limits");
    EXPECT_ERROR("root: /\nbogus: 1\n", "t.yaml:2: unknown key 'bogus' in the top level");
    EXPECT_ERROR("root: /\ntimeouts: {idle: 3}\n", "t.yaml:2: unknown key 'idle' in timeouts");
    EXPECT_ERROR("root: /\nhttp1:\n\n  http2: true\n", "t.yaml:4: unknown key 'http2' in http1");
    EXPECT_ERROR("root: /\ncompression:\n  level: 3\n",
                 "t.yaml:3: unknown key 'level' in compression");
    EXPECT_ERROR("servers:\n  - root: /\n    alias: x\n",
                 "t.yaml:3: unknown key 'alias' in server");
    EXPECT_ERROR("servers:\n  - root: /\n    locations:\n      - path: /\n        alias: x\n",
                 "t.yaml:5: unknown key 'alias' in location");
    EXPECT_ERROR("servers:\n  - root: /\n    locations:\n      - path: /\n        proxy: x\n",
                 "t.yaml:5: upstream 'x' must be http://host[:port][/path], https://..., "
                 "h2c://... or unix:/path");
    EXPECT_ERROR("servers:\n  - root: /\n    locations:\n      - path: /\n"
                 "        proxy: {upstreams: [http://127.0.0.1:1], balance: random}\n",
                 "t.yaml:5: 'balance' cannot be 'random'");
    EXPECT_ERROR("servers:\n  - root: /\n    locations:\n      - path: /\n"
                 "        proxy: {upstreams: [http://127.0.0.1:1], health_check: {fails: 2}}\n",
                 "t.yaml:5: 'health_check' has no 'path'");
    EXPECT_ERROR("root: /\nforward_proxy: {enabled: true, allow_privat: true}\n",
                 "t.yaml:2: unknown key 'allow_privat' in forward_proxy");
    EXPECT_ERROR("servers:\n  - root: /\n    locations:\n      - path: /\n"
                 "        proxy: {upstreams: [http://127.0.0.1:1], health_check: healthz}\n",
                 "t.yaml:5: a health check path starts with '/' (at most 400 bytes)");
    EXPECT_ERROR("servers:\n  - root: /\n    locations:\n      - path: /\n"
                 "        proxy: http://127.0.0.1:1\n        redirect: {to: /x}\n",
                 "t.yaml:4: a location redirects, rewrites, tries files or proxies: one of them");
    EXPECT_ERROR("root: /\n? [a, b]\n: 1\n", "t.yaml:2: a key in the top level must be a name, "
                                             "not a list");
    /* duplicates */
    EXPECT_ERROR("root: /\nworkers: 1\nworkers: 2\n", "t.yaml:3: duplicate key 'workers' in "
                                                      "the top level");
    EXPECT_ERROR("root: /\nlimits:\n  ranges: 1\n  ranges: 2\n",
                 "t.yaml:4: duplicate key 'ranges' in limits");
    /* wrong types */
    EXPECT_ERROR("root: /\nworkers: {a: 1}\n", "t.yaml:2: 'workers' must be a single value, not "
                                               "a mapping");
    EXPECT_ERROR("root: /\nworkers: two\n", "t.yaml:2: 'workers' must be a whole number, not "
                                            "'two'");
    EXPECT_ERROR("root: /\nworkers:\n", "t.yaml:2: 'workers' has no value");
    EXPECT_ERROR("root: /\nlimits: 5\n", "t.yaml:2: 'limits' must be a mapping, not a value");
    EXPECT_ERROR("root: /\nlimits:\n  body_size: 5x\n",
                 "t.yaml:3: 'body_size' must be a byte size (like 4096, 64k or 1m), not '5x'");
    EXPECT_ERROR("root: /\nlimits:\n  pipeline: 4k\n",
                 "t.yaml:3: 'pipeline' must be a whole number, not '4k'");
    EXPECT_ERROR("root: /\nlimits:\n  ranges: -1\n",
                 "t.yaml:3: 'ranges' must be a whole number, not '-1'");
    EXPECT_ERROR("root: /\nhttp1:\n  http09: maybe\n",
                 "t.yaml:3: 'http09' must be true or false, not 'maybe'");
    EXPECT_ERROR("servers:\n  - root: /\n    locations:\n      - path: /\n        dotfiles: 1x\n",
                 "t.yaml:5: 'dotfiles' must be true or false, not '1x'");
    EXPECT_ERROR("root: /\nhttp1:\n  http09: [yes]\n",
                 "t.yaml:3: 'http09' must be a single value, not a list");
    EXPECT_ERROR("root: /\ntimeouts:\n  send: soon\n",
                 "t.yaml:3: 'send' must be a duration in seconds (like 10, 2.5, 500ms or 10s), "
                 "not 'soon'");
    EXPECT_ERROR("root: /\ntimeouts:\n  send: 1e3\n",
                 "t.yaml:3: 'send' must be a duration in seconds (like 10, 2.5, 500ms or 10s), "
                 "not '1e3'");
    EXPECT_ERROR("root: /\nlog_level: loud\n",
                 "t.yaml:2: 'log_level' must be error, warn, info or debug, not 'loud'");
    EXPECT_ERROR("[1, 2]\n", "t.yaml:1: the configuration must be a mapping of keys, not a list");
    EXPECT_ERROR("root: /\nservers: {a: 1}\n", "t.yaml:2: 'servers' must be a list, not a "
                                               "mapping");
    EXPECT_ERROR("root: /\nservers: []\n", "t.yaml:2: 'servers' must not be empty");
    EXPECT_ERROR("servers:\n  - /srv\n", "t.yaml:2: a server must be a mapping, not a value");
    EXPECT_ERROR("servers:\n  - root: /\n    locations: {path: /}\n",
                 "t.yaml:3: 'locations' must be a list, not a mapping");
    EXPECT_ERROR("root: \"/\\0x\"\n", "t.yaml:1: 'root' contains a NUL byte");
    /* out of range */
    EXPECT_ERROR("root: /\nworkers: 1025\n", "t.yaml:2: 'workers' must be between 0 and 1024, "
                                             "not '1025'");
    EXPECT_ERROR("root: /\nworkers: 99999999999999999999999\n",
                 "t.yaml:2: 'workers' must be between 0 and 1024, not '99999999999999999999999'");
    EXPECT_ERROR("root: /\nlimits:\n  body_size: 99999999999g\n",
                 "t.yaml:3: 'body_size' must be between 0 and 1125899906842624, not "
                 "'99999999999g'");
    EXPECT_ERROR("root: /\nlimits:\n  header_count: 0\n",
                 "t.yaml:3: 'header_count' must be between 1 and 65536, not '0'");
    EXPECT_ERROR("root: /\nlimits:\n  request_line: 64k\n  header_size: 32k\n",
                 "t.yaml:3: limits: request_line (65536) is larger than header_size (32768)");
    EXPECT_ERROR("root: /\ncompression:\n  gzip_level: 10\n",
                 "t.yaml:3: 'gzip_level' must be between 1 and 9, not '10'");
    EXPECT_ERROR("root: /\ncompression:\n  brotli_level: 12\n",
                 "t.yaml:3: 'brotli_level' must be between 0 and 11, not '12'");
    EXPECT_ERROR("root: /\ncompression:\n  zstd_level: 0\n",
                 "t.yaml:3: 'zstd_level' must be between 1 and 22, not '0'");
    EXPECT_ERROR("root: /\ncompression:\n  min_size: 2m\n  max_size: 1m\n",
                 "t.yaml:3: compression: min_size (2097152) is larger than max_size (1048576)");
    EXPECT_ERROR("root: /\ntimeouts:\n  header: 0\n",
                 "t.yaml:3: 'header' must be more than 0 and at most 86400 seconds, not '0'");
    EXPECT_ERROR("root: /\ntimeouts:\n  keepalive: 2d\n",
                 "t.yaml:3: 'keepalive' must be a duration in seconds (like 10, 2.5, 500ms or "
                 "10s), not '2d'");
    EXPECT_ERROR("root: /\ntimeouts:\n  graceful: 25h\n",
                 "t.yaml:3: 'graceful' must be at least 0 and at most 86400 seconds, not '25h'");
    /* listen */
    EXPECT_ERROR("root: /\nlisten: [\":0\"]\n",
                 "t.yaml:2: invalid listen address ':0' (ADDR:PORT, [IPv6]:PORT or PORT, port "
                 "1-65535)");
    EXPECT_ERROR("root: /\nlisten:\n  - 80\n  - 127.0.0.1:65536\n",
                 "t.yaml:4: invalid listen address '127.0.0.1:65536' (ADDR:PORT, [IPv6]:PORT or "
                 "PORT, port 1-65535)");
    EXPECT_ERROR("root: /\nlisten:\n  - 80\n  - \"0.0.0.0:80\"\n",
                 "t.yaml:4: listen address '0.0.0.0:80' is given twice");
    EXPECT_ERROR("root: /\nlisten: []\n", "t.yaml:2: 'listen' must not be empty");
    /* roots */
    EXPECT_ERROR("root: /nonexistent/tern\n", "t.yaml:1: root '/nonexistent/tern' does not exist");
    EXPECT_ERROR("root: /etc/passwd\n", "t.yaml:1: root '/etc/passwd' is not a directory");
    EXPECT_ERROR("servers:\n  - names: a.test\n    locations: []\n",
                 "t.yaml:2: server has no 'root' (set it here or at the top level)");
    EXPECT_ERROR("servers:\n  - root: /\n    locations:\n      - path: /x\n"
                 "        root: /nope-tern\n",
                 "t.yaml:5: root '/nope-tern' does not exist");
    /* servers */
    EXPECT_ERROR("root: /\nservers:\n  - names: [a.test]\n  - names: [b.test, A.TEST]\n",
                 "t.yaml:4: server name 'A.TEST' is used twice");
    EXPECT_ERROR("root: /\nservers:\n  - names: [\"a.test:80\"]\n",
                 "t.yaml:3: invalid server name 'a.test:80'");
    EXPECT_ERROR("root: /\nservers:\n  - names: [\"*.\"]\n", "t.yaml:3: invalid server name '*.'");
    EXPECT_ERROR("root: /\nservers:\n  - names: [\"a*.test\"]\n",
                 "t.yaml:3: invalid server name 'a*.test'");
    EXPECT_ERROR("root: /\nservers:\n  - default: true\n  - names: b\n    default: true\n",
                 "t.yaml:5: more than one server has 'default: true' (the first is on line 3)");
    /* locations */
    EXPECT_ERROR("root: /\nservers:\n  - locations:\n      - path: static/\n",
                 "t.yaml:4: location path 'static/' must start with '/' and have no empty, '.' or "
                 "'..' segment");
    EXPECT_ERROR("root: /\nservers:\n  - locations:\n      - path: /a/../b\n",
                 "t.yaml:4: location path '/a/../b' must start with '/' and have no empty, '.' or "
                 "'..' segment");
    EXPECT_ERROR("root: /\nservers:\n  - locations:\n      - index: [a]\n",
                 "t.yaml:4: a location has one of 'path', 'exact' or 'regex'");
    EXPECT_ERROR("root: /\nservers:\n  - locations:\n      - path: /a\n        exact: /a\n",
                 "t.yaml:4: a location has one of 'path', 'exact' or 'regex', not several");
    EXPECT_ERROR("root: /\nservers:\n  - locations:\n      - path: /a\n      - path: /a\n",
                 "t.yaml:5: location path '/a' is given twice");
    EXPECT_ERROR(
        "root: /\nservers:\n  - locations:\n      - path: /\n        methods: [GET, POST]\n",
        "t.yaml:5: method 'POST' is not one of GET, HEAD, OPTIONS, TRACE (the methods "
        "static content allows)");
    EXPECT_ERROR("root: /\nservers:\n  - locations:\n      - path: /\n        methods: [get]\n",
                 "t.yaml:5: method 'get' is not one of GET, HEAD, OPTIONS, TRACE (the methods "
                 "static content allows)");
    EXPECT_ERROR("root: /\nservers:\n  - locations:\n      - path: /\n        methods: [GET]\n",
                 "t.yaml:5: 'methods' allows GET but not HEAD (RFC 9110 section 9.1 needs both)");
    EXPECT_ERROR("root: /\nservers:\n  - locations:\n      - path: /\n        methods: []\n",
                 "t.yaml:5: 'methods' must not be empty");
    EXPECT_ERROR("root: /\nservers:\n  - locations:\n      - path: /\n"
                 "        methods: [GET, HEAD, TRACE]\n        trace: false\n",
                 "t.yaml:6: 'methods' lists TRACE but 'trace' is false");
    EXPECT_ERROR("root: /\nservers:\n  - locations:\n      - path: /\n        index: [../x]\n",
                 "t.yaml:5: index name '../x' must be a plain file name");
    EXPECT_ERROR("root: /\nservers:\n  - locations:\n      - path: /\n"
                 "        cache_control: \"a\\r\\nSet-Cookie: x\"\n",
                 "t.yaml:5: 'cache_control' contains a control character");
    EXPECT_ERROR(
        "root: /\nservers:\n  - locations:\n      - path: /\n        cache_control: \"\"\n",
        "t.yaml:5: 'cache_control' must not be empty");
    /* YAML itself */
    EXPECT_ERROR("root: &r /\nservers:\n  - root: *r\n", "t.yaml:1: YAML anchors are not allowed");
    EXPECT_ERROR("root: /\nservers:\n  - root: *r\n", "t.yaml:3: YAML aliases are not allowed");
    EXPECT_ERROR("root: /\nworkers: !!int 3\n", "t.yaml:2: YAML tags are not allowed");
    EXPECT_ERROR("root: /\n---\nroot: /\n", "t.yaml:2: only one YAML document is allowed");
    EXPECT_ERROR("root: /\nlimits: {\n", "t.yaml:3: YAML: did not find expected node content "
                                         "(while parsing a flow node)");
    EXPECT_ERROR("root: /\n  bad: indent\n",
                 "t.yaml:2: YAML: mapping values are not allowed in this context");
}

static void test_limits(void)
{
    char err[256] = "";
    /* deep nesting */
    char deep[256];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof(deep), "root: /\nx: ");
    for (int i = 0; i < 40; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    EXPECT_ERROR(deep, "t.yaml:2: nesting deeper than 16 levels");
    /* oversized input */
    size_t big = 1024 * 1024 + 1;
    char *huge = malloc(big + 1);
    CHECK(huge != NULL);
    if (huge) {
        memset(huge, '#', big);
        huge[big] = '\0';
        struct config *cfg = config_load_buffer("t.yaml", huge, big, err, sizeof(err));
        CHECK(cfg == NULL);
        CHECK_STR(err, "t.yaml:1: configuration is larger than 1048576 bytes");
        free(huge);
    }
    /* the billion laughs stop at the first alias */
    EXPECT_ERROR("root: /\na: &a [x, x]\nb: [*a, *a]\n", "t.yaml:2: YAML anchors are not allowed");
    /* short error buffers are fine, and so is none */
    struct config *cfg = config_load_buffer("t.yaml", "root: 1: 2", 10, err, 4);
    CHECK(cfg == NULL);
    CHECK_INT(strlen(err), 3);
    cfg = config_load_buffer("t.yaml", "x: 1", 4, NULL, 0);
    CHECK(cfg == NULL);
    cfg = config_load_buffer(NULL, NULL, 0, err, sizeof(err));
    CHECK(cfg == NULL);
    CHECK_STR(err, "<config>:1: nothing to serve: set 'root' or 'servers'");
    /* a NUL inside the input is a YAML error, not a crash */
    cfg = config_load_buffer("t.yaml", "root: /\0x", 9, err, sizeof(err));
    CHECK(cfg == NULL);
    CHECK(strncmp(err, "t.yaml:1: YAML: ", 16) == 0);
}

static void test_files(const char *srcdir)
{
    char err[512] = "";
    char path[PATH_MAX + 32];
    struct config *cfg = config_load_file("/nonexistent/tern.yaml", err, sizeof(err));
    CHECK(cfg == NULL);
    CHECK_STR(err, "/nonexistent/tern.yaml: cannot open: No such file or directory");
    cfg = config_load_file(tmp, err, sizeof(err));
    CHECK(cfg == NULL);
    snprintf(path, sizeof(path), "%s: not a regular file", tmp);
    CHECK_STR(err, path);
    /* a relative root resolves against the file's directory, whatever the cwd */
    snprintf(path, sizeof(path), "%s/rel.yaml", tmp);
    write_file(path, "root: ./www/../files\nerror_log: /dev/null\n");
    cfg = config_load_file(path, err, sizeof(err));
    CHECK(cfg != NULL);
    if (cfg) {
        char want[PATH_MAX + 32];
        snprintf(want, sizeof(want), "%s/files", tmp);
        CHECK_STR(cfg->servers[0].root, want);
        CHECK_STR(cfg->servers[0].locations[0].root, want);
        CHECK_STR(cfg->error_log, "/dev/null");
    }
    config_free(cfg);
    /* the file name leads the message */
    write_file(path, "root: www\nlimits:\n  nope: 1\n");
    cfg = config_load_file(path, err, sizeof(err));
    CHECK(cfg == NULL);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s:3: unknown key 'nope' in limits", path);
    CHECK_STR(err, want);
    unlink(path);

    /* examples/tern.yaml serves ../www: check it when the source tree is at hand */
    if (!srcdir) return;
    char www[PATH_MAX + 16];
    snprintf(www, sizeof(www), "%s/www", srcdir);
    snprintf(path, sizeof(path), "%s/examples/tern.yaml", srcdir);
    struct stat st;
    if (stat(www, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("examples/tern.yaml: skipped (no www/)\n");
        return;
    }
    cfg = config_load_file(path, err, sizeof(err));
    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (cfg) {
        char real[PATH_MAX];
        CHECK(realpath(www, real) != NULL);
        CHECK(cfg->n_servers >= 1);
        CHECK_STR(cfg->servers[cfg->default_server].root, real);
    }
    config_free(cfg);
}

/* server/config_cache.c: a proxy location's `cache` */
#define LOC "servers:\n  - root: /\n    locations:\n      - path: /c/\n"

static const struct config_location *find(const struct config *c, const char *path)
{
    const struct config_server *srv = &c->servers[0];
    for (size_t i = 0; i < srv->n_locations; i++)
        if (strcmp(srv->locations[i].path, path) == 0) return &srv->locations[i];
    return NULL;
}

static void test_cache_values(void)
{
    char err[512] = "";
    struct config *c =
        load(LOC "        proxy: http://127.0.0.1:1\n        cache: true\n", err, sizeof(err));
    CHECK(c != NULL);
    const struct config_location *loc = c ? find(c, "/c/") : NULL;
    CHECK(loc && loc->cache && loc->cache->store);
    if (loc && loc->cache) {
        CHECK_INT(loc->cache->max_size, 64 << 20);
        CHECK_INT(loc->cache->max_object_size, 8 << 20);
        CHECK(loc->cache->heuristic_max == 86400);
    }
    config_free(c);
    c = load(LOC "        proxy: http://127.0.0.1:1\n"
                 "        cache: {max_size: 1m, max_object_size: 10k, heuristic_max: 1h}\n",
             err, sizeof(err));
    CHECK(c != NULL);
    loc = c ? find(c, "/c/") : NULL;
    CHECK(loc && loc->cache);
    if (loc && loc->cache) {
        CHECK_INT(loc->cache->max_size, 1 << 20);
        CHECK_INT(loc->cache->max_object_size, 10 << 10);
        CHECK(loc->cache->heuristic_max == 3600);
    }
    config_free(c);
    c = load(LOC "        proxy: http://127.0.0.1:1\n        cache: false\n", err, sizeof(err));
    CHECK(c != NULL);
    loc = c ? find(c, "/c/") : NULL;
    CHECK(loc && !loc->cache);
    config_free(c);
}

/* server/config_proxy.c: h2c:// upstreams and `http2` for https ones */
static void test_proxy_h2(void)
{
    char err[512] = "";
    struct config *c = load(LOC "        proxy: h2c://127.0.0.1/v1/\n", err, sizeof(err));
    const struct config_location *loc = c ? find(c, "/c/") : NULL;
    CHECK(loc && loc->proxy);
    if (loc && loc->proxy) {
        const struct config_upstream *up = &loc->proxy->upstreams[0];
        CHECK(up->h2c && !up->tls && !loc->proxy->tls && !loc->proxy->http2);
        CHECK_STR(up->authority, "127.0.0.1");
        CHECK_STR(up->path, "/v1/");
        CHECK_INT(ntohs(((const struct sockaddr_in *)&up->addr)->sin_port), 80);
    }
    config_free(c);
    c = load(LOC "        proxy: {upstreams: [https://127.0.0.1:8443], http2: true}\n", err,
             sizeof(err));
    loc = c ? find(c, "/c/") : NULL;
    CHECK(loc && loc->proxy && loc->proxy->http2 && loc->proxy->tls && loc->proxy->tls_h2);
    config_free(c);
    c = load(LOC "        proxy: {upstreams: [https://127.0.0.1:8443]}\n", err, sizeof(err));
    loc = c ? find(c, "/c/") : NULL;
    CHECK(loc && loc->proxy && !loc->proxy->http2 && loc->proxy->tls && !loc->proxy->tls_h2);
    config_free(c);
    EXPECT_ERROR(LOC "        proxy: {upstreams: [h2c://127.0.0.1:1], http2: maybe}\n",
                 "t.yaml:5: 'http2' must be true or false, not 'maybe'");
}

static void test_cache_errors(void)
{
    EXPECT_ERROR(LOC "        cache: true\n", "t.yaml:5: 'cache' needs 'proxy'");
    EXPECT_ERROR(LOC "        proxy: http://127.0.0.1:1\n        cache: {size: 1m}\n",
                 "t.yaml:6: unknown key 'size' in cache");
    EXPECT_ERROR(LOC "        proxy: http://127.0.0.1:1\n        cache: maybe\n",
                 "t.yaml:6: 'cache' must be true or false, not 'maybe'");
    EXPECT_ERROR(LOC "        proxy: http://127.0.0.1:1\n"
                     "        cache: {max_size: 1m, max_object_size: 2m}\n",
                 "t.yaml:6: 'max_object_size' is larger than 'max_size'");
}

/* The top-level `metrics`: its listener, allow list, status page and sampling interval. */
static void test_metrics(void)
{
    char err[512] = "";
    static const char yaml[] = "root: /tmp\n"
                               "metrics:\n"
                               "  listen: 127.0.0.1:9100\n"
                               "  allow: [127.0.0.1, 10.0.0.0/8]\n"
                               "  status: true\n"
                               "  sample_interval: 0.5\n";
    struct config *c = load(yaml, err, sizeof(err));
    CHECK(c != NULL);
    if (c) {
        CHECK(c->metrics.enabled && c->metrics.status);
        CHECK_STR(c->metrics.listen.host, "127.0.0.1");
        CHECK(c->metrics.listen.port == 9100);
        CHECK(c->metrics.n_allow == 2 && c->metrics.allow[1].bits == 8);
        CHECK(c->metrics.sample_interval == 0.5);
        config_free(c);
    }
    c = load("root: /tmp\n", err, sizeof(err));
    CHECK(c != NULL);
    if (c) {
        CHECK(!c->metrics.enabled && !c->metrics.status && c->metrics.sample_interval == 5);
        config_free(c);
    }
    EXPECT_ERROR("root: /tmp\nmetrics: {status: true}\n",
                 "t.yaml:2: 'metrics' needs 'listen': the address to serve /metrics on");
    EXPECT_ERROR("root: /tmp\nlisten: 127.0.0.1:9100\nmetrics: {listen: 127.0.0.1:9100}\n",
                 "t.yaml:3: metrics listen address '127.0.0.1:9100' is also a listen or "
                 "tls_listen address");
    EXPECT_ERROR("root: /tmp\nmetrics: {listen: 127.0.0.1:9100, allow: [300.1.1.1]}\n",
                 "t.yaml:2: 'allow' value '300.1.1.1' is not an IP address, a CIDR prefix (like "
                 "10.0.0.0/8 or 2001:db8::/32) or 'all'");
    EXPECT_ERROR(
        "root: /tmp\nmetrics: {listen: 127.0.0.1:9100, sample_interval: 0}\n",
        "t.yaml:2: 'sample_interval' must be at least 0.1 and at most 3600 seconds, not '0'");
    EXPECT_ERROR("root: /tmp\nmetrics: true\n",
                 "t.yaml:2: 'metrics' must be a mapping, not a value");
}

int main(int argc, char **argv)
{
    test_metrics();
    test_cache_values();
    test_cache_errors();
    test_proxy_h2();
    char templ[] = "/tmp/tern-config-XXXXXX";
    char sub[PATH_MAX + 16];
    CHECK(mkdtemp(templ) != NULL);
    CHECK(realpath(templ, tmp) != NULL);
    snprintf(sub, sizeof(sub), "%s/www", tmp);
    CHECK(mkdir(sub, 0755) == 0);
    snprintf(sub, sizeof(sub), "%s/files", tmp);
    CHECK(mkdir(sub, 0755) == 0);

    test_full();
    test_defaults();
    test_values();
    test_errors();
    test_limits();
    test_files(argc > 1 ? argv[1] : NULL);

    snprintf(sub, sizeof(sub), "%s/tern.yaml", tmp);
    unlink(sub);
    snprintf(sub, sizeof(sub), "%s/www", tmp);
    rmdir(sub);
    snprintf(sub, sizeof(sub), "%s/files", tmp);
    rmdir(sub);
    rmdir(tmp);
    return check_done("server/config");
}
