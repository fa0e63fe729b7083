#!/usr/bin/python3
"""Soak and chaos test for tern.

Builds a document tree and a self-signed certificate in a temporary directory, starts
`tern serve` on a cleartext and a TLS port, and for --duration seconds drives mixed load over
four wires (HTTP/1.1, HTTP/1.1 over TLS, h2c by prior knowledge, h2 over TLS) from several
client slots: whole downloads (1 KiB to 50 MiB), single ranges, on-the-fly gzip/br/zstd,
rate-limited slow downloads, and clients that vanish mid-response (a killed curl, or a Python
socket that reads part of a response and closes or resets). Every body is compared byte for
byte with what the server should have sent.

Meanwhile the server gets HUP (reload) every few seconds, USR1 after the access log was
renamed (the new file must get lines), optionally QUIT + restart cycles on the same ports, and
at the end QUIT with downloads in flight (they must finish; tern must exit 0). Its RSS and open
descriptors are sampled every second; the load is paused briefly at the end of the warm-up and
before the final QUIT so that both readings are taken with no client connected.

Exit status: 0 when all is well; 1 on a failed request the server could have served, a
truncated or wrong body, RSS or descriptors grown more than 10% after warm-up, a crash, a
sanitizer report or [alert]/[crit] in the logs, or a non-zero exit on QUIT; 2 when the run
could not be set up.

Not counted as failures (reported apart): clients the script itself killed or abandoned, and
requests that found no listener because the script had stopped the server (refused while
restarting, or a connection made less than NO_RESPONSE_WINDOW seconds before the QUIT that got
no response at all).

Usage: tests/soak/soak.py [--tern build/tern] [--duration 60] [--slots 8] [--json FILE]
"""

import argparse
import collections
import json
import os
import random
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

MiB = 1 << 20
WIRES = ("h1", "h1-tls", "h2c", "h2-tls")
FILES = {"small.bin": 1024, "medium.bin": 100 * 1024, "large.bin": 5 * MiB, "huge.bin": 50 * MiB}
TEXT = "text.txt"
CODINGS = ("gzip", "br", "zstd")
# kind -> weight of a random pick
KINDS = {"small": 24, "large": 10, "range": 16, "compressed": 16, "slow": 10,
         "kill": 10, "vanish": 10}
BAD_MARKERS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "MemorySanitizer",
               "runtime error:", "[alert]", "[crit]", "Segmentation fault", "core dumped")
NO_RESPONSE_WINDOW = 1.0   # s before a QUIT in which a request sent may be dropped unanswered
GRACEFUL = 10              # tern's default timeouts.graceful
RSS_GROWTH, RSS_SLACK_KB = 0.10, 2048
FD_GROWTH, FD_SLACK = 0.10, 8
# failure verdicts (anything else is not the server's fault)
FAILURES = ("truncated", "wrong_body", "wrong_status", "wrong_version", "curl_error",
            "no_response", "refused")


class ServerReset(Exception):
    """The server reset a stream or connection a vanishing client was still reading."""


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tree(root):
    """Writes the documents; returns {name: bytes}."""
    os.makedirs(root)
    docs = {}
    for name, size in FILES.items():
        docs[name] = os.urandom(size)
    rng = random.Random(7)
    words = ["tern", "server", "stream", "window", "frame", "header", "range", "reload",
             "signal", "socket", "buffer", "the", "a", "of", "and", "to", "with", "byte"]
    lines, size, n = [], 0, 0
    while size < MiB:
        line = f"{n:06d} " + " ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + "\n"
        lines.append(line)
        size += len(line)
        n += 1
    docs[TEXT] = "".join(lines).encode()
    for name, data in docs.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    return docs


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "7", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def proc_sample(pid):
    """(rss_kb, open fds) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration, ValueError):
        return None


def fd_kinds(pid):
    """{'socket': n, 'file': n, ...} for a process's descriptors."""
    kinds = collections.Counter()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            kinds[target.split(":")[0] if ":" in target and not target.startswith("/")
                  else "file"] += 1
    except OSError:
        pass
    return dict(kinds)


