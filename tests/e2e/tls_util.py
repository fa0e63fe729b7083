"""Helpers for tern's TLS and HTTP/2-over-TLS end-to-end tests.

- make_certs(dir): self-signed EC P-256 and RSA 2048 certificates, a small CA with a leaf and a
  real OCSP response for it (all made with the `openssl` command line).
- TlsTern: a tern.Tern that also listens with TLS (tls_listen) and waits for that port.
- tls_config(...): tern_e2e.base_config plus tls_listen and tls sections.
- TlsConn: tern_e2e.Conn over Python's ssl (same raw HTTP/1.x helpers).
- H2Client: a small HTTP/2 client over TLS on the `h2` library (records 1xx, pushes, bodies).
- openssl_s_client(...): runs `openssl s_client` with the given arguments and input.

Only 127.0.0.1 is used. Every wait is scaled by tern_e2e.SLOW.
"""

import hashlib
import os
import socket
import ssl
import subprocess
import time
from pathlib import Path

import tern_e2e as t

SANS = "DNS:a.test,DNS:b.test,DNS:localhost,IP:127.0.0.1"


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, timeout=60, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{cmd} failed ({r.returncode}):\n{r.stderr.decode(errors='replace')}")
    return r


def _self_signed(d: Path, name: str, keyopt, cn: str, sans=SANS):
    key, crt = d / f"{name}.key", d / f"{name}.pem"
    run(["openssl", "req", "-x509", "-newkey", keyopt[0]] + keyopt[1:] +
        ["-nodes", "-keyout", str(key), "-out", str(crt), "-days", "30", "-subj", f"/CN={cn}",
         "-addext", f"subjectAltName={sans}"])
    return crt, key


EC = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
RSA = ["rsa:2048"]


class Certs:
    """Paths of the generated certificates (each .pem has a .key beside it)."""

    def __init__(self, d: Path):
        self.dir = d
        # self-signed, one per key type; the CN tells them apart
        self.ec, self.ec_key = _self_signed(d, "ec", EC, "tern-ec")
        self.rsa, self.rsa_key = _self_signed(d, "rsa", RSA, "tern-rsa")
        # per virtual host (SNI): only their own name, plus a default one
        self.a, self.a_key = _self_signed(d, "a", EC, "a.test", "DNS:a.test")
        self.b, self.b_key = _self_signed(d, "b", RSA, "b.test", "DNS:b.test,DNS:*.b.test")
        self.dflt, self.dflt_key = _self_signed(d, "default", EC, "tern-default")
        # for the reload test: another EC certificate with the same names
        self.ec2, self.ec2_key = _self_signed(d, "ec2", EC, "tern-ec-second")
        self._ca(d)

    def _ca(self, d: Path):
        """A CA, a leaf it signs, an index file and a DER OCSP response (status good)."""
        self.ca, self.ca_key = d / "ca.pem", d / "ca.key"
        run(["openssl", "req", "-x509", "-newkey"] + EC + ["-nodes", "-keyout", str(self.ca_key),
            "-out", str(self.ca), "-days", "30", "-subj", "/CN=tern test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"])
        self.leaf, self.leaf_key = d / "leaf.pem", d / "leaf.key"
        csr = d / "leaf.csr"
        run(["openssl", "req", "-new", "-newkey"] + EC + ["-nodes", "-keyout", str(self.leaf_key),
            "-out", str(csr), "-subj", "/CN=localhost"])
        ext = d / "leaf.ext"
        ext.write_text(f"subjectAltName={SANS}\nbasicConstraints=CA:FALSE\n"
                       "authorityInfoAccess=OCSP;URI:http://127.0.0.1:1/ocsp\n")
        run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey",
             str(self.ca_key), "-set_serial", "0x1001", "-days", "30", "-out", str(self.leaf),
             "-extfile", str(ext)])
        end = run(["openssl", "x509", "-in", str(self.leaf), "-noout", "-enddate"]).stdout.decode()
        t_end = time.strptime(end.split("=", 1)[1].strip(), "%b %d %H:%M:%S %Y %Z")
        subj = run(["openssl", "x509", "-in", str(self.leaf), "-noout", "-subject", "-nameopt",
                    "compat"]).stdout.decode().split("=", 1)[1].strip()
        index = d / "index.txt"
        index.write_text(f"V\t{time.strftime('%y%m%d%H%M%SZ', t_end)}\t\t1001\tunknown\t{subj}\n")
        req = d / "ocsp.req"
        run(["openssl", "ocsp", "-issuer", str(self.ca), "-cert", str(self.leaf), "-no_nonce",
             "-reqout", str(req)])
        self.ocsp = d / "ocsp.der"
        run(["openssl", "ocsp", "-index", str(index), "-rsigner", str(self.ca), "-rkey",
             str(self.ca_key), "-CA", str(self.ca), "-reqin", str(req), "-respout",
             str(self.ocsp), "-ndays", "7"])
        assert self.ocsp.stat().st_size > 100
        # the leaf followed by its issuer, so that clients can check the stapled response
        self.fullchain = d / "fullchain.pem"
        self.fullchain.write_text(self.leaf.read_text() + self.ca.read_text())


