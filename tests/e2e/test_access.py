"""Access rules (allow/deny) and rate limits of a location, with the real binary over real
sockets: HTTP/1.1, HTTP/2 (h2c prior knowledge), IPv6 loopback, two worker threads sharing one
limit, and HTTP/3."""

import socket
import subprocess
import time

import pytest

import tern_e2e as t
from tern_e2e import Conn, request
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures


def locations(srv, *extra):
    """The main server's locations plus `extra`."""
    srv.config["servers"][0]["locations"] += list(extra)
    return srv


def own_root(srv):
    return str(srv.base / "root")


def curl_status(url, *args):
    r = t.curl("-o", "/dev/null", "-w", "%{http_code} %{http_version}", *args, url)
    return r.stdout.decode()


def test_deny_and_allow_h1_h2(make_server):
    srv = make_server(start=False)
    locations(srv,
              {"path": "/private/", "allow": ["10.0.0.0/8", "2001:db8::/32"], "deny": ["all"]},
              {"path": "/mine/", "root": own_root(srv), "allow": "127.0.0.0/8", "deny": "all"})
    srv.start()
    r = srv.get("/private/hello.txt")
    assert r.status == 403, r
    assert srv.get("/mine/hello.txt").body == t.HELLO
    assert srv.get("/hello.txt").status == 200  # no rules: allowed
    base = f"http://127.0.0.1:{srv.port}"
    assert curl_status(base + "/private/x", "--http2-prior-knowledge") == "403 2"
    assert curl_status(base + "/mine/hello.txt", "--http2-prior-knowledge") == "200 2"
    # a refusal is logged once at info level, naming the rule and its line
    assert t.wait_for(lambda: "403 /private/hello.txt: denied by 'deny all' (line"
                      in srv.read(srv.error_log))
    assert "of location /private/" in srv.read(srv.error_log)


def test_host_bits_refused_by_check(make_server, tmp_path):
    conf = tmp_path / "bad.yaml"
    conf.write_text(f"root: {tmp_path}\nservers:\n  - locations:\n      - path: /a/\n"
                    "        allow: [10.0.0.1/8]\n        deny: all\n")
    r = subprocess.run([t.TERN_BIN, "check", "-c", str(conf)], capture_output=True, timeout=20)
    assert r.returncode != 0
    err = (r.stdout + r.stderr).decode()
    assert f"{conf}:5: 'allow' value '10.0.0.1/8' has bits set after its prefix length; " \
           "write 10.0.0.0/8" in err, err
    conf.write_text(f"root: {tmp_path}\nservers:\n  - locations:\n      - path: /a/\n"
                    "        rate_limit: {rate: 5/s, key: cookie}\n")
    r = subprocess.run([t.TERN_BIN, "check", "-c", str(conf)], capture_output=True, timeout=20)
    err = (r.stdout + r.stderr).decode()
    assert r.returncode != 0 and f"{conf}:5: 'key' of 'rate_limit' must be 'address'" in err, err


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no ::1")
def test_ipv6_rules(make_server):
    srv = make_server(start=False)
    srv.config["listen"] = [f"127.0.0.1:{srv.port}", f"[::1]:{srv.port}"]
    locations(srv, {"path": "/v6/", "root": own_root(srv), "allow": ["::1"], "deny": "all"},
              {"path": "/v4/", "root": own_root(srv), "deny": ["::/0"]})
    srv.start()
    assert t.wait_port(srv.port, host="::1")

    def get(host, path):
        with Conn(srv.port, host) as c:
            c.send(request("GET", path, close=True))
            return c.response().status

    assert get("::1", "/v6/hello.txt") == 200
    assert get("127.0.0.1", "/v6/hello.txt") == 403
    assert get("::1", "/v4/hello.txt") == 403  # an IPv6 prefix holds ::1
    assert get("127.0.0.1", "/v4/hello.txt") == 200  # but no IPv4 client


def burst(srv, path, n, connections=1):
    """n GETs of path, spread over `connections` keep-alive connections taken in turn."""
    conns = [Conn(srv.port) for _ in range(connections)]
    out = []
    try:
        for i in range(n):
            c = conns[i % connections]
            c.send(request("GET", path))
            out.append(c.response())
    finally:
        for c in conns:
            c.close()
    return out


