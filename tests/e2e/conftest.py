"""Fixtures for tern's end-to-end tests.

Environment:
  TERN_BIN   the binary under test (default: build/tern in the repository)
  TERN_ASAN  set to 1 for a sanitizer build: every timeout is multiplied by tern_e2e.SLOW

`server` is one tern per test module with the main configuration (tern_e2e.base_config);
`make_server(**overrides)` starts another one with a changed configuration for one test.
After every test each running tern is checked: it must still be alive (unless the test stopped
it on purpose), and neither its error log nor its stderr may hold a sanitizer report, an
[alert] or a [crit] line. On teardown tern gets SIGTERM and must exit without a signal.
"""

import os

import pytest

import tern_e2e as t


def pytest_report_header(config):
    return f"tern binary: {t.TERN_BIN} (asan={t.ASAN})"


def _require_binary():
    if not os.access(t.TERN_BIN, os.X_OK):
        pytest.fail(f"tern binary {t.TERN_BIN} not found (set TERN_BIN or build first)")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("tern")
    t.make_tree(d)
    return d


@pytest.fixture(scope="module")
def files(base):
    root = base / "root"
    return lambda name: (root / name).read_bytes()


@pytest.fixture(scope="module")
def server(base):
    _require_binary()
    srv = t.Tern(base, name="main")
    srv.config = t.base_config(base, srv.port)
    srv.restartable = True
    srv.start()
    yield srv
    problems = srv.stop()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def make_server(tmp_path_factory):
    """make_server(config_overrides..., args=None) -> a started Tern in its own directory."""
    started = []

    def make(args=None, port=None, host="127.0.0.1", start=True, **overrides):
        _require_binary()
        d = tmp_path_factory.mktemp("tern1")
        t.make_tree(d)
        srv = t.Tern(d, port=port, host=host, name="extra")
        if args is not None:
            srv.args = [a.replace("@PORT@", str(srv.port)).replace("@BASE@", str(d)) for a in args]
        else:
            srv.config = t.base_config(d, srv.port, **overrides)
        started.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    problems = []
    for srv in started:
        if srv.proc is not None:
            problems += srv.stop()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def _health():
    yield
    problems = []
    for srv in list(t.Tern.instances):
        problems += srv.problems()
        if problems and getattr(srv, "restartable", False):
            try:
                srv.restart_if_dead()  # later tests in the module get a fresh server
            except AssertionError as e:
                problems.append(str(e))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
