/* `tern get URL...`: an HTTP client with curl's habits (its options, output and exit codes)
 * on tern's own engines: HTTP/1.0 and HTTP/1.1 over TCP and TLS, HTTP/2 over TLS (ALPN, the
 * default for https as in curl) and over cleartext with prior knowledge. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "client/altsvc.h"
#include "client/decode.h"
#include "client/h1_exchange.h"
#include "client/h2_client.h"
#include "client/h3_client.h"
#include "client/transport.h"
#include "client/url.h"
#include "core/log.h"
#include "http/digest.h"
#include "tls/tls.h"

#define MAX_HEADERS 64
#define OUT_BUFFER  (256 * 1024) /* stdio buffer of the body's output */

struct get_opts {
    const char *urls[64];
    int n_urls;
    const char *outputs[64]; /* -o FILE, one per URL in order (curl) */
    int n_outputs;
    bool remote_name, include, head_only, verbose, silent, show_error, fail, follow, insecure;
    bool resume, compressed, digest, parallel;
    bool http3;       /* --http3: HTTP/3 over QUIC only (https only) */
    bool h3_fallback; /* --http3-fallback: HTTP/3 first, TCP when QUIC does not connect */
    bool http09;      /* --http0.9: take a response without a status line */
    int max_redirs;
    const char *write_out, *method, *cacert, *range, *user, *agent;
    const char *alt_svc_file; /* --alt-svc FILE; "" turns the cache off */
    const char *headers[MAX_HEADERS];
    int n_headers;
    const char *data;   /* -d / --data-binary (a leading @ names a file) */
    bool data_binary;   /* --data-binary: no form Content-Type */
    const char *upload; /* -T FILE */
    int version;        /* 10 or 11 */
    bool http1_only;    /* --http1.0 / --http1.1: no h2 in ALPN */
    bool h2_prior;      /* --http2-prior-knowledge: HTTP/2 on cleartext too */
    bool h2_upgrade;    /* --http2: on cleartext, ask for an h2c Upgrade */
    double max_time, connect_timeout;
    double limit_rate; /* --limit-rate: body bytes per second, 0: none */
};

struct get_run {
    const struct get_opts *o;
    const char *out_path; /* NULL: stdout */
    bool append;          /* -C -: the file grows */
    FILE *out;            /* opened at the first byte to write */
    struct transport_conn conn;
    int64_t t_start;
    int redirects;
    int64_t resume_from;
    bool discard; /* -f with a status >= 400, or a redirect being followed: no body */
    int status;   /* an exit status decided from the head (22, 33, 61), 0 */
    struct content_decoder *decoder; /* --compressed and a Content-Encoding we decode */
    bool decode_failed;
    bool digest_sent; /* --digest: the Authorization answering the challenge went out */
    struct progress progress;
    char digest_auth[1200];
    const struct url *url;          /* the URL being fetched */
    int64_t rate_start, rate_bytes; /* --limit-rate: since when, how much */
    uint16_t h3_port; /* HTTP/3's UDP port when an Alt-Svc named another; 0: the URL's */
};

/* Alternative services the https origins advertised, kept between runs (RFC 7838). */
static struct altsvc_cache altsvc;

static int usage(void)
{
    fprintf(
        stderr,
        "usage: tern get [options] URL...\n"
        "  -o FILE, -O        write the body to FILE / to the URL's file name\n"
        "  -i, -I             include the response head / HEAD request, head only\n"
        "  -v, -s, -S         verbose / silent / show errors when silent\n"
        "  -f                 fail (exit 22) on HTTP status >= 400\n"
        "  -w FORMAT          write out %%{http_version}, %%{response_code}, %%{size_download},\n"
        "                     %%{time_connect}, %%{time_appconnect}, %%{time_starttransfer},\n"
        "                     %%{time_total}, %%{url_effective}, %%{num_redirects}\n"
        "  -X METHOD, -H 'Name: value', -A AGENT, -u USER:PASS [--digest], -r RANGE, -C -\n"
        "  -d DATA, --data-binary DATA|@FILE, -T FILE\n"
        "  -L, --max-redirs N, -k, --cacert FILE, -m SECONDS, --connect-timeout SECONDS\n"
        "  --limit-rate RATE  at most RATE body bytes a second (100K, 1M)\n"
        "  --alt-svc FILE     the Alt-Svc cache (default ~/.cache/tern/alt-svc; \"\" for none)\n"
        "  --http1.0, --http1.1, --http2, --http2-prior-knowledge, --http3, --compressed\n"
        "  (gzip, br, zstd), -Z (the URLs at once, as streams of one HTTP/2 connection)\n");
    return 2;
}

