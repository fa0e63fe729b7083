"""Pipelining, request bodies (Content-Length and chunked), Expect: 100-continue."""

import socket
import time

import tern_e2e as t
from tern_e2e import HELLO, Conn, request


def test_pipelined_in_order(server, files):
    names = ["hello.txt", "index.html", "style.css", "sub/file.txt", "data.json", "image.png"] * 4
    reqs = []
    heads = []
    for i, n in enumerate(names):
        method = "HEAD" if i % 5 == 3 else "GET"
        heads.append(method == "HEAD")
        reqs.append(request(method, "/" + n))
    with Conn(server.port) as c:
        c.send(b"".join(reqs))
        rs = c.responses(len(reqs), heads)
        for n, head, r in zip(names, heads, rs):
            assert r.status == 200, (n, r)
            assert r.header("Content-Length") == str(len(files(n)))
            assert r.body == (b"" if head else files(n)), n
        assert not c.closed(0.2)
        assert c.buf == b""


def test_pipelined_byte_by_byte(server):
    data = request("GET", "/hello.txt") * 2
    with Conn(server.port) as c:
        for i in range(len(data)):
            c.send(data[i:i + 1])
        rs = c.responses(2)
        assert [(r.status, r.body) for r in rs] == [(200, HELLO)] * 2


def test_pipelined_flood_bounded_memory(server):
    """20000 pipelined GETs of a 3 MB file, never read: server memory must stay bounded and it must
    keep serving others."""
    before = server.rss_kb()
    flood = request("GET", "/big.bin") * 20000
    s = socket.create_connection(("127.0.0.1", server.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 3 * t.SLOW
    while sent < len(flood) and time.monotonic() < deadline:
        try:
            sent += s.send(flood[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.02)
    time.sleep(0.5 * t.SLOW)
    peak = server.rss_kb()
    server.assert_healthy()
    r = server.get("/big.bin")
    assert r.status == 200 and len(r.body) == t.BIG_SIZE
    peak = max(peak, server.rss_kb())
    s.close()
    assert peak - before < 64 * 1024, f"RSS grew from {before} kB to {peak} kB"


def test_post_content_length_stays_in_sync(server):
    body = b"x" * 300
    with Conn(server.port) as c:
        c.send(request("POST", "/hello.txt", body=body) + request("GET", "/hello.txt"))
        r1 = c.response()
        assert r1.status == 405
        assert {"get", "head"} <= r1.tokens("Allow")
        r2 = c.response()
        assert r2.status == 200 and r2.body == HELLO


def test_post_chunked_stays_in_sync(server):
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    with Conn(server.port) as c:
        c.send(request("POST", "/hello.txt", [("Transfer-Encoding", "chunked")]) + body
               + request("GET", "/hello.txt"))
        r1 = c.response()
        assert r1.status == 405
        assert {"get", "head"} <= r1.tokens("Allow")
        r2 = c.response()
        assert r2.status == 200 and r2.body == HELLO


def test_get_with_body_stays_in_sync(server):
    with Conn(server.port) as c:
        c.send(request("GET", "/hello.txt", body=b"ignored body")
               + request("GET", "/sub/file.txt"))
        r1, r2 = c.responses(2)
        assert (r1.status, r1.body) == (200, HELLO)
        assert (r2.status, r2.body) == (200, b"sub file\n")


def test_expect_100_continue_raw(server):
    body = b"y" * 100
    with Conn(server.port) as c:
        c.send(request("POST", "/hello.txt", [("Expect", "100-continue"),
                                              ("Content-Length", str(len(body)))]))
        r = c.response()
        if r.status == 100:
            assert r.version == "HTTP/1.1"
            c.send(body)
            r = c.response()
        else:
            # a final answer without 100: the server reads and discards the body, or closes
            c.try_send(body)
        assert r.status == 405
        if "close" in r.tokens("Connection"):
            c.assert_closed()
        else:
            c.send(request("GET", "/hello.txt"))
            r2 = c.response()
            assert (r2.status, r2.body) == (200, HELLO)


def test_expect_100_continue_get(server):
    with Conn(server.port) as c:
        c.send(request("GET", "/hello.txt", [("Expect", "100-continue")]))
        r = c.response(skip_1xx=True)
        assert (r.status, r.body) == (200, HELLO)
        c.send(request("GET", "/hello.txt"))
        assert c.response().status == 200


def test_expect_100_continue_curl(server, tmp_path):
    data = tmp_path / "post.bin"
    data.write_bytes(b"z" * 5000)
    t0 = time.monotonic()
    p = t.curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect: 100-continue",
               "--data-binary", f"@{data}", f"http://127.0.0.1:{server.port}/hello.txt")
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == "405"
    assert time.monotonic() - t0 < 5 * t.SLOW
    server.assert_healthy()


def test_chunked_request_over_body_limit(make_server):
    srv = make_server(limits={"body_size": 1000})
    chunk = b"x" * 500
    body = b"".join(b"1f4\r\n" + chunk + b"\r\n" for _ in range(5)) + b"0\r\n\r\n"
    with Conn(srv.port) as c:
        c.send(request("POST", "/hello.txt", [("Transfer-Encoding", "chunked")]))
        c.try_send(body)
        r = c.response()
        # 405 may come first if the server answers before reading the body; then the body must
        # still be refused (connection closed), never parsed as requests.
        assert r.status in (413, 405), r
        if r.status == 405 and "close" not in r.tokens("Connection"):
            assert c.closed(), "an oversized chunked body was accepted"
    srv.assert_healthy()


def test_content_length_over_body_limit(make_server):
    srv = make_server(limits={"body_size": 1000})
    with Conn(srv.port) as c:
        c.send(request("POST", "/hello.txt", [("Content-Length", "1001")]))
        r = c.response()
        assert r.status == 413, r
        assert "Date" in r
    with Conn(srv.port) as c:
        c.send(request("POST", "/hello.txt", body=b"q" * 1000) + request("GET", "/hello.txt"))
        r1, r2 = c.responses(2)
        assert r1.status == 405 and (r2.status, r2.body) == (200, HELLO)
    srv.assert_healthy()


def test_default_body_limit(server):
    with Conn(server.port) as c:
        c.send(request("POST", "/hello.txt", [("Content-Length", "2000000")]))
        r = c.response()
        assert r.status == 413, r
    server.assert_healthy()
