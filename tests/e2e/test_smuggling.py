"""Ambiguous framing and malformed heads (RFC 9112 §6, §11.2): each is refused, the connection is
closed right after the error response, a request smuggled behind it is never answered, and the
server keeps serving fresh connections."""

import pytest

from tern_e2e import Conn

SMUGGLED = b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"

H = b"Host: localhost\r\n"

CASES = {
    "cl-and-te": (b"POST /hello.txt HTTP/1.1\r\n" + H
                  + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}),
    "te-and-cl": (b"POST /hello.txt HTTP/1.1\r\n" + H
                  + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", {400}),
    "two-cl-equal": (b"POST /hello.txt HTTP/1.1\r\n" + H
                     + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", {400}),
    "two-cl-differ": (b"POST /hello.txt HTTP/1.1\r\n" + H
                      + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", {400}),
    "cl-list": (b"POST /hello.txt HTTP/1.1\r\n" + H + b"Content-Length: 1, 1\r\n\r\nx", {400}),
    "cl-plus": (b"POST /hello.txt HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello", {400}),
    "cl-minus": (b"POST /hello.txt HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", {400}),
    "cl-hex": (b"POST /hello.txt HTTP/1.1\r\n" + H + b"Content-Length: 0x5\r\n\r\nhello", {400}),
    "cl-inner-space": (b"POST /hello.txt HTTP/1.1\r\n" + H + b"Content-Length: 5 5\r\n\r\n", {400}),
    "cl-empty": (b"POST /hello.txt HTTP/1.1\r\n" + H + b"Content-Length:\r\n\r\n", {400}),
    "cl-overflow": (b"POST /hello.txt HTTP/1.1\r\n" + H
                    + b"Content-Length: 99999999999999999999999\r\n\r\n", {400, 413}),
    "te-chunked-gzip": (b"POST /hello.txt HTTP/1.1\r\n" + H
                        + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", {400, 501}),
    "te-gzip": (b"POST /hello.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
                {400, 501}),
    "te-chunked-twice": (b"POST /hello.txt HTTP/1.1\r\n" + H
                         + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", {400, 501}),
    "te-two-fields": (b"POST /hello.txt HTTP/1.1\r\n" + H
                      + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
                      {400, 501}),
    "te-xchunked": (b"POST /hello.txt HTTP/1.1\r\n" + H
                    + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", {400, 501}),
    "te-http10": (b"POST /hello.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}),
    "obs-fold": (b"GET /hello.txt HTTP/1.1\r\n" + H + b"X-A: b\r\n c\r\n\r\n", {400}),
    "obs-fold-tab": (b"GET /hello.txt HTTP/1.1\r\n" + H + b"X-A: b\r\n\tc\r\n\r\n", {400}),
    "space-before-colon": (b"GET /hello.txt HTTP/1.1\r\nHost : localhost\r\n\r\n", {400}),
    "space-before-colon-cl": (b"POST /hello.txt HTTP/1.1\r\n" + H
                              + b"Content-Length : 5\r\n\r\nhello", {400}),
    "space-before-first-field": (b"GET /hello.txt HTTP/1.1\r\n " + H + b"\r\n", {400}),
    "bare-cr-value": (b"GET /hello.txt HTTP/1.1\r\n" + H + b"X-A: b\rc\r\n\r\n", {400}),
    "bare-cr-line-end": (b"GET /hello.txt HTTP/1.1\r\n" + H + b"X-A: b\r\r\n\r\n", {400}),
    "bare-lf": (b"GET /hello.txt HTTP/1.1\n" + H + b"\r\n", {400}),
    "nul-in-value": (b"GET /hello.txt HTTP/1.1\r\n" + H + b"X-A: b\x00c\r\n\r\n", {400}),
    "ctl-in-value": (b"GET /hello.txt HTTP/1.1\r\n" + H + b"X-A: b\x01c\r\n\r\n", {400}),
    "del-in-name": (b"GET /hello.txt HTTP/1.1\r\n" + H + b"X\x7fA: b\r\n\r\n", {400}),
    "ctl-in-target": (b"GET /hel\x01lo.txt HTTP/1.1\r\n" + H + b"\r\n", {400}),
    "empty-name": (b"GET /hello.txt HTTP/1.1\r\n" + H + b": b\r\n\r\n", {400}),
    "no-colon": (b"GET /hello.txt HTTP/1.1\r\n" + H + b"X-A b\r\n\r\n", {400}),
    "two-spaces-request-line": (b"GET  /hello.txt HTTP/1.1\r\n" + H + b"\r\n", {400}),
    "chunk-size-zz": (b"POST /hello.txt HTTP/1.1\r\n" + H
                      + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", {400}),
    "chunk-size-negative": (b"POST /hello.txt HTTP/1.1\r\n" + H
                            + b"Transfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n",
                            {400}),
    "chunk-size-overflow": (b"POST /hello.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked"
                            b"\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n", {400}),
    "chunk-size-0x": (b"POST /hello.txt HTTP/1.1\r\n" + H
                      + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", {400}),
    "chunk-missing-crlf": (b"POST /hello.txt HTTP/1.1\r\n" + H
                           + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", {400}),
    "chunk-bare-lf": (b"POST /hello.txt HTTP/1.1\r\n" + H
                      + b"Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n", {400}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_refused_and_closed(server, name):
    raw, statuses = CASES[name]
    with Conn(server.port) as c:
        c.try_send(raw + SMUGGLED)
        r = c.response()
        assert r.status in statuses, r
        assert "Date" in r
        # the only response: the smuggled request is never answered, and the server closes
        assert c.closed(), "connection left open after a framing error"
        assert c.buf == b"", f"a second response followed the error: {c.buf[:200]!r}"
    server.assert_healthy()


@pytest.mark.parametrize("value", ["a b", "exa mple.com", "[::1", "a.test:x",
                                   "a/b", "a@b", "a\tb"])
def test_invalid_host(server, value):
    with Conn(server.port) as c:
        c.send(f"GET /hello.txt HTTP/1.1\r\nHost: {value}\r\n\r\n".encode())
        r = c.response()
        assert r.status == 400, r
        c.assert_closed()
    server.assert_healthy()


def test_missing_host_11(server):
    with Conn(server.port) as c:
        c.send(b"GET /hello.txt HTTP/1.1\r\n\r\n")
        assert c.response().status == 400
        c.assert_closed()
    server.assert_healthy()


def test_two_hosts(server):
    with Conn(server.port) as c:
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n")
        assert c.response().status == 400
        c.assert_closed()
    server.assert_healthy()


def test_http10_without_host_ok(server):
    with Conn(server.port) as c:
        c.send(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        r = c.response()
        assert r.status == 200 and r.body == b"Hello, world!\n"
