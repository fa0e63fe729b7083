"""The reverse proxy (handler/proxy) with the real binary, real clients and real upstreams: a
recording python origin (origin.py), tern itself, and HTTP/1.1, HTTP/2 and HTTP/3 fronts.
What the upstream receives (RFC 9110 §7.6: hop-by-hop fields removed, Via, Forwarded,
X-Forwarded-*, re-framed bodies), what the client gets back, streaming both ways with
back-pressure, keep-alive pools and their retries, balancing, passive health checks, and the
502/503/504 answers."""

import hashlib
import json
import os
import socket
import subprocess
import time

import pytest

import tern_e2e as t
from origin import Origin, payload, recv_exact
from tern_e2e import Conn, request
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


def proxied(make_server, *locations, start=True, **overrides):
    """A tern whose main server has `locations` in front of its own."""
    srv = make_server(start=False, **overrides)
    mine = {loc.get("path") for loc in locations} - {None}
    srv.config["servers"][0]["locations"] = list(locations) + [
        loc for loc in srv.config["servers"][0]["locations"] if loc.get("path") not in mine]
    if start:
        srv.start()
    return srv


def fields_of(body):
    d = json.loads(body)
    out = {}
    for k, v in d["fields"]:
        out.setdefault(k.lower(), []).append(v)
    return d, out


def test_request_fields_upstream(make_server, origin):
    srv = proxied(make_server, {"path": "/app/", "proxy": origin.url})
    raw = (b"GET /app/echo?q=1 HTTP/1.1\r\nHost: localhost\r\nConnection: X-Drop, keep-alive\r\n"
           b"X-Drop: 1\r\nKeep-Alive: timeout=9\r\nTE: trailers\r\nUpgrade: websocket\r\n"
           b"Proxy-Authorization: Basic eDp5\r\nProxy-Connection: keep-alive\r\n"
           b"X-Forwarded-For: 10.1.2.3\r\nVia: 1.1 edge\r\nX-Keep: kept\r\n\r\n")
    with Conn(srv.port) as c:
        c.send(raw)
        r = c.response()
    assert r.status == 200, r
    d, f = fields_of(r.body)
    assert d["target"] == "/app/echo?q=1"
    for hop in ("connection", "x-drop", "keep-alive", "te", "upgrade", "proxy-authorization",
                "proxy-connection", "transfer-encoding"):
        assert hop not in f, (hop, f)
    assert f["host"] == ["localhost"]
    assert f["x-keep"] == ["kept"]
    assert f["via"] == ["1.1 edge, 1.1 tern"]
    assert f["x-forwarded-for"] == ["10.1.2.3, 127.0.0.1"]
    assert f["x-forwarded-proto"] == ["http"]
    assert f["x-forwarded-host"] == ["localhost"]
    assert f["forwarded"] == ["for=127.0.0.1;proto=http;host=localhost"]
    assert "content-length" not in f  # a GET without a body gets no framing upstream
    assert r.header("Via") == "1.1 tern"
    # a bodiless request comes back with tern's own Date, the upstream's other fields
    assert r.header("Content-Type") == "application/json" and r.header("Date")


def test_response_hop_fields_dropped(make_server, origin):
    srv = proxied(make_server, {"exact": "/hop", "proxy": origin.url})
    r = srv.get("/hop")
    assert r.status == 200 and r.body == b"ok", r
    for hop in ("X-Hop", "Keep-Alive", "Proxy-Connection", "Upgrade", "Trailer"):
        assert hop not in r, (hop, r)
    assert r.header("X-End") == "yes"
    assert r.header("Via") == "1.0 inner, 1.1 tern"


def test_path_mapping_and_options(make_server, origin):
    srv = proxied(make_server,
                  {"path": "/api/", "proxy": {"upstreams": [origin.url + "/v1/"], "host": "upstream",
                                              "forwarded": False, "x_forwarded": False,
                                              "via": False}})
    r = srv.get("/api/echo/x?y=%20")
    d, f = fields_of(r.body)
    assert d["target"] == "/v1/echo/x?y=%20"
    assert f["host"] == [f"127.0.0.1:{origin.port}"]
    assert not {"via", "forwarded", "x-forwarded-for"} & set(f), f
    assert "Via" not in r


