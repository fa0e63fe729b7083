"""Prometheus metrics on a listener of their own (`metrics: {listen, allow, status}`) and the
HTML status page, with the real binary over real sockets: a known number of requests over
HTTP/1.1 (curl, raw sockets), HTTP/2 (curl h2c, TLS) and HTTP/3 (gtlsclient, served from the
HTTP/3 process) moves the counters by exactly that; promtool checks the exposition; headless
Chromium renders the status page."""

import re
import shutil
import socket
import struct
import subprocess
import tempfile
import os
import time
import xml.etree.ElementTree as ET
import zlib

import pytest

import tern_e2e as t
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def metrics_cfg(cfg, port, **extra):
    cfg["metrics"] = {"listen": f"127.0.0.1:{port}", **extra}
    return cfg


def scrape(port, path="/metrics", *args):
    r = t.curl("-i", *args, f"http://127.0.0.1:{port}{path}")
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    return head.decode(), body


def samples(port):
    """{'name{labels}': value} of one scrape."""
    head, body = scrape(port)
    assert head.startswith("HTTP/1.1 200"), head
    assert "content-type: text/plain; version=0.0.4" in head.lower(), head
    out = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        out[(m.group(1) + (m.group(2) or ""))] = float(m.group(3))
    return out


def req_key(version, method, status):
    return f'tern_http_requests_total{{version="{version}",method="{method}",status="{status}"}}'


def delta(before, after, key):
    return after.get(key, 0) - before.get(key, 0)


def requests_by_version(s, version):
    return sum(v for k, v in s.items()
               if k.startswith(f'tern_http_requests_total{{version="{version}",'))


def promtool_ok(body):
    if not shutil.which("promtool"):
        return
    p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert not (p.stdout + p.stderr).strip(), p.stdout + p.stderr  # not even a lint warning


@pytest.fixture
def msrv(make_server):
    mport = t.free_port()
    srv = make_server(start=False)
    metrics_cfg(srv.config, mport, status=True, sample_interval=0.2)
    srv.start()
    assert t.wait_port(mport)
    srv.mport = mport
    return srv


