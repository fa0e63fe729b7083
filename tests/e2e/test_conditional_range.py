"""Conditional requests (RFC 9110 §13) and ranges (RFC 9110 §14)."""

import re

import pytest

import tern_e2e as t
from tern_e2e import HELLO, Conn, request

PAST = "Sun, 06 Nov 1994 08:49:37 GMT"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"
# the fixture mtime in the three date formats of RFC 9110 §5.6.7
LM_FORMATS = [t.FIXED_MTIME_IMF, "Tuesday, 02-Jan-24 03:04:05 GMT", "Tue Jan  2 03:04:05 2024"]


@pytest.fixture(scope="module")
def etag(server):
    return server.get("/hello.txt").header("ETag")


def cond(server, headers, path="/hello.txt", method="GET"):
    """Sends the conditional request, then a plain GET on the same connection to prove that no
    stray body was left behind."""
    with Conn(server.port) as c:
        c.send(request(method, path, headers) + request("GET", "/hello.txt"))
        r = c.response(head=(method == "HEAD"))
        after = c.response()
        assert after.status == 200 and after.body == HELLO
    return r


def test_if_none_match(server, etag):
    r = cond(server, {"If-None-Match": etag})
    assert r.status == 304
    assert r.header("ETag") == etag
    assert "Date" in r
    assert r.header("Last-Modified") in (None, t.FIXED_MTIME_IMF)


@pytest.mark.parametrize("value", ['"nope", {e}', "*", "W/{e}", '{e},"other"'])
def test_if_none_match_forms(server, etag, value):
    r = cond(server, {"If-None-Match": value.format(e=etag)})
    assert r.status == 304, r


def test_if_none_match_mismatch(server):
    r = cond(server, {"If-None-Match": '"nope"'})
    assert r.status == 200 and r.body == HELLO


def test_if_none_match_head(server, etag):
    r = cond(server, {"If-None-Match": etag}, method="HEAD")
    assert r.status == 304


@pytest.mark.parametrize("date", LM_FORMATS)
def test_if_modified_since_formats(server, date):
    r = cond(server, {"If-Modified-Since": date})
    assert r.status == 304, (date, r)


def test_if_modified_since_earlier_or_invalid(server):
    r = cond(server, {"If-Modified-Since": PAST})
    assert r.status == 200 and r.body == HELLO
    r = cond(server, {"If-Modified-Since": "not a date"})
    assert r.status == 200 and r.body == HELLO


def test_if_none_match_wins_over_ims(server, etag):
    # §13.2.2: when If-None-Match is present, If-Modified-Since is not evaluated
    r = cond(server, {"If-None-Match": '"other"', "If-Modified-Since": t.FIXED_MTIME_IMF})
    assert r.status == 200 and r.body == HELLO
    r = cond(server, {"If-None-Match": etag, "If-Modified-Since": PAST})
    assert r.status == 304


def test_if_match(server, etag):
    r = cond(server, {"If-Match": '"nope"'})
    assert r.status == 412
    assert "Date" in r
    assert cond(server, {"If-Match": etag}).status == 200
    assert cond(server, {"If-Match": "*"}).status == 200
    assert cond(server, {"If-Match": f'"x", {etag}'}).status == 200
    assert cond(server, {"If-Match": "W/" + etag}).status == 412  # strong comparison


def test_if_unmodified_since(server):
    assert cond(server, {"If-Unmodified-Since": PAST}).status == 412
    assert cond(server, {"If-Unmodified-Since": FUTURE}).status == 200
    assert cond(server, {"If-Unmodified-Since": t.FIXED_MTIME_IMF}).status == 200


def test_if_match_wins_over_ius(server, etag):
    # §13.2.2 step 2 only applies when If-Match is absent
    assert cond(server, {"If-Match": etag, "If-Unmodified-Since": PAST}).status == 200


def test_precondition_before_none_match(server, etag):
    assert cond(server, {"If-Match": '"nope"', "If-None-Match": etag}).status == 412


# ---------------------------------------------------------------------------------------------
# Ranges

BIG = t.BIG_SIZE


@pytest.fixture(scope="module")
def big():
    return t.big_bytes()


def rng(server, value, extra=None):
    hdrs = {"Range": value}
    hdrs.update(extra or {})
    with Conn(server.port) as c:
        c.send(request("GET", "/big.bin", hdrs) + request("GET", "/hello.txt"))
        r = c.response()
        after = c.response()
        assert after.status == 200 and after.body == HELLO
    return r


