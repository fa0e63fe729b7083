"""`tern get` over HTTP/2: the h2 session engine in its client role, against tern (TLS with ALPN
and cleartext with prior knowledge), against nginx (downloads, and uploads kept by its WebDAV
PUT, so the request body's flow control is checked byte for byte), and against hand-made
hostile HTTP/2 servers (raw frames over a socket): each gets curl's exit code and a message,
never a crash or a hang."""

import hashlib
import os
import shutil
import socket
import struct
import subprocess
import threading

import pytest

import tern_e2e as t
from tls_util import certs  # noqa: F401 - fixture
from test_get import Hostile, curl
from test_get import get as get_any


def get(*args, **kw):
    """tern get without the Alt-Svc cache: these tests are about HTTP/2, and tern advertises
    HTTP/3, which a remembered Alt-Svc would take next time."""
    return get_any("--alt-svc", "", *args, **kw)


@pytest.fixture(scope="module")
def srv(tmp_path_factory, certs):  # noqa: F811
    from tls_util import module_server
    yield from module_server(tmp_path_factory, "geth2", certs.leaf, certs.leaf_key)


def test_bodies_and_heads_over_h2(srv):
    tls = f"https://127.0.0.1:{srv.tls_port}"
    clear = f"http://127.0.0.1:{srv.port}"
    for path in ("/hello.txt", "/big.bin", "/index.html", "/no-such-file"):
        rc, out, err = get("-k", "-s", tls + path)
        assert rc == 0 and out == curl("-k", tls + path), (path, err)
        rc, out, err = get("-s", "--http2-prior-knowledge", clear + path)
        assert rc == 0 and out == curl("--http2-prior-knowledge", clear + path), (path, err)
    fmt = "%{http_version} %{response_code} %{size_download}"
    rc, out, _ = get("-k", "-s", "-o", "/dev/null", "-w", fmt, tls + "/big.bin")
    assert out == b"2 200 %d" % len(srv.files["big.bin"])
    rc, out, _ = get("-k", "-s", "-I", tls + "/big.bin")
    assert rc == 0 and out.startswith(b"HTTP/2 200\r\n") and out.endswith(b"\r\n\r\n")
    assert b"content-length: %d\r\n" % len(srv.files["big.bin"]) in out
    rc, out, _ = get("-k", "-s", "-i", tls + "/hello.txt")
    assert out.startswith(b"HTTP/2 200\r\n") and out.endswith(b"\r\n\r\n" + t.HELLO)


