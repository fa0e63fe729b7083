"""Client fingerprints in the access log: JA4 of the TLS ClientHello (FoxIO's specification,
technical_details/JA4.md) and the Akamai HTTP/2 fingerprint (SETTINGS|WINDOW_UPDATE|PRIORITY|
pseudo-header order). The test sees what each real client (curl, openssl s_client, nghttp,
Python's ssl, python-h2) sent through a relay of its own, computes the fingerprint from those
bytes with its own implementation of the specifications, and compares it with the line tern
logged for that request."""

import hashlib
import json
import socket
import ssl
import struct
import subprocess
import threading

import pytest

import tern_e2e as t
import tls_util as u
from tls_util import certs  # noqa: F401 (fixture)

# ---------------------------------------------------------------------------------------------
# a relay that keeps what the client sent


class Relay:
    def __init__(self, port):
        self.target = port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.captured = []  # bytes the client sent, one entry per connection
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            box = bytearray()
            self.captured.append(box)
            threading.Thread(target=self._pipe, args=(c, s, box), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, None), daemon=True).start()

    @staticmethod
    def _pipe(a, b, box):
        try:
            while data := a.recv(65536):
                if box is not None and len(box) < 65536:
                    box += data
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self):
        self.lsock.close()


# ---------------------------------------------------------------------------------------------
# JA4, from the specification


def is_grease(v):
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


def client_hello(data):
    """The ClientHello handshake message from the start of a TLS stream (records joined)."""
    hs = b""
    while len(data) >= 5 and data[0] == 22:
        n = struct.unpack(">H", data[3:5])[0]
        hs += data[5:5 + n]
        data = data[5 + n:]
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            break
    assert hs[0] == 1, "not a ClientHello"
    return hs[4:4 + int.from_bytes(hs[1:4], "big")]


def ja4(body, transport="t"):
    p = 2 + 32
    legacy = struct.unpack(">H", body[0:2])[0]
    p += 1 + body[p]
    n = struct.unpack(">H", body[p:p + 2])[0]
    ciphers = [c for c in struct.unpack(f">{n // 2}H", body[p + 2:p + 2 + n]) if not is_grease(c)]
    p += 2 + n
    p += 1 + body[p]
    exts, sigs, version, sni, alpn = [], [], legacy, False, "00"
    if p < len(body):
        end = p + 2 + struct.unpack(">H", body[p:p + 2])[0]
        p += 2
        while p < end:
            typ, ln = struct.unpack(">HH", body[p:p + 4])
            val = body[p + 4:p + 4 + ln]
            p += 4 + ln
            if is_grease(typ):
                continue
            exts.append(typ)
            if typ == 0:
                sni = True
            elif typ == 0x10:
                first = val[3:3 + val[2]]
                if first:
                    a, b = chr(first[0]), chr(first[-1])
                    alpn = a + b if a.isascii() and a.isalnum() and b.isascii() and b.isalnum() \
                        else first.hex()[0] + first.hex()[-1]
            elif typ == 0x2B:
                vs = [v for v in struct.unpack(f">{val[0] // 2}H", val[1:1 + val[0]])
                      if not is_grease(v)]
                version = max(vs)
            elif typ == 0x0D:
                m = struct.unpack(">H", val[:2])[0]
                sigs = [s for s in struct.unpack(f">{m // 2}H", val[2:2 + m]) if not is_grease(s)]
    names = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3"}

    def h12(s):
        return hashlib.sha256(s.encode()).hexdigest()[:12] if s else "000000000000"

    rest = sorted(e for e in exts if e not in (0, 0x10))
    c_text = ",".join(f"{e:04x}" for e in rest)
    if rest and sigs:
        c_text += "_" + ",".join(f"{s:04x}" for s in sigs)
    return (f"{transport}{names.get(version, '00')}{'d' if sni else 'i'}"
            f"{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{alpn}_"
            f"{h12(','.join(f'{c:04x}' for c in sorted(ciphers)))}_{h12(c_text)}")


# ---------------------------------------------------------------------------------------------
# the Akamai HTTP/2 fingerprint, from the frames


