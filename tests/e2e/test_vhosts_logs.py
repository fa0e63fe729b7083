"""Name-based virtual hosts (Host and absolute-form), the access log and the error log."""

import re
import time

import pytest

import tern_e2e as t
from tern_e2e import HELLO, Conn


@pytest.mark.parametrize("host,body", [
    ("a.test", b"a\n"), ("b.test", b"b\n"), ("A.TEST", b"a\n"), ("a.test:8080", b"a\n"),
    ("www.b.test", b"b\n"), ("x.y.b.test", b"b\n"),
])
def test_vhost_by_host(server, host, body):
    r = server.get("/who.txt", host=host)
    assert r.status == 200 and r.body == body, (host, r)


@pytest.mark.parametrize("host", ["unknown.test", "localhost", "127.0.0.1", "[::1]:80"])
def test_default_server(server, host):
    r = server.get("/hello.txt", host=host)
    assert r.status == 200 and r.body == HELLO
    assert server.get("/who.txt", host=host).status == 404


def test_absolute_form_wins_over_host(server):
    with Conn(server.port) as c:
        c.send(b"GET http://b.test/who.txt HTTP/1.1\r\nHost: a.test\r\n\r\n"
               b"GET http://a.test:8080/who.txt HTTP/1.1\r\nHost: b.test\r\n\r\n"
               b"GET http://unknown.test/hello.txt HTTP/1.1\r\nHost: a.test\r\n\r\n")
        r1, r2, r3 = c.responses(3)
        assert (r1.status, r1.body) == (200, b"b\n")
        assert (r2.status, r2.body) == (200, b"a\n")
        assert (r3.status, r3.body) == (200, HELLO)


def test_absolute_form_http10(server):
    with Conn(server.port) as c:
        c.send(b"GET http://b.test/who.txt HTTP/1.0\r\n\r\n")
        r = c.response()
        assert (r.status, r.body) == (200, b"b\n")


# ---------------------------------------------------------------------------------------------
# Logs

CLF = re.compile(r'^(?P<addr>\S+) - (?P<user>\S+) \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d '
                 r'[+-]\d{4})\] "(?P<req>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
                 r'"(?P<referer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)"$')


def access_lines(server, needle, count=1):
    t.wait_for(lambda: server.read(server.access_log).count(needle) >= count)
    return [ln for ln in server.read(server.access_log).splitlines() if needle in ln]


def test_access_log_combined(server):
    r = server.get("/hello.txt?log=1", {"Referer": "http://ref.test/x", "User-Agent": "e2e-agent/1.0"})
    assert r.status == 200
    lines = access_lines(server, "/hello.txt?log=1")
    assert len(lines) == 1
    m = CLF.match(lines[0])
    assert m, lines[0]
    assert m["addr"] == "127.0.0.1" and m["user"] == "-"
    assert m["req"] == "GET /hello.txt?log=1 HTTP/1.1"
    assert m["status"] == "200" and m["bytes"] == str(len(HELLO))
    assert m["referer"] == "http://ref.test/x" and m["ua"] == "e2e-agent/1.0"
    assert re.search(r"\s[+-]\d{4}\]", lines[0])


def test_access_log_errors_and_missing_fields(server):
    server.get("/missing-for-log.txt")
    lines = access_lines(server, "/missing-for-log.txt")
    m = CLF.match(lines[0])
    assert m and m["status"] == "404" and m["referer"] == "-" and m["ua"] == "-", lines[0]


def test_access_log_escapes_quotes(server):
    server.get("/hello.txt?esc=1", {"User-Agent": 'evil" agent'})
    lines = access_lines(server, "/hello.txt?esc=1")
    assert CLF.match(lines[0]), lines[0]
    assert 'evil" agent' not in lines[0]


ERR = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(debug|info|warn|error|alert|crit)\] \S")


def test_error_log_rejected_request(server):
    before = server.read(server.error_log).count("\n")
    with Conn(server.port) as c:
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n")
        assert c.response().status == 400
    t.wait_for(lambda: server.read(server.error_log).count("\n") > before)
    new = server.read(server.error_log).splitlines()[before:]
    assert new, "no error-log line for a rejected request"
    assert any(re.match(r".*\[(info|warn)\] ", ln) for ln in new), new
    for ln in server.read(server.error_log).splitlines():
        assert ERR.match(ln), f"bad error-log line {ln!r}"


def test_access_log_off(make_server):
    srv = make_server(access_log="off")
    assert srv.get("/hello.txt").status == 200
    time.sleep(0.2)
    assert not srv.access_log.exists() or srv.read(srv.access_log) == ""
