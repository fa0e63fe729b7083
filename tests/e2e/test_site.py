"""The bundled site (www/) as `make run` serves it: every page loads and every local link works."""

import re

import tern_e2e as t

WWW = t.REPO / "www"


def test_bundled_site(make_server):
    srv = make_server(args=["serve", str(WWW), "--listen", "127.0.0.1:@PORT@", "--workers", "1"])
    pages = ["/", "/links.html"]
    seen = set()
    for page in pages:
        r = srv.get(page)
        assert r.status == 200, (page, r)
        assert r.header("Content-Type").startswith("text/html")
        for ref in re.findall(r'(?:href|src)="(/[^"#]*)"', r.body.decode()):
            seen.add(ref)
    assert {"/style.css", "/logo.png", "/big.txt", "/links.html"} <= seen
    for ref in sorted(seen):
        r = srv.get(ref)
        assert r.status == 200, (ref, r)
        path = WWW / ref.lstrip("/")
        if path.is_file():
            assert r.body == path.read_bytes(), ref
    png = srv.get("/logo.png")
    assert png.header("Content-Type") == "image/png" and png.body.startswith(b"\x89PNG\r\n\x1a\n")
    # big.txt: 64-byte numbered lines, so line 1001 is bytes 64000-64063
    r = srv.get("/big.txt", {"Range": "bytes=64000-64063"})
    assert r.status == 206 and r.body.startswith(b"001001 ") and r.body.endswith(b"\n")