def test_bodies_both_ways_any_method(make_server, origin):
    srv = proxied(make_server, {"path": "/", "proxy": origin.url})
    body = os.urandom(300000)
    # a chunked request body streams upstream as it comes, chunked again by tern
    with Conn(srv.port) as c:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                          for i in range(0, len(body), 65536))
        c.send(b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + chunks + b"0\r\n\r\n")
        r = c.response()
        assert r.status == 200, r
        assert origin.last()["body"] == body
        assert origin.last()["headers"]["transfer-encoding"] == ["chunked"]
        # an extension method goes through too
        c.send(request("PROPFIND", "/echo", headers={"Depth": "1"}))
        r = c.response()
        assert json.loads(r.body)["method"] == "PROPFIND"
    # a chunked upstream body (with extensions and trailers) reaches HTTP/1.1 and HTTP/2 whole
    want = hashlib.sha256(payload(1_000_000)).hexdigest()
    for args in ([], ["--http2-prior-knowledge"], ["--http1.0"]):
        out = t.curl("-s", *args, f"http://127.0.0.1:{srv.port}/bytes/1000000?chunked").stdout
        assert hashlib.sha256(out).hexdigest() == want, args


def test_large_streamed_with_backpressure(make_server, origin):
    """100 MB through the proxy to a client reading slowly: tern's memory stays flat (the
    upstream is read as fast as the client takes it), then the whole body arrives intact."""
    srv = proxied(make_server, {"path": "/", "proxy": origin.url})
    url = f"http://127.0.0.1:{srv.port}/bytes/100000000"
    rss0 = srv.rss_kb()
    p = subprocess.Popen(["curl", "-s", "--limit-rate", "5M", "-o", "/dev/null", url])
    time.sleep(1.5 * t.SLOW)
    grown = srv.rss_kb() - rss0
    p.kill()
    p.wait()
    assert grown < 30000, f"tern grew by {grown} KiB while the client was slow"
    want = hashlib.sha256(payload(100_000_000)).hexdigest()
    for args in ([], ["--http2-prior-knowledge"]):
        out = t.curl("-s", *args, url, timeout=60).stdout
        assert len(out) == 100_000_000 and hashlib.sha256(out).hexdigest() == want, args
    assert srv.get("/echo").status == 200  # the connection cut above left nothing behind


def test_keepalive_pool_and_stale_retry(make_server, origin):
    srv = proxied(make_server, {"path": "/", "proxy": origin.url}, workers=1)
    with Conn(srv.port) as c:
        for _ in range(20):
            c.send(request("GET", "/echo"))
            assert c.response().status == 200
    assert origin.connections == 1, origin.connections
    # the origin closes a reused connection as the request arrives: a GET goes again on a new
    # connection, a POST (not idempotent, RFC 9110 §9.2.2) gets 502
    assert srv.get("/stale").status == 200
    srv.get("/echo")
    r = srv.get("/stale", method="POST", headers={"Content-Length": "0"})
    assert r.status == 502, r
    assert srv.get("/echo").status == 200


def test_upstream_failures(make_server, origin):
    dead = t.free_port()
    srv = proxied(make_server,
                  {"path": "/dead/", "proxy": f"http://127.0.0.1:{dead}"},
                  {"path": "/slow/", "proxy": {"upstreams": [origin.url], "read_timeout": 0.5}},
                  {"path": "/", "proxy": origin.url})
    assert srv.get("/dead/x").status == 502
    assert srv.get("/slow/3").status == 504
    assert srv.get("/bad").status == 502
    log = srv.read(srv.error_log)
    assert f"upstream http://127.0.0.1:{dead}: connect failed: Connection refused" in log
    assert "no response head in time" in log
    assert "invalid response" in log
    # a body cut short by the upstream: HTTP/1.1 sees fewer bytes than announced, HTTP/2 a reset
    r = t.curl("-s", "-o", "/dev/null", f"http://127.0.0.1:{srv.port}/short")
    assert r.returncode == 18, r
    r = t.curl("-s", "-o", "/dev/null", "--http2-prior-knowledge",
               f"http://127.0.0.1:{srv.port}/short")
    assert r.returncode in (16, 18, 92), r
    assert srv.get("/echo").status == 200


