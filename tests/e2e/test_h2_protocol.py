"""HTTP/2 over cleartext (h2c): real clients (curl, nghttp, h2load) and hand-made frames for
the error paths of RFC 9113 §4-§8 and each defence: the exact GOAWAY / RST_STREAM code, and a
fresh connection still served afterwards."""

import shutil
import socket
import struct
import subprocess
import time

import hpack
import pytest

import tern_e2e as t

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONT = range(10)
END_STREAM, ACK, END_HEADERS, PADDED = 1, 1, 4, 8
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED = 0, 1, 3, 4, 5
FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 6, 7, 8, 9, 11

H2 = {"http2": {"max_resets_per_10s": 40, "max_idle_frames_per_10s": 200,
                "max_continuations": 8}}


@pytest.fixture(scope="module")
def h2srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("tern_h2")
    files = t.make_tree(d)
    srv = t.Tern(d, name="h2")
    cfg = t.base_config(d, srv.port, **H2)
    cfg["limits"] = {"body_size": 100000, "header_count": 50}
    cfg["servers"][0]["locations"].append({"path": "/sub/", "push": True,
                                           "push_paths": ["/sub/file.txt"]})
    srv.config = cfg
    srv.restartable = True
    srv.start()
    srv.files = files
    yield srv
    problems = srv.stop()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def settings(*pairs):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


class Client:
    """A raw HTTP/2 client: frames in, frames out."""

    def __init__(self, port, enable_push=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5 * t.SLOW)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.streams = {}
        self.promises = {}
        pairs = [] if enable_push is None else [(2, enable_push)]
        self.send(PREFACE + settings(*pairs))
        # the server's preface: SETTINGS first
        f = self.read_frame()
        assert f[0] == SETTINGS and not f[1] & ACK
        self.send(frame(SETTINGS, ACK, 0))

    def send(self, data):
        self.sock.sendall(data)

    def read_frame(self):
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "big")
        f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF,
             self.buf[9:9 + n])
        self.buf = self.buf[9 + n:]
        self.track(f)
        return f

    def track(self, f):
        """Keeps HPACK in sync and records every stream's response."""
        ftype, flags, sid, payload = f
        st = self.streams.setdefault(sid, {"status": None, "headers": {}, "body": b"",
                                           "done": False, "rst": None})
        if ftype == PUSH_PROMISE:
            promised = struct.unpack(">I", payload[:4])[0]
            self.promises[promised] = dict(self.dec.decode(payload[4:]))
        elif ftype == HEADERS:
            fields = dict(self.dec.decode(payload))
            status = fields.get(":status")
            if st["status"] is None and status and not status.startswith("1"):
                st["status"], st["headers"] = int(status), fields
        elif ftype == DATA and payload:
            st["body"] += payload
            self.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(payload))) +
                      frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", len(payload))))
        elif ftype == RST:
            st["rst"] = struct.unpack(">I", payload)[0]
        if ftype in (HEADERS, DATA) and flags & END_STREAM:
            st["done"] = True

    def headers(self, sid, path="/hello.txt", method="GET", end=True, extra=(), raw=None):
        block = raw if raw is not None else self.enc.encode(
            [(":method", method), (":scheme", "http"), (":path", path),
             (":authority", "localhost")] + list(extra))
        parts = [block[i:i + 16384] for i in range(0, len(block), 16384)] or [b""]
        es = END_STREAM if end else 0
        out = frame(HEADERS, es | (END_HEADERS if len(parts) == 1 else 0), sid, parts[0])
        for i, p in enumerate(parts[1:], 2):
            out += frame(CONT, END_HEADERS if i == len(parts) else 0, sid, p)
        self.send(out)

    def until(self, pred, limit=2000):
        """Reads frames until pred(frame) is true; returns it (None on EOF)."""
        for _ in range(limit):
            f = self.read_frame()
            if f is None or pred(f):
                return f
        raise AssertionError("frame not seen")

    def goaway(self):
        f = self.until(lambda f: f[0] == GOAWAY)
        assert f is not None, "connection closed without GOAWAY"
        return struct.unpack(">II", f[3][:8])

    def rst(self, sid):
        f = self.until(lambda f: f[0] == RST and f[2] == sid)
        assert f is not None, "connection closed without RST_STREAM"
        return struct.unpack(">I", f[3])[0]

    def response(self, sid):
        """(status, headers dict, body) of stream sid."""
        while True:
            st = self.streams.get(sid)
            if st and st["rst"] is not None:
                raise AssertionError(f"stream {sid} reset with {st['rst']}")
            if st and st["done"]:
                return st["status"], st["headers"], st["body"]
            assert self.read_frame() is not None, "connection closed"

    def close(self):
        self.sock.close()


