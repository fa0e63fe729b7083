"""Clients that misbehave at the socket level: many at once, aborting, not reading, stalling."""

import socket
import threading
import time

import tern_e2e as t
from tern_e2e import HELLO, Conn, request


def test_many_concurrent_connections(server):
    conns = [Conn(server.port) for _ in range(200)]
    try:
        for c in conns:
            c.send(request("GET", "/hello.txt"))
        for c in conns:
            r = c.response()
            assert r.status == 200 and r.body == HELLO
    finally:
        for c in conns:
            c.close()
    server.assert_healthy()


def test_parallel_clients(server, files):
    errors = []

    def client(n):
        try:
            with Conn(server.port) as c:
                for i in range(20):
                    name = ("hello.txt", "index.html", "style.css")[(n + i) % 3]
                    c.send(request("GET", "/" + name, {"Accept-Encoding": "gzip" if i % 2 else "identity"}))
                    r = c.response()
                    if r.status != 200:
                        errors.append((name, r.status))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30 * t.SLOW)
    assert not errors, errors[:5]


def test_client_aborts_mid_download(server):
    for _ in range(5):
        c = Conn(server.port)
        c.send(request("GET", "/big.bin"))
        c._fill()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()  # RST with most of the body unsent
    for _ in range(5):
        c = Conn(server.port)
        c.send(request("GET", "/big.bin") * 3)
        c.close()
    server.assert_healthy()


def test_half_closed_client_gets_answer(server):
    with Conn(server.port) as c:
        c.send(request("GET", "/hello.txt"))
        c.sock.shutdown(socket.SHUT_WR)
        r = c.response()
        assert r.status == 200 and r.body == HELLO
        assert c.closed()


def test_pipelined_errors_keep_order(server):
    with Conn(server.port) as c:
        c.send(request("GET", "/hello.txt") + request("GET", "/nope") + request("DELETE", "/hello.txt")
               + request("GET", "/sub") + request("GET", "/hello.txt"))
        rs = c.responses(5)
        assert [r.status for r in rs] == [200, 404, 405, 301, 200]
        assert rs[0].body == rs[4].body == HELLO


def test_header_names_case_insensitive(server):
    with Conn(server.port) as c:
        c.send(b"GET /hello.txt HTTP/1.1\r\nhOsT: localhost\r\nCONNECTION: close\r\n\r\n")
        r = c.response()
        assert r.status == 200 and r.body == HELLO
        assert c.closed()


def test_connection_close_drops_pipelined_rest(server):
    with Conn(server.port) as c:
        c.send(request("GET", "/hello.txt", close=True) + request("GET", "/sub/file.txt"))
        r = c.response()
        assert r.status == 200 and r.body == HELLO
        c.assert_closed()


def test_send_timeout(make_server):
    """A client that stops reading a large response is dropped after timeouts.send."""
    srv = make_server(timeouts={"send": 1, "keepalive": 30})
    size = 64 << 20  # far more than the kernel's socket buffers hold
    with open(srv.base / "root" / "huge.bin", "wb") as f:
        f.truncate(size)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.connect(("127.0.0.1", srv.port))
    s.sendall(request("GET", "/huge.bin"))
    time.sleep(2.5 * t.SLOW)
    s.settimeout(5 * t.SLOW)
    got = 0
    while True:
        try:
            data = s.recv(1 << 20)
        except ConnectionResetError:
            break
        except socket.timeout:
            got = size  # still open with nothing to read: never dropped
            break
        if not data:
            break
        got += len(data)
    s.close()
    assert got < size, "a stalled reader was never dropped"
    srv.assert_healthy()


def test_body_idle_timeout(make_server):
    srv = make_server(timeouts={"body": 1})
    with Conn(srv.port) as c:
        c.send(request("POST", "/hello.txt", [("Content-Length", "100")]) + b"0123456789")
        t0 = time.monotonic()
        assert c.closed(5), "a stalled request body kept the connection open"
        assert time.monotonic() - t0 < 3 * t.SLOW
    srv.assert_healthy()
