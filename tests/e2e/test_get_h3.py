"""`tern get --http3`: the client role of tern's own HTTP/3 engine (src/h3) over its QUIC client
(src/quic) against `tern serve` (HTTP/3 on the TLS listener's UDP port) and, when installed,
other HTTP/3 servers: bodies byte for byte, HEAD, errors and exit codes as curl's, uploads,
certificate checks; and tests/quic/h3_hostile_server for each way a server can break HTTP/3.

Second peers: Debian 12's gtlsserver (ngtcp2-server, nghttp3) is used. Its nginx is built
without --with-http_v3_module and its h2o (2.2.5) predates HTTP/3, so neither serves HTTP/3
here."""

import hashlib
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

import tern_e2e as t
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures


def get(*args, timeout=30):
    r = subprocess.run([t.TERN_BIN, "get", "--http3", *map(str, args)], capture_output=True,
                       timeout=timeout * t.SLOW)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def get_auto(*args, timeout=30):
    """tern get without --http3: it picks the version itself."""
    r = subprocess.run([t.TERN_BIN, "get", *map(str, args)], capture_output=True,
                       timeout=timeout * t.SLOW)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def http3_built():
    out = subprocess.run([t.TERN_BIN, "-V"], capture_output=True, text=True).stdout
    return "http3: yes" in out


@pytest.fixture(scope="module")
def srv(tmp_path_factory, certs):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    from tls_util import module_server
    yield from module_server(tmp_path_factory, "geth3", certs.leaf, certs.leaf_key)


def url(srv, path, host="127.0.0.1"):
    return f"https://{host}:{srv.tls_port}{path}"


def test_small_file(srv):
    rc, out, err = get("-k", "-s", url(srv, "/hello.txt"))
    assert rc == 0, err
    assert out == t.HELLO
    assert '"GET /hello.txt HTTP/3.0" 200' in srv.read(srv.access_log)


def test_large_file_byte_for_byte(srv, tmp_path):
    dest = tmp_path / "big.bin"
    rc, out, err = get("-k", "-s", "-o", dest, url(srv, "/big.bin"), timeout=60)
    assert rc == 0, err
    data = dest.read_bytes()
    assert len(data) == len(srv.files["big.bin"])
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(srv.files["big.bin"]).hexdigest()


def test_head_include_and_write_out(srv):
    rc, out, err = get("-k", "-s", "-I", url(srv, "/hello.txt"))
    assert rc == 0, err
    head = out.decode()
    assert head.startswith("HTTP/3 200\r\n"), head
    assert f"content-length: {len(t.HELLO)}\r\n" in head
    assert head.endswith("\r\n\r\n")
    rc, out, err = get("-k", "-s", "-i", url(srv, "/hello.txt"))
    assert rc == 0, err
    assert out.startswith(b"HTTP/3 200\r\n") and out.endswith(b"\r\n\r\n" + t.HELLO)
    rc, out, err = get("-k", "-s", "-o", "/dev/null", "-w",
                       "%{http_version} %{response_code} %{size_download}",
                       url(srv, "/hello.txt"))
    assert rc == 0, err
    assert out == f"3 200 {len(t.HELLO)}".encode()


def test_verbose(srv):
    rc, out, err = get("-k", "-v", url(srv, "/hello.txt"))
    assert rc == 0, err
    assert "* Using HTTP/3" in err
    assert "TLSv1.3" in err or "TLS1.3" in err, err
    assert "ALPN h3" in err
    assert "> GET /hello.txt HTTP/3" in err
    assert "< HTTP/3 200" in err


def test_not_found_and_fail(srv):
    rc, out, err = get("-k", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                       url(srv, "/no-such-file"))
    assert rc == 0 and out == b"404", err
    rc, out, err = get("-k", "-f", url(srv, "/no-such-file"))
    assert rc == 22, err
    assert "404" in err


def test_post_bodies(srv, tmp_path):
    """The static handler does not take POST: a 405 after the whole body went out on the
    request stream (the access log says how many bytes the server read)."""
    rc, out, err = get("-k", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-d", "a=1&b=2",
                       url(srv, "/hello.txt"))
    assert rc == 0, err
    assert out == b"405"
    up = tmp_path / "up.bin"
    up.write_bytes(bytes(range(256)) * 4000)  # 1 MB: flow control and back-pressure
    rc, out, err = get("-k", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary",
                       f"@{up}", url(srv, "/hello.txt"), timeout=60)
    assert rc == 0, err
    assert out == b"405"
    assert '"POST /hello.txt HTTP/3.0" 405' in srv.read(srv.access_log)


