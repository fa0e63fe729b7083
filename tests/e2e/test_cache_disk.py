"""The caching proxy's disk store (`cache: {path: DIR}`; http/cache_store.c, http/cache_disk.c)
with the real binary in front of origin.py's counting origin: entries that survive a restart
and a reload, a response cut short by kill -9 never served, corrupt files removed, foreign files
left alone, eviction by max_disk_size, PURGE and invalidation unlinking the file, and the
configuration errors."""

import os
import signal
import socket
import subprocess
import time

import pytest

import tern_e2e as t
from origin import Origin, payload
from test_proxy import proxied


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


def disk_cached(make_server, origin, cache_dir, **opts):
    cache = {"path": str(cache_dir), **opts}
    return proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": cache})


def entries(cache_dir):
    """The entry files (not the temporary ones) in cache_dir."""
    return sorted(n for n in os.listdir(cache_dir) if not n.startswith("."))


def wait_entries(cache_dir, n, timeout=3.0):
    """entries(cache_dir) once it holds n files (a file is unlinked when its last reader, a
    request being torn down, lets go; a new one is renamed into place by the store's writer
    thread once complete, a moment after the client got the response), or as it is after
    timeout."""
    deadline = time.time() + timeout
    while len(entries(cache_dir)) != n and time.time() < deadline:
        time.sleep(0.02)
    return entries(cache_dir)


def restart(srv):
    assert srv.stop() == []
    srv.start()


def status_of(r):
    return r.header("Cache-Status")


def test_served_after_restart(make_server, origin, tmp_path):
    d = tmp_path / "cache"
    d.mkdir()
    srv = disk_cached(make_server, origin, d)
    r1 = srv.get("/c/a?cc=max-age%3D60&etag=%22v1%22&vary=Accept-Encoding")
    assert r1.status == 200 and r1.body == b"GET /c/a n=1 ae=-", r1
    assert status_of(r1) == "tern; fwd=uri-miss; fwd-status=200; stored"
    assert len(wait_entries(d, 1)) == 1
    big = srv.get("/c/big?cc=max-age%3D60&size=3000000")
    assert big.status == 200 and big.body == payload(3000000)
    assert len(wait_entries(d, 2)) == 2
    restart(srv)
    r2 = srv.get("/c/a?cc=max-age%3D60&etag=%22v1%22&vary=Accept-Encoding")
    assert r2.status == 200 and r2.body == r1.body, r2
    assert status_of(r2).startswith("tern; hit; ttl="), r2
    assert r2.header("ETag") == '"v1"' and r2.header("Vary") == "Accept-Encoding"
    assert int(r2.header("Age")) <= 3
    # another Accept-Encoding is another variant: the stored request fields came back too
    r3 = srv.get("/c/a?cc=max-age%3D60&etag=%22v1%22&vary=Accept-Encoding",
                 headers={"Accept-Encoding": "gzip"})
    assert r3.body == b"GET /c/a n=2 ae=gzip", r3
    b2 = srv.get("/c/big?cc=max-age%3D60&size=3000000")
    assert status_of(b2).startswith("tern; hit"), b2
    assert b2.body == payload(3000000)
    head = srv.get("/c/big?cc=max-age%3D60&size=3000000", method="HEAD")
    assert head.status == 200 and head.header("Content-Length") == "3000000"
    assert origin.count("/c/a") == 2 and origin.count("/c/big") == 1
    # and a reload with the same path keeps them
    srv.signal(signal.SIGHUP)
    time.sleep(1.0)
    assert status_of(srv.get("/c/big?cc=max-age%3D60&size=3000000")).startswith("tern; hit")
    assert origin.count("/c/big") == 1


def test_revalidation_rewrites_file(make_server, origin, tmp_path):
    d = tmp_path / "cache"
    d.mkdir()
    srv = disk_cached(make_server, origin, d)
    url = "/c/rv?cc=max-age%3D4&etag=%22e%22&size=70000"  # still fresh after the restart
    assert srv.get(url).body == payload(70000)
    before = entries(d)
    time.sleep(4.1)
    r = srv.get(url)
    assert status_of(r).startswith("tern; fwd=stale; fwd-status=304;"), r
    assert r.body == payload(70000)
    # a new file; the old one is unlinked once the request that read it is over
    # (the new file is written and renamed by the store's writer thread, a moment later)
    deadline = time.time() + 3
    while (len(entries(d)) != 1 or entries(d) == before) and time.time() < deadline:
        time.sleep(0.02)
    after = entries(d)
    assert len(after) == 1 and after != before
    restart(srv)
    r = srv.get(url)
    assert status_of(r).startswith("tern; hit"), r
    assert r.body == payload(70000)
    assert origin.count("/c/rv") == 2


