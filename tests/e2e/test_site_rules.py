"""Day-one site rules (issue #14), over HTTP/1.1 (curl), HTTP/2 (curl over TLS) and HTTP/3
(tern get --http3): try_files with the SPA fallback, redirects built from placeholders, error
pages (and one that is itself missing), response fields set, added and removed, HSTS on TLS
only, the HTTP-to-HTTPS redirect that lets ACME challenges through, and the load-time errors
`tern check` gives for each kind of mistake."""

import subprocess

import pytest

import tern_e2e as t
import tls_util as u
from tls_util import certs, make_tls_server  # noqa: F401 (fixtures)


def _rules(cfg):
    srv = cfg["servers"][0]
    srv["hsts"] = {"max_age": 63072000, "include_subdomains": True}
    srv["headers"] = {"set": {"X-Frame-Options": "DENY"}, "remove": ["Server"]}
    srv["error_pages"] = {404: "/errors/404.html", 405: "/errors/missing.html"}
    srv["locations"] += [
        {"path": "/app/", "try_files": ["{path}", "/app/index.html"]},
        {"path": "/gone/", "try_files": ["{path}", "{path}/", "=410"]},
        {"path": "/old/", "redirect": {"to": "https://{host}:{port}/new{uri}", "status": 301}},
        {"path": "/tmp/", "redirect": {"to": "/elsewhere?from={path}"}},
        {"path": "/api/", "headers": {"add": {"Cache-Control": "no-store"}, "always": True}},
        # precedence: exact, then regexes in file order, then the longest prefix
        {"regex": "^/legacy/(.*)/(v[0-9]+)$",
         "redirect": {"to": "/archive/{2}/{1}", "status": 308}},
        {"regex": "^/legacy/(.*)$", "redirect": {"to": "/new/{1}", "status": 301}},
        {"exact": "/legacy/pinned", "redirect": {"to": "/pinned", "status": 302}},
        {"path": "/legacy/", "redirect": {"to": "/never"}},  # a prefix loses to the regexes
        {"regex": "^/r/([a-z]+)$", "rewrite": "/app/{1}.js"},
        {"regex": "^/hop/(.*)$", "rewrite": "/hop2/{1}"},
        {"path": "/hop2/", "rewrite": "/hello.txt"},
        {"exact": "/loop-a", "rewrite": "/loop-b"},
        {"exact": "/loop-b", "rewrite": "/loop-a"},
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory, certs):  # noqa: F811
    gen = u.module_server(tmp_path_factory, "siterules", certs.leaf, certs.leaf_key,
                          mutate=_rules)
    srv = next(gen)
    root = srv.base / "root"
    (root / "app").mkdir()
    (root / "app" / "index.html").write_bytes(b"<p>the app</p>\n")
    (root / "app" / "main.js").write_bytes(b"console.log(1)\n")
    (root / "errors").mkdir()
    (root / "errors" / "404.html").write_bytes(b"<p>not here, sorry</p>\n")
    (root / "gone").mkdir()
    yield srv
    yield from gen


def curl(*args):
    r = t.curl("-s", "-k", "-D", "-", "-o", "-", *args)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        fields.setdefault(k.strip().lower(), []).append(v.strip())
    return int(lines[0].split()[1]), fields, body


def h3(*args):
    r = subprocess.run([t.TERN_BIN, "get", "--http3", "-k", "-s", "-i", *args],
                       capture_output=True, timeout=30 * t.SLOW)
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        fields.setdefault(k.strip().lower(), []).append(v.strip())
    return int(lines[0].split()[1]), fields, body


def wires(site):
    """(name, fetch(path, *curl_args)) for each wire."""
    clear = f"http://127.0.0.1:{site.port}"
    tls = f"https://127.0.0.1:{site.tls_port}"
    return [("h1", lambda p, *a: curl("--http1.1", *a, clear + p)),
            ("h2", lambda p, *a: curl("--http2", *a, tls + p)),
            ("h3", lambda p, *a: h3(*a, tls + p))]


def test_try_files_spa_fallback(site):
    for name, fetch in wires(site):
        st, f, body = fetch("/app/deep/client/route")
        assert st == 200 and body == b"<p>the app</p>\n", name
        st, f, body = fetch("/app/main.js")
        assert st == 200 and body == b"console.log(1)\n", name
        assert f["content-type"][0].startswith("text/javascript"), (name, f)
        st, _, _ = fetch("/gone/anything")
        assert st == 410, name


def test_regex_exact_and_rewrites(site):
    for name, fetch in wires(site):
        # a capture from the decoded path goes back percent-encoded
        st, f, _ = fetch("/legacy/a%20b/c")
        assert st == 301 and f["location"] == ["/new/a%20b/c"], (name, f)
        st, f, _ = fetch("/legacy/x/y/v2")
        assert st == 308 and f["location"] == ["/archive/v2/x/y"], (name, f)  # first regex
        st, f, _ = fetch("/legacy/pinned")
        assert st == 302 and f["location"] == ["/pinned"], (name, f)  # exact beats regex
        st, _, body = fetch("/r/main")  # rewritten to /app/main.js, no round trip
        assert st == 200 and body == b"console.log(1)\n", name
        st, _, body = fetch("/hop/any/thing")  # two rewrites in a row
        assert st == 200 and body == t.HELLO, name
        st, _, _ = fetch("/loop-a")  # a loop is a 500 and a log line, not a hang
        assert st == 500, name
    assert t.wait_for(lambda: "more than 10 rewrites" in site.error_log.read_text())