def make_certs(d: Path) -> Certs:
    return Certs(d)


def fingerprint(pem_path) -> str:
    """SHA-256 of the certificate's DER encoding (hex)."""
    der = ssl.PEM_cert_to_DER_cert(Path(pem_path).read_text())
    return hashlib.sha256(der).hexdigest()


# ---------------------------------------------------------------------------------------------
# The server


class TlsTern(t.Tern):
    """A tern with a cleartext listener (self.port) and a TLS one (self.tls_port)."""

    def __init__(self, base, tls_port=None, **kw):
        super().__init__(base, **kw)
        self.tls_port = tls_port or t.free_port()
        while self.tls_port == self.port:
            self.tls_port = t.free_port()

    def start(self):
        super().start()
        if not t.wait_port(self.tls_port, self.host, self.proc):
            rc = self.proc.poll()
            self.kill()
            raise AssertionError(f"tern did not listen with TLS on {self.tls_port} (rc={rc})\n"
                                 f"error log:\n{self.read(self.error_log)[-3000:]}")
        return self

    def url(self, path="/", host="localhost"):
        return f"https://{host}:{self.tls_port}{path}"

    def tls(self, sni="localhost", alpn=("http/1.1",), **kw):
        return TlsConn(self.tls_port, sni=sni, alpn=alpn, **kw)

    def tls_get(self, path="/hello.txt", sni="localhost", host="localhost", headers=None,
                method="GET", version="HTTP/1.1"):
        with self.tls(sni=sni) as c:
            c.send(t.request(method, path, headers, version=version, host=host, close=True))
            return c.response(head=(method == "HEAD"))

    def assert_tls_healthy(self):
        r = self.tls_get("/hello.txt")
        assert r.status == 200 and r.body == t.HELLO, f"TLS port unhealthy after the test: {r}"
        self.assert_healthy()


def tls_config(base: Path, srv: TlsTern, cert, key, tls_extra=None, **overrides):
    cfg = t.base_config(base, srv.port, **overrides)
    cfg["tls_listen"] = [f"127.0.0.1:{srv.tls_port}"]
    cfg["tls"] = {"cert": str(cert), "key": str(key), **(tls_extra or {})}
    return cfg


def start_tls_server(base: Path, cert, key, name="tls", tls_extra=None, mutate=None, **overrides):
    """A started TlsTern in `base` (which make_tree already filled)."""
    srv = TlsTern(base, name=name)
    cfg = tls_config(base, srv, cert, key, tls_extra=tls_extra, **overrides)
    if mutate:
        mutate(cfg)
    srv.config = cfg
    return srv.start()


# ---------------------------------------------------------------------------------------------
# Clients


