"""HTTP/3 session resumption and 0-RTT (RFC 9001 §4.6, RFC 8470), and QUIC certificates by
server name, with Debian's gtlsclient.

What the client saw is read from gtlsclient's own log (it runs without -q): the server's
Handshake-level CRYPTO data (a resumed handshake has no Certificate message; EncryptedExtensions
carries early_data when the server accepted 0-RTT; the certificate's DER when there is one), the
server's connection ID (its second byte names the worker, src/quic/route.h) and the packets it
sent in 0-RTT. The server's side is its access log and the connection_info JSON, which says
whether the request came in early data. --dcid with the server's CID layout steers a client's
Initial to a chosen worker."""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import tern_e2e as t
import tls_util as u
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(shutil.which("gtlsclient") is None,
                                reason="gtlsclient (ngtcp2-client) is not installed")

CONN = "/.well-known/tern/connection"
HS_CERTIFICATE, HS_ENCRYPTED_EXTENSIONS = 11, 8
EXT_EARLY_DATA = 42


def http3_built():
    out = subprocess.run([t.TERN_BIN, "-V"], capture_output=True, text=True).stdout
    return "http3: yes" in out


def with_conninfo(cfg):
    cfg["servers"][0]["locations"].append({"path": CONN, "connection_info": True})


class Run:
    """One gtlsclient run: its log and what the log says."""

    def __init__(self, rc, log, out):
        self.rc, self.log, self.out = rc, log, out
        self.hs = _handshake_messages(log)

    def types(self):
        return [m[0] for m in self.hs]

    @property
    def resumed(self):
        """No Certificate in the server's flight: the ticket was accepted (a PSK handshake)."""
        assert HS_ENCRYPTED_EXTENSIONS in self.types(), self.log[-3000:]
        return HS_CERTIFICATE not in self.types()

    @property
    def early_accepted(self):
        """EncryptedExtensions carries early_data: the server accepted 0-RTT (RFC 8446 §4.2.10)."""
        ee = next(body for typ, body in self.hs if typ == HS_ENCRYPTED_EXTENSIONS)
        exts, i = ee[2:2 + int.from_bytes(ee[:2], "big")], 0
        while i + 4 <= len(exts):
            typ, n = int.from_bytes(exts[i:i + 2], "big"), int.from_bytes(exts[i + 2:i + 4], "big")
            if typ == EXT_EARLY_DATA:
                return True
            i += 4 + n
        return False

    @property
    def sent_0rtt(self):
        return re.search(r"frm tx \d+ 0RTT STREAM", self.log) is not None

    @property
    def cert_fingerprint(self):
        """SHA-256 of the leaf certificate the server sent (hex)."""
        body = next(body for typ, body in self.hs if typ == HS_CERTIFICATE)
        i = 1 + body[0] + 3  # request context, then the list's length
        n = int.from_bytes(body[i:i + 3], "big")
        return hashlib.sha256(body[i + 3:i + 3 + n]).hexdigest()

    @property
    def worker(self):
        """The worker that answered: the second byte of the server's connection ID."""
        m = re.search(r"pkt rx .* scid=0x([0-9a-f]{4})[0-9a-f]* .*type=Initial", self.log)
        assert m, self.log[-3000:]
        return int(m.group(1)[2:], 16)

    def body(self, name):
        return (self.out / name).read_bytes()


def _handshake_messages(log):
    """The server's Handshake-level CRYPTO bytes from gtlsclient's hex dumps, as a list of
    (type, body) TLS handshake messages."""
    data, dumping = bytearray(), False
    for line in log.splitlines():
        if line.startswith("Ordered CRYPTO data in "):
            dumping = line.startswith("Ordered CRYPTO data in Handshake")
            continue
        m = re.match(r"[0-9a-f]{8}  ((?:[0-9a-f]{2} {1,2})+)", line) if dumping else None
        if not m:
            dumping = False  # the dump ended (its last line is the bare length)
            continue
        data += bytes.fromhex(m.group(1).replace(" ", ""))
    msgs, i = [], 0
    while i + 4 <= len(data):
        n = int.from_bytes(data[i + 1:i + 4], "big")
        msgs.append((data[i], bytes(data[i + 4:i + 4 + n])))
        i += 4 + n
    return msgs