def test_requests_counted_by_value_h1_h2(msrv):
    srv, mport = msrv, msrv.mport
    before = samples(mport)
    base = f"http://127.0.0.1:{srv.port}"
    for _ in range(5):
        assert t.curl("-o", "/dev/null", base + "/hello.txt").returncode == 0
    for _ in range(2):
        assert srv.get("/missing.txt").status == 404
    assert srv.get("/hello.txt", method="HEAD").status == 200
    assert srv.get("/hello.txt", method="DELETE").status == 405
    # three over HTTP/2 (h2c prior knowledge)
    for path in ("/hello.txt", "/hello.txt", "/nothere"):
        r = t.curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version}",
                   base + path)
        assert r.stdout == b"2", r
    # answered by the wire before any handler: a malformed request line and an oversized head
    with t.Conn(srv.port) as c:
        c.send(b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n")
        assert c.response().status == 400
    with t.Conn(srv.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        assert c.response().status == 431
    # HTTP/1.0
    with t.Conn(srv.port) as c:
        c.send(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        assert c.response().status == 200
    # the exchanges above are all finished once their responses were read; the log line is
    # written by the same call that counts: wait for the last one
    assert t.wait_for(lambda: srv.read(srv.access_log).count('"GET /hello.txt HTTP/1.0"') == 1)
    after = samples(mport)
    # the first scrape itself is an HTTP/1.1 GET answered 200
    assert delta(before, after, req_key("1.1", "GET", "2xx")) == 5 + 1
    assert delta(before, after, req_key("1.1", "GET", "4xx")) == 2
    assert delta(before, after, req_key("1.1", "HEAD", "2xx")) == 1
    assert delta(before, after, req_key("1.1", "DELETE", "4xx")) == 1
    assert delta(before, after, req_key("2", "GET", "2xx")) == 2
    assert delta(before, after, req_key("2", "GET", "4xx")) == 1
    assert delta(before, after, req_key("1.1", "other", "4xx")) == 2  # the 400 and the 431
    assert delta(before, after, req_key("1.0", "GET", "2xx")) == 1
    assert requests_by_version(after, "1.1") - requests_by_version(before, "1.1") == 12
    assert requests_by_version(after, "2") - requests_by_version(before, "2") == 3
    # the histogram counts every request once, in its version
    for v, n in (("1.1", 12), ("2", 3), ("1.0", 1)):
        key = f'tern_http_request_duration_seconds_count{{version="{v}"}}'
        assert delta(before, after, key) == n, v
        inf = f'tern_http_request_duration_seconds_bucket{{version="{v}",le="+Inf"}}'
        assert after[inf] == after[key]
    # bytes: at least the requests' heads and the bodies (6 bytes each) moved
    assert delta(before, after, 'tern_http_received_bytes_total{wire="h1"}') > 10 * 16
    assert delta(before, after, 'tern_http_sent_bytes_total{wire="h1"}') > 10 * 100
    assert delta(before, after, 'tern_http_received_bytes_total{wire="h2"}') > 24
    assert delta(before, after, 'tern_http_sent_bytes_total{wire="h2"}') > 2 * len(t.HELLO)
    # connections: the h2c one went from h1 to h2; all of them are closed by now (but the
    # scrape's own), and every one was accepted
    assert t.wait_for(lambda: samples(mport)['tern_connections{wire="h2",transport="tcp"}'] == 0,
                      timeout=10)
    assert delta(before, after, 'tern_connections_accepted_total{transport="tcp"}') >= 11
    assert after['tern_file_cache_lookups_total{result="hit"}'] >= 1


def test_exposition_passes_promtool(msrv):
    srv = msrv
    for path in ("/hello.txt", "/missing", "/hello.txt"):
        srv.get(path)
    t.curl("--http2-prior-knowledge", "-o", "/dev/null", f"http://127.0.0.1:{srv.port}/")
    head, body = scrape(srv.mport)
    assert "200" in head.splitlines()[0]
    promtool_ok(body)
    text = body.decode()
    for name, kind in (("tern_http_requests_total", "counter"),
                       ("tern_http_request_duration_seconds", "histogram"),
                       ("tern_http_received_bytes_total", "counter"),
                       ("tern_http_sent_bytes_total", "counter"),
                       ("tern_connections", "gauge"),
                       ("tern_connections_accepted_total", "counter"),
                       ("tern_tls_handshakes_total", "counter"),
                       ("tern_h2_defence_total", "counter"),
                       ("tern_h3_defence_total", "counter"),
                       ("tern_quic_datagrams_total", "counter"),
                       ("tern_file_cache_lookups_total", "counter")):
        assert f"# TYPE {name} {kind}\n" in text, name
        assert f"# HELP {name} " in text, name
    # labels come from fixed tables: no path, no host the client chose
    assert "missing" not in text and "hello" not in text and "localhost" not in text
    # HEAD: the same head, no body
    r = t.curl("-I", f"http://127.0.0.1:{srv.mport}/metrics")
    assert r.stdout.startswith(b"HTTP/1.1 200"), r.stdout


def test_listener_serves_metrics_only(msrv):
    srv, mport = msrv, msrv.mport
    for path in ("/", "/hello.txt", "/metrics/", "/metricsx", "/status.html"):
        head, _ = scrape(mport, path)
        assert head.startswith("HTTP/1.1 404"), (path, head)
    head, _ = scrape(mport, "/metrics", "-X", "POST")
    assert head.startswith("HTTP/1.1 405"), head
    assert "allow: GET, HEAD" in head.lower() or "allow: get, head" in head.lower(), head
    # the site is not there, and the metrics are not on the site's listener
    assert srv.get("/metrics").status == 404
    # no HTTP/2 on the metrics listener: an h2c preface gets an HTTP/1 error
    r = t.curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
               f"http://127.0.0.1:{mport}/metrics")
    assert r.returncode != 0 or r.stdout != b"200", r
    srv.assert_healthy()


def test_listener_allow_list(make_server):
    mport = t.free_port()
    srv = make_server(start=False)
    metrics_cfg(srv.config, mport, allow=["127.0.0.2", "10.0.0.0/8"])
    srv.start()
    assert t.wait_port(mport)
    head, body = scrape(mport)  # from 127.0.0.1
    assert head.startswith("HTTP/1.1 403"), head
    assert b"tern_http_requests_total" not in body
    r = t.curl("--interface", "127.0.0.2", "-o", "/dev/null", "-w", "%{http_code}",
               f"http://127.0.0.1:{mport}/metrics")
    assert r.stdout == b"200", r
    # the refused scrape counted as a 403
    r = t.curl("--interface", "127.0.0.2", f"http://127.0.0.1:{mport}/metrics")
    assert f'{req_key("1.1", "GET", "4xx")} 1\n'.encode() in r.stdout, r.stdout.decode()


def test_config_errors(tmp_path):
    def check(metrics, extra=""):
        conf = tmp_path / "m.yaml"
        conf.write_text(f"root: {tmp_path}\nlisten: 127.0.0.1:8080\n{extra}metrics: {metrics}\n")
        r = subprocess.run([t.TERN_BIN, "check", "-c", str(conf)], capture_output=True,
                           timeout=20)
        return r.returncode, (r.stdout + r.stderr).decode()

    rc, out = check("{status: true}")
    assert rc != 0 and "'metrics' needs 'listen'" in out, out
    rc, out = check("{listen: 127.0.0.1:8080}")
    assert rc != 0 and "is also a listen or tls_listen address" in out, out
    # a wildcard listener on the same port would lose its loopback clients to the metrics one
    conf = tmp_path / "w.yaml"
    conf.write_text(f"root: {tmp_path}\nlisten: 8080\nmetrics: {{listen: 127.0.0.1:8080}}\n")
    r = subprocess.run([t.TERN_BIN, "check", "-c", str(conf)], capture_output=True, timeout=20)
    assert r.returncode != 0 and b"is also a listen or tls_listen address" in r.stderr, r.stderr
    rc, out = check("{listen: 127.0.0.1:9100, allow: [10.0.0.1/8]}")
    assert rc != 0 and "has bits set after its prefix length" in out, out
    rc, out = check("{listen: nowhere}")
    assert rc != 0 and "invalid metrics listen address" in out, out
    rc, out = check("{listen: 127.0.0.1:9100, colour: red}")
    assert rc != 0 and "colour" in out, out
    rc, out = check("{listen: 127.0.0.1:9100, allow: [127.0.0.1, '::1'], status: true, "
                    "sample_interval: 1}")
    assert rc == 0, out


def http3_built():
    out = subprocess.run([t.TERN_BIN, "-V"], capture_output=True, text=True).stdout
    return "http3: yes" in out


def test_tls_h2_and_h3_counted(make_tls_server, certs, tmp_path):  # noqa: F811
    mport = t.free_port()
    srv = make_tls_server(certs.ec, certs.ec_key, mutate=lambda c: metrics_cfg(c, mport))
    assert t.wait_port(mport)
    before = samples(mport)
    url = f"https://127.0.0.1:{srv.tls_port}/hello.txt"
    for _ in range(2):  # two connections, two handshakes
        r = t.curl("-k", "--http2", "-o", "/dev/null", "-w", "%{http_version}", url)
        assert r.stdout == b"2", r
    r = t.curl("-k", "--http1.1", "-I", "-o", "/dev/null", "-w", "%{http_version}", url)
    assert r.stdout == b"1.1", r
    # a handshake that fails: cleartext bytes on the TLS port
    with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            s.recv(100)
        except OSError:
            pass
    h3 = bool(shutil.which("gtlsclient")) and http3_built()
    if h3:
        out = tmp_path / "dl"
        out.mkdir()
        urls = [f"https://127.0.0.1:{srv.tls_port}{p}"
                for p in ("/hello.txt", "/hello.txt", "/style.css", "/nothere")]
        g = subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close", "--download",
                            str(out), "127.0.0.1", str(srv.tls_port), *urls],
                           capture_output=True, timeout=30 * t.SLOW)
        assert g.returncode == 0, g.stderr.decode(errors="replace")
    # the failed handshake is counted when the server gives up on it
    assert t.wait_for(lambda: delta(before, samples(mport),
                                    'tern_tls_handshakes_total{result="failed"}') == 1)
    after = samples(mport)
    assert delta(before, after, 'tern_tls_handshakes_total{result="ok"}') == 3
    assert delta(before, after, req_key("2", "GET", "2xx")) == 2
    assert delta(before, after, req_key("1.1", "HEAD", "2xx")) == 1
    assert delta(before, after, 'tern_connections_accepted_total{transport="tls"}') == 4
    assert delta(before, after, 'tern_http_sent_bytes_total{wire="h2"}') > 2 * len(t.HELLO)
    promtool_ok(scrape(mport)[1])
    if not h3:
        return
    # HTTP/3 runs in a process of its own (http3.isolate): its counters are in the same scrape
    assert delta(before, after, req_key("3", "GET", "2xx")) == 3
    assert delta(before, after, req_key("3", "GET", "4xx")) == 1
    assert delta(before, after, 'tern_http_request_duration_seconds_count{version="3"}') == 4
    assert delta(before, after, 'tern_connections_accepted_total{transport="quic"}') == 1
    assert delta(before, after, 'tern_http_received_bytes_total{wire="h3"}') > 1200
    assert delta(before, after, 'tern_http_sent_bytes_total{wire="h3"}') > 1200
    assert delta(before, after, 'tern_quic_datagrams_total{direction="in"}') >= 2
    assert delta(before, after, 'tern_quic_datagrams_total{direction="out"}') >= 2


