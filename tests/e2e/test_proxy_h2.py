"""HTTP/2 upstreams of the reverse proxy (handler/proxy_h2.c): h2c:// with prior knowledge and
https:// with `http2: true` (ALPN h2, else HTTP/1.1), to tern itself and to a recording,
sometimes hostile python3-h2 upstream (h2_origin.py). Bodies byte-exact both ways, streamed;
requests multiplexed as streams on few connections; RST_STREAM and GOAWAY from the upstream;
a client that goes away cancels its stream; the cache on top."""

import concurrent.futures
import hashlib
import json
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
        assert r.returncode == 0, r.stderr
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
    srv = proxied(make_server, {"path": "/up/", "proxy": h2origin.url + "/"})
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
