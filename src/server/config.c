/* The configuration model: defaults, freeing, and the listen address syntax. */
#include "server/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "server/config_internal.h"
#include "server/rate_table.h"
#include "server/config_site.h"

char *config_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

struct config_location *config_location_defaults(struct config_location *loc)
{
    memset(loc, 0, sizeof(*loc));
    loc->index = calloc(1, sizeof(char *));
    if (!loc->index) return NULL;
    loc->index[0] = strdup("index.html");
    if (!loc->index[0]) return NULL;
    loc->n_index = 1;
    loc->methods = CONFIG_METHOD_GET | CONFIG_METHOD_HEAD | CONFIG_METHOD_OPTIONS;
    loc->compress = true;
    return loc;
}

/* Everything but listens and servers. */
static void set_scalar_defaults(struct config *cfg)
{
    cfg->workers = 0;
    cfg->log_level = LOG_INFO;
    cfg->access = (struct config_access_log){.format = CONFIG_LOG_COMBINED, .buffer = 32768};
    cfg->limits = (struct config_limits){
        .request_line = 8192,
        .header_size = 32768,
        .header_count = 100,
        .body_size = 1024 * 1024,
        .pipeline = 16,
        .keepalive_requests = 1000,
        .ranges = 16,
        .connections = 16384,
    };
    cfg->timeouts = (struct config_timeouts){
        .header = 10, .keepalive = 30, .body = 10, .send = 10, .graceful = 10};
    cfg->http1 = (struct config_http1){.http09 = true};
    cfg->compression = (struct config_compression){
        .on_the_fly = true,
        .min_size = 1024,
        .max_size = 8 * 1024 * 1024,
        .gzip_level = 6,
        .brotli_level = 4,
        .zstd_level = 3,
        .precompressed = true,
    };
    cfg->tls =
        (struct config_tls){.tickets = true, .ticket_lifetime = 3600, .handshake_timeout = 10};
    cfg->quic = true;
    cfg->http3 = (struct config_http3){
        .retry_threshold = 200, .max_handshakes = 1000, .early_data = true, .isolate = true};
    cfg->metrics.sample_interval = 5;
    cfg->http2 = (struct config_http2){
        .enabled = true,
        .h2c = true,
        .max_concurrent_streams = 128,
        .initial_window_size = 65535,
        .connection_window = 16u << 20,
        .max_frame_size = 16384,
        .header_table_size = 4096,
        .max_header_list_size = 32768,
        .max_resets_per_10s = 200,
        .max_continuations = 16,
        .max_idle_frames_per_10s = 1000,
        .max_control_queue = 64 * 1024,
        .preface_timeout = 10,
        .idle_timeout = 10,
        .stalled_stream_timeout = 10,
    };
}

static void cert_free(struct config_cert *c)
{
    free(c->cert_file);
    free(c->key_file);
    free(c->ocsp_file);
}

struct config *config_new_base(void)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) return NULL;
    set_scalar_defaults(cfg);
    cfg->access_log = strdup("off");
    cfg->error_log = strdup("stderr");
    cfg->listens = calloc(1, sizeof(*cfg->listens));
    if (!cfg->access_log || !cfg->error_log || !cfg->listens) {
        config_free(cfg);
        return NULL;
    }
    cfg->n_listens = 1;
    cfg->listens[0].host = strdup("127.0.0.1");
    cfg->listens[0].port = 8080;
    if (!cfg->listens[0].host) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

