/* `tern bench URL`: an HTTP load generator with h2load's and wrk's habits, on tern's own
 * engines (src/client/load.c): HTTP/1.1 over TCP and TLS, HTTP/2 over TLS (--h2) and cleartext
 * with prior knowledge (--h2c), HTTP/3 over QUIC (--h3, src/client/load_h3.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/load.h"
#include "client/url.h"
#include "core/log.h"
#include "tls/tls.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: tern bench URL [-n N | -d SECONDS] [-c CONNECTIONS] [-m DEPTH] [-t THREADS]\n"
            "                  [--h1|--h2|--h2c|--h3] [-H 'Name: value']... [--rate R]\n"
            "                  [--reconnect] [-k]\n"
            "                  [--timeout SECONDS] [--json]\n"
            "  -n N            requests in all (default 1000 without -d)\n"
            "  -d SECONDS      run this long instead\n"
            "  -c, -m, -t      connections (1), requests in flight per connection (1;\n"
            "                  HTTP/1.1 pipelining, HTTP/2 and HTTP/3 streams), threads (1)\n"
            "  --h2, --h2c     HTTP/2 over TLS (ALPN h2) / over cleartext (prior knowledge)\n"
            "  --h3            HTTP/3 over QUIC (https URLs; UDP to the URL's port)\n"
            "  --rate R        open loop: R requests per second in all; latency counts from\n"
            "                  when each request was due\n"
            "  --reconnect     a new connection for every request\n");
    return 2;
}

static void print_ms(const char *name, const struct histogram *h)
{
    printf("%-18s min %.3f  mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms\n",
           name, h->total ? (double)h->min / 1000 : 0.0, hist_mean(h) / 1000,
           (double)hist_quantile(h, 0.5) / 1000, (double)hist_quantile(h, 0.9) / 1000,
           (double)hist_quantile(h, 0.99) / 1000, (double)hist_quantile(h, 0.999) / 1000,
           (double)h->max / 1000);
}

static void json_hist(const char *name, const struct histogram *h, bool last)
{
    printf("\"%s\":{\"count\":%llu,\"min\":%.3f,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,"
           "\"p99\":%.3f,\"p99_9\":%.3f,\"max\":%.3f}%s",
           name, (unsigned long long)h->total, h->total ? (double)h->min / 1000 : 0.0,
           hist_mean(h) / 1000, (double)hist_quantile(h, 0.5) / 1000,
           (double)hist_quantile(h, 0.9) / 1000, (double)hist_quantile(h, 0.99) / 1000,
           (double)hist_quantile(h, 0.999) / 1000, (double)h->max / 1000, last ? "" : ",");
}

int cli_bench(int argc, char **argv)
{
    struct load_params p = {.connections = 1, .depth = 1, .threads = 1, .timeout_s = 30};
    const char *headers[64];
    const char *url_text = NULL;
    bool json = false, insecure = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = !strcmp(a, "-n") || !strcmp(a, "-d") || !strcmp(a, "-c") || !strcmp(a, "-m") ||
                     !strcmp(a, "-t") || !strcmp(a, "-H") || !strcmp(a, "--rate") ||
                     !strcmp(a, "--timeout");
        if (takes && !v) return usage();
        if (!strcmp(a, "-n"))
            p.requests = strtoull(v, NULL, 10);
        else if (!strcmp(a, "-d"))
            p.duration_s = atof(v);
        else if (!strcmp(a, "-c"))
            p.connections = atoi(v);
        else if (!strcmp(a, "-m"))
            p.depth = atoi(v);
        else if (!strcmp(a, "-t"))
            p.threads = atoi(v);
        else if (!strcmp(a, "--rate"))
            p.rate = atof(v);
        else if (!strcmp(a, "--timeout"))
            p.timeout_s = atof(v);
        else if (!strcmp(a, "-H")) {
            if (p.n_headers == 64 || !strchr(v, ':') || strpbrk(v, "\r\n")) return usage();
            headers[p.n_headers++] = v;
        } else if (!strcmp(a, "--json"))
            json = true;
        else if (!strcmp(a, "--reconnect"))
            p.reconnect = true;
        else if (!strcmp(a, "-k") || !strcmp(a, "--insecure"))
            insecure = true;
        else if (!strcmp(a, "--h1"))
            p.http2 = p.http3 = false;
        else if (!strcmp(a, "--h2") || !strcmp(a, "--h2c")) {
            p.http2 = true;
            p.http3 = false;
        } else if (!strcmp(a, "--h3")) {
            p.http3 = true;
            p.http2 = false;
        } else if (a[0] == '-')
            return usage();
        else
            url_text = a;
        if (takes) i++;
    }
    if (!url_text || p.connections < 1 || p.depth < 1 || p.depth > 256 || p.threads < 1 ||
        p.rate < 0)
        return usage();
    if (!p.requests && p.duration_s <= 0) p.requests = 1000;
    p.headers = headers;
    char err[256];
    struct url u;
    if (url_parse(url_text, &u, err, sizeof(err)) < 0) {
        fprintf(stderr, "tern bench: %s\n", err);
        return 1;
    }
    p.url = &u;
    if (p.http3 && !u.https) {
        fprintf(stderr, "tern bench: HTTP/3 needs an https:// URL\n");
        url_free(&u);
        return 1;
    }
#ifndef TERN_HAVE_QUIC
    if (p.http3) {
        fprintf(stderr, "tern bench: this tern was built without HTTP/3 (QUIC)\n");
        url_free(&u);
        return 1;
    }
#endif
    p.insecure = insecure;
    log_set_level(LOG_ERROR);
    static const char alpn_h1[] = "\x08http/1.1", alpn_h2[] = "\x02h2";
    const char *alpn = p.http2 ? alpn_h2 : alpn_h1;
    size_t alpn_len = p.http2 ? sizeof(alpn_h2) - 1 : sizeof(alpn_h1) - 1;
    if (u.https && !p.http3 &&
        !(p.tls = tls_client_create(NULL, insecure, alpn, alpn_len, err, sizeof(err)))) {
        fprintf(stderr, "tern bench: %s\n", err);
        url_free(&u);
        return 1;
    }
    static struct load_result r;
    int rc = load_run(&p, &r, err, sizeof(err));
    tls_client_free(p.tls);
    url_free(&u);
    if (rc < 0) {
        fprintf(stderr, "tern bench: %s\n", err);
        return 1;
    }
    double rps = r.seconds > 0 ? (double)r.done / r.seconds : 0;
    double mbps = r.seconds > 0 ? (double)r.bytes_total / r.seconds / 1e6 : 0;
    if (json) {
        printf("{\"protocol\":\"%s\",\"connections\":%d,\"depth\":%d,\"threads\":%d,"
               "\"requests\":%llu,\"started\":%llu,\"done\":%llu,\"succeeded\":%llu,"
               "\"failed\":%llu,\"errored\":%llu,\"timeout\":%llu,\"retried\":%llu,"
               "\"status\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},"
               "\"bytes\":{\"total\":%llu,\"headers\":%llu,\"data\":%llu,"
               "\"headers_decoded\":%llu},"
               "\"connects\":%llu,\"connect_errors\":%llu,\"seconds\":%.6f,"
               "\"req_per_s\":%.2f,\"mb_per_s\":%.3f,",
               p.http3   ? "h3"
               : p.http2 ? "h2"
                         : "h1",
               p.connections, p.depth, p.threads, (unsigned long long)p.requests,
               (unsigned long long)r.started, (unsigned long long)r.done,
               (unsigned long long)r.succeeded, (unsigned long long)r.failed,
               (unsigned long long)r.errored, (unsigned long long)r.timeouts,
               (unsigned long long)r.retried, (unsigned long long)r.status[1],
               (unsigned long long)r.status[2], (unsigned long long)r.status[3],
               (unsigned long long)r.status[4], (unsigned long long)r.status[5],
               (unsigned long long)r.bytes_total, (unsigned long long)r.bytes_head,
               (unsigned long long)r.bytes_body, (unsigned long long)r.bytes_head_decoded,
               (unsigned long long)r.connects, (unsigned long long)r.connect_errors, r.seconds, rps,
               mbps);
        printf("\"latency_ms\":{");
        json_hist("request", &r.latency, false);
        json_hist("connect", &r.connect, false);
        json_hist("first_byte", &r.ttfb, true);
        printf("}}\n");
    } else {
        printf("finished in %.2fs, %.2f req/s, %.2f MB/s\n", r.seconds, rps, mbps);
        printf("requests: %llu total, %llu started, %llu done, %llu succeeded, %llu failed, "
               "%llu errored, %llu timeout, %llu retried\n",
               (unsigned long long)(p.requests ? p.requests : r.started),
               (unsigned long long)r.started, (unsigned long long)r.done,
               (unsigned long long)r.succeeded, (unsigned long long)r.failed,
               (unsigned long long)r.errored, (unsigned long long)r.timeouts,
               (unsigned long long)r.retried);
        printf("status codes: %llu 2xx, %llu 3xx, %llu 4xx, %llu 5xx\n",
               (unsigned long long)r.status[2], (unsigned long long)r.status[3],
               (unsigned long long)r.status[4], (unsigned long long)r.status[5]);
        printf("traffic: %llu bytes total, %llu bytes headers", (unsigned long long)r.bytes_total,
               (unsigned long long)r.bytes_head);
        if (r.bytes_head_decoded && r.bytes_head) /* as h2load: what header compression saved */
            printf(" (space savings %.2f%%)",
                   100.0 * (1.0 - (double)r.bytes_head / (double)r.bytes_head_decoded));
        printf(", %llu bytes data\n", (unsigned long long)r.bytes_body);
        printf("connections: %llu made, %llu failed\n", (unsigned long long)r.connects,
               (unsigned long long)r.connect_errors);
        print_ms("request latency", &r.latency);
        print_ms("time to connect", &r.connect);
        print_ms("time to 1st byte", &r.ttfb);
    }
    bool ran = r.done > 0 || r.started > 0;
    if (!ran)
        fprintf(stderr, "tern bench: no request could be sent (%llu connect errors)\n",
                (unsigned long long)r.connect_errors);
    return ran ? 0 : 1;
}
