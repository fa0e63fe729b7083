"""HTTP/2 upstreams of the reverse proxy (handler/proxy_h2.c): h2c:// with prior knowledge and
https:// with `http2: true` (ALPN h2, else HTTP/1.1), to tern itself and to a recording,
sometimes hostile python3-h2 upstream (h2_origin.py). Bodies byte-exact both ways, streamed;
requests multiplexed as streams on few connections; RST_STREAM and GOAWAY from the upstream;
a client that goes away cancels its stream; the cache on top."""

import concurrent.futures
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

import tern_e2e as t
from h2_origin import H2Origin
from origin import payload
from tern_e2e import Conn, request
from test_proxy import proxied
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures


@pytest.fixture
def h2origin():
    o = H2Origin()
    yield o
    o.close()


def curl(*args, timeout=60):
    r = subprocess.run(["curl", "-s", "-S", "--max-time", str(int(timeout * t.SLOW))] + list(args),
                       capture_output=True, timeout=timeout * t.SLOW + 10)
    return r


def wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout * t.SLOW
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_h2c_download_h1_and_h2_fronts(make_server, h2origin):
    srv = proxied(make_server, {"path": "/up/", "proxy": h2origin.url + "/"})
    want = hashlib.sha256(payload(10_000_000)).hexdigest()
    for front in ([], ["--http2-prior-knowledge"]):
        r = curl(*front, "-o", "-", f"http://127.0.0.1:{srv.port}/up/bytes/10000000")
        assert r.returncode == 0, r.stderr
        assert len(r.stdout) == 10_000_000 and hashlib.sha256(r.stdout).hexdigest() == want
    # the request head: the same rules as HTTP/1.1 upstreams, no connection-specific fields
    raw = (b"GET /up/echo?q=1 HTTP/1.1\r\nHost: localhost\r\nConnection: X-Drop, keep-alive\r\n"
           b"X-Drop: 1\r\nKeep-Alive: timeout=9\r\nTE: trailers\r\nUpgrade: websocket\r\n"
           b"Proxy-Connection: keep-alive\r\nCookie: a=1\r\nX-Keep: kept\r\n\r\n")
    with Conn(srv.port) as c:
        c.send(raw)
        r = c.response()
    assert r.status == 200, r
    d = json.loads(r.body)
    f = {}
    for k, v in d["fields"]:
        f.setdefault(k, []).append(v)
    assert d["path"] == "/echo?q=1" and d["authority"] == "localhost" and d["scheme"] == "http"
    for hop in ("connection", "x-drop", "keep-alive", "te", "upgrade", "proxy-connection",
                "transfer-encoding", "host"):
        assert hop not in f, (hop, f)
    assert f["x-keep"] == ["kept"] and f["cookie"] == ["a=1"]
    assert f["via"] == ["1.1 tern"] and f["x-forwarded-for"] == ["127.0.0.1"]
    assert r.header("Via") == "2 tern"


def test_h2c_upload_streamed(make_server, h2origin, tmp_path):
    srv = proxied(make_server, {"path": "/up/", "proxy": h2origin.url + "/"},
                  limits={"body_size": "64m"})
    body = payload(20_000_000)
    f = tmp_path / "up.bin"
    f.write_bytes(body)
    want = hashlib.sha256(body).hexdigest()
    for extra in ([], ["-H", "Transfer-Encoding: chunked"], ["--http2-prior-knowledge"]):
        r = curl(*extra, "--data-binary", f"@{f}", "-H", "Content-Type: application/octet-stream",
                 f"http://127.0.0.1:{srv.port}/up/echo")
        assert r.returncode == 0 and r.stdout.startswith(b"{"), (extra, r.stdout[:300], r.stderr,
                                                                 srv.read(srv.error_log)[-3000:])
        d = json.loads(r.stdout)
        assert d["method"] == "POST" and d["length"] == len(body) and d["sha256"] == want, extra