int config_root_usable(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int rc = faccessat(fd, ".", X_OK, AT_EACCESS) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

struct config *config_default(const char *root)
{
    struct config *cfg = config_new_base();
    if (!cfg) return NULL;
    char resolved[PATH_MAX];
    const char *r = root ? root : ".";
    if (realpath(r, resolved)) r = resolved;
    cfg->servers = calloc(1, sizeof(*cfg->servers));
    if (!cfg->servers) goto oom;
    cfg->n_servers = 1;
    struct config_server *srv = &cfg->servers[0];
    srv->is_default = true;
    srv->root = strdup(r);
    srv->locations = calloc(1, sizeof(*srv->locations));
    if (!srv->root || !srv->locations) goto oom;
    srv->n_locations = 1;
    struct config_location *loc = &srv->locations[0];
    if (!config_location_defaults(loc)) goto oom;
    loc->path = strdup("/");
    loc->path_len = 1;
    loc->root = strdup(r);
    if (!loc->path || !loc->root) goto oom;
    return cfg;
oom:
    config_free(cfg);
    return NULL;
}

static void free_strv(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void config_free(struct config *cfg)
{
    if (!cfg) return;
    free(cfg->user);
    for (size_t i = 0; cfg->servers && i < cfg->n_servers; i++) {
        struct config_server *srv = &cfg->servers[i];
        free_strv(srv->names, srv->n_names);
        free(srv->root);
        for (size_t j = 0; srv->locations && j < srv->n_locations; j++) {
            struct config_location *loc = &srv->locations[j];
            free(loc->path);
            free(loc->root);
            free_strv(loc->index, loc->n_index);
            free(loc->cache_control);
            free_strv(loc->push_paths, loc->n_push_paths);
            free_strv(loc->early_hints, loc->n_early_hints);
            free(loc->access);
            free(loc->guard_counts);
            config_auth_free(loc->auth);
            config_site_free_location(loc);
            config_proxy_free(loc->proxy);
            config_cache_free(loc->cache);
        }
        config_site_free_server(srv);
        cert_free(&srv->cert);
        free(srv->locations);
    }
    free(cfg->servers);
    rate_table_free(cfg->rate_table);
    for (size_t i = 0; cfg->listens && i < cfg->n_listens; i++)
        free(cfg->listens[i].host);
    free(cfg->listens);
    free_strv(cfg->forward.allow, cfg->forward.n_allow);
    config_auth_free(cfg->forward.auth);
    free(cfg->real_ip.from);
    free(cfg->metrics.listen.host);
    free(cfg->metrics.allow);
    free(cfg->redis.address);
    free(cfg->redis.host);
    free(cfg->redis.path);
    free(cfg->redis.key_prefix);
    cert_free(&cfg->tls.cert);
    free(cfg->source);
    free(cfg->access_log);
    log_format_free(&cfg->access.custom);
    free(cfg->request_id.header);
    free(cfg->request_id.response_header);
    free(cfg->error_log);
    free(cfg);
}

static bool is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

static int parse_port(const char *s, int *out)
{
    if (!*s || strlen(s) > 5) return -1;
    int v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
    }
    if (v < 1 || v > 65535) return -1;
    *out = v;
    return 0;
}

int config_parse_listen(const char *s, struct config_listen *out)
{
    char host[256];
    const char *port;
    if (!s || !*s) return -1;
    out->tls = false;
    out->quic_only = false;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host)) return -1;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) return -1;
        port = end + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon) { /* "8080" */
            strcpy(host, "0.0.0.0");
            port = s;
        } else {
            size_t hl = (size_t)(colon - s);
            if (hl >= sizeof(host)) return -1;
            memcpy(host, s, hl);
            host[hl] = '\0';
            if (hl == 0 || strcmp(host, "*") == 0) strcpy(host, "0.0.0.0");
            for (const char *h = host; *h; h++)
                if (!is_host_char(*h)) /* also rejects an unbracketed IPv6 address */
                    return -1;
            port = colon + 1;
        }
    }
    int p;
    if (parse_port(port, &p) < 0) return -1;
    char *h = strdup(host);
    if (!h) return -1;
    out->host = h;
    out->port = p;
    return 0;
}

const struct config_cert *config_default_cert(const struct config *cfg)
{
    if (cfg->tls.cert.cert_file) return &cfg->tls.cert;
    if (cfg->default_server < cfg->n_servers && cfg->servers[cfg->default_server].cert.cert_file)
        return &cfg->servers[cfg->default_server].cert;
    for (size_t i = 0; i < cfg->n_servers; i++)
        if (cfg->servers[i].cert.cert_file) return &cfg->servers[i].cert;
    return NULL;
}