def dcid_for(worker):
    """A client DCID in the server's layout (server id 0, worker byte): its Initial goes to that
    worker."""
    return f"00{worker:02x}" + os.urandom(16).hex()


# gtlsclient 0.12.1 ignores --sni: it sends its HOST argument (or "localhost" for an address).
# To send other names, it runs with a private /etc/hosts in a user and mount namespace.
SNI_NAMES = ["a.test", "b.test", "x.b.test", "unknown.test"]


def _namespace_hosts(tmp_path):
    """The command prefix that runs a program with SNI_NAMES resolving to 127.0.0.1, or None
    when user namespaces are not available."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost " + " ".join(SNI_NAMES) + "\n")
    pre = ["unshare", "-rm", "sh", "-c", f'mount --bind "{hosts}" /etc/hosts && exec "$@"', "sh"]
    ok = subprocess.run(pre + ["getent", "hosts", "x.b.test"], capture_output=True, timeout=10)
    return pre if ok.returncode == 0 else None


def gtls(srv, paths, tmp_path, *extra, worker=None, state=None, host="127.0.0.1", prefix=(),
         port=None, timeout=30):
    """gtlsclient with its full log; state: a directory for the session and transport
    parameters files (read and rewritten: the next run resumes); host: what it connects to,
    in the URLs and as SNI."""
    port = port or srv.tls_port
    out = tmp_path / f"dl{time.monotonic_ns()}"
    out.mkdir()
    args = list(prefix) + ["gtlsclient", "--exit-on-all-streams-close", "--download", str(out)]
    if state is not None:
        args += [f"--session-file={state / 'session'}", f"--tp-file={state / 'tp'}"]
    if worker is not None:
        args.append(f"--dcid={dcid_for(worker)}")
    urls = [f"https://{host}:{srv.tls_port}{p}" for p in paths]
    r = subprocess.run(args + list(extra) + [host, str(port)] + urls,
                       capture_output=True, timeout=timeout * t.SLOW)
    return Run(r.returncode, r.stderr.decode(errors="replace"), out)


def conninfo(run):
    return json.loads(run.body("connection"))


@pytest.fixture
def zsrv(make_tls_server, certs):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")

    def make(**kw):
        mutate = kw.pop("mutate", None)

        def m(cfg):
            with_conninfo(cfg)
            if mutate:
                mutate(cfg)
        return make_tls_server(certs.ec, certs.ec_key, workers=4, mutate=m, **kw)
    return make


def first_run(srv, tmp_path, state, worker=0):
    r = gtls(srv, [CONN], tmp_path, worker=worker, state=state)
    assert r.rc == 0, r.log[-3000:]
    assert not r.resumed and r.worker == worker
    assert (state / "session").stat().st_size > 0, "no session ticket came"
    assert not conninfo(r)["tls"]["early_data"]
    return r


def test_resumption_and_0rtt_on_every_worker(zsrv, tmp_path):
    """A ticket from worker 0 resumes on workers 1, 2 and 3 (and again on 0), each time with
    the request sent and served in 0-RTT; every run's new ticket works for the next."""
    srv = zsrv()
    state = tmp_path / "state"
    state.mkdir()
    first_run(srv, tmp_path, state)
    for w in (1, 2, 3, 0, 2):
        r = gtls(srv, [CONN], tmp_path, worker=w, state=state)
        assert r.rc == 0, r.log[-3000:]
        assert r.worker == w
        assert r.resumed, f"worker {w}: full handshake"
        assert r.sent_0rtt and r.early_accepted, f"worker {w}: 0-RTT not accepted"
        assert "Early data was rejected" not in r.log
        info = conninfo(r)
        assert info["http_version"] == "HTTP/3" and info["tls"]["early_data"] is True, info
    assert srv.read(srv.access_log).count(f'"GET {CONN} HTTP/3.0" 200') == 6
    srv.assert_tls_healthy()


