"""Signals as nginx: HUP reload, QUIT graceful stop, TERM fast stop, USR1 reopen logs."""

import os
import signal
import socket
import threading
import time

import tern_e2e as t
from tern_e2e import HELLO, Conn, request


def test_hup_reload(make_server):
    srv = make_server()
    pid = srv.pid
    with Conn(srv.port) as old:
        old.send(request("GET", "/hello.txt"))
        r = old.response()
        assert r.status == 200 and "Cache-Control" not in r
        cfg = srv.config
        cfg["servers"][0]["locations"][0]["cache_control"] = "max-age=77"
        cfg["servers"][1]["root"] = str(srv.base / "b")  # a.test now serves b's files
        srv.write_config(cfg)
        stop = threading.Event()
        failures = []

        def traffic():  # fresh connections all through the reload: none may be refused
            while not stop.is_set():
                try:
                    r = srv.get("/hello.txt")
                    if r.status != 200 or r.body != HELLO:
                        failures.append(r)
                except Exception as e:  # noqa: BLE001 - reported below
                    failures.append(repr(e))

        th = threading.Thread(target=traffic)
        th.start()
        time.sleep(0.1)
        srv.signal(signal.SIGHUP)
        ok = t.wait_for(lambda: srv.get("/hello.txt").header("Cache-Control") == "max-age=77", 5)
        time.sleep(0.1)
        stop.set()
        th.join()
        assert ok, "the reloaded configuration did not take effect"
        assert not failures, failures[:3]
        assert srv.get("/who.txt", host="a.test").body == b"b\n"
        # the connection opened before the reload still works
        old.send(request("GET", "/hello.txt"))
        r = old.response()
        assert r.status == 200 and r.body == HELLO
    assert srv.proc.poll() is None and srv.pid == pid
    srv.assert_healthy()


def test_hup_broken_config_keeps_old(make_server):
    srv = make_server()
    srv.config["servers"][0]["locations"][0]["cache_control"] = "no-cache"
    srv.write_config()
    srv.signal(signal.SIGHUP)
    assert t.wait_for(lambda: srv.get("/hello.txt").header("Cache-Control") == "no-cache", 5)
    before = srv.read(srv.error_log).count("[error]")
    srv.write_config("listen: [127.0.0.1:1\nworkers: [\n")
    srv.signal(signal.SIGHUP)
    assert t.wait_for(lambda: srv.read(srv.error_log).count("[error]") > before, 5), \
        "a configuration that fails to load must be logged at error level"
    r = srv.get("/hello.txt")
    assert r.status == 200 and r.body == HELLO and r.header("Cache-Control") == "no-cache"
    assert srv.proc.poll() is None


def slow_download(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.settimeout(10 * t.SLOW)
    s.connect(("127.0.0.1", port))
    s.sendall(request("GET", "/big.bin"))
    got = b""
    while len(got) < 65536:
        got += s.recv(65536)
    return s, got


def finish(s, got):
    head, body = got.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    while len(body) < t.BIG_SIZE:
        data = s.recv(262144)
        if not data:
            break
        body += data
    return body


def test_quit_graceful(make_server):
    srv = make_server(timeouts={"graceful": 5})
    s, got = slow_download(srv.port)
    idle = Conn(srv.port)
    idle.send(request("GET", "/hello.txt"))
    assert idle.response().status == 200
    srv.expect_exit = True
    srv.signal(signal.SIGQUIT)
    time.sleep(0.3 * t.SLOW)
    # no new requests are taken any more
    try:
        with Conn(srv.port, timeout=1) as c:
            c.send(request("GET", "/hello.txt", close=True))
            data = c.read_until_close()
            assert data == b"", f"a new connection was served after QUIT: {data[:100]!r}"
    except OSError:
        pass
    assert idle.closed(3), "an idle keep-alive connection was kept open during a graceful stop"
    idle.close()
    body = finish(s, got)
    s.close()
    assert body == t.big_bytes(), "the in-flight download was cut short by QUIT"
    rc = srv.wait(6)
    assert rc == 0


def test_term_fast(make_server):
    srv = make_server(timeouts={"graceful": 10})
    s, _ = slow_download(srv.port)
    idle = Conn(srv.port)
    srv.expect_exit = True
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    rc = srv.wait(5)
    assert time.monotonic() - t0 < 2 * t.SLOW
    assert rc >= 0, f"tern died of {signal.Signals(-rc).name} on SIGTERM"
    s.close()
    idle.close()


def test_int_fast(make_server):
    srv = make_server()
    srv.expect_exit = True
    srv.signal(signal.SIGINT)
    rc = srv.wait(5)
    assert rc >= 0


def test_usr1_reopens_logs(make_server):
    srv = make_server()
    assert srv.get("/hello.txt?before=1").status == 200
    assert t.wait_for(lambda: "before=1" in srv.read(srv.access_log))
    rotated = srv.access_log.with_name("access.log.1")
    os.rename(srv.access_log, rotated)
    erotated = srv.error_log.with_name("error.log.1")
    os.rename(srv.error_log, erotated)
    srv.signal(signal.SIGUSR1)
    n = [0]

    def new_file_has_line():
        n[0] += 1
        srv.get(f"/hello.txt?after={n[0]}")
        return "after=" in srv.read(srv.access_log)

    assert t.wait_for(new_file_has_line, 5, step=0.1), "USR1 did not reopen the access log"
    assert "before=1" in srv.read(rotated)
    assert "before=1" not in srv.read(srv.access_log)
    assert srv.error_log.exists(), "USR1 did not reopen the error log"
