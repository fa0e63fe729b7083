"""QUIC's datagram path (src/quic/udp.c): trains of datagrams leave in one sendmsg (UDP GSO),
coalesced datagrams that arrive together (UDP GRO) are split and each handled, and the ECN
bits go both ways (RFC 9000 §13.4). The fallback when the kernel refuses GSO is tested with
tern-fault in test_fault_injection.py (test_fault_h3_gso_refused)."""

import re
import shutil
import socket
import subprocess
import time

import pytest

import tern_e2e as t
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(shutil.which("gtlsclient") is None,
                                reason="gtlsclient (ngtcp2-client) is not installed")

DONE = re.compile(r"quic: connection done: (\d+) datagrams out in (\d+) sends, (\d+) in "
                  r"\((\d+) coalesced\)")
UDP_SEGMENT = 103  # linux/udp.h


def http3_built():
    out = subprocess.run([t.TERN_BIN, "-V"], capture_output=True, text=True).stdout
    return "http3: yes" in out


@pytest.fixture
def h3srv(make_tls_server, certs):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    return make_tls_server(certs.ec, certs.ec_key, workers=1, log_level="debug")


def gtls(srv, path, tmp_path, *extra):
    out = tmp_path / f"dl{time.monotonic_ns()}"
    out.mkdir()
    r = subprocess.run(["gtlsclient", "--exit-on-all-streams-close", "--download", str(out),
                        *extra, "127.0.0.1", str(srv.tls_port),
                        f"https://127.0.0.1:{srv.tls_port}{path}"],
                       capture_output=True, timeout=60 * t.SLOW)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace"), out / path.lstrip("/")


def wait_done(srv):
    """The counters of the first connection that ended (the client's close, then draining)."""
    deadline = time.monotonic() + 10 * t.SLOW
    while time.monotonic() < deadline:
        m = DONE.search(srv.read(srv.error_log))
        if m:
            return [int(x) for x in m.groups()]
        time.sleep(0.05)
    pytest.fail("no 'quic: connection done' line in the debug log")


def test_gso_sends_trains(h3srv, tmp_path):
    """A 3 MiB download leaves in far fewer system calls than datagrams."""
    rc, log, f = gtls(h3srv, "/big.bin", tmp_path, "-q")
    assert rc == 0, log[-2000:]
    assert f.read_bytes() == h3srv.files["big.bin"]
    out, sends, _, _ = wait_done(h3srv)
    assert out > 2000, out
    assert sends * 4 < out, f"{out} datagrams in {sends} sends: no trains"


def test_ecn_both_ways(h3srv, tmp_path):
    """gtlsclient marks its packets ECT(0): ngtcp2 in tern must see the marks, or its ACKs
    carry no ECN counts and the client says the path is not ECN capable. tern marks its own
    packets as ngtcp2 asks (ECT(0) while it validates the path)."""
    rc, log, f = gtls(h3srv, "/hello.txt", tmp_path)
    assert rc == 0, log[-2000:]
    assert f.read_bytes() == t.HELLO
    assert "path is not ECN capable" not in log
    assert re.search(r"frm rx \d+ \w+ ACK\w*\(0x03\)", log), \
        "no ACK with ECN counts from tern"
    assert re.search(r"Received packet: .* ecn=0x2 ", log), "no ECT(0) packet from tern"


def vn_probe(cid):
    """A 1200-byte long-header packet of an unknown version: every one asks for a Version
    Negotiation packet (RFC 9000 §6.1)."""
    dcid, scid = cid, b"\x11" * 8
    head = bytes([0xC0]) + b"\x1a\x2a\x3a\x4a" + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
    return head + b"\x00" * (1200 - len(head))


def test_gro_coalesced_datagrams_are_split(h3srv):
    """Three datagrams sent as one GSO train reach a GRO socket as one 3600-byte message; each
    must be handled: three Version Negotiation answers, one per datagram."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.setsockopt(socket.IPPROTO_UDP, UDP_SEGMENT, 1200)
        except OSError:
            pytest.skip("this kernel has no UDP GSO")
        s.settimeout(2 * t.SLOW)
        train = b"".join(vn_probe(bytes([0x20 + i]) * 8) for i in range(3))
        s.sendto(train, ("127.0.0.1", h3srv.tls_port))
        answers = set()
        try:
            while len(answers) < 3:
                data = s.recv(2048)
                assert data[1:5] == b"\x00\x00\x00\x00", "not a Version Negotiation packet"
                off = 6 + data[5]  # past the DCID (our SCID); the SCID echoes our DCID
                answers.add(data[off + 1:off + 1 + data[off]])
        except socket.timeout:
            pass
    assert answers == {bytes([0x20 + i]) * 8 for i in range(3)}, answers