def test_killed_mid_body_never_served(make_server, origin, tmp_path):
    d = tmp_path / "cache"
    d.mkdir()
    size = 40 << 20
    srv = disk_cached(make_server, origin, d, max_object_size="64m")
    url = f"/c/huge?cc=max-age%3D600&size={size}"
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(f"GET {url} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    got = b""
    while len(got) < 100000:  # the head and some of the body: the entry is being written
        got += s.recv(65536)
    deadline = time.time() + 5
    while not [n for n in os.listdir(d) if n.startswith(".tmp-")] and time.time() < deadline:
        time.sleep(0.05)
    assert [n for n in os.listdir(d) if n.startswith(".tmp-")]
    assert entries(d) == []
    srv.expect_exit = True
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    s.close()
    srv.expect_exit = False
    srv.stop()
    srv.start()
    assert os.listdir(d) == []  # the dead process's temporary file is gone
    r = srv.get(url)
    assert r.status == 200 and len(r.body) == size and r.body == payload(size)
    assert status_of(r) == "tern; fwd=uri-miss; fwd-status=200; stored"
    assert origin.count("/c/huge") == 2
    assert len(wait_entries(d, 1)) == 1


def test_corrupt_files_removed(make_server, origin, tmp_path):
    d = tmp_path / "cache"
    d.mkdir()
    srv = disk_cached(make_server, origin, d)
    for name in ("x", "y", "z"):
        srv.get(f"/c/{name}?cc=max-age%3D60&size=5000")
    files = wait_entries(d, 3)
    assert len(files) == 3
    assert srv.stop() == []
    by_key = {}
    for f in files:
        data = (d / f).read_bytes()
        by_key[[k for k in "xyz" if f"/c/{k}?".encode() in data][0]] = f
    # x: truncated; y: a header byte flipped; z: intact. Plus a file that is not tern's.
    p = d / by_key["x"]
    p.write_bytes(p.read_bytes()[:-10])
    p = d / by_key["y"]
    data = bytearray(p.read_bytes())
    data[40] ^= 0xFF
    p.write_bytes(bytes(data))
    (d / "README").write_text("not an entry")
    srv.start()
    assert sorted(entries(d)) == sorted(["README", by_key["z"]])
    # the scan runs while the configuration loads: before the error log is open
    assert "not a whole stored response" in srv.read(srv.stderr_path)
    for name, n in (("x", 2), ("y", 2), ("z", 1)):
        r = srv.get(f"/c/{name}?cc=max-age%3D60&size=5000")
        assert r.body == payload(5000)
        assert origin.count(f"/c/{name}") == n, name


def test_max_disk_size_eviction(make_server, origin, tmp_path):
    d = tmp_path / "cache"
    d.mkdir()
    srv = disk_cached(make_server, origin, d, max_disk_size="350k", max_object_size="120k")
    def total():
        return sum((d / f).stat().st_size for f in entries(d) if (d / f).exists())

    for i in range(5):
        assert srv.get(f"/c/e{i}?cc=max-age%3D60&size=100000").status == 200
        # the writer thread renames a new file into place, then inserts it, which evicts: the
        # bound holds again a moment later
        assert t.wait_for(lambda: total() <= 350 * 1024, timeout=2), total()
    assert len(wait_entries(d, 3)) == 3
    # the most recent are kept, the oldest are gone (their files unlinked)
    assert "hit" in status_of(srv.get("/c/e4?cc=max-age%3D60&size=100000"))
    assert "hit" not in status_of(srv.get("/c/e0?cc=max-age%3D60&size=100000"))
    # and the bound holds across a restart with a smaller max_disk_size
    assert srv.stop() == []
    srv.config["servers"][0]["locations"][0]["cache"]["max_disk_size"] = "150k"
    srv.start()
    assert len(entries(d)) == 1


def test_purge_and_invalidation_unlink(make_server, origin, tmp_path):
    d = tmp_path / "cache"
    d.mkdir()
    srv = disk_cached(make_server, origin, d, purge=True)
    srv.get("/c/p?cc=max-age%3D60")
    srv.get("/c/q?cc=max-age%3D60")
    assert len(wait_entries(d, 2)) == 2
    assert srv.get("/c/p?cc=max-age%3D60", method="PURGE").status == 200
    assert len(wait_entries(d, 1)) == 1
    assert srv.get("/c/q?cc=max-age%3D60", method="DELETE").status == 200
    assert wait_entries(d, 0) == []
    restart(srv)
    assert srv.get("/c/p?cc=max-age%3D60").body.endswith(b"n=2 ae=-")


def test_config_errors(make_server, origin, tmp_path):
    srv = make_server(start=False)
    missing = tmp_path / "nope"
    for cache, want in (
            ({"path": str(missing)}, "does not exist"),
            ({"path": str(tmp_path), "max_size": "1m"}, "max_disk_size"),
            ({"max_disk_size": "1m"}, "needs 'path'"),
            ({"write_queue": "1m"}, "'write_queue' needs 'path'"),
            ({"path": str(tmp_path), "write_queue": "1k"}, "write_queue")):
        srv.config["servers"][0]["locations"].insert(
            0, {"path": "/c/", "proxy": origin.url, "cache": cache})
        srv.write_config()
        p = subprocess.run([t.TERN_BIN, "check", "-c", str(srv.conf_path)], capture_output=True,
                           text=True)
        assert p.returncode != 0
        assert want in p.stderr and f"{srv.conf_path.name}:" in p.stderr, p.stderr
        srv.config["servers"][0]["locations"].pop(0)
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        srv.config["servers"][0]["locations"].insert(
            0, {"path": "/c/", "proxy": origin.url, "cache": {"path": str(ro)}})
        srv.write_config()
        p = subprocess.run([t.TERN_BIN, "check", "-c", str(srv.conf_path)], capture_output=True,
                           text=True)
        assert p.returncode != 0 and "Permission denied" in p.stderr, p.stderr


def test_writer_thread_and_queue_bound(make_server, origin, tmp_path):
    """Entry files are written by the store's writer thread ("cache-writer"), not the worker;
    a response whose bytes do not fit in its queue (write_queue) is passed on whole but not
    stored, with a log line, while a smaller one is stored."""
    srv = disk_cached(make_server, origin, tmp_path, write_queue="4k")
    small, large = "/c/wq1?cc=max-age%3D60&size=1000", "/c/wq2?cc=max-age%3D60&size=200000"
    assert srv.get(small).body == payload(1000)
    r = srv.get(small)
    assert r.body == payload(1000) and "hit" in status_of(r), r
    names = []
    for task in os.listdir(f"/proc/{srv.proc.pid}/task"):
        with open(f"/proc/{srv.proc.pid}/task/{task}/comm") as f:
            names.append(f.read().strip())
    assert "cache-writer" in names, names
    for _ in range(2):
        r = srv.get(large)
        assert r.status == 200 and r.body == payload(200000) and "hit" not in status_of(r), r
    assert origin.count("/c/wq2") == 2 and origin.count("/c/wq1") == 1
    assert "the disk writer's queue is full (write_queue)" in srv.read(srv.error_log)
    assert len(wait_entries(tmp_path, 1)) == 1
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


@pytest.mark.parametrize("framing", ["", "&chunked=1"])
def test_large_body_other_wires(make_server, origin, tmp_path, framing):
    """A disk entry's body goes out through sendfile (cleartext HTTP/1.1) and through copies
    of its file's ranges (HTTP/2 frames); a chunked upstream body is stored whole too."""
    d = tmp_path / "cache"
    d.mkdir()
    srv = disk_cached(make_server, origin, d)
    url = f"http://127.0.0.1:{srv.port}/c/big?cc=max-age%3D60&size=5000000{framing}"
    want = payload(5000000)
    for args in ([], ["--http2-prior-knowledge"], [], ["--http2-prior-knowledge"]):
        out = t.curl("-s", *args, url, timeout=60).stdout
        assert out == want
    assert origin.count("/c/big") == 1
    assert len(wait_entries(d, 1)) == 1
