"""TLS end to end: curl and openssl s_client and Python ssl against the real binary.

Certificates (EC P-256, RSA 2048, a CA with a leaf and a real OCSP response) are made with the
openssl command line once per session (tls_util.certs). Covers HTTP/1.1 and HTTP/2 over TLS
with curl, ALPN, SNI, protocol versions and ciphers, session resumption, OCSP stapling and the
handshake defences. Certificate reload on HUP is in test_tls_reload.py.
"""

import hashlib
import os
import socket
import ssl
import struct
import subprocess
import time

import pytest

import tern_e2e as t
import tls_util as u
from tls_util import certs, make_tls_server  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def tsrv(tmp_path_factory, certs):  # noqa: F811
    yield from u.module_server(tmp_path_factory, "tls", certs.ec, certs.ec_key)


def curl_tls(srv, certs, path, *args, host="localhost", cacert=None):  # noqa: F811
    """curl over TLS with verification against our self-signed certificate. Returns
    (http_code, http_version, body, completed process)."""
    out = srv.base / "curl.out"
    if out.exists():
        out.unlink()
    r = t.curl("--cacert", str(cacert or certs.ec), "--resolve", f"{host}:{srv.tls_port}:127.0.0.1",
               "-o", str(out), "-w", "%{http_code} %{http_version}", *args,
               f"https://{host}:{srv.tls_port}{path}")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    code, ver = r.stdout.decode().split()
    body = out.read_bytes() if out.exists() else b""
    return int(code), ver, body, r


# ---------------------------------------------------------------------------------------------
# curl over TLS (HTTP/1.1 and HTTP/2)


@pytest.mark.parametrize("proto,want", [("--http1.1", "1.1"), ("--http2", "2")])
def test_curl_small_and_vhost(tsrv, certs, proto, want):  # noqa: F811
    code, ver, body, _ = curl_tls(tsrv, certs, "/hello.txt", proto)
    assert (code, ver, body) == (200, want, t.HELLO)
    # a.test is a virtual host with its own root; the certificate names it too
    code, ver, body, _ = curl_tls(tsrv, certs, "/who.txt", proto, host="a.test")
    assert (code, ver, body) == (200, want, b"a\n")


def test_curl_default_alpn_is_h2(tsrv, certs):  # noqa: F811
    code, ver, body, _ = curl_tls(tsrv, certs, "/hello.txt")
    assert (code, ver, body) == (200, "2", t.HELLO)


@pytest.mark.parametrize("proto,want", [("--http1.1", "1.1"), ("--http2", "2")])
def test_curl_big_file(tsrv, certs, proto, want):  # noqa: F811
    code, ver, body, _ = curl_tls(tsrv, certs, "/big.bin", proto)
    assert (code, ver, len(body)) == (200, want, t.BIG_SIZE)
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(t.big_bytes()).hexdigest()


@pytest.mark.parametrize("proto", ["--http1.1", "--http2"])
def test_curl_range_conditional_head(tsrv, certs, proto):  # noqa: F811
    code, _, body, _ = curl_tls(tsrv, certs, "/hello.txt", proto, "-r", "0-4")
    assert (code, body) == (206, b"Hello")
    big = t.big_bytes()
    code, _, body, _ = curl_tls(tsrv, certs, "/big.bin", proto, "-r", "1000000-1000099")
    assert (code, body) == (206, big[1000000:1000100])
    code, _, body, _ = curl_tls(tsrv, certs, "/hello.txt", proto,
                                "-H", f"If-Modified-Since: {t.FIXED_MTIME_IMF}")
    assert (code, body) == (304, b"")
    code, _, body, r = curl_tls(tsrv, certs, "/hello.txt", proto, "-I")
    assert code == 200
    head = body.decode().lower()
    assert "content-length: 14" in head and head.endswith("\r\n\r\n"), head
    # ETag round trip
    etag = [ln.split(":", 1)[1].strip() for ln in head.split("\r\n") if ln.startswith("etag:")]
    assert etag, head
    code, _, body, _ = curl_tls(tsrv, certs, "/hello.txt", proto, "-H", f"If-None-Match: {etag[0]}")
    assert (code, body) == (304, b"")