def test_client_features_over_h2(srv, tmp_path):
    tls = f"https://127.0.0.1:{srv.tls_port}"
    big = srv.files["big.bin"]
    assert get("-k", "-s", "-r", "10-19", tls + "/big.bin")[1] == big[10:20]
    part = tmp_path / "part"
    part.write_bytes(big[:4321])
    assert get("-k", "-s", "-C", "-", "-o", part, tls + "/big.bin")[0] == 0
    assert part.read_bytes() == big
    rc, out, err = get("-k", "-s", "-L", "-w", "%{num_redirects}", tls + "/sub")
    assert rc == 0 and out == b"<p>sub index</p>\n1", err
    rc, out, err = get("-k", "-f", tls + "/nope")
    assert rc == 22 and out == b"" and "404" in err
    plain = srv.files["index.html"]
    for coding in ("gzip", "br", "zstd"):
        rc, out, err = get("-k", "-s", "--compressed", "-H", f"Accept-Encoding: {coding}",
                           tls + "/index.html")
        assert rc == 0 and out == plain, (coding, err)
    # a request body crosses the server's 64 KiB window: the static handler refuses the
    # method, and the whole body was still taken (the stream ends cleanly)
    body = tmp_path / "body"
    body.write_bytes(os.urandom(300_000))
    rc, out, err = get("-k", "-s", "-w", "%{http_code}", "-o", "/dev/null",
                       "--data-binary", f"@{body}", tls + "/hello.txt")
    assert rc == 0 and out == b"405", err


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_against_nginx_h2(tmp_path, certs):  # noqa: F811
    root = tmp_path / "root"
    root.mkdir()
    big = os.urandom(5 << 20)
    (root / "big.bin").write_bytes(big)
    port = t.free_port()
    conf = tmp_path / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(f"""{user} daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{}}
http {{ access_log off; client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path};
  fastcgi_temp_path {tmp_path}; uwsgi_temp_path {tmp_path}; scgi_temp_path {tmp_path};
  server {{ listen 127.0.0.1:{port} ssl http2; root {root}; gzip off;
    ssl_certificate {certs.leaf}; ssl_certificate_key {certs.leaf_key};
    client_max_body_size 64m; dav_methods PUT DELETE; create_full_put_path on; }} }}
""")
    p = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE)
    try:
        assert t.wait_port(port, "127.0.0.1", p)
        url = f"https://127.0.0.1:{port}"
        rc, out, err = get("-k", "-s", "-w", "\n%{http_version}", url + "/big.bin")
        assert rc == 0, err
        body, version = out.rsplit(b"\n", 1)
        assert version == b"2" and body == big
        # nothing answers on the UDP port: --http3-fallback takes TCP
        rc, out, err = get("-k", "-s", "-v", "--http3-fallback", "-w", "%{http_version}", "-o",
                           "/dev/null", url + "/big.bin")
        assert rc == 0 and out == b"2" and "TCP instead" in err, err
        # an upload of 7 MB, streamed from the file as nginx's windows open
        up = tmp_path / "up.bin"
        up.write_bytes(os.urandom(7 << 20))
        rc, out, err = get("-k", "-s", "-S", "-w", "%{http_code}", "-o", "/dev/null",
                           "-T", up, url + "/put/up.bin")
        assert rc == 0 and out == b"201", err
        assert (root / "put" / "up.bin").read_bytes() == up.read_bytes()
        # a body of unknown length from stdin: DATA until END_STREAM on HTTP/2, chunked on
        # HTTP/1.1 (RFC 9112 §7.1), kept whole by nginx either way
        for version, name in (("--http2", "stdin-h2"), ("--http1.1", "stdin-h1")):
            r = subprocess.run([t.TERN_BIN, "get", "--alt-svc", "", "-k", "-s", "-S", version,
                                "-w", "%{http_code}", "-o", "/dev/null", "-T", "-",
                                url + "/put/" + name], input=up.read_bytes(),
                               capture_output=True, timeout=60 * t.SLOW)
            assert r.returncode == 0 and r.stdout == b"201", r.stderr
            assert (root / "put" / name).read_bytes() == up.read_bytes()
        rc, out, err = get("-k", "-s", "-w", "%{http_code}", "-o", "/dev/null",
                           "-d", "x=1" * 1000, "-X", "PUT", url + "/put/form")
        assert rc == 0 and out == b"201", err
        assert (root / "put" / "form").read_bytes() == b"x=1" * 1000
    finally:
        p.terminate()
        p.wait()


# ---- hostile HTTP/2 servers: raw frames after the client's preface (prior knowledge) ----

def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


SETTINGS = frame(4, 0, 0)
END_STREAM, END_HEADERS = 1, 4


def lit(name, value):
    """An HPACK literal without indexing, new name (RFC 7541 §6.2.2), 7-bit lengths only."""
    assert len(name) < 127 and len(value) < 127
    return bytes([0, len(name)]) + name + bytes([len(value)]) + value


def big_lit(name, n):
    """A literal with an n-byte value (multi-byte length prefix)."""
    out = bytes([0, len(name)]) + name
    v = n - 127
    enc = [127]
    while v >= 128:
        enc.append(v % 128 + 128)
        v //= 128
    enc.append(v)
    return out + bytes(enc) + b"a" * n


STATUS_200 = b"\x88"


