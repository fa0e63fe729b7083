"""The command line: --version, -V, check, serve with flags, IPv6 listeners."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import tern_e2e as t
from tern_e2e import HELLO, Conn, request


def run(*args, timeout=10):
    return subprocess.run([t.TERN_BIN, *args], capture_output=True, text=True, timeout=timeout * t.SLOW)


def test_version():
    p = run("--version")
    assert p.returncode == 0
    assert p.stdout.strip() == "tern 0.1.0"


def test_build_features():
    p = run("-V")
    assert p.returncode == 0
    feats = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^([a-z0-9_-]+): (yes|no)$", line.strip())
        if m:
            feats[m.group(1)] = m.group(2)
    for name in ("gzip", "brotli", "zstd"):
        assert feats.get(name) == "yes", f"-V must list '{name}: yes': {p.stdout!r}"
    for name in ("tls", "http2", "http3"):
        assert name in feats, f"-V must list {name}: {p.stdout!r}"


def test_check_ok(tmp_path):
    t.make_tree(tmp_path)
    conf = tmp_path / "ok.yaml"
    conf.write_text(t.yaml_dump(t.base_config(tmp_path, 8080)) + "\n")
    p = run("check", "-c", str(conf))
    assert p.returncode == 0, p.stderr
    assert "configuration ok" in p.stdout


@pytest.mark.parametrize("text,line", [
    ("listen: [127.0.0.1:8080]\nworkers: 2\nno_such_key: 1\n", 3),
    ("listen: [127.0.0.1:8080]\nworkers: lots\n", 2),
    ("listen: [127.0.0.1:8080]\nlimits:\n  body_size: -5\n", 3),
    ("listen: [127.0.0.1:8080]\nservers:\n  - names: [a]\n    root: /tmp\n    bogus: 1\n", 5),
    ("listen: [127.0.0.1:8080]\nlog_level: loud\n", 2),
    ("listen: [127.0.0.1:8080\nworkers: 1\n", None),  # YAML syntax error
], ids=["unknown-key", "bad-type", "negative", "nested-unknown", "bad-enum", "yaml-syntax"])
def test_check_bad(tmp_path, text, line):
    conf = tmp_path / "bad.yaml"
    conf.write_text(text)
    p = run("check", "-c", str(conf))
    assert p.returncode != 0
    if line is not None:
        assert f"{conf}:{line}:" in p.stderr, p.stderr
    else:
        assert re.search(re.escape(str(conf)) + r":\d+:", p.stderr), p.stderr
    assert "configuration ok" not in p.stdout


def test_check_missing_file(tmp_path):
    p = run("check", "-c", str(tmp_path / "nope.yaml"))
    assert p.returncode != 0
    assert p.stderr.strip()


def test_serve_flags(make_server):
    """serve DIR --listen twice --workers 1 --access-log PATH, no config file."""
    extra_port = t.free_port()
    srv = make_server(args=["serve", "@BASE@/root", "--listen", "127.0.0.1:@PORT@", "--listen",
                            f"127.0.0.1:{extra_port}", "--workers", "1", "--access-log",
                            "@BASE@/flags-access.log", "--error-log", "@BASE@/error.log"])
    for port in (srv.port, extra_port):
        with Conn(port) as c:
            c.send(request("GET", "/hello.txt", close=True))
            r = c.response()
            assert r.status == 200 and r.body == HELLO
    log = srv.base / "flags-access.log"
    t.wait_for(lambda: srv.read(log).count("GET /hello.txt") >= 2)
    assert srv.read(log).count('"GET /hello.txt HTTP/1.1" 200') == 2


def test_serve_default_dir_is_cwd(make_server):
    srv = make_server(args=["serve", "--listen", "127.0.0.1:@PORT@", "--workers", "1"], start=False)
    srv.cwd = srv.base / "root"
    srv.start()
    r = srv.get("/hello.txt")
    assert r.status == 200 and r.body == HELLO


def test_access_log_stdout(make_server):
    srv = make_server(args=["serve", "@BASE@/root", "--listen", "127.0.0.1:@PORT@", "--workers", "1",
                            "--access-log", "stdout"])
    assert srv.get("/hello.txt").status == 200
    t.wait_for(lambda: "GET /hello.txt" in srv.read(srv.stdout_path))
    assert '"GET /hello.txt HTTP/1.1" 200' in srv.read(srv.stdout_path)


def test_flags_override_config(make_server):
    """--listen on the command line replaces the config file's listen list."""
    srv = make_server(start=False)
    srv.write_config()
    config_port = srv.port
    srv.port = t.free_port()
    srv.args = ["serve", "-c", str(srv.conf_path), "--listen", f"127.0.0.1:{srv.port}"]
    srv.start()
    r = srv.get("/hello.txt")
    assert r.status == 200 and r.body == HELLO
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", config_port), timeout=1).close()


def _have_ipv6():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _have_ipv6(), reason="no IPv6 loopback")
def test_ipv6_listen(make_server):
    port = t.free_port(socket.AF_INET6, "::1")
    make_server(args=["serve", "@BASE@/root", "--listen", f"[::1]:{port}", "--workers", "1"],
                      port=port, host="::1")
    with Conn(port, "::1") as c:
        c.send(request("GET", "/hello.txt", host="[::1]", close=True))
        r = c.response()
        assert r.status == 200 and r.body == HELLO


# --- a document root that cannot be served refuses to start ----------------------------------

def _serve_fails(args, as_nobody=False):
    """Runs `tern serve ARGS` expecting a refusal; returns stderr. As root with as_nobody, runs as
    uid/gid 65534 so permission bits apply."""
    cmd = [t.TERN_BIN, "serve", *args, "--listen", f"127.0.0.1:{t.free_port()}"]
    if as_nobody:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=10 * t.SLOW)
    elapsed = time.monotonic() - start
    assert p.returncode not in (0, None), p
    assert elapsed < 1.0 * t.SLOW, f"took {elapsed:.2f}s to refuse"
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    return lines[0]


def test_serve_missing_dir(tmp_path):
    d = tmp_path / "nonexistent"
    assert _serve_fails([str(d)]) == f"tern: root {d}: No such file or directory"


def test_serve_dir_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x\n")
    assert _serve_fails([str(f)]) == f"tern: root {f}: Not a directory"


@pytest.mark.parametrize("mode", [0o000, 0o300, 0o600], ids=["none", "no-read", "no-search"])
def test_serve_dir_without_permission(mode):
    # A root process reads any directory: as root, run tern as nobody (setpriv) instead.
    as_nobody = os.geteuid() == 0
    if as_nobody and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permission bits do not apply to root")
    parent = Path(tempfile.mkdtemp(prefix="tern-perm-"))
    try:
        parent.chmod(0o755)  # reachable by nobody
        d = parent / "closed"
        d.mkdir()
        d.chmod(0o700 | (mode >> 6) if as_nobody else mode)  # nobody gets the "other" bits
        assert _serve_fails([str(d)], as_nobody) == f"tern: root {d}: Permission denied"
        # the configuration file refuses it too, with file:line
        conf = parent / "t.yaml"
        conf.write_text(f"listen: [127.0.0.1:8080]\nroot: {d}\n")
        conf.chmod(0o644)
        cmd = [t.TERN_BIN, "check", "-c", str(conf)]
        if as_nobody:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10 * t.SLOW)
        assert p.returncode != 0
        assert f"{conf}:2: root '{d}': Permission denied" in p.stderr, p.stderr
    finally:
        (parent / "closed").chmod(0o700)
        shutil.rmtree(parent)
