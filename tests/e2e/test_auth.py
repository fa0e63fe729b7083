"""HTTP authentication of a location (RFC 9110 §11): Basic (RFC 7617) and Digest (RFC 7616)
with the real binary and real curl over HTTP/1.1 and HTTP/2 (h2c prior knowledge), and hand-made
Digest requests for replays and stale nonces."""

import hashlib
import re
import shutil
import subprocess
import time

import pytest

import tern_e2e as t
from tls_util import certs, make_tls_server  # noqa: F401 - fixtures

REALM = "tern test"


def curl_out(url, *args):
    """'STATUS HTTP_VERSION' and the body of a curl request."""
    r = t.curl("-w", "\n%{http_code} %{http_version}", *args, url)
    body, _, tail = r.stdout.rpartition(b"\n")
    return tail.decode(), body


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def basic_users(d):
    """htpasswd lines: bcrypt (apache2-utils' htpasswd -B, when installed), sha-crypt $6$ and
    $5$ (openssl passwd)."""
    lines = []
    if shutil.which("htpasswd"):
        r = subprocess.run(["htpasswd", "-nbB", "-C", "5", "alice", "wonder land"],
                           capture_output=True, check=True)
        lines.append(r.stdout.decode().strip())
    for user, opt in (("bob", "-6"), ("carol", "-5")):
        r = subprocess.run(["openssl", "passwd", opt, "secret"], capture_output=True, check=True)
        lines.append(f"{user}:{r.stdout.decode().strip()}")
    (d / "users.htpasswd").write_text("# test users\n" + "\n".join(lines) + "\n")
    return d / "users.htpasswd"


def digest_users(d):
    """htdigest lines (Apache's MD5 HA1) and the SHA-256 HA1 of the same users."""
    text = ""
    for user, pw in (("mufasa", "Circle of Life"), ("scar", "long live the king")):
        a1 = f"{user}:{REALM}:{pw}"
        text += f"{user}:{REALM}:{md5(a1)}\n{user}:{REALM}:{sha256(a1)}\n"
    (d / "users.htdigest").write_text(text)
    return d / "users.htdigest"


def add_locations(cfg, users_dir, **digest_extra):
    root = cfg["servers"][0]["root"]
    cfg["servers"][0]["locations"] += [
        {"path": "/basic/", "root": root,
         "auth": {"scheme": "basic", "realm": REALM, "user_file": str(basic_users(users_dir))}},
        {"path": "/digest/", "root": root,
         "auth": {"scheme": "digest", "realm": REALM, "user_file": str(digest_users(users_dir)),
                  **digest_extra}},
    ]


def auth_server(make_server, **digest_extra):
    srv = make_server(start=False)
    add_locations(srv.config, srv.base, **digest_extra)
    return srv.start()


def test_basic_with_curl(make_server):
    srv = auth_server(make_server)
    base = f"http://127.0.0.1:{srv.port}/basic/hello.txt"
    users = [("bob", "secret"), ("carol", "secret")]
    if shutil.which("htpasswd"):
        users.append(("alice", "wonder land"))
    for user, pw in users:
        for wire in ("--http1.1", "--http2-prior-knowledge"):
            want = "200 " + ("1.1" if wire == "--http1.1" else "2")
            assert curl_out(base, wire, "--basic", "-u", f"{user}:{pw}") == (want, t.HELLO)
        assert curl_out(base, "--anyauth", "-u", f"{user}:{pw}")[0] == "200 1.1"
    assert curl_out(base, "--basic", "-u", "bob:wrong")[0] == "401 1.1"
    assert curl_out(base, "--basic", "-u", "nobody:secret")[0] == "401 1.1"
    assert curl_out(base, "--http2-prior-knowledge", "--basic", "-u", "bob:x")[0] == "401 2"
    r = srv.get("/basic/hello.txt")
    assert r.status == 401, r
    assert r.get_all("www-authenticate") == [f'Basic realm="{REALM}", charset="UTF-8"']
    assert srv.get("/hello.txt").status == 200  # other locations need nothing
    # a failure is logged with the client; the user of a success goes into the access log
    assert t.wait_for(lambda: "127.0.0.1: 401 /basic/hello.txt: wrong password for user 'bob'"
                      in srv.read(srv.error_log))
    assert t.wait_for(lambda: "unknown user for user 'nobody'" in srv.read(srv.error_log))
    assert t.wait_for(lambda: re.search(r'127\.0\.0\.1 - bob \[[^]]+\] "GET /basic/hello.txt',
                                        srv.read(srv.access_log)))