def test_balancing_and_passive_health(make_server):
    a, b = Origin(), Origin()
    dead = t.free_port()
    try:
        srv = proxied(make_server,
                      {"path": "/rr/", "proxy": {"upstreams": [a.url, b.url]}},
                      {"path": "/hash/", "proxy": {"upstreams": [a.url, b.url],
                                                   "balance": "hash"}},
                      {"path": "/down/", "proxy": {"upstreams": [f"http://127.0.0.1:{dead}", a.url],
                                                   "fail_timeout": 30}},
                      {"path": "/user/", "proxy": {"upstreams": [a.url, b.url], "balance": "hash",
                                                   "hash_key": "header X-User"}},
                      workers=1)
        for _ in range(10):
            assert srv.get("/rr/echo").status == 200
        assert len(a.requests) == 5 and len(b.requests) == 5, (len(a.requests), len(b.requests))
        na, nb = len(a.requests), len(b.requests)
        for _ in range(6):
            assert srv.get("/hash/echo").status == 200
        assert (len(a.requests) - na, len(b.requests) - nb) in ((6, 0), (0, 6))
        # hash_key: a request field: each user sticks to one upstream, users spread
        seen = {}
        for user in [f"u{i}" for i in range(12)] * 2:
            na, nb = len(a.requests), len(b.requests)
            assert srv.get("/user/echo", headers={"X-User": user}).status == 200
            went = "a" if len(a.requests) > na else "b"
            assert seen.setdefault(user, went) == went, user
        assert set(seen.values()) == {"a", "b"}, seen
        # the dead upstream fails once (the request goes on to the live one), then is skipped
        for _ in range(6):
            assert srv.get("/down/echo").status == 200
        log = srv.read(srv.error_log)
        assert log.count("connect failed") == 1, log
        assert f"upstream http://127.0.0.1:{dead}: marked down for 30 s" in log
    finally:
        a.close()
        b.close()


def test_smuggling_never_reaches_upstream(make_server, origin):
    """Ambiguous framing is refused at the front; what goes upstream is framed by tern only."""
    srv = proxied(make_server, {"path": "/", "proxy": origin.url})
    vectors = [
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n"
        b"\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\n Transfer-Encoding: chunked\r\n\r\n",
    ]
    for v in vectors:
        with Conn(srv.port) as c:
            c.send(v)
            assert c.response().status == 400
    assert not origin.requests
    # a pipelined second request after a body goes up as its own request, nothing more
    with Conn(srv.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
               b"GET /echo2 HTTP/1.1\r\nHost: x\r\n\r\n")
        c.responses(2)
    assert [r["target"] for r in origin.requests] == ["/echo", "/echo2"]
    assert origin.requests[0]["body"] == b"hello"


def test_max_forwards(make_server, origin):
    srv = proxied(make_server, {"path": "/", "proxy": origin.url})
    r = srv.get("/echo", method="OPTIONS", headers={"Max-Forwards": "0"})
    assert r.status == 200 and not origin.requests
    r = srv.get("/echo", method="OPTIONS", headers={"Max-Forwards": "3"})
    assert fields_of(r.body)[1]["max-forwards"] == ["2"]


def test_unix_socket_upstream(make_server, tmp_path):
    o = Origin(path=str(tmp_path / "up.sock"))
    try:
        srv = proxied(make_server, {"path": "/", "proxy": f"unix:{tmp_path / 'up.sock'}"})
        r = srv.get("/echo")
        assert r.status == 200 and json.loads(r.body)["target"] == "/echo"
    finally:
        o.close()