def test_curl_rsa_certificate(make_tls_server, certs):  # noqa: F811
    srv = make_tls_server(certs.rsa, certs.rsa_key)
    for proto, want in (("--http1.1", "1.1"), ("--http2", "2")):
        code, ver, body, _ = curl_tls(srv, certs, "/hello.txt", proto, cacert=certs.rsa)
        assert (code, ver, body) == (200, want, t.HELLO)


def test_curl_verification_fails_with_wrong_root(tsrv, certs):  # noqa: F811
    r = t.curl("--cacert", str(certs.rsa), f"https://localhost:{tsrv.tls_port}/hello.txt")
    assert r.returncode == 60, (r.returncode, r.stderr)  # peer certificate cannot be verified
    tsrv.assert_tls_healthy()


def test_cli_tls_listen(make_server, certs):  # noqa: F811
    tport = t.free_port()
    srv = make_server(args=["serve", "@BASE@/root", "--listen", "127.0.0.1:@PORT@",
                            "--tls-listen", f"127.0.0.1:{tport}", "--cert", str(certs.ec),
                            "--key", str(certs.ec_key)])
    assert t.wait_port(tport)
    srv.tls_port = tport
    for proto, want in (("--http1.1", "1.1"), ("--http2", "2")):
        code, ver, body, _ = curl_tls(srv, certs, "/hello.txt", proto)
        assert (code, ver, body) == (200, want, t.HELLO)
    assert srv.get("/hello.txt").body == t.HELLO


# ---------------------------------------------------------------------------------------------
# ALPN

RAW_GET = b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize("alpn,want", [("h2", "h2"), ("http/1.1", "http/1.1"),
                                       ("h2,http/1.1", "h2"), ("http/1.1,h2", "h2")])
def test_s_client_alpn(tsrv, alpn, want):
    rc, out = u.openssl_s_client(tsrv.tls_port, "-alpn", alpn)
    assert f"ALPN protocol: {want}" in out, out


@pytest.mark.parametrize("alpn", [None, "foo"])
def test_s_client_no_alpn_speaks_http11(tsrv, alpn):
    args = ["-alpn", alpn] if alpn else []
    rc, out = u.openssl_s_client(tsrv.tls_port, *args, data=RAW_GET)
    assert "No ALPN negotiated" in out, out
    assert "HTTP/1.1 200 OK" in out and "Hello, world!" in out, out
    tsrv.assert_tls_healthy()


def test_python_alpn_http11_raw_request(tsrv):
    with tsrv.tls(alpn=("http/1.1",)) as c:
        assert c.alpn == "http/1.1"
        c.send(t.request("GET", "/hello.txt"))
        r = c.response()
        assert (r.status, r.body) == (200, t.HELLO)
        c.send(t.request("GET", "/style.css", close=True))  # keep-alive on TLS
        r = c.response()
        assert (r.status, r.body) == (200, tsrv.files["style.css"])
        c.assert_closed()
    with tsrv.tls(alpn=None) as c:
        assert c.alpn is None
        c.send(t.request("GET", "/hello.txt", close=True))
        assert c.response().body == t.HELLO


def test_http2_disabled_no_h2_alpn(make_tls_server, certs):  # noqa: F811
    srv = make_tls_server(certs.ec, certs.ec_key, http2={"enabled": False})
    with srv.tls(alpn=("h2", "http/1.1")) as c:
        assert c.alpn == "http/1.1"
        c.send(t.request("GET", "/hello.txt", close=True))
        assert c.response().body == t.HELLO
    rc, out = u.openssl_s_client(srv.tls_port, "-alpn", "h2", data=RAW_GET)
    assert "ALPN protocol: h2" not in out, out
    code, ver, body, _ = curl_tls(srv, certs, "/hello.txt")
    assert (code, ver, body) == (200, "1.1", t.HELLO)


# ---------------------------------------------------------------------------------------------
# SNI


