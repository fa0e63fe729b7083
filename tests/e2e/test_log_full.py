"""Logs whose writes fail (ENOSPC: /dev/full) cost no request, and the server does not spin
retrying them."""

import os
import signal
import subprocess
import time

import tern_e2e as t
from tls_util import certs  # noqa: F401  (fixture)


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def curl(*args):
    p = subprocess.run(["curl", "-sS", "--max-time", str(5 * t.SLOW), "-o", "-",
                        "-w", "\n%{http_code} %{http_version}"] + list(args),
                       capture_output=True, timeout=10 * t.SLOW)
    body, _, tail = p.stdout.rpartition(b"\n")
    return p.returncode, body, tail.decode()


def test_logs_on_a_full_disk(tmp_path, certs):  # noqa: F811
    files = t.make_tree(tmp_path)
    srv = t.Tern(tmp_path, name="full")
    tls_port = t.free_port()
    srv.args = ["serve", str(tmp_path / "root"), "--listen", f"127.0.0.1:{srv.port}",
                "--tls-listen", f"127.0.0.1:{tls_port}", "--cert", str(certs.leaf),
                "--key", str(certs.leaf_key), "--workers", "1",
                "--access-log", "/dev/full", "--error-log", "/dev/full"]
    srv.start()
    try:
        assert t.wait_port(tls_port, proc=srv.proc)
        for _ in range(3):
            r = srv.get("/hello.txt")
            assert r.status == 200 and r.body == t.HELLO, r
            r = srv.get("/nonexistent")  # an error-path request too
            assert r.status == 404, r
        http = f"http://127.0.0.1:{srv.port}"
        https = f"https://localhost:{tls_port}"
        resolve = f"localhost:{tls_port}:127.0.0.1"
        for args, version in (
                ([http + "/hello.txt", "--http2-prior-knowledge"], "2"),
                ([https + "/hello.txt", "-k", "--resolve", resolve, "--http2"], "2"),
                ([https + "/hello.txt", "-k", "--resolve", resolve, "--http1.1"], "1.1"),
                ([http + "/big.bin", "--http2-prior-knowledge"], "2")):
            rc, body, tail = curl(*args)
            want = files["big.bin"] if args[0].endswith("big.bin") else t.HELLO
            assert rc == 0 and tail == f"200 {version}" and body == want, (args, rc, tail)
        # idle: no busy loop retrying the failed log writes
        time.sleep(0.2)
        before = cpu_seconds(srv.pid)
        time.sleep(3)
        used = cpu_seconds(srv.pid) - before
        assert used < 0.2 * t.SLOW, f"tern used {used:.2f} s of CPU in 3 s idle"
        srv.signal(signal.SIGQUIT)
        assert srv.wait(10) == 0
        srv.expect_exit = True
    finally:
        problems = srv.stop()
    assert not problems, problems
