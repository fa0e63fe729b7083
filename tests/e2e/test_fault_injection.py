"""Fault injection: the Nth allocation, open, accept, read, write, sendfile or TLS read/write of
the real server fails, for every N a scenario reaches (tests/fault/README.md).

For each transport (HTTP/1.1, HTTP/1.1 over TLS, h2c by prior knowledge, HTTP/2 over TLS) and
scenario (small GET, large GET, large GET with a Range, POST with a body, HEAD, two requests on
one connection) the scenario first runs once against tern-fault in count mode, which tells how
many calls of each kind it makes. Then, for each kind and each N up to that count, a fresh
tern-fault (--workers 1, so N is deterministic) gets TERN_FAULT=kind:N and the scenario runs
again. Every answer must be the right one, a 5xx, or a clean close/reset (a body cut short
must still be a prefix of the right bytes); a hang is a failure. Then a new connection must get
200 and the right bytes, QUIT must end the server with exit status 0, and stderr and the error
log must hold no sanitizer report.

Under ASan (TERN_ASAN=1) N is sampled: for counts above ASAN_FULL, the first and last
ASAN_EDGE values of N and every ASAN_STEP-th one between them.

HTTP/3 (test_fault_h3) runs the same way with Debian's gtlsclient as the client, one QUIC
connection per scenario (a small GET, a large GET, several streams at once). Each request is
right, a 5xx, or a clean failure of that request (the stream or the connection ends with an
error, gtlsclient exits non-zero or gives up after its idle timeout), never a wrong body. A QUIC
run costs more than a TCP one (a handshake, two client processes), so for kinds with more than
H3_MAX calls N is sampled in the release build too: the first and last H3_EDGE values and
evenly spread ones between them, H3_MAX in all, shifted per scenario so that together the
scenarios cover more N. Under ASan, H3_ASAN_MAX.
"""

import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest

import tern_e2e as t
from tls_util import certs  # noqa: F401  (fixture)

FAULT_BIN = Path(t.TERN_BIN).resolve().parent / "tern-fault"
pytestmark = pytest.mark.skipif(
    not os.access(FAULT_BIN, os.X_OK),
    reason=f"{FAULT_BIN} not built (meson configure -Dfault_injection=true)")

SMALL = t.HELLO
LARGE = random.Random(7).randbytes(300 * 1024)
MID = random.Random(8).randbytes(40 * 1024)
RANGE = (1000, 200999)
POST_BODY = b"p" * 5000
TIMEOUT = 3.0 * t.SLOW  # a scenario step that takes longer is a hang
ASAN_FULL, ASAN_EDGE, ASAN_STEP = 10, 3, 4


def sample(count):
    """The values of N to try for a kind the scenario calls `count` times."""
    ns = list(range(1, count + 1))
    if not t.ASAN or count <= ASAN_FULL:
        return ns
    return sorted(set(ns[:ASAN_EDGE] + ns[-ASAN_EDGE:] + ns[ASAN_EDGE:-ASAN_EDGE:ASAN_STEP]))


# ---------------------------------------------------------------------------------------------
# The server


def read_counts(path):
    """{kind: count, ..., "fired": 0|1} from tern-fault's live count file."""
    data = Path(path).read_bytes()
    names = data[:128].decode().split(":", 1)[1].split()
    values = struct.unpack(f"={len(names)}Q", data[128:128 + 8 * len(names)])
    return dict(zip(names, values))


