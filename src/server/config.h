/* The configuration model and its YAML loader (libyaml). See docs/config.md for the schema. */
#ifndef TERN_SERVER_CONFIG_H
#define TERN_SERVER_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "core/str.h"
#include "http/cidr.h"
#include "http/digest.h"
#include "http/realip.h"
#include "server/log_format.h"
#include "server/rate_bucket.h"

/* Bit per method a location allows (static content: GET, HEAD, OPTIONS, TRACE). */
enum config_method_bit {
    CONFIG_METHOD_GET = 1 << 0,
    CONFIG_METHOD_HEAD = 1 << 1,
    CONFIG_METHOD_OPTIONS = 1 << 2,
    CONFIG_METHOD_TRACE = 1 << 3,
};

/* One `allow` or `deny` entry of a location (nginx's semantics): rules are checked in the
 * order of the file, the first whose prefix holds the client decides; none: allowed. */
struct config_access_rule {
    struct cidr net; /* `all` is the prefix of length 0 of no family */
    bool allow;
    int line; /* in the configuration file, for the log line of a refusal */
};

/* `rate_limit` of a location: a token bucket per client address (server/rate_table.h). */
struct config_rate_limit {
    uint32_t id; /* 0: no limit; else this location's key in struct config's rate_table */
    struct rate_spec spec;
    bool shared; /* `shared`: the buckets live in Redis (top-level `redis`), see server/redis_rate.h
                  */
    enum config_rate_on_error {
        CONFIG_RATE_ON_ERROR_LOCAL = 0, /* the process's own table decides */
        CONFIG_RATE_ON_ERROR_OPEN,      /* let the request through */
        CONFIG_RATE_ON_ERROR_CLOSED,    /* 503 */
    } on_error;                         /* what decides while Redis does not answer (shared only) */
};

/* `limit_conn` of a location: requests of one client address in flight at once (as nginx's
 * limit_conn; HTTP/2 and HTTP/3 streams count one each), in the same table. */
struct config_limit_conn {
    uint32_t id; /* 0: no limit */
    uint32_t max;
};

/* What a location's guards did (server/guard.c), for metrics: counted lock-free. */
struct guard_counts {
    atomic_uint_fast64_t denied;   /* 403 by allow/deny */
    atomic_uint_fast64_t limited;  /* 429 (or on_error closed's 503) by rate_limit */
    atomic_uint_fast64_t delayed;  /* put off in rate_limit's queue */
    atomic_uint_fast64_t too_many; /* 503 by limit_conn */
};

/* Response fields set, added or removed for a server or a location (issue #14; nginx's
 * add_header, Caddy's header). Without `always` they apply to 2xx and 3xx responses only. */
struct config_field {
    char *name;  /* a token (checked at load) */
    char *value; /* no CR, LF, NUL or other control character but HTAB */
};
struct config_headers {
    struct config_field *set, *add; /* set replaces every field of that name */
    size_t n_set, n_add;
    char **remove; /* names; "Server" also drops the one the wire adds */
    size_t n_remove;
    bool always;
};

/* Strict-Transport-Security (RFC 6797) on a server's TLS responses; max_age 0: none. */
struct config_hsts {
    uint64_t max_age;
    bool include_subdomains, preload;
    char *value; /* the field value, made once at load */
};

/* A page served, with the original status, for the statuses of an error. */
struct config_error_page {
    int status;
    char *path;    /* absolute URL path, served from the location that path maps to; or NULL */
    bool template; /* the page at path is a template (http/template.h), expanded per request */
    char *body;    /* or an inline template (served as text/html), when path is NULL */
};

/* One upstream of a `proxy` location: an HTTP/1.1 origin over TCP (TLS for https) or a unix
 * socket. */
struct config_upstream {
    char *url;                    /* as written, for log lines */
    bool is_unix;                 /* unix:/path */
    bool tls;                     /* https:// */
    bool h2c;                     /* h2c://: HTTP/2 with prior knowledge over cleartext */
    char *server_name;            /* https: the name sent as SNI and verified (the URL's host,
                                     or tls_server_name) */
    struct sockaddr_storage addr; /* resolved at load (TCP), or the unix socket's path */
    unsigned addr_len;
    char *authority;     /* host[:port] of the URL (Host with `host: upstream`) */
    char *path;          /* the URL's path: replaces the location's prefix; NULL: the
                            request's path as it came */
    unsigned stats_slot; /* its counters (core/stats.h), in configuration order; beyond
                            STATS_UPSTREAMS - 1: not counted */
};