def still_serves(srv):
    c = Client(srv.port)
    c.headers(1)
    status, _, body = c.response(1)
    c.close()
    assert status == 200 and body == t.HELLO


# --- real clients -----------------------------------------------------------------------------

@pytest.mark.skipif(not shutil.which("curl"), reason="curl missing")
@pytest.mark.parametrize("mode", ["--http2-prior-knowledge", "--http2"])
@pytest.mark.parametrize("name", ["hello.txt", "big.bin", "index.html"])
def test_curl(h2srv, mode, name):
    r = subprocess.run(["curl", "-sS", mode, "-o", "-", "-w", "%{http_version}",
                        f"http://127.0.0.1:{h2srv.port}/{name}"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    body, version = r.stdout[:-1], r.stdout[-1:]
    assert version == b"2"
    assert body == h2srv.files[name]


@pytest.mark.skipif(not shutil.which("nghttp"), reason="nghttp2-client missing")
def test_nghttp(h2srv):
    r = subprocess.run(["nghttp", "-nv", f"http://127.0.0.1:{h2srv.port}/index.html"],
                       capture_output=True, timeout=30, text=True)
    assert r.returncode == 0, r.stderr
    assert ":status: 200" in r.stdout
    assert "recv SETTINGS frame" in r.stdout


@pytest.mark.skipif(not shutil.which("h2load"), reason="nghttp2-client missing")
def test_h2load(h2srv):
    r = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "32",
                        f"http://127.0.0.1:{h2srv.port}/hello.txt"],
                       capture_output=True, timeout=60, text=True)
    assert r.returncode == 0, r.stderr
    assert "2000 succeeded, 0 failed, 0 errored" in r.stdout, r.stdout


def test_post_and_head_and_404(h2srv):
    c = Client(h2srv.port)
    c.headers(1, method="HEAD")
    status, hdrs, body = c.response(1)
    assert status == 200 and body == b"" and hdrs["content-length"] == str(len(t.HELLO))
    c.headers(3, path="/nope")
    assert c.response(3)[0] == 404
    c.headers(5, method="POST", end=False, extra=[("content-length", "5")])
    c.send(frame(DATA, END_STREAM, 5, b"abcde"))
    assert c.response(5)[0] == 405
    c.close()


def test_body_over_limit_413(h2srv):
    c = Client(h2srv.port)
    c.headers(1, method="POST", end=False)
    for _ in range(8):
        c.send(frame(DATA, 0, 1, b"x" * 16000))
    assert c.response(1)[0] == 413
    c.close()
    still_serves(h2srv)


def test_many_streams_interleave(h2srv):
    c = Client(h2srv.port)
    for i in range(20):
        c.headers(1 + 2 * i, path="/big.bin")
    got = {}
    for i in range(20):
        sid = 1 + 2 * i
        status, _, body = c.response(sid)
        got[sid] = (status, body)
    assert all(s == 200 and b == h2srv.files["big.bin"] for s, b in got.values())
    c.close()


def test_push(h2srv):
    c = Client(h2srv.port)
    c.headers(1, path="/sub/index.html")
    f = c.until(lambda f: f[0] in (PUSH_PROMISE, HEADERS))
    assert f[0] == PUSH_PROMISE
    promised = struct.unpack(">I", f[3][:4])[0]
    assert promised % 2 == 0 and c.promises[promised][":path"] == "/sub/file.txt"
    assert c.response(1)[0] == 200
    status, _, body = c.response(promised)
    assert status == 200 and body == h2srv.files["sub/file.txt"]
    c.close()
    # no push when the client disabled it
    c = Client(h2srv.port, enable_push=0)
    c.headers(1, path="/sub/index.html")
    f = c.until(lambda f: f[0] in (PUSH_PROMISE, HEADERS))
    assert f[0] == HEADERS
    c.close()


# --- connection errors --------------------------------------------------------------------------

def pad_frame(ftype, sid, padlen, content, flags=0):
    return frame(ftype, flags | PADDED, sid, bytes([padlen]) + content + b"\0" * max(0, padlen - len(content) + len(content)))


