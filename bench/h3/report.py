#!/usr/bin/env python3
"""report.py RAWDIR OUT.md - summarize bench/h3/run.sh raw results as markdown.

Server CPU cost per unit (per request, per MB, per new connection) for every target and
round; ratios are taken within each round (tern-h3 / peer) and reported as median and
min-max over rounds, next to the goals of the HTTP/3 issue.
"""
import statistics
import sys
from pathlib import Path

raw = Path(sys.argv[1])
out = Path(sys.argv[2])
meta = dict(l.split('=', 1) for l in (raw / 'meta.txt').read_text().splitlines() if '=' in l)
TERN_CLIENT = meta.get('client') == 'tern'  # run.sh -C tern: tern bench / tern get, else gtlsclient + h2load

rows = []
for line in (raw / 'results.tsv').read_text().splitlines():
    f = line.split('\t')
    rows.append(dict(round=int(f[0]), wl=f[1], target=f[2], cpu=float(f[3]), wall=float(f[4]),
                     cuser=float(f[5]), csys=float(f[6]), ok=int(f[7]), exp=int(f[8]),
                     bytes=int(f[9]), busy=float(f[10])))

UNIT = {  # workload -> (label, divisor from a row, scale to the shown unit)
    'small': ('server CPU µs / request', lambda r: r['ok'], 1e6),
    'hs': ('server CPU µs / new connection (handshake + 1 request)', lambda r: r['ok'], 1e6),
    'large': ('server CPU ms / MB (10^6 bytes)', lambda r: r['bytes'] / 1e6, 1e3),
}
TARGETS = ['tern-h3', 'caddy-h3', 'tern-h2']
GOALS = [  # (workload, numerator, denominator, max ratio, text)
    ('small', 'tern-h3', 'caddy-h3', 0.5, 'HTTP/3 small responses vs Caddy HTTP/3'),
    ('small', 'tern-h3', 'tern-h2', 1.5, 'HTTP/3 small responses vs tern h2-over-TLS'),
    ('large', 'tern-h3', 'tern-h2', 1.5, '100 MB over HTTP/3 vs tern h2-over-TLS, per MB'),
    ('hs', 'tern-h3', 'tern-h2', 1.2, 'new HTTP/3 connection vs tern h2-TLS handshake'),
]


def cost(r):
    d = UNIT[r['wl']][1](r)
    return r['cpu'] / d * UNIT[r['wl']][2] if d and r['ok'] == r['exp'] else None


def get(wl, t):
    return {r['round']: r for r in rows if r['wl'] == wl and r['target'] == t}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=1):
    return '-' if x is None else f'{x:.{nd}f}'


def ratios(wl, a, b):
    ra, rb = get(wl, a), get(wl, b)
    xs = []
    for k in sorted(ra):
        ca, cb = cost(ra[k]), cost(rb[k]) if k in rb else None
        if ca is not None and cb:
            xs.append(ca / cb)
    return xs


L = []
L.append(f"# HTTP/3 benchmark: tern vs Caddy vs tern HTTP/2-TLS ({meta.get('date_utc', '')} UTC)\n")
L.append(f"Produced by `bench/h3/run.sh{' -C tern' if TERN_CLIENT else ''}` (raw data: `{raw}`). "
         f"Server pinned to CPU {meta.get('server_cpu')}, "
         f"clients to CPU {meta.get('client_cpu')}; {meta.get('rounds')} rounds, targets interleaved "
         "(start rotated each round). **The figure is the server's CPU time (user+sys of its process "
         "tree) per unit of work**, not throughput: "
         + ("the load generator is tern's own `tern bench` (`--h3` for both HTTP/3 servers, `--h2` "
            "for tern-h2; one process, all connections in one event loop) and `tern get` for the "
            "100 MB download. Wall time includes the client's start and depends on other jobs on "
            "the machine, so it is not reported as a result.\n" if TERN_CLIENT else
            "the HTTP/3 load generator is Debian's `gtlsclient` "
            "(one process per connection, a debugging client, far slower than the servers), so wall "
            "time and req/s say how fast the client is, not the server.\n"))
