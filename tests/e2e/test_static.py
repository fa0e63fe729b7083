"""The static handler: path safety, symlinks, index files, redirects, listings, headers."""

import os
import re
import time
from email.utils import parsedate_to_datetime

import pytest

import tern_e2e as t
from tern_e2e import HELLO, Conn, request

SECRET = b"TOPSECRET"


@pytest.mark.parametrize("path", [
    "/../etc/passwd", "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2fetc/passwd",
    "/%2E%2E/etc/passwd", "/sub/../../etc/passwd", "/a%00b", "/hello.txt%00.html", "/sub%2Ffile.txt",
    "/sub%2ffile.txt", "/..%5cetc/passwd", "/%zz", "/%", "/%2", "/..", "/sub/../..",
])
def test_refused_paths(server, path):
    r = server.get(path)
    assert r.status == 400, r
    assert b"root:" not in r.body and SECRET not in r.body
    server.assert_healthy()


@pytest.mark.parametrize("target", ["../../etc/passwd", "etc/passwd", "hello.txt"])
def test_target_without_leading_slash(server, target):
    with Conn(server.port) as c:
        c.send(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        r = c.response()
        assert r.status == 400, r
    server.assert_healthy()


def test_dot_segments_inside_root(server):
    for path in ("/sub/../hello.txt", "/./hello.txt", "//hello.txt", "/sub/./../hello.txt"):
        r = server.get(path)
        assert r.status == 200 and r.body == HELLO, (path, r)


def test_percent_encoded_names(server):
    assert server.get("/with%20space.txt").body == b"space\n"
    assert server.get("/caf%C3%A9.txt").body == b"cafe\n"
    assert server.get("/h%65llo.txt").body == HELLO
    r = server.get("/hello.txt?x=1&y=%2F")  # the query is not part of the file name
    assert r.status == 200 and r.body == HELLO


def test_not_found(server):
    r = server.get("/no-such-file.txt")
    assert r.status == 404
    assert "Date" in r and "Content-Length" in r
    r = server.get("/hello.txt/")  # a file is not a directory
    assert r.status == 404


def test_symlink_inside_root(server):
    r = server.get("/inside-link.txt")
    assert r.status == 200 and r.body == HELLO


def test_symlink_outside_root_refused(server):
    for path in ("/outside-link.txt", "/outside-dir/secret.txt", "/outside-dir/"):
        r = server.get(path)
        assert r.status in (403, 404), (path, r)
        assert SECRET not in r.body


def test_symlink_outside_root_allowed(make_server):
    srv = make_server(start=False)
    srv.config["servers"][0]["locations"][0]["symlinks_outside_root"] = True
    srv.start()
    r = srv.get("/outside-link.txt")
    assert r.status == 200 and r.body == SECRET + b"\n"


def test_index_file(server):
    r = server.get("/sub/")
    assert r.status == 200 and r.body == b"<p>sub index</p>\n"
    assert r.header("Content-Type").startswith("text/html")
    r = server.get("/")
    assert r.status == 200 and r.body.startswith(b"<!doctype html>")


def test_directory_without_slash_redirects(server):
    r = server.get("/sub")
    assert r.status == 301, r
    loc = r.header("Location")
    assert loc is not None and (loc == "/sub/" or loc.endswith("://localhost/sub/")
                                or re.match(r"^https?://[^/]+/sub/$", loc)), loc


def test_listing_off_by_default(server):
    r = server.get("/nolist/")
    assert r.status == 403, r
    assert b"a.txt" not in r.body


def test_listing_on(server):
    r = server.get("/list/")
    assert r.status == 200, r
    assert r.header("Content-Type").lower().startswith("text/html")
    body = r.body.decode()
    assert "&lt;b&gt;&amp;.txt" in body
    assert "<b>&" not in body
    for name in ("alpha.txt", "beta.txt", "delta.txt", "gamma"):
        assert name in body
    assert body.index("alpha.txt") < body.index("beta.txt") < body.index("delta.txt")
    hrefs = re.findall(r'href="([^"]+)"', body)
    esc = [h for h in hrefs if "b" in h and ".txt" in h and h.lower().find("%3c") >= 0]
    assert esc, f"no percent-encoded link for '<b>&.txt' in {hrefs}"
    href = esc[0].replace("&amp;", "&")
    path = href if href.startswith("/") else "/list/" + href
    r2 = server.get(path)
    assert r2.status == 200 and r2.body == b"escaped\n"


def test_content_types(server):
    expect = {
        "/hello.txt": "text/plain", "/index.html": "text/html", "/style.css": "text/css",
        "/image.png": "image/png", "/big.bin": "application/octet-stream",
        "/unknown.xyzzy": "application/octet-stream", "/data.json": "application/json",
    }
    for path, ctype in expect.items():
        r = server.get(path)
        got = r.header("Content-Type")
        assert got is not None and got.split(";")[0].strip().lower() == ctype, (path, got)
        if ctype.startswith("text/"):
            assert re.search(r";\s*charset=utf-8", got, re.I), (path, got)
        if ctype in ("image/png", "application/octet-stream"):
            assert "charset" not in got, (path, got)


def test_static_headers(server, files):
    r = server.get("/hello.txt")
    assert r.status == 200
    assert r.header("Content-Length") == str(len(HELLO))
    assert r.header("Last-Modified") == t.FIXED_MTIME_IMF
    etag = r.header("ETag")
    assert etag and re.match(r'^"[\x21\x23-\x7e]+"$', etag), etag  # strong, not W/
    assert r.header("Server", "").startswith("tern")
    assert r.header("Accept-Ranges") == "bytes"
    date = parsedate_to_datetime(r.header("Date"))
    assert abs(date.timestamp() - time.time()) < 5
    assert re.match(r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$", r.header("Date"))
    assert "Cache-Control" not in r
    # a different file gets a different ETag
    assert server.get("/sub/file.txt").header("ETag") != etag
    # same file, same ETag
    assert server.get("/hello.txt").header("ETag") == etag


def test_cache_control_from_config(server):
    r = server.get("/cached/c.txt")
    assert r.status == 200 and r.body == b"cached\n"
    assert r.header("Cache-Control") == "max-age=3600"


def test_date_on_errors(server):
    for raw in (request("GET", "/nope"), request("POST", "/hello.txt", body=b"x"),
                b"GET /hello.txt HTTP/1.1\r\n\r\n", request("BREW", "/")):
        with Conn(server.port) as c:
            c.send(raw)
            r = c.response()
            assert r.status >= 400
            assert "Date" in r, r
            assert r.header("Content-Length") == str(len(r.body)) or r.chunked


def test_big_file_exact(server):
    r = server.get("/big.bin")
    assert r.status == 200
    assert r.header("Content-Length") == str(t.BIG_SIZE)
    assert r.body == t.big_bytes()


def test_file_changes_are_seen(server, base):
    p = base / "root" / "changing.txt"
    p.write_bytes(b"one\n")
    r1 = server.get("/changing.txt")
    assert r1.body == b"one\n"
    p.write_bytes(b"second\n")
    later = time.time() + 5
    os.utime(p, (later, later))

    def changed():
        r = server.get("/changing.txt")
        return r if r.body == b"second\n" else None

    r2 = t.wait_for(changed, timeout=3)
    assert r2, "a changed file kept being served with its old content"
    assert r2.header("ETag") != r1.header("ETag")
    assert r2.header("Content-Length") == "7"
