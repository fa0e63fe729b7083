"""real_ip: behind trusted proxies, the client address they report in X-Forwarded-For or
Forwarded (RFC 7239) is the client's for the access log, access rules, rate limits and the
forwarding fields tern writes itself; from anyone else those fields are only fields."""

import subprocess

import pytest

import tern_e2e as t
from origin import Origin
from test_access import curl_status, locations


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


def started(make_server, real_ip, *extra):
    srv = make_server(start=False, real_ip=real_ip)
    locations(srv, *extra)
    srv.start()
    return srv


def log_clients(srv, n):
    """The client field of the last n access log lines (once n are there)."""
    assert t.wait_for(lambda: len(srv.read(srv.access_log).splitlines()) >= n)
    return [ln.split(" ", 1)[0] for ln in srv.read(srv.access_log).splitlines()[-n:]]


def test_x_forwarded_for_trusted(make_server):
    """The last address of X-Forwarded-For from a trusted peer, over HTTP/1.1 and HTTP/2: in the
    log, and what access rules and the rate limit see (each reported client its own bucket)."""
    srv = started(make_server, {"from": ["127.0.0.1", "10.0.0.0/8"]},
                  {"path": "/blocked/", "deny": ["203.0.113.0/24"]},
                  {"path": "/limited/", "rate_limit": {"rate": "1/m", "burst": 1}})
    base = f"http://127.0.0.1:{srv.port}"
    assert curl_status(base + "/hello.txt", "-H", "X-Forwarded-For: 198.51.100.1, 203.0.113.9") \
        == "200 1.1"
    assert curl_status(base + "/hello.txt", "--http2-prior-knowledge", "-H",
                       "X-Forwarded-For: 2001:db8::7") == "200 2"
    assert log_clients(srv, 2) == ["203.0.113.9", "2001:db8::7"]
    assert curl_status(base + "/blocked/hello.txt", "-H", "X-Forwarded-For: 203.0.113.9") \
        == "403 1.1"
    assert curl_status(base + "/blocked/hello.txt", "-H", "X-Forwarded-For: 192.0.2.1") \
        == "404 1.1"  # let in (no such file there)
    assert curl_status(base + "/blocked/hello.txt") == "404 1.1"  # no field: the peer itself
    for client in ("192.0.2.10", "192.0.2.11"):  # one token each
        assert curl_status(base + "/limited/x", "-H", f"X-Forwarded-For: {client}") == "404 1.1"
        assert curl_status(base + "/limited/x", "-H", f"X-Forwarded-For: {client}") == "429 1.1"
    # not recursive: the last element counts even when it is a trusted proxy's
    assert curl_status(base + "/hello.txt", "-H", "X-Forwarded-For: 192.0.2.50, 10.1.2.3") \
        == "200 1.1"
    assert log_clients(srv, 1) == ["10.1.2.3"]
    # an element that is no address: the peer stays the client
    assert curl_status(base + "/hello.txt", "-H", "X-Forwarded-For: unknown") == "200 1.1"
    assert log_clients(srv, 1) == ["127.0.0.1"]


def test_untrusted_peer_and_recursive_forwarded(make_server):
    """A peer outside `from` is believed in nothing; `header: forwarded` with `recursive`
    skips the trusted hops from the right."""
    srv = started(make_server, {"from": "10.0.0.0/8"})
    base = f"http://127.0.0.1:{srv.port}"
    assert curl_status(base + "/hello.txt", "-H", "X-Forwarded-For: 203.0.113.9") == "200 1.1"
    assert log_clients(srv, 1) == ["127.0.0.1"]
    srv2 = started(make_server, {"from": ["127.0.0.0/8", "10.0.0.0/8"], "header": "Forwarded",
                                 "recursive": True})
    base = f"http://127.0.0.1:{srv2.port}"
    fwd = 'for=198.51.100.4, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.2'
    assert curl_status(base + "/hello.txt", "-H", f"Forwarded: {fwd}",
                       "-H", "X-Forwarded-For: 192.0.2.1") == "200 1.1"
    assert log_clients(srv2, 1) == ["2001:db8:cafe::17"]


def test_proxy_forwards_the_hop(make_server, origin):
    """Proxied on, the chain names the client first and the hop tern saw last (not the client
    twice)."""
    srv = started(make_server, {"from": "127.0.0.1"},
                  {"path": "/up/", "proxy": {"upstreams": [origin.url], "forwarded": True}})
    r = t.curl("-s", "-H", "X-Forwarded-For: 203.0.113.9", f"http://127.0.0.1:{srv.port}/up/x")
    assert r.returncode == 0
    h = origin.requests[-1]["headers"]
    assert h["x-forwarded-for"] == ["203.0.113.9, 127.0.0.1"], h
    assert len(h["forwarded"]) == 1 and h["forwarded"][0].startswith("for=127.0.0.1;"), h
    assert log_clients(srv, 1) == ["203.0.113.9"]


@pytest.mark.parametrize("snippet,words", [
    ("real_ip: {header: x-forwarded-for}", "needs 'from'"),
    ("real_ip: {from: [10.0.0.1/8]}", "bits set after its prefix length"),
    ("real_ip: {from: 10.0.0.0/8, header: x-real-ip}", "X-Forwarded-For or Forwarded"),
    ("real_ip: {from: [], header: forwarded}", "'from' must be"),
    ("real_ip: {from: 127.0.0.1, recursive: maybe}", "recursive"),
])
def test_config_errors(tmp_path, snippet, words):
    conf = tmp_path / "bad.yaml"
    conf.write_text(f"root: {tmp_path}\nlisten: 127.0.0.1:1\n{snippet}\n")
    r = subprocess.run([t.TERN_BIN, "check", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode != 0 and "bad.yaml:3" in r.stderr and words in r.stderr, r.stderr