enum config_balance { CONFIG_BALANCE_ROUND_ROBIN, CONFIG_BALANCE_LEAST_CONN, CONFIG_BALANCE_HASH };
enum config_proxy_host {
    CONFIG_PROXY_HOST_KEEP,
    CONFIG_PROXY_HOST_UPSTREAM,
    CONFIG_PROXY_HOST_SET
};

struct tls_client;

/* `proxy` of a location (handler/proxy.h): a reverse proxy to its upstreams. */
struct config_proxy {
    struct tls_client *tls; /* for https upstreams: trust anchors, ALPN http/1.1; else NULL */
    /* http2: true: https upstreams are offered ALPN "h2,http/1.1" on new connections (this
     * context), and use HTTP/2 when they select h2 */
    struct tls_client *tls_h2;
    bool http2;
    struct config_upstream *upstreams;
    size_t n_upstreams;
    enum config_balance balance;
    /* balance hash: what is hashed: the client address (NULL), the request target ("uri"),
     * or a request field (hash_header, its name) */
    bool hash_uri;
    char *hash_header;
    unsigned id;            /* index of this proxy in the configuration (per-worker state) */
    double connect_timeout; /* seconds; a connect slower than this: 504 (next upstream) */
    double read_timeout;    /* between two reads of the response: 504, or the response cut */
    double send_timeout;    /* between two writes of the request */
    double idle_timeout;    /* an idle pooled connection is closed after this */
    unsigned keepalive;     /* idle connections kept per upstream and worker (0: none) */
    unsigned retries;       /* further attempts of an idempotent request (other upstreams) */
    unsigned max_fails;     /* failures in a row that take an upstream out ... */
    double fail_timeout;    /* ... for this long (passive health check) */
    enum config_proxy_host host_mode;
    char *host;       /* CONFIG_PROXY_HOST_SET: the Host value */
    bool forwarded;   /* RFC 7239 Forwarded: for, proto, host */
    bool x_forwarded; /* X-Forwarded-For (appended), -Proto, -Host */
    /* active health checks (handler/proxy_health.c); health_path NULL: none */
    char *health_path;
    double health_interval, health_timeout;
    unsigned health_fails, health_passes;
    bool via; /* Via on requests and responses (RFC 9110 §7.6.3) */
};

struct cache_store;

/* `cache` of a proxy location (handler/cache.h): an RFC 9111 shared cache, in memory or on disk. */
struct config_cache {
    uint64_t max_size;        /* bytes of stored responses, default 64 MiB */
    uint64_t max_object_size; /* a larger response is not stored, default 8 MiB */
    double heuristic_max;     /* cap of a heuristic freshness lifetime (§4.2.2), default 1 day */
    bool purge; /* PURGE removes a stored URL (answered here, never forwarded); default false */
    char *path; /* the disk store's directory (resolved), or NULL: in memory */
    uint64_t max_disk_size;    /* bytes of the disk store's files, default 1 GiB */
    uint64_t write_queue;      /* bytes queued for the disk store's writer thread, 16 MiB */
    struct cache_store *store; /* made at load, shared by the worker threads */
};

/* `auth` of a location (RFC 9110 §11): Basic (RFC 7617) against htpasswd crypt(3) hashes, or
 * Digest (RFC 7616) against htdigest HA1s, from a user file read at load (config_auth.c);
 * handler/auth.h checks requests. */
enum config_auth_scheme { CONFIG_AUTH_BASIC, CONFIG_AUTH_DIGEST };
struct config_auth_user {
    char *name;
    char *hash; /* basic: a crypt(3) hash ("$6$...", "$2y$...", "$y$..."); digest: NULL */
    /* digest, indexed by enum digest_alg (MD5, SHA-256): HA1 = H(user:realm:password) and the
     * userhash H(user:realm) (RFC 7616 §3.4.4), lower-case hex; ha1 "" when the file has none */
    char ha1[2][65];
    char userhash[2][65];
};
struct config_auth {
    enum config_auth_scheme scheme;
    char *realm;
    char *user_file;                /* absolute or relative to the configuration file */
    struct config_auth_user *users; /* sorted by name (strcmp) */
    size_t n_users;
    enum digest_alg algorithms[2]; /* digest: offered in this order, one challenge each */
    size_t n_algorithms;
    double nonce_lifetime; /* digest: seconds a nonce is good for; default 300 */
};

