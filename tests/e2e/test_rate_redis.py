"""Rate limits shared by several tern instances through Redis (rate_limit `shared: true` with
the top-level `redis`): a real redis-server on a loopback port, two real tern processes, real
sockets. Skipped when redis-server is not installed."""

import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import tern_e2e as t
from tern_e2e import Conn, request

REDIS = shutil.which("redis-server") or ("/usr/bin/redis-server"
                                         if os.access("/usr/bin/redis-server", os.X_OK) else None)
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")


class Redis:
    def __init__(self, d, port=None):
        self.dir = d
        self.port = port or t.free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert t.wait_port(self.port, proc=self.proc), "redis-server did not start"
        assert t.wait_for(lambda: self.cli("PING") == "PONG", timeout=5 * t.SLOW)

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()  # this process only, by its pid
            self.proc.wait(timeout=10)
            self.proc = None

    def cli(self, *args):
        r = subprocess.run([REDIS_CLI, "-p", str(self.port), *args], capture_output=True,
                           timeout=10)
        return r.stdout.decode().strip()


@pytest.fixture
def redis(tmp_path):
    r = Redis(tmp_path)
    r.start()
    yield r
    r.stop()


def shared_server(make_server, redis_port, locs, timeout="1s", **kw):
    srv = make_server(start=False, **kw)
    srv.config["redis"] = {"address": f"127.0.0.1:{redis_port}", "timeout": timeout}
    srv.config["servers"][0]["locations"] += locs
    srv.start()
    return srv


def get(srv, path):
    """Status of one GET on a connection of its own, and how long it took."""
    t0 = time.monotonic()
    with Conn(srv.port) as c:
        c.send(request("GET", path, close=True))
        r = c.response()
    return r, time.monotonic() - t0


def test_one_limit_across_two_instances(make_server, redis):
    loc = {"path": "/api/", "root": None, "rate_limit": {"rate": "10/m", "burst": 10,
                                                          "shared": True}}
    srvs = []
    for _ in range(2):
        srv = make_server(start=False)
        srv.config["redis"] = {"address": f"127.0.0.1:{redis.port}", "timeout": "1s"}
        srv.config["servers"][0]["locations"].append({**loc, "root": str(srv.base / "root")})
        srv.start()
        srvs.append(srv)
    codes = []
    for i in range(24):  # alternate between the instances
        r, _ = get(srvs[i % 2], "/api/hello.txt")
        codes.append(r.status)
        if r.status == 429:
            assert 1 <= int(r.header("Retry-After")) <= 6, r
    assert codes.count(200) == 10 and codes.count(429) == 14, codes
    # each instance let some through: the bucket is one, not one per instance
    assert 200 in codes[0::2] and 200 in codes[1::2], codes
    # the key: prefix, server names, location path, client; and it expires once idle
    key = "tern:rl:localhost,main.test:/api/:127.0.0.1"
    assert redis.cli("KEYS", "tern:*") == key
    ttl = int(redis.cli("PTTL", key))
    assert 0 < ttl <= 61000, ttl
    for srv in srvs:
        log = srv.read(srv.error_log)
        assert "unreachable" not in log, log