def test_multiplexed_streams(make_server, h2origin):
    """50 concurrent requests through tern: one HTTP/2 connection per worker thread carries
    them as streams."""
    srv = proxied(make_server, {"path": "/up/", "proxy": h2origin.url + "/"})

    def one(i):
        return srv.get("/up/hold/400")

    with concurrent.futures.ThreadPoolExecutor(50) as ex:
        rs = list(ex.map(one, range(50)))
    assert all(r.status == 200 and r.body == b"held" for r in rs)
    assert len(h2origin.streams) == 50
    assert h2origin.connections <= 2, h2origin.connections  # workers: 2
    assert h2origin.max_open > 5, h2origin.max_open


def test_stream_limit_opens_more_connections(make_server):
    o = H2Origin(max_streams=5)
    try:
        srv = proxied(make_server, {"path": "/up/", "proxy": o.url + "/"})
        with concurrent.futures.ThreadPoolExecutor(40) as ex:
            rs = list(ex.map(lambda i: srv.get("/up/hold/400"), range(40)))
        assert all(r.status == 200 for r in rs)
        assert o.max_open <= 5 and o.connections >= 4, (o.max_open, o.connections)
    finally:
        o.close()


def test_upstream_resets_and_goaway(make_server, h2origin):
    srv = proxied(make_server, {"path": "/up/", "proxy": h2origin.url + "/"}, workers=1)
    r = srv.get("/up/rst")
    assert r.status == 502, r
    r = srv.get("/up/refuse-once")  # not processed: sent again
    assert r.status == 200 and r.body == b"again", r
    r = srv.get("/up/goaway-unprocessed")  # above the GOAWAY's last id: sent again
    assert r.status == 200 and r.body == b"ok", r
    conns = h2origin.connections
    r = srv.get("/up/goaway-processed")  # processed, then the connection closed: 502
    assert r.status == 502, r
    r = srv.get("/up/bytes/1000")
    assert r.status == 200 and r.body == payload(1000)
    assert h2origin.connections > conns
    # after the head: the response is cut short (the length is not met, the connection closes)
    with Conn(srv.port) as c:
        c.send(request("GET", "/up/rst-mid"))
        data = c.read_until_close()
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and len(rest) < 1048576, head
    log = srv.read(srv.error_log)
    assert "upstream h2c://" in log and "the response ended early" in log
    srv.assert_healthy()


def test_client_cancel_resets_upstream_stream(make_server, h2origin):
    srv = proxied(make_server, {"path": "/up/", "proxy": h2origin.url + "/"})
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(request("GET", "/up/slow"))
    got = b""
    while len(got) < 100_000:
        got += s.recv(65536)
    s.close()
    assert wait_for(lambda: ("/slow", 8) in h2origin.resets), h2origin.resets  # CANCEL
    # the connection serves the others
    conns = h2origin.connections
    r = srv.get("/up/bytes/5000")
    assert r.status == 200 and r.body == payload(5000)
    assert h2origin.connections == conns or h2origin.connections <= 2


def test_h2_front_cancel_resets_upstream_stream(make_server, h2origin):
    """An HTTP/2 client's RST_STREAM reaches the upstream as RST_STREAM(CANCEL); the other
    stream on both connections goes on."""
    import h2.config
    import h2.connection
    import h2.events

    srv = proxied(make_server, {"path": "/up/", "proxy": h2origin.url + "/"})
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5 * t.SLOW)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                             header_encoding="utf-8"))
    c.initiate_connection()
    hd = [(":method", "GET"), (":scheme", "http"), (":authority", "localhost")]
    c.send_headers(1, hd + [(":path", "/up/slow")], end_stream=True)
    c.send_headers(3, hd + [(":path", "/up/bytes/200000")], end_stream=True)
    s.sendall(c.data_to_send())
    got, ended, reset = 0, False, False
    while not ended:
        for ev in c.receive_data(s.recv(65536)):
            if isinstance(ev, h2.events.DataReceived):
                c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if ev.stream_id == 3:
                    got += len(ev.data)
                elif not reset:
                    c.reset_stream(1, 8)
                    reset = True
            elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == 3:
                ended = True
        s.sendall(c.data_to_send())
    if not reset:
        c.reset_stream(1, 8)
        s.sendall(c.data_to_send())
    time.sleep(0.2)
    s.close()
    assert got == 200000
    assert wait_for(lambda: ("/slow", 8) in h2origin.resets), h2origin.resets