CONN_ERRORS = {
    "ping-length": (lambda c: c.send(frame(PING, 0, 0, b"1234567")), FRAME_SIZE_ERROR),
    "ping-on-stream": (lambda c: c.send(frame(PING, 0, 1, b"12345678")), PROTOCOL_ERROR),
    "settings-on-stream": (lambda c: c.send(frame(SETTINGS, 0, 1)), PROTOCOL_ERROR),
    "settings-length": (lambda c: c.send(frame(SETTINGS, 0, 0, b"12345")), FRAME_SIZE_ERROR),
    "settings-ack-payload": (lambda c: c.send(frame(SETTINGS, ACK, 0, b"123456")), FRAME_SIZE_ERROR),
    "enable-push-2": (lambda c: c.send(settings((2, 2))), PROTOCOL_ERROR),
    "window-too-big": (lambda c: c.send(settings((4, 1 << 31))), FLOW_CONTROL_ERROR),
    "max-frame-small": (lambda c: c.send(settings((5, 16383))), PROTOCOL_ERROR),
    "data-idle": (lambda c: c.send(frame(DATA, 0, 9, b"x")), PROTOCOL_ERROR),
    "data-stream-0": (lambda c: c.send(frame(DATA, 0, 0, b"x")), PROTOCOL_ERROR),
    "even-stream": (lambda c: c.headers(2), PROTOCOL_ERROR),
    "decreasing-stream": (lambda c: (c.headers(5), c.headers(3)), STREAM_CLOSED),
    "push-promise": (lambda c: c.send(frame(PUSH_PROMISE, END_HEADERS, 1, b"\0\0\0\2\x82")),
                     PROTOCOL_ERROR),
    "window-update-0-conn": (lambda c: c.send(frame(WINDOW_UPDATE, 0, 0, b"\0\0\0\0")),
                             PROTOCOL_ERROR),
    "window-overflow": (lambda c: c.send(frame(WINDOW_UPDATE, 0, 0, b"\x7f\xff\xff\xff")),
                        FLOW_CONTROL_ERROR),
    "window-update-length": (lambda c: c.send(frame(WINDOW_UPDATE, 0, 0, b"\0\0\0\1\0")),
                             FRAME_SIZE_ERROR),
    "continuation-alone": (lambda c: c.send(frame(CONT, END_HEADERS, 1, b"\x82")), PROTOCOL_ERROR),
    "continuation-interleaved": (lambda c: c.send(frame(HEADERS, 0, 1, b"\x82") +
                                                  frame(PING, 0, 0, b"12345678")), PROTOCOL_ERROR),
    "continuation-other-stream": (lambda c: c.send(frame(HEADERS, 0, 1, b"\x82") +
                                                   frame(CONT, END_HEADERS, 3, b"\x84")),
                                  PROTOCOL_ERROR),
    "frame-too-large": (lambda c: c.send(frame(DATA, 0, 1, b"x" * 16385)), FRAME_SIZE_ERROR),
    "padding-too-long": (lambda c: (c.headers(1, end=False),
                                    c.send(frame(DATA, PADDED, 1, b"\x05abc"))), PROTOCOL_ERROR),
    "rst-idle": (lambda c: c.send(frame(RST, 0, 11, b"\0\0\0\x08")), PROTOCOL_ERROR),
    "rst-length": (lambda c: (c.headers(1, end=False), c.send(frame(RST, 0, 1, b"\0\0\x08"))),
                   FRAME_SIZE_ERROR),
    "goaway-on-stream": (lambda c: c.send(frame(GOAWAY, 0, 1, b"\0" * 8)), PROTOCOL_ERROR),
    "hpack-garbage": (lambda c: c.headers(1, raw=b"\xff\xff\xff\xff\xff"), COMPRESSION_ERROR),
    "stream-window-exceeded": (lambda c: (c.send(settings()), c.headers(1, method="POST", end=False),
                                          [c.send(frame(DATA, 0, 1, b"x" * 16384)) for _ in range(5)]),
                               None),  # within limits (we replenish as we read): no error
    "rapid-reset": (lambda c: [c.send(frame(HEADERS, END_HEADERS, 1 + 2 * i,
                                            c.enc.encode([(":method", "GET"), (":scheme", "http"),
                                                          (":path", "/big.bin"),
                                                          (":authority", "localhost")])) +
                                      frame(RST, 0, 1 + 2 * i, b"\0\0\0\x08"))
                               for i in range(60)], ENHANCE_YOUR_CALM),
    "ping-flood": (lambda c: c.send(frame(PING, 0, 0, b"12345678") * 300), ENHANCE_YOUR_CALM),
    "settings-flood": (lambda c: c.send(settings() * 300), ENHANCE_YOUR_CALM),
    "empty-data-flood": (lambda c: (c.headers(1, method="POST", end=False),
                                    c.send(frame(DATA, 0, 1) * 300)), ENHANCE_YOUR_CALM),
    "unknown-frame-flood": (lambda c: c.send(frame(0x42, 0, 0, b"x") * 300), ENHANCE_YOUR_CALM),
    "priority-flood": (lambda c: c.send(frame(PRIORITY, 0, 3, b"\0\0\0\1\x10") * 300),
                       ENHANCE_YOUR_CALM),
    "continuation-flood": (lambda c: c.send(frame(HEADERS, 0, 1, b"\x82") + frame(CONT, 0, 1) * 20),
                           ENHANCE_YOUR_CALM),
}


