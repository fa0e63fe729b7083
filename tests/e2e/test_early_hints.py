"""103 Early Hints (RFC 8297) from a location's early_hints: over HTTP/1.1 in clear and over
TLS (the 103 with its Link lines comes first, then the final response), never to HTTP/1.0, and
over HTTP/2 (a HEADERS frame with :status 103 before the final HEADERS)."""

import re
import subprocess

import pytest

import tern_e2e as t
import tls_util as u
from tls_util import certs  # noqa: F401 (fixture)

HINTS = ["</style.css>; rel=preload; as=style", "</script.js>; rel=preload; as=script"]


def _mutate(cfg):
    cfg["servers"][0]["locations"].append({"path": "/sub/", "early_hints": HINTS})


@pytest.fixture(scope="module")
def eh(tmp_path_factory, certs):  # noqa: F811
    yield from u.module_server(tmp_path_factory, "eh", certs.ec, certs.ec_key, mutate=_mutate)


EXPECTED_103 = ("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n"
                "Link: </script.js>; rel=preload; as=script\r\n\r\n").encode()


def _check_h1(conn_factory):
    with conn_factory() as c:
        c.send(t.request("GET", "/sub/file.txt"))
        # exact bytes of the interim response, then the final one
        while len(c.buf) < len(EXPECTED_103):
            c._fill()
        assert c.buf[:len(EXPECTED_103)] == EXPECTED_103, c.buf[:300]
        r = c.response()
        assert (r.status, r.reason) == (103, "Early Hints")
        assert r.get_all("Link") == HINTS
        r = c.response()
        assert (r.status, r.body) == (200, b"sub file\n"), r
        # keep-alive: the next request on the connection gets hints again
        c.send(t.request("GET", "/sub/index.html", close=True))
        r = c.response()
        assert r.status == 103 and r.get_all("Link") == HINTS
        r = c.response()
        assert (r.status, r.body) == (200, b"<p>sub index</p>\n")
        c.assert_closed()


def test_h1_cleartext(eh):
    _check_h1(eh.conn)


def test_h1_tls(eh):
    _check_h1(lambda: eh.tls(alpn=("http/1.1",)))


@pytest.mark.parametrize("tls", [False, True])
def test_not_to_http10(eh, tls):
    c = eh.tls() if tls else eh.conn()
    with c:
        c.send(t.request("GET", "/sub/file.txt", version="HTTP/1.0"))
        r = c.response()
        assert (r.status, r.body) == (200, b"sub file\n"), r
        assert b"103" not in r.raw_head.split(b"\r\n")[0]


def test_no_hints_elsewhere(eh):
    with eh.conn() as c:
        c.send(t.request("GET", "/hello.txt", close=True))
        r = c.response()
        assert (r.status, r.body) == (200, t.HELLO)
        assert "Link" not in r


def test_no_hints_for_rejected_method(eh):
    r = eh.get("/sub/file.txt", method="DELETE")
    assert r.status == 405, r


def test_head_gets_hints(eh):
    with eh.conn() as c:
        c.send(t.request("HEAD", "/sub/file.txt", close=True))
        r = c.response(head=True)
        assert r.status == 103 and r.get_all("Link") == HINTS
        r = c.response(head=True)
        assert r.status == 200 and r["Content-Length"] == "9"


def test_curl_shows_103(eh, certs):  # noqa: F811
    for proto in ("--http1.1", "--http2"):
        r = t.curl(proto, "--cacert", str(certs.ec), "-D", "-", "-o", "/dev/null",
                   eh.url("/sub/file.txt"))
        head = r.stdout.decode()
        first, rest = head.split("\r\n\r\n", 1)
        assert re.match(r"HTTP/(1\.1|2) 103", first), head
        assert [ln.split(":", 1)[1].strip() for ln in first.split("\r\n")[1:]
                if ln.lower().startswith("link:")] == HINTS, head
        assert re.match(r"HTTP/(1\.1|2) 200", rest), head


def test_h2_python(eh):
    with u.H2Client(eh.tls_port) as h:
        st = h.get("/sub/file.txt")
        assert len(st["informational"]) == 1, st
        info = st["informational"][0]
        assert info[0] == (":status", "103")
        assert [v for k, v in info if k == "link"] == HINTS
        assert (st["status"], st["body"]) == (200, b"sub file\n")
        # the order on the wire: the 103's event came before the final response's
        import h2.events as E
        kinds = [type(e) for e in h.events
                 if getattr(e, "stream_id", None) == 1 and
                 isinstance(e, (E.InformationalResponseReceived, E.ResponseReceived))]
        assert kinds == [E.InformationalResponseReceived, E.ResponseReceived]
        st = h.get("/hello.txt")
        assert st["informational"] == [] and st["body"] == t.HELLO


@pytest.mark.skipif(not t.have_cli("nghttp"), reason="nghttp is not installed")
def test_h2_nghttp(eh):
    r = subprocess.run(["nghttp", "-nv", eh.url("/sub/file.txt")], capture_output=True,
                       timeout=20 * t.SLOW)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out
    statuses = re.findall(r"recv \(stream_id=\d+\) :status: (\d+)", out)
    assert statuses == ["103", "200"], out
    i103, i200 = out.index(":status: 103"), out.index(":status: 200")
    links = re.findall(r"recv \(stream_id=\d+\) link: (.*)", out[i103:i200])
    assert links == HINTS, out