static int parse_opts(int argc, char **argv, struct get_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_redirs = 50;
    o->version = 11;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKE()                                                                                     \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "tern get: option %s needs a value\n", a);                             \
            return -1;                                                                             \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            TAKE();
            if (o->n_outputs < 64) o->outputs[o->n_outputs++] = v;
        } else if (!strcmp(a, "-O") || !strcmp(a, "--remote-name"))
            o->remote_name = true;
        else if (!strcmp(a, "-i") || !strcmp(a, "--include"))
            o->include = true;
        else if (!strcmp(a, "-I") || !strcmp(a, "--head"))
            o->head_only = true;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
            o->verbose = true;
        else if (!strcmp(a, "-s") || !strcmp(a, "--silent"))
            o->silent = true;
        else if (!strcmp(a, "-S") || !strcmp(a, "--show-error"))
            o->show_error = true;
        else if (!strcmp(a, "-sS") || !strcmp(a, "-Ss"))
            o->silent = o->show_error = true;
        else if (!strcmp(a, "-f") || !strcmp(a, "--fail"))
            o->fail = true;
        else if (!strcmp(a, "-L") || !strcmp(a, "--location"))
            o->follow = true;
        else if (!strcmp(a, "-k") || !strcmp(a, "--insecure"))
            o->insecure = true;
        else if (!strcmp(a, "--max-redirs")) {
            TAKE();
            o->max_redirs = atoi(v);
        } else if (!strcmp(a, "-w") || !strcmp(a, "--write-out")) {
            TAKE();
            o->write_out = v;
        } else if (!strcmp(a, "-X") || !strcmp(a, "--request")) {
            TAKE();
            o->method = v;
        } else if (!strcmp(a, "--alt-svc")) {
            TAKE();
            o->alt_svc_file = v;
        } else if (!strcmp(a, "--cacert")) {
            TAKE();
            o->cacert = v;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--range")) {
            TAKE();
            o->range = v;
        } else if (!strcmp(a, "-u") || !strcmp(a, "--user")) {
            TAKE();
            o->user = v;
        } else if (!strcmp(a, "-A") || !strcmp(a, "--user-agent")) {
            TAKE();
            o->agent = v;
        } else if (!strcmp(a, "-d") || !strcmp(a, "--data")) {
            TAKE();
            o->data = v;
        } else if (!strcmp(a, "--data-binary")) {
            TAKE();
            o->data = v;
            o->data_binary = true;
        } else if (!strcmp(a, "-T") || !strcmp(a, "--upload-file")) {
            TAKE();
            o->upload = v;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--max-time")) {
            TAKE();
            o->max_time = atof(v);
        } else if (!strcmp(a, "--limit-rate")) {
            TAKE();
            char *end;
            o->limit_rate = strtod(v, &end);
            if (*end == 'k' || *end == 'K')
                o->limit_rate *= 1024, end++;
            else if (*end == 'm' || *end == 'M')
                o->limit_rate *= 1024 * 1024, end++;
            else if (*end == 'g' || *end == 'G')
                o->limit_rate *= 1024.0 * 1024 * 1024, end++;
            if (*end || o->limit_rate <= 0) {
                fprintf(stderr, "tern get: --limit-rate takes bytes per second (100K, 1M)\n");
                return -1;
            }
        } else if (!strcmp(a, "--connect-timeout")) {
            TAKE();
            o->connect_timeout = atof(v);
        } else if (!strcmp(a, "--http1.0") || !strcmp(a, "-0"))
            o->version = 10, o->http1_only = true;
        else if (!strcmp(a, "--http1.1"))
            o->version = 11, o->http1_only = true;
        else if (!strcmp(a, "--http2"))
            o->http1_only = false, o->h2_upgrade = true;
        else if (!strcmp(a, "--http2-prior-knowledge"))
            o->http1_only = false, o->h2_prior = true;
        else if (!strcmp(a, "--http3"))
            o->http3 = true;
        else if (!strcmp(a, "--http3-fallback"))
            o->h3_fallback = true;
        else if (!strcmp(a, "--http0.9"))
            o->http09 = true;
        else if (!strcmp(a, "-Z") || !strcmp(a, "--parallel"))
            o->parallel = true;
        else if (!strcmp(a, "--compressed"))
            o->compressed = true;
        else if (!strcmp(a, "--digest"))
            o->digest = true;
        else if (!strcmp(a, "--basic"))
            o->digest = false;
        else if (!strcmp(a, "-C") || !strcmp(a, "--continue-at")) {
            TAKE();
            if (strcmp(v, "-") != 0) {
                fprintf(stderr, "tern get: only -C - (resume where the file ends) is supported\n");
                return -1;
            }
            o->resume = true;
        } else if (!strcmp(a, "-H") || !strcmp(a, "--header")) {
            TAKE();
            if (o->n_headers == MAX_HEADERS || !strchr(v, ':') || strpbrk(v, "\r\n")) {
                fprintf(stderr, "tern get: bad or too many -H headers\n");
                return -1;
            }
            o->headers[o->n_headers++] = v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "tern get: unknown option %s\n", a);
            return -1;
        } else if (o->n_urls < 64) {
            o->urls[o->n_urls++] = a;
        }
#undef TAKE
    }
    if (!o->n_urls) return -1;
    if (o->resume && !o->n_outputs && !o->remote_name) {
        fprintf(stderr, "tern get: -C - needs -o FILE or -O\n");
        return -1;
    }
    return 0;
}

/* ---- output ---- */

static int emit(struct get_run *r, const char *p, size_t n)
{
    if (!n) return 0;
    if (!r->out) {
        r->out = r->out_path ? fopen(r->out_path, r->append ? "ab" : "wb") : stdout;
        if (!r->out) return -1;
        /* a body goes out in big writes, not stdio's 4 KiB ones (stdout: see cli_get) */
        if (r->out != stdout) setvbuf(r->out, NULL, _IOFBF, OUT_BUFFER);
    }
    return fwrite(p, 1, n, r->out) == n ? 0 : -1;
}

static bool is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static void verbose_lines(char mark, const char *raw, size_t len)
{
    for (const char *p = raw, *end = raw + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        fprintf(stderr, "%c %.*s\n", mark, (int)(l && p[l - 1] == '\r' ? l - 1 : l), p);
        p += l + 1;
    }
}