def akamai(data):
    import hpack
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    assert data.startswith(preface)
    p = len(preface)
    settings, wu, prios, pseudo = None, "00", [], None
    block = b""
    while p + 9 <= len(data) and pseudo is None:
        ln = int.from_bytes(data[p:p + 3], "big")
        typ, flags = data[p + 3], data[p + 4]
        sid = struct.unpack(">I", data[p + 5:p + 9])[0] & 0x7FFFFFFF
        pay = data[p + 9:p + 9 + ln]
        p += 9 + ln
        if typ == 4 and not flags & 1 and settings is None:
            settings = ";".join(f"{i}:{v}" for i, v in
                                (struct.unpack(">HI", pay[k:k + 6]) for k in range(0, ln, 6)))
        elif typ == 8 and sid == 0 and wu == "00":
            wu = str(struct.unpack(">I", pay)[0] & 0x7FFFFFFF)
        elif typ == 2:
            dep = struct.unpack(">I", pay[:4])[0]
            prios.append(f"{sid}:{dep >> 31}:{dep & 0x7FFFFFFF}:{pay[4]}")
        elif typ in (1, 9):
            if typ == 1:
                pad = pay[0] if flags & 0x8 else 0
                pay = pay[1 if flags & 0x8 else 0:len(pay) - pad]
                if flags & 0x20:
                    pay = pay[5:]
            block += pay
            if flags & 0x4:  # END_HEADERS
                fields = hpack.Decoder().decode(block, raw=True)
                letters = {b":method": "m", b":authority": "a", b":scheme": "s", b":path": "p",
                           b":protocol": "r"}
                pseudo = ",".join(letters[k] for k, _ in fields if k in letters)
    return f"{settings}|{wu}|{','.join(prios) or '0'}|{pseudo}"


# ---------------------------------------------------------------------------------------------


def _json_log(cfg):
    cfg["access_log"] = {"path": cfg["access_log"], "format": "json"}


@pytest.fixture(scope="module")
def site(tmp_path_factory, certs):  # noqa: F811
    gen = u.module_server(tmp_path_factory, "fp", certs.leaf, certs.leaf_key, mutate=_json_log)
    srv = next(gen)
    yield srv
    yield from gen


def logged(site, tag):
    def find():
        text = site.access_log.read_text(errors="replace") if site.access_log.exists() else ""
        return [json.loads(ln) for ln in text.splitlines() if tag in ln]
    assert t.wait_for(lambda: find(), 5 * t.SLOW), f"no access log line for {tag}"
    return find()[0]


TLS_CLIENTS = {
    "curl-h1-ip": lambda port, path: t.curl("-k", "--http1.1", f"https://127.0.0.1:{port}{path}"),
    "curl-h2-sni": lambda port, path: t.curl(
        "-k", "--http2", "--resolve", f"localhost:{port}:127.0.0.1", f"https://localhost:{port}{path}"),
    "nghttp": lambda port, path: subprocess.run(
        ["nghttp", "-n", f"https://localhost:{port}{path}"], capture_output=True, timeout=20),
    "openssl": lambda port, path: subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
         "-alpn", "http/1.1", "-quiet"], input=f"GET {path} HTTP/1.1\r\nHost: localhost\r\n"
        "Connection: close\r\n\r\n".encode(), capture_output=True, timeout=20),
}


@pytest.mark.parametrize("client", sorted(TLS_CLIENTS))
def test_ja4_matches_the_client_hello(site, client):
    relay = Relay(site.tls_port)
    try:
        path = f"/hello.txt?ja4={client}"
        r = TLS_CLIENTS[client](relay.port, path)
        assert r.returncode == 0, r.stderr
        line = logged(site, f"ja4={client}")
        want = ja4(client_hello(bytes(relay.captured[0])))
        assert line["ja4"] == want, (line, want)
        assert line["ja4"].startswith("t1")
        if client.endswith("-ip"):
            assert line["ja4"][3] == "i"
    finally:
        relay.close()


def test_ja4_python_ssl_without_alpn(site):
    relay = Relay(site.tls_port)
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", relay.port)) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET /hello.txt?ja4=python HTTP/1.1\r\nHost: localhost\r\n"
                      b"Connection: close\r\n\r\n")
            while s.recv(65536):
                pass
        line = logged(site, "ja4=python")
        want = ja4(client_hello(bytes(relay.captured[0])))
        assert line["ja4"] == want and want[8:10] == "00", (line, want)  # no ALPN: "00"
    finally:
        relay.close()


