"""Following a request (issue #9, #14): request ids (generated, or taken from a configured field
when acceptable; sent back and upstream), the access log as JSON lines and as a custom format,
parsed line by line for HTTP/1.1, HTTP/2 and HTTP/3 requests with hostile user agents, and
error pages as templates, over the three wires."""

import json
import re
import socket
import subprocess

import pytest

import tern_e2e as t
import tls_util as u
from origin import Origin
from tls_util import certs  # noqa: F401 (fixture)

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _observe(cfg):
    cfg["access_log"] = {"path": cfg["access_log"], "format": "json"}
    cfg["request_id"] = {"header": "X-Request-Id", "response_header": "X-Request-Id"}
    srv = cfg["servers"][0]
    srv["error_pages"] = {404: {"template": "/errors/404.html"},
                          405: {"template": "/errors/missing.html"},
                          403: {"body": "<b>{status} {reason}</b> id={request_id} at {path}"}}
    srv["locations"] += [{"path": "/private/", "deny": ["all"]}]


@pytest.fixture(scope="module")
def site(tmp_path_factory, certs):  # noqa: F811
    gen = u.module_server(tmp_path_factory, "observe", certs.leaf, certs.leaf_key,
                          mutate=_observe)
    srv = next(gen)
    root = srv.base / "root"
    (root / "errors").mkdir()
    (root / "errors" / "404.html").write_bytes(
        b"<p>{status} {reason}</p><p>id {request_id}</p><p>{path} {unknown}</p>\n")
    yield srv
    yield from gen


def _parse(out):
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        fields.setdefault(k.strip().lower(), []).append(v.strip())
    return int(lines[0].split()[1]), fields, body


def curl(*args):
    return _parse(t.curl("-s", "-k", "-D", "-", "-o", "-", *args).stdout)


def h3(*args):
    r = subprocess.run([t.TERN_BIN, "get", "--http3", "-k", "-s", "-i", *args],
                       capture_output=True, timeout=30 * t.SLOW)
    assert r.returncode == 0, r.stderr
    return _parse(r.stdout)


def wires(site):
    clear = f"http://127.0.0.1:{site.port}"
    tls = f"https://127.0.0.1:{site.tls_port}"
    return [("h1", "HTTP/1.1", lambda p, *a: curl("--http1.1", *a, clear + p)),
            ("h2", "HTTP/2.0", lambda p, *a: curl("--http2", *a, tls + p)),
            ("h3", "HTTP/3.0", lambda p, *a: h3(*a, tls + p))]


def json_lines(site, needle, count=1):
    """The access log's lines holding needle, each parsed on its own as JSON."""
    def found():
        text = site.access_log.read_bytes() if site.access_log.exists() else b""
        return [ln for ln in text.split(b"\n") if needle.encode() in ln]
    assert t.wait_for(lambda: len(found()) >= count, timeout=5 * t.SLOW), found()
    return [json.loads(ln) for ln in found()]


def test_request_id_generated_and_taken(site):
    for name, _, fetch in wires(site):
        ids = set()
        for _ in range(3):
            st, f, _ = fetch("/hello.txt")
            assert st == 200 and HEX32.match(f["x-request-id"][0]), (name, f)
            ids.add(f["x-request-id"][0])
        assert len(ids) == 3, (name, ids)  # a new one per request
        st, f, _ = fetch("/hello.txt", "-H", "X-Request-Id: trace-42.a_b")
        assert f["x-request-id"] == ["trace-42.a_b"], (name, f)
        # not a token, or too long: a made one instead
        for bad in ["has space", "a" * 65, "semi;colon", "quote\"d"]:
            st, f, _ = fetch("/hello.txt", "-H", f"X-Request-Id: {bad}")
            assert st == 200 and HEX32.match(f["x-request-id"][0]), (name, bad, f)


HOSTILE = [b'quote" and \\backslash\\', b"latin1 \xe9\xff\xfe bytes", b"tab\there",
           b"\xc3\x28 bad utf-8 \xed\xa0\x80 surrogate"]


def _raw_h1(site, path, ua):
    with t.Conn(site.port) as c:
        c.send(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\nUser-Agent: " + ua +
               b"\r\nReferer: http://x/\"y\r\n\r\n")
        return c.response()