struct regex;

/* How a location matches the request's normalized path (issue #14): `exact` locations first,
 * then `regex` ones in the order of the file (the first that matches), then the longest
 * `path` prefix. */
enum config_location_kind { CONFIG_LOC_PREFIX, CONFIG_LOC_EXACT, CONFIG_LOC_REGEX };

struct config_location {
    char *path;      /* URL path prefix, e.g. "/" or "/static/"; the exact path; the pattern */
    size_t path_len; /* 0 for a regex location (never compared as a prefix) */
    enum config_location_kind kind;
    struct regex *regex; /* CONFIG_LOC_REGEX: compiled at load (server/regex.h) */
    int n_captures;      /* its capture groups ({1}..{9} in templates) */
    unsigned order;      /* position in the file (regex locations keep it) */
    char *rewrite_to;    /* a template: the path becomes this, and is routed again */
    char *root;          /* directory the prefix maps to (inherited from the server if unset) */
    char **index;        /* index file names, default {"index.html"} */
    size_t n_index;
    bool listing;               /* directory listing, default false */
    char *cache_control;        /* Cache-Control value or NULL */
    unsigned methods;           /* CONFIG_METHOD_* mask, default GET|HEAD|OPTIONS */
    bool trace;                 /* TRACE echo, default false */
    bool symlinks_outside_root; /* follow symlinks leading outside root, default false */
    bool compress;              /* on-the-fly compression, default true */
    bool dotfiles;              /* serve paths with a segment starting with '.', default false */
    /* Root was set on this location: the request path after `path` maps onto root ("/dl/a" ->
     * root/a for path "/dl/"). When false the whole request path maps onto root (the server's).
     * config_location_subpath() gives the part to append. */
    bool own_root;
    /* HTTP/2 server push (RFC 9113 §8.4), default false: when on, `Link: <...>; rel=preload`
     * response fields and push_paths trigger PUSH_PROMISE for same-origin resources. */
    bool push;
    char **push_paths; /* absolute paths pushed with every response of this location */
    size_t n_push_paths;
    /* 103 Early Hints (RFC 8297): Link field values sent before the final response (h1, h2) */
    char **early_hints;
    size_t n_early_hints;
    /* Answer GET/HEAD with JSON describing how the request came (HTTP version, TLS, client)
     * instead of serving files; default false. See handler/conninfo.h. */
    bool connection_info;
    bool metrics; /* `metrics`: the Prometheus endpoint (handler/metrics.h) */
    /* access rules and rate limit (server/guard.h checks them before the handler) */
    struct config_access_rule *access;
    size_t n_access;
    struct config_rate_limit rate_limit;
    struct config_limit_conn limit_conn;
    struct guard_counts *guard_counts; /* with any guard: what they did (metrics) */
    struct config_auth *auth;          /* NULL: no authentication */
    /* Site rules (server/site.h): fields, a redirect instead of content, try_files, and
     * error pages (looked up here first, then in the server's). */
    struct config_headers headers;
    char *redirect_to; /* a template (http/template.h); NULL: none */
    int redirect_status;
    char **try_files; /* templates; the last may be "=NNN" */
    size_t n_try_files;
    struct config_error_page *error_pages;
    size_t n_error_pages;
    struct config_proxy *proxy; /* NULL: files are served (handler/proxy.h) */
    struct config_cache *cache; /* NULL: proxied responses are not cached */
};

/* A certificate and its key (PEM files), with an optional DER OCSP response to staple. */
struct config_cert {
    char *cert_file; /* NULL when unset */
    char *key_file;
    char *ocsp_file;
};