static int on_head(void *ctx, const struct client_response *rs, const char *raw, size_t len,
                   bool interim)
{
    struct get_run *r = ctx;
    const struct get_opts *o = r->o;
    if (o->verbose) verbose_lines('<', raw, len);
    if (interim) return 0;
    int st = rs->head.status;
    size_t n;
    const char *alt = r->url && r->url->https ? client_response_field(rs, "alt-svc", &n) : NULL;
    if (alt) altsvc_update(&altsvc, r->url->host, r->url->port, str_make(alt, n), time(NULL));
    bool redirect = o->follow && is_redirect(st) && client_response_field(rs, "location", &n);
    /* --digest: the first 401 carries the challenge; its body is not the answer */
    bool challenge = o->digest && o->user && st == 401 && !r->digest_sent;
    r->discard = redirect || challenge || (o->fail && st >= 400);
    if (challenge) return 0;
    if (o->fail && st >= 400) {
        r->status = CLIENT_HTTP_ERROR;
        return 0;
    }
    if (r->resume_from && st == 200) { /* the server ignored the range */
        r->status = 33;
        return -1;
    }
    if ((o->include || o->head_only) && emit(r, raw, len) < 0) return -1;
    if (!r->discard) progress_expect(&r->progress, rs->head.content_length);
    const char *ce =
        o->compressed && !r->discard ? client_response_field(rs, "content-encoding", &n) : NULL;
    content_decoder_free(r->decoder);
    r->decoder = NULL;
    if (ce && !(n == 8 && !strncasecmp(ce, "identity", 8))) {
        bool unsupported;
        r->decoder = content_decoder_new((str_t){ce, n}, &unsupported);
        if (!r->decoder) {
            r->status = 61; /* curl: unrecognized or bad content encoding */
            return -1;
        }
    }
    return 0;
}

static int emit_decoded(void *ctx, const char *p, size_t n)
{
    return emit(ctx, p, n);
}

static void on_request_head(void *ctx, const char *raw, size_t len)
{
    struct get_run *r = ctx;
    if (r->o->verbose) verbose_lines('>', raw, len);
}

/* --limit-rate: sleeps until the bytes so far fit the rate; the reads stop meanwhile, so the
 * server is held back by TCP's window or HTTP/2's and QUIC's flow control (as curl does). */
static void limit_rate(struct get_run *r, size_t len)
{
    double rate = r->o->limit_rate;
    if (rate <= 0) return;
    int64_t now = client_now_us();
    if (!r->rate_start) r->rate_start = now;
    r->rate_bytes += (int64_t)len;
    int64_t due = r->rate_start + (int64_t)((double)r->rate_bytes / rate * 1e6);
    for (; due > now; now = client_now_us())
        usleep((useconds_t)(due - now < 1000000 ? due - now : 1000000));
}

static int on_body(void *ctx, const char *data, size_t len)
{
    struct get_run *r = ctx;
    if (r->discard) return 0;
    limit_rate(r, len);
    progress_add(&r->progress, (int64_t)len);
    if (!r->decoder) return emit(r, data, len);
    bool sink_failed;
    if (content_decoder_feed(r->decoder, data, len, emit_decoded, r, &sink_failed) == 0) return 0;
    if (!sink_failed) r->status = 61, r->decode_failed = true;
    return -1;
}

static void write_out(const char *fmt, const struct get_run *r, const struct client_response *rs,
                      const struct url *u, int64_t t_end)
{
    double base = (double)r->t_start;
    for (const char *p = fmt; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            putchar(*p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p);
            continue;
        }
        if (*p == '%' && p[1] == '%') {
            putchar('%');
            p++;
            continue;
        }
        if (*p != '%' || p[1] != '{' || !strchr(p, '}')) {
            putchar(*p);
            continue;
        }
        const char *name = p + 2;
        size_t n = (size_t)(strchr(p, '}') - name);
        p = name + n;
#define IS(s) (n == sizeof(s) - 1 && !memcmp(name, s, n))
        if (IS("http_version"))
            printf("%s", !rs->head.status         ? "0"
                         : rs->head.version == 9  ? "0.9"
                         : rs->head.version == 10 ? "1.0"
                         : rs->head.version >= 20 ? rs->head.version == 20 ? "2" : "3"
                                                  : "1.1");
        else if (IS("response_code") || IS("http_code"))
            printf("%03d", rs->head.status);
        else if (IS("size_download"))
            printf("%lld", (long long)rs->body_bytes);
        else if (IS("time_connect"))
            printf("%.6f", r->conn.t_connected ? (r->conn.t_connected - base) / 1e6 : 0.0);
        else if (IS("time_appconnect"))
            printf("%.6f",
                   u->https && r->conn.t_tls_done ? (r->conn.t_tls_done - base) / 1e6 : 0.0);
        else if (IS("time_starttransfer"))
            printf("%.6f", rs->t_first_byte ? (rs->t_first_byte - base) / 1e6 : 0.0);
        else if (IS("time_total"))
            printf("%.6f", (t_end - base) / 1e6);
        else if (IS("url_effective"))
            printf("%s://%s%s%s:%u%s", u->https ? "https" : "http", u->ipv6 ? "[" : "", u->host,
                   u->ipv6 ? "]" : "", u->port, u->target);
        else if (IS("num_redirects"))
            printf("%d", r->redirects);
        else
            printf("%%{%.*s}", (int)n, name);
#undef IS
    }
    fflush(stdout);
}