def test_tern_upstream_h2_cookies(make_server):
    """tern proxying to tern: files come through whole; an HTTP/2 client's cookie fields are
    joined into one line for HTTP/1.1 (RFC 9113 §8.2.3)."""
    up = make_server()
    o = Origin()
    try:
        srv = proxied(make_server, {"path": "/c/", "proxy": o.url},
                      {"path": "/", "proxy": f"http://127.0.0.1:{up.port}"})
        big = (up.base / "root" / "big.bin").read_bytes()
        r = srv.get("/hello.txt")
        assert r.status == 200 and r.body == t.HELLO
        out = t.curl("-s", "--http2-prior-knowledge", f"http://127.0.0.1:{srv.port}/big.bin").stdout
        assert out == big
        if t.have_cli("nghttp"):
            subprocess.run(["nghttp", "-H", "cookie: a=1", "-H", "cookie: b=2",
                            f"http://127.0.0.1:{srv.port}/c/echo"], capture_output=True,
                           timeout=20, check=True)
            assert o.last()["headers"]["cookie"] == ["a=1; b=2"]
    finally:
        o.close()


def test_http3_front(make_tls_server, certs, origin):  # noqa: F811
    out = subprocess.run([t.TERN_BIN, "-V"], capture_output=True).stdout.decode()
    if "http3: yes" not in out:
        pytest.skip("tern was built without QUIC")

    def mutate(cfg):
        cfg["servers"][0]["locations"].insert(0, {"path": "/up/", "proxy": origin.url + "/"})

    srv = make_tls_server(certs.leaf, certs.leaf_key, mutate=mutate)
    want = hashlib.sha256(payload(5_000_000)).hexdigest()
    r = subprocess.run([t.TERN_BIN, "get", "--http3", "-k", "-s",
                        f"https://127.0.0.1:{srv.tls_port}/up/bytes/5000000?chunked"],
                       capture_output=True, timeout=60 * t.SLOW)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == want
    r = subprocess.run([t.TERN_BIN, "get", "--http3", "-k", "-s",
                        f"https://127.0.0.1:{srv.tls_port}/up/echo"],
                       capture_output=True, timeout=30 * t.SLOW)
    d, f = fields_of(r.stdout)
    assert f["via"] == ["3 tern"] and f["x-forwarded-proto"] == ["https"], f