@pytest.mark.parametrize("spec,first,last", [
    ("bytes=0-99", 0, 99), ("bytes=0-0", 0, 0), ("bytes=-500", BIG - 500, BIG - 1),
    ("bytes=3145000-", 3145000, BIG - 1), ("bytes=100-99999999", 100, BIG - 1),
    ("bytes=1000000-1999999", 1000000, 1999999), ("bytes=-99999999", 0, BIG - 1),
])
def test_single_range(server, big, spec, first, last):
    r = rng(server, spec)
    assert r.status == 206, r
    assert r.header("Content-Range") == f"bytes {first}-{last}/{BIG}"
    assert r.header("Content-Length") == str(last - first + 1)
    assert r.body == big[first:last + 1]
    assert r.header("Content-Type") == "application/octet-stream"
    assert "ETag" in r and "Last-Modified" in r


def parse_multipart(r):
    ctype = r.header("Content-Type")
    m = re.match(r"^multipart/byteranges;\s*boundary=\"?([^\";]+)\"?", ctype or "")
    assert m, ctype
    boundary = m.group(1).encode()
    body = r.body
    parts = []
    delim = b"--" + boundary
    assert delim + b"--" in body
    sections = body.split(delim)
    assert sections[-1].strip() in (b"--", b"--\r\n".strip())
    for sec in sections[1:-1]:
        assert sec.startswith(b"\r\n"), sec[:50]
        head, data = sec[2:].split(b"\r\n\r\n", 1)
        assert data.endswith(b"\r\n")
        data = data[:-2]
        hdrs = {}
        for ln in head.split(b"\r\n"):
            k, v = ln.split(b":", 1)
            hdrs[k.strip().lower().decode()] = v.strip().decode()
        parts.append((hdrs, data))
    return parts


def test_multiple_ranges(server, big):
    r = rng(server, "bytes=0-9,100-199,-10")
    assert r.status == 206, r
    assert "Content-Range" not in r
    parts = parse_multipart(r)
    expect = [(0, 9), (100, 199), (BIG - 10, BIG - 1)]
    assert len(parts) == len(expect)
    for (hdrs, data), (a, b) in zip(parts, expect):
        assert hdrs["content-range"] == f"bytes {a}-{b}/{BIG}"
        assert hdrs["content-type"] == "application/octet-stream"
        assert data == big[a:b + 1]
    if "Content-Length" in r:
        assert r.header("Content-Length") == str(len(r.body))


@pytest.mark.parametrize("spec", ["bytes=4000000-5000000", f"bytes={BIG}-", "bytes=-0",
                                  f"bytes={BIG}-{BIG + 10},{BIG + 100}-"])
def test_unsatisfiable(server, spec):
    r = rng(server, spec)
    assert r.status == 416, r
    assert r.header("Content-Range") == f"bytes */{BIG}"


@pytest.mark.parametrize("spec", ["bytes=abc", "items=0-5", "bytes=5-1", "bytes 0-5", "bytes=0-5;x"])
def test_invalid_range_ignored(server, big, spec):
    r = rng(server, spec)
    assert r.status == 200, r
    assert r.body == big


def test_too_many_ranges(server):
    spec = "bytes=" + ",".join(f"{i * 1000}-{i * 1000 + 9}" for i in range(20))
    r = rng(server, spec)
    assert r.status == 416, r


def test_if_range(server, big):
    etag = server.get("/big.bin").header("ETag")
    r = rng(server, "bytes=10-19", {"If-Range": etag})
    assert r.status == 206 and r.body == big[10:20]
    r = rng(server, "bytes=10-19", {"If-Range": '"stale"'})
    assert r.status == 200 and r.body == big
    r = rng(server, "bytes=10-19", {"If-Range": PAST})
    assert r.status == 200 and len(r.body) == BIG


def test_range_not_compressed(server, files):
    css = files("style.css")
    with Conn(server.port) as c:
        c.send(request("GET", "/style.css", {"Range": "bytes=0-99", "Accept-Encoding": "gzip, br, zstd"}))
        r = c.response()
    assert r.status == 206, r
    assert r.header("Content-Encoding") in (None, "identity")
    assert r.body == css[:100]
    assert r.header("Content-Range") == f"bytes 0-99/{len(css)}"


def test_head_ignores_range(server):
    # RFC 9110 §14.2: range handling is defined for GET only; a server MUST ignore Range otherwise
    with Conn(server.port) as c:
        c.send(request("HEAD", "/big.bin", {"Range": "bytes=0-99"}) + request("GET", "/hello.txt"))
        r = c.response(head=True)
        assert r.status == 200
        assert r.header("Content-Length") == str(BIG)
        assert "Content-Range" not in r
        assert c.response().body == HELLO