# ---------------------------------------------------------------------------------------------
# The status page


def status_numbers(html):
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r'<td class="n" id="([a-z0-9-]+)">(\d+)</td>', html)}


def test_status_page_structure_and_numbers(msrv):
    srv, mport = msrv, msrv.mport
    for _ in range(4):
        srv.get("/hello.txt")
    time.sleep(0.5)  # a few samples (every 0.2 s here)
    for _ in range(6):
        srv.get("/hello.txt")
    time.sleep(0.5)
    s = samples(mport)
    head, body = scrape(mport, "/status")
    assert head.startswith("HTTP/1.1 200"), head
    assert "content-type: text/html; charset=utf-8" in head.lower(), head
    html = body.decode()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<script" not in html
    nums = status_numbers(html)
    total = sum(v for k, v in s.items() if k.startswith("tern_http_requests_total{"))
    assert nums["requests"] == total + 1  # and the scrape above
    assert nums["errors"] == sum(v for k, v in s.items()
                                 if k.startswith("tern_http_requests_total{")
                                 and 'status="5xx"' in k)
    assert nums["conns-h2"] == 0 and nums["conns-h3"] == 0
    assert nums["conns-h1"] >= 1  # this fetch's own connection
    assert nums["bytes-in"] >= s['tern_http_received_bytes_total{wire="h1"}']
    # two charts, each well-formed SVG with a line of several points
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) == 2, html
    for svg in svgs:
        root = ET.fromstring(svg)
        lines = root.findall("{http://www.w3.org/2000/svg}polyline")
        assert lines, svg
        for line in lines:
            points = line.get("points").split()
            assert len(points) >= 3, svg
            for p in points:
                x, y = map(float, p.split(","))
                assert 0 <= x <= 600 and 0 <= y <= 150, p
    # the requests/s line rose above the floor at some point (10 requests in about a second)
    req_line = ET.fromstring(svgs[0]).findall("{http://www.w3.org/2000/svg}polyline")[0]
    ys = [float(p.split(",")[1]) for p in req_line.get("points").split()]
    assert min(ys) < max(ys), ys
    # HEAD, and the page is off unless asked for
    r = t.curl("-I", f"http://127.0.0.1:{mport}/status")
    assert r.stdout.startswith(b"HTTP/1.1 200"), r.stdout