def test_no_fingerprint_on_cleartext_h1(site):
    t.curl(f"http://127.0.0.1:{site.port}/hello.txt?fp=clear")
    line = logged(site, "fp=clear")
    assert line["ja4"] is None and line["http2_fingerprint"] is None


H2C_CLIENTS = {
    "curl": lambda port, path: t.curl("--http2-prior-knowledge", f"http://127.0.0.1:{port}{path}"),
    "nghttp": lambda port, path: subprocess.run(
        ["nghttp", "-n", f"http://127.0.0.1:{port}{path}"], capture_output=True, timeout=20),
}


@pytest.mark.parametrize("client", sorted(H2C_CLIENTS))
def test_http2_fingerprint_matches_the_frames(site, client):
    relay = Relay(site.port)
    try:
        r = H2C_CLIENTS[client](relay.port, f"/hello.txt?h2fp={client}")
        assert r.returncode == 0, r.stderr
        line = logged(site, f"h2fp={client}")
        want = akamai(bytes(relay.captured[0]))
        assert line["http2_fingerprint"] == want, (line, want)
    finally:
        relay.close()


def test_http2_fingerprint_of_hand_made_frames(site):
    """Frames written here: the fingerprint is known without looking at tern."""
    import hpack

    def frame(typ, flags, sid, payload):
        return len(payload).to_bytes(3, "big") + bytes([typ, flags]) + sid.to_bytes(4, "big") + payload

    settings = b"".join(struct.pack(">HI", i, v) for i, v in ((1, 65536), (3, 1000), (4, 6291456),
                                                               (6, 262144)))
    block = hpack.Encoder().encode([(":method", "GET"), (":authority", "localhost"),
                                    (":scheme", "http"), (":path", "/hello.txt?h2fp=hand")])
    data = (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, settings)
            + frame(8, 0, 0, struct.pack(">I", 15663105))
            + frame(2, 0, 3, struct.pack(">IB", 0, 200))
            + frame(2, 0, 5, struct.pack(">IB", 0x80000003, 100))
            + frame(1, 0x5, 1, block))
    with socket.create_connection(("127.0.0.1", site.port), timeout=5) as s:
        s.sendall(data)
        line = logged(site, "h2fp=hand")  # the response is written: the request was served
    assert line["http2_fingerprint"] == \
        "1:65536;3:1000;4:6291456;6:262144|15663105|3:0:0:200,5:1:3:100|m,a,s,p"
    # the relay-free path agrees with the test's own reading of the same bytes
    assert akamai(data) == line["http2_fingerprint"]


def test_custom_format_fields(make_server, tmp_path):
    log = tmp_path / "fp.log"
    srv = make_server(start=False)
    srv.config["access_log"] = {"path": str(log), "format": "$status $http2_fingerprint $ja4"}
    srv.start()
    r = t.curl("--http2-prior-knowledge", f"http://127.0.0.1:{srv.port}/hello.txt")
    assert r.returncode == 0
    assert t.wait_for(lambda: log.exists() and log.read_text().strip(), 5 * t.SLOW)
    status, fp, ja = log.read_text().split("\n")[0].split(" ")
    assert status == "200" and fp.count("|") == 3 and ja == "-"


# ---------------------------------------------------------------------------------------------
# HTTP/3: the ClientHello travels in the client's Initial packets, whose keys come from the
# connection id the client chose (RFC 9001 §5.2); the test removes that protection itself.


def _hkdf_expand_label(secret, label, length):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def _varint(b, p):
    n = 1 << (b[p] >> 6)
    v = b[p] & 0x3F
    for i in range(1, n):
        v = (v << 8) | b[p + i]
    return v, p + n