if meta.get('quick') == '1':
    L.append("**Quick smoke run: too few requests, numbers are meaningless.**\n")
L.append("## Goals (ratios of server CPU per unit, within each round; median [min-max] over rounds)\n")
L.append("| goal | ratio | goal | met? |")
L.append("| --- | --- | --- | --- |")
for wl, a, b, g, text in GOALS:
    xs = ratios(wl, a, b)
    m = med(xs)
    rng = f" [{min(xs):.2f}-{max(xs):.2f}]" if xs else ''
    met = '-' if m is None else ('yes' if m <= g else 'no')
    L.append(f"| {text} | {fmt(m, 2)}{rng} | ≤ {g} | {met} |")
idle = [l.split('\t') for l in (raw / 'idle.tsv').read_text().splitlines()] if (raw / 'idle.tsv').exists() else []
for s, n, got, alive, m0, m1, secs in idle:
    if s == 'tern':
        held = min(int(got), int(alive))
        per = (int(m1) - int(m0)) / held if held else None
        met = '-' if per is None else ('yes' if per <= 16 and held >= int(n) else 'no')
        L.append(f"| idle HTTP/3 connections to tern: RSS per connection ({held} of {n} held) "
                 f"| {fmt(per)} KiB | ≤ 16 KiB | {met} |")
L.append('')
L.append("## Server CPU per unit, median [min-max] over rounds\n")
L.append("| workload | unit | " + " | ".join(TARGETS) + " | tern-h3 / caddy-h3 | tern-h3 / tern-h2 |")
L.append("| --- | --- |" + " --- |" * (len(TARGETS) + 2))
for wl in [w for w in ('small', 'large', 'hs') if any(r['wl'] == w for r in rows)]:
    cells = []
    for t in TARGETS:
        xs = [cost(r) for r in get(wl, t).values()]
        ys = [x for x in xs if x is not None]
        cells.append(f"{fmt(med(ys))} [{fmt(min(ys))}-{fmt(max(ys))}]" if ys else '-')
    rc = []
    for b in ('caddy-h3', 'tern-h2'):
        xs = ratios(wl, 'tern-h3', b)
        rc.append(f"{med(xs):.2f} [{min(xs):.2f}-{max(xs):.2f}]" if xs else '-')
    L.append(f"| {wl} | {UNIT[wl][0]} | " + " | ".join(cells) + " | " + " | ".join(rc) + " |")
# derived: the small workload pays one new connection per 32 requests; take the same round's
# per-connection cost (hs) / 32 off to estimate the cost of a request on an open connection.
if any(r['wl'] == 'hs' for r in rows) and any(r['wl'] == 'small' for r in rows):
    per = {}
    for t in TARGETS:
        sm, hs = get('small', t), get('hs', t)
        per[t] = {k: cost(sm[k]) - cost(hs[k]) / int(meta.get('streams', 32))
                  for k in sm if k in hs and cost(sm[k]) is not None and cost(hs[k]) is not None}
    cells = []
    for t in TARGETS:
        ys = list(per[t].values())
        cells.append(f"{fmt(med(ys))} [{fmt(min(ys))}-{fmt(max(ys))}]" if ys else '-')
    rc = []
    for b in ('caddy-h3', 'tern-h2'):
        xs = [per['tern-h3'][k] / per[b][k] for k in per['tern-h3'] if per[b].get(k, 0) > 0]
        rc.append(f"{med(xs):.2f} [{min(xs):.2f}-{max(xs):.2f}]" if xs else '-')
    L.append("| small minus hs/32 (derived) | server CPU µs / request on an open connection | "
             + " | ".join(cells) + " | " + " | ".join(rc) + " |")
L.append('')
if TERN_CLIENT:
    L.append("Workloads: **small** = 16 connections at a time x 32 concurrent requests each "
             f"({meta.get('small_size')} B file), `tern bench --h3|--h2 -c16 -m32 -n512` repeated "
             f"{meta.get('small_reps')} times, so every 32 requests pay one new connection (as with "
             "gtlsclient). tern bench asks for one URL over and over (`/small.html`), where gtlsclient "
             "asks for 32 hard links of it. **large** = one download of the 100 MB file per run with "
             "`tern get --http3` / `--http2` (body bytes). "
             f"**hs** = {meta.get('hs_n')} new connections, 16 at a time (`tern bench --reconnect -c16`), "
             "each a full handshake (no session resumption, no 0-RTT) and one small request.\n")
