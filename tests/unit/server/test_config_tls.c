/* The TLS and HTTP/2 parts of the configuration: tls, tls_listen, http2, a server's
 * certificate, a location's push and early hints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "server/config.h"

static char dir[] = "/tmp/tern-cfgtls-XXXXXX";

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static struct config *load(const char *yaml, char *err, size_t errlen)
{
    write_file("t.yaml", yaml);
    char path[256];
    snprintf(path, sizeof(path), "%s/t.yaml", dir);
    return config_load_file(path, err, errlen);
}

/* The message after "file:" so tests don't depend on the temp dir's name. */
static const char *tail(const char *err)
{
    const char *p = strstr(err, "t.yaml:");
    return p ? p : err;
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    write_file("cert.pem", "-----BEGIN CERTIFICATE-----\n");
    write_file("key.pem", "-----BEGIN PRIVATE KEY-----\n");
    write_file("ocsp.der", "x");
    char err[512] = "";

    /* defaults */
    struct config *cfg = config_default(dir);
    CHECK(cfg->http2.enabled && cfg->http2.h2c);
    CHECK_INT(cfg->http2.max_concurrent_streams, 128);
    CHECK_INT(cfg->http2.initial_window_size, 65535);
    CHECK_INT(cfg->http2.max_frame_size, 16384);
    CHECK(cfg->http2.preface_timeout <= 10 && cfg->http2.idle_timeout <= 10 &&
          cfg->http2.stalled_stream_timeout <= 10);
    CHECK(cfg->tls.tickets);
    CHECK(cfg->http3.early_data);
    CHECK(cfg->tls.cert.cert_file == NULL);
    CHECK(!cfg->listens[0].tls);
    config_free(cfg);

    /* everything set */
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "root: %s\n"
             "tls_listen: [127.0.0.1:8443, \"[::1]:8443\"]\n"
             "tls: {cert: cert.pem, key: key.pem, ocsp: ocsp.der, tickets: no,\n"
             "      ticket_lifetime: 2h, handshake_timeout: 5}\n"
             "http2:\n"
             "  enabled: true\n"
             "  h2c: false\n"
             "  max_concurrent_streams: 64\n"
             "  initial_window_size: 1m\n"
             "  connection_window: 32m\n"
             "  max_frame_size: 32k\n"
             "  header_table_size: 8k\n"
             "  max_header_list_size: 16k\n"
             "  max_resets_per_10s: 50\n"
             "  max_continuations: 4\n"
             "  max_idle_frames_per_10s: 500\n"
             "  max_control_queue: 16k\n"
             "  preface_timeout: 2s\n"
             "  idle_timeout: 500ms\n"
             "  stalled_stream_timeout: 3\n"
             "http3: {early_data: false, retry: always}\n"
             "servers:\n"
             "  - names: [a.test]\n"
             "    tls: {cert: cert.pem, key: key.pem}\n"
             "    locations:\n"
             "      - path: /\n"
             "        push: true\n"
             "        push_paths: [/style.css, /logo.png]\n"
             "        early_hints: \"</style.css>; rel=preload; as=style\"\n"
             "        connection_info: true\n",
             dir);
    cfg = load(yaml, err, sizeof(err));
    CHECK_STR(err, "");
    CHECK(cfg != NULL);
    if (cfg) {
        /* only TLS listeners: the default cleartext one is gone */
        CHECK_INT(cfg->n_listens, 2);
        CHECK(cfg->listens[0].tls && cfg->listens[1].tls);
        CHECK_STR(cfg->listens[1].host, "::1");
        CHECK(strstr(cfg->tls.cert.cert_file, "/cert.pem") != NULL);
        CHECK(strstr(cfg->tls.cert.ocsp_file, "/ocsp.der") != NULL);
        CHECK(!cfg->tls.tickets);
        CHECK(cfg->tls.ticket_lifetime == 7200);
        CHECK(cfg->tls.handshake_timeout == 5);
        CHECK(!cfg->http2.h2c);
        CHECK_INT(cfg->http2.max_concurrent_streams, 64);
        CHECK_INT(cfg->http2.initial_window_size, 1 << 20);
        CHECK_INT(cfg->http2.connection_window, 32 << 20);
        CHECK_INT(cfg->http2.max_frame_size, 32768);
        CHECK_INT(cfg->http2.header_table_size, 8192);
        CHECK_INT(cfg->http2.max_header_list_size, 16384);
        CHECK_INT(cfg->http2.max_resets_per_10s, 50);
        CHECK_INT(cfg->http2.max_continuations, 4);
        CHECK_INT(cfg->http2.max_idle_frames_per_10s, 500);
        CHECK_INT(cfg->http2.max_control_queue, 16384);
        CHECK(cfg->http2.preface_timeout == 2 && cfg->http2.idle_timeout == 0.5);
        CHECK(cfg->http2.stalled_stream_timeout == 3);
        CHECK(!cfg->http3.early_data && cfg->http3.retry_always);
        CHECK(strstr(cfg->servers[0].cert.key_file, "/key.pem") != NULL);
        const struct config_location *loc = &cfg->servers[0].locations[0];
        CHECK(loc->push);
        CHECK_INT(loc->n_push_paths, 2);
        CHECK_STR(loc->push_paths[1], "/logo.png");
        CHECK_INT(loc->n_early_hints, 1);
        CHECK_STR(loc->early_hints[0], "</style.css>; rel=preload; as=style");
        CHECK(loc->connection_info);
        config_free(cfg);
    }

    /* cleartext and TLS together */
    snprintf(yaml, sizeof(yaml),
             "root: %s\nlisten: 127.0.0.1:8080\ntls_listen: 127.0.0.1:8443\n"
             "tls: {cert: cert.pem, key: key.pem}\n",
             dir);
    cfg = load(yaml, err, sizeof(err));
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK_INT(cfg->n_listens, 2);
        CHECK(!cfg->listens[0].tls && cfg->listens[1].tls);
        CHECK(!cfg->servers[0].locations[0].connection_info); /* off by default */
        config_free(cfg);
    }

    /* errors, with the line they are on */
    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"tls_listen: 127.0.0.1:8443\n",
         "t.yaml:1: 'tls_listen' needs a certificate: set tls: {cert, key} or a server's tls: "
         "{cert, key}"},
        {"tls: {cert: cert.pem}\n", "t.yaml:2: tls: 'cert' and 'key' go together"},
        {"tls: {cert: nope.pem, key: key.pem}\n", NULL},
        {"tls: {cert: cert.pem, key: key.pem, color: red}\n", "t.yaml:2: unknown key 'color'"},
        {"http2: {max_frame_size: 100}\n",
         "t.yaml:2: 'max_frame_size' must be between 16384 and 16777215, not '100'"},
        {"http2: {initial_window_size: 3g}\n", NULL},
        {"http2: {idle_timeout: 0}\n", NULL},
        {"http2: {bogus: 1}\n", "t.yaml:2: unknown key 'bogus'"},
        {"tls_listen: {a: b}\n",
         "t.yaml:2: 'tls_listen' must be an address or a list of them, not a mapping"},
        {"listen: 127.0.0.1:8443\ntls_listen: 127.0.0.1:8443\ntls: {cert: cert.pem, key: "
         "key.pem}\n",
         "t.yaml:3: listen address '127.0.0.1:8443' is given twice"},
        {"servers:\n  - locations:\n      - path: /\n        push_paths: [style.css]\n",
         "t.yaml:5: push path 'style.css' must start with '/'"},
        {"servers:\n  - locations:\n      - path: /x\n        connection_info: maybe\n",
         "t.yaml:5: 'connection_info' must be true or false"},
        {"servers:\n  - tls: {key: key.pem}\n",
         "t.yaml:3: server tls: 'cert' and 'key' go together"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(yaml, sizeof(yaml), "root: %s\n%s", dir, bad[i].yaml);
        err[0] = '\0';
        cfg = load(yaml, err, sizeof(err));
        CHECK(cfg == NULL);
        config_free(cfg);
        if (bad[i].msg) {
            if (strncmp(tail(err), bad[i].msg, strlen(bad[i].msg)) != 0) {
                fprintf(stderr, "case %zu: got '%s'\n", i, err);
                CHECK(0);
            }
        } else {
            CHECK(strstr(err, "t.yaml:") != NULL);
        }
    }

    const char *files[] = {"cert.pem", "key.pem", "ocsp.der", "t.yaml"};
    for (size_t i = 0; i < 4; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return check_done("server/config_tls");
}