def test_json_lines_over_three_wires(site):
    for name, version, fetch in wires(site):
        path = f"/hello.txt?json={name}"
        st, f, _ = fetch(path, "-A", 'ua "quoted" \\ back')
        assert st == 200
        (rec,) = json_lines(site, f"json={name}")
        assert rec["version"] == version and rec["method"] == "GET", rec
        assert rec["target"] == path and rec["status"] == 200 and rec["bytes"] == len(t.HELLO)
        assert rec["request_id"] == f["x-request-id"][0]
        assert rec["user_agent"] == 'ua "quoted" \\ back' and rec["remote_addr"] == "127.0.0.1"
        assert isinstance(rec["duration_us"], int) and 0 <= rec["duration_us"] < 10_000_000
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", rec["time"]), rec
        assert rec["host"] == "127.0.0.1"
        for k in ("remote_user", "referer", "cache_status", "sni"):
            assert k in rec
        if name == "h1":
            assert rec["tls_version"] is None and rec["alpn"] is None
        else:
            assert rec["tls_version"] == "TLSv1.3", rec
            assert rec["alpn"] == ("h2" if name == "h2" else "h3"), rec
        if name == "h2":
            assert rec["tls_cipher"] and rec["sni"] is None  # curl sends no SNI for an address


def test_json_lines_hostile_user_agents(site):
    for i, ua in enumerate(HOSTILE):
        r = _raw_h1(site, f"/hello.txt?hostile={i}", ua)
        assert r.status == 200
        (rec,) = json_lines(site, f"hostile={i}")  # json.loads: the line stays valid JSON
        want = ua.decode("utf-8", errors="replace")
        assert rec["user_agent"] == want, (rec["user_agent"], want)
        assert rec["referer"] == 'http://x/"y'
    for name, _, fetch in wires(site)[1:]:  # HTTP/2 and HTTP/3 carry the same bytes
        for i, ua in enumerate(HOSTILE):
            st, _, _ = fetch(f"/hello.txt?hostile{name}={i}", "-A", ua)
            assert st == 200, (name, ua)
            (rec,) = json_lines(site, f"hostile{name}={i}")
            assert rec["user_agent"] == ua.decode("utf-8", errors="replace"), (name, rec)
    # every line of the log, not only these, parses
    for ln in site.access_log.read_bytes().split(b"\n"):
        if ln:
            json.loads(ln)


