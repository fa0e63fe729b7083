"""A real browser: headless Chromium loads the bundled site (www/) over HTTPS and HTTP/2.

Skipped when Chromium is not installed (Debian package `chromium`)."""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

import tern_e2e as t
import tls_util as u
from tls_util import certs, make_tls_server  # noqa: F401 (fixtures)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WWW = t.REPO / "www"

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="chromium is not installed (apt-get install chromium)")


def _dump_dom(url, timeout=40):
    profile = tempfile.mkdtemp(prefix="tern-chromium-")
    try:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
               "--ignore-certificate-errors", "--dump-dom", url]
        r = subprocess.run(cmd, capture_output=True, timeout=timeout * t.SLOW,
                           env={**os.environ, "HOME": profile})
        return r
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_chromium_loads_site_over_h2(make_tls_server, certs):  # noqa: F811
    def mutate(cfg):
        cfg["servers"][0]["root"] = str(WWW)

    srv = make_tls_server(certs.ec, certs.ec_key, name="browser", mutate=mutate)
    title = re.search(r"<title>(.*?)</title>", (WWW / "index.html").read_text()).group(1)
    r = _dump_dom(f"https://127.0.0.1:{srv.tls_port}/")
    dom = r.stdout.decode(errors="replace")
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    assert f"<title>{title}</title>" in dom, dom[:2000]
    log = srv.read(srv.access_log)
    # the page and its subresources, all over HTTP/2 with status 200
    for path in ("/", "/style.css", "/logo.png"):
        assert re.search(rf'"GET {re.escape(path)} HTTP/2\.0" 200 ', log), log
    assert " HTTP/1.1\" " not in log, log