class FaultTern:
    """One tern-fault process with one (or no) fault armed."""

    def __init__(self, env, name, fault=None):
        self.env = env
        self.port = t.free_port()
        self.tls_port = t.free_port()
        while self.tls_port == self.port:
            self.tls_port = t.free_port()
        self.metrics_port = t.free_port()
        while self.metrics_port in (self.port, self.tls_port):
            self.metrics_port = t.free_port()
        d = env["dir"]
        tag = f"{name}-{fault.replace(':', '-') if fault else 'count'}"
        self.count_path = d / f"{tag}.counts"
        self.stderr_path = d / f"{tag}.stderr"
        self.error_log = d / f"{tag}.error.log"
        cfg = {
            "listen": [f"127.0.0.1:{self.port}"],
            "tls_listen": [f"127.0.0.1:{self.tls_port}"],
            "tls": {"cert": str(env["cert"]), "key": str(env["key"])},
            "workers": 1,
            "access_log": str(d / "access.log"),
            "error_log": str(self.error_log),
            "log_level": "info",
            "timeouts": {"header": 2, "keepalive": 2, "body": 2, "send": 2, "graceful": 2},
            "forward_proxy": {"enabled": True, "allow": ["localhost:*"], "allow_private": True},
            "servers": [{"names": ["localhost"], "root": str(env["root"]), "default": True,
                         "locations": [{"path": "/"},
                                       {"path": "/up/",
                                        "proxy": f"http://127.0.0.1:{env['upstream']}/"},
                                       {"path": "/up2/",
                                        "proxy": f"h2c://127.0.0.1:{env['upstream']}/"},
                                       {"path": "/cached/", "cache": True,
                                        "proxy": f"http://127.0.0.1:{env['upstream']}/"},
                                       {"path": "/shared/", "root": str(env["root"]),
                                        "rate_limit": {"rate": "1000000/s", "burst": 1000000,
                                                       "shared": True}}]}],
            # a real redis-server when installed, else a port nobody listens on (on_error local)
            "redis": {"address": f"127.0.0.1:{env['redis']}", "timeout": "1s"},
            # the metrics listener and the status page (handler/metrics, handler/status_page)
            "metrics": {"listen": f"127.0.0.1:{self.metrics_port}", "status": True},
        }
        # the disk store's directory starts empty for each run: the same calls every time
        cache_dir = d / f"{tag}.cache"
        shutil.rmtree(cache_dir, ignore_errors=True)
        cache_dir.mkdir()
        cfg["servers"][0]["locations"].append(
            {"path": "/dcached/", "cache": {"path": str(cache_dir)},
             "proxy": f"http://127.0.0.1:{self.env['upstream']}/"})
        if name.endswith("-observe"):  # JSON lines, request ids and an error page template
            cfg["access_log"] = {"path": str(d / "access.json"), "format": "json",
                                 "buffer": "1k"}
            cfg["request_id"] = {"header": "X-Request-Id", "response_header": "X-Request-Id"}
            cfg["servers"][0]["error_pages"] = {404: {"template": "/errors/404.html"}}
        for old in (self.stderr_path, self.error_log):
            old.unlink(missing_ok=True)
        conf = d / f"{tag}.yaml"
        conf.write_text(t.yaml_dump(cfg) + "\n")
        penv = dict(os.environ, TERN_FAULT_COUNT=str(self.count_path))
        penv.pop("TERN_FAULT", None)
        if fault:
            penv["TERN_FAULT"] = fault
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([str(FAULT_BIN), "serve", "-c", str(conf)], env=penv,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err)
        # wait for the listeners without connecting (a connection would arm the counting):
        # tern logs "started" once they listen (/proc/net/tcp is slow to scan on a busy host)
        deadline = time.monotonic() + 10 * t.SLOW
        while " started with " not in t.Tern.read(self.error_log):
            assert self.proc.poll() is None, f"tern-fault exited: {self.problems()}"
            assert time.monotonic() < deadline, "tern-fault did not listen"
            time.sleep(0.002)

    def counts(self):
        return read_counts(self.count_path)

    def disarm(self):
        """Keeps a fault that has not fired yet from firing (fired = 2 in the count file)."""
        with open(self.count_path, "r+b") as f:
            data = f.read(128)
            kinds = data.decode().split(":", 1)[1].split()
            f.seek(128 + 8 * kinds.index("fired"))
            f.write(struct.pack("=Q", 2))

    def settle(self, until=None):
        """Waits until `until(counts)` holds or the counts stop moving (30 ms); returns them."""
        deadline = time.monotonic() + 2 * t.SLOW
        last, stable = None, 0
        while time.monotonic() < deadline:
            c = self.counts()
            if until is not None and until(c):
                return c
            stable = stable + 1 if c == last else 0
            if stable >= 3:
                return c
            last = c
            time.sleep(0.01)
        return self.counts()

    def problems(self):
        found = []
        for path in (self.stderr_path, self.error_log):
            text = t.Tern.read(path)
            for m in t.BAD_MARKERS:
                if m in text:
                    i = text.index(m)
                    found.append(f"{m!r} in {path.name}:\n{text[max(0, i - 300):i + 3000]}")
                    break
        return found

    def quit(self):
        """QUIT, then the exit status must be 0 and no report may show. Returns problems."""
        found = []
        if self.proc.poll() is not None:
            found.append(f"tern-fault died with {self.proc.returncode}")
        else:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                rc = self.proc.wait(timeout=10 * t.SLOW)
                if rc != 0:
                    found.append(f"tern-fault exited with {rc} after QUIT")
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                found.append("tern-fault did not exit within 10 s of QUIT")
        return found + self.problems()


