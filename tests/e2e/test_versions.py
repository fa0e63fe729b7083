"""HTTP/0.9, HTTP/1.0 and HTTP/1.1 on the wire: versions, persistence, keep-alive limits."""

import time

import pytest

from tern_e2e import HELLO, Conn, one, request


def test_http09_simple_request(server):
    with Conn(server.port) as c:
        c.send(b"GET /hello.txt\r\n")
        data = c.read_until_close()
    assert data == HELLO  # body only: no status line, no headers
    server.assert_healthy()


def test_http09_bigger_file(server, files):
    with Conn(server.port) as c:
        c.send(b"GET /index.html\r\n")
        assert c.read_until_close() == files("index.html")


def test_http09_off(make_server):
    srv = make_server(http1={"http09": False})
    r, c = one(srv.port, b"GET /hello.txt\r\n")
    assert r.status == 400
    c.assert_closed()
    c.close()
    srv.assert_healthy()


def test_http10_closes(server):
    r, c = one(server.port, b"GET /hello.txt HTTP/1.0\r\n\r\n")
    assert r.status == 200 and r.body == HELLO
    assert r.header("Content-Length") == str(len(HELLO))
    c.assert_closed()
    c.close()


def test_http10_keep_alive(server):
    with Conn(server.port) as c:
        for _ in range(3):
            c.send(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.response()
            assert r.status == 200 and r.body == HELLO
            assert "keep-alive" in r.tokens("Connection")
        c.send(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        r = c.response()
        assert r.status == 200 and r.body == HELLO
        c.assert_closed()


def test_http11_persistent(server):
    with Conn(server.port) as c:
        for _ in range(5):
            c.send(request("GET", "/hello.txt"))
            r = c.response()
            assert r.status == 200 and r.body == HELLO
            assert "close" not in r.tokens("Connection")
        assert not c.closed(0.3)
        c.send(request("GET", "/hello.txt", close=True))
        r = c.response()
        assert r.status == 200 and r.body == HELLO
        assert "close" in r.tokens("Connection")
        c.assert_closed()


def test_leading_empty_lines_ignored(server):
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line
    r, c = one(server.port, b"\r\n" + request("GET", "/hello.txt", close=True))
    assert r.status == 200 and r.body == HELLO
    c.close()


@pytest.mark.parametrize("version,status", [
    ("HTTP/1.10", 400), ("HTTP/1", 400), ("http/1.1", 400), ("HTTP/1.1.1", 400), ("HTTP/ 1.1", 400),
    ("HTTP/2.0", 505), ("HTTP/3.0", 505),
])
def test_bad_versions(server, version, status):
    r, c = one(server.port, f"GET /hello.txt {version}\r\nHost: localhost\r\n\r\n".encode())
    assert r.status == status, r
    assert "Date" in r
    c.assert_closed()
    c.close()
    server.assert_healthy()


def test_keepalive_idle_timeout(make_server):
    srv = make_server(timeouts={"keepalive": 1})
    with Conn(srv.port) as c:
        c.send(request("GET", "/hello.txt"))
        assert c.response().status == 200
        t0 = time.monotonic()
        assert c.closed(timeout=4), "idle keep-alive connection was not closed"
        assert time.monotonic() - t0 > 0.5, "closed long before the keep-alive timeout"
    srv.assert_healthy()


def test_keepalive_requests_limit(make_server):
    srv = make_server(limits={"keepalive_requests": 3})
    with Conn(srv.port) as c:
        c.send(request("GET", "/hello.txt") * 5)
        rs = c.responses(3)
        assert [r.status for r in rs] == [200, 200, 200]
        assert all(r.body == HELLO for r in rs)
        assert "close" in rs[2].tokens("Connection")
        c.assert_closed()
    srv.assert_healthy()