def test_rate_limit_burst_then_429_then_back(make_server):
    srv = make_server(start=False)
    locations(srv, {"path": "/api/", "root": own_root(srv),
                    "rate_limit": {"rate": "2/m", "burst": 5}},
              {"path": "/fast/", "root": own_root(srv), "rate_limit": {"rate": "1/s", "burst": 1}})
    srv.start()
    # a token every 30 s: nothing comes back during the burst, however slow the machine
    rs = burst(srv, "/api/hello.txt", 12)
    codes = [r.status for r in rs]
    assert codes == [200] * 5 + [429] * 7, codes
    for r in rs[5:]:
        assert 1 <= int(r.header("Retry-After")) <= 30, r
    assert srv.get("/hello.txt").status == 200  # other locations are not limited
    log = srv.read(srv.error_log)
    assert "429 /api/hello.txt: over the rate limit of location /api/ (2/m, burst 5)" in log
    # once per client per interval (the rate's minute): one line for seven refusals
    assert log.count("over the rate limit of location /api/") == 1, log
    # service returns once Retry-After has passed
    rs = burst(srv, "/fast/hello.txt", 2)
    assert rs[0].status == 200 and rs[1].status == 429, rs
    assert rs[1].header("Retry-After") == "1"
    time.sleep(1.05)
    assert srv.get("/fast/hello.txt").status == 200


def test_rate_limit_minute_retry_after(make_server):
    srv = make_server(start=False)
    locations(srv, {"path": "/api/", "root": own_root(srv), "rate_limit": {"rate": "2/m"}})
    srv.start()
    rs = burst(srv, "/api/hello.txt", 3)
    assert [r.status for r in rs] == [200, 200, 429]
    assert 29 <= int(rs[2].header("Retry-After")) <= 30, rs[2]


def test_rate_limit_shared_by_worker_threads(make_server):
    """Two worker threads, 24 connections: SO_REUSEPORT spreads them over both threads (all on
    one thread has odds of 2^-23), so a limit kept per thread would let about twice the burst
    through."""
    srv = make_server(start=False, workers=2)
    locations(srv, {"path": "/api/", "root": own_root(srv),
                    "rate_limit": {"rate": "1/m", "burst": 10, "key": "address"}})
    srv.start()
    codes = [r.status for r in burst(srv, "/api/hello.txt", 24, connections=24)]
    assert codes.count(200) == 10 and codes.count(429) == 14, codes
    # HTTP/2 shares the bucket too
    assert curl_status(f"http://127.0.0.1:{srv.port}/api/hello.txt",
                       "--http2-prior-knowledge") == "429 2"


def http3_built():
    out = subprocess.run([t.TERN_BIN, "-V"], capture_output=True).stdout.decode()
    return "http3: yes" in out


def h3_status(srv, path):
    r = subprocess.run([t.TERN_BIN, "get", "--http3", "-k", "-s", "-o", "/dev/null", "-w",
                        "%{http_code}", f"https://127.0.0.1:{srv.tls_port}{path}"],
                       capture_output=True, timeout=30 * t.SLOW)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def test_http3(make_tls_server, certs):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")

    def mutate(cfg):
        root = cfg["servers"][0]["root"]
        cfg["servers"][0]["locations"] += [
            {"path": "/private/", "allow": "10.0.0.0/8", "deny": "all"},
            {"path": "/mine/", "root": root, "allow": "127.0.0.1", "deny": "all"},
            {"path": "/api/", "root": root, "rate_limit": {"rate": "1/m", "burst": 2}}]

    srv = make_tls_server(certs.leaf, certs.leaf_key, mutate=mutate)
    assert h3_status(srv, "/private/hello.txt") == "403"
    assert h3_status(srv, "/mine/hello.txt") == "200"  # the QUIC peer address is known
    assert [h3_status(srv, "/api/hello.txt") for _ in range(3)] == ["200", "200", "429"]


def test_guards_come_before_redirect_and_use_error_pages(make_server):
    """A denied client gets 403 even where the location redirects (nginx would redirect first:
    its rewrite phase runs before access); error_pages dress the 403 and the 429."""
    srv = make_server(start=False)
    srv.config["servers"][0]["error_pages"] = {403: "/hello.txt", 429: "/hello.txt"}
    locations(srv, {"path": "/old/", "deny": "all", "redirect": {"to": "/new{uri}"}},
              {"path": "/api/", "rate_limit": {"rate": "1/m", "burst": 1}})
    srv.start()
    r = srv.get("/old/x")
    assert r.status == 403 and r.body == t.HELLO and "Location" not in r, r
    rs = burst(srv, "/api/x", 2)
    assert rs[0].status == 404
    assert rs[1].status == 429 and rs[1].body == t.HELLO and rs[1].header("Retry-After"), rs[1]


def test_guards_of_a_rewrite_target(make_server):
    """A rewrite cannot lead around an access rule: the guards of the location matched and of
    the one the rewrite leads to both apply."""
    srv = make_server(start=False)
    locations(srv, {"path": "/pub/", "rewrite": "/private/hello.txt"},
              {"path": "/private/", "root": own_root(srv), "deny": "all"},
              {"path": "/shut/", "rewrite": "/hello.txt", "deny": "127.0.0.0/8"})
    srv.start()
    assert srv.get("/pub/x").status == 403
    assert srv.get("/shut/x").status == 403
    assert srv.get("/hello.txt").status == 200


