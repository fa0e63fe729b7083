"""Dotfiles: paths with a segment starting with '.' answer 404 unless a location sets
`dotfiles: true`, over HTTP/1.1 and HTTP/2 alike; /.well-known/ (RFC 8615) is served."""

import shutil
import subprocess

import pytest

import tern_e2e as t

pytestmark = pytest.mark.skipif(not shutil.which("curl"), reason="curl missing")

DOTTED = {
    ".env": b"SECRET_KEY=hunter2\n",
    ".htpasswd": b"admin:$apr1$secret\n",
    ".git/config": b"[core]\n\trepositoryformatversion = 0\n",
    "a/.hidden/x": b"hidden x\n",
    ".well-known/x": b"well known\n",
    ".well-known/.git/x": b"deep hidden\n",
    "list/.secret.txt": b"listed?\n",
}

HIDDEN = ["/.env", "/.git/config", "/a/.hidden/x", "/.htpasswd", "/.well-known/.git/x",
          "/%2eenv", "/%2Egit/config", "/a/%2ehidden/x", "/.git/", "/list/.secret.txt"]


def add_dotfiles(base):
    root = base / "root"
    for name, data in DOTTED.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


@pytest.fixture(scope="module")
def dotted(base):
    add_dotfiles(base)
    return base


def fetch(port, path, wire):
    """(status, body) for GET path over wire ("h1" or "h2", cleartext)."""
    flag = "--http1.1" if wire == "h1" else "--http2-prior-knowledge"
    r = t.curl(flag, "--path-as-is", "-o", "-", "-w", "\n%{http_code} %{http_version}",
               f"http://127.0.0.1:{port}{path}")
    assert r.returncode == 0, r.stderr
    body, _, tail = r.stdout.rpartition(b"\n")
    status, version = tail.split()
    assert version == (b"1.1" if wire == "h1" else b"2"), (path, wire, version)
    return int(status), body


@pytest.mark.parametrize("wire", ["h1", "h2"])
@pytest.mark.parametrize("path", HIDDEN)
def test_refused_by_default(dotted, server, wire, path):
    status, body = fetch(server.port, path, wire)
    assert status == 404, (path, wire, body)
    for data in DOTTED.values():
        assert data not in body


@pytest.mark.parametrize("wire", ["h1", "h2"])
def test_well_known_served(dotted, server, wire):
    status, body = fetch(server.port, "/.well-known/x", wire)
    assert (status, body) == (200, DOTTED[".well-known/x"])
    status, _ = fetch(server.port, "/.well-known/nope", wire)
    assert status == 404


def test_listing_hides_dot_entries(dotted, server):
    status, body = fetch(server.port, "/list/", "h1")
    assert status == 200 and b"alpha.txt" in body
    assert b".secret" not in body


@pytest.mark.skipif(not t.have_cli("nghttp"), reason="nghttp2-client missing")
def test_refused_nghttp(dotted, server):
    r = subprocess.run(["nghttp", "-nv", f"http://127.0.0.1:{server.port}/.env"],
                       capture_output=True, timeout=30 * t.SLOW, text=True)
    assert ":status: 404" in r.stdout, r.stdout[-2000:]
    assert "hunter2" not in r.stdout


@pytest.fixture
def served(make_server):
    srv = make_server(start=False)
    add_dotfiles(srv.base)
    for loc in srv.config["servers"][0]["locations"]:
        if loc["path"] in ("/", "/list/"):
            loc["dotfiles"] = True
    srv.start()
    return srv


@pytest.mark.parametrize("wire", ["h1", "h2"])
def test_served_when_enabled(served, wire):
    for path, name in (("/.env", ".env"), ("/%2eenv", ".env"), ("/.git/config", ".git/config"),
                       ("/a/.hidden/x", "a/.hidden/x"), ("/.well-known/.git/x", ".well-known/.git/x")):
        status, body = fetch(served.port, path, wire)
        assert (status, body) == (200, DOTTED[name]), (path, wire)
    status, body = fetch(served.port, "/list/", wire)
    assert status == 200 and b'href=".secret.txt"' in body
    assert b'href="./"' not in body
