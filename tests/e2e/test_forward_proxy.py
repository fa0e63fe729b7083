"""The forward proxy's CONNECT tunnels (RFC 9110 §9.3.6) with the real binary and curl's -x/-p:
allowed destinations (by pattern, 443 by default), private and loopback destinations refused
unless allowed, names resolved without blocking, 502/504 for what cannot be reached, and
HTTPS through the tunnel end to end."""

import subprocess

import pytest

import tern_e2e as t
from origin import Origin
from tern_e2e import Conn
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


def proxy_server(make_server, **forward):
    return make_server(forward_proxy={"enabled": True, **forward})


def test_connect_tunnel_with_curl(make_server, make_tls_server, certs, origin):  # noqa: F811
    srv = proxy_server(make_server, allow=["127.0.0.1:*", "localhost:*"], allow_private=True)
    proxy = f"http://127.0.0.1:{srv.port}"
    # curl -p: a CONNECT tunnel even for http://, then the request inside it
    r = t.curl("-s", "-p", "-x", proxy, f"http://127.0.0.1:{origin.port}/echo")
    assert r.returncode == 0, r.stderr
    assert b'"target": "/echo"' in r.stdout
    assert origin.requests[-1]["headers"]["host"] == [f"127.0.0.1:{origin.port}"]
    assert "via" not in origin.requests[-1]["headers"]  # a tunnel carries bytes, not messages
    # https:// through the proxy: TLS end to end inside the tunnel, the name resolved by tern
    up = make_tls_server(certs.leaf, certs.leaf_key)
    r = t.curl("-s", "--cacert", str(certs.ca), "-x", proxy,
               f"https://localhost:{up.tls_port}/hello.txt")
    assert r.returncode == 0 and r.stdout == t.HELLO, r.stderr
    log = srv.read(srv.base / "access.log")
    assert f'"CONNECT localhost:{up.tls_port} HTTP/1.1" 200' in log


def test_connect_refusals(make_server, origin):
    dead = t.free_port()
    srv = proxy_server(make_server)  # defaults: *:443 only, no private destinations
    with Conn(srv.port) as c:
        c.send(f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert c.response().status == 403  # port not allowed
    with Conn(srv.port) as c:
        c.send(b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.response().status == 403  # allowed port, but loopback
    assert "403 a private or loopback destination" in srv.read(srv.error_log)
    open_srv = proxy_server(make_server, allow=["*:*"], allow_private=True)
    with Conn(open_srv.port) as c:
        c.send(f"CONNECT 127.0.0.1:{dead} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert c.response().status == 502  # refused
    with Conn(open_srv.port, timeout=30 * t.SLOW) as c:
        c.send(b"CONNECT no-such-host.invalid:443 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.response().status in (502, 504)
    # HTTP/2: curl's CONNECT with :path is malformed (RFC 9113 §8.5: a stream error); either
    # way not tunnelled yet, never a hang
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "--http2-prior-knowledge", "-X", "CONNECT",
                        f"http://127.0.0.1:{open_srv.port}/"], capture_output=True, timeout=20)
    assert r.stdout in (b"400", b"501") or r.returncode == 92, r
    assert open_srv.get("/hello.txt").status == 200


def test_connect_off_by_default(server, origin):
    with Conn(server.port) as c:
        c.send(f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert c.response().status == 400
    assert not origin.requests


def test_absolute_form_forwarded(make_server, origin):
    """curl -x without -p: an absolute-form request for another origin is forwarded (Via, no
    Forwarded, the origin-form target and the URI's authority as Host), kept-alive upstream
    connections reused; refused like a CONNECT for a destination not allowed; a request for
    one of this server's own names is served here."""
    srv = proxy_server(make_server, allow=["127.0.0.1:*"], allow_private=True)
    proxy = f"http://127.0.0.1:{srv.port}"
    for _ in range(3):
        r = t.curl("-s", "-x", proxy, f"http://127.0.0.1:{origin.port}/echo?x=1")
        assert r.returncode == 0 and b'"target": "/echo?x=1"' in r.stdout, r
    rec = origin.requests[-1]
    assert rec["headers"]["host"] == [f"127.0.0.1:{origin.port}"]
    assert rec["headers"]["via"] == ["1.1 tern"]
    assert "forwarded" not in rec["headers"] and "proxy-connection" not in rec["headers"]
    assert origin.connections <= 2  # kept and reused (a pool per worker thread, 2 of them)
    r = t.curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", proxy,
               "http://localhost:1/hello.txt")  # a name of this server: served here
    assert r.stdout == b"200"
    shut = proxy_server(make_server)  # *:443 only
    r = t.curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x",
               f"http://127.0.0.1:{shut.port}", f"http://127.0.0.1:{origin.port}/echo")
    assert r.stdout == b"403"


def test_proxy_authorization(make_server, origin, tmp_path):
    """forward_proxy.auth: Proxy-Authorization (RFC 9110 §11.7) Basic and Digest, 407 with
    Proxy-Authenticate before any destination check; curl --proxy-user, --proxy-digest."""
    import subprocess as sp
    h = sp.run(["openssl", "passwd", "-6", "s3cret"], capture_output=True, check=True)
    users = tmp_path / "proxy.htpasswd"
    users.write_text("pat:" + h.stdout.decode().strip() + "\n")
    srv = proxy_server(make_server, allow=["127.0.0.1:*"], allow_private=True,
                       auth={"scheme": "basic", "realm": "proxy", "user_file": str(users)})
    proxy = f"http://127.0.0.1:{srv.port}"
    url = f"http://127.0.0.1:{origin.port}/echo"
    r = t.curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", proxy, url)
    assert r.stdout == b"407"
    with Conn(srv.port) as c:
        c.send(f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        r407 = c.response()
        assert r407.status == 407
        assert r407.header("Proxy-Authenticate") == 'Basic realm="proxy", charset="UTF-8"'
    r = t.curl("-s", "-x", proxy, "--proxy-user", "pat:s3cret", url)
    assert b'"target": "/echo"' in r.stdout, r
    assert "proxy-authorization" not in origin.requests[-1]["headers"]  # never forwarded
    r = t.curl("-s", "-p", "-x", proxy, "--proxy-user", "pat:s3cret", url)  # CONNECT
    assert b'"target": "/echo"' in r.stdout, r
    r = t.curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", proxy, "--proxy-user",
               "pat:wrong", url)
    assert r.stdout == b"407"
    assert "407 http://127.0.0.1" in srv.read(srv.error_log)
    # Digest: an htdigest line user:realm:HA1 (MD5)
    import hashlib
    ha1 = hashlib.md5(b"pat:proxy:s3cret").hexdigest()
    digest = tmp_path / "proxy.htdigest"
    digest.write_text(f"pat:proxy:{ha1}\n")
    dsrv = proxy_server(make_server, allow=["127.0.0.1:*"], allow_private=True,
                        auth={"scheme": "digest", "realm": "proxy", "user_file": str(digest)})
    r = t.curl("-s", "-x", f"http://127.0.0.1:{dsrv.port}", "--proxy-digest", "--proxy-user",
               "pat:s3cret", url)
    assert b'"target": "/echo"' in r.stdout, r


def test_connect_over_http2(make_server, origin):
    """CONNECT on an HTTP/2 stream (RFC 9113 §8.5): the stream's DATA is the tunnel, both
    ways, with the stream's flow control; END_STREAM is the half close."""
    import socket

    import h2.config
    import h2.connection
    import h2.events
    srv = proxy_server(make_server, allow=["127.0.0.1:*"], allow_private=True)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10 * t.SLOW)
    # python-h2 wants a :path even on CONNECT: its outbound check is off for this request
    conn = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, validate_outbound_headers=False))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "CONNECT"), (":authority", f"127.0.0.1:{origin.port}")])
    s.sendall(conn.data_to_send())
    status, got, ended = None, b"", False
    sent = False
    while not ended:
        data = s.recv(65536)
        assert data, "connection closed"
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers)[b":status"]
                assert status == b"200", ev.headers
                req = f"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:{origin.port}\r\n\r\n".encode()
                conn.send_data(1, req)
                sent = True
            elif isinstance(ev, h2.events.DataReceived):
                got += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, 1)
                if b"\r\n\r\n" in got:
                    head, body = got.split(b"\r\n\r\n", 1)
                    n = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                             if ln.lower().startswith(b"content-length")][0])
                    if len(body) >= n and not conn.streams[1].closed:
                        conn.end_stream(1)  # our half close: the origin then closes its side
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                ended = True
        s.sendall(conn.data_to_send())
    s.close()
    assert sent and got.startswith(b"HTTP/1.1 200 OK"), got[:200]
    assert b'"target": "/echo"' in got
    assert origin.requests[-1]["target"] == "/echo"