def quic_client_hello(datagrams):
    """The ClientHello (with its handshake header) from the client's first Initial packets."""
    import hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    salt = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")  # QUIC v1
    crypto, keys = {}, None
    for d in datagrams:
        p = 0
        while p < len(d) and d[p] & 0x80:  # long header packets, coalesced
            first = d[p]
            dcid_len = d[p + 5]
            dcid = d[p + 6:p + 6 + dcid_len]
            q = p + 6 + dcid_len
            q += 1 + d[q]  # scid
            ptype = (first >> 4) & 3
            if ptype == 0:
                tok_len, q = _varint(d, q)
                q += tok_len
            length, q = _varint(d, q)
            end = q + length
            if ptype != 0:  # not Initial
                p = end
                continue
            if keys is None:
                init = hmac.new(salt, dcid, "sha256").digest()
                secret = _hkdf_expand_label(init, b"client in", 32)
                keys = (_hkdf_expand_label(secret, b"quic key", 16),
                        _hkdf_expand_label(secret, b"quic iv", 12),
                        _hkdf_expand_label(secret, b"quic hp", 16))
            key, iv, hp = keys
            sample = d[q + 4:q + 20]
            mask = Cipher(algorithms.AES(hp), modes.ECB()).encryptor().update(sample)
            first_plain = first ^ (mask[0] & 0x0F)
            pn_len = (first_plain & 3) + 1
            pn_bytes = bytes(d[q + i] ^ mask[1 + i] for i in range(pn_len))
            header = bytes([first_plain]) + d[p + 1:q] + pn_bytes
            pn = int.from_bytes(pn_bytes, "big")
            nonce = (int.from_bytes(iv, "big") ^ pn).to_bytes(12, "big")
            plain = AESGCM(key).decrypt(nonce, bytes(d[q + pn_len:end]), header)
            f = 0
            while f < len(plain):
                ftype = plain[f]
                if ftype in (0, 1):  # PADDING, PING
                    f += 1
                elif ftype == 6:  # CRYPTO
                    off, f = _varint(plain, f + 1)
                    ln, f = _varint(plain, f)
                    crypto[off] = plain[f:f + ln]
                    f += ln
                elif ftype in (2, 3):  # ACK: not in a client's first flight; stop reading
                    break
                else:
                    break
            p = end
    data, off = b"", 0
    while off in crypto:
        data += crypto[off]
        off += len(crypto[off])
    assert data[:1] == b"\x01", "no ClientHello in the Initial packets"
    return data[:4 + int.from_bytes(data[1:4], "big")]


class UdpRelay:
    def __init__(self, port):
        self.target = ("127.0.0.1", port)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.client = None
        self.sent = []  # the client's datagrams, the first ones
        self.stop = False
        threading.Thread(target=self._up, daemon=True).start()
        threading.Thread(target=self._down, daemon=True).start()

    def _up(self):
        self.front.settimeout(0.2)
        while not self.stop:
            try:
                d, addr = self.front.recvfrom(65536)
            except (socket.timeout, OSError):
                continue
            self.client = addr
            if len(self.sent) < 8:
                self.sent.append(d)
            self.back.sendto(d, self.target)

    def _down(self):
        self.back.settimeout(0.2)
        while not self.stop:
            try:
                d, _ = self.back.recvfrom(65536)
            except (socket.timeout, OSError):
                continue
            if self.client:
                self.front.sendto(d, self.client)

    def close(self):
        self.stop = True


H3_CLIENTS = {
    "tern-get": lambda port, path: subprocess.run(
        [t.TERN_BIN, "get", "--http3", "-k", "-s", "-o", "/dev/null",
         f"https://localhost:{port}{path}"], capture_output=True, timeout=30),
    "gtlsclient": lambda port, path: subprocess.run(
        ["gtlsclient", "--exit-on-all-streams-close", "-q", "127.0.0.1", str(port),
         f"https://localhost:{port}{path}"], capture_output=True, timeout=30),
}


@pytest.mark.parametrize("client", sorted(H3_CLIENTS))
def test_ja4_over_quic(site, client):
    relay = UdpRelay(site.tls_port)
    try:
        path = f"/hello.txt?ja4q={client}"
        r = H3_CLIENTS[client](relay.port, path)
        assert r.returncode == 0, r.stderr
        line = logged(site, f"ja4q={client}")
        hello = quic_client_hello(relay.sent)
        want = ja4(hello[4:], transport="q")
        assert line["ja4"] == want, (line, want)
        assert want.startswith("q13") and want[8:10] == "h3"
    finally:
        relay.close()