def test_tern_upstream_h2c(make_server):
    up = make_server()
    srv = proxied(make_server, {"path": "/up/", "proxy": f"h2c://127.0.0.1:{up.port}/"})
    r = curl("-o", "-", f"http://127.0.0.1:{srv.port}/up/big.bin")
    assert r.returncode == 0 and r.stdout == t.big_bytes()
    r = curl("--http2-prior-knowledge", "-o", "-", f"http://127.0.0.1:{srv.port}/up/hello.txt")
    assert r.returncode == 0 and r.stdout == t.HELLO
    assert wait_for(lambda: '"GET /big.bin HTTP/2.0" 200' in up.read(up.access_log))


def test_tern_upstream_tls_h2_and_fallback(make_server, make_tls_server, certs):  # noqa: F811
    up = make_tls_server(certs.leaf, certs.leaf_key)
    up1 = make_tls_server(certs.leaf, certs.leaf_key, name="tlsh1",
                          http2={"enabled": False})
    srv = proxied(make_server,
                  {"path": "/h2/", "proxy": {"upstreams": [f"https://127.0.0.1:{up.tls_port}/"],
                                             "http2": True, "tls_ca": str(certs.ca)}},
                  {"path": "/h1/", "proxy": {"upstreams": [f"https://127.0.0.1:{up1.tls_port}/"],
                                             "http2": True, "tls_ca": str(certs.ca)}})
    for p in ("/h2/", "/h1/"):
        for _ in range(2):
            r = curl("-o", "-", f"http://127.0.0.1:{srv.port}{p}big.bin")
            assert r.returncode == 0 and r.stdout == t.big_bytes(), p
    assert wait_for(lambda: '"GET /big.bin HTTP/2.0" 200' in up.read(up.access_log))
    assert wait_for(lambda: '"GET /big.bin HTTP/1.1" 200' in up1.read(up1.access_log))
    assert "HTTP/2.0" not in up1.read(up1.access_log)


def test_tls_h2_to_python_upstream(make_server, certs):  # noqa: F811
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(certs.leaf), str(certs.leaf_key))
    ctx.set_alpn_protocols(["h2"])
    o = H2Origin(ssl_ctx=ctx)
    try:
        srv = proxied(make_server, {"path": "/up/", "proxy": {
            "upstreams": [o.https_url + "/"], "http2": True, "tls_ca": str(certs.ca)}})
        with concurrent.futures.ThreadPoolExecutor(20) as ex:
            rs = list(ex.map(lambda i: srv.get("/up/hold/300"), range(20)))
        assert all(r.status == 200 for r in rs)
        assert o.connections <= 2
        r = srv.get("/up/echo")
        assert json.loads(r.body)["scheme"] == "https"
    finally:
        o.close()


def test_cache_over_h2_upstream(make_server, h2origin):
    srv = proxied(make_server, {"path": "/up/", "proxy": h2origin.url + "/", "cache": True})
    r1 = srv.get("/up/bytes/3000")
    r2 = srv.get("/up/bytes/3000")
    assert r1.status == r2.status == 200 and r1.body == r2.body == payload(3000)
    assert "hit" in (r2.header("Cache-Status") or ""), r2.headers
    assert len([s for s in h2origin.streams if s[2] == "/bytes/3000"]) == 1


def test_download_back_pressure(make_server, h2origin):
    """A client that does not read holds the upstream: the stream window reopens only as the
    client takes the bytes, so the upstream has sent little of a 30 MB body."""
    srv = proxied(make_server, {"path": "/up/", "proxy": h2origin.url + "/"})
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.connect(("127.0.0.1", srv.port))
    s.sendall(request("GET", "/up/bytes/30000000"))
    got = s.recv(1000)
    time.sleep(1.5 * t.SLOW)
    sent = h2origin.sent.get("/bytes/30000000", 0)
    print("upstream sent before the client read on:", sent)
    assert 0 < sent < 12_000_000, sent
    # reading on lets it go on to the end, byte-exact
    want = payload(30_000_000)
    s.settimeout(20 * t.SLOW)
    while len(got.partition(b"\r\n\r\n")[2]) < len(want):
        d = s.recv(1 << 20)
        if not d:
            break
        got += d
    s.close()
    assert got.partition(b"\r\n\r\n")[2] == want


