"""Running tern under an operator: binary upgrade (USR2 then QUIT, as nginx), systemd's socket
activation (LISTEN_FDS) and readiness protocol (NOTIFY_SOCKET), dropping root (`user:`), the
unit file (systemd-analyze verify) and `make install`."""

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import tern_e2e as t
from tern_e2e import HELLO

REPO = Path(__file__).resolve().parents[2]


def copy_binary(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".new")
    shutil.copy2(t.TERN_BIN, tmp)
    os.replace(tmp, dest)  # a new inode, as `install` puts a new build in place
    return dest


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def stop_pid(pid, sig=signal.SIGTERM, timeout=10):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    return t.wait_for(lambda: not alive(pid), timeout * t.SLOW)


def new_pid_from_log(srv, old_pid, timeout=10):
    """The pid of the process a binary upgrade started, once it says it serves."""
    marker = f"(binary upgrade from pid {old_pid})"
    found = {}

    def look():
        text = srv.read(srv.error_log)
        if marker not in text:
            return False
        for line in text.splitlines():
            if "binary upgrade: started" in line and f"this process ({old_pid})" in line:
                found["pid"] = int(line.split(" as pid ")[1].split()[0])
        return "pid" in found

    assert t.wait_for(look, timeout * t.SLOW), srv.read(srv.error_log)[-2000:]
    return found["pid"]


def bench(port, *args, seconds=4):
    cmd = [t.TERN_BIN, "bench", f"http://127.0.0.1:{port}/hello.txt", "-d", str(seconds), "--json",
           *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def bench_result(p):
    out, err = p.communicate(timeout=60 * t.SLOW)
    assert p.returncode == 0, err.decode(errors="replace")
    return json.loads(out)


def test_binary_upgrade_under_load(make_server, tmp_path):
    """USR2 starts the binary now at the path tern was started from, with every listening
    socket; QUIT then ends the old one. Clients that keep connections (HTTP/1.1 keep-alive,
    h2c streams) and clients that connect for every request see no failure at any point."""
    srv = make_server(start=False, workers=2)
    binary = copy_binary(tmp_path / "bin" / "tern")
    srv.binary = str(binary)
    srv.start()
    old = srv.pid
    loads = [bench(srv.port, "-c", "4"), bench(srv.port, "-c", "2", "--reconnect"),
             bench(srv.port, "-c", "2", "-m", "4", "--h2c")]
    time.sleep(1 * t.SLOW)
    copy_binary(binary)  # the "new build"
    new_inode = binary.stat().st_ino
    srv.signal(signal.SIGUSR2)
    new = new_pid_from_log(srv, old)
    try:
        assert alive(new), srv.read(srv.error_log)[-3000:] + srv.read(srv.stderr_path)[-3000:]
        assert os.stat(f"/proc/{new}/exe").st_ino == new_inode  # the new file runs
        assert os.stat(f"/proc/{old}/exe").st_ino != new_inode
        time.sleep(0.5 * t.SLOW)  # both serve
        srv.expect_exit = True
        srv.signal(signal.SIGQUIT)
        assert srv.wait(15) == 0
        results = [bench_result(p) for p in loads]
        for r in results:
            assert r["retried"] <= 8, r  # at most the keep-alive connections open at the QUIT
            assert r["failed"] == 0 and r["errored"] == 0 and r["connect_errors"] == 0, r
            assert r["succeeded"] > 0 and r["succeeded"] == r["done"], r
        # the new process serves alone now, on the same sockets
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as c:
            c.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := c.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(HELLO)
    finally:
        assert stop_pid(new), "the new process did not stop on TERM"
    log = srv.read(srv.error_log)
    assert "listening sockets inherited" in log


def test_binary_upgrade_that_fails_keeps_serving(make_server, tmp_path):
    srv = make_server(start=False)
    binary = copy_binary(tmp_path / "bin" / "tern")
    srv.binary = str(binary)
    srv.start()
    broken = binary.with_name("broken")
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    os.replace(broken, binary)
    srv.signal(signal.SIGUSR2)
    assert t.wait_for(lambda: "exited with status 3; this one keeps serving"
                      in srv.read(srv.error_log), 10 * t.SLOW), srv.read(srv.error_log)[-2000:]
    r = srv.get("/hello.txt")
    assert r.status == 200 and r.body == HELLO
    # a second USR2 may try again (the first one is over)
    srv.signal(signal.SIGUSR2)
    assert t.wait_for(lambda: srv.read(srv.error_log).count("this one keeps serving") == 2,
                      10 * t.SLOW)


def test_socket_activation(make_server):
    """systemd-socket-activate binds the sockets and execs tern with LISTEN_FDS; tern serves on
    them (its workers share the one socket) and closes one no listener names."""
    if not shutil.which("systemd-socket-activate"):
        pytest.fail("systemd-socket-activate missing (Debian package systemd; scripts/deps.sh)")
    srv = make_server(start=False, workers=2)
    extra = t.free_port()
    srv.wrapper = ["systemd-socket-activate", "-l", f"127.0.0.1:{srv.port}", "-l",
                   f"127.0.0.1:{extra}"]
    srv.start()  # its connect makes systemd-socket-activate exec tern
    for _ in range(20):
        r = srv.get("/hello.txt")
        assert r.status == 200 and r.body == HELLO
    log = srv.read(srv.error_log)
    assert "2 listening sockets inherited" in log
    assert f"inherited TCP socket 127.0.0.1:{extra} is not a listener of the configuration" in log
    # tern bound nothing of its own: the one listening socket is systemd's (fd 3, shared)
    listening = [ln for ln in Path(f"/proc/{srv.pid}/net/tcp").read_text().splitlines()[1:]
                 if ln.split()[3] == "0A" and int(ln.split()[1].split(":")[1], 16) == srv.port]
    assert len(listening) == 1, listening
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", extra), timeout=1).close()
    # a reload keeps serving on the inherited socket
    srv.signal(signal.SIGHUP)
    assert t.wait_for(lambda: "configuration reloaded" in srv.read(srv.error_log), 5 * t.SLOW)
    assert srv.get("/hello.txt").status == 200


class NotifySocket:
    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(10 * t.SLOW)

    def next(self):
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.split("\n") if line)


