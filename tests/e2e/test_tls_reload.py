"""Certificates on reload (SIGHUP): new handshakes get the re-read certificate, open TLS
connections keep working, tickets issued before still resume, and a broken certificate keeps
the old one serving with an error logged."""

import shutil
import signal
import ssl

import pytest

import tern_e2e as t
import tls_util as u
from tls_util import certs, make_tls_server  # noqa: F401 (fixtures)


def _install(certs, src, dst_dir):  # noqa: F811
    shutil.copyfile(src, dst_dir / "cur.pem")
    shutil.copyfile(str(src).replace(".pem", ".key"), dst_dir / "cur.key")


def _hup_and_wait(srv, marker):
    before = len(srv.read(srv.error_log))
    srv.signal(signal.SIGHUP)
    assert t.wait_for(lambda: marker in srv.read(srv.error_log)[before:], timeout=5), \
        srv.read(srv.error_log)[before:]
    return srv.read(srv.error_log)[before:]


def _fp(srv, **kw):
    with srv.tls(**kw) as c:
        fp = c.peer_fingerprint()
        c.send(t.request("GET", "/hello.txt", close=True))
        assert c.response().body == t.HELLO
        return fp


@pytest.fixture
def reload_srv(make_tls_server, certs, tmp_path):  # noqa: F811
    _install(certs, certs.ec, tmp_path)
    srv = make_tls_server(tmp_path / "cur.pem", tmp_path / "cur.key", name="reload")
    srv.cert_dir = tmp_path
    return srv


def test_reload_rereads_certificate(reload_srv, certs):  # noqa: F811
    srv = reload_srv
    assert _fp(srv) == u.fingerprint(certs.ec)
    # a keep-alive TLS connection (HTTP/1.1) and a resumable TLS 1.3 session from before
    keep = srv.tls()
    keep.send(t.request("GET", "/hello.txt"))
    assert keep.response().body == t.HELLO
    ctx = u.client_context(minimum=ssl.TLSVersion.TLSv1_3)
    with u.TlsConn(srv.tls_port, ctx=ctx) as c:
        c.send(t.request("GET", "/hello.txt", close=True))
        c.response()
        sess = c.sock.session
    # same paths, new contents
    _install(certs, certs.ec2, srv.cert_dir)
    _hup_and_wait(srv, "configuration reloaded")
    assert _fp(srv) == u.fingerprint(certs.ec2)
    # the open connection still works, with its old certificate
    assert keep.peer_fingerprint() == u.fingerprint(certs.ec)
    keep.send(t.request("GET", "/style.css", close=True))
    r = keep.response()
    assert (r.status, r.body) == (200, srv.files["style.css"])
    keep.close()
    # a session made with the old certificate is not resumed with the new one (tern's session
    # id context is the certificate's hash): a full handshake with the new certificate
    with u.TlsConn(srv.tls_port, ctx=ctx, session=sess) as c:
        assert not c.sock.session_reused
        assert c.peer_fingerprint() == u.fingerprint(certs.ec2)


@pytest.mark.parametrize("ver", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_reload_keeps_tickets(reload_srv, ver):
    """Ticket keys are inherited: a session from before an unchanged-certificate reload
    resumes."""
    srv = reload_srv
    ctx = u.client_context(minimum=ver, maximum=ver)
    with u.TlsConn(srv.tls_port, ctx=ctx) as c:
        c.send(t.request("GET", "/hello.txt", close=True))
        c.response()
        sess = c.sock.session
    _hup_and_wait(srv, "configuration reloaded")
    with u.TlsConn(srv.tls_port, ctx=ctx, session=sess) as c:
        assert c.sock.session_reused, "a ticket from before the reload did not resume"
        c.send(t.request("GET", "/hello.txt", close=True))
        assert c.response().body == t.HELLO


def test_reload_switches_certificate_in_config(reload_srv, certs):  # noqa: F811
    srv = reload_srv
    srv.config["tls"] = {"cert": str(certs.rsa), "key": str(certs.rsa_key)}
    srv.write_config()
    _hup_and_wait(srv, "configuration reloaded")
    assert _fp(srv) == u.fingerprint(certs.rsa)
    srv.assert_healthy()


@pytest.mark.parametrize("how", ["missing-path", "garbage-content", "key-mismatch"])
def test_reload_broken_certificate_keeps_old(reload_srv, certs, how):  # noqa: F811
    srv = reload_srv
    old = u.fingerprint(certs.ec)
    assert _fp(srv) == old
    keep = srv.tls()
    if how == "missing-path":
        srv.config["tls"] = {"cert": str(srv.cert_dir / "nope.pem"), "key": str(certs.ec_key)}
        srv.write_config()
    elif how == "garbage-content":
        (srv.cert_dir / "cur.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n"
                                              "-----END CERTIFICATE-----\n")
    else:
        shutil.copyfile(certs.rsa_key, srv.cert_dir / "cur.key")
    log = _hup_and_wait(srv, "reload failed")
    line = [ln for ln in log.splitlines() if "reload failed" in ln][0]
    assert "[error]" in line, line
    if how == "missing-path":
        assert "nope.pem" in line, line
    assert _fp(srv) == old, "the old certificate is no longer served"
    keep.send(t.request("GET", "/hello.txt", close=True))
    assert keep.response().body == t.HELLO
    keep.close()
    srv.assert_tls_healthy()
    # and a good reload afterwards takes effect
    srv.config["tls"] = {"cert": str(certs.ec2), "key": str(certs.ec2_key)}
    srv.write_config()
    _hup_and_wait(srv, "configuration reloaded")
    assert _fp(srv) == u.fingerprint(certs.ec2)


def test_reload_with_open_h2_connection(reload_srv, certs):  # noqa: F811
    """Reload sends an open HTTP/2 connection a graceful GOAWAY (issue 3: "Graceful stop and
    reload: GOAWAY with the last stream id"); a new connection gets the new certificate and
    is served."""
    srv = reload_srv
    with u.H2Client(srv.tls_port) as h:
        assert h.get("/hello.txt")["body"] == t.HELLO
        _install(certs, certs.ec2, srv.cert_dir)
        _hup_and_wait(srv, "configuration reloaded")
        h.pump(lambda: h.goaway is not None)
        assert h.goaway == 0  # NO_ERROR
    with u.H2Client(srv.tls_port) as h:
        st = h.get("/style.css")
        assert (st["status"], st["body"]) == (200, srv.files["style.css"])
    assert _fp(srv) == u.fingerprint(certs.ec2)