# ---------------------------------------------------------------------------------------------
# Clients: each request gives a Result; a closed or reset connection is not an exception.


class Result:
    def __init__(self, status=None, body=b"", complete=False, note=""):
        self.status, self.body, self.complete, self.note = status, body, complete, note

    def __repr__(self):
        return (f"<status={self.status} complete={self.complete} body[{len(self.body)}]"
                f"{' ' + self.note if self.note else ''}>")


CLOSED = (t.Closed, ConnectionError, ssl.SSLError, BrokenPipeError)


def tls_socket(port, alpn):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([alpn])
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise
    return s


class H1:
    def __init__(self, srv, tls):
        if tls:
            c = t.Conn.__new__(t.Conn)
            c.timeout = TIMEOUT
            c.buf, c.eof = b"", False
            c.sock = tls_socket(srv.tls_port, "http/1.1")
            c.sock.settimeout(TIMEOUT)
            self.c = c
        else:
            self.c = t.Conn(srv.port, timeout=TIMEOUT / t.SLOW)

    def exchange(self, method, path, headers=None, body=b"", close=False):
        try:
            self.c.send(t.request(method, path, headers, body=body, close=close))
        except CLOSED as e:
            return Result(note=f"send: {e!r}")
        try:
            r = self.c.response(head=(method == "HEAD"))
        except CLOSED as e:
            return Result(note=f"recv: {e!r}")
        return Result(r.status, r.body, True)

    def close(self):
        self.c.close()


class H1Tunnel(H1):
    """HTTP/1.1 inside a CONNECT tunnel of the forward proxy to the plain upstream tern (by
    name: tern resolves "localhost" off its loop), so faults meet the forward proxy, the
    resolver's pipe and server/tunnel."""

    def __init__(self, srv):
        self.c = t.Conn(srv.port, timeout=TIMEOUT / t.SLOW)
        self.c.send(f"CONNECT localhost:{srv.env['upstream']} HTTP/1.1\r\nHost: x\r\n\r\n"
                    .encode())
        r = self.c.response(head=True)  # a 2xx to CONNECT has no body (RFC 9110 §9.3.6)
        if r.status != 200:
            self.c.close()
            raise t.Closed(f"CONNECT answered {r.status}")


class H1Metrics(H1):
    """HTTP/1.1 to the metrics listener. Its answers change with every request (they are
    counters), so a body is judged by its shape: a whole exposition or a whole page."""

    SHAPES = {"/metrics": (b"# HELP tern_http_requests_total ", b"\n"),
              "/status": (b"<!DOCTYPE html>", b"</html>\n")}

    def __init__(self, srv):
        self.c = t.Conn(srv.metrics_port, timeout=TIMEOUT / t.SLOW)

    def exchange(self, method, path, headers=None, body=b"", close=False):
        r = super().exchange(method, path, headers, body, close)
        start, end = self.SHAPES.get(path, (None, None))
        if r.complete and r.status == 200 and start and r.body.startswith(start) \
                and r.body.endswith(end):
            r.body = f"whole {path}".encode()
        return r


