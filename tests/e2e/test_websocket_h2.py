"""WebSocket over HTTP/2 through the reverse proxy (RFC 8441): tern offers extended CONNECT in
its SETTINGS where a location proxies, turns the client's CONNECT with :protocol into the
HTTP/1.1 Upgrade the upstream knows (its own Sec-WebSocket-Key, the Accept checked), answers
200, and the stream's DATA becomes the tunnel both ways; hand-made frames with python3-h2."""

import base64
import re
import socket
import ssl
import threading

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

import tern_e2e as t
from h2_origin import H2Origin
from origin import Origin
from test_proxy import proxied, ws_frame
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures

ENABLE_CONNECT_PROTOCOL = 0x8


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


class H2:
    """A python-h2 client on a socket (cleartext prior knowledge, or TLS with ALPN h2)."""

    def __init__(self, sock):
        self.s = sock
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_outbound_headers=False))
        self.c.initiate_connection()
        self.s.sendall(self.c.data_to_send())
        self.events = []
        self.peer_settings = {}
        while not self.peer_settings:
            self.pump()

    def pump(self):
        data = self.s.recv(65536)
        assert data, "connection closed"
        for ev in self.c.receive_data(data):
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                self.peer_settings.update({int(k): v.new_value
                                           for k, v in ev.changed_settings.items()})
            elif isinstance(ev, h2.events.DataReceived):
                self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            self.events.append(ev)
        out = self.c.data_to_send()
        if out:
            self.s.sendall(out)

    def send(self, sid, headers, end=False):
        self.c.send_headers(sid, headers, end_stream=end)
        self.s.sendall(self.c.data_to_send())

    def send_data(self, sid, data):
        """Sends all of data on sid as the windows allow."""
        while data:
            room = min(self.c.local_flow_control_window(sid), self.c.max_outbound_frame_size)
            if room <= 0:
                self.pump()
                continue
            self.c.send_data(sid, data[:room])
            data = data[room:]
            self.s.sendall(self.c.data_to_send())

    def response(self, sid):
        while True:
            for ev in self.events:
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    return dict(ev.headers)
                if isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                    return ev
            self.pump()

    def data(self, sid, n):
        """n bytes of sid's DATA (what arrived first)."""
        while True:
            got = b"".join(ev.data for ev in self.events
                           if isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid)
            if len(got) >= n:
                self.events = [ev for ev in self.events
                               if not (isinstance(ev, h2.events.DataReceived)
                                       and ev.stream_id == sid)]
                if len(got) > n:  # keep the rest as one event
                    rest = h2.events.DataReceived()
                    rest.stream_id, rest.data = sid, got[n:]
                    self.events.insert(0, rest)
                return got[:n]
            self.pump()

    def ended(self, sid):
        while True:
            for ev in self.events:
                if isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) and \
                        ev.stream_id == sid:
                    return ev
            self.pump()


def ws_read_h2(conn, sid):
    b0, b1 = conn.data(sid, 2)
    n = b1 & 0x7f
    if n == 126:
        n = int.from_bytes(conn.data(sid, 2), "big")
    elif n == 127:
        n = int.from_bytes(conn.data(sid, 8), "big")
    return b0 & 0x0f, conn.data(sid, n)


def extended_connect(authority, path="/ws", protocol="websocket", scheme="http"):
    return [(b":method", b"CONNECT"), (b":protocol", protocol.encode()),
            (b":scheme", scheme.encode()), (b":path", path.encode()),
            (b":authority", authority.encode()), (b"sec-websocket-version", b"13"),
            (b"origin", b"http://example.test")]


def ws_over_h2(conn, authority, scheme="http"):
    """A WebSocket session on stream 1: 200, three echoes (one bigger than a window), close."""
    assert conn.peer_settings.get(ENABLE_CONNECT_PROTOCOL) == 1, conn.peer_settings
    conn.send(1, extended_connect(authority, scheme=scheme))
    head = conn.response(1)
    assert isinstance(head, dict), head
    assert head[b":status"] == b"200", head
    assert b"sec-websocket-accept" not in head and b"upgrade" not in head, head
    for msg in (b"hello", bytes(range(256)) * 2, bytes(200000)):
        conn.send_data(1, ws_frame(msg, op=2))
        assert ws_read_h2(conn, 1) == (2, msg)
    conn.send_data(1, ws_frame(b"\x03\xe8", op=8))
    assert ws_read_h2(conn, 1)[0] == 8
    ev = conn.ended(1)  # the origin closed after its close frame: END_STREAM
    assert isinstance(ev, h2.events.StreamEnded), ev


def check_upstream_handshake(rec):
    h = rec["headers"]
    assert rec["method"] == "GET" and rec["target"] == "/ws", rec
    assert h["upgrade"] == ["websocket"] and h["connection"] == ["upgrade"], h
    assert h["sec-websocket-version"] == ["13"], h
    key = h["sec-websocket-key"]
    assert len(key) == 1 and len(base64.b64decode(key[0], validate=True)) == 16, key


def ws_location(origin, **extra):
    return {"exact": "/ws", "proxy": origin.url, **extra}