def test_digest_with_curl(make_server):
    srv = auth_server(make_server)
    base = f"http://127.0.0.1:{srv.port}/digest/hello.txt"
    assert curl_out(base, "--digest", "-u", "mufasa:Circle of Life") == ("200 1.1", t.HELLO)
    assert curl_out(base, "--anyauth", "-u", "scar:long live the king") == ("200 1.1", t.HELLO)
    assert curl_out(base, "--digest", "-u", "mufasa:Circle of Lies")[0] == "401 1.1"
    assert curl_out(base, "--digest", "-u", "nala:Circle of Life")[0] == "401 1.1"
    # no credentials: one challenge per algorithm, SHA-256 first (RFC 7616 §3.7)
    r = srv.get("/digest/hello.txt")
    assert r.status == 401, r
    ch = r.get_all("www-authenticate")
    assert len(ch) == 2, ch
    for c, alg in zip(ch, ("SHA-256", "MD5")):
        assert c.startswith(f'Digest realm="{REALM}", qop="auth", algorithm={alg}, nonce="'), c
        assert 'opaque="' in c and c.endswith("userhash=true"), c
    assert t.wait_for(lambda: "wrong password for user 'mufasa'" in srv.read(srv.error_log))


def test_digest_h2(make_server, make_tls_server, certs, tmp_path):  # noqa: F811
    """HTTP/2: curl's whole exchange over TLS (ALPN h2); over h2c prior knowledge one request
    per curl with a made Authorization (Debian's curl 7.88.1 breaks a reused prior-knowledge
    connection, curl issue #10634, which --digest needs)."""
    srv = make_tls_server(certs.leaf, certs.leaf_key,
                          mutate=lambda cfg: add_locations(cfg, tmp_path))
    url = srv.url("/digest/hello.txt")
    assert curl_out(url, "-k", "--http2", "--digest", "-u", "mufasa:Circle of Life") == \
        ("200 2", t.HELLO)
    assert curl_out(url, "-k", "--http2", "--anyauth", "-u", "scar:long live the king") == \
        ("200 2", t.HELLO)
    assert curl_out(url, "-k", "--http2", "--digest", "-u", "scar:x")[0] == "401 2"
    assert curl_out(srv.url("/basic/hello.txt"), "-k", "--http2", "--anyauth", "-u",
                    "bob:secret") == ("200 2", t.HELLO)
    path = "/digest/hello.txt"
    clear = f"http://127.0.0.1:{srv.port}{path}"
    r = t.curl("-D", "-", "-o", "/dev/null", "--http2-prior-knowledge", clear)
    head = r.stdout.decode()
    assert head.startswith("HTTP/2 401"), head
    value = re.search(r"(?im)^www-authenticate: (Digest .*algorithm=SHA-256.*?)\r?$", head).group(1)
    a = authorization(challenge_params(value), "mufasa", "Circle of Life", path, 1)
    assert curl_out(clear, "--http2-prior-knowledge", "-H", f"Authorization: {a}") == \
        ("200 2", t.HELLO)
    assert curl_out(clear, "--http2-prior-knowledge", "-H", f"Authorization: {a}")[0] == "401 2"


