"""The QUIC transport (src/quic) against a real QUIC + HTTP/3 client, Debian's gtlsclient.

Until src/h3 lands, the server is tests/quic/quic_echo_server (built next to tern): it runs
src/quic and answers each HTTP/3 request with a fixed, hand-encoded response. We check that the
handshake completes and bodies arrive whole, with many streams, with a body larger than the
stream and connection windows, and that garbage datagrams do not hurt the server.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

import tern_e2e as t

ECHO_BIN = Path(t.TERN_BIN).resolve().parent / "quic_echo_server"
LINE = b"tern quic echo\n"

pytestmark = [
    pytest.mark.skipif(shutil.which("gtlsclient") is None,
                       reason="gtlsclient (Debian package ngtcp2-client) is not installed"),
    pytest.mark.skipif(not os.access(ECHO_BIN, os.X_OK),
                       reason=f"{ECHO_BIN} not built (meson -Dquic=enabled)"),
]


def body_of(n):
    return (LINE * (n // len(LINE) + 1))[:n]


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("quic")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchoServer:
    def __init__(self, cert, body_len):
        self.port = free_udp_port()
        self.body = body_of(body_len)
        self.proc = subprocess.Popen(
            [str(ECHO_BIN), "127.0.0.1", str(self.port), str(cert[0]), str(cert[1]),
             str(body_len)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()
        assert line == b"ready\n", f"echo server did not start: {line!r}"

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; returns its counters line. Fails on a crash or a sanitizer report."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=20 * t.SLOW)
        text = err.decode(errors="replace")
        assert self.proc.returncode == 0, f"echo server exited {self.proc.returncode}:\n{text}"
        for marker in t.BAD_MARKERS:
            assert marker not in text, text
        return text


@pytest.fixture
def server(cert, request):
    srv = EchoServer(cert, getattr(request, "param", 12))
    yield srv
    srv.stop()


def gtlsclient(port, paths, tmp_path, *extra):
    dl = tmp_path / "dl"
    dl.mkdir(exist_ok=True)
    uris = [f"https://127.0.0.1:{port}/{p}" for p in paths]
    r = subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close", "--timeout=10s",
                        "--download", str(dl), *extra, "127.0.0.1", str(port), *uris],
                       capture_output=True, timeout=60 * t.SLOW)
    return r, dl


def test_handshake_and_body(server, tmp_path):
    r, dl = gtlsclient(server.port, ["hello.txt"], tmp_path)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert (dl / "hello.txt").read_bytes() == server.body
    assert server.alive()
    stats = server.stop()
    assert "handshakes=1 responses=1" in stats


def test_ten_streams(server, tmp_path):
    paths = [f"s{i}" for i in range(10)]
    r, dl = gtlsclient(server.port, paths, tmp_path, "-n", "10")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    for p in paths:
        assert (dl / p).read_bytes() == server.body, p
    assert "responses=10" in server.stop()


@pytest.mark.parametrize("server", [1 << 20], indirect=True)
def test_large_bodies(server, tmp_path):
    # 1 MiB each, four at once: more than the per-stream send buffer (256 KiB) and the
    # peer's windows, so acknowledgements and flow control have to move it along.
    paths = [f"big{i}" for i in range(4)]
    r, dl = gtlsclient(server.port, paths, tmp_path, "-n", "4", "--max-data=512K",
                       "--max-stream-data-bidi-local=128K")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    for p in paths:
        got = (dl / p).read_bytes()
        assert len(got) == len(server.body) and got == server.body, p


def long_header(version, dcid, scid, rest):
    return bytes([0xC0]) + struct.pack(">I", version) + bytes([len(dcid)]) + dcid + \
        bytes([len(scid)]) + scid + rest


def probe(dst, datagram):
    """Sends one datagram from a fresh socket; returns the first reply or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1 * t.SLOW)
        s.sendto(datagram, dst)
        try:
            return s.recvfrom(2048)[0]
        except TimeoutError:
            return None


