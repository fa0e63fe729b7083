"""The connection_info location: JSON on how the request came, checked with curl over HTTP/1.1
and HTTP/2, cleartext and TLS; the port in the JSON is the one curl reports it used."""

import json
import re

import pytest

import tern_e2e as t
import tls_util as u
from tls_util import certs  # noqa: F401 (fixture)

PATH = "/.well-known/tern/connection"


def _with_conninfo(cfg):
    cfg["servers"][0]["locations"].append({"path": PATH, "connection_info": True})


@pytest.fixture(scope="module")
def ci(tmp_path_factory, certs):  # noqa: F811
    yield from u.module_server(tmp_path_factory, "conninfo", certs.ec, certs.ec_key,
                               mutate=_with_conninfo)


def fetch(*args):
    """curl the endpoint: (head text, parsed JSON, the local port curl used)."""
    r = t.curl("-D", "-", "-w", "\n%{local_port}", *args)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    out = r.stdout.decode()
    head, rest = out.rsplit("\r\n\r\n", 1)
    body, port = rest.rsplit("\n", 1)
    return head, json.loads(body), int(port)


def check_common(head, info, port, status_line):
    assert re.match(status_line, head), head
    fields = {ln.split(":", 1)[0].lower(): ln.split(":", 1)[1].strip()
              for ln in head.split("\r\n")[1:] if ":" in ln}
    assert fields["content-type"] == "application/json", head
    assert fields["cache-control"] == "no-store", head
    assert info["client"] == {"address": "127.0.0.1", "port": port}, info
    assert set(info) == {"http_version", "tls", "client"}, info


def test_h1_cleartext(ci):
    head, info, port = fetch("--http1.1", f"http://127.0.0.1:{ci.port}{PATH}")
    check_common(head, info, port, r"HTTP/1\.1 200")
    assert info["http_version"] == "HTTP/1.1" and info["tls"] is None, info


def test_h10_and_head(ci):
    r = ci.get(PATH, version="HTTP/1.0")
    assert r.status == 200, r
    assert json.loads(r.body)["http_version"] == "HTTP/1.0"
    r = ci.get(PATH, method="HEAD")
    assert r.status == 200 and r.body == b"", r
    assert r.header("Content-Type") == "application/json"
    assert int(r.header("Content-Length")) > 50


def test_h1_tls(ci, certs):  # noqa: F811
    head, info, port = fetch("--http1.1", "--cacert", str(certs.ec), ci.url(PATH))
    check_common(head, info, port, r"HTTP/1\.1 200")
    assert info["http_version"] == "HTTP/1.1", info
    assert info["tls"]["version"] == "TLSv1.3", info
    assert info["tls"]["alpn"] == "http/1.1", info
    assert info["tls"]["sni"] == "localhost", info
    assert re.fullmatch(r"TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)",
                        info["tls"]["cipher"]), info


def test_h2c_prior_knowledge_and_upgrade(ci):
    for opt in ("--http2-prior-knowledge", "--http2"):
        head, info, port = fetch(opt, f"http://127.0.0.1:{ci.port}{PATH}")
        check_common(head.split("\r\n\r\n")[-1], info, port, r"HTTP/2 200")
        assert info["http_version"] == "HTTP/2" and info["tls"] is None, (opt, info)


def test_h2_tls_chosen_cipher(ci, certs):  # noqa: F811
    head, info, port = fetch("--http2", "--cacert", str(certs.ec), "--tls13-ciphers",
                             "TLS_CHACHA20_POLY1305_SHA256", ci.url(PATH))
    check_common(head, info, port, r"HTTP/2 200")
    assert info["http_version"] == "HTTP/2", info
    assert info["tls"] == {"version": "TLSv1.3", "cipher": "TLS_CHACHA20_POLY1305_SHA256",
                           "alpn": "h2", "sni": "localhost", "early_data": False}, info


def test_tls12_no_sni(ci):
    """TLS 1.2 reports the suite by its IANA name; an IP address in the URL sends no SNI."""
    head, info, port = fetch("--http2", "-k", "--tls-max", "1.2", "--ciphers",
                             "ECDHE-ECDSA-AES128-GCM-SHA256",
                             f"https://127.0.0.1:{ci.tls_port}{PATH}")
    check_common(head, info, port, r"HTTP/2 200")
    assert info["tls"] == {"version": "TLSv1.2",
                           "cipher": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                           "alpn": "h2", "sni": None, "early_data": False}, info


def test_only_below_the_location(ci):
    """Other paths are still files; methods other than GET/HEAD/OPTIONS get 405."""
    r = ci.get("/hello.txt")
    assert r.status == 200 and r.body == t.HELLO
    r = ci.get(PATH, method="POST", body=b"x")
    assert r.status == 405, r


def test_without_the_option_it_is_a_404(server, certs):  # noqa: F811
    r = server.get(PATH)
    assert r.status == 404, r
    assert r.header("Content-Type", "").startswith("text/html"), r
    r = t.curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
               f"http://127.0.0.1:{server.port}{PATH}")
    assert r.stdout == b"404", r