/* ---- one URL, following redirects ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64(const char *in, char *out, size_t outlen)
{
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n && o + 5 < outlen; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n) v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = 0;
}

/* The method after a redirect (RFC 9110 §15.4): 303 makes it GET (HEAD stays), and so do 301
 * and 302 for POST, as user agents do; 307 and 308 keep method and body. */
static const char *redirect_method(const char *method, int status, bool *drop_body)
{
    *drop_body = false;
    if ((status == 303 && strcmp(method, "HEAD") != 0) ||
        ((status == 301 || status == 302) && strcmp(method, "POST") == 0)) {
        *drop_body = true;
        return "GET";
    }
    return method;
}

static bool has_header_named(const struct get_opts *o, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < o->n_headers; i++)
        if (!strncasecmp(o->headers[i], name, n) && o->headers[i][n] == ':') return true;
    return false;
}

struct request_parts {
    const char *headers[MAX_HEADERS + 4];
    size_t n;
    char auth[1300], range[128], agent[300];
};

static void request_headers(const struct get_opts *o, struct request_parts *h, bool form,
                            int64_t resume_from, const char *digest_auth)
{
    h->n = 0;
    if (form) h->headers[h->n++] = "Content-Type: application/x-www-form-urlencoded";
    if (o->agent) {
        snprintf(h->agent, sizeof(h->agent), "User-Agent: %s", o->agent);
        h->headers[h->n++] = h->agent;
    }
    if (o->compressed && !has_header_named(o, "accept-encoding"))
        h->headers[h->n++] = "Accept-Encoding: gzip, br, zstd";
    if (digest_auth && *digest_auth) {
        snprintf(h->auth, sizeof(h->auth), "Authorization: %s", digest_auth);
        h->headers[h->n++] = h->auth;
    } else if (o->user && !o->digest) {
        char enc[400];
        base64(o->user, enc, sizeof(enc));
        snprintf(h->auth, sizeof(h->auth), "Authorization: Basic %s", enc);
        h->headers[h->n++] = h->auth;
    }
    if (resume_from) {
        snprintf(h->range, sizeof(h->range), "Range: bytes=%lld-", (long long)resume_from);
        h->headers[h->n++] = h->range;
    } else if (o->range) {
        snprintf(h->range, sizeof(h->range), "Range: bytes=%s", o->range);
        h->headers[h->n++] = h->range;
    }
    for (int i = 0; i < o->n_headers; i++)
        h->headers[h->n++] = o->headers[i];
}

/* Answers the Digest challenge of a 401 (the first WWW-Authenticate that has one). */
static int answer_digest(struct get_run *r, const struct client_response *rs,
                         const struct get_opts *o, const char *method, const char *target)
{
    struct digest_challenge c;
    bool found = false;
    for (size_t i = 0; i < rs->head.n_fields && !found; i++) {
        const struct h1_field *f = &rs->fields[i];
        if (f->name.len == 16 && !strncasecmp(f->name.p, "www-authenticate", 16))
            found = digest_challenge_parse(f->value, &c) == 0;
    }
    if (!found) return -1;
    char user[256], cnonce[33];
    snprintf(user, sizeof(user), "%s", o->user);
    char *colon = strchr(user, ':');
    const char *pass = colon ? colon + 1 : "";
    if (colon) *colon = 0;
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) return -1;
    for (int i = 0; i < 16; i++)
        snprintf(cnonce + 2 * i, 3, "%02x", rnd[i]);
    if (digest_authorization(&c, user, pass, method, target, cnonce, 1, r->digest_auth,
                             sizeof(r->digest_auth)) < 0)
        return -1;
    r->digest_sent = true;
    return 0;
}

/* One connection for get_h3: opens it, runs t on it, closes it. */
static int get_h3_once(struct get_run *r, struct client_transfer *t, int64_t connect_timeout_ms,
                       struct client_error *e)
{
    const struct get_opts *o = r->o;
    const struct client_request *rq = t->rq;
    struct h3_client_params p = {.url = rq->url,
                                 .cacert = o->cacert,
                                 .insecure = o->insecure,
                                 .connect_timeout_ms = connect_timeout_ms,
                                 .deadline_ms = r->conn.deadline_ms,
                                 .port = r->h3_port};
    t->unprocessed = false;
    struct h3_client *c = h3_client_open(&p, e);
    if (!c) return -1;
    const struct h3_client_info *info = h3_client_info(c);
    r->conn.t_start = info->t_start;
    r->conn.t_connected = info->t_connected;
    r->conn.t_tls_done = info->t_tls_done;
    snprintf(r->conn.peer, sizeof(r->conn.peer), "%s", info->peer);
    if (o->verbose) {
        fprintf(stderr, "* Connected to %s (%s) over QUIC\n", rq->url->host, info->peer);
        fprintf(stderr, "* TLS: %s, %s, ALPN %s\n", info->tls_version, info->cipher,
                *info->alpn ? info->alpn : "none");
        fprintf(stderr, "* Using HTTP/3\n");
    }
    int rc = h3_client_submit(c, t);
    if (rc == 0) rc = h3_client_run(c, e);
    if (t->e.status) { /* the transfer's own failure says more than the connection's */
        *e = t->e;
        rc = -1;
    }
    h3_client_close(c);
    return rc;
}

/* One exchange over HTTP/3 (--http3) on a QUIC connection of its own (a new one when the
 * server did not process the request); the timings and the peer go to r->conn for -v and -w.
 * 0, or -1 with *e. */