def client_context(alpn=("http/1.1",), minimum=None, maximum=None, ciphers=None, cafile=None,
                   tickets=True):
    """An SSLContext that does not verify (unless cafile is given)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile=str(cafile))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


class TlsConn(t.Conn):
    """tern_e2e.Conn over TLS."""

    def __init__(self, port, sni="localhost", alpn=("http/1.1",), ctx=None, session=None,
                 host="127.0.0.1", timeout=5.0):
        self.timeout = timeout * t.SLOW
        self.ctx = ctx or client_context(alpn=alpn)
        raw = socket.create_connection((host, port), timeout=self.timeout)
        try:
            self.sock = self.ctx.wrap_socket(raw, server_hostname=sni, session=session)
        except BaseException:
            raw.close()
            raise
        self.sock.settimeout(self.timeout)
        self.buf = b""
        self.eof = False

    def _fill(self, deadline=None):
        try:
            return super()._fill(deadline)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            self.eof = True
            raise t.Closed("TLS connection closed by the server")

    @property
    def alpn(self):
        return self.sock.selected_alpn_protocol()

    def peer_der(self):
        return self.sock.getpeercert(binary_form=True)

    def peer_fingerprint(self):
        return hashlib.sha256(self.peer_der()).hexdigest()


def openssl_s_client(port, *args, data=b"", sni="localhost", timeout=10):
    """Runs `openssl s_client -connect 127.0.0.1:port -servername sni ARGS` with `data` as its
    input. With data it keeps reading after the input ends (-ign_eof: the request should ask
    the server to close); without, it quits at the end of input. Returns (returncode, text of
    stdout and stderr)."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}"]
    if data:
        cmd.append("-ign_eof")
    if sni:
        cmd += ["-servername", sni]
    cmd += list(args)
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(data, timeout=timeout * t.SLOW)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return p.returncode, out.decode(errors="replace")


class H2Client:
    """HTTP/2 over TLS with the `h2` library. get() returns a dict with status, headers,
    informational (list of 1xx header lists), body; pushes are collected in self.pushes
    (promised stream id -> {"headers", "request", "body", "done"})."""

    def __init__(self, port, sni="localhost", enable_push=True, timeout=5.0, window=1 << 24,
                 ack_data=True):
        """window: our stream and connection receive windows. ack_data=False sends no
        WINDOW_UPDATE for received DATA (with a window larger than the transfer, the server is
        then never woken by a client frame: only by its socket becoming writable)."""
        import h2.config
        import h2.connection
        import h2.settings

        ctx = client_context(alpn=("h2",))
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout * t.SLOW)
        self.sock = ctx.wrap_socket(raw, server_hostname=sni)
        assert self.sock.selected_alpn_protocol() == "h2"
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.local_settings = h2.settings.Settings(
            client=True, initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 1 if enable_push else 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(window)
        self.ack_data = ack_data
        self.flush()
        self.streams = {}
        self.pushes = {}
        self.remote_settings = {}
        self.events = []
        self.goaway = None
        self.rx = b""

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def request(self, path, method="GET", authority="localhost", extra=(), body=b""):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "https"), (":path", path),
                (":authority", authority)] + list(extra)
        self.conn.send_headers(sid, hdrs, end_stream=not body)
        if body:
            self.conn.send_data(sid, body, end_stream=True)
        self.streams[sid] = {"status": None, "headers": [], "informational": [], "body": b"",
                             "done": False, "reset": None, "pushes": []}
        self.flush()
        return sid

    def _handle(self, ev):
        import h2.events as E
        self.events.append(ev)
        if isinstance(ev, E.InformationalResponseReceived):
            self.streams[ev.stream_id]["informational"].append(list(ev.headers))
        elif isinstance(ev, E.ResponseReceived):
            st = self.streams.get(ev.stream_id) or self.pushes.get(ev.stream_id)
            st["headers"] = list(ev.headers)
            st["status"] = int(dict(ev.headers)[":status"])
        elif isinstance(ev, E.PushedStreamReceived):
            self.pushes[ev.pushed_stream_id] = {
                "request": dict(ev.headers), "headers": [], "status": None, "body": b"",
                "done": False, "parent": ev.parent_stream_id, "reset": None}
            self.streams[ev.parent_stream_id]["pushes"].append(ev.pushed_stream_id)
        elif isinstance(ev, E.DataReceived):
            st = self.streams.get(ev.stream_id) or self.pushes.get(ev.stream_id)
            st["body"] += ev.data
            if self.ack_data:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, E.StreamEnded):
            st = self.streams.get(ev.stream_id) or self.pushes.get(ev.stream_id)
            st["done"] = True
        elif isinstance(ev, E.StreamReset):
            st = self.streams.get(ev.stream_id) or self.pushes.get(ev.stream_id)
            if st is not None:
                st["reset"] = ev.error_code
                st["done"] = True
        elif isinstance(ev, E.RemoteSettingsChanged):
            for k, v in ev.changed_settings.items():
                self.remote_settings[int(k)] = v.new_value
        elif isinstance(ev, E.ConnectionTerminated):
            self.goaway = ev.error_code

    def pump(self, until, timeout=5.0):
        deadline = time.monotonic() + timeout * t.SLOW
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError("HTTP/2 exchange did not finish in time")
            if self.goaway is not None:
                raise AssertionError(f"GOAWAY {self.goaway}")
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("connection closed")
            # one frame at a time: python-h2 closes its state machine on the first GOAWAY and
            # then rejects the PING that a graceful stop sends after it (RFC 9113 §6.8), which
            # would otherwise lose the GOAWAY's event
            self.rx += data
            while len(self.rx) >= 9 and len(self.rx) >= 9 + int.from_bytes(self.rx[:3], "big"):
                n = 9 + int.from_bytes(self.rx[:3], "big")
                one, self.rx = self.rx[:n], self.rx[n:]
                try:
                    events = self.conn.receive_data(one)
                except Exception:
                    if self.goaway is None:
                        raise
                    return
                for ev in events:
                    self._handle(ev)
            self.flush()

    def get(self, path, **kw):
        sid = self.request(path, **kw)
        self.pump(lambda: self.streams[sid]["done"])
        return self.streams[sid]

    def settle(self, seconds=0.2):
        """Reads whatever arrives within `seconds` (e.g. pushed streams still in flight)."""
        try:
            self.pump(lambda: False, timeout=seconds)
        except AssertionError as e:
            if "in time" not in str(e):
                raise
        except socket.timeout:
            pass


