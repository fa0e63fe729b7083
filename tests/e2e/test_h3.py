"""HTTP/3 over QUIC on the TLS listener's UDP port, with Debian's gtlsclient (ngtcp2-client,
HTTP/3 through nghttp3): bodies byte for byte, many streams, errors, the access log, a
download in flight across a graceful stop, and `quic: false`."""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

import tern_e2e as t
import tls_util as u
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(shutil.which("gtlsclient") is None,
                                reason="gtlsclient (ngtcp2-client) is not installed")


def http3_built():
    out = subprocess.run([t.TERN_BIN, "-V"], capture_output=True, text=True).stdout
    return "http3: yes" in out


def gtls(srv, paths, tmp_path, *extra, timeout=30):
    """Fetches https://127.0.0.1:PORT/path for each path over HTTP/3; returns (rc, stderr,
    download dir)."""
    out = tmp_path / f"dl{time.monotonic_ns()}"
    out.mkdir()
    urls = [f"https://127.0.0.1:{srv.tls_port}{p}" for p in paths]
    r = subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close", "--download",
                        str(out), *extra, "127.0.0.1", str(srv.tls_port), *urls],
                       capture_output=True, timeout=timeout * t.SLOW)
    return r.returncode, r.stderr.decode(errors="replace"), out


@pytest.fixture
def h3srv(make_tls_server, certs):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    return make_tls_server(certs.ec, certs.ec_key)


def test_small_and_large_bodies(h3srv, tmp_path):
    rc, err, out = gtls(h3srv, ["/hello.txt", "/big.bin", "/style.css"], tmp_path)
    assert rc == 0, err
    assert (out / "hello.txt").read_bytes() == t.HELLO
    assert (out / "big.bin").read_bytes() == h3srv.files["big.bin"]
    assert (out / "style.css").read_bytes() == h3srv.files["style.css"]
    log = h3srv.read(h3srv.access_log)
    assert '"GET /big.bin HTTP/3.0" 200' in log
    h3srv.assert_tls_healthy()


def test_requests_after_settings(h3srv, tmp_path):
    """Requests sent once the client has our SETTINGS: nghttp3 then inserts into the QPACK
    dynamic table, and its QPACK encoder stream's first byte arrives after the decoder stream's
    (stream 6 after stream 10). Both used to be lost, and the request hung until the idle
    timeout."""
    rc, err, out = gtls(h3srv, ["/hello.txt", "/style.css", "/big.bin"], tmp_path,
                        "--delay-stream=50ms", "--timeout=5s")
    assert rc == 0, err
    assert (out / "hello.txt").read_bytes() == t.HELLO
    assert (out / "style.css").read_bytes() == h3srv.files["style.css"]
    assert (out / "big.bin").read_bytes() == h3srv.files["big.bin"]
    h3srv.assert_tls_healthy()


def test_key_update_during_download(h3srv, tmp_path):
    """RFC 9001 §6: the client updates its keys in the middle of a download; the server follows
    (ngtcp2 answers with its own update) and every byte arrives."""
    out = tmp_path / "ku"
    out.mkdir()
    r = subprocess.run(["gtlsclient", "--exit-on-all-streams-close", "--download", str(out),
                        "--key-update=20ms", "--no-quic-dump", "--no-http-dump", "--timeout=5s",
                        "127.0.0.1", str(h3srv.tls_port),
                        f"https://127.0.0.1:{h3srv.tls_port}/big.bin"],
                       capture_output=True, timeout=60 * t.SLOW)
    log = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0, log[-3000:]
    assert (out / "big.bin").read_bytes() == h3srv.files["big.bin"]
    assert re.search(r"pkt rx .*type=1RTT k=1", log), "no packet from the server under new keys"
    h3srv.assert_tls_healthy()


def test_many_streams_on_one_connection(h3srv, tmp_path):
    rc, err, _ = gtls(h3srv, ["/hello.txt"], tmp_path, "-n", "50")
    assert rc == 0, err
    assert t.wait_for(lambda: h3srv.read(h3srv.access_log).count('"GET /hello.txt HTTP/3.0" 200')
                      == 50, 5 * t.SLOW)


def test_missing_file_and_dotfile_are_404(h3srv, tmp_path):
    rc, err, _ = gtls(h3srv, ["/no-such-file", "/.env"], tmp_path)
    assert rc == 0, err
    log = h3srv.read(h3srv.access_log)
    assert '"GET /no-such-file HTTP/3.0" 404' in log and '"GET /.env HTTP/3.0" 404' in log