def test_sd_notify(make_server, tmp_path):
    """Type=notify: READY=1 once serving, RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a
    reload, STOPPING=1 at a stop; the HTTP/3 process sends nothing of its own."""
    ns = NotifySocket(tmp_path / "notify")
    srv = make_server(start=False)
    srv.env = {"NOTIFY_SOCKET": ns.path}
    srv.start()
    m = ns.next()
    assert m.get("READY") == "1", m
    srv.signal(signal.SIGHUP)
    m = ns.next()
    assert m.get("RELOADING") == "1" and int(m["MONOTONIC_USEC"]) > 0, m
    now_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert abs(now_us - int(m["MONOTONIC_USEC"])) < 10_000_000
    assert ns.next().get("READY") == "1"
    srv.config = "servers: [not: valid"  # a failed reload still ends the reloading state
    srv.write_config()
    srv.signal(signal.SIGHUP)
    assert ns.next().get("RELOADING") == "1"
    assert ns.next().get("READY") == "1"
    srv.expect_exit = True
    srv.signal(signal.SIGQUIT)
    assert ns.next().get("STOPPING") == "1"
    assert srv.wait(10) == 0
    ns.sock.settimeout(0.5)
    with pytest.raises(socket.timeout):
        ns.next()


def test_sd_notify_with_http3_process(make_server, tmp_path):
    from tls_util import EC, _self_signed
    ns = NotifySocket(tmp_path / "notify")
    cert, key = _self_signed(tmp_path, "ec", EC, "localhost")
    srv = make_server(start=False, tls_listen=[f"127.0.0.1:{t.free_port()}"],
                      tls={"cert": str(cert), "key": str(key)})
    srv.env = {"NOTIFY_SOCKET": ns.path}
    srv.start()
    assert ns.next().get("READY") == "1"
    assert t.wait_for(lambda: "HTTP/3 process" in srv.read(srv.error_log), 5 * t.SLOW)
    ns.sock.settimeout(1)
    with pytest.raises(socket.timeout):  # only the main process speaks for the service
        ns.next()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_user_drops_root(make_server):
    root = Path(tempfile.mkdtemp(prefix="tern-user-"))
    try:
        root.chmod(0o755)
        (root / "hello.txt").write_bytes(HELLO)
        (root / "secret.txt").write_bytes(b"root only\n")
        (root / "secret.txt").chmod(0o600)
        srv = make_server(start=False, user="nobody")
        srv.config["servers"][0]["root"] = str(root)  # the logs stay open; their directory
        srv.start()  # needs no access
        assert t.wait_for(lambda: "serving as user nobody" in srv.read(srv.error_log), 5 * t.SLOW)
        status = Path(f"/proc/{srv.pid}/status").read_text()
        uids = next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1:]
        assert uids == ["65534"] * 4, status
        groups = next(ln for ln in status.splitlines() if ln.startswith("Groups:")).split()[1:]
        assert "0" not in groups
        for path, want in (("/hello.txt", 200), ("/secret.txt", 403)):
            r = srv.get(path)
            assert r.status == want, (path, r.status)
        assert "serving as user nobody" in srv.read(srv.error_log)
    finally:
        shutil.rmtree(root)