struct config_server {
    char **names; /* server names (lower case), may be empty */
    size_t n_names;
    char *root; /* default root for locations */
    bool is_default;
    struct config_cert cert;           /* chosen by SNI for these names; else the tls default */
    struct config_location *locations; /* sorted longest path first; always has "/" */
    size_t n_locations;
    struct config_headers headers; /* applied before the location's */
    struct config_hsts hsts;
    struct config_error_page *error_pages;
    size_t n_error_pages;
    /* Its requests' access log (path and format), or NULL: the top-level one */
    struct config_access_log *access;
};

struct config_listen {
    char *host; /* "127.0.0.1", "::1", "0.0.0.0" (no brackets) */
    int port;
    bool tls;       /* TLS listener (ALPN h2, http/1.1) */
    bool quic_only; /* UDP only: HTTP/3 over QUIC and no TCP listener (quic_listen) */
};

struct config_tls {
    struct config_cert cert;  /* default certificate (also when SNI matches no server) */
    bool tickets;             /* session tickets; default true */
    double ticket_lifetime;   /* seconds a ticket key encrypts before rotating; default 3600 */
    double handshake_timeout; /* seconds; default 10 */
};

struct config_http2 {
    bool enabled;                    /* ALPN h2 and h2c; default true */
    bool h2c;                        /* cleartext h2 (prior knowledge, Upgrade); default true */
    uint32_t max_concurrent_streams; /* default 128 */
    uint32_t initial_window_size;    /* stream receive window we advertise; default 65535 */
    uint32_t connection_window;      /* connection receive window; default 16 MiB */
    uint32_t max_frame_size;         /* SETTINGS_MAX_FRAME_SIZE we accept; default 16384 */
    uint32_t header_table_size;      /* our HPACK decoder table; default 4096 */
    uint32_t max_header_list_size;   /* advertised and enforced; default limits.header_size */
    /* defences (each: past the budget, GOAWAY ENHANCE_YOUR_CALM) */
    uint32_t max_resets_per_10s; /* streams reset by the client (or made to be) per 10 s; 200 */
    uint32_t max_continuations;  /* CONTINUATION frames per header block; default 16 */
    uint32_t max_idle_frames_per_10s; /* frames doing no useful work per 10 s; default 1000 */
    size_t max_control_queue;         /* bytes of unread PING/SETTINGS acks queued; 64 KiB */
    double preface_timeout;           /* seconds for the preface and each header block; 10 */
    double idle_timeout;              /* seconds without streams before GOAWAY; default 10 */
    double stalled_stream_timeout;    /* seconds a stream may sit on a zero window; 10 */
};

struct config_limits {
    size_t request_line;       /* 414 beyond; default 8192 */
    size_t header_size;        /* 431 beyond (whole head); default 32768 */
    size_t header_count;       /* 431 beyond; default 100 */
    uint64_t body_size;        /* 413 beyond; default 1 MiB */
    size_t pipeline;           /* requests parsed ahead of the one being answered; default 16 */
    size_t keepalive_requests; /* per connection; default 1000 */
    size_t ranges;             /* ranges per request; default 16 */
    size_t connections;        /* per worker; default 16384 */
};

struct config_timeouts { /* seconds */
    double header;       /* whole request head, however slowly it trickles; default 10 */
    double keepalive;    /* idle between requests; default 30 */
    double body;         /* idle while reading a body; default 10 */
    double send;         /* idle while writing a response; default 10 */
    double graceful;     /* graceful stop bound; default 10 */
};

struct config_http1 {
    bool http09;         /* accept the one-line HTTP/0.9 request; default true */
    bool allow_bare_lf;  /* leniency: LF without CR as line end; default false */
    bool allow_obs_fold; /* leniency: obs-fold replaced by SP; default false */
};

struct config_compression {
    bool on_the_fly;    /* default true */
    size_t min_size;    /* default 1024 bytes */
    size_t max_size;    /* larger files are not compressed on the fly; default 8 MiB */
    int gzip_level;     /* default 6 */
    int brotli_level;   /* default 4 */
    int zstd_level;     /* default 3 */
    bool precompressed; /* look for .br/.zst/.gz siblings; default true */
};

/* True when some access log (the top-level one or a server's) writes v. */
struct config;
bool config_logs_use(const struct config *cfg, enum log_var v);

/* The access log's format and batching (top-level `access_log` as a mapping); its path stays
 * config.access_log. */