def test_upload_back_pressure(make_server, h2origin):
    """An upstream that gives no window back stops the upload at tern, which stops reading
    the client: the client gets only a few MB of 40 into the connection."""
    srv = proxied(make_server, {"path": "/up/", "proxy": {"upstreams": [h2origin.url + "/"],
                                                          "send_timeout": 3 * t.SLOW}},
                  limits={"body_size": "64m"})
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    s.sendall(b"POST /up/stall-upload HTTP/1.1\r\nHost: localhost\r\n"
              b"Content-Length: 40000000\r\n\r\n")
    s.settimeout(2 * t.SLOW)
    chunk, sent = b"x" * 65536, 0
    try:
        while sent < 40_000_000:
            sent += s.send(chunk)
    except (socket.timeout, BlockingIOError, BrokenPipeError, ConnectionResetError):
        pass
    print("client got in:", sent, "upstream took:", h2origin.received.get("/stall-upload"))
    assert h2origin.received.get("/stall-upload", 0) <= 65535  # its initial window
    assert sent < 12_000_000, sent
    # send_timeout: tern gives up on the stalled stream (reset upstream) and answers 504
    s.settimeout(10 * t.SLOW)
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    assert data.startswith(b"HTTP/1.1 504"), data[:100]
    assert wait_for(lambda: any(p == "/stall-upload" for p, _ in h2origin.resets))
    srv.assert_healthy()


def test_idle_connection_closed(make_server, h2origin):
    """An HTTP/2 upstream connection without streams for idle_timeout says GOAWAY and closes."""
    srv = proxied(make_server, {"path": "/up/", "proxy": {"upstreams": [h2origin.url + "/"],
                                                          "idle_timeout": "1s"}}, workers=1)
    assert srv.get("/up/bytes/100").status == 200
    assert h2origin.connections == 1 and h2origin.closed == 0
    assert wait_for(lambda: h2origin.closed == 1, 4), h2origin.closed
    assert h2origin.goaways == 1
    assert srv.get("/up/bytes/100").status == 200  # a new one
    assert h2origin.connections == 2


def test_early_hints_passed_on(make_server, h2origin):
    srv = proxied(make_server, {"path": "/up/", "proxy": h2origin.url + "/"})
    with Conn(srv.port) as c:
        c.send(request("GET", "/up/hints", close=True))
        data = c.read_until_close()
    assert data.startswith(b"HTTP/1.1 103"), data[:200]
    assert b"</s.css>; rel=preload" in data.split(b"\r\n\r\n")[0]
    assert data.endswith(b"hinted")


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_h2c_upstream(make_server, tmp_path):
    """nginx 1.22 serves HTTP/2 with prior knowledge on a cleartext `listen ... http2`."""
    root = tmp_path / "root"
    root.mkdir()
    big = os.urandom(10 << 20)
    (root / "big.bin").write_bytes(big)
    port = t.free_port()
    conf = tmp_path / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(f"""{user} daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{}}
http {{ access_log {tmp_path}/access.log; client_body_temp_path {tmp_path};
  proxy_temp_path {tmp_path}; fastcgi_temp_path {tmp_path}; uwsgi_temp_path {tmp_path};
  scgi_temp_path {tmp_path};
  server {{ listen 127.0.0.1:{port} http2; root {root}; gzip off; }} }}
""")
    p = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE)
    try:
        assert t.wait_port(port, "127.0.0.1", p)
        srv = proxied(make_server, {"path": "/up/", "proxy": f"h2c://127.0.0.1:{port}/"})
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            rs = list(ex.map(lambda i: curl("-o", "-", f"http://127.0.0.1:{srv.port}/up/big.bin"),
                             range(8)))
        assert all(r.returncode == 0 and r.stdout == big for r in rs)
        r = srv.get("/up/none")
        assert r.status == 404
        log = (tmp_path / "access.log").read_text()
        assert '"GET /big.bin HTTP/2.0" 200' in log, log
    finally:
        p.terminate()
        p.wait()


