"""The caching proxy (handler/cache, http/cache_store; RFC 9111 with RFC 9211 Cache-Status) with
the real binary in front of the recording origin of origin.py, whose /c/ paths take their
Cache-Control, ETag, Last-Modified and Vary from the query string and count their requests:
hits that never reach the origin, Age and Cache-Status, expiry, what is never stored, Vary
variants, invalidation by unsafe methods, revalidation with 304, HEAD from a stored GET,
HTTP/2 clients, large bodies and the size limits.

TERN_CACHE_DISK=1 runs every test against the disk store (`path`, a fresh directory per
location; `max_size` becomes `max_disk_size`), but the one whose subject is the memory store's
reload; test_cache_disk.py has the disk store's own tests."""

import atexit
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time

import pytest

import tern_e2e as t
from origin import Origin, payload
from test_proxy import proxied
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures


DISK = os.environ.get("TERN_CACHE_DISK") == "1"
_disk_dirs = []
atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in _disk_dirs])


def store(conf=True):
    """A location's `cache` value: conf, or conf on a fresh disk store when TERN_CACHE_DISK=1."""
    if not DISK:
        return conf
    conf = {} if conf is True else dict(conf)
    if "max_size" in conf:
        conf["max_disk_size"] = conf.pop("max_size")
    _disk_dirs.append(tempfile.mkdtemp(prefix="tern-cache-"))
    conf["path"] = _disk_dirs[-1]
    return conf


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


def committed():
    """With the disk store, a response is in the store a moment after the client has it (the
    store's writer thread renames and inserts it): wait that moment where a test depends on
    it (a fresh older entry answers meanwhile)."""
    if DISK:
        time.sleep(0.3)


def cached(make_server, origin, cache=True):
    return proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": store(cache)})


def status_of(r):
    return r.header("Cache-Status")


def stored_then_stale(srv, url):
    """Fetches url (max-age=1) into the store, waits for it to go stale, fetches it again."""
    first = srv.get(url)
    time.sleep(2.1)
    return first, srv.get(url)


def test_hit_does_not_reach_origin(make_server, origin):
    srv = cached(make_server, origin)
    r1 = srv.get("/c/a?cc=max-age%3D60")
    assert r1.status == 200, r1
    assert r1.body == b"GET /c/a n=1 ae=-"
    assert status_of(r1) == "tern; fwd=uri-miss; fwd-status=200; stored"
    r2 = srv.get("/c/a?cc=max-age%3D60")
    assert r2.status == 200 and r2.body == r1.body, r2
    assert status_of(r2).startswith("tern; hit; ttl="), r2
    ttl = int(status_of(r2).split("ttl=")[1].split(";")[0])  # "; collapsed" while committing
    assert 58 <= ttl <= 60
    assert int(r2.header("Age")) <= 2
    assert r2.header("Cache-Control") == "max-age=60"
    assert r2.header("Date")  # tern's own, as on every response
    assert origin.count("/c/a") == 1
    # another query is another key
    assert srv.get("/c/a?cc=max-age%3D61").body == b"GET /c/a n=2 ae=-"


def test_age_from_upstream_counts(make_server, origin):
    srv = cached(make_server, origin)
    srv.get("/c/age?cc=max-age%3D100")
    time.sleep(1.1)
    r = srv.get("/c/age?cc=max-age%3D100")
    assert int(r.header("Age")) >= 1
    assert int(status_of(r).split("ttl=")[1]) <= 99


def test_max_age_expiry(make_server, origin):
    srv = cached(make_server, origin)
    assert srv.get("/c/exp?cc=max-age%3D1").body.endswith(b"n=1 ae=-")
    assert "hit" in status_of(srv.get("/c/exp?cc=max-age%3D1"))
    time.sleep(2.1)
    r = srv.get("/c/exp?cc=max-age%3D1")
    assert r.body.endswith(b"n=2 ae=-"), r
    # stale without validators: fetched again and stored anew
    assert status_of(r) == "tern; fwd=stale; fwd-status=200; stored"
    assert origin.count("/c/exp") == 2


@pytest.mark.parametrize("cc,detail", [("no-store", "no-store"), ("private", "private")])
def test_not_stored(make_server, origin, cc, detail):
    srv = cached(make_server, origin)
    for i in (1, 2):
        r = srv.get(f"/c/{cc}?cc={cc}")
        assert r.body.endswith(b"n=%d ae=-" % i), r
        assert status_of(r) == f"tern; fwd=uri-miss; fwd-status=200; detail={detail}"
    assert origin.count(f"/c/{cc}") == 2


def test_no_freshness_not_stored(make_server, origin):
    srv = cached(make_server, origin)
    srv.get("/c/plain")
    r = srv.get("/c/plain")
    assert r.body.endswith(b"n=2 ae=-")
    assert "stored" not in status_of(r)


def test_authorization_bypasses(make_server, origin):
    srv = cached(make_server, origin)
    srv.get("/c/auth?cc=max-age%3D60")
    r = srv.get("/c/auth?cc=max-age%3D60", headers={"Authorization": "Basic eDp5"})
    assert r.body.endswith(b"n=2 ae=-"), r
    assert status_of(r) == "tern; fwd=bypass; fwd-status=200; detail=authorization"
    # and a response to it is not stored either
    assert "hit" in status_of(srv.get("/c/auth?cc=max-age%3D60"))
    assert origin.count("/c/auth") == 2