enum config_log_format { CONFIG_LOG_COMBINED, CONFIG_LOG_JSON, CONFIG_LOG_CUSTOM };
struct config_access_log {
    enum config_log_format format; /* default Combined */
    struct log_format custom;      /* CONFIG_LOG_CUSTOM: the compiled format string */
    size_t buffer;                 /* bytes a worker batches before it writes them; default 32k */
    int flush_ms; /* longest a line waits in the batch; 0 (default): written at the end of
                   * the event loop iteration that logged it */
    /* A server's own log (config_server.access): its path ("off": none), and the slot
     * (core/log.h) the serving process opened it in; unused at the top level. */
    char *path;
    int slot;
};

/* Request ids (http/request_id.h, top-level `request_id`). */
struct config_request_id {
    char *header;          /* request field an id is taken from, and the proxy sends it in */
    char *response_header; /* response field it goes back to the client in; NULL: none */
};

/* Ownership: every pointer in a struct config (strings, arrays, listen hosts) is its own malloc
 * block, freed by config_free(); a caller may replace one with free() + strdup(). Locations keep
 * their own copy of an inherited root. */
struct config {
    char *source; /* file it came from, or NULL for the command line's defaults */
    struct config_listen *listens;
    size_t n_listens;
    int workers;      /* 0 = number of CPUs */
    char *user;       /* `user:` NAME or NAME:GROUP to serve as once bound (from root), or NULL */
    char *access_log; /* path, "stdout" or "off"; default "off" for serve, see cli */
    struct config_access_log access;
    bool log_h2_fingerprint; /* some access log writes http2_fingerprint: sessions keep it */
    bool log_duration;       /* some access log writes duration_us: requests note their start */
    bool server_logs;        /* some server has an access log of its own */
    struct config_request_id request_id;
    char *error_log; /* path or "stderr"; default "stderr" */
    int log_level;   /* enum log_level; default info */
    struct config_limits limits;
    struct config_timeouts timeouts;
    struct config_http1 http1;
    struct config_compression compression;
    struct config_tls tls;
    struct config_http2 http2;
    bool quic; /* HTTP/3 over QUIC on UDP beside every TLS listener; default true */
    struct config_http3 {
        bool retry_always;        /* Retry every new client (RFC 9000 §8.1.2); default false */
        uint32_t retry_threshold; /* else Retry once a worker has this many handshakes; 200 */
        uint32_t max_handshakes;  /* handshakes in flight per worker, then refuse; 1000 */
        bool early_data; /* 0-RTT on resumption (RFC 9001 §4.6); unsafe requests in it get 425
                          * Too Early (RFC 8470 §5.2); default true */
        bool isolate;    /* serve HTTP/3 from a supervised process of its own; default true */
    } http3;
    struct config_server *servers;
    size_t n_servers;
    size_t default_server; /* index into servers */
    /* The buckets of every location's rate_limit, shared by the worker threads; NULL when no
     * location has one. A reload starts a new table (every client starts with a full bucket). */
    struct rate_table *rate_table;
    uint32_t n_rate_limits;
    unsigned n_proxies;   /* `proxy` locations (their config_proxy.id) */
    unsigned n_upstreams; /* over all of them (their config_upstream.stats_slot) */
    /* Every cleartext request goes to HTTPS on the first TLS listener (308, 301 for GET and
     * HEAD), but /.well-known/acme-challenge/; default false. */
    bool https_redirect;
    /* `forward_proxy`: CONNECT tunnels (RFC 9110 §9.3.6) over HTTP/1.1 to allowed
     * destinations (handler/forward.h); off by default */
    struct config_forward {
        bool enabled;
        char **allow; /* "host:port" patterns with * wildcards (fnmatch); default "*:443" */
        size_t n_allow;
        bool allow_private; /* loopback, private and link-local destinations; default false */
        double connect_timeout;
        struct config_auth *auth; /* Proxy-Authorization required (407), or NULL */
    } forward;
    /* `real_ip`: the client address proxies in `from` report (http/realip.h), which then stands
     * for the peer in logs, access rules, rate limits and forwarding fields; off when n_from
     * is 0 */
    struct config_real_ip {
        struct cidr *from;
        size_t n_from;
        struct realip_rules rules;
    } real_ip;
    /* `metrics`: a cleartext listener of its own serving /metrics (handler/metrics.h) and,
     * with `status`, the status page at /status; off when enabled is false. The listener is
     * bound at start (a reload keeps it); allow is read per request. */
    struct config_metrics {
        bool enabled;
        struct config_listen listen;
        struct cidr *allow; /* who may ask (403 otherwise); NULL: everyone */
        size_t n_allow;
        bool status;            /* the HTML status page at /status; default false */
        double sample_interval; /* seconds between the status page's samples; default 5 */
    } metrics;
    /* `redis`: where the buckets of `shared` rate limits live (server/redis_link.h); address
     * NULL when unset */
    struct config_redis {
        char *address;    /* as written: "host:port" or "unix:/path", for log lines */
        char *host;       /* TCP: an IP literal or name; NULL for a Unix socket */
        int port;         /* TCP */
        char *path;       /* Unix socket, or NULL */
        int timeout_ms;   /* per command; default 50 */
        char *key_prefix; /* default "tern:" */
    } redis;
};