static int get_h3(struct get_run *r, const struct client_request *rq, struct client_response *rs,
                  const struct client_sinks *sinks, int64_t connect_timeout_ms,
                  struct client_error *e)
{
    const struct get_opts *o = r->o;
    struct client_transfer t = {.rq = rq, .rs = rs, .sinks = sinks};
    int rc;
    do { /* a request the server did not process goes again on a new connection (§5.2) */
        if (t.unprocessed && o->verbose) fprintf(stderr, "* %s: sending it again\n", t.e.msg);
        if (t.unprocessed && rq->body_fd >= 0) lseek(rq->body_fd, 0, SEEK_SET);
        memset(e, 0, sizeof(*e));
        rc = get_h3_once(r, &t, connect_timeout_ms, e);
    } while (rc < 0 && t.unprocessed && t.attempts < 3 &&
             !(r->conn.deadline_ms && client_now_ms() >= r->conn.deadline_ms));
    return rc;
}

static int finish(struct get_run *r, struct client_error *e, const struct client_response *rs,
                  const struct url *u);

enum { H3_NO, H3_ONLY, H3_FIRST };
/* How long HTTP/3 may take to connect before TCP is tried instead. */
#define H3_TRY_MS 1500

/* Whether a URL goes over HTTP/3: --http3 says only; --http3-fallback, or an Alt-Svc the
 * https origin advertised on an earlier run (RFC 7838: same host, maybe another port), say
 * first, with TCP if QUIC does not connect. An explicit --http1.x or --http2 keeps to TCP. */
static int choose_h3(const struct get_opts *o, const struct url *u, uint16_t *port,
                     bool *from_cache)
{
    *port = 0;
    if (o->http3) return H3_ONLY;
    if (!u->https || o->http1_only || o->h2_upgrade || o->h2_prior) return H3_NO;
    if (o->h3_fallback) return H3_FIRST;
    const struct altsvc_entry *a = altsvc_lookup(&altsvc, u->host, u->port, "h3", time(NULL));
    if (!a || strcmp(a->host, u->host) != 0) return H3_NO; /* another host: not taken */
    *port = a->port;
    *from_cache = true;
    if (o->verbose) fprintf(stderr, "* Alt-Svc: HTTP/3 on UDP port %u\n", a->port);
    return H3_FIRST;
}

/* Failures that mean QUIC did not get through (TCP may): no answer, refused, a handshake that
 * failed; not a certificate the server showed (TCP would show the same one). */
static bool h3_connect_failure(int status)
{
    return status == CLIENT_CONNECT || status == CLIENT_TIMEOUT || status == CLIENT_TLS;
}

/* HTTP/1.x, or with --http2 on cleartext an h2c Upgrade (RFC 7540 §3.2): the request goes over
 * HTTP/1.1 asking for h2c; after a 101 its response comes over HTTP/2 (curl's --http2). */
static int exchange_h1(struct get_run *r, struct client_request *rq, struct client_response *rs,
                       const struct client_sinks *sinks, struct client_error *e)
{
    bool upgrade =
        r->o->h2_upgrade && !r->conn.tls && !client_request_has_body(rq) && rq->version == 11;
    struct h2_client *hc = upgrade ? h2_client_new(&r->conn, e) : NULL;
    if (!hc) return h1_client_exchange(&r->conn, rq, rs, sinks, e);
    char settings[128];
    h2_client_upgrade_settings(hc, settings, sizeof(settings));
    rq->h2c_settings = settings;
    int rc = h1_client_exchange(&r->conn, rq, rs, sinks, e);
    rq->h2c_settings = NULL;
    if (rc == 0 && rs->head.status == 101) {
        if (r->o->verbose) fprintf(stderr, "* Upgraded to HTTP/2\n");
        struct buf rest = rs->rest;
        rs->rest = (struct buf){0};
        struct client_transfer t = {.rq = rq, .rs = rs, .sinks = sinks};
        rc = h2_client_run_upgraded(hc, &t, buf_ptr(&rest), buf_size(&rest), e);
        buf_free(&rest);
        if (rc == 0 && t.e.status) *e = t.e, rc = -1;
    }
    h2_client_free(hc);
    return rc;
}

