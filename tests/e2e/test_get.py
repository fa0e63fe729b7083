"""`tern get`, the client on tern's own engines, with curl's options, output and exit codes:
against tern and nginx (bytes compared with curl's), and against hand-made hostile servers
(python sockets) for every way a response can be malformed or a server can stall."""

import os
import re
import shutil
import socket
import subprocess
import threading

import pytest

import tern_e2e as t
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures


# the Alt-Svc cache of these runs, not the user's
_CACHE = __import__("tempfile").mkdtemp(prefix="tern-get-cache-")


def get(*args, timeout=30):
    env = dict(os.environ, XDG_CACHE_HOME=_CACHE)
    r = subprocess.run([t.TERN_BIN, "get", *map(str, args)], capture_output=True,
                       timeout=timeout * t.SLOW, env=env)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def curl(*args):
    return subprocess.run(["curl", "-s", *map(str, args)], capture_output=True,
                          timeout=30 * t.SLOW).stdout


@pytest.fixture(scope="module")
def srv(tmp_path_factory, certs):  # noqa: F811
    from tls_util import module_server
    yield from module_server(tmp_path_factory, "getsrv", certs.leaf, certs.leaf_key)


def test_bodies_match_curl(srv):
    for path in ("/hello.txt", "/big.bin", "/index.html", "/no-such-file"):
        for base in (f"http://127.0.0.1:{srv.port}", f"https://127.0.0.1:{srv.tls_port}"):
            rc, out, err = get("-k", "-s", base + path)
            assert rc == 0, err
            assert out == curl("-k", base + path), (base, path)
    assert get("-k", "-s", f"https://127.0.0.1:{srv.tls_port}/big.bin")[1] == srv.files["big.bin"]


def test_write_out_and_versions(srv):
    url = f"http://127.0.0.1:{srv.port}/hello.txt"
    fmt = "%{http_version} %{response_code} %{size_download}"
    assert get("-s", "-o", "/dev/null", "-w", fmt, url)[1] == b"1.1 200 " + \
        str(len(t.HELLO)).encode()
    # the response's version, as curl reports it (tern answers an HTTP/1.0 request with 1.1)
    assert get("-s", "-o", "/dev/null", "--http1.0", "-w", "%{http_version}", url)[1] == \
        curl("--http1.0", "-o", "/dev/null", "-w", "%{http_version}", url)
    assert get("-s", "-o", "/dev/null", "-w", "%{http_code}", url + "x")[1] == b"404"
    rc, out, _ = get("-s", "-o", "/dev/null", "-w",
                     "%{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total}",
                     f"https://127.0.0.1:{srv.tls_port}/hello.txt", "-k")
    tc, ta, ts, tt = map(float, out.split())
    assert rc == 0 and 0 < tc <= ta <= ts <= tt


def test_output_files_head_and_verbose(srv, tmp_path):
    os.chdir(tmp_path)
    url = f"http://127.0.0.1:{srv.port}/big.bin"
    assert get("-s", "-O", url)[0] == 0
    assert (tmp_path / "big.bin").read_bytes() == srv.files["big.bin"]
    assert get("-s", "-o", tmp_path / "x", url)[0] == 0
    assert (tmp_path / "x").read_bytes() == srv.files["big.bin"]
    rc, out, _ = get("-s", "-I", url)
    assert rc == 0 and out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"\r\n\r\n")
    assert b"Content-Length: %d\r\n" % len(srv.files["big.bin"]) in out
    rc, out, _ = get("-s", "-i", f"http://127.0.0.1:{srv.port}/hello.txt")
    assert out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"\r\n\r\n" + t.HELLO)
    rc, out, err = get("-v", "-k", "--http1.1", f"https://127.0.0.1:{srv.tls_port}/hello.txt")
    assert "> GET /hello.txt HTTP/1.1" in err and "< HTTP/1.1 200 OK" in err
    assert "ALPN http/1.1" in err and "TLSv1.3" in err
    # https takes HTTP/2 when the server offers it, as curl does
    rc, out, err = get("-v", "-k", "--alt-svc", "", f"https://127.0.0.1:{srv.tls_port}/hello.txt")
    assert "> GET /hello.txt HTTP/2" in err and "< HTTP/2 200" in err
    assert "ALPN h2" in err and out == t.HELLO


def test_compressed(srv):
    url = f"http://127.0.0.1:{srv.port}/index.html"
    plain = srv.files["index.html"]
    for coding in ("gzip", "br", "zstd"):
        rc, out, err = get("-s", "--compressed", "-H", f"Accept-Encoding: {coding}", "-w",
                           "\n%{size_download}", url)
        body, size = out.rsplit(b"\n", 1)
        assert rc == 0 and body == plain, (coding, err)
        assert 0 < int(size) < len(plain)  # what came over the wire: the coded bytes
    assert get("-s", "--compressed", url)[1] == plain == curl("--compressed", url)


