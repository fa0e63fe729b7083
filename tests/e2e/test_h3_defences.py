"""HTTP/3 defences driven with what Debian's gtlsclient can do (hand-made QUIC is not
available from Python): many streams on one connection, a header section over
limits.header_size (431, or H3_EXCESSIVE_LOAD when the HEADERS frame itself is far over), and a
request body over limits.body_size (413). After each, the server must still serve a fresh
HTTP/3 request, and the error log must say why it refused."""

import re
import shutil
import subprocess
import time

import pytest

import tern_e2e as t
from test_h3 import http3_built
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(shutil.which("gtlsclient") is None,
                                reason="gtlsclient (ngtcp2-client) is not installed")

HEADER_SIZE = 4096
BODY_SIZE = 10240
H3_NO_ERROR = 0x100
H3_EXCESSIVE_LOAD = 0x107


def gtls(srv, urls, tmp_path, *extra):
    """Runs gtlsclient (debug output on, bodies not dumped); returns (rc, output, dir)."""
    out = tmp_path / f"dl{time.monotonic_ns()}"
    out.mkdir()
    r = subprocess.run(["gtlsclient", "--no-quic-dump", "--no-http-dump",
                        "--exit-on-all-streams-close", "--timeout=5s", "--download", str(out),
                        *extra, "127.0.0.1", str(srv.tls_port),
                        *[f"https://127.0.0.1:{srv.tls_port}{u}" for u in urls]],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30 * t.SLOW)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace"), out


def statuses(output):
    """{stream id: status} from gtlsclient's debug output."""
    return {int(m.group(1), 16): int(m.group(2))
            for m in re.finditer(r"http: stream 0x([0-9a-f]+) \[:status: (\d+)\]", output)}


def assert_serves(srv, tmp_path):
    rc, output, out = gtls(srv, ["/hello.txt"], tmp_path)
    assert rc == 0, output[-3000:]
    assert (out / "hello.txt").read_bytes() == t.HELLO


@pytest.fixture
def h3srv(make_tls_server, certs):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")

    def mutate(cfg):
        cfg["limits"] = {"header_size": HEADER_SIZE, "request_line": 2048,
                         "body_size": BODY_SIZE}
        cfg["http2"] = {"max_concurrent_streams": 10}

    return make_tls_server(certs.ec, certs.ec_key, mutate=mutate)


def test_many_streams(h3srv, tmp_path):
    """-n 200 on one connection, more than QUIC lets a client open at once (100, a transport
    parameter of src/quic) and than http2.max_concurrent_streams: the client waits for stream
    credit, and every request it sends is answered 200. (gtlsclient ends once every stream it
    opened has closed, sometimes before it used new credit for the last ones: at least 100.)"""
    rc, output, _ = gtls(h3srv, ["/hello.txt"], tmp_path, "-n", "200")
    assert rc == 0, output[-3000:]
    got = statuses(output)
    assert len(got) >= 100 and set(got.values()) == {200}, output[-3000:]
    assert t.wait_for(lambda: h3srv.read(h3srv.access_log).count('"GET /hello.txt HTTP/3.0" 200')
                      == len(got), 5 * t.SLOW)
    assert "HTTP/3 connection error" not in h3srv.read(h3srv.error_log)
    assert_serves(h3srv, tmp_path)


def test_header_section_too_large_is_431(h3srv, tmp_path):
    """RFC 9114 §4.2.2: a decoded header section over the limit is answered 431."""
    path = "/a" * 3000  # 6000 bytes: over 4096 decoded, within the HEADERS frame's slack
    rc, output, _ = gtls(h3srv, [path], tmp_path)
    assert statuses(output) == {0: 431}, output[-3000:]
    assert f"HTTP stream 0 closed with error code {H3_NO_ERROR}" in output
    assert t.wait_for(lambda: "header section over limits.header_size or header_count, 431"
                      in h3srv.read(h3srv.error_log), 5 * t.SLOW)
    assert '" 431 ' in h3srv.read(h3srv.access_log)
    assert_serves(h3srv, tmp_path)


def test_headers_frame_far_too_large_closes(h3srv, tmp_path):
    """A HEADERS frame far beyond the limit is a flood, not a request: the connection is closed
    with H3_EXCESSIVE_LOAD without decoding it."""
    path = "/" + "b" * 20000
    rc, output, _ = gtls(h3srv, [path], tmp_path)
    assert 0 not in statuses(output)
    assert re.search(rf"CONNECTION_CLOSE\(0x1d\) error_code=\S*\(0x{H3_EXCESSIVE_LOAD:x}\)",
                     output), output[-3000:]
    assert t.wait_for(lambda: "H3_EXCESSIVE_LOAD: HEADERS frame too large"
                      in h3srv.read(h3srv.error_log), 5 * t.SLOW)
    assert_serves(h3srv, tmp_path)


def test_body_too_large_is_413(h3srv, tmp_path):
    """A request body over limits.body_size is answered 413 (the upload is stopped)."""
    body = tmp_path / "body.bin"
    body.write_bytes(b"x" * (5 * BODY_SIZE))
    rc, output, _ = gtls(h3srv, ["/hello.txt"], tmp_path, "-m", "POST", "-d", str(body))
    assert statuses(output) == {0: 413}, output[-3000:]
    assert t.wait_for(lambda: "over limits.body_size, 413" in h3srv.read(h3srv.error_log),
                      5 * t.SLOW)
    assert '"POST /hello.txt HTTP/3.0" 413' in h3srv.read(h3srv.access_log)
    assert_serves(h3srv, tmp_path)
