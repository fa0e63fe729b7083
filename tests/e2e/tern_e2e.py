"""Helpers for tern's end-to-end tests: start the real binary, talk raw HTTP/1.x over sockets.

Only the Python standard library is used here. See conftest.py for the fixtures.
"""

import errno
import gzip
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TERN_BIN = os.environ.get("TERN_BIN") or str(REPO / "build" / "tern")
ASAN = os.environ.get("TERN_ASAN") == "1"
# Every wait in the suite is multiplied by this (sanitizer builds are several times slower).
SLOW = 3.0 if ASAN else 1.0

# Markers that fail a test when they show up in the error log or on stderr.
# "killed by signal": the HTTP/3 process crashed (the main process restarts it).
BAD_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer", "[alert]", "[crit]",
               "killed by signal")

# A fixed mtime for the fixture files: Tue, 02 Jan 2024 03:04:05 GMT.
FIXED_MTIME = 1704164645
FIXED_MTIME_IMF = "Tue, 02 Jan 2024 03:04:05 GMT"


# ---------------------------------------------------------------------------------------------
# YAML (a tiny block-style emitter; the configs are dicts, lists and scalars)

_PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:@+-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _RESERVED and not re.match(r"^[0-9.+-]+$", s):
        return s
    return json.dumps(s)


def yaml_dump(obj, indent=0):
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                out.append(yaml_dump(v, indent + 1))
            elif isinstance(v, list):
                out.append(f"{pad}{k}: []")
            elif isinstance(v, dict):
                out.append(f"{pad}{k}: {{}}")
            else:
                out.append(f"{pad}{k}: {_scalar(v)}")
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict) and v:
                inner = yaml_dump(v, indent + 1).split("\n")
                inner[0] = pad + "- " + inner[0].lstrip()
                out.extend(inner)
            elif isinstance(v, list):
                out.append(f"{pad}-")
                out.append(yaml_dump(v, indent + 1))
            else:
                out.append(f"{pad}- {_scalar(v)}")
    else:
        out.append(pad + _scalar(obj))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Fixture tree

HELLO = b"Hello, world!\n"


def _text(name, size):
    """Deterministic, compressible text of exactly `size` bytes."""
    line_no = 0
    parts = []
    total = 0
    while total < size:
        line = f"{name} line {line_no:06d}: the quick brown fox jumps over the lazy dog\n"
        parts.append(line)
        total += len(line)
        line_no += 1
    return "".join(parts).encode()[:size]


def _png_1x1():
    import struct
    import zlib

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"\x00\xff\x80\x00"
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


BIG_SIZE = 3 * 1024 * 1024


def big_bytes():
    return random.Random(1234).randbytes(BIG_SIZE)


def have_cli(name):
    return shutil.which(name) is not None