def test_unsafe_request_in_0rtt_gets_425(zsrv, tmp_path):
    """A POST in 0-RTT is answered 425 Too Early without reaching the handler; the same POST
    after the handshake reaches it (the static handler answers 405)."""
    srv = zsrv()
    state = tmp_path / "state"
    state.mkdir()
    first_run(srv, tmp_path, state)
    body = tmp_path / "body.txt"
    body.write_bytes(b"x" * 100)
    r = gtls(srv, ["/hello.txt"], tmp_path, "-m", "POST", "-d", str(body), state=state)
    assert r.rc == 0, r.log[-3000:]
    assert r.resumed and r.sent_0rtt and r.early_accepted
    assert "[:status: 425]" in r.log, r.log[-3000:]
    assert '"POST /hello.txt HTTP/3.0" 425' in srv.read(srv.access_log)
    assert "POST in early data (0-RTT), 425" in srv.read(srv.error_log)
    r = gtls(srv, ["/hello.txt"], tmp_path, "-m", "POST", "-d", str(body), "--disable-early-data",
             state=state)
    assert r.rc == 0, r.log[-3000:]
    assert r.resumed and not r.sent_0rtt
    assert "[:status: 405]" in r.log, r.log[-3000:]
    assert '"POST /hello.txt HTTP/3.0" 405' in srv.read(srv.access_log)
    # a GET in the same early flight is served
    r = gtls(srv, ["/hello.txt"], tmp_path, state=state)
    assert r.resumed and r.early_accepted and r.body("hello.txt") == t.HELLO


def test_early_data_off_still_resumes(zsrv, tmp_path):
    """http3: {early_data: false}: tickets allow no early data, and resumption works."""
    srv = zsrv(http3={"early_data": False})
    state = tmp_path / "state"
    state.mkdir()
    first_run(srv, tmp_path, state)
    r = gtls(srv, [CONN], tmp_path, state=state)
    assert r.rc == 0, r.log[-3000:]
    assert r.resumed and not r.early_accepted
    # gtlsclient 0.12.1 tries 0-RTT whenever it has a session and transport parameters
    assert not r.sent_0rtt or "Early data was rejected by server" in r.log
    assert conninfo(r)["tls"]["early_data"] is False


def test_early_data_turned_off_by_reload(zsrv, tmp_path):
    """A client holding a ticket that allowed 0-RTT sends early data after the server turned
    it off: the server refuses the early data, resumes, and serves the request in 1-RTT."""
    srv = zsrv()
    state = tmp_path / "state"
    state.mkdir()
    first_run(srv, tmp_path, state)
    srv.config["http3"] = {"early_data": False}
    srv.write_config()
    before = len(srv.read(srv.error_log))
    srv.signal(signal.SIGHUP)
    assert t.wait_for(lambda: "configuration reloaded" in srv.read(srv.error_log)[before:], 5)
    saved = (state / "session").read_bytes()  # a ticket from before: early data allowed
    for w in range(4):  # every worker took the new configuration
        (state / "session").write_bytes(saved)
        r = gtls(srv, [CONN], tmp_path, worker=w, state=state)
        assert r.rc == 0, r.log[-3000:]
        assert r.sent_0rtt, "the client did not try 0-RTT"
        assert r.resumed and not r.early_accepted
        assert "Early data was rejected by server" in r.log
        assert conninfo(r)["tls"]["early_data"] is False


def test_resumption_and_0rtt_after_hup(zsrv, tmp_path):
    """Tickets from before a reload resume after it, with 0-RTT while what 0-RTT relies on is
    unchanged; a reload that lowers a SETTINGS value (limits.header_size) leaves 0-RTT to new
    tickets only (RFC 9114 §7.2.4.2)."""
    srv = zsrv()
    state = tmp_path / "state"
    state.mkdir()
    first_run(srv, tmp_path, state)

    def hup():
        before = len(srv.read(srv.error_log))
        srv.signal(signal.SIGHUP)
        assert t.wait_for(lambda: "configuration reloaded" in srv.read(srv.error_log)[before:], 5)

    hup()
    for w in (1, 0):
        r = gtls(srv, [CONN], tmp_path, worker=w, state=state)
        assert r.rc == 0, r.log[-3000:]
        assert r.resumed and r.early_accepted, f"worker {w} after HUP"
        assert conninfo(r)["tls"]["early_data"] is True
    srv.config["limits"] = {**srv.config.get("limits", {}), "header_size": 16384}
    srv.write_config()
    hup()
    for w in (2, 3):
        saved = (state / "session").read_bytes()
        r = gtls(srv, [CONN], tmp_path, worker=w, state=state)
        assert r.rc == 0, r.log[-3000:]
        assert r.resumed and r.sent_0rtt and not r.early_accepted, f"worker {w}"
        (state / "session").write_bytes(saved)  # the older ticket again
    # a ticket issued after the change carries 0-RTT again
    gtls(srv, [CONN], tmp_path, worker=1, state=state)
    r = gtls(srv, [CONN], tmp_path, worker=2, state=state)
    assert r.resumed and r.early_accepted