def test_status_page_off_by_default(make_server):
    mport = t.free_port()
    srv = make_server(start=False)
    metrics_cfg(srv.config, mport)
    srv.start()
    assert t.wait_port(mport)
    head, _ = scrape(mport, "/status")
    assert head.startswith("HTTP/1.1 404"), head


def png_pixels(data):
    """(width, height, rows of RGB(A) tuples) of an 8-bit non-interlaced RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_status_page_renders_in_chromium(msrv, tmp_path):
    srv, mport = msrv, msrv.mport
    for _ in range(3):
        for _ in range(5):
            srv.get("/hello.txt")
        time.sleep(0.3)
    shot = tmp_path / "status.png"
    profile = tempfile.mkdtemp(prefix="tern-chromium-")
    try:
        r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync",
                            "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                            "--hide-scrollbars", "--window-size=800,700",
                            f"--screenshot={shot}", f"http://127.0.0.1:{mport}/status"],
                           capture_output=True, timeout=60 * t.SLOW,
                           env={**os.environ, "HOME": profile})
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert r.returncode == 0 and shot.exists(), r.stderr.decode(errors="replace")[-2000:]
    w, h, rows = png_pixels(shot.read_bytes())
    assert (w, h) == (800, 700)
    colours = {}
    for row in rows:
        for px in row:
            colours[px] = colours.get(px, 0) + 1
    # not blank: text and charts make many colours, and the background is not all there is
    assert len(colours) > 20, len(colours)
    background = max(colours.values())
    assert background < 0.97 * w * h, background
    # the chart panels (#f6f8fa) and the blue requests line (#0969da, anti-aliased) are drawn
    assert colours.get((0xf6, 0xf8, 0xfa), 0) > 2 * 600 * 100
    near_blue = sum(n for (r_, g, b), n in colours.items()
                    if abs(r_ - 0x09) < 40 and abs(g - 0x69) < 40 and abs(b - 0xda) < 40)
    assert near_blue > 50, near_blue
    # the browser's fetch was counted like any other
    assert t.wait_for(lambda: delta({}, samples(mport), req_key("1.1", "GET", "2xx")) >= 16)


def test_proxy_upstream_attempts(make_server):
    from origin import Origin
    o = Origin()
    try:
        dead = t.free_port()  # nothing listens there: connect is refused
        mport = t.free_port()
        srv = make_server(start=False)
        srv.config["servers"][0]["locations"][:0] = [
            {"path": "/up/", "proxy": o.url + "/"},
            {"path": "/down/", "proxy": {"upstreams": [f"http://127.0.0.1:{dead}/"],
                                         "retries": 0}},
        ]
        metrics_cfg(srv.config, mport)
        srv.start()
        assert t.wait_port(mport)
        for _ in range(3):
            assert srv.get("/up/echo").status == 200
        assert srv.get("/down/x").status == 502
        s = samples(mport)
        up = ('tern_proxy_upstream_attempts_total{server="localhost",location="/up/",'
              f'upstream="{o.url}/",result="%s"}}')
        down = ('tern_proxy_upstream_attempts_total{server="localhost",location="/down/",'
                f'upstream="http://127.0.0.1:{dead}/",result="%s"}}')
        assert s[up % "response"] == 3 and s[up % "error"] == 0 and s[up % "timeout"] == 0
        assert s[down % "response"] == 0 and s[down % "error"] == 1
        assert s[req_key("1.1", "GET", "5xx")] == 1
        promtool_ok(scrape(mport)[1])
    finally:
        o.close()


def h2_frame(ftype, flags, sid, payload=b""):
    return (struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) +
            struct.pack(">I", sid) + payload)


def h2_abuse(port, frames):
    """Sends the preface, SETTINGS and frames on a new h2c connection; returns the GOAWAY's
    error code (or None when the server closed without one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5 * t.SLOW) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0) + frames)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if buf[3] == 7:  # GOAWAY
                return int.from_bytes(buf[9 + 4:9 + 8], "big")
            buf = buf[9 + n:]
    return None


