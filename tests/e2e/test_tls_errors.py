"""Certificate, key and OCSP files that cannot be used: tern refuses to start, quickly, with one
line that names the file and says why in words (never only an OpenSSL error number), from the
command line and from the YAML configuration alike."""

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import tern_e2e as t
from tls_util import certs  # noqa: F401 (fixture)

NUMBER_ONLY = re.compile(r"error [0-9a-f]{6,}\b")


def refuse(cmd, as_nobody=False):
    """Runs cmd expecting it to exit non-zero within a second; returns its stderr."""
    if as_nobody:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=10 * t.SLOW)
    elapsed = time.monotonic() - start
    assert p.returncode != 0, p
    assert elapsed < 1.0 * t.SLOW, f"took {elapsed:.2f}s to refuse"
    assert not NUMBER_ONLY.search(p.stderr), p.stderr
    return p.stderr


def serve_flags(base, cert, key):
    return [t.TERN_BIN, "serve", str(base), "--listen", f"127.0.0.1:{t.free_port()}",
            "--tls-listen", f"127.0.0.1:{t.free_port()}", "--cert", str(cert), "--key", str(key)]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "garbage.pem").write_text("this is not a certificate\n")
    return tmp_path


def test_missing_cert(files, certs):  # noqa: F811
    err = refuse(serve_flags(files / "root", files / "nope.pem", certs.ec_key))
    assert f"cannot load certificate {files}/nope.pem: No such file or directory" in err, err


def test_missing_key(files, certs):  # noqa: F811
    err = refuse(serve_flags(files / "root", certs.ec, files / "nope.key"))
    assert f"cannot load key {files}/nope.key: No such file or directory" in err, err


def test_garbage_cert(files, certs):  # noqa: F811
    err = refuse(serve_flags(files / "root", files / "garbage.pem", certs.ec_key))
    assert f"cannot load certificate {files}/garbage.pem: no PEM certificate in the file" in err


def test_garbage_key(files, certs):  # noqa: F811
    err = refuse(serve_flags(files / "root", certs.ec, files / "garbage.pem"))
    assert f"cannot load key {files}/garbage.pem: no PEM private key in the file" in err, err


def test_cert_is_a_directory(files, certs):  # noqa: F811
    err = refuse(serve_flags(files / "root", files, certs.ec_key))
    assert f"cannot load certificate {files}: Is a directory" in err, err


def _self_signed(d, name):
    key, pem = d / f"{name}.key", d / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(pem),
                    "-days", "1", "-subj", f"/CN={name}"], check=True, capture_output=True)
    return pem, key


@pytest.mark.parametrize("kind", ["same-type", "other-type"])
def test_mismatched_key(files, certs, kind):  # noqa: F811
    one, _ = _self_signed(files, "one")
    if kind == "same-type":
        _, key = _self_signed(files, "two")  # another P-256 key
    else:
        key = certs.rsa_key  # an RSA key for an EC certificate
    err = refuse(serve_flags(files / "root", one, key))
    assert f"key {key} does not match the certificate {one}" in err, err


def test_encrypted_key(files, certs):  # noqa: F811
    enc = files / "enc.key"
    subprocess.run(["openssl", "pkey", "-in", str(certs.ec_key), "-aes128", "-passout", "pass:x",
                    "-out", str(enc)], check=True, capture_output=True)
    err = refuse(serve_flags(files / "root", certs.ec, enc))
    assert f"cannot load key {enc}: the key is encrypted" in err, err


def test_unreadable_key(certs):  # noqa: F811
    as_nobody = os.geteuid() == 0  # root reads any file: run tern as nobody instead
    if as_nobody and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permission bits do not apply to root")
    d = Path(tempfile.mkdtemp(prefix="tern-tls-perm-"))
    try:
        d.chmod(0o755)
        (d / "root").mkdir()
        cert, key = d / "c.pem", d / "k.key"
        shutil.copy(certs.ec, cert)
        shutil.copy(certs.ec_key, key)
        cert.chmod(0o644)
        key.chmod(0o000)
        err = refuse(serve_flags(d / "root", cert, key), as_nobody)
        assert f"cannot load key {key}: Permission denied" in err, err
    finally:
        shutil.rmtree(d)


# --- the same from the YAML configuration ---------------------------------------------------

def yaml_conf(d, tls):
    conf = d / "t.yaml"
    conf.write_text(t.yaml_dump({
        "listen": [f"127.0.0.1:{t.free_port()}"],
        "tls_listen": [f"127.0.0.1:{t.free_port()}"],
        "root": str(d / "root"),
        "tls": tls,
    }) + "\n")
    return conf


@pytest.mark.parametrize("which", ["cert", "key", "ocsp"])
def test_yaml_missing_file(files, certs, which):  # noqa: F811
    tls = {"cert": str(certs.leaf), "key": str(certs.leaf_key), "ocsp": str(certs.ocsp)}
    tls[which] = str(files / "nope")
    conf = yaml_conf(files, tls)
    for cmd in ("check", "serve"):
        err = refuse([t.TERN_BIN, cmd, "-c", str(conf)])
        assert re.search(rf"{re.escape(str(conf))}:\d+: {which} '{files}/nope' cannot be read: "
                         r"No such file or directory", err), err


@pytest.mark.parametrize("which,words", [
    ("cert", "cannot load certificate {f}: no PEM certificate in the file"),
    ("key", "cannot load key {f}: no PEM private key in the file"),
    ("ocsp", "cannot load OCSP response {f}: not a DER OCSP response"),
])
def test_yaml_garbage_file(files, certs, which, words):  # noqa: F811
    tls = {"cert": str(certs.leaf), "key": str(certs.leaf_key), "ocsp": str(certs.ocsp)}
    tls[which] = str(files / "garbage.pem")
    err = refuse([t.TERN_BIN, "serve", "-c", str(yaml_conf(files, tls))])
    assert words.format(f=files / "garbage.pem") in err, err