# ---------------------------------------------------------------------------------------------
# Fixtures (test modules import them: `from tls_util import certs, make_tls_server`)

import pytest  # noqa: E402

_CERTS = {}


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """The generated certificates, made once per session."""
    if "c" not in _CERTS:
        _CERTS["c"] = make_certs(tmp_path_factory.mktemp("certs"))
    return _CERTS["c"]


def _require_binary():
    if not os.access(t.TERN_BIN, os.X_OK):
        pytest.fail(f"tern binary {t.TERN_BIN} not found (set TERN_BIN or build first)")


def module_server(tmp_path_factory, name, cert, key, **kw):
    """Generator for a module-scoped fixture: yields a started TlsTern (with .files), stops it
    afterwards and fails on crashes or sanitizer reports."""
    _require_binary()
    d = tmp_path_factory.mktemp(name)
    files = t.make_tree(d)
    srv = start_tls_server(d, cert, key, name=name, **kw)
    srv.files = files
    srv.restartable = True
    yield srv
    problems = srv.stop()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def make_tls_server(tmp_path_factory):
    """make_tls_server(cert, key, tls_extra=None, mutate=None, **overrides) -> a started
    TlsTern in its own directory (with .files); stopped and checked after the test."""
    started = []

    def make(cert, key, name="tlsx", **kw):
        _require_binary()
        d = tmp_path_factory.mktemp(name)
        files = t.make_tree(d)
        srv = TlsTern(d, name=name)
        started.append(srv)
        srv.files = files
        tls_extra = kw.pop("tls_extra", None)
        mutate = kw.pop("mutate", None)
        cfg = tls_config(d, srv, cert, key, tls_extra=tls_extra, **kw)
        if mutate:
            mutate(cfg)
        srv.config = cfg
        return srv.start()

    yield make
    problems = []
    for srv in started:
        if srv.proc is not None:
            problems += srv.stop()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