def make_tree(base: Path):
    """Creates base/root (the main docroot), base/a, base/b (virtual hosts), base/outside.
    Returns a dict of name -> bytes for the main root's files."""
    root = base / "root"
    files = {
        "hello.txt": HELLO,
        "index.html": b"<!doctype html>\n<title>tern test</title>\n" + _text("index", 2000),
        "style.css": _text("css", 4096),
        "data.json": json.dumps({"k": list(range(400))}).encode(),
        "script.js": _text("js", 3000),
        "image.png": _png_1x1(),
        "unknown.xyzzy": b"mystery\n",
        "big.bin": big_bytes(),
        "pre.txt": _text("pre", 5000),
        "sub/index.html": b"<p>sub index</p>\n",
        "sub/file.txt": b"sub file\n",
        "nolist/a.txt": b"a\n",
        "list/delta.txt": b"d\n",
        "list/alpha.txt": b"a\n",
        "list/<b>&.txt": b"escaped\n",
        "list/beta.txt": b"b\n",
        "list/gamma/x.txt": b"x\n",
        "cached/c.txt": b"cached\n",
        "trace/t.txt": b"trace\n",
        "raw/r.txt": _text("raw", 4000),
        "with space.txt": b"space\n",
        "caf\u00e9.txt": b"cafe\n",
    }
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    # precompressed siblings with content distinct from what an on-the-fly encoder makes
    (root / "pre.txt.gz").write_bytes(gzip.compress(files["pre.txt"], compresslevel=1, mtime=0))
    for cli, suffix in (("zstd", ".zst"), ("brotli", ".br")):
        if have_cli(cli):
            data = subprocess.run([cli, "-c", str(root / "pre.txt")], check=True,
                                  capture_output=True).stdout
            (root / ("pre.txt" + suffix)).write_bytes(data)
    # the outside world and symlinks
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"TOPSECRET\n")
    os.symlink("hello.txt", root / "inside-link.txt")
    os.symlink(str(outside / "secret.txt"), root / "outside-link.txt")
    os.symlink(str(outside), root / "outside-dir")
    for vhost in ("a", "b"):
        d = base / vhost
        d.mkdir()
        (d / "index.html").write_bytes(f"<p>vhost {vhost}</p>\n".encode())
        (d / "who.txt").write_bytes(f"{vhost}\n".encode())
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames + dirnames:
            os.utime(os.path.join(dirpath, n), (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
    files["inside-link.txt"] = HELLO
    return files


def base_config(base: Path, port: int, **overrides):
    """The main test configuration: main root as default server plus vhosts a.test, b.test."""
    root = str(base / "root")
    cfg = {
        "listen": [f"127.0.0.1:{port}"],
        "workers": 2,
        "access_log": str(base / "access.log"),
        "error_log": str(base / "error.log"),
        "log_level": "info",
        "timeouts": {"header": 5, "keepalive": 5, "body": 5, "send": 5, "graceful": 5},
        "servers": [
            {
                "names": ["localhost", "main.test"],
                "root": root,
                "default": True,
                "locations": [
                    {"path": "/"},
                    {"path": "/list/", "listing": True},
                    {"path": "/cached/", "cache_control": "max-age=3600"},
                    {"path": "/trace/", "trace": True,
                     "methods": ["GET", "HEAD", "OPTIONS", "TRACE"]},
                    {"path": "/raw/", "compress": False},
                ],
            },
            {"names": ["a.test"], "root": str(base / "a")},
            {"names": ["b.test", "*.b.test"], "root": str(base / "b")},
        ],
    }
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


# ---------------------------------------------------------------------------------------------
# The server process


_next_port = None


def _port_range():
    """Ports below the kernel's ephemeral range (so no client's source port takes one between
    the probe and tern's bind), split between pytest-xdist workers so parallel runs never pick
    the same number."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    low, high = 20000, 32000
    span = (high - low) // max(count, 1)
    return low + index * span, low + (index + 1) * span


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port free for TCP and for UDP alike: a TLS listener also binds HTTP/3's UDP socket on
    the same number, and QUIC clients (gtlsclient) hold ephemeral UDP ports from the same
    range."""
    global _next_port
    low, high = _port_range()
    if _next_port is None:
        _next_port = random.randrange(low, high)
    for _ in range(200):
        # in turn through the range: a port handed out is not handed out again soon (a test
        # often takes two before starting anything on the first)
        port = _next_port
        _next_port = low + (_next_port + 1 - low) % (high - low)
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((host, port))
                with socket.socket(family, socket.SOCK_DGRAM) as u:
                    u.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free for both TCP and UDP")


def wait_port(port, host="127.0.0.1", proc=None, timeout=10.0):
    deadline = time.monotonic() + timeout * SLOW
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect((host, port))
                return True
        except OSError:
            time.sleep(0.02)
    return False


class Tern:
    """One running `tern serve`. Registered so that the per-test health check sees it."""

    instances = []

    def __init__(self, base: Path, config=None, args=None, port=None, name="tern", host="127.0.0.1"):
        self.base = Path(base)
        self.port = port or free_port()
        self.host = host
        self.name = name
        self.config = config
        self.args = args
        self.conf_path = self.base / f"{name}.yaml"
        self.stdout_path = self.base / f"{name}.stdout"
        self.stderr_path = self.base / f"{name}.stderr"
        self.error_log = self.base / "error.log"
        self.access_log = self.base / "access.log"
        self.proc = None
        self.expect_exit = False  # a test that stops the server on purpose sets this
        self.reported = set()
        self.scanned = {}  # path -> characters of it already checked for BAD_MARKERS
        self.cwd = self.base

    def write_config(self, cfg=None):
        if cfg is not None:
            self.config = cfg
        text = self.config if isinstance(self.config, str) else yaml_dump(self.config) + "\n"
        tmp = self.conf_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.conf_path)

    def start(self):
        binary = getattr(self, "binary", None) or TERN_BIN  # a test may run a copy of it
        if self.args is not None:
            cmd = [binary] + list(self.args)
        else:
            self.write_config()
            cmd = [binary, "serve", "-c", str(self.conf_path)]
        cmd = getattr(self, "wrapper", []) + cmd  # e.g. systemd-socket-activate
        self.cmd = cmd
        self.out = open(self.stdout_path, "ab")
        self.err = open(self.stderr_path, "ab")
        env = {**os.environ, **getattr(self, "env", {})}
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL,
                                     cwd=str(self.cwd), env=env)
        Tern.instances.append(self)
        if not wait_port(self.port, self.host, self.proc):
            rc = self.proc.poll()
            self.kill()
            raise AssertionError(f"tern did not start listening on {self.host}:{self.port} "
                                 f"(rc={rc}); cmd={cmd}\nstderr:\n{self.read(self.stderr_path)[-3000:]}"
                                 f"\nerror log:\n{self.read(self.error_log)[-3000:]}")
        return self

    @property
    def pid(self):
        return self.proc.pid

    @staticmethod
    def read(path):
        try:
            return Path(path).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout * SLOW)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def problems(self):
        """Crashes and sanitizer/alert markers that appeared since the last call."""
        found = []
        rc = self.proc.poll() if self.proc else None
        if rc is not None and not self.expect_exit and "exit" not in self.reported:
            self.reported.add("exit")
            found.append(f"{self.name} exited unexpectedly with {rc}"
                         + (f" ({signal.Signals(-rc).name})" if rc < 0 else ""))
        for path in (self.error_log, self.stderr_path):
            text = self.read(path)
            seen = self.scanned.get(str(path), 0)
            if len(text) < seen:  # rotated or truncated
                seen = 0
            new = text[seen:]
            hits = [(new.index(m), m) for m in BAD_MARKERS if m in new]
            if hits:
                i, m = min(hits)
                start = new.rfind("\n", 0, max(0, i - 300)) + 1
                found.append(f"{m!r} in {path.name}:\n{new[start:i + 3000]}")
                self.scanned[str(path)] = len(text)  # one report per batch says enough
        return found

    def restart_if_dead(self):
        """Starts the process again after a crash so that later tests still get a server."""
        if self.proc is not None and self.proc.poll() is not None and not self.expect_exit:
            self.reported.discard("exit")
            for f in (self.out, self.err):
                f.close()
            Tern.instances.remove(self)
            self.start()

    def stop(self):
        """TERM and wait. Returns a list of problems (crash, signal exit, markers)."""
        found = self.problems()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=10 * SLOW)
            except subprocess.TimeoutExpired:
                self.kill()
                found.append(f"{self.name} did not exit within {10 * SLOW:.0f}s of SIGTERM")
                rc = None
            if rc is not None and rc < 0:
                found.append(f"{self.name} died with {signal.Signals(-rc).name} on SIGTERM")
        time.sleep(0.05)
        found += [p for p in self.problems() if "exited unexpectedly" not in p]
        for f in (getattr(self, "out", None), getattr(self, "err", None)):
            if f:
                f.close()
        if self in Tern.instances:
            Tern.instances.remove(self)
        return found

    def rss_kb(self):
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    # convenience
    def conn(self, timeout=5.0):
        return Conn(self.port, self.host, timeout)

    def get(self, path="/hello.txt", headers=None, method="GET", version="HTTP/1.1", host="localhost",
            body=b""):
        c = self.conn()
        try:
            c.send(request(method, path, headers, version=version, host=host, body=body, close=True))
            return c.response(head=(method == "HEAD"))
        finally:
            c.close()

    def assert_healthy(self):
        """A normal GET on a fresh connection must still be answered 200 with the right body."""
        r = self.get("/hello.txt")
        assert r.status == 200 and r.body == HELLO, f"server unhealthy after the test: {r}"