def test_request_no_store_and_no_cache(make_server, origin):
    srv = cached(make_server, origin)
    srv.get("/c/rq?cc=max-age%3D60")
    r = srv.get("/c/rq?cc=max-age%3D60", headers={"Cache-Control": "no-store"})
    assert r.body.endswith(b"n=2 ae=-") and "fwd=bypass" in status_of(r)
    # no-cache must validate; without validators that is a new fetch, stored again
    r = srv.get("/c/rq?cc=max-age%3D60", headers={"Cache-Control": "no-cache"})
    assert r.body.endswith(b"n=3 ae=-") and "fwd=stale" in status_of(r)
    committed()
    r = srv.get("/c/rq?cc=max-age%3D60")
    assert r.body.endswith(b"n=3 ae=-") and "hit" in status_of(r)


def test_only_if_cached(make_server, origin):
    srv = cached(make_server, origin)
    r = srv.get("/c/oic?cc=max-age%3D60", headers={"Cache-Control": "only-if-cached"})
    assert r.status == 504 and origin.count("/c/oic") == 0


def test_vary_keeps_variants(make_server, origin):
    srv = cached(make_server, origin)
    url = "/c/v?cc=max-age%3D60&vary=Accept-Encoding"
    gz = srv.get(url, headers={"Accept-Encoding": "gzip"})
    br = srv.get(url, headers={"Accept-Encoding": "br"})
    assert gz.body == b"GET /c/v n=1 ae=gzip" and br.body == b"GET /c/v n=2 ae=br"
    assert "fwd=vary-miss" in status_of(br)
    for _ in range(2):
        r = srv.get(url, headers={"Accept-Encoding": "gzip"})
        assert r.body == gz.body and "hit" in status_of(r)
        r = srv.get(url, headers={"Accept-Encoding": "br"})
        assert r.body == br.body and "hit" in status_of(r)
    none = srv.get(url)
    assert none.body == b"GET /c/v n=3 ae=-"
    assert origin.count("/c/v") == 3


def test_post_invalidates(make_server, origin):
    srv = cached(make_server, origin)
    srv.get("/c/p?cc=max-age%3D60")
    srv.get("/c/other?cc=max-age%3D60")
    assert "hit" in status_of(srv.get("/c/p?cc=max-age%3D60"))
    r = srv.get("/c/p?cc=max-age%3D60&loc=/c/other%3Fcc%3Dmax-age%253D60", method="POST",
                body=b"x")
    assert r.status == 200 and "fwd=method" in status_of(r)
    # POST went to another target (its own query): /c/p?cc=... itself stays
    assert "hit" in status_of(srv.get("/c/p?cc=max-age%3D60"))
    # but the same-origin Location named /c/other?cc=max-age%3D60: gone
    r = srv.get("/c/other?cc=max-age%3D60")
    assert "hit" not in status_of(r) and r.body.endswith(b"n=2 ae=-")
    r = srv.get("/c/p?cc=max-age%3D60", method="DELETE")
    r = srv.get("/c/p?cc=max-age%3D60")
    assert "hit" not in status_of(r), r
    # a failed unsafe request invalidates nothing
    srv.get("/c/p?cc=max-age%3D60&status=500", method="POST", body=b"x")
    assert "hit" in status_of(srv.get("/c/p?cc=max-age%3D60"))