def test_h2_defences_counted_by_kind(make_server):
    mport = t.free_port()
    srv = make_server(start=False, http2={"max_idle_frames_per_10s": 100,
                                          "max_continuations": 4})
    metrics_cfg(srv.config, mport)
    srv.start()
    assert t.wait_port(mport)
    before = samples(mport)
    assert h2_abuse(srv.port, h2_frame(6, 0, 0, b"12345678") * 200) == 11  # PING flood
    assert h2_abuse(srv.port, h2_frame(4, 0, 0) * 200) == 11  # SETTINGS flood
    assert h2_abuse(srv.port, h2_frame(1, 0, 1, b"\x82") + h2_frame(9, 0, 1) * 10) == 11
    after = samples(mport)
    assert delta(before, after, 'tern_h2_defence_total{kind="idle_frames"}') == 2
    assert delta(before, after, 'tern_h2_defence_total{kind="continuation"}') == 1
    for kind in ("resets", "header_size", "unread_replies", "header_timeout"):
        assert delta(before, after, f'tern_h2_defence_total{{kind="{kind}"}}') == 0, kind
    srv.assert_healthy()


def test_counters_survive_reload_and_http3_restart(make_tls_server, certs, tmp_path):  # noqa: F811
    if not (shutil.which("gtlsclient") and http3_built()):
        pytest.skip("needs gtlsclient and a build with QUIC")
    import signal
    mport = t.free_port()
    srv = make_tls_server(certs.ec, certs.ec_key, mutate=lambda c: metrics_cfg(c, mport))
    assert t.wait_port(mport)

    def h3(n):
        out = tmp_path / f"dl{time.monotonic_ns()}"
        out.mkdir()
        urls = [f"https://127.0.0.1:{srv.tls_port}/hello.txt"] * n
        g = subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close", "--download",
                            str(out), "127.0.0.1", str(srv.tls_port), *urls],
                           capture_output=True, timeout=30 * t.SLOW)
        assert g.returncode == 0, g.stderr.decode(errors="replace")

    def h3_pids():
        return [int(p) for p in re.findall(r"HTTP/3 process (\d+) serving",
                                           srv.read(srv.error_log))]

    h3(2)
    key = req_key("3", "GET", "2xx")
    assert samples(mport)[key] == 2
    for _ in range(3):
        srv.get("/hello.txt")
    # a reload keeps every counter
    srv.signal(signal.SIGHUP)
    assert t.wait_for(lambda: "configuration reloaded" in srv.read(srv.error_log), 5)
    s = samples(mport)
    assert s[key] == 2 and s[req_key("1.1", "GET", "2xx")] >= 3
    # the HTTP/3 process dies: its successor counts on from its figures
    assert t.wait_for(lambda: len(h3_pids()) == 1, 5)
    first = h3_pids()[0]
    os.kill(first, signal.SIGKILL)
    assert t.wait_for(lambda: len(h3_pids()) == 2, 10)
    h3(1)
    s = samples(mport)
    assert s[key] == 3
    assert t.wait_for(lambda: samples(mport)['tern_connections{wire="h3",transport="quic"}'] == 0,
                      10)
    assert f"HTTP/3 process {first} killed by signal 9" in srv.read(srv.error_log)
    srv.problems()  # the deliberate kill is not a problem of the test