static int get_one(const struct get_opts *o, struct tls_client *tls, const char *url_text,
                   const char *output)
{
    struct get_run r = {.o = o};
    struct client_error e = {0};
    struct client_response rs = {0};
    struct url u = {0};
    char msg[200], name[256];
    int body_fd = -1;
    r.t_start = client_now_us();
    if (url_parse(url_text, &u, msg, sizeof(msg)) < 0) {
        e.status = CLIENT_BAD_URL;
        snprintf(e.msg, sizeof(e.msg), "URL rejected: %s", msg);
        goto report;
    }
    const char *method = o->method      ? o->method
                         : o->head_only ? "HEAD"
                         : o->upload    ? "PUT"
                         : o->data      ? "POST"
                                        : "GET";
    /* the request body: -d text, @file or -T file (a file is sent as it is read) */
    const char *body = NULL;
    int64_t body_len = -1;
    bool body_stream = false;
    const char *file = o->upload ? o->upload : o->data && o->data[0] == '@' ? o->data + 1 : NULL;
    if (file && !strcmp(file, "-")) { /* stdin, sent as it comes: its length is not known */
        body_fd = dup(0);
        body_stream = true;
        if (body_fd < 0) {
            e.status = 26;
            snprintf(e.msg, sizeof(e.msg), "cannot read stdin: %s", strerror(errno));
            goto report;
        }
    } else if (file) {
        struct stat st;
        body_fd = open(file, O_RDONLY | O_CLOEXEC);
        if (body_fd < 0 || fstat(body_fd, &st) < 0) {
            e.status = 26; /* curl: read error */
            snprintf(e.msg, sizeof(e.msg), "cannot read %s: %s", file, strerror(errno));
            goto report;
        }
        body_len = st.st_size;
    } else if (o->data) {
        body = o->data;
        body_len = (int64_t)strlen(o->data);
    }
    r.out_path = output;
    if (!r.out_path && o->remote_name) {
        r.out_path = url_file_name(&u, name, sizeof(name));
        if (!*r.out_path) {
            e.status = CLIENT_WRITE;
            snprintf(e.msg, sizeof(e.msg), "remote file name has no length");
            goto report;
        }
    }
    if (o->resume) {
        struct stat st;
        if (stat(r.out_path, &st) == 0) r.resume_from = st.st_size;
        r.append = r.resume_from > 0;
    }
    bool form = o->data && !file && !o->data_binary;
    progress_start(&r.progress, o->silent || o->verbose || o->write_out, r.out_path == NULL);
    struct request_parts h;
    for (;;) {
        request_headers(o, &h, form && (body_len >= 0 || body_stream), r.resume_from,
                        r.digest_auth);
        r.conn.deadline_ms = o->max_time > 0 ? r.t_start / 1000 + (int64_t)(o->max_time * 1000) : 0;
        r.url = &u;
        int64_t cto = o->connect_timeout > 0 ? (int64_t)(o->connect_timeout * 1000) : 0;
        /* HTTP/3: only (--http3), or first with TCP behind it (--http3-fallback, or an Alt-Svc
         * the origin advertised before) */
        bool from_cache = false;
        int h3 = choose_h3(o, &u, &r.h3_port, &from_cache);
        if (body_fd >= 0) lseek(body_fd, 0, SEEK_SET);
        struct client_request rq = {.method = method,
                                    .url = &u,
                                    .version = o->version,
                                    .headers = h.headers,
                                    .n_headers = h.n,
                                    .body = body,
                                    .body_fd = body_fd,
                                    .body_len = body_len,
                                    .body_stream = body_stream,
                                    .allow_http09 = o->http09};
        struct client_sinks sinks = {
            .head = on_head, .body = on_body, .request_head = on_request_head, .ctx = &r};
        buf_free(&rs.raw);
        buf_free(&rs.rest);
        memset(&rs, 0, sizeof(rs));
        r.discard = false;
        int rc = 0;
        bool tcp = !h3;
        if (h3) {
            /* trying before TCP: a QUIC handshake that does not answer gives up sooner */
            int64_t h3_cto = h3 == H3_FIRST && (!cto || cto > H3_TRY_MS) ? H3_TRY_MS : cto;
            rc = get_h3(&r, &rq, &rs, &sinks, h3_cto, &e);
            if (rc < 0 && h3 == H3_FIRST && !rs.head.status && h3_connect_failure(e.status)) {
                if (o->verbose) fprintf(stderr, "* HTTP/3 failed (%s): TCP instead\n", e.msg);
                if (from_cache) altsvc_forget(&altsvc, u.host, u.port, "h3");
                memset(&e, 0, sizeof(e));
                r.h3_port = 0;
                if (body_fd >= 0) lseek(body_fd, 0, SEEK_SET);
                tcp = true;
            }
        }
        if (tcp && transport_open(&r.conn, &u, tls, cto, &e) < 0) {
            rc = -1;
            tcp = false;
        }
        if (tcp && o->verbose) {
            fprintf(stderr, "* Connected to %s (%s)\n", u.host, r.conn.peer);
            if (r.conn.tls)
                fprintf(stderr, "* TLS: %s, %s, ALPN %s\n", transport_tls_version(&r.conn),
                        transport_cipher(&r.conn),
                        transport_alpn(&r.conn) ? transport_alpn(&r.conn) : "none");
        }
        if (tcp) {
            const char *alpn = transport_alpn(&r.conn);
            bool h2 = r.conn.tls ? alpn && !strcmp(alpn, "h2") : o->h2_prior;
            if (o->verbose && h2) fprintf(stderr, "* Using HTTP/2\n");
            rc = h2 ? h2_client_exchange(&r.conn, &rq, &rs, &sinks, &e)
                    : exchange_h1(&r, &rq, &rs, &sinks, &e);
            transport_close(&r.conn);
        }
        if (rc < 0) {
            if (r.status) {
                e.status = r.status;
                snprintf(e.msg, sizeof(e.msg), "%s",
                         r.status == 33   ? "HTTP server doesn't seem to support byte ranges. "
                                            "Cannot resume."
                         : r.status == 61 ? r.decode_failed ? "corrupt compressed body"
                                                            : "unsupported content encoding"
                                          : "the response could not be written");
            }
            break;
        }
        if (r.decoder && rs.body_bytes && !content_decoder_done(r.decoder)) {
            e.status = 61;
            snprintf(e.msg, sizeof(e.msg), "the compressed body ended early");
            break;
        }
        if (o->digest && o->user && rs.head.status == 401 && !r.digest_sent) {
            if (answer_digest(&r, &rs, o, method, u.target) == 0) continue;
            if (o->fail) {
                e.status = CLIENT_HTTP_ERROR;
                snprintf(e.msg, sizeof(e.msg), "The requested URL returned error: 401");
            }
            break;
        }
        if (r.status == CLIENT_HTTP_ERROR) {
            e.status = CLIENT_HTTP_ERROR;
            snprintf(e.msg, sizeof(e.msg), "The requested URL returned error: %d", rs.head.status);
            break;
        }
        size_t loc_len;
        const char *loc = client_response_field(&rs, "location", &loc_len);
        if (!(o->follow && is_redirect(rs.head.status) && loc)) break;
        if (r.redirects == o->max_redirs) {
            e.status = CLIENT_REDIRECTS;
            snprintf(e.msg, sizeof(e.msg), "Maximum (%d) redirects followed", o->max_redirs);
            break;
        }
        char *ref = strndup(loc, loc_len);
        struct url next;
        int ok = ref ? url_resolve(&u, ref, &next, msg, sizeof(msg)) : -1;
        free(ref);
        if (ok < 0) {
            e.status = CLIENT_BAD_URL;
            snprintf(e.msg, sizeof(e.msg), "bad redirect: %s", msg);
            break;
        }
        bool drop;
        method = redirect_method(method, rs.head.status, &drop);
        if (drop) body = NULL, body_len = -1, body_stream = false, form = false;
        if (o->user && (strcmp(next.host, u.host) != 0 || next.port != u.port)) {
            /* curl does not send credentials to another host after a redirect */
            static struct get_opts no_user;
            no_user = *o;
            no_user.user = NULL;
            o = &no_user;
            r.o = o;
        }
        url_free(&u);
        u = next;
        r.redirects++;
    }
report:
    finish(&r, &e, &rs, &u);
    if (body_fd >= 0) close(body_fd);
    buf_free(&rs.raw);
    buf_free(&rs.rest);
    url_free(&u);
    return e.status;
}