class H2:
    def __init__(self, srv, tls):
        import h2.config
        import h2.connection
        import h2.settings

        self.sock = None
        self.dead = None
        try:
            if tls:
                self.sock = tls_socket(srv.tls_port, "h2")
            else:
                self.sock = socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT)
        except CLOSED as e:
            self.dead = f"connect: {e!r}"
            return
        self.sock.settimeout(TIMEOUT)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 24})
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(1 << 24)
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data and not self.dead:
            try:
                self.sock.sendall(data)
            except CLOSED as e:
                self.dead = f"send: {e!r}"

    def exchange(self, method, path, headers=None, body=b"", close=False):
        import h2.events as E

        if self.dead:
            return Result(note=self.dead)
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "https"), (":path", path),
                (":authority", "localhost")] + list((headers or {}).items())
        self.conn.send_headers(sid, hdrs, end_stream=not body)
        if body:
            self.conn.send_data(sid, body, end_stream=True)
        self.flush()
        res = Result()
        while not res.complete and not self.dead:
            try:
                data = self.sock.recv(262144)
            except CLOSED as e:
                data, self.dead = b"", f"recv: {e!r}"
            if not data:
                self.dead = self.dead or "closed"
                break
            for ev in self.conn.receive_data(data):  # a protocol error fails the test
                if isinstance(ev, E.ResponseReceived) and ev.stream_id == sid:
                    res.status = int(dict(ev.headers)[":status"])
                elif isinstance(ev, E.DataReceived) and ev.stream_id == sid:
                    res.body += ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, E.StreamEnded) and ev.stream_id == sid:
                    res.complete = True
                elif isinstance(ev, E.StreamReset) and ev.stream_id == sid:
                    self.dead = f"stream reset {ev.error_code}"
                elif isinstance(ev, E.ConnectionTerminated):
                    self.dead = f"GOAWAY {ev.error_code}"
            self.flush()
        if not res.complete:
            res.note = self.dead
        return res

    def close(self):
        if self.sock is not None:
            self.sock.close()


TRANSPORTS = {
    "h1": lambda srv: H1(srv, False),
    "h1-tls": lambda srv: H1(srv, True),
    "h2c": lambda srv: H2(srv, False),
    "h2-tls": lambda srv: H2(srv, True),
    "h1-connect": H1Tunnel,
    "h1-metrics": H1Metrics,
}
TUNNEL_SCENARIOS = ("small", "keepalive")  # the tunnel's faults do not depend on the request