@pytest.fixture(scope="module")
def sni_srv(tmp_path_factory, certs):  # noqa: F811
    def mutate(cfg):
        cfg["servers"][1]["tls"] = {"cert": str(certs.a), "key": str(certs.a_key)}
        cfg["servers"][2]["tls"] = {"cert": str(certs.b), "key": str(certs.b_key)}

    yield from u.module_server(tmp_path_factory, "sni", certs.dflt, certs.dflt_key, mutate=mutate)


@pytest.mark.parametrize("sni,which,host,body", [
    ("a.test", "a", "a.test", b"a\n"),
    ("b.test", "b", "b.test", b"b\n"),
    ("x.b.test", "b", "x.b.test", b"b\n"),  # wildcard name *.b.test
    ("unknown.test", "dflt", "localhost", t.HELLO),
    (None, "dflt", "localhost", t.HELLO),
])
def test_sni_picks_certificate(sni_srv, certs, sni, which, host, body):  # noqa: F811
    path = "/hello.txt" if body == t.HELLO else "/who.txt"
    with sni_srv.tls(sni=sni) as c:
        assert c.peer_fingerprint() == u.fingerprint(getattr(certs, which)), \
            f"SNI {sni!r}: got the wrong certificate"
        c.send(t.request("GET", path, host=host, close=True))
        r = c.response()
        assert (r.status, r.body) == (200, body)


def test_sni_verified_by_own_root(sni_srv, certs):  # noqa: F811
    # each virtual host's certificate verifies against its own root only
    for name, root, who in (("a.test", certs.a, b"a\n"), ("b.test", certs.b, b"b\n")):
        code, _, body, _ = curl_tls(sni_srv, certs, "/who.txt", "--http2", host=name, cacert=root)
        assert (code, body) == (200, who)
    rc, out = u.openssl_s_client(sni_srv.tls_port, "-brief", sni="b.test")
    assert "CN = b.test" in out or "CN=b.test" in out, out
    rc, out = u.openssl_s_client(sni_srv.tls_port, "-brief", sni="a.test")
    assert "CN = a.test" in out or "CN=a.test" in out, out


