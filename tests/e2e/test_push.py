"""HTTP/2 server push (RFC 9113 §8.4) over TLS: off by default; a location with `push: true`
and push_paths sends PUSH_PROMISE with the right request fields and pushed bytes; never when
the client's SETTINGS_ENABLE_PUSH is 0; never the same path twice on one connection."""

import re
import subprocess

import pytest

import tern_e2e as t
import tls_util as u
from tls_util import certs  # noqa: F401 (fixture)


def _mutate(cfg):
    locs = cfg["servers"][0]["locations"]
    locs.append({"path": "/sub/", "push": True, "push_paths": ["/style.css"]})
    # push_paths without push: true pushes nothing
    for loc in locs:
        if loc["path"] == "/list/":
            loc["push_paths"] = ["/script.js"]


@pytest.fixture(scope="module")
def ps(tmp_path_factory, certs):  # noqa: F811
    yield from u.module_server(tmp_path_factory, "push", certs.ec, certs.ec_key, mutate=_mutate)


def test_push_promise_and_bytes(ps):
    with u.H2Client(ps.tls_port) as h:
        st = h.get("/sub/file.txt")
        assert (st["status"], st["body"]) == (200, b"sub file\n")
        h.pump(lambda: st["pushes"] and all(h.pushes[p]["done"] for p in st["pushes"]))
        assert len(st["pushes"]) == 1, st
        p = h.pushes[st["pushes"][0]]
        assert p["request"] == {":method": "GET", ":scheme": "https", ":path": "/style.css",
                                ":authority": "localhost"}, p["request"]
        assert p["status"] == 200 and p["reset"] is None
        assert p["body"] == ps.files["style.css"]
        hd = dict(p["headers"])
        assert hd["content-type"].startswith("text/css")
        assert hd["content-length"] == str(len(ps.files["style.css"]))
        assert st["pushes"][0] % 2 == 0  # server-initiated: even stream id


def test_push_follows_parent_accept_encoding(ps):
    import gzip
    with u.H2Client(ps.tls_port) as h:
        st = h.get("/sub/file.txt", extra=[("accept-encoding", "gzip")])
        h.pump(lambda: st["pushes"] and all(h.pushes[p]["done"] for p in st["pushes"]))
        p = h.pushes[st["pushes"][0]]
        assert p["request"].get("accept-encoding") == "gzip", p["request"]
        hd = dict(p["headers"])
        assert hd.get("content-encoding") == "gzip", hd
        assert gzip.decompress(p["body"]) == ps.files["style.css"]


def test_not_pushed_twice_on_one_connection(ps):
    with u.H2Client(ps.tls_port) as h:
        first = h.get("/sub/file.txt")
        second = h.get("/sub/index.html")
        third = h.get("/sub/file.txt")
        h.settle(0.3)
        assert len(first["pushes"]) == 1
        assert second["pushes"] == [] and third["pushes"] == [], (second, third)
        assert len(h.pushes) == 1
    # a new connection gets it again
    with u.H2Client(ps.tls_port) as h:
        st = h.get("/sub/file.txt")
        h.settle(0.2)
        assert len(st["pushes"]) == 1


def test_enable_push_zero(ps):
    with u.H2Client(ps.tls_port, enable_push=False) as h:
        st = h.get("/sub/file.txt")
        h.settle(0.3)
        assert (st["status"], st["body"]) == (200, b"sub file\n")
        assert st["pushes"] == [] and h.pushes == {}
        assert h.goaway is None


def test_off_by_default(ps):
    with u.H2Client(ps.tls_port) as h:
        for path in ("/hello.txt", "/list/", "/index.html"):
            st = h.get(path)
            assert st["status"] == 200
        h.settle(0.3)
        assert h.pushes == {}


def test_no_push_over_http11(ps):
    with ps.tls() as c:
        c.send(t.request("GET", "/sub/file.txt", close=True))
        r = c.response()
        assert (r.status, r.body) == (200, b"sub file\n")
        c.assert_closed()


@pytest.mark.skipif(not t.have_cli("nghttp"), reason="nghttp is not installed")
def test_nghttp_push(ps):
    r = subprocess.run(["nghttp", "-nv", ps.url("/sub/file.txt")], capture_output=True,
                       timeout=20 * t.SLOW)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out
    m = re.search(r"recv PUSH_PROMISE frame <length=\d+, flags=0x04, stream_id=(\d+)>\n"
                  r"\s+; END_HEADERS\n\s+\(padlen=0, promised_stream_id=(\d+)\)", out)
    assert m, out
    parent, promised = m.group(1), m.group(2)
    promise_fields = re.findall(rf"recv \(stream_id={parent}\) (\S+): (.*)\n(?=[^\n]*recv"
                                rf"(?: \(stream_id={parent}\)| PUSH_PROMISE))", out)
    assert (":path", "/style.css") in promise_fields, out
    # the promised request carries the parent's accept-encoding, and the pushed response is
    # encoded to match it
    assert ("accept-encoding", "gzip, deflate") in promise_fields, out
    assert re.search(rf"recv \(stream_id={promised}\) :status: 200", out), out
    assert re.search(rf"recv \(stream_id={promised}\) content-encoding: gzip", out), out
    n = int(re.search(rf"recv \(stream_id={promised}\) content-length: (\d+)", out).group(1))
    got = sum(int(x) for x in re.findall(rf"recv DATA frame <length=(\d+), flags=0x0\d, "
                                         rf"stream_id={promised}>", out))
    assert got == n, out
    r = subprocess.run(["nghttp", "-nv", "--no-push", ps.url("/sub/file.txt")],
                       capture_output=True, timeout=20 * t.SLOW)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0 and "PUSH_PROMISE" not in out, out