def test_http3_front_to_h2c_upstream(make_tls_server, certs, h2origin):  # noqa: F811
    """An HTTP/3 client through tern to an HTTP/2 upstream: a 5 MB download byte-exact and the
    fields the upstream sees (Via names the client's wire, 3)."""
    out = subprocess.run([t.TERN_BIN, "-V"], capture_output=True).stdout.decode()
    if "http3: yes" not in out:
        pytest.skip("tern was built without QUIC")

    def mutate(cfg):
        cfg["servers"][0]["locations"].insert(0, {"path": "/up/", "proxy": h2origin.url + "/"})

    srv = make_tls_server(certs.leaf, certs.leaf_key, mutate=mutate)
    want = hashlib.sha256(payload(5_000_000)).hexdigest()
    r = subprocess.run([t.TERN_BIN, "get", "--http3", "-k", "-s",
                        f"https://127.0.0.1:{srv.tls_port}/up/bytes/5000000"],
                       capture_output=True, timeout=60 * t.SLOW)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == want
    r = subprocess.run([t.TERN_BIN, "get", "--http3", "-k", "-s",
                        f"https://127.0.0.1:{srv.tls_port}/up/echo"],
                       capture_output=True, timeout=30 * t.SLOW)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    f = {}
    for k, v in d["fields"]:
        f.setdefault(k, []).append(v)
    assert f["via"] == ["3 tern"] and f["x-forwarded-proto"] == ["https"], f


def test_h2c_to_an_http11_server_is_bounded(make_server):
    """An h2c:// upstream that is really an HTTP/1.1 server (it answers the preface with a 400
    and closes before any SETTINGS): a few fresh tries, then a 502, not a storm."""
    import threading
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    conns = []

    def serve():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            conns.append(c)
            c.recv(4096)
            c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        srv = proxied(make_server,
                      {"path": "/up/", "proxy": f"h2c://127.0.0.1:{lsock.getsockname()[1]}/"})
        t0 = time.monotonic()
        r = srv.get("/up/x")
        assert r.status == 502, r
        assert time.monotonic() - t0 < 5 * t.SLOW
        assert len(conns) <= 8, len(conns)
    finally:
        lsock.close()


@pytest.mark.parametrize("tls", [False, True])
def test_active_health_checks_over_h2(make_server, certs, tls):  # noqa: F811
    """health_check toward an HTTP/2 upstream (h2c://, or https with http2 and ALPN h2) speaks
    HTTP/2, through the same session engine: python3-h2 answers it (an HTTP/1.1 check would
    be a protocol error there), a 503 takes the upstream out, a 200 brings it back."""
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(certs.leaf), str(certs.leaf_key))
        ctx.set_alpn_protocols(["h2"])
    o = H2Origin(ssl_ctx=ctx)
    try:
        proxy = {"upstreams": [(o.https_url if tls else o.url) + "/"],
                 "health_check": {"path": "/healthz", "interval": 0.2, "timeout": 1,
                                  "fails": 2, "passes": 1}}
        if tls:
            proxy.update({"http2": True, "tls_ca": str(certs.ca)})
        srv = proxied(make_server, {"path": "/up/", "proxy": proxy}, workers=1)
        assert wait_for(lambda: o.health_checks >= 3), o.health_checks
        assert "out of service" not in srv.read(srv.error_log)
        o.healthy = False
        assert wait_for(lambda: "health check failed (status 503), out of service"
                        in srv.read(srv.error_log))
        assert srv.get("/up/echo").status == 503  # the only upstream is out
        o.healthy = True
        assert wait_for(lambda: "health check passed, back in service" in srv.read(srv.error_log))
        r = srv.get("/up/echo")
        assert r.status == 200 and json.loads(r.body)["scheme"] == ("https" if tls else "http")
        with o.lock:
            paths = [p for _, _, p in o.streams]
        assert paths.count("/healthz") == o.health_checks >= 5
    finally:
        o.close()
    srv.assert_healthy()
