#include "handler/status_page.h"

#include <inttypes.h>
#include <stdlib.h>

#include "core/buf.h"
#include "handler/made.h"
#include "http/body.h"
#include "server/status_ring.h"

#define CHART_W 600
#define CHART_H 150

struct series {
    const char *name, *color;
    double v[STATUS_RING_SAMPLES + 1];
};

/* A chart of n points at times t_ms (the last one at the right edge, span_ms wide), with its
 * largest value on the axis. */
static int chart(struct buf *b, const char *id, const char *title, const struct series *s,
                 int n_series, const int64_t *t_ms, size_t n, int64_t span_ms)
{
    double max = 0;
    for (int k = 0; k < n_series; k++)
        for (size_t i = 0; i < n; i++)
            if (s[k].v[i] > max) max = s[k].v[i];
    double top = max > 0 ? max * 1.1 : 1;
    int rc =
        buf_appendf(b,
                    "<h2>%s</h2>\n<svg id=\"%s\" role=\"img\" aria-label=\"%s\" "
                    "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                    "xmlns=\"http://www.w3.org/2000/svg\">\n"
                    "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#f6f8fa\" "
                    "stroke=\"#d0d7de\"/>\n"
                    "<text x=\"4\" y=\"14\" font-size=\"12\" fill=\"#57606a\">max %.4g</text>\n",
                    title, id, title, CHART_W, CHART_H, CHART_W, CHART_H, CHART_W, CHART_H, max);
    if (n < 2) {
        rc |= buf_appendf(b,
                          "<text x=\"%d\" y=\"%d\" font-size=\"14\" text-anchor=\"middle\" "
                          "fill=\"#57606a\">collecting samples</text>\n",
                          CHART_W / 2, CHART_H / 2);
    } else {
        for (int k = 0; k < n_series; k++) {
            rc |= buf_appendf(b,
                              "<polyline class=\"series\" data-name=\"%s\" fill=\"none\" "
                              "stroke=\"%s\" stroke-width=\"2\" points=\"",
                              s[k].name, s[k].color);
            for (size_t i = 0; i < n; i++) {
                double x = CHART_W - (double)(t_ms[n - 1] - t_ms[i]) * CHART_W / (double)span_ms;
                double y = CHART_H - 4 - s[k].v[i] * (CHART_H - 24) / top;
                rc |= buf_appendf(b, "%s%.1f,%.1f", i ? " " : "", x < 0 ? 0 : x, y);
            }
            rc |= buf_append(b, "\"/>\n", 4);
            rc |= buf_appendf(b,
                              "<text x=\"%d\" y=\"14\" font-size=\"12\" fill=\"%s\" "
                              "text-anchor=\"end\">%s</text>\n",
                              CHART_W - 4 - 80 * (n_series - 1 - k), s[k].color, s[k].name);
        }
    }
    return rc | buf_append(b, "</svg>\n", 7);
}

static int page(const struct config *cfg, struct buf *b, int64_t now_ms)
{
    static _Thread_local struct status_sample samples[STATUS_RING_SAMPLES + 1];
    static _Thread_local struct series s[4];
    static _Thread_local int64_t t[STATUS_RING_SAMPLES + 1];
    size_t n = status_ring_read(samples, STATUS_RING_SAMPLES);
    struct status_sample now;
    status_sample_now(&now, now_ms);
    double interval = cfg->metrics.sample_interval;
    int64_t span_ms = (int64_t)(interval * 1000) * STATUS_RING_SAMPLES;
    int refresh = interval < 1 ? 1 : (int)interval;
    int rc = buf_appendf(
        b,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"refresh\" content=\"%d\">\n<title>tern status</title>\n"
        "<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1f2328;"
        "background:#fff}h1{font-size:1.6em}h2{font-size:1.1em;margin:1.2em 0 .4em}"
        "table{border-collapse:collapse}td,th{padding:2px 12px 2px 0;text-align:left}"
        "td.n{text-align:right;font-variant-numeric:tabular-nums}</style>\n"
        "</head>\n<body>\n<h1>tern status</h1>\n"
        "<p>A sample every %g s, the last %d kept (%g minutes); the page reloads itself.</p>\n"
        "<table id=\"now\">\n"
        "<tr><th>requests</th><td class=\"n\" id=\"requests\">%" PRIu64 "</td></tr>\n"
        "<tr><th>answered 5xx</th><td class=\"n\" id=\"errors\">%" PRIu64 "</td></tr>\n"
        "<tr><th>open connections h1</th><td class=\"n\" id=\"conns-h1\">%" PRIu64 "</td></tr>\n"
        "<tr><th>open connections h2</th><td class=\"n\" id=\"conns-h2\">%" PRIu64 "</td></tr>\n"
        "<tr><th>open connections h3</th><td class=\"n\" id=\"conns-h3\">%" PRIu64 "</td></tr>\n"
        "<tr><th>bytes received</th><td class=\"n\" id=\"bytes-in\">%" PRIu64 "</td></tr>\n"
        "<tr><th>bytes sent</th><td class=\"n\" id=\"bytes-out\">%" PRIu64 "</td></tr>\n"
        "</table>\n",
        refresh, interval, STATUS_RING_SAMPLES, interval * STATUS_RING_SAMPLES / 60, now.requests,
        now.errors, now.conns[SW_H1], now.conns[SW_H2], now.conns[SW_H3], now.bytes_in,
        now.bytes_out);
    /* requests per second between consecutive samples, at the later one's time */
    s[0].name = "requests/s";
    s[0].color = "#0969da";
    s[1].name = "5xx/s";
    s[1].color = "#cf222e";
    size_t k = 0;
    for (size_t i = 1; i < n; i++) {
        double dt = (double)(samples[i].t_ms - samples[i - 1].t_ms) / 1000;
        if (dt <= 0) continue;
        s[0].v[k] = (double)(samples[i].requests - samples[i - 1].requests) / dt;
        s[1].v[k] = (double)(samples[i].errors - samples[i - 1].errors) / dt;
        t[k++] = samples[i].t_ms;
    }
    rc |= chart(b, "chart-requests", "Requests per second", s, 2, t, k, span_ms);
    static const char *const names[] = {"h1", "h2", "h3"};
    static const char *const colors[] = {"#0969da", "#1a7f37", "#8250df"};
    for (int w = 0; w < 3; w++) {
        s[w].name = names[w];
        s[w].color = colors[w];
        for (size_t i = 0; i < n; i++)
            s[w].v[i] = (double)samples[i].conns[SW_H1 + w];
    }
    for (size_t i = 0; i < n; i++)
        t[i] = samples[i].t_ms;
    rc |= chart(b, "chart-connections", "Open connections", s, 3, t, n, span_ms);
    return rc | buf_appendf(b, "<p>Counters: <a href=\"/metrics\">/metrics</a></p>\n"
                               "</body>\n</html>\n");
}

int status_page_handle(const struct config *cfg, struct http_request *req,
                       struct http_response *resp)
{
    struct buf b = {0};
    if (page(cfg, &b, req->now_ms) < 0) {
        buf_free(&b);
        return -1;
    }
    return respond_made(req, resp, &b, STR_LIT("text/html; charset=utf-8"));
}