def test_h3_defence_and_431_counted(make_tls_server, certs, tmp_path):  # noqa: F811
    """A HEADERS frame far over limits.header_size closes the HTTP/3 connection (a defence,
    counted by kind); a header section over it within the slack is a 431, counted as a 4xx."""
    if not (shutil.which("gtlsclient") and http3_built()):
        pytest.skip("needs gtlsclient and a build with QUIC")
    mport = t.free_port()

    def mutate(cfg):
        cfg["limits"] = {"header_size": 4096, "request_line": 2048}
        metrics_cfg(cfg, mport)

    srv = make_tls_server(certs.ec, certs.ec_key, mutate=mutate)
    assert t.wait_port(mport)
    before = samples(mport)
    for path in ("/" + "b" * 20000, "/a" * 3000):
        out = tmp_path / f"dl{time.monotonic_ns()}"
        out.mkdir()
        subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close", "--timeout=5s",
                        "--download", str(out), "127.0.0.1", str(srv.tls_port),
                        f"https://127.0.0.1:{srv.tls_port}{path}"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30 * t.SLOW)
    assert t.wait_for(lambda: delta(before, samples(mport),
                                    'tern_h3_defence_total{kind="header_size"}') == 1, 5)
    after = samples(mport)
    # the 431's header section was not decoded: its method is unknown, "other"
    assert delta(before, after, req_key("3", "other", "4xx")) == 1
    for kind in ("resets", "skipped_ids", "settings"):
        assert delta(before, after, f'tern_h3_defence_total{{kind="{kind}"}}') == 0, kind