def continued(sid, block, size=16384):
    """A header block in HEADERS (END_STREAM) and CONTINUATION frames of at most size bytes."""
    parts = [block[i:i + size] for i in range(0, len(block), size)]
    out = b""
    for i, part in enumerate(parts):
        flags = (END_HEADERS if i == len(parts) - 1 else 0) | (END_STREAM if i == 0 else 0)
        out += frame(1 if i == 0 else 9, flags, sid, part)
    return out


class H2Hostile(threading.Thread):
    """Reads the client's preface and first frames, then sends `reply` (bytes, or a function
    of the socket)."""

    def __init__(self, reply):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.start()

    def run(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        with c:
            c.settimeout(10)
            try:
                seen = b""
                while b"PRI * HTTP/2.0" not in seen or len(seen) < 24 + 9:
                    seen += c.recv(65536)
                if callable(self.reply):
                    self.reply(c)
                else:
                    c.sendall(self.reply)
                    while c.recv(65536):
                        pass
            except OSError:
                pass

    def close(self):
        self.sock.close()


def hostile(reply, *extra, timeout=20):
    srv = H2Hostile(reply)
    try:
        return get("-s", "-S", "--http2-prior-knowledge", *extra,
                   f"http://127.0.0.1:{srv.port}/", timeout=timeout)
    finally:
        srv.close()


@pytest.mark.parametrize("reply,code,words", [
    # a response without :status is malformed: the stream is reset (curl's 92)
    (SETTINGS + frame(1, END_HEADERS | END_STREAM, 1, lit(b"x-a", b"b")), 92, "missing :status"),
    # request pseudo-headers in a response
    (SETTINGS + frame(1, END_HEADERS | END_STREAM, 1, STATUS_200 + lit(b":path", b"/")), 92,
     "pseudo-header"),
    # content-length and DATA disagree
    (SETTINGS + frame(1, END_HEADERS, 1, STATUS_200 + lit(b"content-length", b"10")) +
     frame(0, END_STREAM, 1, b"abc"), 92, "content-length"),
    # PUSH_PROMISE although the client turned push off: connection error (curl's 16)
    (SETTINGS + frame(5, END_HEADERS, 1, struct.pack(">I", 2) + b"\x82"), 16, "PUSH_PROMISE"),
    # the server's preface is not SETTINGS
    (frame(6, 0, 0, b"12345678"), 16, "SETTINGS"),
    # GOAWAY at once: the request was not processed
    (SETTINGS + frame(7, 0, 0, struct.pack(">II", 0, 0)), 92, "GOAWAY"),
    # a response head over the client's 64 KiB limit (an HPACK bomb's first step)
    (SETTINGS + continued(1, STATUS_200 + big_lit(b"x-big", 15000) * 5), 92, "over the limit"),
    # connection-specific fields are forbidden in HTTP/2
    (SETTINGS + frame(1, END_HEADERS | END_STREAM, 1, STATUS_200 + lit(b"connection", b"close")),
     92, "connection-specific"),
    # not HTTP/2 at all
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 16, "HTTP/2"),
])
def test_hostile_h2_servers(reply, code, words):
    rc, out, err = hostile(reply)
    assert rc == code, err
    assert words in err


def test_h2_server_that_stalls_or_never_ends():
    def silent(c):  # SETTINGS, then nothing
        c.sendall(SETTINGS)
        c.recv(65536)
        threading.Event().wait(5)

    rc, _, err = hostile(silent, "-m", "1")
    assert rc == 28, err

    def endless(c):  # DATA forever within the windows the client keeps opening
        c.sendall(SETTINGS + frame(1, END_HEADERS, 1, STATUS_200))
        chunk = frame(0, 0, 1, b"x" * 16384)
        try:
            while True:
                c.sendall(chunk * 8)
        except OSError:
            pass

    rc, _, err = hostile(endless, "-m", "1", "-o", "/dev/null")
    assert rc == 28, err