# ---------------------------------------------------------------------------------------------
# Raw HTTP/1.x client


def request(method="GET", path="/", headers=None, version="HTTP/1.1", host="localhost", body=b"",
            close=False):
    lines = [f"{method} {path} {version}"]
    hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hdrs}
    if host is not None and "host" not in names:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in hdrs]
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    if close and "connection" not in names:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Closed(Exception):
    pass


class Response:
    def __init__(self, version, status, reason, headers, body, trailers=None, raw_head=b""):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value), in order
        self.body = body
        self.trailers = trailers or []
        self.raw_head = raw_head
        self.chunked = False

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def header(self, name, default=None):
        vals = self.get_all(name)
        return vals[0] if vals else default

    def __getitem__(self, name):
        v = self.header(name)
        if v is None:
            raise KeyError(name)
        return v

    def __contains__(self, name):
        return self.header(name) is not None

    def tokens(self, name):
        return {t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()}

    def __repr__(self):
        return (f"<Response {self.status} {self.reason!r} headers={self.headers} "
                f"body[{len(self.body)}]={self.body[:200]!r}>")


class Conn:
    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.timeout = timeout * SLOW
        self.sock.settimeout(self.timeout)
        self.sock.connect((host, port))
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data):
        """Sends, returning False if the peer already closed (EPIPE/ECONNRESET)."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, deadline=None):
        if self.eof:
            raise Closed("connection closed by the server")
        if deadline is not None:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(262144)
        except ConnectionResetError:
            data = b""
        finally:
            if deadline is not None:
                self.sock.settimeout(self.timeout)
        if not data:
            self.eof = True
            raise Closed("connection closed by the server")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_until_close(self):
        try:
            while True:
                self._fill()
        except Closed:
            pass
        data, self.buf = self.buf, b""
        return data

    def response(self, head=False, skip_1xx=False):
        """Parses one response. head=True: the request was HEAD (no body)."""
        while True:
            while b"\r\n\r\n" not in self.buf:
                self._fill()
            raw_head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            lines = raw_head.split(b"\r\n")
            m = re.match(rb"^(HTTP/\d\.\d) (\d{3}) ?(.*)$", lines[0])
            assert m, f"bad status line {lines[0]!r}"
            version, status, reason = m.group(1).decode(), int(m.group(2)), m.group(3).decode("latin-1")
            headers = []
            for ln in lines[1:]:
                assert b":" in ln, f"bad header line {ln!r}"
                k, v = ln.split(b":", 1)
                assert k == k.strip() and k, f"bad header name {k!r}"
                headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
            resp = Response(version, status, reason, headers, b"", raw_head=raw_head)
            if 100 <= status < 200:
                if skip_1xx:
                    continue
                return resp
            break
        te = resp.header("Transfer-Encoding")
        cl = resp.get_all("Content-Length")
        if head or status in (204, 304):
            return resp
        if te is not None:
            assert te.lower() == "chunked", f"unexpected Transfer-Encoding {te}"
            resp.chunked = True
            body = []
            while True:
                size_line = self._line()
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                body.append(self._exact(size))
                assert self._exact(2) == b"\r\n", "chunk not followed by CRLF"
            while True:
                ln = self._line()
                if not ln:
                    break
                k, v = ln.split(b":", 1)
                resp.trailers.append((k.decode(), v.strip().decode()))
            resp.body = b"".join(body)
        elif cl:
            assert len(cl) == 1, f"several Content-Length fields: {cl}"
            resp.body = self._exact(int(cl[0]))
        else:
            resp.body = self.read_until_close()
        return resp

    def responses(self, n, heads=None):
        return [self.response(head=bool(heads and heads[i])) for i in range(n)]

    def closed(self, timeout=2.0):
        """True when the server closes the connection within timeout (any unread bytes are kept
        in self.buf). False when it stays open (timeout)."""
        deadline = time.monotonic() + timeout * SLOW
        try:
            while time.monotonic() < deadline:
                self._fill(deadline)
        except Closed:
            return True
        except socket.timeout:
            return False
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE):
                return True
            raise
        return False

    def assert_closed(self, timeout=2.0):
        assert self.closed(timeout), "the server kept the connection open"
        assert self.buf == b"", f"unexpected bytes after the response: {self.buf[:300]!r}"


def one(port, raw, head=False, host="127.0.0.1"):
    """Sends raw bytes on a fresh connection and returns (first response, conn)."""
    c = Conn(port, host)
    c.send(raw)
    return c.response(head=head), c


def wait_for(pred, timeout=3.0, step=0.05):
    """Polls pred() until it is true or timeout (scaled by SLOW) passes; returns the last value."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def http_date(ts):
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(ts))


def curl(*args, timeout=20):
    cmd = ["curl", "-sS", "--max-time", str(int(timeout * SLOW))] + list(args)
    return subprocess.run(cmd, capture_output=True, timeout=timeout * SLOW + 5)