def test_invalidation_while_filling(make_server, origin):
    """An unsafe method's invalidation (RFC 9111 §4.4) that comes while a GET's response is
    still being stored (its client reads slowly) keeps that response out of the store: the
    next GET is a miss, not what was invalidated."""
    srv = cached(make_server, origin, cache={"max_object_size": "32m", "max_size": "64m"})
    url = "/c/inv?cc=max-age%3D60&size=20000000"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * t.SLOW) as s:
        s.sendall(f"GET {url} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        got = s.recv(65536)
        assert got.startswith(b"HTTP/1.1 200"), got[:100]
        r = srv.get("/c/inv?cc=max-age%3D60&size=20000000", method="DELETE")
        assert r.status == 200 and "fwd=method" in status_of(r), r
        head, _, rest = got.partition(b"\r\n\r\n")
        n = len(rest)
        while n < 20000000:
            d = s.recv(1 << 20)
            assert d, n
            n += len(d)
    committed()
    r = srv.get(url)
    assert r.status == 200 and len(r.body) == 20000000 and "hit" not in status_of(r), r
    assert origin.count("/c/inv") == 3  # GET, DELETE, GET


def test_head_from_cached_get(make_server, origin):
    srv = cached(make_server, origin)
    body = srv.get("/c/h?cc=max-age%3D60").body
    committed()  # a HEAD does not wait for a GET's flight
    r = srv.get("/c/h?cc=max-age%3D60", method="HEAD")
    assert r.status == 200 and r.body == b"" and "hit" in status_of(r), r
    assert int(r.header("Content-Length")) == len(body)
    assert origin.count("/c/h") == 1


def test_revalidation_etag(make_server, origin):
    srv = cached(make_server, origin)
    url = "/c/e?cc=max-age%3D1&etag=%22v1%22"
    first, r = stored_then_stale(srv, url)
    assert r.status == 200 and r.body == first.body, r
    assert status_of(r).startswith("tern; fwd=stale; fwd-status=304; ttl="), r
    assert r.header("ETag") == '"v1"'
    assert origin.last()["headers"]["if-none-match"] == ['"v1"']
    assert "hit" in status_of(srv.get(url))  # refreshed: fresh again
    assert origin.count("/c/e") == 2


def test_revalidation_last_modified(make_server, origin):
    srv = cached(make_server, origin)
    url = "/c/lm?cc=max-age%3D60&lm=1000"
    first = srv.get(url)
    r = srv.get(url, headers={"Cache-Control": "max-age=0"})
    assert r.status == 200 and r.body == first.body, r
    assert "fwd=stale; fwd-status=304" in status_of(r)
    assert origin.last()["headers"]["if-modified-since"] == [first.header("Last-Modified")]


def test_http2_hits(make_server, origin):
    srv = cached(make_server, origin)
    url = f"http://127.0.0.1:{srv.port}/c/h2?cc=max-age%3D60"
    outs = [t.curl("-si", "--http2-prior-knowledge", url).stdout for _ in range(3)]
    assert all(o.startswith(b"HTTP/2 200") for o in outs), outs
    assert b"cache-status: tern; hit" in outs[1].lower() and b"age: " in outs[2].lower()
    assert origin.count("/c/h2") == 1


@pytest.mark.parametrize("framing", ["", "&chunked=1"])
def test_large_body_intact(make_server, origin, framing):
    srv = cached(make_server, origin)
    url = f"http://127.0.0.1:{srv.port}/c/big?cc=max-age%3D60&size=5000000{framing}"
    want = payload(5000000)
    for args in ([], ["--http2-prior-knowledge"], []):
        out = t.curl("-s", *args, url, timeout=60).stdout
        assert out == want
    assert origin.count("/c/big") == 1


def test_max_object_size(make_server, origin):
    srv = cached(make_server, origin, cache={"max_size": "1m", "max_object_size": "100k"})
    for framing in ("", "&chunked=1"):
        for size, stored in ((102400, True), (102401, False)):
            url = f"/c/m{size}{framing[1:2]}?cc=max-age%3D60&size={size}{framing}"
            srv.get(url)
            r = srv.get(url)
            assert r.body == payload(size)
            assert ("hit" in status_of(r)) == stored, (url, r)


def test_max_size_evicts(make_server, origin):
    srv = cached(make_server, origin, cache={"max_size": "300k", "max_object_size": "100k"})
    for i in range(5):
        srv.get(f"/c/lru{i}?cc=max-age%3D60&size=90000")
    # the oldest went to make room; the newest are there
    assert "hit" in status_of(srv.get("/c/lru4?cc=max-age%3D60&size=90000"))
    assert "hit" not in status_of(srv.get("/c/lru0?cc=max-age%3D60&size=90000"))


def test_config_errors(make_server, origin):
    srv = make_server(start=False)
    srv.config["servers"][0]["locations"].insert(0, {"path": "/x/", "cache": True})
    srv.write_config()
    r = t.subprocess.run([t.TERN_BIN, "check", "-c", str(srv.conf_path)], capture_output=True)
    assert r.returncode != 0 and b"'cache' needs 'proxy'" in r.stderr + r.stdout


def test_conditional_hit(make_server, origin):
    srv = cached(make_server, origin)
    url = "/c/cond?cc=max-age%3D60&etag=%22e1%22&lm=100"
    first = srv.get(url)
    r = srv.get(url, headers={"If-None-Match": '"e1"'})
    assert r.status == 304 and r.body == b"" and "hit" in status_of(r), r
    assert r.header("ETag") == '"e1"'
    r = srv.get(url, headers={"If-None-Match": '"other"'})
    assert r.status == 200 and r.body == first.body
    r = srv.get(url, headers={"If-Modified-Since": first.header("Last-Modified")})
    assert r.status == 304, r
    assert origin.count("/c/cond") == 1


def test_stale_if_error(make_server, origin):
    srv = cached(make_server, origin)
    url = "/c/sie?cc=max-age%3D1%2C%20stale-if-error%3D60&fail=1"
    first, r = stored_then_stale(srv, url)  # the origin answers 500: the stale one instead
    assert r.status == 200 and r.body == first.body, r
    assert status_of(r).startswith("tern; fwd=stale; fwd-status=500; ttl=-"), r
    # without stale-if-error the 500 goes through
    _, r = stored_then_stale(srv, "/c/nosie?cc=max-age%3D1&fail=1")
    assert r.status == 500 and "fwd=stale; fwd-status=500" in status_of(r), r


def test_stale_if_error_origin_down(make_server, origin):
    srv = proxied(make_server, {"path": "/c/", "proxy": {"upstreams": [origin.url],
                                                         "keepalive": 0}, "cache": store()})
    url = "/c/down?cc=max-age%3D1%2C%20stale-if-error%3D60"
    first = srv.get(url)
    time.sleep(2.1)
    origin.sock.shutdown(socket.SHUT_RDWR)  # wakes its accept(): the port refuses from now on
    origin.close()
    r = srv.get(url)
    assert r.status == 200 and r.body == first.body, r
    assert status_of(r).startswith("tern; fwd=stale; ttl=-"), r
    r = srv.get("/c/never")
    assert r.status == 502 and status_of(r) == "tern; fwd=uri-miss", r


@pytest.mark.skipif(DISK, reason="a disk store keeps its entries: test_cache_disk.py")
def test_reload_starts_empty(make_server, origin):
    srv = cached(make_server, origin)
    url = "/c/rl?cc=max-age%3D600&size=300000"
    srv.get(url)
    assert "hit" in status_of(srv.get(url))
    srv.config["servers"][0]["locations"][0]["headers"] = {"set": {"X-Gen": "2"}}
    srv.write_config()
    srv.signal(signal.SIGHUP)
    assert t.wait_for(lambda: srv.get("/c/other?cc=no-store").header("X-Gen") == "2", 5)
    r = srv.get(url)
    assert r.body == payload(300000) and "hit" not in status_of(r), r
    assert "hit" in status_of(srv.get(url))


def test_access_log_shows_cache_status(make_server, origin):
    srv = cached(make_server, origin)
    srv.get("/c/log?cc=max-age%3D60")
    srv.get("/c/log?cc=max-age%3D60")
    srv.get("/hello.txt")

    def lines():
        return [ln for ln in srv.read(srv.access_log).splitlines() if ln]

    assert t.wait_for(lambda: len(lines()) >= 3, 5)
    log = lines()  # two workers: their batches may come in either order
    cached_lines = [ln for ln in log if "/c/log" in ln]
    assert any(ln.endswith('"tern; fwd=uri-miss; fwd-status=200; stored"')
               for ln in cached_lines), log
    assert any(re.search(r'" "tern; hit; ttl=\d+"$', ln) for ln in cached_lines), log
    other = [ln for ln in log if "/hello.txt" in ln]
    assert other and "tern;" not in other[0]  # not a caching location: the line as before


def test_concurrent_hits_and_evictions(make_server, origin):
    """Two workers share one store that is too small for the working set: entries are evicted
    and replaced while other clients are still being sent them; every body arrives intact."""
    import random
    import threading

    srv = cached(make_server, origin, cache={"max_size": "300k", "max_object_size": "100k"})
    want = payload(60000)
    bad = []

    def client(seed):
        rnd = random.Random(seed)
        for _ in range(25):
            k = rnd.randrange(12)
            r = srv.get(f"/c/conc{k}?cc=max-age%3D60&size=60000")
            if r.status != 200 or r.body != want:
                bad.append((k, r))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not bad, bad[:2]
    assert sum(origin.count(f"/c/conc{k}") for k in range(12)) < 150


def test_http3_hits(make_tls_server, certs, origin, tmp_path):  # noqa: F811
    if shutil.which("gtlsclient") is None or "http3: yes" not in t.subprocess.run(
            [t.TERN_BIN, "-V"], capture_output=True, text=True).stdout:
        pytest.skip("no HTTP/3 here")

    def front(cfg):
        cfg["servers"][0]["locations"].insert(0, {"path": "/c/", "proxy": origin.url,
                                                  "cache": store()})

    srv = make_tls_server(certs.ec, certs.ec_key, mutate=front)
    url = f"https://127.0.0.1:{srv.tls_port}/c/h3?cc=max-age%3D60&size=300000"
    for i in range(2):
        out = tmp_path / f"dl{i}"
        out.mkdir()
        r = t.subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close", "--download",
                              str(out), "127.0.0.1", str(srv.tls_port), url],
                             capture_output=True, timeout=30 * t.SLOW)
        assert r.returncode == 0, r.stderr
        files = list(out.iterdir())
        assert len(files) == 1 and files[0].read_bytes() == payload(300000), files
    assert origin.count("/c/h3") == 1