def test_interim_and_trailers():
    reply = (SETTINGS + frame(1, END_HEADERS, 1, b"\x08\x03103" + lit(b"link", b"</a>")) +
             frame(1, END_HEADERS, 1, STATUS_200 + lit(b"content-length", b"2")) +
             frame(0, 0, 1, b"ok") + frame(1, END_HEADERS | END_STREAM, 1, lit(b"x-t", b"1")))
    rc, out, err = hostile(reply, "-i", "-v")
    assert rc == 0, err
    assert "< HTTP/2 103\n< link: </a>\n" in err
    assert out.startswith(b"HTTP/2 200\r\n") and out.endswith(b"\r\n\r\nok"), out


CONN = "/.well-known/tern/connection"


@pytest.fixture(scope="module")
def zsrv(tmp_path_factory, certs):  # noqa: F811
    from tls_util import module_server

    def conninfo(cfg):
        cfg["servers"][0]["locations"].append({"path": CONN, "connection_info": True})
    yield from module_server(tmp_path_factory, "getz", certs.leaf, certs.leaf_key,
                             mutate=conninfo)


def test_parallel_on_one_connection(zsrv, tmp_path):
    """-Z: the URLs go at once as streams of one HTTP/2 connection (the server reports the
    same client port for each); without it each URL has a connection of its own."""
    import json
    base = f"https://127.0.0.1:{zsrv.tls_port}"
    outs = [tmp_path / f"o{i}" for i in range(4)]
    args = []
    for o in outs:
        args += ["-o", o]
    rc, _, err = get("-k", "-s", "-S", "-Z", *args, *[base + CONN] * 4)
    assert rc == 0, err
    infos = [json.loads(o.read_bytes()) for o in outs]
    assert {i["http_version"] for i in infos} == {"HTTP/2"}
    assert len({i["client"]["port"] for i in infos}) == 1, infos
    rc, _, err = get("-k", "-s", *args[:4], *[base + CONN] * 2)
    assert rc == 0, err
    ports = {json.loads(o.read_bytes())["client"]["port"] for o in outs[:2]}
    assert len(ports) == 2
    # bodies of every size arrive whole, each in its file; -w reports each transfer
    rc, out, err = get("-k", "-s", "-Z", "-o", outs[0], "-o", outs[1], "-o", outs[2],
                       "-w", "%{http_version} %{response_code}\n", base + "/big.bin",
                       base + "/hello.txt", base + "/no-such")
    assert rc == 0, err
    assert outs[0].read_bytes() == zsrv.files["big.bin"] and outs[1].read_bytes() == t.HELLO
    assert out.decode().split("\n")[:3] == ["2 200", "2 200", "2 404"]
    # over HTTP/1.1 -Z takes the URLs one after the other
    rc, _, err = get("-k", "-s", "--http1.1", "-Z", "-o", outs[0], "-o", outs[1],
                     base + "/big.bin", base + "/hello.txt")
    assert rc == 0 and outs[0].read_bytes() == zsrv.files["big.bin"], err
    assert outs[1].read_bytes() == t.HELLO
    # -f fails the run when one of them fails, the others still arrive
    rc, _, err = get("-k", "-s", "-S", "-f", "-Z", "-o", outs[0], "-o", outs[1],
                     base + "/no-such", base + "/hello.txt")
    assert rc == 22 and "404" in err and outs[1].read_bytes() == t.HELLO