else:
    L.append("Workloads: **small** = 16 connections at a time x 32 concurrent requests each "
             f"({meta.get('small_size')} B file), {int(meta.get('small_reps', 0)) * 16} connections per run, "
             "every connection new (a gtlsclient process does one connection: handshake + 32 requests); "
             "h2load does the same shape (`-c16 -m32 -n512` repeated), so both sides pay one handshake "
             "per 32 requests. **large** = one download of the 100 MB file per run (h2: `h2load -c1 -m1 -n1`; "
             "the h2 byte count is h2load's total traffic, frames and headers included). "
             f"**hs** = {meta.get('hs_n')} new connections, 16 at a time, each a full handshake (no "
             "session resumption, no 0-RTT) and one small request.\n")
L.append("## Every run\n")
L.append("| round | workload | target | server CPU s | wall s | client CPU s | ok / expected | other CPU on server core s |")
L.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    L.append(f"| {r['round']} | {r['wl']} | {r['target']} | {r['cpu']:.2f} | {r['wall']:.2f} | "
             f"{r['cuser'] + r['csys']:.2f} | {r['ok']} / {r['exp']} | {max(0.0, r['busy'] - r['cpu']):.2f} |")
bad = [r for r in rows if r['ok'] != r['exp']]
L.append('')
if TERN_CLIENT:
    L.append(f"Incomplete runs (excluded from the figures): {len(bad)}. Responses are tern bench's "
             "`2xx` count (a response counts when its stream ended cleanly), checked against the "
             "body bytes it read (exactly that many small files); the 100 MB download is compared "
             "byte for byte.\n")
else:
    L.append(f"Incomplete runs (excluded from the figures): {len(bad)}. "
             "HTTP/3 responses are counted as files of the exact size written by gtlsclient "
             "`--download` (the 32 streams of a connection ask for 32 hard links of the same file, so "
             "each lands in its own file; the 100 MB file is compared byte for byte); HTTP/2 responses are "
             "h2load's `2xx` count.\n")
if idle:
    L.append("## Idle HTTP/3 connections\n")
    L.append("| server | asked | held (max) | held (max) | RSS before KiB | RSS at max KiB | KiB / connection | seconds |")
    L.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for s, n, got, alive, m0, m1, secs in idle:
        held = min(int(got), int(alive))
        per = (int(m1) - int(m0)) / held if held else None
        L.append(f"| {s} | {n} | {got} | {alive} | {m0} | {m1} | {fmt(per)} | {secs} |")
    L.append('')
    L.append("Each connection is one gtlsclient process that makes one request and stays "
             "connected (`--timeout=120s`, no `--exit-on-all-streams-close`) until the server's "
             "30 s QUIC idle timeout closes it. Starting thousands of gtlsclient processes takes "
             "longer than 30 s on a loaded machine, so every second the script counts the "
             "connections held (client running, response arrived) and reads the server's RSS; "
             "the table gives the sample with the most held (`idle_<server>.samples` in the raw "
             "directory has them all; connections still in their handshake at that moment add "
             "RSS but are not counted, so KiB/connection is an upper bound). The server is "
             "freshly started for this test; RSS is userspace only (kernel socket buffers are "
             "not in it).\n")
L.append("## Machine\n")
for k in ('cpu_model', 'host_cpus', 'kernel', 'loadavg_start', 'loadavg_end', 'ver_tern', 'ver_caddy',
          'ver_gtlsclient', 'ver_h2load', 'ver_client', 'probe_tern-h3', 'probe_caddy-h3', 'probe_tern-h2'):
    L.append(f"- {k}: {meta.get(k, '?')}")
out.write_text('\n'.join(L) + '\n')
print(out.read_text())