def test_progress_on_a_terminal(srv, tmp_path):
    """Downloading to a file with stderr on a terminal draws a progress line (size, percent,
    rate, ETA); -s or a pipe keeps it quiet."""
    import pty
    out = tmp_path / "p.bin"
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(t.TERN_BIN, [t.TERN_BIN, "get", "-o", str(out),
                              f"http://127.0.0.1:{srv.port}/big.bin"])
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert out.read_bytes() == srv.files["big.bin"]
    assert re.search(rb"3\.0 MiB / 3\.0 MiB +100%.*/s +ETA", seen), seen
    assert get("-o", tmp_path / "q.bin", f"http://127.0.0.1:{srv.port}/big.bin")[2] == ""


def test_ranges_and_resume(srv, tmp_path):
    url = f"http://127.0.0.1:{srv.port}/big.bin"
    big = srv.files["big.bin"]
    assert get("-s", "-r", "10-19", url)[1] == big[10:20]
    part = tmp_path / "part"
    part.write_bytes(big[:12345])
    rc, _, err = get("-s", "-S", "-C", "-", "-o", part, url)
    assert rc == 0, err
    assert part.read_bytes() == big


def test_fail_redirects_and_methods(srv):
    base = f"http://127.0.0.1:{srv.port}"
    rc, out, err = get("-f", base + "/nope")
    assert rc == 22 and out == b"" and "404" in err
    # a directory without its slash redirects; -L follows it, -w counts it
    rc, out, err = get("-s", "-L", "-w", "%{num_redirects}", base + "/sub")
    assert rc == 0, err
    assert out == b"<p>sub index</p>\n1"
    rc, out, _ = get("-s", "-w", "%{response_code}", "-o", "/dev/null", base + "/sub")
    assert out == b"301"
    assert get("-s", "-L", "--max-redirs", "0", base + "/sub")[0] == 47
    # methods the static handler refuses: the status comes back, no body is invented
    assert get("-s", "-o", "/dev/null", "-w", "%{http_code}", "-d", "a=1", base + "/hello.txt")[1] \
        == b"405"
    assert get("-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE",
               base + "/hello.txt")[1] == b"405"


def test_certificates(srv, certs):  # noqa: F811
    url = f"https://127.0.0.1:{srv.tls_port}/hello.txt"
    rc, _, err = get(url)
    assert rc == 60 and "certificate" in err
    rc, out, err = get("--cacert", certs.ca, url)
    assert rc == 0 and out == t.HELLO, err
    rc, out, err = get("--cacert", certs.ca, f"https://localhost:{srv.tls_port}/hello.txt")
    assert rc == 0 and out == t.HELLO, err
    assert get("-k", url)[1] == t.HELLO


def test_connection_errors():
    port = t.free_port()
    assert get(f"http://127.0.0.1:{port}/")[0] == 7
    assert get("http://no-such-host.invalid/")[0] == 6
    assert get("ftp://127.0.0.1/")[0] == 3
    assert get("http://[::1/")[0] == 3


# ---- hostile servers -------------------------------------------------------------------------

class Hostile:
    """Accepts connections and answers each with reply(conn) (bytes, or a callable)."""

    def __init__(self, reply):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(4096)
                if not chunk:
                    return
                data += chunk
            reply = self.answer(data.decode(errors="replace"))
            if callable(reply):
                reply(c)
            else:
                c.sendall(reply)
                c.shutdown(socket.SHUT_WR)
                c.recv(1)
        except OSError:
            pass
        finally:
            c.close()

    def answer(self, head):
        """The reply to a request head: bytes, or a callable that talks to the socket."""
        return self.reply

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.stop = True
        self.sock.close()


@pytest.mark.parametrize("reply,code", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0"
     b"\r\n\r\n", 8),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 8),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 8),
    (b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 8),
    (b"HTTP/1.1 2OO OK\r\n\r\n", 8),
    (b"SSH-2.0-OpenSSH_9.2\r\n", 1),  # no status line: HTTP/0.9, refused as curl does
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 8),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", 18),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 18),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 56),
    (b"", 56),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!", 61),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: xz\r\nContent-Length: 2\r\n\r\nxz", 61),
], ids=["cl-and-te", "two-lengths", "equal-lengths", "te-in-1.0", "bad-status", "not-http",
        "huge-head", "short-body", "short-chunked", "bad-chunk", "empty-reply",
        "corrupt-gzip", "unknown-coding"])
def test_hostile_server(reply, code):
    h = Hostile(reply)
    try:
        rc, out, err = get("-s", "-S", "--compressed", h.url())
        assert rc == code, err
        assert "tern: (" in err
    finally:
        h.close()


def test_server_that_never_answers_or_never_ends():
    def silent(c):
        c.recv(1)  # hold the connection open, say nothing

    def endless(c):
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            while True:
                c.sendall(b"4\r\nxxxx\r\n")
        except OSError:
            pass

    for reply in (silent, endless):
        h = Hostile(reply)
        try:
            rc, _, err = get("-s", "-S", "-m", "1", "-o", "/dev/null", h.url())
            assert rc == 28, err
            assert "timed out" in err
        finally:
            h.close()


