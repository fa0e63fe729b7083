"""HTTP/3 runs in a supervised process of its own (http3.isolate, on by default): a crash in
the QUIC library ends that process only. HTTP/1 and HTTP/2 keep serving without a failed
request, the main process logs the death and starts another HTTP/3 process (with a back-off
when it keeps dying), signals reach both, and the child ends with the main process."""

import os
import re
import signal
import shutil
import subprocess
import time

import pytest

import tern_e2e as t
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(shutil.which("gtlsclient") is None,
                                reason="gtlsclient (ngtcp2-client) is not installed")


def http3_built():
    out = subprocess.run([t.TERN_BIN, "-V"], capture_output=True, text=True).stdout
    return "http3: yes" in out


@pytest.fixture
def srv(make_tls_server, certs):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    return make_tls_server(certs.ec, certs.ec_key, workers=2)


def h3_get(srv, tmp_path, path="/hello.txt"):
    out = tmp_path / f"dl{time.monotonic_ns()}"
    out.mkdir()
    subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close", "--timeout=3s",
                    "--download", str(out), "127.0.0.1", str(srv.tls_port),
                    f"https://127.0.0.1:{srv.tls_port}{path}"],
                   capture_output=True, timeout=30 * t.SLOW)
    f = out / path.lstrip("/")
    return f.read_bytes() if f.exists() else None


def children(pid):
    """Pids of the processes whose parent is pid."""
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d))
    return kids


def h3_pids(srv):
    """The HTTP/3 processes the error log reported, in order."""
    return [int(p) for p in re.findall(r"HTTP/3 process (\d+) serving", srv.read(srv.error_log))]


def expect_crash_lines(srv, n):
    """The deliberate crashes are the only problems the error log shows; consumes them."""
    found = srv.problems()
    assert len(found) <= 1 and all("killed by signal" in f for f in found), found
    assert srv.read(srv.error_log).count("killed by signal") == n


def test_crash_leaves_tcp_serving_and_http3_comes_back(srv, tmp_path):
    assert h3_get(srv, tmp_path) == t.HELLO
    first = h3_pids(srv)
    assert len(first) == 1 and children(srv.pid) == first
    # HTTP/2 and HTTP/1.1 load across the crash: not one request may fail
    url = f"https://127.0.0.1:{srv.tls_port}/hello.txt"
    loads = [subprocess.Popen(["h2load", "-D", "3", "-c", "4", "-m", m, *h1, url],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for m, h1 in (("8", []), ("1", ["--h1"]))]
    time.sleep(0.5)
    # an assertion failing inside ngtcp2 or GnuTLS (SIGABRT: ASan builds turn SIGSEGV into
    # a report and exit 1, which tests the same path but reads differently)
    os.kill(first[0], signal.SIGABRT)
    for load in loads:
        out, _ = load.communicate(timeout=60 * t.SLOW)
        m = re.search(r"requests: .* (\d+) succeeded, (\d+) failed, (\d+) errored", out)
        assert m and int(m.group(1)) > 100 and m.group(2) == m.group(3) == "0", out
    assert srv.proc.poll() is None, "the main process died with its child"
    assert t.wait_for(lambda: len(h3_pids(srv)) == 2, 5)
    second = h3_pids(srv)[1]
    log = srv.read(srv.error_log)
    assert f"HTTP/3 process {first[0]} killed by signal 6" in log
    assert "starting another in 100 ms" in log
    assert children(srv.pid) == [second]
    assert h3_get(srv, tmp_path) == t.HELLO
    expect_crash_lines(srv, 1)


def test_crash_loop_backs_off(srv, tmp_path):
    for i in range(3):
        assert t.wait_for(lambda: len(h3_pids(srv)) == i + 1, 5)
        os.kill(h3_pids(srv)[-1], signal.SIGABRT)
        time.sleep(0.05)
    assert t.wait_for(lambda: len(h3_pids(srv)) == 4, 5)
    delays = [int(d) for d in re.findall(r"starting another in (\d+) ms", srv.read(srv.error_log))]
    assert delays == [100, 200, 400]
    assert h3_get(srv, tmp_path) == t.HELLO
    expect_crash_lines(srv, 3)


def test_signals_reach_the_http3_process(srv, tmp_path):
    child = h3_pids(srv)[0]
    srv.signal(signal.SIGHUP)
    assert t.wait_for(lambda: srv.read(srv.error_log).count("configuration reloaded") == 2, 5)
    assert "http3: configuration reloaded" in srv.read(srv.error_log)
    assert h3_get(srv, tmp_path) == t.HELLO
    srv.expect_exit = True
    srv.signal(signal.SIGQUIT)
    assert srv.proc.wait(timeout=20 * t.SLOW) == 0
    assert not os.path.exists(f"/proc/{child}") or \
        open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    assert "http3: HTTP/3 process stopped" in srv.read(srv.error_log)


def test_child_ends_with_a_killed_main_process(srv):
    child = h3_pids(srv)[0]
    srv.expect_exit = True
    srv.proc.kill()
    srv.proc.wait()
    assert t.wait_for(lambda: not os.path.exists(f"/proc/{child}"), 5)


def test_isolate_off_serves_http3_in_process(make_tls_server, certs, tmp_path):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    srv = make_tls_server(certs.ec, certs.ec_key, http3={"isolate": False})
    assert h3_get(srv, tmp_path) == t.HELLO
    assert h3_pids(srv) == [] and children(srv.pid) == []