class Relay:
    """A UDP relay between one client and the server that records the client's datagrams."""

    def __init__(self, server_port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.up.connect(("127.0.0.1", server_port))
        self.sock.settimeout(0.1)
        self.up.settimeout(0.1)
        self.sent = []  # the client's datagrams, in order
        self.client = None
        self.stop = False
        self.threads = [threading.Thread(target=self._down), threading.Thread(target=self._back)]
        for th in self.threads:
            th.start()

    def _down(self):
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            self.client = addr
            self.sent.append(data)
            self.up.send(data)

    def _back(self):
        while not self.stop:
            try:
                data = self.up.recv(65536)
            except socket.timeout:
                continue
            if self.client:
                self.sock.sendto(data, self.client)

    def close(self):
        self.stop = True
        for th in self.threads:
            th.join()
        self.sock.close()
        self.up.close()


def _long_type(datagram):
    """The long-header packet type of a datagram's first packet (0 Initial, 1 0-RTT, 2
    Handshake, 3 Retry), or None for a short header."""
    return (datagram[0] & 0x30) >> 4 if datagram[0] & 0x80 else None


def test_replayed_0rtt_is_refused(zsrv, tmp_path):
    """The Initial and 0-RTT datagrams of a resumed connection sent again from other ports
    (the kernel's hash then spreads them over the workers): each replay gets a handshake but
    its early data is refused by the recording shared by the workers, so the request it
    carries is not processed a second time."""
    srv = zsrv()
    state = tmp_path / "state"
    state.mkdir()
    first_run(srv, tmp_path, state)
    relay = Relay(srv.tls_port)
    try:
        # a DCID outside the server's layout: the 4-tuple hash picks the worker
        r = gtls(srv, ["/hello.txt?replayed"], tmp_path, f"--dcid={'ff' * 18}", state=state,
                 port=relay.port)
    finally:
        relay.close()
    assert r.rc == 0, r.log[-3000:]
    assert r.resumed and r.early_accepted, r.log[-3000:]
    first_worker = r.worker
    assert r.sent_0rtt
    flight = []  # the client's first flight: Initial (ClientHello) and 0-RTT, maybe coalesced
    for d in relay.sent:
        if _long_type(d) not in (0, 1):
            break
        flight.append(d)
    assert flight
    workers = set()
    for _ in range(8):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.3 * t.SLOW)
        s.connect(("127.0.0.1", srv.tls_port))
        for d in flight:
            s.send(d)
        try:
            while True:
                resp = s.recv(65536)
                if _long_type(resp) == 0:  # the server's Initial: its SCID names the worker
                    dcid_len = resp[5]
                    scid = resp[7 + dcid_len:7 + dcid_len + resp[6 + dcid_len]]
                    workers.add(scid[1])
        except socket.timeout:
            pass
        s.close()
    assert workers, "no replay was answered"
    assert workers - {first_worker}, f"every replay went to worker {first_worker}"
    time.sleep(0.2)
    log = srv.read(srv.access_log)
    assert log.count("GET /hello.txt?replayed HTTP/3.0") == 1, log
    assert "a ClientHello seen before came again" in srv.read(srv.error_log)
    srv.assert_tls_healthy()


# ---------------------------------------------------------------------------------------------
# Certificates by server name, and reload


@pytest.fixture
def sni_h3(make_tls_server, certs, tmp_path):  # noqa: F811
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    prefix = _namespace_hosts(tmp_path)
    if prefix is None:
        pytest.skip("no user namespaces: gtlsclient cannot be made to send other names")

    def mutate(cfg):
        cfg["servers"][1]["tls"] = {"cert": str(certs.a), "key": str(certs.a_key)}
        cfg["servers"][2]["tls"] = {"cert": str(certs.b), "key": str(certs.b_key)}
    srv = make_tls_server(certs.dflt, certs.dflt_key, mutate=mutate)
    srv.prefix = prefix
    return srv