def test_garbage_datagrams(server, tmp_path):
    dst = ("127.0.0.1", server.port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for n in (0, 1, 5, 20, 100, 1200, 1500):
            s.sendto(os.urandom(n), dst)
        # an Initial cut short: the length field promises more than the datagram holds
        s.sendto(long_header(1, os.urandom(8), os.urandom(8), b"\x00\x44\xd0" + os.urandom(30)),
                 dst)
        # a full-size Initial whose payload cannot be decrypted
        init = long_header(1, os.urandom(8), os.urandom(8), b"\x00\x44\xb0" + os.urandom(1200))
        s.sendto(init[:1300], dst)
    # a short-header packet for no connection: a stateless reset, smaller than it
    reset = probe(dst, bytes([0x40]) + os.urandom(99))
    assert reset is not None and len(reset) < 100 and reset[0] & 0xC0 == 0x40
    # an unknown version in a full-size datagram: Version Negotiation listing v1
    dcid, scid = os.urandom(8), os.urandom(5)
    vn = probe(dst, long_header(0x1A2A3A4A, dcid, scid, os.urandom(1200)))
    assert vn is not None and vn[1:5] == b"\0\0\0\0"
    assert vn[6:6 + vn[5]] == scid  # their DCID is our SCID
    versions = [vn[i:i + 4] for i in range(7 + vn[5] + 8, len(vn), 4)]
    assert b"\0\0\0\x01" in versions
    # too small for a client's first flight: no answer
    assert probe(dst, long_header(0x1A2A3A4A, dcid, scid, os.urandom(100))) is None
    assert server.alive()
    r, dl = gtlsclient(server.port, ["after-garbage"], tmp_path)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert (dl / "after-garbage").read_bytes() == server.body


def test_upload_beyond_windows(server, tmp_path):
    # 3 MiB of request body on each of two streams: more than the 256 KiB stream and 1 MiB
    # connection windows tern advertises, so the transfer only finishes if credit is given
    # back as the application consumes the bytes.
    data = tmp_path / "up"
    data.write_bytes(os.urandom(3 << 20))
    r, dl = gtlsclient(server.port, ["u0", "u1"], tmp_path, "-m", "POST", "-d", str(data))
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    for p in ("u0", "u1"):
        assert (dl / p).read_bytes() == server.body
    assert "responses=2" in server.stop()


def test_ipv6(cert, tmp_path):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("::1", 0))
        except OSError:
            pytest.skip("no ::1")
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(ECHO_BIN), "::1", str(port), str(cert[0]), str(cert[1]), "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ready\n"
        dl = tmp_path / "dl"
        dl.mkdir()
        r = subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close", "--timeout=10s",
                            "--download", str(dl), "::1", str(port), f"https://[::1]:{port}/v6"],
                           capture_output=True, timeout=60 * t.SLOW)
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        assert (dl / "v6").read_bytes() == body_of(5)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20 * t.SLOW)
    assert proc.returncode == 0 and b"Sanitizer" not in err, err.decode(errors="replace")


def test_close_from_callback(cert, tmp_path):
    # "close" mode: the server answers the request with CONNECTION_CLOSE (H3_NO_ERROR), asked
    # for from inside the stream-data callback; the client sees it at once (it enters the
    # draining period), and the server frees the connection when its closing period ends.
    srv = EchoServer.__new__(EchoServer)
    srv.port = free_udp_port()
    srv.proc = subprocess.Popen([str(ECHO_BIN), "127.0.0.1", str(srv.port), str(cert[0]),
                                 str(cert[1]), "10", "close"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert srv.proc.stdout.readline() == b"ready\n"
    try:
        r = subprocess.run(["gtlsclient", "--exit-on-all-streams-close", "--timeout=10s",
                            "127.0.0.1", str(srv.port), f"https://127.0.0.1:{srv.port}/x"],
                           capture_output=True, timeout=8 * t.SLOW)
        assert b"ERR_DRAINING" in r.stdout + r.stderr
        time.sleep(2 * t.SLOW)  # 3 PTOs on loopback is well under this
    finally:
        stats = srv.stop()
    assert "handshakes=1 responses=0" in stats and "conns=0" in stats, stats