def test_websocket_over_h2c(make_server, origin):
    """h2c prior knowledge: the SETTINGS offer, the upstream's Upgrade, the echo, the log; a
    tunnel is not a request body: limits.body_size does not cut it."""
    srv = proxied(make_server, ws_location(origin), limits={"body_size": 1000})
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * t.SLOW) as s:
        ws_over_h2(H2(s), f"127.0.0.1:{srv.port}")
    check_upstream_handshake(origin.requests[0])
    assert t.wait_for(lambda: re.search(r'"CONNECT /ws HTTP/2\.0" 200 ',
                                        srv.read(srv.base / "access.log")))


def test_websocket_over_h2_tls(make_tls_server, certs, origin):  # noqa: F811
    def mutate(cfg):
        cfg["servers"][0]["locations"].insert(0, ws_location(origin))

    srv = make_tls_server(certs.leaf, certs.leaf_key, mutate=mutate)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10 * t.SLOW) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.selected_alpn_protocol() == "h2"
            ws_over_h2(H2(s), "localhost", scheme="https")
    check_upstream_handshake(origin.requests[0])


def test_upstream_refusals(make_server, origin):
    """The upstream's answer when it does not switch goes back as it is; a 101 with the wrong
    Accept, or a 2xx that is no switch, is a 502 (the client would take it for a tunnel)."""
    bad = socket.socket()
    bad.bind(("127.0.0.1", 0))
    bad.listen(8)
    answers = [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade"
               b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
               b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n"]

    def serve():
        for a in answers:
            c, _ = bad.accept()
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(4096)
                if not d:
                    break
                buf += d
            c.sendall(a)
            c.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    srv = proxied(make_server, ws_location(origin),
                  {"exact": "/bad", "proxy": f"http://127.0.0.1:{bad.getsockname()[1]}"})
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * t.SLOW) as s:
        conn = H2(s)
        # an Upgrade the origin does not speak: its 400 comes back
        conn.send(1, extended_connect(f"127.0.0.1:{srv.port}", protocol="other"))
        assert conn.response(1)[b":status"] == b"400"
        assert origin.requests[0]["headers"]["upgrade"] == ["other"]
        assert "sec-websocket-key" not in origin.requests[0]["headers"]
        for sid in (3, 5, 7):
            conn.send(sid, extended_connect(f"127.0.0.1:{srv.port}", path="/bad"))
            assert conn.response(sid)[b":status"] == b"502", sid
    th.join(5)
    bad.close()
    assert t.wait_for(lambda: len(re.findall(r'"CONNECT /bad HTTP/2\.0" 502 ',
                                             srv.read(srv.base / "access.log"))) == 3)


def test_malformed_extended_connect(make_server, server, origin):
    """:protocol only on CONNECT (RFC 8441 §4), and only where it was offered: a stream error
    PROTOCOL_ERROR, the connection goes on."""
    srv = proxied(make_server, ws_location(origin))
    auth = f"127.0.0.1:{srv.port}".encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * t.SLOW) as s:
        conn = H2(s)
        conn.send(1, [(b":method", b"GET"), (b":protocol", b"websocket"), (b":scheme", b"http"),
                      (b":path", b"/ws"), (b":authority", auth)], end=True)
        ev = conn.response(1)
        assert isinstance(ev, h2.events.StreamReset) and ev.error_code == 1, ev
        conn.send(3, [(b":method", b"CONNECT"), (b":protocol", b"web socket"),
                      (b":scheme", b"http"), (b":path", b"/ws"), (b":authority", auth)])
        ev = conn.response(3)
        assert isinstance(ev, h2.events.StreamReset) and ev.error_code == 1, ev
        conn.send(5, [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"),
                      (b":authority", auth)], end=True)
        assert conn.response(5)[b":status"] == b"200"
    assert origin.requests == []
    # a server with no proxy location does not offer it, and refuses :protocol
    with socket.create_connection(("127.0.0.1", server.port), timeout=10 * t.SLOW) as s:
        conn = H2(s)
        assert conn.peer_settings.get(ENABLE_CONNECT_PROTOCOL, 0) == 0, conn.peer_settings
        conn.send(1, extended_connect(f"127.0.0.1:{server.port}"))
        ev = conn.response(1)
        assert isinstance(ev, h2.events.StreamReset) and ev.error_code == 1, ev


def test_no_tunnel_without_enable_connect_protocol(make_server, origin):
    """Toward an HTTP/2 upstream that did not send SETTINGS_ENABLE_CONNECT_PROTOCOL=1 (RFC
    8441 §3), an extended CONNECT is a 501 (nothing is sent to it), and the connection serves
    on."""
    o = H2Origin()
    try:
        srv = proxied(make_server, {"exact": "/ws", "proxy": o.url},
                      {"exact": "/echo", "proxy": origin.url})
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * t.SLOW) as s:
            conn = H2(s)
            conn.send(1, extended_connect(f"127.0.0.1:{srv.port}"))
            assert conn.response(1)[b":status"] == b"501"
            conn.send(3, [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/echo"),
                          (b":authority", f"127.0.0.1:{srv.port}".encode())], end=True)
            assert conn.response(3)[b":status"] == b"200"
        assert o.connects == [] and "no SETTINGS_ENABLE_CONNECT_PROTOCOL" in srv.read(srv.error_log)
    finally:
        o.close()