/* Frees a location's proxy (config_proxy.c); NULL is fine. */
void config_proxy_free(struct config_proxy *p);
/* Frees a location's cache and its store (config_cache.c); NULL is fine. */
void config_cache_free(struct config_cache *c);
/* cfg was replaced by a reload (and is kept until exit for the requests still on it): its
 * caches drop what they store and store nothing more (config_cache.c). */
void config_caches_close(struct config *cfg);

/* The default certificate: tls.cert, else the default server's, else the first server's;
 * NULL when there is none. */
const struct config_cert *config_default_cert(const struct config *cfg);
/* Loads and validates a YAML file. On error returns NULL and writes "file:line: message" into
 * err. Unknown keys, wrong types and out-of-range values are errors. */
struct config *config_load_file(const char *path, char *err, size_t errlen);
/* Same from a memory buffer; `name` is used in messages (the fuzzer uses this). */
struct config *config_load_buffer(const char *name, const char *data, size_t len, char *err,
                                  size_t errlen);
/* 0 when path is a directory tern can list and enter (read and search permission), else the
 * errno that says why not (ENOENT, ENOTDIR, EACCES...). */
int config_root_usable(const char *path);
/* A configuration with every default, one server with root `root` and one location "/". */
struct config *config_default(const char *root);
void config_free(struct config *cfg);

/* Parses "ADDR:PORT", "[v6]:PORT" or ":PORT"/"PORT"/"*:PORT" (host "0.0.0.0"). A host name
 * such as "localhost" is kept as given. Port 1-65535. Returns 0 with out->host malloc'd (the
 * caller owns it), or -1. */
int config_parse_listen(const char *s, struct config_listen *out);

/* Virtual host for a request host (lower case, no port): exact name, then "*.suffix" wildcard
 * names (the longest suffix wins; "*.example.org" matches "a.example.org" and "a.b.example.org",
 * not "example.org"), else the default server. One trailing dot is ignored and letters are
 * compared case-insensitively. Never NULL if the config has a server; no allocation. */
/* True when one of the servers' names (exact or wildcard) is host. */
bool config_names_host(const struct config *cfg, const char *host, size_t len);
const struct config_server *config_find_server(const struct config *cfg, const char *host,
                                               size_t len);
/* Longest location whose path is a prefix of the normalized path. Never NULL. A path ending in
 * '/' ("/dl/") matches paths that start with it, so not "/dl"; one without ("/dl") matches "/dl"
 * and "/dl/..." but not "/dlx". Linear in the number of locations, no allocation. */
/* The location for a normalized path, with a regex location's captures in caps[1..9] when
 * caps is not NULL (caps[0]: the whole match). */
const struct config_location *config_match_location(const struct config_server *srv,
                                                    const char *path, size_t len, str_t *caps);
const struct config_location *config_find_location(const struct config_server *srv,
                                                   const char *path, size_t len);
/* The part of the normalized request path to append to loc->root: the whole path, or for a
 * location with own_root the rest after its prefix, always starting with '/' ("/" when nothing
 * is left). Sets *out_len; never allocates. */
const char *config_location_subpath(const struct config_location *loc, const char *path, size_t len,
                                    size_t *out_len);

#endif