def ws_frame(payload, op=1):
    """A masked client frame (RFC 6455 §5.2)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | op])
    head += bytes([0x80 | n]) if n < 126 else (bytes([0x80 | 126]) + n.to_bytes(2, "big")
                                               if n < 65536 else
                                               bytes([0x80 | 127]) + n.to_bytes(8, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read(sock, buf):
    """One server frame from sock: (opcode, payload, rest of buf)."""
    def need(k):
        nonlocal buf
        out, buf = recv_exact(sock, buf, k)
        return out
    b0, b1 = need(2)
    n = b1 & 0x7f
    if n == 126:
        n = int.from_bytes(need(2), "big")
    elif n == 127:
        n = int.from_bytes(need(8), "big")
    return b0 & 0x0f, need(n), buf


def ws_session(sock, host):
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        assert d, "closed before the 101"
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 101"), head
    fields = {ln.split(":", 1)[0].lower(): ln.split(":", 1)[1].strip() for ln in lines[1:]}
    assert fields["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3
    assert fields["upgrade"].lower() == "websocket" and fields["connection"].lower() == "upgrade"
    for msg in (b"hello", os.urandom(300), os.urandom(70000)):
        sock.sendall(ws_frame(msg, op=2))
        op, data, buf = ws_read(sock, buf)
        assert (op, data) == (2, msg)
    sock.sendall(ws_frame(b"\x03\xe8", op=8))
    op, data, buf = ws_read(sock, buf)
    assert op == 8
    sock.settimeout(5 * t.SLOW)
    assert sock.recv(10) == b""  # both sides closed: the tunnel ends


def test_websocket_through_proxy(make_tls_server, certs, origin):  # noqa: F811
    """A WebSocket over HTTP/1.1 and over TLS, tunnelled to the upstream after its 101; the
    exchange is logged as 101; a request without Upgrade on the same location stays HTTP."""
    def mutate(cfg):
        cfg["servers"][0]["locations"].insert(0, {"exact": "/ws", "proxy": origin.url})

    srv = make_tls_server(certs.leaf, certs.leaf_key, mutate=mutate)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5 * t.SLOW) as s:
        ws_session(s, "localhost")
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5 * t.SLOW) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            ws_session(s, "localhost")
    assert origin.requests[0]["headers"]["upgrade"] == ["websocket"]
    assert origin.requests[0]["headers"]["connection"] == ["upgrade"]
    assert t.wait_for(lambda: '"GET /ws HTTP/1.1" 101' in srv.read(srv.base / "access.log"))
    # the upstream refuses the switch: its answer goes back as an ordinary response
    r = srv.get("/ws")
    assert r.status == 400


def test_https_upstream(make_server, make_tls_server, certs):  # noqa: F811
    """https:// upstreams: the certificate verified against tls_ca (an IP literal against its
    IP SAN, or tls_server_name), refused when it does not verify (502, logged), accepted
    without verification when asked; big bodies come through whole."""
    up = make_tls_server(certs.leaf, certs.leaf_key)
    base = f"https://127.0.0.1:{up.tls_port}"
    srv = proxied(make_server,
                  {"path": "/ok/", "proxy": {"upstreams": [base + "/"], "tls_ca": str(certs.ca)}},
                  {"path": "/named/", "proxy": {"upstreams": [base + "/"], "tls_ca": str(certs.ca),
                                                "tls_server_name": "localhost"}},
                  {"path": "/wrong/", "proxy": {"upstreams": [base + "/"],
                                                "tls_ca": str(certs.dflt)}},
                  {"path": "/any/", "proxy": {"upstreams": [base + "/"], "tls_verify": False}})
    for p in ("/ok/hello.txt", "/named/hello.txt", "/any/hello.txt"):
        r = srv.get(p)
        assert r.status == 200 and r.body == t.HELLO, (p, r)
    r = srv.get("/wrong/hello.txt")
    assert r.status == 502, r
    assert "TLS handshake failed: unable to get local issuer certificate" in srv.read(srv.error_log)
    big = (up.base / "root" / "big.bin").read_bytes()
    for _ in range(3):  # the pooled TLS connection carries the next ones
        out = t.curl("-s", "--http2-prior-knowledge", f"http://127.0.0.1:{srv.port}/ok/big.bin").stdout
        assert out == big


def test_active_health_checks(make_server):
    """health_check: each worker GETs the path of every upstream every interval; a failing one
    is taken out after `fails` checks and back after `passes`, logged both ways."""
    a, b = Origin(), Origin()
    try:
        srv = proxied(make_server,
                      {"path": "/", "proxy": {"upstreams": [a.url, b.url],
                                              "health_check": {"path": "/healthz",
                                                               "interval": 0.2, "timeout": 1,
                                                               "fails": 2, "passes": 1}}},
                      workers=1)
        assert t.wait_for(lambda: a.health_checks >= 2 and b.health_checks >= 2,
                          timeout=5 * t.SLOW)  # checks run with no traffic at all
        a.healthy = False
        assert t.wait_for(lambda: "health check failed (status 503), out of service"
                          in srv.read(srv.error_log), timeout=5 * t.SLOW)
        before = len(a.requests)
        for _ in range(6):
            assert srv.get("/echo").status == 200
        assert len(a.requests) == before and len(b.requests) >= 6
        a.healthy = True
        assert t.wait_for(lambda: "health check passed, back in service"
                          in srv.read(srv.error_log), timeout=5 * t.SLOW)
        for _ in range(6):
            assert srv.get("/echo").status == 200
        assert len(a.requests) > before
        # a reload keeps checking (the new configuration's checks), a stop ends them cleanly
        srv.signal(__import__("signal").SIGHUP)
        n = a.health_checks
        assert t.wait_for(lambda: a.health_checks > n + 2, timeout=5 * t.SLOW)
    finally:
        a.close()
        b.close()


def test_request_body_streamed(make_server, origin, tmp_path):
    """An HTTP/1.1 request body goes upstream as it arrives (Content-Length kept, chunked
    re-chunked), never held whole: a 64 MB upload sent slowly leaves tern's memory flat; the
    body limit still holds (413, also mid-stream), and a client that stops sending gets 408."""
    srv = proxied(make_server, {"path": "/", "proxy": origin.url},
                  limits={"body_size": "200m"}, timeouts={"body": 1})
    data = os.urandom(64 << 20)
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    url = f"http://127.0.0.1:{srv.port}/echo"
    rss0 = srv.rss_kb()
    p = subprocess.Popen(["curl", "-s", "--limit-rate", "8M", "-T", str(f), url],
                         stdout=subprocess.PIPE)
    time.sleep(2 * t.SLOW)
    grown = srv.rss_kb() - rss0
    out, _ = p.communicate(timeout=120 * t.SLOW)
    assert grown < 30000, f"tern grew by {grown} KiB during a slow upload"
    d = json.loads(out)
    assert d["method"] == "PUT" and d["body"] == len(data) and d["sha256"] == want
    assert origin.last()["headers"]["content-length"] == [str(len(data))]
    # chunked from the client: chunked upstream, the same bytes
    out = t.curl("-s", "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{f}", url,
                 timeout=60).stdout
    d = json.loads(out)
    assert d["body"] == len(data) and d["sha256"] == want
    assert origin.last()["headers"]["transfer-encoding"] == ["chunked"]
    # HTTP/2: DATA frames go up as they come, the stream window reopening as they are sent on
    rss0 = srv.rss_kb()
    p = subprocess.Popen(["curl", "-s", "--http2-prior-knowledge", "--limit-rate", "8M", "-T",
                          str(f), url], stdout=subprocess.PIPE)
    time.sleep(2 * t.SLOW)
    grown = srv.rss_kb() - rss0
    out, _ = p.communicate(timeout=120 * t.SLOW)
    assert grown < 30000, f"tern grew by {grown} KiB during a slow HTTP/2 upload"
    d = json.loads(out)
    assert d["body"] == len(data) and d["sha256"] == want
    assert origin.last()["headers"]["content-length"] == [str(len(data))]
    # HTTP/2 without content-length (curl -T - reads stdin): chunked upstream
    r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-T", "-", url],
                       input=data[:3_000_000], capture_output=True, timeout=60 * t.SLOW)
    d = json.loads(r.stdout)
    assert d["body"] == 3_000_000 and d["sha256"] == hashlib.sha256(data[:3_000_000]).hexdigest()
    assert origin.last()["headers"]["transfer-encoding"] == ["chunked"]


def test_request_body_limits(make_server, origin):
    srv = proxied(make_server, {"path": "/", "proxy": origin.url},
                  limits={"body_size": "1m"}, timeouts={"body": 1})
    n = len(origin.requests)
    with Conn(srv.port) as c:  # a Content-Length over the limit: refused before the upstream
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
        assert c.response().status == 413
    assert len(origin.requests) == n
    with Conn(srv.port) as c:  # a chunked body that grows over it: 413 mid-stream, closed
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (100000, b"x" * 100000)
        for _ in range(12):
            if not c.try_send(chunk):
                break
        r = c.response()
        assert r.status == 413, r
        c.assert_closed()
    with Conn(srv.port) as c:  # a client that stops sending its body: 408
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        r = c.response()
        assert r.status == 408, r
    assert "request body stalled, 408" in srv.read(srv.error_log)
    assert srv.get("/echo").status == 200
    # HTTP/2 without a length, over the limit mid-stream: 413 on the stream
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "--http2-prior-knowledge", "-T", "-", f"http://127.0.0.1:{srv.port}/echo"],
                       input=b"y" * 3_000_000, capture_output=True, timeout=60 * t.SLOW)
    assert r.stdout == b"413", r


def test_request_body_streamed_http3(make_tls_server, certs, origin, tmp_path):  # noqa: F811
    """HTTP/3 request bodies stream to the upstream too: QUIC flow-control credit is given back
    as the bytes go on; with a length (Content-Length upstream) and without (chunked)."""
    out = subprocess.run([t.TERN_BIN, "-V"], capture_output=True).stdout.decode()
    if "http3: yes" not in out:
        pytest.skip("tern was built without QUIC")

    def mutate(cfg):
        cfg["servers"][0]["locations"].insert(0, {"path": "/up/", "proxy": origin.url + "/"})
        cfg["limits"] = {"body_size": "100m"}

    srv = make_tls_server(certs.leaf, certs.leaf_key, mutate=mutate)
    data = os.urandom(20 << 20)
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    url = f"https://127.0.0.1:{srv.tls_port}/up/echo"
    r = subprocess.run([t.TERN_BIN, "get", "--http3", "-k", "-s", "-T", str(f), url],
                       capture_output=True, timeout=120 * t.SLOW)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["method"] == "PUT" and d["body"] == len(data)
    assert d["sha256"] == hashlib.sha256(data).hexdigest()
    assert origin.last()["headers"]["content-length"] == [str(len(data))]
    r = subprocess.run([t.TERN_BIN, "get", "--http3", "-k", "-s", "-T", "-", url],
                       input=data[:2_000_000], capture_output=True, timeout=120 * t.SLOW)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["body"] == 2_000_000 and d["sha256"] == hashlib.sha256(data[:2_000_000]).hexdigest()
    assert origin.last()["headers"]["transfer-encoding"] == ["chunked"]


def test_smuggling_vectors_through_proxy(make_server, origin):
    """Every vector of test_smuggling.py sent through the proxy with a request smuggled behind
    it: tern answers the error and closes, and the upstream never receives the smuggled
    request, nor any complete request of the ambiguous one (a streamed body that turns out
    malformed leaves the upstream an unfinished request, and its connection is closed)."""
    import test_smuggling as sm
    srv = proxied(make_server, {"path": "/", "proxy": origin.url})
    for name, (raw, statuses) in sm.CASES.items():
        with Conn(srv.port) as c:
            c.try_send(raw + sm.SMUGGLED)
            r = c.response()
            assert r.status in statuses, (name, r)
            assert c.closed(), name
            assert c.buf == b"", (name, c.buf[:200])
    time.sleep(0.3)
    assert [r["target"] for r in origin.requests] == [], origin.requests
    assert srv.get("/echo").status == 200


@pytest.mark.parametrize("wire", ["h1", "h2c"])
def test_proxied_download_survives_quit(make_server, origin, wire):
    """A graceful stop (QUIT) lets proxied downloads in flight finish whole, as it does for
    files: the upstream connections live as long as the responses that read them."""
    import signal
    srv = proxied(make_server, {"path": "/", "proxy": origin.url},
                  timeouts={"graceful": 60})
    want = hashlib.sha256(payload(30_000_000)).hexdigest()
    args = ["curl", "-s", "--limit-rate", "10M"] + (["--http2-prior-knowledge"] if wire == "h2c"
                                                     else [])
    ps = [subprocess.Popen(args + [f"http://127.0.0.1:{srv.port}/bytes/30000000"],
                           stdout=subprocess.PIPE) for _ in range(3)]
    time.sleep(1.0 * t.SLOW)
    assert all(p.poll() is None for p in ps)
    srv.signal(signal.SIGQUIT)
    for p in ps:
        out, _ = p.communicate(timeout=60 * t.SLOW)
        assert p.returncode == 0 and hashlib.sha256(out).hexdigest() == want, (p.returncode,
                                                                              len(out))
    srv.expect_exit = True
    assert srv.proc.wait(timeout=30 * t.SLOW) == 0