# name -> the connections made one after the other, each a list of its requests:
# (method, path, headers, body)
SCENARIOS = {
    "small": [[("GET", "/hello.txt", None, b"")]],
    "large": [[("GET", "/large.bin", None, b"")]],
    "range": [[("GET", "/large.bin", {"range": f"bytes={RANGE[0]}-{RANGE[1]}"}, b"")]],
    "post": [[("POST", "/hello.txt", {"content-type": "text/plain"}, POST_BODY)]],
    "head": [[("HEAD", "/large.bin", None, b"")]],
    "keepalive": [[("GET", "/hello.txt", None, b""),
                   ("GET", "/large.bin", {"range": "bytes=0-99999"}, b"")]],
    # a second connection: its accept4 can fail (EMFILE), and tern must pick it up later
    "twoconn": [[("GET", "/hello.txt", None, b"")], [("GET", "/hello.txt", None, b"")]],
    # the reverse proxy (handler/proxy) to a plain tern: its upstream socket, pool and body
    # source meet every fault too
    "proxy": [[("GET", "/up/hello.txt", None, b""), ("GET", "/up/mid.bin", None, b""),
               ("POST", "/up/hello.txt", {"content-type": "text/plain"}, POST_BODY)]],
    # the same over HTTP/2 to the upstream (handler/proxy_h2): its connection, session and
    # streams
    "proxy-h2": [[("GET", "/up2/hello.txt", None, b""), ("GET", "/up2/mid.bin", None, b""),
                  ("POST", "/up2/hello.txt", {"content-type": "text/plain"}, POST_BODY),
                  ("GET", "/up2/mid.bin", None, b"")]],
    # the caching proxy (handler/cache): stored, then answered from the store or revalidated
    "cache": [[("GET", "/cached/hello.txt", None, b""), ("GET", "/cached/mid.bin", None, b""),
               ("GET", "/cached/hello.txt", None, b""), ("HEAD", "/cached/mid.bin", None, b""),
               ("GET", "/cached/mid.bin", None, b""),
               ("GET", "/cached/mid.bin", {"range": "bytes=100-299"}, b"")]],
    # the same with the disk store (http/cache_store.c's files): the temporary file, its writes
    # and rename, then the file opened and sent (sendfile) or read for each hit
    "cache_disk": [[("GET", "/dcached/hello.txt", None, b""), ("GET", "/dcached/mid.bin", None, b""),
                    ("GET", "/dcached/hello.txt", None, b""), ("HEAD", "/dcached/mid.bin", None, b""),
                    ("GET", "/dcached/mid.bin", None, b""),
                    ("GET", "/dcached/mid.bin", {"range": "bytes=100-299"}, b"")]],
    # a ranged miss on the disk store: a background request of tern's own fetches the whole
    # response, the store's writer thread writes and renames its file, and the waiting request
    # is answered from it; then a hit
    "cache_disk_range": [[("GET", "/dcached/mid.bin", {"range": "bytes=100-299"}, b""),
                          ("GET", "/dcached/mid.bin", None, b""),
                          ("GET", "/dcached/hello.txt", {"range": "bytes=1-3"}, b"")]],
    # a rate limit shared through Redis (server/redis_link): the worker's hiredis connection,
    # its adapter on the loop and the request's wait for the verdict meet every fault
    "shared": [[("GET", "/shared/hello.txt", None, b""), ("GET", "/shared/mid.bin", None, b"")],
               [("GET", "/shared/hello.txt", None, b"")]],
    # the JSON access log (its batch in the worker), request ids taken from the request and
    # sent back, and an error page template read and expanded (server/site.c)
    "observe": [[("GET", "/hello.txt", {"x-request-id": "fault-1"}, b""),
                 ("GET", "/nothing-here", {"x-request-id": "fault-2"}, b""),
                 ("GET", "/mid.bin", None, b"")]],
    # the metrics listener: the exposition and the status page (h1-metrics only)
    "metrics": [[("GET", "/metrics", None, b""), ("GET", "/status", None, b"")]],
}
PROXY_SCENARIOS = ("proxy", "proxy-h2", "cache", "cache_disk", "cache_disk_range", "shared",
                   "observe")
TEMPLATE_404 = b"<p>{status} {reason} {request_id} {path}</p>\n"
PROXY_TRANSPORTS = ("h1", "h2c")  # the proxy's (and the cache's) faults do not depend on the front's TLS


def requests(scenario):
    return [r for conn in SCENARIOS[scenario] for r in conn]


def connect(transport, srv):
    try:
        return TRANSPORTS[transport](srv)
    except CLOSED as e:
        return e


def run(transport, scenario, srv):
    """Runs the scenario's connections in turn; returns a Result per request."""
    out = []
    for reqs in SCENARIOS[scenario]:
        c = connect(transport, srv)
        if isinstance(c, Exception):
            out += [Result(note=f"connect: {c!r}") for _ in reqs]
            continue
        try:
            for i, (method, path, headers, body) in enumerate(reqs):
                r = c.exchange(method, path, headers, body, close=(i == len(reqs) - 1))
                out.append(r)
                if not r.complete:  # the connection is gone: the rest cannot be sent
                    out += [Result(note="not sent") for _ in reqs[i + 1:]]
                    break
        finally:
            c.close()
    return out


def judge(got, want):
    """None when `got` is acceptable against the fault-free answer `want`, else the fault."""
    if got.complete and got.status == want.status and got.body == want.body:
        return None
    if got.status is not None and got.status >= 500:
        return None
    if got.complete and want.status == 404 and got.status == 404 and b"<h1>404" in got.body:
        return None  # the template could not be read or expanded: the plain error page
    if not got.complete:
        if got.status is None or (got.status == want.status and want.body.startswith(got.body)):
            return None
        return f"cut short after a wrong head or body: {got} (want {want})"
    return f"wrong answer {got} (want {want})"


def outcome(got, want):
    if got.complete and got.status == want.status and got.body == want.body:
        return "ok"
    if got.status is not None and got.status >= 500:
        return "5xx"
    return "closed" if not got.complete else "wrong"


