"""A real browser: headless Chromium loads the bundled site (www/) over HTTPS and HTTP/2, over
HTTPS with HTTP/2 turned off, and over cleartext HTTP/1.1; the page's script reads the
connection_info endpoint and says which of them it was.

Skipped when Chromium is not installed (Debian package `chromium`)."""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

import tern_e2e as t
from tls_util import certs, make_tls_server  # noqa: F401 (fixtures)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WWW = t.REPO / "www"

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="chromium is not installed (apt-get install chromium)")


ENDPOINT = "/.well-known/tern/connection"


def _dump_dom(url, *flags, timeout=40, quic=False):
    """The DOM after the page's scripts ran (virtual time lets the fetch finish first)."""
    profile = tempfile.mkdtemp(prefix="tern-chromium-")
    try:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--enable-quic" if quic else "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
               "--ignore-certificate-errors", "--virtual-time-budget=5000", *flags,
               "--dump-dom", url]
        r = subprocess.run(cmd, capture_output=True, timeout=timeout * t.SLOW,
                           env={**os.environ, "HOME": profile})
        return r
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _site(cfg, endpoint=True):
    cfg["servers"][0]["root"] = str(WWW)
    if endpoint:
        cfg["servers"][0]["locations"].append({"path": ENDPOINT, "connection_info": True})


def _via(url, *flags, quic=False):
    """The page's "You are on ..." line as the browser rendered it, or None when hidden."""
    r = _dump_dom(url, *flags, quic=quic)
    dom = r.stdout.decode(errors="replace")
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    title = re.search(r"<title>(.*?)</title>", (WWW / "index.html").read_text()).group(1)
    assert f"<title>{title}</title>" in dom, dom[:2000]
    m = re.search(r'<p id="via" class="via"( hidden="")?>(.*?)</p>', dom)
    assert m, dom
    return None if m.group(1) else m.group(2)


def test_chromium_loads_site_over_h2(make_tls_server, certs):  # noqa: F811
    srv = make_tls_server(certs.ec, certs.ec_key, name="browser", mutate=_site)
    via = _via(f"https://127.0.0.1:{srv.tls_port}/")
    assert via and re.fullmatch(r"You are on HTTP/2 over TLS 1\.3 \(TLS_[A-Z0-9_]+\), "
                                r"from 127\.0\.0\.1\.", via), via
    log = srv.read(srv.access_log)
    # the page, its subresources and the endpoint, all over HTTP/2 with status 200
    for path in ("/", "/style.css", "/logo.png", ENDPOINT):
        assert re.search(rf'"GET {re.escape(path)} HTTP/2\.0" 200 ', log), log
    assert " HTTP/1.1\" " not in log, log


def test_chromium_https_without_h2(make_tls_server, certs):  # noqa: F811
    srv = make_tls_server(certs.ec, certs.ec_key, name="browser11", mutate=_site)
    via = _via(f"https://127.0.0.1:{srv.tls_port}/", "--disable-http2")
    assert via and re.fullmatch(r"You are on HTTP/1\.1 over TLS 1\.3 \(TLS_[A-Z0-9_]+\), "
                                r"from 127\.0\.0\.1\.", via), via
    assert re.search(rf'"GET {re.escape(ENDPOINT)} HTTP/1\.1" 200 ', srv.read(srv.access_log))


def test_chromium_cleartext_http11(make_tls_server, certs):  # noqa: F811
    srv = make_tls_server(certs.ec, certs.ec_key, name="browserh", mutate=_site)
    via = _via(f"http://127.0.0.1:{srv.port}/")
    assert via == "You are on HTTP/1.1 over cleartext TCP, from 127.0.0.1.", via


def test_chromium_without_the_endpoint(make_tls_server, certs):  # noqa: F811
    """Served without connection_info the endpoint is a 404 and the line stays hidden."""
    srv = make_tls_server(certs.ec, certs.ec_key, name="browsern",
                          mutate=lambda cfg: _site(cfg, endpoint=False))
    assert _via(f"https://127.0.0.1:{srv.tls_port}/") is None
    assert re.search(rf'"GET {re.escape(ENDPOINT)} HTTP/2\.0" 404 ', srv.read(srv.access_log))


def _spki_hash(cert):
    """base64(SHA-256(SubjectPublicKeyInfo)), as --ignore-certificate-errors-spki-list wants."""
    import base64
    import hashlib

    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", str(cert)],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_chromium_loads_site_over_h3(make_tls_server, certs):  # noqa: F811
    """Every resource of the site over HTTP/3: QUIC forced on for the origin, the self-signed
    key trusted by its SPKI hash (a browser needs the literal IP for this)."""
    out = subprocess.run([t.TERN_BIN, "-V"], capture_output=True, text=True).stdout
    if "http3: yes" not in out:
        pytest.skip("tern was built without QUIC")
    srv = make_tls_server(certs.ec, certs.ec_key, name="browser3", mutate=_site)
    via = _via(f"https://127.0.0.1:{srv.tls_port}/",
               f"--origin-to-force-quic-on=127.0.0.1:{srv.tls_port}",
               f"--ignore-certificate-errors-spki-list={_spki_hash(certs.ec)}", quic=True)
    assert via == "You are on HTTP/3 over QUIC (TLS 1.3), from 127.0.0.1.", via
    log = srv.read(srv.access_log)
    for path in ("/", "/style.css", "/logo.png", ENDPOINT):
        assert re.search(rf'"GET {re.escape(path)} HTTP/3\.0" 200 ', log), log


WS_PAGE = """<!doctype html><html><head><title>ws</title></head><body><p id="out">pending</p>
<script>
const out = document.getElementById("out");
const ws = new WebSocket("wss://" + location.host + "/ws");
ws.onopen = () => ws.send("hello through tern");
ws.onmessage = (e) => { out.textContent = "echo: " + e.data; ws.close(); };
ws.onerror = () => { out.textContent = "error"; };
</script>
<!-- the page's load (and so the DOM dump) waits for this: the origin answers it once the
     WebSocket session above has ended -->
<iframe src="/wait-ws"></iframe></body></html>
"""


def test_chromium_websocket_over_h2(make_tls_server, certs, tmp_path):  # noqa: F811
    """The browser's own WebSocket over the page's HTTP/2 connection (RFC 8441: tern offers
    extended CONNECT where a location proxies), tunnelled to an HTTP/1.1 upstream's Upgrade."""
    from origin import Origin

    origin = Origin()
    root = tmp_path / "wsroot"
    root.mkdir()
    (root / "index.html").write_text(WS_PAGE)

    def mutate(cfg):
        cfg["servers"][0]["root"] = str(root)
        cfg["servers"][0]["locations"].insert(0, {"exact": "/ws", "proxy": origin.url})
        cfg["servers"][0]["locations"].insert(0, {"exact": "/wait-ws", "proxy": origin.url})

    try:
        srv = make_tls_server(certs.ec, certs.ec_key, name="browserws", mutate=mutate)
        r = _dump_dom(f"https://127.0.0.1:{srv.tls_port}/")
        dom = r.stdout.decode(errors="replace")
        assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
        assert "echo: hello through tern" in dom, (dom, srv.read(srv.access_log))
        log = srv.read(srv.access_log)
        assert re.search(r'"CONNECT /ws HTTP/2\.0" 200 ', log), log
        ws = [rec for rec in origin.requests if rec["target"] == "/ws"]
        assert len(ws) == 1 and ws[0]["headers"]["upgrade"] == ["websocket"], origin.requests
    finally:
        origin.close()