@pytest.mark.parametrize("ver", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_sni_session_not_resumed_across_hosts(sni_srv, certs, ver):  # noqa: F811
    ctx = u.client_context(minimum=ver, maximum=ver)
    with u.TlsConn(sni_srv.tls_port, ctx=ctx, sni="a.test") as c:
        c.send(t.request("GET", "/who.txt", host="a.test", close=True))
        assert c.response().body == b"a\n"
        sess = c.sock.session
    with u.TlsConn(sni_srv.tls_port, ctx=ctx, sni="a.test", session=sess) as c:
        assert c.sock.session_reused
    # a.test's session offered to b.test: a full handshake with b.test's certificate
    with u.TlsConn(sni_srv.tls_port, ctx=ctx, sni="b.test", session=sess) as c:
        assert not c.sock.session_reused, "a.test's session resumed for b.test"
        assert c.peer_fingerprint() == u.fingerprint(certs.b)
        c.send(t.request("GET", "/who.txt", host="b.test", close=True))
        assert c.response().body == b"b\n"


# ---------------------------------------------------------------------------------------------
# Versions and ciphers


def _client_hello(version, ciphers, extensions=b""):
    """A hand-made ClientHello (no supported_versions: a plain legacy-version offer)."""
    body = struct.pack(">H", version) + os.urandom(32) + b"\x00"
    body += struct.pack(">H", 2 * len(ciphers)) + b"".join(struct.pack(">H", c) for c in ciphers)
    body += b"\x01\x00"
    sni_name = b"localhost"
    sni = struct.pack(">HHHBH", 0, len(sni_name) + 5, len(sni_name) + 3, 0, len(sni_name)) + sni_name
    groups = struct.pack(">HHHH", 10, 4, 2, 23)  # supported_groups: secp256r1
    points = struct.pack(">HHBB", 11, 2, 1, 0)  # ec_point_formats: uncompressed
    exts = sni + groups + points + extensions
    body += struct.pack(">H", len(exts)) + exts
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


# ECDHE-ECDSA-AES128-SHA, ECDHE-RSA-AES128-SHA, AES128-SHA (all CBC, valid for TLS 1.0/1.1)
OLD_CIPHERS = [0xC009, 0xC013, 0x002F]


def _first_record(port, data, timeout=3.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout * t.SLOW) as s:
        s.sendall(data)
        got = b""
        try:
            while len(got) < 7:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        return got


@pytest.mark.parametrize("version,name", [(0x0301, "TLS 1.0"), (0x0302, "TLS 1.1")])
def test_old_versions_refused_raw(tsrv, version, name):
    got = _first_record(tsrv.tls_port, _client_hello(version, OLD_CIPHERS))
    # not a ServerHello: a fatal alert (protocol_version 70) or a plain close
    assert got[:1] != b"\x16", f"{name}: the server answered with a handshake record {got[:16]!r}"
    if got:
        assert got[0] == 0x15 and got[5] == 2 and got[6] == 70, got[:16]
    tsrv.assert_tls_healthy()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("ver", ["TLSv1", "TLSv1_1"])
def test_old_versions_refused_python_ssl(tsrv, ver):
    v = getattr(ssl.TLSVersion, ver)
    ctx = u.client_context(minimum=v, maximum=v, ciphers="DEFAULT:@SECLEVEL=0")
    try:
        with u.TlsConn(tsrv.tls_port, ctx=ctx) as c:
            pytest.fail(f"{ver} handshake succeeded ({c.sock.version()})")
    except ssl.SSLError as e:
        msg = str(e)
        if "NO_PROTOCOLS_AVAILABLE" in msg.upper() or "no protocols available" in msg:
            pytest.skip(f"the local OpenSSL cannot offer {ver}: {msg}")
        assert "version" in msg.lower() or "protocol" in msg.lower(), msg
    except (ConnectionResetError, BrokenPipeError):
        pass
    tsrv.assert_tls_healthy()


def test_tls12_cbc_only_refused(tsrv):
    ctx = u.client_context(maximum=ssl.TLSVersion.TLSv1_2,
                           ciphers="ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
                                   "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA:AES128-SHA")
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as ei:
        u.TlsConn(tsrv.tls_port, ctx=ctx).close()
    assert "handshake failure" in str(ei.value).lower() or "HANDSHAKE_FAILURE" in str(ei.value), \
        str(ei.value)
    # also refused in a hand-made TLS 1.2 hello that offers only CBC suites
    got = _first_record(tsrv.tls_port, _client_hello(0x0303, OLD_CIPHERS + [0xC023]))
    assert got[:1] != b"\x16", got[:16]
    tsrv.assert_tls_healthy()


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                    "ECDHE-ECDSA-CHACHA20-POLY1305"])
def test_tls12_aead_works(tsrv, cipher):
    ctx = u.client_context(maximum=ssl.TLSVersion.TLSv1_2, ciphers=cipher)
    with u.TlsConn(tsrv.tls_port, ctx=ctx) as c:
        assert c.sock.version() == "TLSv1.2"
        assert c.sock.cipher()[0] == cipher
        c.send(t.request("GET", "/hello.txt", close=True))
        assert c.response().body == t.HELLO