def healthy(transport, srv):
    c = connect(transport, srv)
    if isinstance(c, Exception):
        return f"fresh connection failed: {c!r}"
    path, want = ("/metrics", b"whole /metrics") if transport == "h1-metrics" \
        else ("/hello.txt", SMALL)
    try:
        r = c.exchange("GET", path, close=True)
    finally:
        c.close()
    if not (r.complete and r.status == 200 and r.body == want):
        return f"fresh request after the fault: {r}"
    return None


# ---------------------------------------------------------------------------------------------
# The tests


@pytest.fixture(scope="module")
def env(tmp_path_factory, certs):  # noqa: F811
    d = tmp_path_factory.mktemp("fault")
    root = d / "root"
    root.mkdir()
    (root / "hello.txt").write_bytes(SMALL)
    (root / "large.bin").write_bytes(LARGE)
    (root / "mid.bin").write_bytes(MID)
    (root / "errors").mkdir()
    (root / "errors" / "404.html").write_bytes(TEMPLATE_404)
    # the proxy scenario's upstream: a plain tern (no faults) serving the same files
    port = t.free_port()
    up = subprocess.Popen([t.TERN_BIN, "serve", str(root), "--listen", f"127.0.0.1:{port}",
                           "--workers", "1", "--error-log", str(d / "upstream.log")],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    assert t.wait_port(port, proc=up)
    # the shared scenario's Redis (skipped without redis-server: nothing on its port then)
    redis_port, redis = t.free_port(), None
    if shutil.which("redis-server"):
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", str(d)],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        assert t.wait_port(redis_port, proc=redis)
    yield {"dir": d, "root": root, "cert": certs.leaf, "key": certs.leaf_key, "upstream": port,
           "redis": redis_port}
    up.terminate()
    up.wait(timeout=10)
    if redis is not None:
        redis.terminate()
        redis.wait(timeout=10)


def expected(scenario):
    """The fault-free answers the files dictate (POST: whatever tern answers without faults)."""
    out = []
    for method, path, headers, _ in requests(scenario):
        if path in H1Metrics.SHAPES:
            out.append((200, f"whole {path}".encode()))
            continue
        for prefix in ("/up2", "/up", "/cached", "/dcached", "/shared"):
            path = path.removeprefix(prefix)
        data = {"/hello.txt": SMALL, "/mid.bin": MID}.get(path, LARGE)
        rng = (headers or {}).get("range")
        if path == "/nothing-here":
            rid = headers["x-request-id"].encode()
            out.append((404, TEMPLATE_404.replace(b"{status} {reason}", b"404 Not Found")
                        .replace(b"{request_id}", rid).replace(b"{path}", path.encode())))
        elif method == "HEAD":
            out.append((200, b""))
        elif method != "GET":
            out.append(None)
        elif rng:
            a, b = (int(x) for x in rng.split("=")[1].split("-"))
            out.append((206, data[a:b + 1]))
        else:
            out.append((200, data))
    return out


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_fault(env, transport, scenario):
    if scenario in PROXY_SCENARIOS and transport not in PROXY_TRANSPORTS:
        pytest.skip("the proxy scenario runs over cleartext fronts")
    if transport == "h1-connect" and scenario not in TUNNEL_SCENARIOS:
        pytest.skip("a tunnel carries any request alike")
    if (transport == "h1-metrics") != (scenario == "metrics"):
        pytest.skip("the metrics listener serves the metrics scenario only, and only it")
    # count mode: no fault, the right answers, and how many calls of each kind they take
    srv = FaultTern(env, f"{transport}-{scenario}")
    try:
        base = run(transport, scenario, srv)
        counts = srv.settle()
    finally:
        problems = srv.quit()
    assert not problems, problems
    for got, want in zip(base, expected(scenario)):
        assert got.complete, f"fault-free run failed: {base}"
        if want is not None:
            assert (got.status, got.body) == want, f"fault-free run: {got}"
        else:
            assert 400 <= got.status < 500, f"fault-free run: {got}"

    failures, runs, fired, unfired = [], 0, 0, []
    outcomes = {"ok": 0, "5xx": 0, "closed": 0, "wrong": 0}
    for kind, count in counts.items():
        if kind == "fired":
            continue
        for n in sample(count):
            spec = f"{kind}:{n}"
            srv = FaultTern(env, f"{transport}-{scenario}", spec)
            runs += 1
            bad = []
            try:
                results = run(transport, scenario, srv)
                for got, want in zip(results, base):
                    why = judge(got, want)
                    if why:
                        bad.append(why)
                    outcomes[outcome(got, want)] += 1
                # the fault fires during the scenario or the connection's close; let that
                # finish before the fresh request, which must not meet it
                c = srv.settle(until=lambda c: c["fired"])
                if c["fired"]:
                    fired += 1
                else:  # not reached this time (timing decides some counts): no fault later
                    srv.disarm()
                    unfired.append(spec)
                why = healthy(transport, srv)
                if why:
                    bad.append(why + ("" if c["fired"] else " (fault disarmed unfired)"))
            except socket.timeout as e:
                bad.append(f"hang: {e!r}")
            except Exception as e:  # noqa: BLE001 (a protocol violation, a parse failure...)
                bad.append(f"{type(e).__name__}: {e}")
            finally:
                bad += srv.quit()
            if bad:
                failures.append(f"{transport} {scenario} TERN_FAULT={spec}: " + "; ".join(bad))
                if len(failures) >= 10:
                    break
        if len(failures) >= 10:
            break
    print(f"{transport} {scenario}: counts {counts}, {runs} runs, {fired} faults fired, answers {outcomes}"
          + (f", not reached: {' '.join(unfired)}" if unfired else ""))
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------------------------
# HTTP/3 with gtlsclient: one client process is one QUIC connection with every request of the
# scenario on its own stream (0, 4, 8, ...).

H3_SCENARIOS = {
    "small": ["/hello.txt"],
    "large": ["/large.bin"],
    "streams": ["/hello.txt", "/large.bin", "/mid.bin"],
}
H3_FILES = {"/hello.txt": SMALL, "/large.bin": LARGE, "/mid.bin": MID}
H3_MAX, H3_ASAN_MAX, H3_EDGE = 8, 5, 2
H3_IDLE = 3  # s: gtlsclient gives up on a connection silent for this long
H3_NO_ERROR = 0x100


def h3_built():
    out = subprocess.run([t.TERN_BIN, "-V"], capture_output=True, text=True).stdout
    return "http3: yes" in out and shutil.which("gtlsclient") is not None


def h3_sample(count, offset):
    """The values of N to try for a kind an HTTP/3 scenario calls `count` times."""
    most = H3_ASAN_MAX if t.ASAN else H3_MAX
    ns = list(range(1, count + 1))
    if count <= most:
        return ns
    inner, k = ns[H3_EDGE:-H3_EDGE], most - 2 * H3_EDGE
    step = len(inner) / k
    mid = [inner[min(len(inner) - 1, int(i * step + (offset + 1) * step / 4))] for i in range(k)]
    return sorted(set(ns[:H3_EDGE] + ns[-H3_EDGE:] + mid))


def h3_run(srv, paths, tmp):
    """One gtlsclient connection fetching paths; a Result per path."""
    out = tmp / f"dl{time.monotonic_ns()}"
    out.mkdir()
    urls = [f"https://127.0.0.1:{srv.tls_port}{p}" for p in paths]
    cmd = ["gtlsclient", "--no-quic-dump", "--no-http-dump", "--exit-on-all-streams-close",
           "--initial-rtt=50ms", f"--timeout={H3_IDLE}s", f"--handshake-timeout={H3_IDLE}s",
           "--download", str(out), "127.0.0.1", str(srv.tls_port), *urls]
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=(H3_IDLE + 7) * t.SLOW)
        rc, log = r.returncode, (r.stdout + r.stderr).decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        rc, log = "timeout", ((e.stdout or b"") + (e.stderr or b"")).decode(errors="replace")
    results = []
    for i, p in enumerate(paths):
        sid = 4 * i
        m = re.search(rf"http: stream 0x{sid:x} \[:status: (\d+)\]", log)
        status = int(m.group(1)) if m else None
        closed = re.search(rf"HTTP stream {sid} closed with error code (\d+)", log)
        ok_close = closed is not None and int(closed.group(1)) == H3_NO_ERROR
        f = out / p.rsplit("/", 1)[1]
        body = f.read_bytes() if f.exists() else b""
        note = f"rc={rc}" + (f" close={closed.group(1)}" if closed else " not closed")
        results.append(Result(status, body, rc == 0 and ok_close and status is not None, note))
    shutil.rmtree(out, ignore_errors=True)
    return results