@pytest.mark.parametrize("name", sorted(CONN_ERRORS))
def test_connection_error(h2srv, name):
    build, code = CONN_ERRORS[name]
    c = Client(h2srv.port)
    build(c)
    if code is None:
        c.send(frame(DATA, END_STREAM, 1, b""))
        assert c.response(1)[0] == 405
    else:
        last, got = c.goaway()
        assert got == code, f"GOAWAY {got}, expected {code}"
    c.close()
    still_serves(h2srv)


# --- stream errors ------------------------------------------------------------------------------

MALFORMED = {
    "uppercase-name": [("X-Upper", "1")],
    "connection": [("connection", "keep-alive")],
    "keep-alive": [("keep-alive", "5")],
    "proxy-connection": [("proxy-connection", "x")],
    "transfer-encoding": [("transfer-encoding", "chunked")],
    "upgrade": [("upgrade", "h2c")],
    "te-gzip": [("te", "gzip")],
    "leading-space": [("x-a", " v")],
    "trailing-space": [("x-a", "v ")],
    "lf-in-value": [("x-a", "a\nb")],
    "nul-in-value": [("x-a", "a\0b")],
    "unknown-pseudo": [(":foo", "bar")],
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_request(h2srv, name):
    c = Client(h2srv.port)
    fields = [(":method", "GET"), (":scheme", "http"), (":path", "/hello.txt"),
              (":authority", "localhost")] + MALFORMED[name]
    c.headers(1, raw=c.enc.encode(fields))
    assert c.rst(1) == PROTOCOL_ERROR
    c.headers(3)
    assert c.response(3)[0] == 200  # the connection lives on
    c.close()


@pytest.mark.parametrize("fields", [
    [(":method", "GET"), (":path", "/"), (":authority", "localhost")],  # no :scheme
    [(":method", "GET"), (":scheme", "http"), (":authority", "localhost")],  # no :path
    [(":scheme", "http"), (":path", "/"), (":authority", "localhost")],  # no :method
    [(":method", "GET"), (":scheme", "http"), (":path", ""), (":authority", "localhost")],
    [(":method", "GET"), (":method", "GET"), (":scheme", "http"), (":path", "/")],
    [(":method", "GET"), ("x-a", "1"), (":scheme", "http"), (":path", "/")],
])
def test_malformed_pseudo_headers(h2srv, fields):
    c = Client(h2srv.port)
    c.headers(1, raw=c.enc.encode(fields))
    assert c.rst(1) == PROTOCOL_ERROR
    c.close()


def test_content_length_mismatch(h2srv):
    c = Client(h2srv.port)
    c.headers(1, method="POST", end=False, extra=[("content-length", "10")])
    c.send(frame(DATA, END_STREAM, 1, b"abc"))
    assert c.rst(1) == PROTOCOL_ERROR
    c.close()


def test_pseudo_in_trailers(h2srv):
    c = Client(h2srv.port)
    c.headers(1, method="POST", end=False)
    c.send(frame(DATA, 0, 1, b"abc"))
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.enc.encode([(":path", "/x")])))
    assert c.rst(1) == PROTOCOL_ERROR
    c.close()


def test_data_on_half_closed_stream(h2srv):
    c = Client(h2srv.port)
    c.send(settings((4, 0)))  # hold the response so the stream stays half-closed (remote)
    c.headers(1, path="/big.bin")
    c.send(frame(DATA, 0, 1, b"x"))
    assert c.rst(1) == STREAM_CLOSED
    c.close()


def test_window_update_zero_on_stream(h2srv):
    c = Client(h2srv.port)
    c.send(settings((4, 0)))
    c.headers(1, path="/big.bin")
    c.send(frame(WINDOW_UPDATE, 0, 1, b"\0\0\0\0"))
    assert c.rst(1) == PROTOCOL_ERROR
    c.close()