def test_unix_socket(make_server, tmp_path):
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen([REDIS, "--port", "0", "--unixsocket", str(sock), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert t.wait_for(sock.exists, timeout=5 * t.SLOW)
        srv = make_server(start=False)
        srv.config["redis"] = {"address": f"unix:{sock}", "timeout": "1s", "key_prefix": "t2."}
        srv.config["servers"][0]["locations"].append(
            {"path": "/api/", "root": str(srv.base / "root"),
             "rate_limit": {"rate": "1/m", "burst": 2, "shared": True, "on_error": "open"}})
        srv.start()
        assert [get(srv, "/api/hello.txt")[0].status for _ in range(3)] == [200, 200, 429]
        keys = subprocess.run([REDIS_CLI, "-s", str(sock), "KEYS", "*"], capture_output=True,
                              timeout=10).stdout.decode().split()
        assert keys == ["t2.rl:localhost,main.test:/api/:127.0.0.1"], keys
    finally:
        proc.kill()  # this redis-server only, by its pid
        proc.wait(timeout=10)


def test_rewrite_between_shared_limits(make_server, redis):
    """A rewrite from one shared-limited location to another: each limit takes one token per
    request (the request, routed again after each verdict, passes the limits it already has)."""
    srv = make_server(start=False)
    srv.config["redis"] = {"address": f"127.0.0.1:{redis.port}", "timeout": "1s"}
    root = str(srv.base / "root")
    srv.config["servers"][0]["locations"] += [
        {"path": "/old/", "rewrite": "/api/hello.txt",
         "rate_limit": {"rate": "1/m", "burst": 5, "shared": True}},
        {"path": "/api/", "root": root, "rate_limit": {"rate": "1/m", "burst": 5, "shared": True}}]
    srv.start()
    assert [get(srv, "/old/x")[0].status for _ in range(3)] == [200] * 3
    assert [get(srv, "/api/hello.txt")[0].status for _ in range(3)] == [200, 200, 429]
    assert [get(srv, "/old/x")[0].status for _ in range(2)] == [429, 429]  # /api/'s bucket


def test_queue_with_shared_limit(make_server, redis):
    srv = shared_server(make_server, redis.port, [])
    srv.config["servers"][0]["locations"].append(
        {"path": "/q/", "root": str(srv.base / "root"),
         "rate_limit": {"rate": "5/s", "burst": 1, "queue": 2, "shared": True}})
    srv.stop()
    srv.start()  # again, with the location added
    conns = [Conn(srv.port) for _ in range(4)]
    t0 = time.monotonic()
    for c in conns:
        c.send(request("GET", "/q/hello.txt", close=True))
    out = []
    for c in conns:
        r = c.response()
        out.append((r.status, time.monotonic() - t0))
        c.close()
    statuses = sorted(s for s, _ in out)
    assert statuses == [200, 200, 200, 429], out
    # two waited for their tokens: 200 and 400 ms
    assert max(el for s, el in out if s == 200) >= 0.3, out


def test_redis_down_on_error_and_back(make_server, tmp_path):
    redis = Redis(tmp_path)  # its port, nothing listening yet
    locs = [
        {"path": "/local/", "rate_limit": {"rate": "1/m", "burst": 2, "shared": True}},
        {"path": "/open/", "rate_limit": {"rate": "1/m", "burst": 1, "shared": True,
                                          "on_error": "open"}},
        {"path": "/closed/", "rate_limit": {"rate": "1/m", "burst": 100, "shared": True,
                                            "on_error": "closed"}},
    ]
    srv = make_server(start=False)
    for loc in locs:
        loc["root"] = str(srv.base / "root")
    srv.config["redis"] = {"address": f"127.0.0.1:{redis.port}", "timeout": "200ms"}
    srv.config["servers"][0]["locations"] += locs
    srv.start()
    slack = 0.2 + 0.5 * t.SLOW  # the timeout plus room for a slow machine

    def statuses(path, n):
        out = []
        for _ in range(n):
            r, took = get(srv, path)
            assert took < slack, (path, took)
            out.append(r.status)
        return out

    # local: the process's own bucket (burst 2)
    assert statuses("/local/hello.txt", 4) == [200, 200, 429, 429]
    assert statuses("/open/hello.txt", 4) == [200] * 4
    assert statuses("/closed/hello.txt", 2) == [503, 503]
    assert t.wait_for(lambda: "unreachable" in srv.read(srv.error_log))
    log = srv.read(srv.error_log)
    assert f"redis 127.0.0.1:{redis.port}: unreachable" in log, log
    assert log.count("unreachable") == 1, log  # once per change of state, not per request

    # Redis comes back: used again (after the link's back-off)
    redis.start()
    try:
        assert t.wait_for(lambda: get(srv, "/closed/hello.txt")[0].status == 200,
                          timeout=15 * t.SLOW, step=0.3)
        assert redis.cli("EXISTS", "tern:rl:localhost,main.test:/closed/:127.0.0.1") == "1"
        assert t.wait_for(lambda: f"redis 127.0.0.1:{redis.port}: answering"
                          in srv.read(srv.error_log))
        # shared now: /open/ has one token in Redis
        assert statuses("/open/hello.txt", 2) == [200, 429]

        # a Redis that stops answering (stopped, its socket open): the timeout decides
        redis.proc.send_signal(signal.SIGSTOP)
        r, took = get(srv, "/closed/hello.txt")
        assert r.status == 503 and took < slack + 0.2, (r, took)
        r, took = get(srv, "/open/hello.txt")
        assert r.status == 200 and took < slack + 0.2, (r, took)
        assert t.wait_for(lambda: "no answer within the timeout" in srv.read(srv.error_log))
        redis.proc.send_signal(signal.SIGCONT)
        assert t.wait_for(lambda: get(srv, "/closed/hello.txt")[0].status == 200,
                          timeout=15 * t.SLOW, step=0.3)
    finally:
        redis.stop()
    # down again: the worker keeps serving
    assert statuses("/open/hello.txt", 3) == [200] * 3


def test_reload_keeps_buckets_and_follows_address(make_server, redis, tmp_path_factory):
    srv = make_server(start=False)
    srv.config["redis"] = {"address": f"127.0.0.1:{redis.port}", "timeout": "1s"}
    srv.config["servers"][0]["locations"].append(
        {"path": "/api/", "root": str(srv.base / "root"),
         "rate_limit": {"rate": "1/m", "burst": 3, "shared": True}})
    srv.start()
    # several connections at once: both worker threads hold a link
    assert [r.status for r in burst_conns(srv, "/api/hello.txt", 5)].count(200) == 3
    # HUP: a new configuration, the same key in Redis: still refused (a local limit would start
    # again with a full bucket)
    srv.signal(signal.SIGHUP)
    assert t.wait_for(lambda: "configuration reloaded" in srv.read(srv.error_log))
    assert get(srv, "/api/hello.txt")[0].status == 429
    # another Redis: the workers' links follow the address (a fresh bucket there)
    other = Redis(tmp_path_factory.mktemp("redis2"))
    other.start()
    try:
        srv.config["redis"]["address"] = f"127.0.0.1:{other.port}"
        srv.write_config()
        srv.signal(signal.SIGHUP)
        assert t.wait_for(lambda: srv.read(srv.error_log).count("configuration reloaded") == 2)
        codes = [r.status for r in burst_conns(srv, "/api/hello.txt", 5)]
        assert codes.count(200) == 3 and codes.count(429) == 2, codes
        assert other.cli("EXISTS", "tern:rl:localhost,main.test:/api/:127.0.0.1") == "1"
    finally:
        other.stop()


@pytest.mark.skipif(not shutil.which("h2load"), reason="no h2load")
def test_client_leaves_while_waiting_and_http2(make_server, redis):
    srv = make_server(start=False)
    srv.config["redis"] = {"address": f"127.0.0.1:{redis.port}", "timeout": "1s"}
    srv.config["servers"][0]["locations"].append(
        {"path": "/api/", "root": str(srv.base / "root"),
         "rate_limit": {"rate": "1/m", "burst": 4, "shared": True, "on_error": "closed"}})
    srv.start()
    assert get(srv, "/api/hello.txt")[0].status == 200  # connected
    # Redis stops answering; clients send and leave while their requests wait for it
    redis.proc.send_signal(signal.SIGSTOP)
    try:
        for _ in range(5):
            c = Conn(srv.port)
            c.send(request("GET", "/api/hello.txt"))
            c.close()
        time.sleep(0.3)
    finally:
        redis.proc.send_signal(signal.SIGCONT)
    # the answers to the abandoned calls came in (each took a token): 4 - 1 - 5 < 0
    time.sleep(0.3)
    assert get(srv, "/api/hello.txt")[0].status == 429
    assert srv.get("/hello.txt").status == 200
    # HTTP/2: streams of one connection at once, each waiting for its own verdict
    key = "tern:rl:localhost,main.test:/api/:127.0.0.1"
    redis.cli("DEL", key)  # the bucket starts again full, on every instance
    r = subprocess.run(["h2load", "-n", "6", "-c", "1", "-m", "6",
                        f"http://127.0.0.1:{srv.port}/api/hello.txt"],
                       capture_output=True, timeout=30 * t.SLOW)
    out = r.stdout.decode()
    assert "status codes: 4 2xx, 0 3xx, 2 4xx, 0 5xx" in out, out


def burst_conns(srv, path, n):
    """n GETs of path sent at once on n connections (spread over the worker threads)."""
    conns = [Conn(srv.port) for _ in range(n)]
    try:
        for c in conns:
            c.send(request("GET", path, close=True))
        return [c.response() for c in conns]
    finally:
        for c in conns:
            c.close()


class FakeRedis:
    """A listener that answers every command with `answer` (a well-formed reply of the wrong
    kind, or bytes that are not RESP at all)."""

    def __init__(self, answer):
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.1)
        conns = []
        while not self.stop:
            try:
                conns.append(self.sock.accept()[0])
            except OSError:
                pass
            for c in list(conns):
                c.settimeout(0.01)
                try:
                    data = c.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    data = b""
                if not data:
                    conns.remove(c)
                    c.close()
                    continue
                # one answer per command: each starts a line with '*' (the script has no "\r\n*")
                n = data.count(b"\r\n*") + (1 if data.startswith(b"*") else 0)
                try:
                    c.sendall(self.answer * n)
                except OSError:
                    pass
        for c in conns:
            c.close()

    def close(self):
        self.stop = True
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.mark.parametrize("answer", [b":1\r\n", b"-ERR no such thing\r\n", b"!!garbage\r\n"])
def test_garbage_answers(make_server, answer):
    fake = FakeRedis(answer)
    try:
        srv = make_server(start=False)
        srv.config["redis"] = {"address": f"127.0.0.1:{fake.port}", "timeout": "200ms"}
        srv.config["servers"][0]["locations"] += [
            {"path": "/local/", "root": str(srv.base / "root"),
             "rate_limit": {"rate": "1/m", "burst": 2, "shared": True}},
            {"path": "/closed/", "root": str(srv.base / "root"),
             "rate_limit": {"rate": "1/m", "burst": 2, "shared": True, "on_error": "closed"}}]
        srv.start()
        slack = 0.2 + 0.5 * t.SLOW
        for path, want in (("/local/hello.txt", [200, 200, 429]), ("/closed/hello.txt", [503] * 3)):
            got = []
            for _ in want:
                r, took = get(srv, path)
                assert took < slack, (path, took)
                got.append(r.status)
            assert got == want, (path, got)
        log = srv.read(srv.error_log)
        assert "unexpected answer to the rate script" in log or "unreachable" in log, log
        time.sleep(1)  # reconnections to a server that talks nonsense are not logged each
        log = srv.read(srv.error_log)
        assert log.count("redis 127.0.0.1") == 1, log
        assert srv.get("/hello.txt").status == 200
    finally:
        fake.close()


def test_config_errors(tmp_path):
    conf = tmp_path / "c.yaml"

    def check(text):
        conf.write_text(f"root: {tmp_path}\n" + text)
        r = subprocess.run([t.TERN_BIN, "check", "-c", str(conf)], capture_output=True,
                           timeout=20)
        return r.returncode, (r.stdout + r.stderr).decode()

    rc, err = check("servers:\n  - locations:\n      - path: /a/\n"
                    "        rate_limit: {rate: 5/s, shared: true}\n")
    assert rc != 0 and "no top-level 'redis'" in err, err
    rc, err = check("redis: {address: 'nohost'}\n")
    assert rc != 0 and "must be host:port or unix:/path" in err, err
    rc, err = check("redis: {address: '127.0.0.1:6379'}\nservers:\n  - locations:\n"
                    "      - path: /a/\n        rate_limit: {rate: 5/s, on_error: open}\n")
    assert rc != 0 and "'on_error' applies to a 'shared' rate limit only" in err, err
    rc, err = check("redis: {address: '127.0.0.1:6379'}\nservers:\n  - locations:\n"
                    "      - path: /a/\n        rate_limit: {rate: 5/s, shared: true, "
                    "on_error: maybe}\n")
    assert rc != 0 and "must be local, open or closed" in err, err
    rc, err = check("redis: {address: 'unix:/run/redis.sock', timeout: 20ms, key_prefix: 'x:'}\n"
                    "servers:\n  - locations:\n      - path: /a/\n"
                    "        rate_limit: {rate: 5/s, shared: true, on_error: closed}\n")
    assert rc == 0, err
