"""The bundled site (www/) as `make run` serves it: every page loads and every local link works."""

import json
import os
import re
import subprocess

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


def test_make_run_serves_the_connection_endpoint(tmp_path):
    """scripts/run.sh (what `make run` runs) serves www/ on both ports with the endpoint on."""
    port, tls_port = t.free_port(), t.free_port()
    while tls_port == port:
        tls_port = t.free_port()
    env = {**os.environ, "TERN_CERT_DIR": str(tmp_path / "tls")}
    out = tmp_path / "run.out"
    with open(out, "wb") as f:
        proc = subprocess.Popen([str(t.REPO / "scripts" / "run.sh"), t.TERN_BIN, str(port),
                                 str(tls_port)], stdout=f, stderr=subprocess.STDOUT, env=env)
    try:
        assert t.wait_port(tls_port, proc=proc, timeout=20 * t.SLOW), out.read_text()
        cert = str(tmp_path / "tls" / "cert.pem")
        r = t.curl("--cacert", cert, f"https://localhost:{tls_port}/.well-known/tern/connection")
        info = json.loads(r.stdout)
        assert info["http_version"] == "HTTP/2" and info["tls"]["alpn"] == "h2", info
        r = t.curl(f"http://127.0.0.1:{port}/.well-known/tern/connection")
        info = json.loads(r.stdout)
        assert info["http_version"] == "HTTP/1.1" and info["tls"] is None, info
        r = t.curl("--cacert", cert, f"https://localhost:{tls_port}/")
        assert r.stdout == (WWW / "index.html").read_bytes()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10 * t.SLOW) == 0, out.read_text()
    log = out.read_text()
    assert not any(m in log for m in t.BAD_MARKERS), log
    assert "GET /.well-known/tern/connection HTTP/2.0\" 200" in log, log