/* The end of one URL's transfer: progress, the error line, -w, the output file. */
static int finish(struct get_run *r, struct client_error *e, const struct client_response *rs,
                  const struct url *u)
{
    const struct get_opts *o = r->o;
    if (r->progress.done || r->progress.total > 0) progress_end(&r->progress);
    if (e->status && (!o->silent || o->show_error))
        fprintf(stderr, "tern: (%d) %s\n", e->status, e->msg);
    if (o->write_out && u->target) write_out(o->write_out, r, rs, u, client_now_us());
    if (r->out && r->out != stdout && fclose(r->out) != 0 && !e->status) e->status = CLIENT_WRITE;
    if (r->out == stdout) fflush(stdout);
    r->out = NULL;
    content_decoder_free(r->decoder);
    r->decoder = NULL;
    return e->status;
}

/* ---- -Z: the URLs of one origin as streams of one HTTP/2 connection ---- */

static bool same_origin(const struct url *a, const struct url *b)
{
    return a->https == b->https && a->port == b->port && !strcmp(a->host, b->host);
}

/* Runs every URL at once on one HTTP/2 connection (one HTTP/3 connection with --http3).
 * Returns the exit status, or -1 when that cannot be done (origins differ, an upload, resume
 * or Digest, a server without HTTP/2): the caller then takes the URLs one after the other. */