def test_limit_conn_in_flight(make_server):
    """limit_conn: at most N requests of one client in flight in a location at once, over
    HTTP/1.1 connections and HTTP/2 streams alike; the rest 503 (as nginx) with one log line;
    a request that ended frees its place, and keep-alive between requests holds none."""
    import threading

    from origin import Origin
    origin = Origin()
    try:
        srv = make_server(start=False)
        locations(srv, {"path": "/slow/", "proxy": origin.url, "limit_conn": 2})
        srv.start()
        url = f"http://127.0.0.1:{srv.port}/slow/1"
        codes = []

        def one(*args):
            codes.append(curl_status(url, *args).split()[0])

        threads = [threading.Thread(target=one) for _ in range(4)]
        for th in threads:
            th.start()
            time.sleep(0.05)
        for th in threads:
            th.join()
        assert sorted(codes) == ["200", "200", "503", "503"], codes
        assert t.wait_for(lambda: "503 /slow/1: over limit_conn 2 of location /slow/"
                          in srv.read(srv.error_log))
        # HTTP/2: three streams on one connection, two in flight at most
        r = t.curl("-s", "-w", "%{http_code}\n", "--http2-prior-knowledge", "-Z",
                   "--parallel-immediate", *["-o", "/dev/null", url] * 3)
        assert sorted(r.stdout.decode().split()) == ["200", "200", "503"], r.stdout
        # sequential requests on one kept-alive connection: each place freed at its end
        r = t.curl("-s", "-w", "%{http_code}\n", *["-o", "/dev/null", url[:-1] + "0"] * 4)
        assert r.stdout.decode().split() == ["200"] * 4, r.stdout
    finally:
        origin.close()


def test_rate_limit_queue_delays(make_server):
    """`queue`: beyond the burst, up to queue requests wait for their token (nginx's limit_req
    without nodelay) instead of a 429, each served when its token has come; beyond the queue,
    429. A client that leaves while its request waits leaves nothing behind."""
    srv = make_server(start=False)
    locations(srv, {"path": "/q/", "root": own_root(srv),
                    "rate_limit": {"rate": "5/s", "burst": 1, "queue": 3}})
    srv.start()
    url = f"http://127.0.0.1:{srv.port}/q/hello.txt"
    r = t.curl("-s", "--http2-prior-knowledge", "-Z", "--parallel-immediate", "-w",
               "%{http_code} %{time_total}\n", *["-o", "/dev/null", url] * 6)
    got = sorted((float(tt), code) for code, tt in
                 (ln.split() for ln in r.stdout.decode().split("\n") if ln))
    codes = sorted(code for _, code in got)
    assert codes == ["200"] * 4 + ["429"] * 2, got
    served = [tt for tt, code in got if code == "200"]
    # one at once, then one every 200 ms: the last about 600 ms later
    assert served[0] < 0.15 * t.SLOW and served[-1] >= 0.55, got
    time.sleep(1.2)  # the debt paid back
    # a waiting request whose client goes away
    r = t.curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "0.1", url, url)
    time.sleep(1.2)
    assert srv.get("/q/hello.txt").status == 200


def test_guard_metrics(make_server):
    """The metrics endpoint counts what the guards did per location: denied, limited, delayed
    (promtool checks the text when installed)."""
    import shutil

    srv = make_server(start=False)
    locations(srv, {"path": "/no/", "deny": "all"},
              {"path": "/few/", "root": own_root(srv), "rate_limit": {"rate": "1/m", "burst": 1}},
              {"path": "/slow/", "root": own_root(srv),
               "rate_limit": {"rate": "20/s", "burst": 1, "queue": 5}},
              {"exact": "/metrics", "metrics": True})
    srv.start()
    assert srv.get("/no/hello.txt").status == 403
    assert [srv.get("/few/hello.txt").status for _ in range(3)] == [200, 429, 429]
    assert all(r.status == 200 for r in burst(srv, "/slow/hello.txt", 3))
    r = srv.get("/metrics")
    text = r.body.decode()
    samples = {ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1])
               for ln in text.splitlines() if ln and not ln.startswith("#")}

    def v(loc, result):
        return samples[f'tern_guard_requests_total{{server="localhost",location="{loc}",'
                       f'result="{result}"}}']
    assert v("/no/", "denied") == 1 and v("/few/", "limited") == 2, text
    assert v("/slow/", "delayed") == 2 and v("/slow/", "limited") == 0, text
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=r.body, capture_output=True)
        assert p.returncode == 0, p.stdout + p.stderr