def h3_healthy(srv, tmp):
    r = h3_run(srv, ["/hello.txt"], tmp)[0]
    if not (r.complete and r.status == 200 and r.body == SMALL):
        return f"fresh HTTP/3 request after the fault: {r}"
    return None


@pytest.mark.parametrize("scenario", list(H3_SCENARIOS))
def test_fault_h3(env, scenario, tmp_path):
    if not h3_built():
        pytest.skip("tern without QUIC, or gtlsclient (ngtcp2-client) missing")
    paths = H3_SCENARIOS[scenario]
    srv = FaultTern(env, f"h3-{scenario}")
    try:
        base = h3_run(srv, paths, tmp_path)
        # count until the connection is gone (the client's CONNECTION_CLOSE, our draining)
        counts = srv.settle()
    finally:
        problems = srv.quit()
    assert not problems, problems
    for got, p in zip(base, paths):
        assert got.complete and got.status == 200 and got.body == H3_FILES[p], \
            f"fault-free run: {base}"

    failures, runs, fired, unfired = [], 0, 0, []
    outcomes = {"ok": 0, "5xx": 0, "closed": 0, "wrong": 0}
    offset = list(H3_SCENARIOS).index(scenario)
    for kind, count in counts.items():
        if kind == "fired":
            continue
        for n in h3_sample(count, offset):
            spec = f"{kind}:{n}"
            srv = FaultTern(env, f"h3-{scenario}", spec)
            runs += 1
            bad = []
            try:
                for got, want in zip(h3_run(srv, paths, tmp_path), base):
                    why = judge(got, want)
                    if why:
                        bad.append(why)
                    outcomes[outcome(got, want)] += 1
                c = srv.settle(until=lambda c: c["fired"])
                if c["fired"]:
                    fired += 1
                else:
                    srv.disarm()
                    unfired.append(spec)
                why = h3_healthy(srv, tmp_path)
                if why:
                    bad.append(why + ("" if c["fired"] else " (fault disarmed unfired)"))
            except Exception as e:  # noqa: BLE001
                bad.append(f"{type(e).__name__}: {e}")
            finally:
                bad += srv.quit()
            if bad:
                failures.append(f"h3 {scenario} TERN_FAULT={spec}: " + "; ".join(bad))
                if len(failures) >= 10:
                    break
        if len(failures) >= 10:
            break
    print(f"h3 {scenario}: counts {counts}, {runs} runs, {fired} faults fired, answers {outcomes}"
          + (f", not reached: {' '.join(unfired)}" if unfired else ""))
    assert not failures, "\n".join(failures)


def test_fault_h3_gso_refused(env, tmp_path):
    """The kernel refuses UDP GSO at the first train (EIO, as a device without checksum
    offload answers): tern says so once, sends that train and every later one a datagram per
    message (sendmmsg), and the download completes; no GSO send is tried again."""
    if not h3_built():
        pytest.skip("tern without QUIC, or gtlsclient (ngtcp2-client) missing")
    srv = FaultTern(env, "h3-gso", "udp_gso:1")
    try:
        got = h3_run(srv, ["/large.bin"], tmp_path)[0]
        counts = srv.settle(until=lambda c: c["fired"])
        healthy = h3_healthy(srv, tmp_path)
        counts = srv.counts()
        log = t.Tern.read(srv.error_log)
    finally:
        problems = srv.quit()
    assert not problems, problems
    assert counts["fired"] == 1, counts
    assert got.complete and got.status == 200 and got.body == LARGE, got
    assert healthy is None, healthy
    assert log.count("UDP GSO refused") == 1, log[-2000:]
    assert counts["udp_gso"] == 1, counts
    assert counts["udp_write"] > 10, counts