@pytest.mark.parametrize("cc,stored", [("max-age%3D60", True), ("no-store", False)])
def test_collapsed_misses(make_server, origin, cc, stored):
    """Concurrent misses of one key on one worker: one goes upstream, the others wait for its
    response in the store; when it is not stored they all go upstream after it (once)."""
    import threading

    srv = proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": store()}, workers=1)
    url = f"/c/col{stored}?cc={cc}&delay=1&size=100000"
    results = []

    def client():
        results.append(srv.get(url))

    threads = [threading.Thread(target=client) for _ in range(5)]
    for th in threads:
        th.start()
        time.sleep(0.05)
    for th in threads:
        th.join()
    assert all(r.status == 200 and r.body == payload(100000) for r in results), results
    statuses = sorted(status_of(r) for r in results)
    if stored:
        assert origin.count(f"/c/col{stored}") == 1, statuses
        assert sum("hit" in s and "collapsed" in s for s in statuses) == 4, statuses
    else:
        assert origin.count(f"/c/col{stored}") == 5, statuses
        assert sum("collapsed" in s for s in statuses) == 4, statuses


@pytest.mark.parametrize("disk", [False, True])
def test_collapsed_across_workers(make_server, origin, tmp_path, disk):
    """Concurrent misses of one key on four worker threads (SO_REUSEPORT spreads the twelve
    connections over them): one upstream fetch, the others wait for it whatever their worker,
    woken through their own loop; with the disk store too."""
    import threading

    cache = {"path": str(tmp_path)} if disk else True
    srv = proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": cache}, workers=4)
    url = "/c/xw?cc=max-age%3D60&delay=1&size=200000"
    results = []
    barrier = threading.Barrier(12)

    def client():
        with srv.conn(timeout=10) as c:
            barrier.wait()
            c.send(t.request("GET", url, close=True))
            results.append(c.response())

    threads = [threading.Thread(target=client) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 12
    assert all(r.status == 200 and r.body == payload(200000) for r in results), results
    statuses = [status_of(r) for r in results]
    assert origin.count("/c/xw") == 1, statuses
    assert sum("hit" in s and "collapsed" in s for s in statuses) == 11, statuses


def test_collapsed_across_workers_not_stored(make_server, origin):
    """The one fetch's response is not stored (no-store): the waiters of every worker go
    upstream after it, each on its own, and all get the right answer."""
    import threading

    srv = proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": store()}, workers=4)
    url = "/c/xn?cc=no-store&delay1=1&size=30000"  # the leader slow: all others wait
    results = []
    barrier = threading.Barrier(8)

    def client():
        with srv.conn(timeout=10) as c:
            barrier.wait()
            c.send(t.request("GET", url, close=True))
            results.append(c.response())

    threads = [threading.Thread(target=client) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 8
    assert all(r.status == 200 and r.body == payload(30000) for r in results), results
    statuses = [status_of(r) for r in results]
    assert origin.count("/c/xn") == 8, statuses
    assert sum("collapsed" in s and "hit" not in s for s in statuses) == 7, statuses


def test_collapsed_waiter_goes_away(make_server, origin):
    import threading

    srv = proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": store()}, workers=1)
    url = "/c/gone?cc=max-age%3D60&delay=1"
    results = []
    leader = threading.Thread(target=lambda: results.append(srv.get(url)))
    leader.start()
    time.sleep(0.2)
    for _ in range(3):  # waiters whose clients leave before the leader's answer
        c = srv.conn()
        c.send(t.request("GET", url))
        time.sleep(0.05)
        c.close()
    leader.join()
    assert results[0].status == 200 and "stored" in status_of(results[0])
    assert "hit" in status_of(srv.get(url))
    assert origin.count("/c/gone") == 1
    srv.assert_healthy()


def test_upgrade_bypasses(make_server, origin):
    srv = cached(make_server, origin)
    srv.get("/c/up?cc=max-age%3D60")
    r = srv.get("/c/up?cc=max-age%3D60",
                headers={"Connection": "upgrade", "Upgrade": "websocket"})
    assert r.status == 200 and status_of(r).endswith("detail=upgrade"), r
    assert origin.count("/c/up") == 2


def test_collapsed_wait_is_bounded(make_server, origin):
    """A waiter whose leader is slower than 5 s goes upstream itself."""
    import threading

    srv = proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": store()}, workers=1)
    url = "/c/slow?cc=max-age%3D60&delay1=7"  # only the first request is slow

    def get():
        with srv.conn(timeout=20) as c:
            c.send(t.request("GET", url, close=True))
            return c.response()

    results = []
    leader = threading.Thread(target=lambda: results.append(get()))
    leader.start()
    time.sleep(0.3)
    start = time.monotonic()
    r = get()
    waited = time.monotonic() - start
    leader.join()
    assert r.status == 200 and r.body.endswith(b"n=2 ae=-"), r
    assert "collapsed" in status_of(r) and "hit" not in status_of(r), r
    assert 4.5 < waited < 6.5, waited  # gave up waiting, before the leader's answer
    assert results[0].status == 200 and results[0].body.endswith(b"n=1 ae=-")


def wait_count(origin, path, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while origin.count(path) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return origin.count(path)


def test_stale_while_revalidate(make_server, origin):
    """Within stale-while-revalidate (RFC 5861 §3) every request gets the stale response at once
    and one background revalidation runs; without it a request revalidates and the others of
    any worker wait for that revalidation."""
    import threading

    srv = proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": store()}, workers=1)
    for swr in (True, False):
        cc = "max-age%3D2%2C%20stale-while-revalidate%3D30" if swr else "max-age%3D2"
        url = f"/c/swr{swr}?cc={cc}&etag=%22s%22&delay=0.8&delayafter=1"
        first = srv.get(url)
        time.sleep(2.1)
        results = []
        leader = threading.Thread(target=lambda: results.append(srv.get(url)))
        start = time.monotonic()
        leader.start()
        time.sleep(0.2)
        r = srv.get(url)
        waited = time.monotonic() - start
        leader.join()
        assert r.status == 200 and r.body == first.body, r
        if swr:
            for x in (r, results[0]):
                assert status_of(x).startswith("tern; hit; ttl="), (waited, x)
                assert int(status_of(x).split("ttl=")[1]) <= 0  # served stale
            assert waited < 0.6, waited
            assert wait_count(origin, f"/c/swr{swr}", 2) == 2
        else:
            assert "fwd=stale; fwd-status=304" in status_of(results[0]), results[0]
            assert waited > 0.6 and "hit" in status_of(r) and "collapsed" in status_of(r), r
        time.sleep(1.0)
        assert origin.count(f"/c/swr{swr}") == 2  # one revalidation for both


@pytest.mark.parametrize("disk", [False, True])
def test_stale_while_revalidate_background(make_server, origin, tmp_path, disk):
    """RFC 5861 §3 in the background: the stale response goes out at once, one revalidation of
    tern's own (with the stored validator) refreshes the entry, requests meanwhile start no
    other, and the next request finds it fresh; a 200 to the revalidation replaces it."""
    cache = {"path": str(tmp_path)} if disk else True
    srv = proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": cache}, workers=2)
    cc = "max-age%3D4%2C%20stale-while-revalidate%3D60"  # fresh long enough to see it fresh
    url = f"/c/bg?cc={cc}&etag=%22b%22&delay=1&delayafter=1&size=50000"
    assert srv.get(url).body == payload(50000)
    time.sleep(4.1)
    for _ in range(3):  # stale at once; one background revalidation for all
        start = time.monotonic()
        r = srv.get(url)
        assert time.monotonic() - start < 0.6
        assert r.status == 200 and r.body == payload(50000), r
        assert status_of(r).startswith("tern; hit; ttl="), r
        assert int(status_of(r).split("ttl=")[1]) <= 0, r
    assert wait_count(origin, "/c/bg", 2) == 2
    assert origin.last()["headers"].get("if-none-match") == ['"b"']
    time.sleep(1.3)  # the revalidation's 304 is in after its 1 s delay
    r = srv.get(url)
    assert status_of(r).startswith("tern; hit; ttl=") and int(status_of(r).split("ttl=")[1]) > 0, r
    assert r.body == payload(50000)
    assert origin.count("/c/bg") == 2
    # no validator: the background request is a plain GET, whose 200 replaces the entry
    url2 = f"/c/bg2?cc={cc}"
    assert srv.get(url2).body.endswith(b"n=1 ae=-")
    time.sleep(4.1)
    r = srv.get(url2)
    assert r.body.endswith(b"n=1 ae=-") and int(status_of(r).split("ttl=")[1]) <= 0, r
    assert wait_count(origin, "/c/bg2", 2) == 2
    time.sleep(0.3)
    r = srv.get(url2)
    assert r.body.endswith(b"n=2 ae=-") and "hit" in status_of(r), r
    assert origin.count("/c/bg2") == 2


@pytest.mark.parametrize("sig", ["TERM", "QUIT"])
def test_stop_during_background_revalidation(make_server, origin, sig):
    """A stop while a background revalidation waits for a slow origin: a fast stop (TERM)
    cancels it, a graceful one (QUIT) lets it finish; either way a clean exit, nothing leaked."""
    srv = proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": store()}, workers=1)
    url = ("/c/stop?cc=max-age%3D1%2C%20stale-while-revalidate%3D60&etag=%22t%22"
           "&delay=2&delayafter=1")
    srv.get(url)
    time.sleep(1.1 + 1.0)
    assert int(status_of(srv.get(url)).split("ttl=")[1]) <= 0
    assert wait_count(origin, "/c/stop", 2) == 2  # the revalidation waits for its answer
    start = time.monotonic()
    srv.signal(getattr(signal, "SIG" + sig))
    rc = srv.wait(15)
    took = time.monotonic() - start
    assert rc == 0, rc
    if sig == "TERM":
        assert took < 1.5, took
    else:
        assert took > 1.0, took  # it waited for the revalidation's answer
        assert "background fetch of /c/stop" in srv.read(srv.error_log)
    srv.expect_exit = True


def test_purge(make_server, origin, tmp_path):
    """cache: {purge: true}: PURGE removes a stored URL (200; 404 when nothing was stored) and is
    never forwarded; the location's auth guards it; without purge it is forwarded as any
    other method."""
    import subprocess as sp
    h = sp.run(["openssl", "passwd", "-6", "pw"], capture_output=True, check=True)
    users = tmp_path / "purgers"
    users.write_text("ops:" + h.stdout.decode().strip() + "\n")
    srv = proxied(make_server,
                  {"path": "/c/", "proxy": origin.url, "cache": store({"purge": True})},
                  {"path": "/g/", "proxy": origin.url + "/c/", "cache": store({"purge": True}),
                   "auth": {"scheme": "basic", "realm": "ops", "user_file": str(users)}},
                  {"path": "/n/", "proxy": origin.url + "/c/", "cache": store()})
    url = "/c/p?cc=max-age%3D60"
    srv.get(url)
    assert status_of(srv.get(url)).startswith("tern; hit")
    n = origin.count("/c/p")
    r = srv.get(url, method="PURGE")
    assert r.status == 200, r
    assert origin.count("/c/p") == n  # answered here
    assert "hit" not in status_of(srv.get(url))  # a miss again: fetched anew
    assert origin.count("/c/p") == n + 1
    committed()
    srv.get(url, method="PURGE")
    assert srv.get(url, method="PURGE").status == 404  # nothing stored any more
    assert srv.get("/g/q?cc=max-age%3D60", method="PURGE").status == 401
    r = t.curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PURGE", "-u", "ops:pw",
               f"http://127.0.0.1:{srv.port}/g/q?cc=max-age%3D60")
    assert r.stdout == b"404"
    before = len(origin.requests)
    srv.get("/n/x", method="PURGE")  # purge off: an ordinary method, forwarded
    assert len(origin.requests) == before + 1 and origin.requests[-1]["method"] == "PURGE"


@pytest.mark.parametrize("disk", [False, True])
def test_ranges_from_stored(make_server, origin, tmp_path, disk):
    """A stored 200 answers Range itself (RFC 9111 §3.4, RFC 9110 §14): one range as a 206,
    several as multipart/byteranges, none satisfiable as a 416, If-Range with the stored ETag
    honoured and with another one the whole 200; the origin is asked once. Memory and disk."""
    cache = {"path": str(tmp_path)} if disk else True
    srv = proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": cache})
    url = "/c/rg?cc=max-age%3D60&size=100000&etag=%22v1%22"
    whole = payload(100000)
    assert srv.get(url).body == whole
    r = srv.get(url, headers={"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == whole[10:20], r
    assert r.header("Content-Range") == "bytes 10-19/100000"
    assert "hit" in status_of(r)
    r = srv.get(url, headers={"Range": "bytes=-5"})
    assert r.status == 206 and r.body == whole[-5:]
    r = srv.get(url, headers={"Range": "bytes=0-1, 99990-"})
    assert r.status == 206, r
    ctype = r.header("Content-Type")
    assert ctype.startswith("multipart/byteranges; boundary="), ctype
    boundary = ctype.split("boundary=")[1].encode()
    parts = r.body.split(b"--" + boundary)
    assert parts[-1] == b"--\r\n" and len(parts) == 4, r.body[:300]
    assert parts[1].endswith(b"\r\n\r\n" + whole[0:2] + b"\r\n"), parts[1]
    assert b"Content-Range: bytes 99990-99999/100000" in parts[2]
    assert parts[2].endswith(whole[99990:] + b"\r\n")
    r = srv.get(url, headers={"Range": "bytes=200000-"})
    assert r.status == 416 and r.header("Content-Range") == "bytes */100000", r
    r = srv.get(url, headers={"Range": "bytes=5-9", "If-Range": '"v1"'})
    assert r.status == 206 and r.body == whole[5:10]
    r = srv.get(url, headers={"Range": "bytes=5-9", "If-Range": '"v0"'})
    assert r.status == 200 and r.body == whole
    r = srv.get(url, headers={"Range": "bytes=5-9", "If-None-Match": '"v1"'})
    assert r.status == 304 and r.header("Content-Range") is None, r
    r = srv.get(url, headers={"Range": "items=1-2"})  # not bytes: ignored
    assert r.status == 200 and r.body == whole
    assert origin.count("/c/rg") == 1


def range_of(origin, path):
    """The Range field of each request the origin got for path, in order (None: no Range)."""
    with origin.lock:
        return [r["headers"].get("range", [None])[0] for r in origin.requests
                if r["target"].partition("?")[0] == path]


@pytest.mark.parametrize("disk", [False, True])
def test_ranged_miss_fills_store(make_server, origin, tmp_path, disk):
    """A GET miss with Range is fetched whole, without Range or If-Range (the origin would
    answer Range with a 206), stored, and the client gets its 206, multipart or 416 cut from
    the stored 200; the next requests are hits. Memory and disk."""
    cache = {"path": str(tmp_path)} if disk else True
    srv = proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": cache})
    whole = payload(100000)
    q = "?cc=max-age%3D60&size=100000&etag=%22v1%22&ranges=1"
    r = srv.get("/c/r1" + q, headers={"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == whole[10:20], r
    assert r.header("Content-Range") == "bytes 10-19/100000"
    assert range_of(origin, "/c/r1") == [None]
    r = srv.get("/c/r1" + q)
    assert r.status == 200 and r.body == whole and "hit" in status_of(r), r
    r = srv.get("/c/r2" + q, headers={"Range": "bytes=0-1, 99990-"})
    assert r.status == 206 and r.header("Content-Type").startswith("multipart/byteranges"), r
    assert b"Content-Range: bytes 99990-99999/100000" in r.body
    r = srv.get("/c/r3" + q, headers={"Range": "bytes=200000-"})
    assert r.status == 416 and r.header("Content-Range") == "bytes */100000", r
    r = srv.get("/c/r4" + q, headers={"Range": "bytes=5-9", "If-Range": '"v1"'})
    assert r.status == 206 and r.body == whole[5:10], r
    r = srv.get("/c/r5" + q, headers={"Range": "bytes=5-9", "If-Range": '"v0"'})
    assert r.status == 200 and r.body == whole, r
    for p in ("/c/r2", "/c/r3", "/c/r4", "/c/r5"):
        assert range_of(origin, p) == [None], p
        with origin.lock:
            rec = [x for x in origin.requests if x["target"].startswith(p + "?")][0]
        assert "if-range" not in rec["headers"], rec["headers"]
        assert "hit" in status_of(srv.get(p + q)), p
    # concurrent ranged misses of one key: one upstream fetch
    def client(i):
        out[i] = srv.get("/c/r6" + q + "&delay=0.5", headers={"Range": f"bytes={i}-{i + 9}"})
    out = [None] * 6
    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for i, r in enumerate(out):
        assert r.status == 206 and r.body == whole[i:i + 10], (i, r)
    assert origin.count("/c/r6") == 1


@pytest.mark.parametrize("query,detail", [
    ("cc=no-store", "no-store"),
    ("cc=max-age%3D60&size=300000", "too-large"),
    ("status=503", None),
])
def test_ranged_miss_not_storable(make_server, origin, query, detail):
    """A ranged miss whose whole response turns out not storable: the client's request then
    goes upstream with its Range, and the origin's own 206 (or 404) goes back, not stored."""
    srv = cached(make_server, origin, cache={"max_object_size": "100k"})
    url = "/c/ns?" + query + ("&size=1000" if "size" not in query else "") + "&ranges=1"
    r = srv.get(url, headers={"Range": "bytes=10-19"})
    if "503" in query:
        assert r.status == 503, r
    else:
        assert r.status == 206 and r.body == payload(1000 if "300000" not in query else 300000)[10:20]
        assert r.header("Content-Range").startswith("bytes 10-19/"), r
        assert "hit" not in status_of(r) and "fwd-status=206" in status_of(r), r
    assert range_of(origin, "/c/ns") == [None, "bytes=10-19"]
    r = srv.get(url, headers={"Cache-Control": "only-if-cached"})
    assert r.status == 504, r


def test_partial_response_never_stored(make_server, origin):
    """A 206 that reaches the cache (a bypassed request forwards its Range) is not stored:
    the next whole GET is a miss that stores the 200."""
    srv = cached(make_server, origin)
    url = "/c/p206?cc=max-age%3D60&size=1000&ranges=1"
    r = srv.get(url, headers={"Range": "bytes=0-9", "Authorization": "Basic eDp5"})
    assert r.status == 206 and "fwd=bypass" in status_of(r), r
    r = srv.get(url, headers={"Cache-Control": "only-if-cached"})
    assert r.status == 504, r
    r = srv.get(url)
    assert r.status == 200 and r.body == payload(1000) and "hit" not in status_of(r), r
    r = srv.get(url)
    assert r.status == 200 and r.body == payload(1000) and "hit" in status_of(r), r


def test_metrics(make_server, origin, tmp_path):
    """`metrics: true`: the caching locations' counters in Prometheus's text format (promtool
    checks it when installed): hits, stale hits, misses, bypasses, stores, bytes and entries,
    labelled by the server's name and the location's path only."""
    import shutil
    import subprocess

    srv = proxied(make_server, {"path": "/c/", "proxy": origin.url, "cache": True},
                  {"path": "/d/", "proxy": origin.url + "/c/", "cache": {"path": str(tmp_path)}},
                  {"exact": "/metrics", "metrics": True, "allow": "127.0.0.1", "deny": "all"})
    for url in ("/c/m?cc=max-age%3D60", "/c/m?cc=max-age%3D60", "/c/m?cc=max-age%3D60",
                "/d/m?cc=max-age%3D60&size=5000", "/d/m?cc=max-age%3D60&size=5000"):
        assert srv.get(url).status == 200
    assert srv.get("/c/m?cc=max-age%3D60", headers={"Authorization": "Basic eDp5"}).status == 200
    r = srv.get("/metrics")
    assert r.status == 200 and r.header("Content-Type").startswith("text/plain; version=0.0.4")
    text = r.body.decode()
    samples = {ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1])
               for ln in text.splitlines() if ln and not ln.startswith("#")}
    c = 'server="localhost",location="/c/"'
    d = 'server="localhost",location="/d/"'
    assert samples[f'tern_cache_responses_total{{{c},result="hit"}}'] == 2, text
    assert samples[f'tern_cache_responses_total{{{c},result="miss"}}'] == 1, text
    assert samples[f'tern_cache_responses_total{{{c},result="bypass"}}'] == 1, text
    assert samples[f'tern_cache_responses_total{{{d},result="hit"}}'] == 1, text
    assert samples[f"tern_cache_stores_total{{{c}}}"] == 1
    assert samples[f"tern_cache_entries{{{c}}}"] == 1 and samples[f"tern_cache_entries{{{d}}}"] == 1
    assert samples[f"tern_cache_bytes{{{d}}}"] > 5000
    assert "# TYPE tern_cache_responses_total counter" in text
    assert "# TYPE tern_cache_bytes gauge" in text
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=r.body, capture_output=True)
        assert p.returncode == 0, p.stdout + p.stderr