def test_redirects_from_templates(site):
    for name, fetch in wires(site):
        st, f, _ = fetch("/old/a%20b/c?x=1&y=%2F")
        assert st == 301, name
        # the path and query go in as they came: the percent-encoding stays right
        port = site.port if name == "h1" else site.tls_port
        assert f["location"] == [f"https://127.0.0.1:{port}/new/old/a%20b/c?x=1&y=%2F"], f
        st, f, _ = fetch("/tmp/x")
        assert st == 302 and f["location"] == ["/elsewhere?from=/tmp/x"], (name, f)


def test_error_pages(site):
    for name, fetch in wires(site):
        st, f, body = fetch("/no/such/page")
        assert st == 404 and body == b"<p>not here, sorry</p>\n", name
        assert "etag" not in f and f["content-type"][0].startswith("text/html"), f
        # the page for 405 is missing itself: the plain 405 goes out, Allow kept
        st, f, body = fetch("/hello.txt", "-X", "DELETE")
        assert st == 405 and b"405" in body and "allow" in f, (name, f, body)


def test_fields_and_hsts(site):
    for name, fetch in wires(site):
        st, f, _ = fetch("/hello.txt")
        assert st == 200 and f["x-frame-options"] == ["DENY"], (name, f)
        assert "server" not in f, (name, f)
        if name == "h1":
            assert "strict-transport-security" not in f  # RFC 6797 §7.2: not over cleartext
        else:
            assert f["strict-transport-security"] == ["max-age=63072000; includeSubDomains"]
        # set and add only on 2xx/3xx without `always`; removal holds everywhere
        st, f, _ = fetch("/no/such/page")
        assert st == 404 and "x-frame-options" not in f and "server" not in f, (name, f)
        st, f, _ = fetch("/api/none")
        assert st == 404 and f["cache-control"] == ["no-store"], (name, f)


@pytest.fixture
def redirecting(make_tls_server, certs):  # noqa: F811
    def https_redirect(cfg):
        cfg["https_redirect"] = True
    return make_tls_server(certs.leaf, certs.leaf_key, mutate=https_redirect)


def test_https_redirect(redirecting):
    srv = redirecting
    clear = f"http://localhost:{srv.port}"
    st, f, _ = curl("--http1.1", clear + "/a/b?c=d")
    assert st == 301 and f["location"] == [f"https://localhost:{srv.tls_port}/a/b?c=d"], f
    st, f, _ = curl("--http1.1", "-X", "POST", "-d", "x", clear + "/form")
    assert st == 308 and f["location"] == [f"https://localhost:{srv.tls_port}/form"], f
    st, f, _ = curl("--http2-prior-knowledge", clear + "/x")
    assert st == 301, f
    # ACME HTTP-01 (RFC 8555 §8.3) is answered on cleartext, not redirected
    st, _, _ = curl("--http1.1", clear + "/.well-known/acme-challenge/token")
    assert st == 404
    st, _, body = curl(f"https://localhost:{srv.tls_port}/hello.txt")
    assert st == 200 and body == t.HELLO


@pytest.mark.parametrize("snippet,words", [
    ("headers: {set: {X-Bad: \"a\\x01b\"}}", "control character"),
    ("headers: {set: {\"Bad Name\": x}}", "not a valid field name"),
    ("hsts: {max_age: 600, preload: true}", "preload"),
    ("error_pages: {404: nope.html}", "starting with '/'"),
    ("error_pages: {200: /x.html}", "error_pages"),
    ("locations: [{path: /a/, redirect: {to: \"/b/{nope}\"}}]", "unknown placeholder"),
    ("locations: [{path: /a/, redirect: {to: \"/b/{1}\"}}]", "capture"),
    ("locations: [{regex: \"^/a/(x\", redirect: {to: /b/}}]", "missing closing parenthesis"),
    ("locations: [{regex: \"^/a/(x)$\", redirect: {to: \"/b/{2}\"}}]", "capture"),
    ("locations: [{path: /a/, regex: \"^/a\"}]", "one of 'path', 'exact' or 'regex'"),
    ("locations: [{exact: /a, rewrite: b}]", "starting with '/'"),
    ("locations: [{exact: /a, rewrite: /b, redirect: {to: /c}}]", "one of them"),
    ("locations: [{path: /a/, redirect: {to: /b/, status: 304}}]", "301, 302, 303, 307 or 308"),
    ("locations: [{path: /a/, try_files: [\"=404\", \"{path}\"]}]", "comes last"),
    ("locations: [{path: /a/, try_files: [relative]}]", "starting with '/'"),
])
def test_config_errors(tmp_path, snippet, words):
    conf = tmp_path / "bad.yaml"
    conf.write_text(f"root: {tmp_path}\nlisten: 127.0.0.1:1\nservers:\n  - {snippet}\n")
    r = subprocess.run([t.TERN_BIN, "check", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode != 0 and "bad.yaml:4" in r.stderr and words in r.stderr, r.stderr
    conf.write_text(f"root: {tmp_path}\nlisten: 127.0.0.1:1\nhttps_redirect: true\n")
    r = subprocess.run([t.TERN_BIN, "check", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode != 0 and "TLS listener" in r.stderr, r.stderr
