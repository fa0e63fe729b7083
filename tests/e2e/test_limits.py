"""Limits on what a client controls: request line, header count and size, the header deadline."""

import socket
import time

import tern_e2e as t
from tern_e2e import HELLO, Conn, request


def test_request_line_too_long(server):
    with Conn(server.port) as c:
        c.try_send(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = c.response()
        assert r.status == 414, r
        assert c.closed()
    server.assert_healthy()


def test_request_line_just_under_limit(server):
    path = "/hello.txt?" + "q" * (8192 - len("GET /hello.txt? HTTP/1.1") - 50)
    r = server.get(path)
    assert r.status == 200 and r.body == HELLO


def test_too_many_fields(server):
    hdrs = [(f"X-H{i}", "v") for i in range(150)]
    with Conn(server.port) as c:
        c.try_send(request("GET", "/hello.txt", hdrs))
        r = c.response()
        assert r.status == 431, r
        assert c.closed()
    server.assert_healthy()


def test_many_fields_under_limit(server):
    r = server.get("/hello.txt", [(f"X-H{i}", "v") for i in range(90)])
    assert r.status == 200 and r.body == HELLO


def test_header_section_too_large(server):
    hdrs = [(f"X-H{i}", "v" * 1000) for i in range(40)]  # 40 fields, ~40 KiB
    with Conn(server.port) as c:
        c.try_send(request("GET", "/hello.txt", hdrs))
        r = c.response()
        assert r.status == 431, r
        assert c.closed()
    server.assert_healthy()


def test_one_huge_field(server):
    with Conn(server.port) as c:
        c.try_send(request("GET", "/hello.txt", [("X-Big", "v" * 40000)]))
        r = c.response()
        assert r.status == 431, r
        assert c.closed()
    server.assert_healthy()


def test_slow_header_cut_off(make_server):
    """A head trickled one byte per 0.5 s is cut off at the header deadline (1 s)."""
    srv = make_server(timeouts={"header": 1})
    data = request("GET", "/hello.txt", [(f"X-Slow-{i}", "value") for i in range(20)])
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.setblocking(False)
    t0 = time.monotonic()
    closed_at = None
    got = b""
    try:
        for i in range(len(data)):
            try:
                s.send(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            time.sleep(0.5)
            try:
                chunk = s.recv(4096)
                got += chunk
                if not chunk:
                    closed_at = time.monotonic()
                    break
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed_at = time.monotonic()
                break
            if time.monotonic() - t0 > 6 * t.SLOW:
                break
    finally:
        s.close()
    assert closed_at is not None, "a trickling client kept the connection past the header deadline"
    assert closed_at - t0 < 2.5 * t.SLOW, f"closed only after {closed_at - t0:.1f}s"
    if got:
        assert got.startswith(b"HTTP/1.1 408 "), got[:100]
    srv.assert_healthy()


def test_idle_connection_without_request_closed(make_server):
    srv = make_server(timeouts={"header": 1, "keepalive": 1})
    with Conn(srv.port) as c:
        t0 = time.monotonic()
        assert c.closed(4), "an idle new connection was never closed"
        assert time.monotonic() - t0 < 3 * t.SLOW
    srv.assert_healthy()