def test_user_unknown_refuses_to_serve(make_server):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    srv = make_server(start=False, user="no-such-user-here")
    srv.write_config()
    p = subprocess.run([t.TERN_BIN, "serve", "-c", str(srv.conf_path)], capture_output=True,
                       timeout=20 * t.SLOW)
    assert p.returncode == 1
    assert "user no-such-user-here: no such user" in srv.read(srv.error_log)


def test_user_config_checked(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"root: {tmp_path}\nuser: ''\n")
    p = subprocess.run([t.TERN_BIN, "check", "-c", str(cfg)], capture_output=True, text=True)
    assert p.returncode != 0 and "c.yaml:2:" in p.stderr and "user" in p.stderr


def test_make_install_and_unit_verifies(tmp_path):
    """`make install` with PREFIX and DESTDIR lays out the binary, man pages, the unit and an
    example configuration; the unit passes systemd-analyze verify; the man pages render."""
    dest = tmp_path / "dest"
    build = Path(t.TERN_BIN).parent
    p = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/usr",
                        f"BUILD={build}", "NO_BUILD=1"], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    files = {str(f.relative_to(dest)) for f in dest.rglob("*") if f.is_file()}
    assert {"usr/bin/tern", "usr/share/man/man1/tern.1", "usr/share/man/man5/tern.yaml.5",
            "usr/lib/systemd/system/tern.service", "etc/tern/tern.yaml"} <= files, files
    assert (dest / "usr/bin/tern").stat().st_mode & stat.S_IXUSR
    unit = (dest / "usr/lib/systemd/system/tern.service").read_text()
    assert "ExecStart=/usr/bin/tern serve -c /etc/tern/tern.yaml" in unit
    assert "Type=notify" in unit and "@BINDIR@" not in unit
    # the installed configuration serves the installed site (under DESTDIR here)
    conf = dest / "etc/tern/tern.yaml"
    text = conf.read_text()
    assert "\nroot: /usr/share/tern/www " in text
    assert (dest / "usr/share/tern/www/index.html").is_file()
    conf.write_text(text.replace("root: /usr/share/tern/www", f"root: {dest}/usr/share/tern/www"))
    p = subprocess.run([t.TERN_BIN, "check", "-c", str(conf)], capture_output=True, text=True)
    assert p.returncode == 0 and "configuration ok" in p.stdout, p.stdout + p.stderr
    # systemd-analyze checks that ExecStart's binary exists: point it at the installed copy
    local = tmp_path / "tern.service"
    local.write_text(unit.replace("/usr/bin/tern", str(dest / "usr/bin/tern")))
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze missing (Debian package systemd; scripts/deps.sh)")
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", str(local)], capture_output=True,
                       text=True)
    assert p.returncode == 0 and not p.stderr.strip(), p.stdout + p.stderr
    for page in ("usr/share/man/man1/tern.1", "usr/share/man/man5/tern.yaml.5"):
        p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(dest / page)],
                           capture_output=True, text=True)
        assert p.returncode == 0 and not p.stderr.strip(), (page, p.stderr)
    # a second install keeps an edited configuration
    (dest / "etc/tern/tern.yaml").write_text("# mine\n")
    subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/usr", f"BUILD={build}",
                    "NO_BUILD=1"], cwd=REPO, check=True, capture_output=True)
    assert (dest / "etc/tern/tern.yaml").read_text() == "# mine\n"