def test_authority_form_over_http2(make_server, origin):
    """HTTP/2 has no absolute form: a request with :scheme http and the :authority of another
    origin is forwarded (RFC 9113 §8.3.1), its body too; the :authority of this very listener
    (its address or a name on its port) is served here; the allow list still decides."""
    import socket

    import h2.events

    from test_websocket_h2 import H2
    srv = proxy_server(make_server, allow=["127.0.0.1:*"], allow_private=True)

    def get(conn, sid, authority, path, body=None):
        conn.send(sid, [(b":method", b"POST" if body else b"GET"), (b":scheme", b"http"),
                        (b":path", path.encode()), (b":authority", authority.encode())],
                  end=body is None)
        if body:
            conn.send_data(sid, body)
            conn.c.end_stream(sid)
            conn.s.sendall(conn.c.data_to_send())
        head = conn.response(sid)
        conn.ended(sid)
        data = b"".join(ev.data for ev in conn.events
                        if isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid)
        return head[b":status"], data

    with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * t.SLOW) as s:
        conn = H2(s)
        status, data = get(conn, 1, f"127.0.0.1:{origin.port}", "/echo?x=1")
        assert status == b"200" and b'"target": "/echo?x=1"' in data, data
        rec = origin.requests[-1]
        assert rec["headers"]["host"] == [f"127.0.0.1:{origin.port}"]
        assert rec["headers"]["via"] == ["2 tern"], rec["headers"]
        status, data = get(conn, 3, f"127.0.0.1:{origin.port}", "/echo", body=b"x" * 5000)
        assert status == b"200" and origin.requests[-1]["body"] == b"x" * 5000
        n = len(origin.requests)
        for sid, authority in ((5, f"127.0.0.1:{srv.port}"), (7, f"localhost:{srv.port}")):
            status, data = get(conn, sid, authority, "/hello.txt")
            assert status == b"200" and data == t.HELLO, (authority, data)
        assert len(origin.requests) == n
    shut = proxy_server(make_server)  # *:443 only
    with socket.create_connection(("127.0.0.1", shut.port), timeout=10 * t.SLOW) as s:
        status, _ = get(H2(s), 1, f"127.0.0.1:{origin.port}", "/echo")
        assert status == b"403"