def test_certificate_checks(srv, certs):  # noqa: F811
    rc, out, err = get("-s", "-S", url(srv, "/hello.txt"))
    assert rc == 60, err
    assert "certificate" in err
    rc, out, err = get("-s", "--cacert", certs.ca, url(srv, "/hello.txt"))
    assert rc == 0, err
    assert out == t.HELLO
    rc, out, err = get("-s", "--cacert", certs.ca, url(srv, "/hello.txt", host="localhost"))
    assert rc == 0, err
    # the name is checked: the certificate is not for a.test
    rc, out, err = get("-s", "-S", "--cacert", certs.ca, "--connect-timeout", "5",
                       f"https://a.test:{srv.tls_port}/hello.txt")
    assert rc in (6, 60), err


def test_http_url_refused(srv):
    rc, out, err = get("-s", "-S", f"http://127.0.0.1:{srv.port}/hello.txt")
    assert rc == 1, err
    assert "https" in err


def test_nothing_listening():
    """Nothing on the UDP port: ICMP port unreachable (7), or no answer in time (28)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, out, err = get("-k", "-s", "-S", "--connect-timeout", "3",
                       f"https://127.0.0.1:{port}/", timeout=20)
    assert rc in (7, 28), err


def test_silent_server_times_out():
    """A UDP socket that reads and never answers: the handshake times out (28)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    try:
        rc, out, err = get("-k", "-s", "-S", "-m", "2", f"https://127.0.0.1:{port}/",
                           timeout=20)
        assert rc == 28, err
    finally:
        s.close()