static int get_parallel(const struct get_opts *o, struct tls_client *tls)
{
    int n = o->n_urls, rc = -1, opened = 0;
    if (o->data || o->upload || o->resume || o->digest) return -1;
    struct url *us = calloc((size_t)n, sizeof(*us));
    struct get_run *runs = calloc((size_t)n, sizeof(*runs));
    struct client_response *rss = calloc((size_t)n, sizeof(*rss));
    struct client_transfer *ts = calloc((size_t)n, sizeof(*ts));
    struct client_request *rqs = calloc((size_t)n, sizeof(*rqs));
    struct request_parts *hs = calloc((size_t)n, sizeof(*hs));
    struct client_sinks *sinks = calloc((size_t)n, sizeof(*sinks));
    char names[64][256], msg[200];
    struct transport_conn conn = {0};
    struct client_error e = {0};
    if (!us || !runs || !rss || !ts || !rqs || !hs || !sinks) goto out;
    for (; opened < n; opened++) {
        if (url_parse(o->urls[opened], &us[opened], msg, sizeof(msg)) < 0) goto out;
        if (!same_origin(&us[0], &us[opened])) goto out;
    }
    int64_t t0 = client_now_us();
    int64_t cto = o->connect_timeout > 0 ? (int64_t)(o->connect_timeout * 1000) : 0;
    conn.deadline_ms = o->max_time > 0 ? t0 / 1000 + (int64_t)(o->max_time * 1000) : 0;
    struct h2_client *hc = NULL;
    struct h3_client *h3c = NULL;
    if (o->http3) { /* --http3: the streams of one QUIC connection */
        struct h3_client_params hp = {.url = &us[0],
                                      .cacert = o->cacert,
                                      .insecure = o->insecure,
                                      .connect_timeout_ms = cto,
                                      .deadline_ms = conn.deadline_ms};
        if (!(h3c = h3_client_open(&hp, &e))) {
            if (!o->silent || o->show_error) fprintf(stderr, "tern: (%d) %s\n", e.status, e.msg);
            rc = e.status;
            goto out;
        }
        const struct h3_client_info *info = h3_client_info(h3c);
        conn.t_start = info->t_start;
        conn.t_connected = info->t_connected;
        conn.t_tls_done = info->t_tls_done;
    } else {
        if (transport_open(&conn, &us[0], tls, cto, &e) < 0) {
            if (!o->silent || o->show_error) fprintf(stderr, "tern: (%d) %s\n", e.status, e.msg);
            rc = e.status;
            goto out;
        }
        const char *alpn = transport_alpn(&conn);
        if (conn.tls ? !alpn || strcmp(alpn, "h2") != 0 : !o->h2_prior) {
            transport_close(&conn);
            goto out; /* HTTP/1.1: one after the other */
        }
        if (!(hc = h2_client_new(&conn, &e))) {
            transport_close(&conn);
            goto out;
        }
    }
    const char *method = o->method ? o->method : o->head_only ? "HEAD" : "GET";
    for (int i = 0; i < n; i++) {
        struct get_run *r = &runs[i];
        r->o = o;
        r->t_start = t0;
        r->conn = conn;
        r->url = &us[i];
        r->out_path = i < o->n_outputs ? o->outputs[i] : NULL;
        if (!r->out_path && o->remote_name) {
            r->out_path = url_file_name(&us[i], names[i % 64], sizeof(names[0]));
            if (!*r->out_path) r->out_path = NULL;
        }
        progress_start(&r->progress, true, r->out_path == NULL); /* no bars for many at once */
        request_headers(o, &hs[i], false, 0, NULL);
        rqs[i] = (struct client_request){.method = method,
                                         .url = &us[i],
                                         .version = 11,
                                         .headers = hs[i].headers,
                                         .n_headers = hs[i].n,
                                         .body_fd = -1,
                                         .body_len = -1};
        sinks[i] = (struct client_sinks){
            .head = on_head, .body = on_body, .request_head = on_request_head, .ctx = r};
        ts[i] = (struct client_transfer){.rq = &rqs[i], .rs = &rss[i], .sinks = &sinks[i]};
        if (hc)
            h2_client_submit(hc, &ts[i]);
        else
            h3_client_submit(h3c, &ts[i]); /* a failure is the transfer's */
    }
    if (hc) {
        h2_client_run(hc, &e);
        h2_client_free(hc);
        transport_close(&conn);
    } else {
        h3_client_run(h3c, &e);
        h3_client_close(h3c);
    }
    rc = 0;
    for (int i = 0; i < n; i++) {
        struct client_error te = ts[i].e;
        struct get_run *r = &runs[i];
        r->conn = conn;
        if (!te.status && r->status == CLIENT_HTTP_ERROR)
            client_fail(&te, CLIENT_HTTP_ERROR, "The requested URL returned error: %d",
                        rss[i].head.status);
        else if (!te.status && r->status)
            client_fail(&te, r->status, "%s",
                        r->decode_failed ? "corrupt compressed body"
                                         : "the response could not be written");
        int st = finish(r, &te, &rss[i], &us[i]);
        size_t loc_len;
        const char *loc = client_response_field(&rss[i], "location", &loc_len);
        if (!st && o->follow && is_redirect(rss[i].head.status) && loc) {
            /* the redirect is followed on its own */
            char *ref = strndup(loc, loc_len);
            struct url next;
            if (ref && url_resolve(&us[i], ref, &next, msg, sizeof(msg)) == 0) {
                char text[2400];
                snprintf(text, sizeof(text), "%s://%s%s%s:%u%s", next.https ? "https" : "http",
                         next.ipv6 ? "[" : "", next.host, next.ipv6 ? "]" : "", next.port,
                         next.target);
                st = get_one(o, tls, text, r->out_path);
                url_free(&next);
            }
            free(ref);
        }
        if (st) rc = st;
    }
out:
    for (int i = 0; i < opened && us; i++)
        url_free(&us[i]);
    if (rss)
        for (int i = 0; i < n; i++)
            buf_free(&rss[i].raw);
    free(us);
    free(runs);
    free(rss);
    free(ts);
    free(rqs);
    free(hs);
    free(sinks);
    return rc;
}

int cli_get(int argc, char **argv)
{
    /* before anything is written to it; a terminal keeps its line buffering */
    if (!isatty(STDOUT_FILENO)) setvbuf(stdout, NULL, _IOFBF, OUT_BUFFER);
    struct get_opts o;
    if (parse_opts(argc, argv, &o) < 0) return usage();
    log_set_level(LOG_ERROR);
    struct tls_client *tls = NULL;
    char err[256];
    static const char alpn_h1[] = "\x08http/1.1", alpn_h2[] = "\x02h2\x08http/1.1";
    const char *alpn = o.http1_only ? alpn_h1 : alpn_h2;
    size_t alpn_len = o.http1_only ? sizeof(alpn_h1) - 1 : sizeof(alpn_h2) - 1;
    tls = tls_client_create(o.cacert, o.insecure, alpn, alpn_len, err, sizeof(err));
    if (!tls) {
        fprintf(stderr, "tern: (77) %s\n", err);
        return 77;
    }
    char alt_path[4200] = "";
    if (o.alt_svc_file)
        snprintf(alt_path, sizeof(alt_path), "%s", o.alt_svc_file);
    else if (!altsvc_default_path(alt_path, sizeof(alt_path)))
        alt_path[0] = 0;
    if (alt_path[0]) altsvc_load(&altsvc, alt_path, time(NULL));
    int rc = o.parallel && o.n_urls > 1 ? get_parallel(&o, tls) : -1;
    if (rc < 0) {
        rc = 0;
        for (int i = 0; i < o.n_urls; i++) {
            int r = get_one(&o, tls, o.urls[i], i < o.n_outputs ? o.outputs[i] : NULL);
            if (r) rc = r;
        }
    }
    tls_client_free(tls);
    if (alt_path[0] && altsvc_save(&altsvc, alt_path) < 0 && o.verbose)
        fprintf(stderr, "* could not write the alt-svc cache %s\n", alt_path);
    return rc;
}