def challenge_params(value):
    return {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', value)}


def authorization(ch, user, pw, uri, nc, alg="SHA-256", userhash=True, method="GET"):
    """A Digest Authorization answering challenge parameters ch (RFC 7616 §3.4)."""
    h = sha256 if alg == "SHA-256" else md5
    cnonce = "0a4f113b"
    ha1 = h(f"{user}:{REALM}:{pw}")
    ha2 = h(f"{method}:{uri}")
    resp = h(f"{ha1}:{ch['nonce']}:{nc:08x}:{cnonce}:auth:{ha2}")
    name = h(f"{user}:{REALM}") if userhash else user
    return (f'Digest username="{name}", realm="{REALM}", uri="{uri}", algorithm={alg}, '
            f'nonce="{ch["nonce"]}", nc={nc:08x}, cnonce="{cnonce}", qop=auth, '
            f'response="{resp}", opaque="{ch["opaque"]}", userhash={"true" if userhash else "false"}')


def first_challenge(srv, path, alg="SHA-256"):
    r = srv.get(path)
    assert r.status == 401, r
    for c in r.get_all("www-authenticate"):
        p = challenge_params(c)
        if p.get("algorithm") == alg:
            return p
    raise AssertionError(f"no {alg} challenge in {r}")


def test_digest_replay_refused(make_server):
    srv = auth_server(make_server)
    path = "/digest/hello.txt?x=1"
    ch = first_challenge(srv, path)
    a = authorization(ch, "mufasa", "Circle of Life", path, 1)
    r = srv.get(path, headers={"Authorization": a})
    assert r.status == 200 and r.body == t.HELLO, r
    # RFC 7616 §3.5: rspauth is the response digest with an empty method
    ha1 = sha256(f"mufasa:{REALM}:Circle of Life")
    rspauth = sha256(f"{ha1}:{ch['nonce']}:00000001:0a4f113b:auth:{sha256(':' + path)}")
    assert r.header("authentication-info") == \
        f'rspauth="{rspauth}", qop=auth, nc=00000001, cnonce="0a4f113b"', r
    r = srv.get(path, headers={"Authorization": a})  # the same nonce and nc again
    assert r.status == 401, r
    assert "stale" not in r.header("www-authenticate")
    assert t.wait_for(lambda: "replayed nonce count for user 'mufasa'" in srv.read(srv.error_log))
    # a higher nc with the same nonce goes on; so do MD5 and a plain (not hashed) user name
    assert srv.get(path, headers={"Authorization": authorization(
        ch, "mufasa", "Circle of Life", path, 2)}).status == 200
    md5_ch = first_challenge(srv, path, "MD5")
    assert srv.get(path, headers={"Authorization": authorization(
        md5_ch, "scar", "long live the king", path, 1, alg="MD5", userhash=False)}).status == 200
    # the digest-uri must be the request-target
    r = srv.get("/digest/hello.txt", headers={"Authorization": authorization(
        ch, "mufasa", "Circle of Life", path, 3)})
    assert r.status == 401, r
    # malformed credentials are a 401 too, never a crash
    for bad in ("Digest", "Digest username=", 'Digest username="a', "Basic !!!", "Digest a=b, a=c"):
        assert srv.get(path, headers={"Authorization": bad}).status == 401


def test_digest_stale_nonce(make_server):
    srv = auth_server(make_server, nonce_lifetime=1)
    path = "/digest/hello.txt"
    ch = first_challenge(srv, path)
    time.sleep(2.5)
    r = srv.get(path, headers={"Authorization": authorization(ch, "mufasa", "Circle of Life",
                                                              path, 1)})
    assert r.status == 401, r
    assert all(c.endswith("stale=true") for c in r.get_all("www-authenticate")), r
    # a wrong password with an old nonce is not stale: the client must ask its user again
    r = srv.get(path, headers={"Authorization": authorization(ch, "mufasa", "x", path, 1)})
    assert r.status == 401 and "stale" not in r.header("www-authenticate"), r
    # the new nonce works; curl copes with the whole exchange
    ch = challenge_params(r.header("www-authenticate"))
    assert srv.get(path, headers={"Authorization": authorization(
        ch, "mufasa", "Circle of Life", path, 1)}).status == 200
    assert curl_out(f"http://127.0.0.1:{srv.port}{path}", "--digest", "-u",
                    "mufasa:Circle of Life")[0] == "200 1.1"


@pytest.mark.parametrize("line,why", [
    ("bob:secret", "the password must be a crypt(3) hash"),
    ("bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "the password must be a crypt(3) hash"),
])
def test_user_file_errors(tmp_path, line, why):
    users = tmp_path / "users"
    users.write_text(f"ok:$6$saltsalt$abc\n{line}\n")
    conf = tmp_path / "t.yaml"
    conf.write_text(f"root: {tmp_path}\nservers:\n  - locations:\n      - path: /a/\n"
                    f"        auth: {{scheme: basic, realm: R, user_file: users}}\n")
    r = subprocess.run([t.TERN_BIN, "check", "-c", str(conf)], capture_output=True, timeout=20)
    err = (r.stdout + r.stderr).decode()
    assert r.returncode != 0 and f"{users}:2: {why}" in err, err
    users.unlink()
    r = subprocess.run([t.TERN_BIN, "check", "-c", str(conf)], capture_output=True, timeout=20)
    err = (r.stdout + r.stderr).decode()
    assert r.returncode != 0 and f"{conf}:5: cannot open user file '{users}'" in err, err


def test_tern_get_answers_tern(make_server):
    """tern's own client (tern get -u --digest, RFC 7616's client side) against its server."""
    srv = auth_server(make_server)
    for flags in (["--digest"], ["--digest", "--http2-prior-knowledge"], []):
        path = "/digest/hello.txt" if flags else "/basic/hello.txt"
        user = "mufasa:Circle of Life" if flags else "bob:secret"
        r = subprocess.run([t.TERN_BIN, "get", "-s", "-u", user, *flags,
                            f"http://127.0.0.1:{srv.port}{path}"], capture_output=True, timeout=20)
        assert r.returncode == 0 and r.stdout == t.HELLO, (flags, r)