def test_priority_self_dependency(h2srv):
    c = Client(h2srv.port)
    c.send(frame(PRIORITY, 0, 1, b"\0\0\0\1\x10"))
    assert c.rst(1) == PROTOCOL_ERROR
    c.close()


def test_headers_too_large_431(h2srv):
    c = Client(h2srv.port)
    c.headers(1, extra=[(f"x-h{i}", "v") for i in range(60)])  # header_count 50
    assert c.response(1)[0] == 431
    c.headers(3, extra=[("x-big", "v" * 40000)])  # over max_header_list_size (32 KiB)
    assert c.response(3)[0] == 431
    c.headers(5)
    assert c.response(5)[0] == 200
    c.close()


def test_refused_stream(make_server):
    srv = make_server(http2={"max_concurrent_streams": 2})
    c = Client(srv.port)
    for sid in (1, 3, 5):
        c.headers(sid, method="POST", end=False)
    assert c.rst(5) == REFUSED_STREAM
    c.close()


def test_settings_and_ping_ack(h2srv):
    c = Client(h2srv.port)
    c.send(frame(PING, 0, 0, b"abcdefgh"))
    f = c.until(lambda f: f[0] == PING)
    assert f[1] & ACK and f[3] == b"abcdefgh"
    c.close()


def test_wrong_preface_closes(h2srv):
    s = socket.create_connection(("127.0.0.1", h2srv.port), timeout=5)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    assert b"HTTP/2 200" not in data
    still_serves(h2srv)


def test_slow_header_block(make_server):
    srv = make_server(http2={"preface_timeout": 1})
    c = Client(srv.port)
    c.send(frame(HEADERS, 0, 1, b"\x82"))
    start = time.time()
    last, code = c.goaway()
    assert code == ENHANCE_YOUR_CALM and time.time() - start < 5 * t.SLOW
    c.close()


def test_idle_connection_goaway(make_server):
    srv = make_server(http2={"idle_timeout": 1})
    c = Client(srv.port)
    last, code = c.goaway()
    assert code == NO_ERROR
    c.close()


def test_upgrade_declined_without_settings(h2srv):
    conn = socket.create_connection(("127.0.0.1", h2srv.port), timeout=5)
    conn.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
                 b"Upgrade: h2c\r\n\r\n")
    data = conn.recv(65536)
    conn.close()
    assert data.startswith(b"HTTP/1.1 200")


@pytest.mark.skipif(not shutil.which("h2load"), reason="nghttp2-client missing")
def test_h2load_large_body_huge_window(h2srv):
    """h2load's default 1 GiB windows let the server write without ever blocking on flow
    control; a 40 MB response must still finish (it once stalled after a fixed number of write
    rounds, waiting for an edge-triggered event that never came)."""
    huge = h2srv.base / "root" / "huge.bin"
    with open(huge, "wb") as f:
        f.truncate(40 << 20)
    try:
        r = subprocess.run(["h2load", "-n", "2", "-c", "1", "-m", "1",
                            f"http://127.0.0.1:{h2srv.port}/huge.bin"],
                           capture_output=True, text=True, timeout=60 * t.SLOW)
    finally:
        huge.unlink()
    assert "2 succeeded, 0 failed" in r.stdout, r.stdout + r.stderr


def test_reload_sends_goaway_and_finishes_streams(make_server):
    """RFC 9113 §6.8 on reload: GOAWAY in two steps (2^31-1 and a PING, then the last stream
    id), in-flight streams finish, a new connection is served under the new configuration."""
    import signal

    srv = make_server()
    c = Client(srv.port)
    c.headers(1)
    assert c.response(1)[0] == 200
    c.headers(3, path="/big.bin", end=True)
    # stream 3 is in flight (its response started) when the reload happens
    assert c.until(lambda f: f[0] == HEADERS and f[2] == 3) is not None
    srv.signal(signal.SIGHUP)
    # first step: no limit yet, and a PING whose ack tells the client's streams have arrived
    last, code = c.goaway()
    assert code == NO_ERROR and last == 0x7FFFFFFF
    ping = c.until(lambda f: f[0] == PING and not f[1] & ACK)
    c.send(frame(PING, ACK, 0, ping[3]))
    last, code = c.goaway()
    assert code == NO_ERROR and last == 3
    send = c.send

    def send_unless_closed(data):
        # once the last stream is done the server closes; late WINDOW_UPDATEs may hit that
        try:
            send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    c.send = send_unless_closed
    status, _, body = c.response(3)
    assert status == 200 and body == (srv.base / "root" / "big.bin").read_bytes()
    c.close()
    still_serves(srv)