def test_h2c_upgrade(srv):
    """--http2 on cleartext asks for h2c (RFC 7540 §3.2): tern answers 101 and the response
    comes over HTTP/2 on stream 1; a server that ignores the Upgrade answers over HTTP/1.1."""
    url = f"http://127.0.0.1:{srv.port}"
    rc, out, err = get("--http2", "-s", "-v", "-w", "\n%{http_version}", url + "/big.bin")
    assert rc == 0, err
    body, version = out.rsplit(b"\n", 1)
    assert version == b"2" and body == srv.files["big.bin"]
    assert "HTTP2-Settings: " in err and "< HTTP/1.1 101" in err and "< HTTP/2 200" in err
    rc, out, err = get("--http2", "-s", "-I", url + "/hello.txt")
    assert rc == 0 and b"HTTP/2 200\r\n" in out, err
    # a body keeps the request on HTTP/1.1 (an Upgrade is asked for only without one)
    rc, out, _ = get("--http2", "-s", "-w", "%{http_version} %{http_code}", "-o", "/dev/null",
                     "-d", "x=1", url + "/hello.txt")
    assert out == b"1.1 405"

    srv1 = Hostile(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    try:
        rc, out, err = get("--http2", "-s", "-w", " %{http_version}",
                           f"http://127.0.0.1:{srv1.port}/")
        assert rc == 0 and out == b"ok 1.1", err
    finally:
        srv1.close()



def test_limit_rate(srv):
    """--limit-rate holds the body to the rate on every wire (3 MiB at 2 MiB/s: about 1.5 s,
    at least 1.2 s allowing for the first read's head start)."""
    import time
    for args in (["--http1.1"], ["--http2"]):
        start = time.monotonic()
        rc, out, err = get("-k", "-s", "--limit-rate", "2M", *args,
                           f"https://127.0.0.1:{srv.tls_port}/big.bin")
        took = time.monotonic() - start
        assert rc == 0 and out == srv.files["big.bin"], err
        assert took >= 1.2, (args, took)
    assert get("--limit-rate", "fast", f"http://127.0.0.1:{srv.port}/")[0] == 2


@pytest.mark.skipif(shutil.which("h2o") is None, reason="h2o is not installed")
def test_against_h2o(tmp_path, certs):  # noqa: F811
    """h2o (Debian's 2.2) as a second HTTP/2 server: over TLS by ALPN, h2c with prior knowledge
    and by Upgrade (which h2o answers with 101), and tern bench --h2 against it."""
    root = tmp_path / "root"
    root.mkdir()
    big = os.urandom(3 << 20)
    (root / "big.bin").write_bytes(big)
    port, tport = t.free_port(), t.free_port()
    conf = tmp_path / "h2o.conf"
    conf.write_text(f"""listen:
  port: {tport}
  host: 127.0.0.1
  ssl:
    certificate-file: {certs.leaf}
    key-file: {certs.leaf_key}
listen:
  port: {port}
  host: 127.0.0.1
hosts:
  default:
    paths:
      /:
        file.dir: {root}
error-log: {tmp_path}/error.log
{"user: root" if os.geteuid() == 0 else ""}
""")  # as root h2o would serve as nobody, and the test's directories are 0700
    p = subprocess.Popen(["h2o", "-c", str(conf)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        assert t.wait_port(tport, "127.0.0.1", p) and t.wait_port(port, "127.0.0.1", p)
        for args, url, version in (
                (["-k"], f"https://127.0.0.1:{tport}/big.bin", b"2"),
                (["--http2-prior-knowledge"], f"http://127.0.0.1:{port}/big.bin", b"2"),
                (["--http2"], f"http://127.0.0.1:{port}/big.bin", b"2"),
                ([], f"http://127.0.0.1:{port}/big.bin", b"1.1")):
            rc, out, err = get("-s", *args, "-w", "\n%{http_version}", url)
            assert rc == 0, (args, err)
            body, v = out.rsplit(b"\n", 1)
            assert v == version and body == big, args
        r = subprocess.run([t.TERN_BIN, "bench", "--h2", "-k", "-n", "200", "-c", "2", "-m", "8",
                            "--json", f"https://127.0.0.1:{tport}/big.bin"],
                           capture_output=True, text=True, timeout=60 * t.SLOW)
        import json
        res = json.loads(r.stdout)
        assert res["succeeded"] == 200 and res["bytes"]["data"] == 200 * len(big), res
    finally:
        p.terminate()
        p.wait()