class Server:
    """One tern process at a time on fixed ports; restarts keep the ports."""

    def __init__(self, tern, work, root, cert, key):
        self.tern, self.work, self.root, self.cert, self.key = tern, work, root, cert, key
        self.port, self.tls_port = free_port(), free_port()
        self.access_log = os.path.join(work, "access.log")
        self.error_log = os.path.join(work, "error.log")
        self.stderr_path = os.path.join(work, "tern.stderr")
        self.proc = None
        self.instances = []    # {pid, started, stopped, rc}
        self.stopping = False  # a QUIT was sent by the script; the exit is expected

    def start(self):
        args = [self.tern, "serve", self.root, "--listen", f"127.0.0.1:{self.port}",
                "--tls-listen", f"127.0.0.1:{self.tls_port}", "--cert", self.cert,
                "--key", self.key, "--workers", "2", "--access-log", self.access_log,
                "--error-log", self.error_log]
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tern exited at start with {self.proc.returncode}; "
                                   f"see {self.stderr_path}")
            if all(self._listening(p) for p in (self.port, self.tls_port)):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("tern did not listen within 15 s")
        self.stopping = False
        self.instances.append({"pid": self.proc.pid, "started": time.monotonic(),
                               "stopped": None, "rc": None})

    @staticmethod
    def _listening(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def quit_and_wait(self, timeout=GRACEFUL + 10):
        """Graceful stop; returns tern's exit status (None if it had to be killed)."""
        self.stopping = True
        self.signal(signal.SIGQUIT)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.instances[-1]["stopped"] = time.monotonic()
        self.instances[-1]["rc"] = rc
        return rc


class Soak:
    def __init__(self, opts):
        self.o = opts
        self.rng = random.Random(opts.seed)
        self.work = tempfile.mkdtemp(prefix="tern-soak-")
        self.root = os.path.join(self.work, "root")
        self.docs = make_tree(self.root)
        self.cert, self.key = make_cert(self.work)
        self.srv = Server(opts.tern, self.work, self.root, self.cert, self.key)
        self.t0 = None
        self.lock = threading.Lock()
        self.results = []
        self.events = []          # (t, name) signals and restarts, relative to t0
        self.gaps = []            # [t_quit, t_ready or inf] the script made the server absent
        self.samples = []         # (t, pid, rss_kb, fds)
        self.checkpoints = {}     # pid -> {"warm-up end"|"end": quiesced sample}
        self.rotations = []
        self.problems = []        # server-level failures (crash, exit status, leaks, logs)
        self.stop_new = threading.Event()
        self.paused = threading.Event()
        self.busy = 0
        self.busy_cv = threading.Condition()
        self.done = threading.Event()
        self.ssl_h1 = self._ssl_ctx(["http/1.1"])
        self.ssl_h2 = self._ssl_ctx(["h2"])

    def _ssl_ctx(self, alpn):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.set_alpn_protocols(alpn)
        return ctx

    def now(self):
        return time.monotonic() - self.t0

    def event(self, name):
        with self.lock:
            self.events.append((round(self.now(), 3), name))

    # ---- one request ------------------------------------------------------------------

    def url(self, wire, path):
        if wire.endswith("tls"):
            return f"https://localhost:{self.srv.tls_port}{path}"
        return f"http://localhost:{self.srv.port}{path}"

    def curl_args(self, wire, path, out, extra, max_time):
        flags = {"h1": ["--http1.1"], "h1-tls": ["--http1.1"],
                 "h2c": ["--http2-prior-knowledge"], "h2-tls": ["--http2"]}[wire]
        port = self.srv.tls_port if wire.endswith("tls") else self.srv.port
        return (["curl", "-sS", "--max-time", str(max_time), "-o", out, "--cacert", self.cert,
                 "--resolve", f"localhost:{port}:127.0.0.1",
                 "-w", "%{http_code} %{size_download} %{http_version} %{time_pretransfer} "
                       "%{time_total} enc=%header{content-encoding}"]
                + flags + list(extra) + [self.url(wire, path)])

    def run_curl(self, wire, kind, path, out, expect, code, extra=(),
                 max_time=120, kill_after=None, sentinel=False):
        """Runs one curl and judges it. expect: the exact bytes the body must decode to."""
        try:
            os.unlink(out)
        except FileNotFoundError:
            pass
        t_start = self.now()
        p = subprocess.Popen(self.curl_args(wire, path, out, extra, max_time),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        killed = False
        if kill_after is not None:
            try:
                p.wait(kill_after)
            except subprocess.TimeoutExpired:
                p.kill()
                killed = True
        stdout, stderr = p.communicate()
        t_end = self.now()
        r = {"wire": wire, "kind": kind, "path": path, "extra": " ".join(extra),
             "t0": round(t_start, 3), "t1": round(t_end, 3), "rc": p.returncode,
             "sentinel": sentinel}
        w = stdout.decode(errors="replace").split()
        r["code"] = int(w[0]) if w and w[0].isdigit() else 0
        r["size_download"] = int(w[1]) if len(w) > 1 and w[1].isdigit() else 0
        r["version"] = w[2] if len(w) > 2 else ""
        try:
            pretransfer, total = float(w[3]), float(w[4])
        except (IndexError, ValueError):
            pretransfer, total = 0.0, 0.0
        # when the request went out: curl's clock starts after its own start-up, so count back
        # from its exit; None if it was never sent (no connection or no TLS handshake)
        r["t_sent"] = round(t_end - total + pretransfer, 3) if pretransfer > 0 else None
        r["encoding"] = w[5][4:] if len(w) > 5 and w[5].startswith("enc=") else ""
        r["stderr"] = stderr.decode(errors="replace").strip()[-200:]
        if killed:
            r["verdict"] = "killed_by_script"
            return self.record(r)
        got_len, mismatch = self.compare(out, expect)
        r["body_len"], r["expected_len"] = got_len, len(expect)
        want_ver = "2" if wire.startswith("h2") else "1.1"
        if p.returncode == 0 and r["code"] == code:
            if got_len < len(expect):
                r["verdict"] = "truncated"
            elif mismatch is not None or got_len != len(expect):
                r["verdict"] = "wrong_body"
                r["first_mismatch"] = mismatch
            elif r["version"] != want_ver:
                r["verdict"] = "wrong_version"
            else:
                r["verdict"] = "ok"
        elif r["code"] == 0 and got_len == 0:
            r["verdict"] = self.absent_verdict(t_start, t_end, r["t_sent"],
                                               refused=p.returncode == 7)
        elif r["code"] == code and got_len < len(expect):
            r["verdict"] = "truncated"
        elif r["code"] not in (0, code):
            r["verdict"] = "wrong_status"
        else:
            r["verdict"] = "curl_error"
        return self.record(r)

    def compare(self, path, expect):
        """(length of the file, offset of the first differing byte or None)."""
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return 0, None
        view, off, mismatch = memoryview(expect), 0, None
        with f:
            while True:
                chunk = f.read(MiB)
                if not chunk:
                    break
                if mismatch is None and chunk != view[off:off + len(chunk)]:
                    want = view[off:off + len(chunk)]
                    mismatch = off + next((i for i in range(min(len(chunk), len(want)))
                                           if chunk[i] != want[i]), min(len(chunk), len(want)))
                off += len(chunk)
        return off, mismatch

    def absent_verdict(self, t_start, t_end, t_sent, refused):
        """A request that got nothing back: was the server away because the script stopped it?

        Refused while the script had the server stopped; or unanswered on a connection that a
        graceful stop closed before the request was sent or within NO_RESPONSE_WINDOW after it
        (HTTP/1 may close a connection with no request read; HTTP/2's GOAWAY says a stream
        above its last-stream-id was not processed). A request sent earlier than that must get
        its response.
        """
        for a, b in self.gaps:
            b = b if b is not None else float("inf")
            if t_end < a or t_start > b:
                continue
            if refused:
                return "refused_while_stopped"
            if t_sent is None or t_sent >= a - NO_RESPONSE_WINDOW:
                return "dropped_at_stop"
        return "refused" if refused else "no_response"

    def record(self, r):
        with self.lock:
            self.results.append(r)
        if r["verdict"] in FAILURES:
            sig = self.signals_during(r["t0"], r["t1"])
            r["signals"] = sig
            r["signal_before"] = self.signal_before(r["t0"])
            log(f"FAIL {r['verdict']}: {r['wire']} {r['kind']} {r['path']} {r['extra']} "
                f"rc={r['rc']} code={r['code']} body={r.get('body_len')}/"
                f"{r.get('expected_len')} across={'+'.join(sig) or '-'} "
                f"(start: {r['signal_before'] or 'no signal'} ) {r.get('stderr', '')}")
        return r

    def signals_during(self, a, b):
        with self.lock:
            return [n for t, n in self.events if a <= t <= b]

    def signal_before(self, t0):
        """'HUP 0.51 s before' for the last signal sent before t0, or ''."""
        with self.lock:
            prev = [(t, n) for t, n in self.events if t < t0]
        return f"{prev[-1][1]} {t0 - prev[-1][0]:.2f} s before" if prev else ""

    # ---- kinds of request -------------------------------------------------------------

    def do_request(self, rng, wire, kind, out):
        if kind == "small":
            name = rng.choice(["small.bin", "medium.bin"])
            return self.run_curl(wire, kind, "/" + name, out, self.docs[name], 200)
        if kind == "large":
            name = "huge.bin" if rng.random() < 0.25 else "large.bin"
            return self.run_curl(wire, kind, "/" + name, out, self.docs[name], 200)
        if kind == "range":
            name = rng.choice(["medium.bin", "large.bin", "huge.bin", TEXT])
            data = self.docs[name]
            size = len(data)
            how = rng.random()
            if how < 0.15:     # suffix
                n = rng.randint(1, min(size, 2 * MiB))
                spec, lo, hi = f"-{n}", size - n, size - 1
            elif how < 0.3:    # open-ended
                lo = rng.randint(max(0, size - 2 * MiB), size - 1)
                spec, hi = f"{lo}-", size - 1
            else:
                lo = rng.randint(0, size - 1)
                hi = min(size - 1, lo + rng.randint(0, 2 * MiB))
                spec = f"{lo}-{hi}"
            return self.run_curl(wire, kind, "/" + name, out, data[lo:hi + 1], 206,
                                 extra=("-r", spec))
        if kind == "compressed":
            coding = rng.choice(CODINGS)
            r = self.run_curl(wire, kind, "/" + TEXT, out, self.docs[TEXT], 200,
                              extra=("--compressed", "-H", f"Accept-Encoding: {coding}"))
            r["asked_coding"] = coding
            return r
        if kind == "slow":   # about 2.5 s each, well inside the graceful stop's 10 s
            if rng.random() < 0.5:
                return self.run_curl(wire, kind, "/medium.bin", out,
                                     self.docs["medium.bin"], 200, extra=("--limit-rate", "40K"))
            return self.run_curl(wire, kind, "/large.bin", out, self.docs["large.bin"],
                                 200, extra=("--limit-rate", "2M"))
        if kind == "kill":   # a client that vanishes: curl killed mid-download
            name = rng.choice(["large.bin", "huge.bin"])
            return self.run_curl(wire, kind, "/" + name, out, self.docs[name], 200,
                                 extra=("--limit-rate", "8M"),
                                 kill_after=rng.uniform(0.05, 0.8))
        if kind == "vanish":
            return self.vanish(rng, wire)
        raise ValueError(kind)

    def vanish(self, rng, wire):
        """A socket client that reads part of /huge.bin, then closes or resets."""
        want = rng.randint(1, 4 * MiB)
        how = rng.choice(["close", "reset"] + (["rst_stream"] if wire.startswith("h2") else []))
        # the helpers update code, body_len (body bytes), raw (bytes read) and t_sent as they go
        r = {"wire": wire, "kind": "vanish", "path": "/huge.bin", "extra": f"{how} after {want}",
             "t0": round(self.now(), 3), "rc": 0, "code": 0, "sentinel": False,
             "body_len": 0, "expected_len": want, "raw": 0, "t_sent": None}
        err, sock = None, None
        try:
            sock = socket.create_connection(("127.0.0.1", self.srv.tls_port if wire.endswith(
                "tls") else self.srv.port), timeout=20)
            if wire.endswith("tls"):
                ctx = self.ssl_h2 if wire.startswith("h2") else self.ssl_h1
                sock = ctx.wrap_socket(sock, server_hostname="localhost")
            if wire.startswith("h2"):
                self._vanish_h2(sock, r, how)
            else:
                self._vanish_h1(sock, r)
        except ConnectionRefusedError as e:
            err, r["rc"] = f"refused: {e}", 7
        except (OSError, ssl.SSLError, ValueError, ServerReset,
                h2.exceptions.ProtocolError) as e:
            err = f"{type(e).__name__}: {e}"
        finally:
            if sock is not None:
                if how == "reset":
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                    except OSError:
                        pass
                sock.close()
        r["t1"] = round(self.now(), 3)
        r["stderr"] = (err or "") + f" (read {r['raw']} bytes in all)"
        if err is None and ((r["body_len"] >= want and r["code"] == 200) or r.get("goaway")):
            r["verdict"] = "vanished_by_script"
        elif r["code"] == 0 and not r.get("goaway"):
            r["verdict"] = self.absent_verdict(r["t0"], r["t1"], r["t_sent"],
                                               refused=r["rc"] == 7)
        elif r["code"] not in (0, 200):
            r["verdict"] = "wrong_status"
        else:
            r["verdict"] = "truncated"
        return self.record(r)

    def _vanish_h1(self, sock, r):
        sock.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: localhost\r\n"
                     b"User-Agent: soak-vanish\r\n\r\n")
        r["t_sent"] = round(self.now(), 3)
        buf = b""
        while r["body_len"] < r["expected_len"]:
            data = sock.recv(256 * 1024)
            if not data:
                return
            r["raw"] += len(data)
            if r["code"] == 0:
                buf += data
                if b"\r\n\r\n" not in buf:
                    continue
                head, rest = buf.split(b"\r\n\r\n", 1)
                r["code"] = int(head.split(b" ", 2)[1])
                r["body_len"] = len(rest)
            else:
                r["body_len"] += len(data)

    def _vanish_h2(self, sock, r, how):
        wire = r["wire"]
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        port = self.srv.tls_port if wire.endswith("tls") else self.srv.port
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "GET"),
                                (":scheme", "https" if wire.endswith("tls") else "http"),
                                (":authority", f"localhost:{port}"), (":path", "/huge.bin"),
                                ("user-agent", "soak-vanish")], end_stream=True)
        sock.sendall(conn.data_to_send())
        r["t_sent"] = round(self.now(), 3)
        while r["body_len"] < r["expected_len"]:
            data = sock.recv(256 * 1024)
            if not data:
                return
            r["raw"] += len(data)
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError as e:
                # python-h2 refuses any frame after a GOAWAY; when DATA for our (still open)
                # stream follows the GOAWAY in the same read, it raises instead of returning
                # ConnectionTerminated. The message names the state the frame found: CLOSED
                # before our frame means a GOAWAY came first (this client never sends one).
                if "in state ConnectionState.CLOSED" in str(e):
                    r["goaway"] = "GOAWAY then DATA in one read (python-h2 stops there)"
                    return
                raise
            for ev in events:
                if isinstance(ev, h2.events.ResponseReceived):
                    r["code"] = int(dict(ev.headers)[b":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    r["body_len"] += len(ev.data)
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    raise ServerReset(f"stream reset by the server (error {ev.error_code})")
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    # a graceful GOAWAY (reload or stop): python-h2 takes no frame after it,
                    # so this client goes away here; the curl clients check such streams
                    if ev.error_code != 0:
                        raise ServerReset(f"GOAWAY with error {ev.error_code}")
                    r["goaway"] = f"last stream {ev.last_stream_id}, ours {sid}"
                    return
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
        if how == "rst_stream":
            conn.reset_stream(sid)
            sock.sendall(conn.data_to_send())

    # ---- slots, sentinels, sampler ----------------------------------------------------

    def slot(self, i):
        rng = random.Random(self.o.seed * 1000 + i)
        out = os.path.join(self.work, f"out-{i}")
        kinds, weights = zip(*KINDS.items())
        while not self.stop_new.is_set():
            if self.paused.is_set():
                time.sleep(0.05)
                continue
            with self.busy_cv:
                if self.paused.is_set() or self.stop_new.is_set():
                    continue
                self.busy += 1
            try:
                r = self.do_request(rng, rng.choice(WIRES), rng.choices(kinds, weights)[0], out)
                if r["verdict"] in ("refused_while_stopped", "dropped_at_stop"):
                    time.sleep(0.25)
            except Exception as e:   # a bug in this script must not pass for a server failure
                self.script_error(f"slot {i}: {type(e).__name__}: {e}")
            finally:
                with self.busy_cv:
                    self.busy -= 1
                    self.busy_cv.notify_all()

    def script_error(self, msg):
        log(f"SCRIPT ERROR {msg}")
        with self.lock:
            self.problems.append(f"soak script error: {msg}")

    def sentinels(self, label, fast=False):
        """Downloads started now on every wire, to be in flight across a signal: /large.bin
        at 2 MB/s (2.5 s) and, with fast, /huge.bin at 20 MB/s (2.6 s). Returns the threads."""
        threads = []
        jobs = [(w, "large.bin", "2M") for w in WIRES]
        if fast:
            jobs += [(w, "huge.bin", "20M") for w in WIRES]
        for wire, name, rate in jobs:
            out = os.path.join(self.work, f"sentinel-{wire}-{name}")

            def run(wire=wire, out=out, name=name, rate=rate):
                with self.busy_cv:
                    self.busy += 1
                try:
                    self.run_curl(wire, f"sentinel-{label}", "/" + name, out,
                                  self.docs[name], 200, extra=("--limit-rate", rate),
                                  sentinel=True)
                except Exception as e:
                    self.script_error(f"sentinel {wire}: {type(e).__name__}: {e}")
                finally:
                    with self.busy_cv:
                        self.busy -= 1
                        self.busy_cv.notify_all()
            t = threading.Thread(target=run, daemon=True)
            t.start()
            threads.append(t)
        return threads

    def sampler(self):
        while not self.done.is_set():
            proc = self.srv.proc
            if proc is not None:
                s = proc_sample(proc.pid)
                if s is not None and proc.poll() is None:
                    with self.lock:
                        self.samples.append((round(self.now(), 1), proc.pid, s[0], s[1]))
                elif proc.poll() is not None and not self.srv.stopping:
                    self.crashed(proc.returncode)
                    return
            self.done.wait(1.0)

    def crashed(self, rc):
        how = f"killed by signal {-rc}" if rc < 0 else f"exited with {rc}"
        msg = f"tern (pid {self.srv.proc.pid}) died without being asked to: {how}"
        log("FAIL " + msg)
        with self.lock:
            self.problems.append(msg)
        self.stop_new.set()

    def quiesce(self, name):
        """Pauses the load, waits for every client to finish, samples the idle server."""
        self.paused.set()
        with self.busy_cv:
            self.busy_cv.wait_for(lambda: self.busy == 0, timeout=60)
        # closing connections linger server-side (HTTP/1 drains for up to 2 s): sample until
        # the descriptor count has held still for 1.5 s, 6 s at most
        best, last, still_since, t_end = None, None, time.monotonic(), time.monotonic() + 6
        time.sleep(0.5)
        while time.monotonic() < t_end:
            s = proc_sample(self.srv.proc.pid)
            if s is not None:
                best = s if best is None else (max(best[0], s[0]), min(best[1], s[1]))
                if s[1] != last:
                    last, still_since = s[1], time.monotonic()
                elif time.monotonic() - still_since >= 1.5:
                    break
            time.sleep(0.25)
        # over the limit at the end: wait up to 15 s more, since a connection the server still
        # times out (an idle h2 connection, a TLS peer gone) is not a leak; a leak stays
        base = self.checkpoints.get(self.srv.proc.pid, {}).get("warm-up end")
        if name == "end" and base and best is not None:
            t_end = time.monotonic() + 15
            while best[1] > base["fds"] * (1 + FD_GROWTH) + FD_SLACK and time.monotonic() < t_end:
                time.sleep(0.5)
                s = proc_sample(self.srv.proc.pid)
                if s is not None:
                    best = (max(best[0], s[0]), min(best[1], s[1]))
        kinds = fd_kinds(self.srv.proc.pid)
        self.paused.clear()
        if best is not None:
            pid = self.srv.proc.pid
            with self.lock:
                peak = max([s[2] for s in self.samples if s[1] == pid] + [best[0]])
            self.checkpoints.setdefault(pid, {})[name] = {
                "t": round(self.now(), 1), "rss_kb": best[0], "fds": best[1],
                "rss_peak_kb": peak, "fd_kinds": kinds}
            log(f"{name}: idle RSS {best[0]} kB, {best[1]} fds {kinds}; RSS peak so far "
                f"{peak} kB (pid {pid})")

    # ---- signals ----------------------------------------------------------------------

    def hup(self):
        threads = self.sentinels("HUP")
        time.sleep(0.7)
        self.event("HUP")
        self.srv.signal(signal.SIGHUP)
        return threads

    def usr1(self, n):
        rotated = f"{self.srv.access_log}.{n}"
        try:
            os.rename(self.srv.access_log, rotated)
        except FileNotFoundError:
            pass
        self.event("USR1")
        self.srv.signal(signal.SIGUSR1)
        t0 = time.monotonic()
        lines = 0
        while time.monotonic() - t0 < 5:
            time.sleep(0.5)
            try:
                with open(self.srv.access_log, "rb") as f:
                    lines = f.read().count(b"\n")
            except FileNotFoundError:
                lines = -1
            if lines > 0:
                break
        ok = lines > 0
        self.rotations.append({"t": round(self.now(), 1), "rotated_to": os.path.basename(rotated),
                               "new_file_lines_within_5s": lines, "ok": ok})
        if not ok:
            msg = ("USR1: the access log was not reopened (no new file)" if lines < 0 else
                   "USR1: the reopened access log got no lines within 5 s")
            log("FAIL " + msg)
            with self.lock:
                self.problems.append(msg)

    def restart(self):
        self.quiesce("end")
        self.event("QUIT(restart)")
        with self.lock:
            self.gaps.append([self.now(), None])
        rc = self.srv.quit_and_wait()
        self.check_exit(rc, "restart")
        self.srv.start()
        with self.lock:
            self.gaps[-1][1] = self.now()
        self.event("restarted")
        log(f"restarted: pid {self.srv.proc.pid}")

    def check_exit(self, rc, when):
        if rc != 0:
            msg = (f"tern did not exit within {GRACEFUL + 10} s of QUIT ({when})" if rc is None
                   else f"tern exited with {rc} on QUIT ({when})")
            log("FAIL " + msg)
            with self.lock:
                self.problems.append(msg)

    # ---- the run ----------------------------------------------------------------------

    def run(self):
        o = self.o
        self.t0 = time.monotonic()
        self.srv.start()
        log(f"tern pid {self.srv.proc.pid}: http://127.0.0.1:{self.srv.port} "
            f"https://127.0.0.1:{self.srv.tls_port}, {o.slots} slots, {o.duration} s, "
            f"work dir {self.work}")
        threading.Thread(target=self.sampler, daemon=True).start()
        slots = [threading.Thread(target=self.slot, args=(i,), daemon=True)
                 for i in range(o.slots)]
        for t in slots:
            t.start()
        warm = max(10.0, 0.2 * o.duration)
        end = float(o.duration)
        rng = self.rng
        next_hup = rng.uniform(2, 2 * o.hup_every) if o.hup_every > 0 else float("inf")
        next_usr1 = rng.uniform(0.3, 0.6) * end
        usr1_every = max(15.0, end / 4)
        restart_every = o.restart_every
        next_restart = max(restart_every, 2 * warm) if restart_every else float("inf")
        baseline_at = warm
        aux, n_rot = [], 0
        while not self.stop_new.is_set():
            t = self.now()
            if t >= end - 4:
                break
            if t >= baseline_at:
                self.quiesce("warm-up end")
                baseline_at = float("inf")
            elif t >= next_restart and t < end - 2 * warm:
                self.restart()
                baseline_at = self.now() + warm
                next_restart = max(self.now() + restart_every, baseline_at + warm)
            elif t >= next_hup:
                aux += self.hup()
                next_hup = self.now() + rng.uniform(0.5, 1.5) * o.hup_every
            elif t >= next_usr1:
                n_rot += 1
                self.usr1(n_rot)
                next_usr1 = self.now() + rng.uniform(0.7, 1.3) * usr1_every
            else:
                time.sleep(0.1)
        if not self.stop_new.is_set():
            self.quiesce("end")
            # the final graceful stop, with downloads in flight on every wire
            aux += self.sentinels("QUIT", fast=True)
            time.sleep(1.2)   # curl start-up and TLS take a while on a loaded machine
            self.event("QUIT")
            with self.lock:
                self.gaps.append([self.now(), None])
            self.stop_new.set()
            rc = self.srv.quit_and_wait()
            log(f"tern exited with {rc} after QUIT")
            self.check_exit(rc, "final")
        else:
            if self.srv.proc.poll() is None:
                self.srv.proc.kill()
                self.srv.proc.wait()
        for t in slots + aux:
            t.join(180)
        self.done.set()
        self.check_logs()
        self.check_growth()

    def check_logs(self):
        found = []
        for path in (self.srv.error_log, self.srv.stderr_path):
            try:
                with open(path, errors="replace") as f:
                    for line in f:
                        if any(m in line for m in BAD_MARKERS):
                            found.append(f"{os.path.basename(path)}: {line.strip()[:300]}")
            except FileNotFoundError:
                pass
        self.bad_log_lines = found
        if found:
            with self.lock:
                self.problems.append(f"{len(found)} crash/sanitizer/alert lines in the logs, "
                                     f"first: {found[0]}")
        counts = collections.Counter()
        try:
            with open(self.srv.error_log, errors="replace") as f:
                for line in f:
                    for lvl in ("[error]", "[warn]", "[info]", "[alert]", "[crit]"):
                        if lvl in line:
                            counts[lvl.strip("[]")] += 1
        except FileNotFoundError:
            pass
        self.error_log_levels = dict(counts)
        self.error_lines = []
        try:
            with open(self.srv.error_log, errors="replace") as f:
                self.error_lines = [line.strip()[:200] for line in f
                                    if "[error]" in line or "[warn]" in line][:5]
        except FileNotFoundError:
            pass

    def check_growth(self):
        """Each server instance: idle RSS and fds at its end vs at the end of its warm-up.

        RSS is held against the warm-up's high-water mark (the allocator keeps what the
        busiest moment took, so the idle reading after warm-up depends on how many 50 MiB
        TLS downloads happened to overlap); descriptors against the idle count.
        """
        for pid, cp in self.checkpoints.items():
            a, b = cp.get("warm-up end"), cp.get("end")
            if not a or not b:
                continue
            rss_limit = int(max(a["rss_kb"], a["rss_peak_kb"]) * (1 + RSS_GROWTH) + RSS_SLACK_KB)
            fd_limit = int(a["fds"] * (1 + FD_GROWTH) + FD_SLACK)
            cp["limits"] = {"rss_kb": rss_limit, "fds": fd_limit}
            if b["rss_kb"] > rss_limit:
                self.problems.append(f"RSS grew after warm-up (pid {pid}): idle {a['rss_kb']} kB "
                                     f"(peak {a['rss_peak_kb']} kB) -> idle {b['rss_kb']} kB "
                                     f"(limit {rss_limit} kB)")
            if b["fds"] > fd_limit:
                self.problems.append(f"open descriptors grew after warm-up (pid {pid}): "
                                     f"{a['fds']} -> {b['fds']} (limit {fd_limit})")

    # ---- report -----------------------------------------------------------------------

    def report(self):
        res = self.results
        by = collections.defaultdict(collections.Counter)
        for r in res:
            kind = "sentinel" if r["sentinel"] else r["kind"]
            by[(r["wire"], kind)][r["verdict"]] += 1
        kinds = list(KINDS) + ["sentinel"]
        fails = [r for r in res if r["verdict"] in FAILURES]
        verdicts = collections.Counter(r["verdict"] for r in res)
        print()
        print(f"tern soak: {self.o.duration} s, {self.o.slots} slots, seed {self.o.seed}, "
              f"{len(res)} requests")
        print("signals sent: " + ", ".join(f"{k} x{v}" for k, v in collections.Counter(
            n for _, n in self.events).items()))
        print()
        print("requests by wire and kind (ok / not the server's fault / failed):")
        print("  " + "wire".ljust(8) + "".join(k.rjust(16) for k in kinds))
        for wire in WIRES:
            row = "  " + wire.ljust(8)
            for k in kinds:
                c = by.get((wire, k), collections.Counter())
                bad = sum(c[v] for v in FAILURES)
                good = c["ok"] + c["vanished_by_script"]
                row += f"{good}/{sum(c.values()) - bad - good}/{bad}".rjust(16)
            print(row)
        print()
        print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))
        codings = collections.Counter((r.get("asked_coding"), r.get("encoding") or "identity")
                                      for r in res if r["kind"] == "compressed"
                                      and r["verdict"] == "ok")
        if codings:
            print("compressed responses (asked -> got): " + ", ".join(
                f"{a}->{g} {n}" for (a, g), n in sorted(codings.items())))
        across = collections.Counter()
        for r in res:
            for n in set(self.signals_during(r["t0"], r["t1"])):
                across[(r["wire"], n)] += 1
        print("requests in flight across a signal: " + ", ".join(
            f"{w}/{n} {c}" for (w, n), c in sorted(across.items())))
        apart = [r for r in res if r["verdict"] in ("dropped_at_stop",
                                                     "refused_while_stopped")]
        for r in apart:
            gap = next((a for a, b in self.gaps if a <= r["t1"]
                        and r["t0"] <= (b if b is not None else float("inf"))), None)
            r["sent_vs_stop"] = (None if r.get("t_sent") is None or gap is None
                                 else round(r["t_sent"] - gap, 3))
        if apart:
            print("found the server stopping (not counted): " + ", ".join(
                f"{r['verdict']} {r['wire']} {r['kind']} (request "
                + ("never sent" if r["sent_vs_stop"] is None else
                   f"sent {r['sent_vs_stop']:+.2f} s from the QUIT") + ")" for r in apart[:12]))
        print()
        if fails:
            print(f"FAILED REQUESTS: {len(fails)}")
            fsum = collections.Counter()
            for r in fails:
                sig = r.get("signals") or self.signals_during(r["t0"], r["t1"])
                where = "+".join(sorted(set(sig)))
                if not where:
                    where = ("none (after " + r["signal_before"].split()[0] + ")"
                             if r["signal_before"] else "none")
                fsum[(r["verdict"], r["wire"], where)] += 1
            for (v, w, s), n in sorted(fsum.items()):
                print(f"  {v:14s} {w:7s} across {s:20s} {n}")
            for r in fails[:10]:
                print(f"    t={r['t0']}-{r['t1']} {r['wire']} {r['kind']} {r['path']} "
                      f"{r['extra']} rc={r['rc']} code={r['code']} "
                      f"started {r['signal_before'] or 'before any signal'}, "
                      f"body={r.get('body_len')}/{r.get('expected_len')} {r.get('stderr', '')}")
        else:
            print("failed requests: 0")
        print()
        pts = self.samples
        if pts:
            rss = [s[2] for s in pts]
            fds = [s[3] for s in pts]
            print(f"server RSS: max {max(rss)} kB; fds: max {max(fds)} "
                  f"({len(pts)} samples, one a second)")
            step = max(1, len(pts) // 10)
            print("  over time (t s: RSS kB / fds): " + ", ".join(
                f"{s[0]:.0f}: {s[2]}/{s[3]}" for s in pts[::step]))
        for pid, cp in self.checkpoints.items():
            for name in ("warm-up end", "end"):
                c = cp.get(name)
                if c:
                    print(f"  pid {pid} idle at {name} (t={c['t']} s): RSS {c['rss_kb']} kB, "
                          f"{c['fds']} fds {c['fd_kinds']}; RSS peak until then "
                          f"{c['rss_peak_kb']} kB")
            if "limits" in cp:
                print(f"  pid {pid} limits at the end: RSS {cp['limits']['rss_kb']} kB, "
                      f"fds {cp['limits']['fds']}")
        rot = ", ".join(f"t={r['t']} new file {r['new_file_lines_within_5s']} lines"
                        + ("" if r["ok"] else " FAIL") for r in self.rotations)
        print(f"access-log rotations (USR1): {rot or 'none'}")
        print(f"error log levels: {self.error_log_levels}; crash/sanitizer/alert lines: "
              f"{len(self.bad_log_lines)}")
        for line in self.error_lines:
            print(f"  {line}")
        print("tern exits: " + ", ".join(f"pid {i['pid']} rc {i['rc']}"
                                         for i in self.srv.instances))
        print()
        for p in self.problems:
            print(f"PROBLEM: {p}")
        ok = not fails and not self.problems
        print("soak: PASS" if ok else
              f"soak: FAIL ({len(fails)} failed requests, {len(self.problems)} other problems)")
        if self.o.json:
            with open(self.o.json, "w") as f:
                json.dump({"duration": self.o.duration, "slots": self.o.slots, "seed": self.o.seed,
                           "pass": ok, "verdicts": dict(verdicts),
                           "by_wire_kind": {f"{w}/{k}": dict(c) for (w, k), c in by.items()},
                           "failures": fails, "not_counted_at_stop": apart,
                           "problems": self.problems,
                           "events": self.events, "gaps": self.gaps,
                           "samples": self.samples, "checkpoints": self.checkpoints,
                           "rotations": self.rotations,
                           "error_log_levels": self.error_log_levels,
                           "bad_log_lines": self.bad_log_lines,
                           "error_log_errors_warnings": self.error_lines,
                           "instances": self.srv.instances}, f, indent=1)
        return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tern", default="build/tern", help="the tern binary (default build/tern)")
    ap.add_argument("--duration", type=int, default=60, help="seconds of load (default 60)")
    ap.add_argument("--slots", type=int, default=8, help="concurrent client slots (default 8)")
    ap.add_argument("--hup-every", type=float, default=4.0,
                    help="mean seconds between HUPs (0: none; default 4)")
    ap.add_argument("--restart-every", type=float, default=None,
                    help="QUIT + restart every N s (default: off below 10 min, else 300)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", help="also write the report as JSON to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    o = ap.parse_args()
    if o.seed is None:
        o.seed = random.randrange(1 << 30)
    if o.restart_every is None:
        o.restart_every = 300.0 if o.duration >= 600 else 0.0
    if o.duration < 20:
        ap.error("--duration must be at least 20 s")
    o.tern = os.path.abspath(o.tern)
    if not os.access(o.tern, os.X_OK):
        print(f"soak: {o.tern} is not an executable (build first, or pass --tern)", file=sys.stderr)
        return 2
    try:
        soak = Soak(o)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"soak: setup failed: {e}", file=sys.stderr)
        return 2
    try:
        try:
            soak.run()
        except RuntimeError as e:
            print(f"soak: {e}", file=sys.stderr)
            return 2
        finally:
            if soak.srv.proc is not None and soak.srv.proc.poll() is None:
                soak.srv.proc.kill()
                soak.srv.proc.wait()
        return 0 if soak.report() else 1
    finally:
        if o.keep:
            print(f"work directory kept: {soak.work}")
        else:
            shutil.rmtree(soak.work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