FAULT_BIN = Path(t.TERN_BIN).resolve().parent / "tern-fault"


def fault_counts(path):
    """The live counters of tern-fault (tests/fault/README.md)."""
    import struct
    d = Path(path).read_bytes()
    names = d[:128].decode().split(":")[1].split()
    return dict(zip(names, struct.unpack(f"={len(names)}Q", d[128:128 + 8 * len(names)])))


def get_status(port):
    """The status of a GET, or 0 when the connection was closed or reset without one."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5 * t.SLOW) as c:
            c.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := c.recv(65536):
                data += chunk
    except ConnectionResetError:
        return 0
    return int(data.split(b" ", 2)[1]) if data else 0


def test_fault_binary_upgrade(tmp_path):
    """tern-fault makes each allocation after the first request fail in turn while a binary
    upgrade runs: the upgrade starts or is refused with a log line, the old process keeps
    serving, and QUIT still ends it with status 0, with no sanitizer report."""
    if not os.access(FAULT_BIN, os.X_OK):
        pytest.skip("tern-fault not built (-Dfault_injection=true)")
    binary = tmp_path / "bin" / "tern"
    binary.parent.mkdir()
    shutil.copy2(FAULT_BIN, binary)
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_bytes(HELLO)

    def run(fault):
        port = t.free_port()
        log = tmp_path / f"error-{fault}.log"
        stderr = tmp_path / f"stderr-{fault}"
        env = dict(os.environ, TERN_FAULT_COUNT=str(tmp_path / f"counts-{fault}"))
        env.pop("TERN_FAULT", None)
        if fault:
            env["TERN_FAULT"] = fault
        with open(stderr, "wb") as err:
            proc = subprocess.Popen([str(binary), "serve", str(root), "--listen",
                                     f"127.0.0.1:{port}", "--workers", "1", "--error-log",
                                     str(log)], env=env, stdin=subprocess.DEVNULL, stderr=err)
        new = None
        try:
            assert t.wait_for(lambda: " started with " in t.Tern.read(log), 10 * t.SLOW)
            assert get_status(port) == 200  # arms the counting
            time.sleep(0.2)
            before = fault_counts(tmp_path / f"counts-{fault}")["malloc"]
            proc.send_signal(signal.SIGUSR2)
            assert t.wait_for(lambda: "binary upgrade: started" in t.Tern.read(log)
                              or "binary upgrade: out of memory" in t.Tern.read(log),
                              10 * t.SLOW), t.Tern.read(log)
            text = t.Tern.read(log)
            if "binary upgrade: started" in text:  # it carries TERN_FAULT too: stop it
                new = int(text.split(" as pid ")[1].split()[0])
                assert t.wait_for(lambda: "(binary upgrade from pid" in t.Tern.read(log),
                                  10 * t.SLOW)
                assert stop_pid(new)
            for _ in range(3):  # the one fault may meet one of these: 5xx or a clean close
                status = get_status(port)
                assert status in (0, 200, 500, 503), status
            assert proc.poll() is None, "the old process died"
            assert get_status(port) == 200
            proc.send_signal(signal.SIGQUIT)
            assert proc.wait(timeout=15 * t.SLOW) == 0
            bad = [m for m in t.BAD_MARKERS if m in t.Tern.read(stderr) + t.Tern.read(log)]
            assert not bad, t.Tern.read(stderr)[-3000:]
            return before, "out of memory" in text
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if new:
                stop_pid(new)

    before, refused = run(None)
    assert not refused
    refusals = 0
    for n in range(before + 1, before + 7):
        refusals += run(f"malloc:{n}")[1]
    assert refusals >= 1, "no allocation of the upgrade was made to fail"


def test_check_validates_what_serve_would_load(tmp_path):
    """`tern check` loads the certificates and keys as `serve` would, and looks the user up."""
    from tls_util import EC, _self_signed
    cert, key = _self_signed(tmp_path, "ec", EC, "localhost")
    other_cert, other_key = _self_signed(tmp_path, "ec2", EC, "other")
    (tmp_path / "www").mkdir()
    cfg = tmp_path / "c.yaml"

    def run(text):
        cfg.write_text(text)
        p = subprocess.run([t.TERN_BIN, "check", "-c", str(cfg)], capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr

    base = f"tls_listen: 127.0.0.1:{t.free_port()}\nroot: www\n"
    rc, out = run(base + f"tls: {{cert: {cert}, key: {key}}}\n")
    assert rc == 0 and "configuration ok" in out, out
    rc, out = run(base + f"tls: {{cert: {cert}, key: {other_key}}}\n")
    assert rc == 1 and "does not match" in out and str(other_key) in out, out
    rc, out = run(base + f"tls: {{cert: {tmp_path / 'missing.pem'}, key: {key}}}\n")
    assert rc == 1 and "missing.pem" in out, out
    rc, out = run(base + f"tls: {{cert: {cert}, key: {key}}}\nuser: no-such-user-here\n")
    assert rc == 1 and "user no-such-user-here: no such user" in out, out
    rc, out = run(base + f"tls: {{cert: {cert}, key: {key}}}\nuser: 'nobody:nogroup'\n")
    assert rc == 0, out
    rc, out = run(base + f"tls: {{cert: {cert}, key: {key}}}\nuser: 'nobody:no-such-group'\n")
    assert rc == 1 and "no such group no-such-group" in out, out


def h3_get(port, timeout=10):
    r = subprocess.run([t.TERN_BIN, "get", "--http3", "-k", "-s", "-m", str(int(5 * t.SLOW)),
                        f"https://127.0.0.1:{port}/hello.txt"], capture_output=True,
                       timeout=timeout * t.SLOW + 10)
    return r.returncode, r.stdout


def test_binary_upgrade_http3(make_server, tmp_path):
    """HTTP/3's UDP port goes to the new binary's HTTP/3 process (the old one ends first), and a
    failed upgrade gives the old process its HTTP/3 back."""
    from tls_util import EC, _self_signed
    cert, key = _self_signed(tmp_path, "ec", EC, "localhost")
    tls_port = t.free_port()
    srv = make_server(start=False, workers=2, tls_listen=[f"127.0.0.1:{tls_port}"],
                      tls={"cert": str(cert), "key": str(key)})
    binary = copy_binary(tmp_path / "bin" / "tern")
    srv.binary = str(binary)
    srv.start()
    assert t.wait_for(lambda: h3_get(tls_port)[1] == HELLO, 10 * t.SLOW)
    old = srv.pid
    # a failed upgrade first: HTTP/3 comes back here
    good = binary.with_name("good")
    os.link(binary, good)
    broken = binary.with_name("broken")
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    os.replace(broken, binary)
    srv.signal(signal.SIGUSR2)
    assert t.wait_for(lambda: "this one keeps serving" in srv.read(srv.error_log), 10 * t.SLOW)
    assert t.wait_for(lambda: h3_get(tls_port)[1] == HELLO, 15 * t.SLOW), srv.read(srv.error_log)
    # then a real one
    os.replace(good, binary)
    srv.signal(signal.SIGUSR2)
    new = new_pid_from_log(srv, old)
    try:
        # HTTP/3 processes that served: the first, the one after the failed upgrade, the new one's
        assert t.wait_for(lambda: len(re.findall(r"http3: HTTP/3 process \d+ serving",
                                                 srv.read(srv.error_log))) >= 3, 10 * t.SLOW)
        srv.expect_exit = True
        srv.signal(signal.SIGQUIT)
        assert srv.wait(15) == 0
        for _ in range(3):
            rc, body = h3_get(tls_port)
            assert rc == 0 and body == HELLO, (rc, srv.read(srv.error_log)[-2000:])
        assert get_status(srv.port) == 200
    finally:
        assert stop_pid(new)