def test_tls12_rsa_certificate_cipher(sni_srv):
    ctx = u.client_context(maximum=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    with u.TlsConn(sni_srv.tls_port, ctx=ctx, sni="b.test") as c:
        assert (c.sock.version(), c.sock.cipher()[0]) == ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
        c.send(t.request("GET", "/who.txt", host="b.test", close=True))
        assert c.response().body == b"b\n"


def test_tls13_works(tsrv):
    ctx = u.client_context(minimum=ssl.TLSVersion.TLSv1_3)
    with u.TlsConn(tsrv.tls_port, ctx=ctx) as c:
        assert c.sock.version() == "TLSv1.3"
        c.send(t.request("GET", "/hello.txt", close=True))
        assert c.response().body == t.HELLO
    rc, out = u.openssl_s_client(tsrv.tls_port, "-tls1_3", "-brief")
    assert "Protocol version: TLSv1.3" in out, out


# ---------------------------------------------------------------------------------------------
# Session resumption


def _resume(port, ver):
    kw = {"minimum": ver, "maximum": ver}
    ctx = u.client_context(**kw)
    with u.TlsConn(port, ctx=ctx) as c:
        assert not c.sock.session_reused
        c.send(t.request("GET", "/hello.txt", close=True))
        assert c.response().body == t.HELLO  # reading lets a TLS 1.3 ticket arrive
        sess = c.sock.session
    assert sess is not None
    with u.TlsConn(port, ctx=ctx, session=sess) as c:
        reused = c.sock.session_reused
        c.send(t.request("GET", "/hello.txt", close=True))
        assert c.response().body == t.HELLO
    return reused


@pytest.mark.parametrize("ver", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_session_resumption(tsrv, ver):
    assert _resume(tsrv.tls_port, ver), f"{ver.name} session was not resumed"


def test_session_resumption_s_client(tsrv):
    sess = tsrv.base / "sess.pem"
    rc, out = u.openssl_s_client(tsrv.tls_port, "-tls1_2", "-sess_out", str(sess), data=RAW_GET)
    assert "New, " in out and "Hello, world!" in out, out
    rc, out = u.openssl_s_client(tsrv.tls_port, "-tls1_2", "-sess_in", str(sess), data=RAW_GET)
    assert "Reused, " in out and "Hello, world!" in out, out


def test_tickets_off(make_tls_server, certs):  # noqa: F811
    srv = make_tls_server(certs.ec, certs.ec_key, tls_extra={"tickets": False})
    ctx = u.client_context(maximum=ssl.TLSVersion.TLSv1_2)
    with u.TlsConn(srv.tls_port, ctx=ctx) as c:
        c.send(t.request("GET", "/hello.txt", close=True))
        assert c.response().body == t.HELLO
    rc, out = u.openssl_s_client(srv.tls_port, "-tls1_2", data=RAW_GET)
    assert "TLS session ticket:" not in out, out
    assert "Hello, world!" in out


# ---------------------------------------------------------------------------------------------
# OCSP stapling


@pytest.fixture(scope="module")
def ocsp_srv(tmp_path_factory, certs):  # noqa: F811
    yield from u.module_server(tmp_path_factory, "ocsp", certs.fullchain, certs.leaf_key,
                               tls_extra={"ocsp": str(certs.ocsp)})


@pytest.mark.parametrize("ver", ["-tls1_2", "-tls1_3"])
def test_ocsp_stapled(ocsp_srv, certs, ver):  # noqa: F811
    rc, out = u.openssl_s_client(ocsp_srv.tls_port, ver, "-status", "-CAfile", str(certs.ca),
                                 data=RAW_GET)
    assert "OCSP Response Status: successful (0x0)" in out, out
    assert "Cert Status: good" in out and "Serial Number: 1001" in out, out
    assert "Responder Id: CN = tern test CA" in out, out
    assert "Verify return code: 0 (ok)" in out, out
    assert "Hello, world!" in out


def test_ocsp_not_sent_unasked(ocsp_srv):
    rc, out = u.openssl_s_client(ocsp_srv.tls_port, data=RAW_GET)
    assert "OCSP" not in out, out
    assert "Hello, world!" in out


def test_ocsp_none_configured(tsrv):
    rc, out = u.openssl_s_client(tsrv.tls_port, "-status", data=RAW_GET)
    assert "OCSP response: no response sent" in out, out
    assert "Hello, world!" in out


def test_ocsp_curl_cert_status(ocsp_srv, certs):  # noqa: F811
    # curl checks the stapled response against the issuer from the served chain
    code, ver, body, r = curl_tls(ocsp_srv, certs, "/hello.txt", "--cert-status",
                                  cacert=certs.ca)
    assert (code, body) == (200, t.HELLO)


# ---------------------------------------------------------------------------------------------
# Handshake defences


@pytest.fixture(scope="module")
def hs_srv(tmp_path_factory, certs):  # noqa: F811
    yield from u.module_server(tmp_path_factory, "hs", certs.ec, certs.ec_key,
                               tls_extra={"handshake_timeout": 1})


def _time_to_close(sock, limit):
    start = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        return None
    return time.monotonic() - start


@pytest.mark.parametrize("what", ["silent", "half-hello"])
def test_handshake_deadline(hs_srv, what):
    before = len(hs_srv.read(hs_srv.error_log))
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", hs_srv.tls_port)) as s:
        if what == "half-hello":
            s.sendall(_client_hello(0x0303, [0xC02B])[:40])
        dt = _time_to_close(s, 1 + 3 * t.SLOW)
    assert dt is not None, "the server kept a stalled handshake open past the deadline"
    total = time.monotonic() - start
    assert 0.7 <= total <= 1 + 1.5 * t.SLOW, f"closed after {total:.2f}s (deadline 1s)"
    line = "[info] 127.0.0.1: TLS handshake not complete in time, closing"
    assert t.wait_for(lambda: line in hs_srv.read(hs_srv.error_log)[before:]), \
        hs_srv.read(hs_srv.error_log)[-2000:]
    hs_srv.assert_tls_healthy()


def test_handshake_deadline_not_extended_by_trickle(hs_srv):
    hello = _client_hello(0x0303, [0xC02B])
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", hs_srv.tls_port)) as s:
        s.settimeout(0.3)
        closed = False
        for b in hello[:-1]:  # one byte every 0.2 s: progress, never complete
            try:
                s.sendall(bytes([b]))
                if s.recv(4096) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            if time.monotonic() - start > 1 + 3 * t.SLOW:
                break
    assert closed, "a trickling handshake outlived the deadline"
    assert time.monotonic() - start <= 1 + 1.5 * t.SLOW
    hs_srv.assert_tls_healthy()


def test_failed_handshake_logged_at_info(tsrv):
    before = len(tsrv.read(tsrv.error_log))
    got = _first_record(tsrv.tls_port, _client_hello(0x0302, OLD_CIPHERS))
    assert got[:1] != b"\x16"
    assert t.wait_for(lambda: "failed: unsupported protocol" in tsrv.read(tsrv.error_log)[before:])
    line = [ln for ln in tsrv.read(tsrv.error_log)[before:].splitlines() if "unsupported" in ln][0]
    assert "[info] tls: handshake with 127.0.0.1:" in line, line


@pytest.mark.parametrize("junk", [os.urandom(512), b"\x16\x03\x03\xff\xff" + b"A" * 200,
                                  b"\x00" * 64, b"\x17\x03\x03\x00\x10" + b"\x00" * 16],
                         ids=["random", "oversize-record", "zeros", "appdata-first"])
def test_garbage_closed_quickly(tsrv, junk):
    # tsrv keeps the default 10 s handshake deadline: a close within 2 s is the error path
    with socket.create_connection(("127.0.0.1", tsrv.tls_port)) as s:
        try:
            s.sendall(junk)
        except (ConnectionResetError, BrokenPipeError):
            pass
        dt = _time_to_close(s, 2 * t.SLOW)
    assert dt is not None, "garbage on the TLS port did not close the connection"
    tsrv.assert_tls_healthy()


def test_plain_http_to_tls_port(tsrv):
    with socket.create_connection(("127.0.0.1", tsrv.tls_port)) as s:
        s.sendall(RAW_GET)
        got = b""
        s.settimeout(2 * t.SLOW)
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
    assert b"Hello" not in got and b"HTTP/1.1 200" not in got, got
    if got:  # at most a TLS alert record
        assert got[0] == 0x15, got[:32]
    tsrv.assert_tls_healthy()


def test_many_failed_handshakes_then_healthy(tsrv):
    for i in range(30):
        with socket.create_connection(("127.0.0.1", tsrv.tls_port)) as s:
            s.sendall(_client_hello(0x0303, OLD_CIPHERS) if i % 2 else b"\x16\x03\x01\x00\x05abcde")
    tsrv.assert_tls_healthy()
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{tsrv.tls_port}", "-brief"],
                       input=b"", capture_output=True, timeout=10 * t.SLOW)
    assert b"Protocol version: TLSv1.3" in r.stdout + r.stderr