def auth_server(alg):
    """A server that wants Basic "u:p w" or, with alg, Digest (RFC 7616, checked here in
    Python, independently of tern's code): 401 with a challenge, 200 with the right answer."""
    import base64
    import hashlib

    def h(x):
        name = {"MD5": "md5", "SHA-256": "sha256"}[alg]
        return hashlib.new(name, x.encode()).hexdigest()

    class Auth(Hostile):
        def answer(self, head):
            method, target = head.split("\r\n")[0].split(" ")[:2]
            auth = next((ln.split(":", 1)[1].strip() for ln in head.split("\r\n")
                         if ln.lower().startswith("authorization:")), "")
            ok = False
            if not alg:
                ok = auth == "Basic " + base64.b64encode(b"u:p w").decode()
            elif auth.startswith("Digest "):
                kv = {k: a or b for k, a, b in
                      re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', auth[7:])}
                ha1 = h("u:realm@test:p w")
                ha2 = h(f"{method}:{target}")
                want = h(f"{ha1}:abc123:{kv.get('nc')}:{kv.get('cnonce')}:auth:{ha2}")
                ok = (kv.get("response") == want and kv.get("uri") == target and
                      kv.get("username") == "u" and kv.get("opaque") == "op")
            if ok:
                return b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nwelcome"
            chal = (f'Digest realm="realm@test", qop="auth", algorithm={alg}, '
                    f'nonce="abc123", opaque="op"' if alg else 'Basic realm="x"')
            return (b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: " + chal.encode() +
                    b"\r\nContent-Length: 4\r\n\r\nnope")
    return Auth(None)


@pytest.mark.parametrize("alg", [None, "MD5", "SHA-256"])
def test_authentication(alg):
    srv = auth_server(alg)
    try:
        flags = ["--digest"] if alg else []
        rc, out, err = get("-s", "-S", "-u", "u:p w", *flags, srv.url("/dir/index.html?x=1"))
        assert rc == 0 and out == b"welcome", err
        rc, out, _ = get("-s", "-f", "-u", "u:wrong", *flags, srv.url("/"))
        assert rc == 22 and out == b""
    finally:
        srv.close()


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_against_nginx(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    big = os.urandom(3 << 20)
    (root / "big.bin").write_bytes(big)
    port = t.free_port()
    conf = tmp_path / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""  # the root is under a 0700 directory
    conf.write_text(f"""{user} daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{}}
http {{ access_log off; client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path};
  fastcgi_temp_path {tmp_path}; uwsgi_temp_path {tmp_path}; scgi_temp_path {tmp_path};
  server {{ listen 127.0.0.1:{port}; root {root}; gzip off; }} }}
""")
    p = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path)],
                         stderr=subprocess.PIPE)
    try:
        assert t.wait_port(port, "127.0.0.1", p)
        url = f"http://127.0.0.1:{port}"
        rc, out, err = get("-s", url + "/big.bin")
        assert rc == 0 and out == big == curl(url + "/big.bin"), err
        assert get("-s", "-w", "%{http_code}", "-o", "/dev/null", url + "/none")[1] == b"404"
        rc, out, _ = get("-s", "-r", "0-9", url + "/big.bin")
        assert out == big[:10]
    finally:
        p.terminate()
        p.wait()


def test_alt_svc_cache(srv, tmp_path):
    """Alt-Svc from an https origin (tern advertises HTTP/3 on its UDP port) is remembered in
    the cache file for the next run (RFC 7838), written 0600; cleartext origins are not."""
    cache = tmp_path / "alt-svc"
    url = f"https://127.0.0.1:{srv.tls_port}/hello.txt"
    rc, _, err = get("-k", "-s", "--alt-svc", cache, url)
    assert rc == 0, err
    lines = [ln.split() for ln in cache.read_text().splitlines() if not ln.startswith("#")]
    assert len(lines) == 1 and lines[0][:4] == [f"127.0.0.1:{srv.tls_port}", "h3", "127.0.0.1",
                                                str(srv.tls_port)], lines
    assert int(lines[0][4]) > __import__("time").time() + 3600
    assert cache.stat().st_mode & 0o777 == 0o600
    cache.unlink()
    assert get("-s", "--alt-svc", cache, f"http://127.0.0.1:{srv.port}/hello.txt")[0] == 0
    assert not cache.exists()
    # the default file lives under $XDG_CACHE_HOME/tern
    assert get("-k", "-s", url)[0] == 0
    assert f"127.0.0.1:{srv.tls_port} h3" in open(os.path.join(_CACHE, "tern", "alt-svc")).read()


def test_http09_response():
    """A response without a status line is HTTP/0.9: refused by default (curl's exit 1),
    taken with --http0.9 as a body that ends with the connection."""
    h = Hostile(b"<html>an old server</html>\n")
    try:
        rc, out, err = get("-s", "-S", h.url())
        assert rc == 1 and "HTTP/0.9" in err and out == b""
        rc, out, err = get("-s", "--http0.9", "-w", "|%{http_version}", h.url())
        assert rc == 0 and out == b"<html>an old server</html>\n|0.9", err
    finally:
        h.close()
