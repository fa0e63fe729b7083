"""Methods (RFC 9110 §9): GET, HEAD, OPTIONS, TRACE, and the ones a static location refuses."""

import pytest

from tern_e2e import HELLO, Conn, request

ENTITY = ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Accept-Ranges", "Vary",
          "Cache-Control", "Content-Encoding")


def test_head_matches_get(server, files):
    for path in ("/hello.txt", "/index.html", "/big.bin", "/cached/c.txt"):
        with Conn(server.port) as c:
            c.send(request("HEAD", path) + request("GET", path))
            h = c.response(head=True)
            g = c.response()
        assert h.status == g.status == 200
        assert h.body == b""
        assert g.body == files(path.lstrip("/"))
        for name in ENTITY:
            assert h.header(name) == g.header(name), (path, name)
        assert h.header("Content-Length") == str(len(g.body))


def test_options(server):
    with Conn(server.port) as c:
        c.send(request("OPTIONS", "/hello.txt"))
        r = c.response()
        assert r.status in (200, 204), r
        assert {"get", "head", "options"} <= r.tokens("Allow")
        assert "trace" not in r.tokens("Allow")
        if r.status == 200:
            assert r.header("Content-Length") == "0"
        c.send(request("GET", "/hello.txt"))
        assert c.response().body == HELLO


def test_options_star(server):
    with Conn(server.port) as c:
        c.send(b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = c.response()
        assert r.status == 200, r
        assert {"get", "head", "options"} <= r.tokens("Allow")
        c.send(request("GET", "/hello.txt"))
        assert c.response().body == HELLO


def test_star_only_for_options(server):
    with Conn(server.port) as c:
        c.send(b"GET * HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert c.response().status == 400
    server.assert_healthy()


def test_trace_off_by_default(server):
    with Conn(server.port) as c:
        c.send(request("TRACE", "/hello.txt"))
        r = c.response()
        assert r.status == 405
        assert "get" in r.tokens("Allow") and "trace" not in r.tokens("Allow")
        c.send(request("GET", "/hello.txt"))
        assert c.response().body == HELLO


def test_trace_on(server):
    with Conn(server.port) as c:
        c.send(request("TRACE", "/trace/t.txt", [("X-Test", "1")]))
        r = c.response()
        assert r.status == 200, r
        assert r.header("Content-Type", "").split(";")[0].strip().lower() == "message/http"
        assert r.body.startswith(b"TRACE /trace/t.txt HTTP/1.1\r\n")
        assert b"\r\nX-Test: 1\r\n" in r.body
        c.send(request("OPTIONS", "/trace/t.txt"))
        r = c.response()
        assert "trace" in r.tokens("Allow")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_refused_methods(server, method):
    with Conn(server.port) as c:
        c.send(request(method, "/hello.txt", body=b"data") + request("GET", "/hello.txt"))
        r = c.response()
        assert r.status == 405, r
        assert {"get", "head"} <= r.tokens("Allow")
        assert "Date" in r
        r2 = c.response()
        assert r2.status == 200 and r2.body == HELLO


@pytest.mark.parametrize("method", ["BREW", "get", "Get", "PROPFIND"])
def test_unknown_methods(server, method):
    with Conn(server.port) as c:
        c.send(request(method, "/hello.txt"))
        r = c.response()
        assert r.status == 501, r
    server.assert_healthy()


def test_connect_refused(server):
    with Conn(server.port) as c:
        c.send(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        r = c.response()
        assert 400 <= r.status < 600 and r.status not in (500,), r
    server.assert_healthy()