@pytest.mark.parametrize("sni,which,body", [
    ("a.test", "a", b"a\n"),
    ("b.test", "b", b"b\n"),
    ("x.b.test", "b", b"b\n"),  # wildcard name *.b.test
    ("unknown.test", "dflt", None),
    ("127.0.0.1", "dflt", None),  # gtlsclient sends "localhost": the default server's name
])
def test_sni_picks_certificate_over_quic(sni_h3, certs, tmp_path, sni, which, body):  # noqa: F811
    r = gtls(sni_h3, ["/who.txt"], tmp_path, host=sni, prefix=sni_h3.prefix)
    assert r.rc == 0, r.log[-3000:]
    assert r.cert_fingerprint == u.fingerprint(getattr(certs, which)), f"SNI {sni}"
    if body:
        assert r.body("who.txt") == body


def test_sni_ticket_not_resumed_across_certificates(sni_h3, certs, tmp_path):  # noqa: F811
    state = tmp_path / "state"
    state.mkdir()
    kw = {"prefix": sni_h3.prefix, "state": state}
    r = gtls(sni_h3, ["/who.txt"], tmp_path, host="a.test", **kw)
    assert r.rc == 0 and not r.resumed
    saved = (state / "session").read_bytes()
    r = gtls(sni_h3, ["/who.txt"], tmp_path, host="a.test", **kw)
    assert r.resumed and r.early_accepted and r.body("who.txt") == b"a\n"
    (state / "session").write_bytes(saved)
    r = gtls(sni_h3, ["/who.txt"], tmp_path, host="b.test", **kw)
    assert r.rc == 0, r.log[-3000:]
    assert not r.resumed, "a.test's ticket resumed for b.test"
    assert r.cert_fingerprint == u.fingerprint(certs.b)
    assert r.body("who.txt") == b"b\n"


def test_certificate_reload_over_quic(make_tls_server, certs, tmp_path):  # noqa: F811
    """Same paths, new certificate, HUP: new QUIC connections (on every worker) get it, a
    connection opened before keeps its certificate and is served, and a ticket from the old
    certificate gets a full handshake."""
    if not http3_built():
        pytest.skip("tern was built without QUIC")
    for ext in ("pem", "key"):
        shutil.copyfile(str(certs.ec).replace(".pem", f".{ext}"), tmp_path / f"cur.{ext}")
    srv = make_tls_server(tmp_path / "cur.pem", tmp_path / "cur.key", workers=4)
    state = tmp_path / "state"
    state.mkdir()
    r = gtls(srv, ["/hello.txt"], tmp_path, state=state)
    assert r.cert_fingerprint == u.fingerprint(certs.ec)
    # a connection made now that sends its request only after the reload
    out = tmp_path / "old"
    out.mkdir()
    old_log = open(tmp_path / "old.log", "w")
    delay = 6 * t.SLOW
    old = subprocess.Popen(["gtlsclient", "--exit-on-all-streams-close", "--download", str(out),
                            f"--delay-stream={delay:.0f}s", "127.0.0.1", str(srv.tls_port),
                            f"https://127.0.0.1:{srv.tls_port}/hello.txt"],
                           stdout=subprocess.DEVNULL, stderr=old_log)
    assert t.wait_for(lambda: "HANDSHAKE_DONE" in srv.read(tmp_path / "old.log"), 5)
    for ext in ("pem", "key"):
        shutil.copyfile(str(certs.ec2).replace(".pem", f".{ext}"), tmp_path / f"cur.{ext}")
    before = len(srv.read(srv.error_log))
    srv.signal(signal.SIGHUP)
    assert t.wait_for(lambda: "configuration reloaded" in srv.read(srv.error_log)[before:], 5)
    for w in range(4):
        r = gtls(srv, ["/hello.txt"], tmp_path, worker=w)
        assert r.rc == 0, r.log[-3000:]
        assert r.cert_fingerprint == u.fingerprint(certs.ec2), f"worker {w}"
    assert old.poll() is None, "the old connection's request went before the reload was checked"
    assert old.wait(timeout=60 * t.SLOW) == 0
    old_log.close()
    old_run = Run(0, srv.read(tmp_path / "old.log"), out)
    assert old_run.cert_fingerprint == u.fingerprint(certs.ec)
    assert old_run.body("hello.txt") == t.HELLO
    r = gtls(srv, ["/hello.txt"], tmp_path, state=state)
    assert r.rc == 0 and not r.resumed
    assert r.cert_fingerprint == u.fingerprint(certs.ec2)
    srv.assert_tls_healthy()
