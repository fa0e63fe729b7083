"""Content codings (RFC 9110 §8.4, §12.5.3): precompressed siblings and on-the-fly gzip/br/zstd."""

import subprocess
import zlib

import pytest

import tern_e2e as t
from tern_e2e import HELLO, Conn, request


def get(server, path, ae=None, method="GET", version="HTTP/1.1"):
    hdrs = {} if ae is None else {"Accept-Encoding": ae}
    with Conn(server.port) as c:
        c.send(request(method, path, hdrs, version=version)
               + (request("GET", "/hello.txt") if version == "HTTP/1.1" else b""))
        r = c.response(head=(method == "HEAD"))
        if version == "HTTP/1.1":
            after = c.response()
            assert after.status == 200 and after.body == HELLO
    return r


def vary_ae(r):
    return "accept-encoding" in r.tokens("Vary")


def sibling(base, suffix):
    p = base / "root" / ("pre.txt" + suffix)
    if not p.exists():
        pytest.skip(f"no pre.txt{suffix}: its compressor CLI (brotli or zstd) is not installed")
    return p.read_bytes()


@pytest.mark.parametrize("ae,suffix,coding", [
    ("gzip", ".gz", "gzip"),
    ("zstd", ".zst", "zstd"),
    ("br", ".br", "br"),
    ("gzip;q=0.5, zstd;q=1.0", ".zst", "zstd"),
    ("br;q=0.1, gzip;q=0.9", ".gz", "gzip"),
    ("deflate, gzip;q=0.2", ".gz", "gzip"),
])
def test_precompressed(server, base, ae, suffix, coding):
    data = sibling(base, suffix)
    r = get(server, "/pre.txt", ae)
    assert r.status == 200, r
    assert r.header("Content-Encoding") == coding
    assert r.body == data, "the precompressed sibling must be sent as it is"
    assert r.header("Content-Length") == str(len(data))
    assert r.header("Content-Type").startswith("text/plain")
    assert vary_ae(r)
    h = get(server, "/pre.txt", ae, method="HEAD")
    assert h.header("Content-Encoding") == coding and h.header("Content-Length") == str(len(data))
    assert h.header("ETag") == r.header("ETag")


def test_precompressed_etag_differs_from_identity(server, base):
    sibling(base, ".gz")
    ident = get(server, "/pre.txt", "identity")
    gz = get(server, "/pre.txt", "gzip")
    assert ident.header("ETag") != gz.header("ETag")


@pytest.mark.parametrize("ae", [None, "identity", "gzip;q=0", "gzip;q=0, identity", "compress", ""])
def test_identity(server, files, ae):
    r = get(server, "/pre.txt", ae)
    assert r.status == 200, r
    assert r.header("Content-Encoding") in (None, "identity")
    assert r.body == files("pre.txt")
    assert vary_ae(r), "the answer depends on Accept-Encoding, so Vary must say so"


def test_gzip_q0_honoured_on_the_fly(server, files):
    r = get(server, "/style.css", "gzip;q=0")
    assert r.header("Content-Encoding") in (None, "identity")
    assert r.body == files("style.css")
    r = get(server, "/style.css", "gzip;q=0, br;q=0, zstd;q=0")
    assert r.header("Content-Encoding") in (None, "identity")


def test_on_the_fly_gzip(server, files):
    for path in ("/style.css", "/index.html", "/data.json", "/script.js"):
        r = get(server, path, "gzip")
        assert r.status == 200
        assert r.header("Content-Encoding") == "gzip", (path, r)
        assert vary_ae(r)
        assert r.chunked or r.header("Content-Length") == str(len(r.body))
        assert zlib.decompress(r.body, 16 + zlib.MAX_WBITS) == files(path.lstrip("/"))
        assert len(r.body) < len(files(path.lstrip("/")))


def test_on_the_fly_http10_not_chunked(server, files):
    with Conn(server.port) as c:
        c.send(request("GET", "/style.css", {"Accept-Encoding": "gzip"}, version="HTTP/1.0"))
        r = c.response()
        assert r.status == 200
        assert not r.chunked
        data = zlib.decompress(r.body, 16 + zlib.MAX_WBITS) if r.header("Content-Encoding") == "gzip" \
            else r.body
        assert data == files("style.css")
        c.assert_closed()


def test_on_the_fly_head(server):
    g = get(server, "/style.css", "gzip")
    h = get(server, "/style.css", "gzip", method="HEAD")
    assert h.status == 200 and h.body == b""
    assert h.header("Content-Encoding") == "gzip"
    assert vary_ae(h)
    assert h.header("ETag") == g.header("ETag")


def test_not_compressed(server, files):
    # too small, not a compressible type, or a location with compress: false
    for path in ("/hello.txt", "/image.png", "/big.bin", "/raw/r.txt"):
        r = get(server, path, "gzip, br, zstd")
        assert r.status == 200
        assert r.header("Content-Encoding") in (None, "identity"), (path, r)
        assert r.body == files(path.lstrip("/"))


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_on_the_fly_curl(server, files, coding):
    """curl decodes each coding itself (its build has brotli and zstd)."""
    feats = subprocess.run(["curl", "-V"], capture_output=True, text=True).stdout.lower()
    if coding == "br" and "brotli" not in feats or coding == "zstd" and "zstd" not in feats:
        pytest.skip(f"curl lacks {coding}")
    p = t.curl("--compressed", "-H", f"Accept-Encoding: {coding}", "-D", "-", "-o", "/dev/stderr",
               f"http://127.0.0.1:{server.port}/style.css")
    assert p.returncode == 0
    head = p.stdout.decode().lower()
    assert f"content-encoding: {coding}" in head, head
    assert p.stderr == files("style.css")


def test_on_the_fly_zstd_cli(server, files):
    if not t.have_cli("zstd"):
        pytest.skip("no zstd CLI")
    r = get(server, "/index.html", "zstd")
    assert r.header("Content-Encoding") == "zstd"
    out = subprocess.run(["zstd", "-d", "-c"], input=r.body, capture_output=True, check=True).stdout
    assert out == files("index.html")


def test_on_the_fly_preference(server):
    # equal q-values: the server picks; any of the offered ones is right
    r = get(server, "/style.css", "gzip, br, zstd")
    assert r.header("Content-Encoding") in ("gzip", "br", "zstd")
    r = get(server, "/style.css", "br;q=0.2, gzip;q=0.8, zstd;q=0.5")
    assert r.header("Content-Encoding") == "gzip"
    r = get(server, "/style.css", "*;q=0.5, gzip;q=0")
    assert r.header("Content-Encoding") in ("br", "zstd")