def test_gtlsserver_peer(tmp_path, certs):  # noqa: F811
    """Debian's gtlsserver (ngtcp2-server, HTTP/3 through nghttp3) as a second peer."""
    if shutil.which("gtlsserver") is None:
        pytest.skip("gtlsserver (ngtcp2-server) is not installed")
    (tmp_path / "www").mkdir()
    body = bytes(range(256)) * 8192  # 2 MB
    (tmp_path / "www" / "f.bin").write_bytes(body)
    port = t.free_port()
    proc = subprocess.Popen(["gtlsserver", "-q", "-d", str(tmp_path / "www"), "127.0.0.1",
                             str(port), str(certs.leaf_key), str(certs.leaf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        out = tmp_path / "out.bin"
        for _ in range(50):
            rc, _, err = get("-k", "-s", "-S", "-o", out, "--connect-timeout", "2",
                             f"https://127.0.0.1:{port}/f.bin", timeout=60)
            if rc != 28 and rc != 7:
                break
        assert rc == 0, err
        assert out.read_bytes() == body
        rc, got, err = get("-k", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                           f"https://127.0.0.1:{port}/missing")
        assert rc == 0 and got == b"404", err
    finally:
        proc.kill()
        proc.wait()


HOSTILE_BIN = Path(t.TERN_BIN).resolve().parent / "h3_hostile_server"

# mode -> the exit code (curl's: 95 a problem in the HTTP/3 layer)
HOSTILE = {
    "cl-short": 95,
    "cl-long": 95,
    "upper": 95,
    "pseudo": 95,
    "bomb": 95,
    "push": 95,
    "goaway": 95,
    "reset": 95,
    "close": 95,
    "cut": 95,
}


@pytest.fixture
def hostile(certs):  # noqa: F811
    """hostile(mode) -> the port of a started tests/quic/h3_hostile_server."""
    if not HOSTILE_BIN.exists():
        pytest.skip("h3_hostile_server was not built (no QUIC)")
    procs = []

    def start(mode, cert=certs.leaf, key=certs.leaf_key):
        port = t.free_port()
        p = subprocess.Popen([str(HOSTILE_BIN), "127.0.0.1", str(port), str(cert), str(key),
                              mode], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        procs.append(p)
        assert p.stdout.readline() == b"ready\n"
        return port

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


def test_hostile_server_sane_mode(hostile):
    port = hostile("ok")
    rc, out, err = get("-k", "-s", "-S", f"https://127.0.0.1:{port}/")
    assert rc == 0, err
    assert out == b"hello"


@pytest.mark.parametrize("mode", sorted(HOSTILE))
def test_hostile_server(hostile, mode):
    """Each way a server can break HTTP/3 ends in a clear error and curl's exit code, well
    within the deadline: never a crash, a hang or a success."""
    port = hostile(mode)
    rc, out, err = get("-k", "-s", "-S", "-m", "10", f"https://127.0.0.1:{port}/", timeout=30)
    assert rc == HOSTILE[mode], (rc, err)
    assert err.startswith("tern: ("), err
    assert "Sanitizer" not in err and "runtime error" not in err


def test_hostile_server_stalls(hostile):
    port = hostile("stall")
    rc, out, err = get("-k", "-s", "-S", "-m", "2", f"https://127.0.0.1:{port}/", timeout=30)
    assert rc == 28, err


def test_goaway_request_sent_again(hostile):
    """RFC 9114 §5.2: a request beyond the server's GOAWAY was not processed; it goes again on
    a new connection (at most 3 times in all)."""
    port = hostile("goaway-once")
    rc, out, err = get("-k", "-v", f"https://127.0.0.1:{port}/", timeout=30)
    assert rc == 0, err
    assert out == b"hello"
    assert "sending it again" in err
    port = hostile("goaway")
    rc, out, err = get("-k", "-v", f"https://127.0.0.1:{port}/", timeout=30)
    assert rc == 95, err
    assert err.count("sending it again") == 2, err


def test_certificate_name_checked(hostile, certs):  # noqa: F811
    """A certificate trusted (--cacert) but for another name (a.test only) is refused for
    127.0.0.1 (60); -k takes it."""
    port = hostile("ok", cert=certs.a, key=certs.a_key)
    rc, out, err = get("-s", "-S", "--cacert", certs.a, f"https://127.0.0.1:{port}/")
    assert rc == 60, err
    assert "certificate" in err
    rc, out, err = get("-s", "-S", "-k", f"https://127.0.0.1:{port}/")
    assert rc == 0 and out == b"hello", err


def test_bad_cacert_file(srv, tmp_path):
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    rc, out, err = get("-s", "-S", "--cacert", empty, url(srv, "/hello.txt"))
    assert rc == 77, err


def test_retry_and_workers(make_tls_server, certs):  # noqa: F811
    """RFC 9000 §8.1.2: a server that validates every address first answers with a Retry; the
    client comes back with its token (ngtcp2_crypto_recv_retry_cb) and is served, on a server
    with 4 workers."""
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    srv = make_tls_server(certs.leaf, certs.leaf_key, workers=4, http3={"retry": "always"})
    for _ in range(4):
        rc, out, err = get("-k", "-s", "-S", url(srv, "/big.bin"), timeout=60)
        assert rc == 0, err
        assert out == srv.files["big.bin"]


def test_redirect_and_several_urls(srv):
    """-L follows the directory redirect (/sub -> /sub/) over a new HTTP/3 connection; several
    URLs go one after the other, each with its -o."""
    rc, out, err = get("-k", "-s", "-L", "-w", "%{num_redirects} %{http_version}",
                       url(srv, "/sub"))
    assert rc == 0, err
    assert out == b"<p>sub index</p>\n1 3"
    rc, out, err = get("-k", "-s", url(srv, "/hello.txt"), url(srv, "/sub/file.txt"))
    assert rc == 0, err
    assert out == t.HELLO + b"sub file\n"


FAULT_BIN = Path(t.TERN_BIN).resolve().parent / "tern-fault"


@pytest.mark.parametrize("kind", ["malloc", "read", "write"])
def test_fault_injection_client(hostile, kind):
    """tern-fault (tests/fault/README.md) makes the Nth allocation, recv or send of the client
    fail, for every N a download reaches: each run ends with the right body or a clean error
    (curl's exit codes), never a crash, a hang or a sanitizer report."""
    if not FAULT_BIN.exists():
        pytest.skip("tern-fault was not built (-Dfault_injection=true)")
    port = hostile("ok")
    env = dict(os.environ, TERN_FAULT_ARM="start")
    ok = failed = 0
    for n in range(1, 200):
        env["TERN_FAULT"] = f"{kind}:{n}"
        r = subprocess.run([str(FAULT_BIN), "get", "--http3", "-k", "-s", "-S", "-m", "10",
                            f"https://127.0.0.1:{port}/"], capture_output=True, env=env,
                           timeout=30 * t.SLOW)
        err = r.stderr.decode(errors="replace")
        assert r.returncode >= 0, f"{kind}:{n} killed by a signal: {err}"
        assert "Sanitizer" not in err and "runtime error" not in err, f"{kind}:{n}: {err}"
        if r.returncode == 0:
            assert r.stdout == b"hello", f"{kind}:{n}"
            ok += 1
        else:
            # an exit code of curl's, with its message
            assert 0 < r.returncode < 100, f"{kind}:{n}: {r.returncode} {err}"
            assert f"tern: ({r.returncode}) " in err, f"{kind}:{n}: {err}"
            failed += 1
        if "injecting" not in err:
            break  # past the last call of this kind: every N was tried
    assert ok > 0 and n > 3


def test_alt_svc_then_http3_and_fallback(srv, tmp_path):
    """The first https run goes over TCP (HTTP/2) and keeps the Alt-Svc tern sends; the next
    goes straight to HTTP/3 on the advertised UDP port (RFC 7838). An alternative that does not
    answer falls back to TCP and is forgotten; --http3-fallback tries HTTP/3 without a cache;
    an explicit --http2 or --http1.1 keeps to TCP."""
    cache = tmp_path / "alt-svc"
    fmt = ["-w", "%{http_version}", "-o", "/dev/null", "-k", "-s", "--alt-svc", cache]
    assert get_auto(*fmt, url(srv, "/hello.txt"))[1] == b"2"
    rc, out, err = get_auto(*fmt, "-v", url(srv, "/hello.txt"))
    assert rc == 0 and out == b"3", err
    assert f"Alt-Svc: HTTP/3 on UDP port {srv.tls_port}" in err
    assert get_auto(*fmt, "--http2", url(srv, "/hello.txt"))[1] == b"2"
    assert get_auto(*fmt, "--http1.1", url(srv, "/hello.txt"))[1] == b"1.1"
    # a stale alternative: a UDP port where nothing listens
    dead = t.free_port(socket.AF_INET)
    text = cache.read_text().replace(f" h3 127.0.0.1 {srv.tls_port} ", f" h3 127.0.0.1 {dead} ")
    cache.write_text(text)
    rc, out, err = get_auto(*fmt, "-v", url(srv, "/big.bin"))
    assert rc == 0 and out == b"2", err
    assert "TCP instead" in err
    assert f" h3 127.0.0.1 {dead} " not in cache.read_text()
    cache.unlink()
    rc, out, err = get_auto("--http3-fallback", *fmt, url(srv, "/hello.txt"))
    assert rc == 0 and out == b"3", err


def test_parallel_streams_on_one_quic_connection(srv, tmp_path):
    """-Z --http3: the URLs go at once as request streams of one QUIC connection; every body
    arrives whole in its own file, and the server logged them all."""
    outs = [tmp_path / f"o{i}" for i in range(6)]
    paths = ["/big.bin", "/hello.txt", "/index.html", "/no-such", "/big.bin", "/sub/file.txt"]
    args = []
    for o in outs:
        args += ["-o", o]
    rc, out, err = get("-k", "-s", "-S", "-Z", *args, "-w", "%{http_version} %{http_code}\n",
                       *[url(srv, p) for p in paths])
    assert rc == 0, err
    assert out.decode().splitlines() == ["3 200", "3 200", "3 200", "3 404", "3 200", "3 200"]
    assert outs[0].read_bytes() == outs[4].read_bytes() == srv.files["big.bin"]
    assert outs[1].read_bytes() == t.HELLO and outs[5].read_bytes() == b"sub file\n"


CONN = "/.well-known/tern/connection"


@pytest.fixture(scope="module")
def zsrv(tmp_path_factory, certs):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    from tls_util import module_server

    def conninfo(cfg):
        cfg["servers"][0]["locations"].append({"path": CONN, "connection_info": True})
    yield from module_server(tmp_path_factory, "geth3z", certs.leaf, certs.leaf_key,
                             mutate=conninfo)


def test_parallel_is_one_connection(zsrv, tmp_path):
    """The server sees one client port for every -Z request, and a new one per URL without."""
    import json
    outs = [tmp_path / f"c{i}" for i in range(3)]
    args = []
    for o in outs:
        args += ["-o", o]
    for flags, ports in ((["-Z"], 1), ([], 3)):
        rc, _, err = get("-k", "-s", "-S", *flags, *args, *[url(zsrv, CONN)] * 3)
        assert rc == 0, err
        infos = [json.loads(o.read_bytes()) for o in outs]
        assert {i["http_version"] for i in infos} == {"HTTP/3"}, infos
        assert len({i["client"]["port"] for i in infos}) == ports, infos


def test_body_of_unknown_length(srv):
    """-T - over HTTP/3: stdin sent as DATA until the stream's FIN, its length unknown; the
    static handler refuses PUT and the exchange still ends cleanly."""
    r = subprocess.run([t.TERN_BIN, "get", "--http3", "-k", "-s", "-S", "-w", "%{http_code}",
                        "-o", "/dev/null", "-T", "-", url(srv, "/hello.txt")],
                       input=os.urandom(200_000), capture_output=True, timeout=30 * t.SLOW)
    assert r.returncode == 0 and r.stdout == b"405", r.stderr