def test_download_survives_graceful_stop(make_tls_server, certs, tmp_path):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    srv = make_tls_server(certs.ec, certs.ec_key, timeouts={"graceful": 60})
    big = srv.base / "root" / "h3big.bin"
    data = os.urandom(40 << 20)
    big.write_bytes(data)
    out = tmp_path / "dl"
    out.mkdir()
    client = subprocess.Popen(["gtlsclient", "-q", "--exit-on-all-streams-close", "--download",
                               str(out), "127.0.0.1", str(srv.tls_port),
                               f"https://127.0.0.1:{srv.tls_port}/h3big.bin"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # QUIT once the download is under way (a request that reached the server only after the
    # GOAWAY would rightly be refused, and gtlsclient does not retry it)
    got = out / "h3big.bin"
    assert t.wait_for(lambda: got.exists() and got.stat().st_size > (1 << 20), 10 * t.SLOW)
    srv.signal(signal.SIGQUIT)
    rc = client.wait(timeout=120 * t.SLOW)
    assert rc == 0, client.stderr.read().decode(errors="replace")
    assert (out / "h3big.bin").read_bytes() == data
    srv.expect_exit = True
    assert srv.proc.wait(timeout=30 * t.SLOW) == 0


def test_quic_off(make_tls_server, certs, tmp_path):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    srv = make_tls_server(certs.ec, certs.ec_key, quic=False)
    rc, _, out = gtls(srv, ["/hello.txt"], tmp_path, "--timeout=2s", timeout=15)
    assert not (out / "hello.txt").exists()
    srv.assert_tls_healthy()


def test_garbage_datagrams(h3srv, tmp_path):
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for n in (0, 1, 5, 100, 1200, 1500):
        s.sendto(os.urandom(n), ("127.0.0.1", h3srv.tls_port))
    s.sendto(b"\xc0\x00\x00\x00\x01" + os.urandom(1195), ("127.0.0.1", h3srv.tls_port))
    s.close()
    rc, err, out = gtls(h3srv, ["/hello.txt"], tmp_path)
    assert rc == 0, err
    assert (out / "hello.txt").read_bytes() == t.HELLO


@pytest.mark.parametrize("version", ["--http1.1", "--http2"])
def test_alt_svc_advertises_h3(h3srv, version):
    """RFC 9114 §3.1.1: responses over TLS advertise HTTP/3 on the same port (UDP)."""
    r = subprocess.run(["curl", "-sSk", version, "-o", "/dev/null", "-D", "-",
                        f"https://127.0.0.1:{h3srv.tls_port}/hello.txt"],
                       capture_output=True, text=True, timeout=10 * t.SLOW)
    assert r.returncode == 0, r.stderr
    assert f'alt-svc: h3=":{h3srv.tls_port}"; ma=86400' in r.stdout.lower()
    # not on cleartext
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-D", "-",
                        f"http://127.0.0.1:{h3srv.port}/hello.txt"],
                       capture_output=True, text=True, timeout=10 * t.SLOW)
    assert "alt-svc" not in r.stdout.lower()


def test_no_alt_svc_without_quic(make_tls_server, certs):  # noqa: F811
    srv = make_tls_server(certs.ec, certs.ec_key, quic=False)
    r = subprocess.run(["curl", "-sSk", "-o", "/dev/null", "-D", "-",
                        f"https://127.0.0.1:{srv.tls_port}/hello.txt"],
                       capture_output=True, text=True, timeout=10 * t.SLOW)
    assert r.returncode == 0 and "alt-svc" not in r.stdout.lower()


def test_connection_info_over_h3(make_tls_server, certs, tmp_path):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    import json

    def mutate(cfg):
        cfg["servers"][0]["locations"].append(
            {"path": "/.well-known/tern/connection", "connection_info": True})

    srv = make_tls_server(certs.ec, certs.ec_key, mutate=mutate)
    rc, err, out = gtls(srv, ["/.well-known/tern/connection"], tmp_path)
    assert rc == 0, err
    info = json.loads((out / "connection").read_text())
    assert info["http_version"] == "HTTP/3"
    assert info["tls"]["version"] == "TLSv1.3" and info["tls"]["alpn"] == "h3"
    assert info["client"]["address"] == "127.0.0.1"


def test_quic_listen_alone(make_tls_server, certs, tmp_path):  # noqa: F811
    """quic_listen: a UDP-only HTTP/3 address; with quic: false the TLS port has no UDP side
    and Alt-Svc names the quic_listen port."""
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    qport = t.free_port()

    def mutate(cfg):
        cfg["quic"] = False
        cfg["quic_listen"] = [f"127.0.0.1:{qport}"]

    srv = make_tls_server(certs.ec, certs.ec_key, mutate=mutate)

    class At:
        tls_port = qport

    rc, err, out = gtls(At, ["/hello.txt"], tmp_path)
    assert rc == 0, err
    assert (out / "hello.txt").read_bytes() == t.HELLO
    r = subprocess.run(["curl", "-sSk", "-o", "/dev/null", "-D", "-",
                        f"https://127.0.0.1:{srv.tls_port}/hello.txt"],
                       capture_output=True, text=True, timeout=10 * t.SLOW)
    assert f'alt-svc: h3=":{qport}"; ma=86400' in r.stdout.lower()
    assert f"listening on udp 127.0.0.1:{qport} (HTTP/3)" in srv.read(srv.error_log)


def test_quic_listen_flag(make_server, certs, tmp_path):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    qport = t.free_port()
    srv = make_server(args=["serve", "@BASE@/root", "--listen", "127.0.0.1:@PORT@",
                            "--quic-listen", f"127.0.0.1:{qport}", "--cert", str(certs.ec),
                            "--key", str(certs.ec_key), "--workers", "1",
                            "--error-log", "@BASE@/error.log"])

    class At:
        tls_port = qport

    rc, err, out = gtls(At, ["/hello.txt"], tmp_path)
    assert rc == 0, err
    assert (out / "hello.txt").read_bytes() == t.HELLO
    assert srv.get("/hello.txt").status == 200