def test_error_page_templates(site):
    for name, _, fetch in wires(site):
        st, f, body = fetch("/no/<such>&page")
        rid = f["x-request-id"][0]
        assert st == 404, (name, st)
        # values from the request are HTML-escaped; an unknown placeholder stays as written
        assert body == (f"<p>404 Not Found</p><p>id {rid}</p>"
                        f"<p>/no/&lt;such&gt;&amp;page {{unknown}}</p>\n").encode(), (name, body)
        assert f["content-length"] == [str(len(body))] if "content-length" in f else True
        st, f, body = fetch("/private/x")
        assert st == 403, (name, st)
        assert body == f"<b>403 Forbidden</b> id={f['x-request-id'][0]} at /private/x".encode()
        assert f["content-type"][0].startswith("text/html")
        # the template for 405 is missing: the plain 405 goes out, no loop, Allow kept
        st, f, body = fetch("/hello.txt", "-X", "DELETE")
        assert st == 405 and b"405" in body and "allow" in f, (name, f, body)
    with t.Conn(site.port) as c:  # HEAD: the template's length, no body
        c.send(b"HEAD /missing-head HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = c.response(head=True)
        assert r.status == 404 and r.body == b"" and int(r["content-length"]) > 50, r
        c.send(b"GET /missing-head HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r2 = c.response()
        assert r2.status == 404 and len(r2.body) == int(r["content-length"]), r2


def test_custom_format_and_flush(make_server):
    fmt = '$remote_addr "$request" $status $bytes ${request_id}x $$ "$user_agent" $tls_version'
    srv = make_server(start=False)
    srv.config["access_log"] = {"path": str(srv.base / "access.log"), "format": fmt,
                                "buffer": "64k", "flush": "1s"}
    srv.start()
    r = srv.get("/hello.txt?custom=1", headers={"User-Agent": 'a"b\\c\xe9'})
    assert r.status == 200
    # batched: written once the flush interval is over, not at the end of the loop iteration
    assert "custom=1" not in srv.read(srv.access_log)
    assert t.wait_for(lambda: "custom=1" in srv.read(srv.access_log), timeout=3 * t.SLOW)
    line = [ln for ln in srv.read(srv.access_log).splitlines() if "custom=1" in ln][0]
    m = re.match(r'^127\.0\.0\.1 "GET /hello\.txt\?custom=1 HTTP/1\.1" 200 (\d+) '
                 r'([0-9a-f]{32})x \$ "a\\"b\\\\c\\xe9" -$', line)
    assert m, line
    # a stop writes what is still batched
    srv.config["access_log"]["flush"] = "30s"
    srv.stop()
    srv.start()
    srv.get("/hello.txt?stop=1")
    srv.stop()
    assert "stop=1" in srv.read(srv.access_log)
    srv.start()


def test_combined_unchanged(make_server):
    srv = make_server()  # access_log: PATH
    srv.get("/hello.txt?plain=1", headers={"User-Agent": "ua"})
    assert t.wait_for(lambda: "plain=1" in srv.read(srv.access_log))
    line = [ln for ln in srv.read(srv.access_log).splitlines() if "plain=1" in ln][0]
    assert re.match(r'^127\.0\.0\.1 - - \[[^]]+\] "GET /hello\.txt\?plain=1 HTTP/1\.1" 200 \d+ '
                    r'"-" "ua"$', line), line
    r = srv.get("/hello.txt")
    assert "x-request-id" not in r  # off by default


def test_request_id_goes_upstream(make_server):
    o = Origin()
    try:
        srv = make_server(start=False)
        srv.config["request_id"] = {"header": "X-Request-Id"}
        srv.config["servers"][0]["locations"].insert(0, {"path": "/up/", "proxy": o.url})
        srv.start()
        srv.get("/up/echo", headers={"X-Request-Id": "from-client-1"})
        assert o.last()["headers"]["x-request-id"] == ["from-client-1"]
        srv.get("/up/echo", headers={"X-Request-Id": "bad value"})
        got = o.last()["headers"]["x-request-id"]
        assert len(got) == 1 and HEX32.match(got[0]), got
        srv.get("/up/echo")
        assert HEX32.match(o.last()["headers"]["x-request-id"][0])
    finally:
        o.close()


@pytest.mark.parametrize("snippet,words", [
    ("access_log: {path: /tmp/x.log, format: '$remote_addr $nope'}", "unknown variable 'nope'"),
    ("access_log: {path: /tmp/x.log, format: 'a ${status'}", "'${' without its '}'"),
    ("access_log: {path: /tmp/x.log, format: xml}", "combined, json or a format string"),
    ("access_log: {format: json}", "needs a 'path'"),
    ("access_log: {path: /tmp/x.log, flush: 2m}", "flush"),
    ("request_id: {header: 'X Request'}", "field name"),
    ("request_id: {nope: x}", "nope"),
    ("servers:\n  - root: .\n    error_pages: {404: {template: nope.html}}", "starting with '/'"),
    ("servers:\n  - root: .\n    error_pages: {404: {template: /a, body: b}}", "template"),
])
def test_config_errors(tmp_path, snippet, words):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("listen: 127.0.0.1:1\n" + snippet + "\n")
    r = subprocess.run([t.TERN_BIN, "check", "-c", str(cfg)], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode != 0
    assert re.search(r"bad\.yaml:\d+:", r.stderr + r.stdout), r.stderr
    assert words in r.stderr + r.stdout, r.stderr


def test_server_access_logs(make_server):
    """A server's own access log (its format), one turned off, the rest in the top-level log;
    USR1 reopens them all; a reload keeps writing to the same files."""
    import signal
    srv = make_server(start=False)
    a_log, b_log = srv.base / "a.log", srv.base / "b.log"
    srv.config["servers"][1]["access_log"] = {"path": str(a_log), "format": "json"}
    srv.config["servers"][2]["access_log"] = "off"
    srv.start()
    srv.get("/a.txt?vhost=a", host="a.test")
    srv.get("/b.txt?vhost=b", host="x.b.test")
    srv.get("/hello.txt?vhost=main", host="localhost")
    assert t.wait_for(lambda: "vhost=main" in srv.read(srv.access_log))
    assert t.wait_for(lambda: a_log.exists() and "vhost=a" in srv.read(a_log))
    rec = json.loads([ln for ln in srv.read(a_log).splitlines() if "vhost=a" in ln][0])
    assert rec["host"] == "a.test" and rec["target"] == "/a.txt?vhost=a"
    assert isinstance(rec["duration_us"], int)
    main = srv.read(srv.access_log)
    assert "vhost=a" not in main and "vhost=b" not in main
    assert not b_log.exists()
    a_log.rename(srv.base / "a.log.1")
    srv.signal(signal.SIGUSR1)
    assert t.wait_for(lambda: a_log.exists())
    srv.get("/a.txt?vhost=a2", host="a.test")
    assert t.wait_for(lambda: "vhost=a2" in srv.read(a_log))
    srv.signal(signal.SIGHUP)
    assert t.wait_for(lambda: "configuration reloaded" in srv.read(srv.error_log))
    srv.get("/a.txt?vhost=a3", host="a.test")
    assert t.wait_for(lambda: "vhost=a3" in srv.read(a_log))


def test_error_page_naming_a_placeholder_many_times(make_server):
    """A template that names the path many times, with a long path, is still expanded (it
    needs more room than one of each placeholder)."""
    srv = make_server(start=False)
    srv.config["servers"][0]["error_pages"] = {404: {"body": "{path}" * 40}}
    srv.start()
    path = "/" + "a" * 3000
    r = srv.get(path)
    assert r.status == 404 and r.body == path.encode() * 40