@pytest.mark.parametrize("tls", [False, True])
def test_websocket_to_h2_upstream(make_server, certs, tls):  # noqa: F811
    """RFC 8441 on both sides: the client's extended CONNECT goes to an HTTP/2 upstream that
    allows it as an extended CONNECT of tern's own (:protocol websocket, :scheme, :path,
    :authority; no Upgrade, Connection or Sec-WebSocket-Key), its 200 comes back, and the two
    streams are one tunnel both ways under flow control (a message larger than every window),
    the close handshake ends both streams."""
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(certs.leaf), str(certs.leaf_key))
        ctx.set_alpn_protocols(["h2"])
    o = H2Origin(ssl_ctx=ctx, extended_connect=True)
    try:
        up = {"upstreams": [o.https_url], "http2": True, "tls_ca": str(certs.ca)} if tls else o.url
        srv = proxied(make_server, {"exact": "/ws", "proxy": up})
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * t.SLOW) as s:
            conn = H2(s)
            ws_over_h2(conn, f"127.0.0.1:{srv.port}")
            # the connection carries on, and a second tunnel works on it
            conn.send(3, extended_connect(f"127.0.0.1:{srv.port}"))
            assert conn.response(3)[b":status"] == b"200"
            conn.send_data(3, ws_frame(b"again", op=1))
            assert ws_read_h2(conn, 3) == (1, b"again")
        with o.lock:
            heads = [dict(f) for f in o.connects]
        assert len(heads) == 2, heads
        h = heads[0]
        assert h[":method"] == "CONNECT" and h[":protocol"] == "websocket", h
        assert h[":path"] == "/ws" and h[":scheme"] == ("https" if tls else "http"), h
        assert h[":authority"] and h["sec-websocket-version"] == "13", h
        for k in ("upgrade", "connection", "sec-websocket-key"):
            assert k not in h, h
        # the client went away mid-tunnel: the upstream's stream was cancelled
        assert wait_for_reset(o, "/ws")
    finally:
        o.close()
    srv.assert_healthy()


def wait_for_reset(o, path):
    return t.wait_for(lambda: any(p == path and code == 8 for p, code in o.resets),
                      timeout=5 * t.SLOW)


def test_websocket_to_h2_upstream_resets(make_server):
    """RST_STREAM both ways: the upstream resetting its tunnel stream resets the client's; the
    client resetting its stream cancels the upstream's (RST_STREAM CANCEL)."""
    o = H2Origin(extended_connect=True)
    try:
        srv = proxied(make_server, {"exact": "/ws", "proxy": o.url}, {"exact": "/ws-rst", "proxy": o.url})
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * t.SLOW) as s:
            conn = H2(s)
            conn.send(1, extended_connect(f"127.0.0.1:{srv.port}", path="/ws-rst"))
            assert conn.response(1)[b":status"] == b"200"
            conn.send_data(1, ws_frame(b"x"))
            ev = conn.ended(1)
            assert isinstance(ev, h2.events.StreamReset), ev
            conn.send(3, extended_connect(f"127.0.0.1:{srv.port}"))
            assert conn.response(3)[b":status"] == b"200"
            conn.send_data(3, ws_frame(b"y"))
            assert ws_read_h2(conn, 3) == (1, b"y")
            conn.c.reset_stream(3, 8)
            s.sendall(conn.c.data_to_send())
            assert wait_for_reset(o, "/ws")
            # and the connection serves on
            conn.send(5, extended_connect(f"127.0.0.1:{srv.port}"))
            assert conn.response(5)[b":status"] == b"200"
    finally:
        o.close()
    srv.assert_healthy()


def test_connect_that_nothing_tunnels_is_answered_at_once(make_server, origin):
    """A CONNECT stream never ends before its tunnel would, so one that nothing here tunnels (an
    extended CONNECT to a location that does not proxy, a CONNECT with the forward proxy off)
    is answered at its HEADERS, not left waiting for an END_STREAM, and the connection goes on."""
    srv = proxied(make_server, ws_location(origin))
    auth = f"127.0.0.1:{srv.port}"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5 * t.SLOW) as s:
        conn = H2(s)
        assert conn.peer_settings.get(ENABLE_CONNECT_PROTOCOL) == 1
        conn.send(1, [(b":method", b"CONNECT"), (b":protocol", b"websocket"),
                      (b":scheme", b"http"), (b":path", b"/hello.txt"),
                      (b":authority", auth.encode())])
        assert conn.response(1)[b":status"] == b"405"
        conn.send(3, [(b":method", b"CONNECT"), (b":authority", b"example.com:443")])
        assert conn.response(3)[b":status"] in (b"403", b"405"), "refused, not left waiting"
        conn.send(5, [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/hello.txt"),
                      (b":authority", auth.encode())], end=True)
        assert conn.response(5)[b":status"] == b"200"
    assert origin.requests == []
