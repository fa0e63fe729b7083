"""`include:` in the configuration (as nginx's include, Caddy's import): files and glob patterns
relative to the main file's directory, servers joined, every other key given once, errors at
the included file's own line, and a reload (HUP) that reads the included files again."""

import signal
import subprocess

import tern_e2e as t


def check(path):
    p = subprocess.run([t.TERN_BIN, "check", "-c", str(path)], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def site(tmp_path, main_extra="", **files):
    (tmp_path / "www").mkdir(exist_ok=True)
    (tmp_path / "www" / "who.txt").write_text("www\n")
    (tmp_path / "conf.d").mkdir(exist_ok=True)
    for name, text in files.items():
        (tmp_path / "conf.d" / name.replace("_", ".")).write_text(text)
    main = tmp_path / "main.yaml"
    main.write_text("include: conf.d/*.yaml\nservers:\n  - names: [main.test]\n    root: www\n"
                    + main_extra)
    return main


def test_servers_from_included_files(make_server, tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "who.txt").write_text("b\n")
    srv = make_server(start=False)
    srv.config = (f"listen: 127.0.0.1:{srv.port}\nerror_log: {srv.error_log}\n"
                  "include: [conf.d/*.yaml, extra/one.yaml]\n"
                  "servers:\n  - names: [main.test]\n    root: www\n    default: true\n")
    srv.conf_path = tmp_path / "main.yaml"
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "who.txt").write_text("www\n")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "extra").mkdir()
    (tmp_path / "conf.d" / "b.yaml").write_text("servers:\n  - names: [b.test]\n    root: b\n")
    # nested: paths are relative to the main file's directory wherever they are written
    (tmp_path / "extra" / "one.yaml").write_text("include: extra/two.yaml\n")
    (tmp_path / "extra" / "two.yaml").write_text(
        "servers:\n  - names: [two.test]\n    root: b\n    locations:\n"
        "      - path: /\n        cache_control: max-age=2\n")
    srv.start()
    assert srv.get("/who.txt", host="main.test").body == b"www\n"
    assert srv.get("/who.txt", host="b.test").body == b"b\n"
    r = srv.get("/who.txt", host="two.test")
    assert r.body == b"b\n" and r.header("Cache-Control") == "max-age=2"
    # a file added to conf.d counts at the next reload
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "who.txt").write_text("c\n")
    (tmp_path / "conf.d" / "c.yaml").write_text("servers:\n  - names: [c.test]\n    root: c\n")
    srv.signal(signal.SIGHUP)
    assert t.wait_for(lambda: srv.get("/who.txt", host="c.test").body == b"c\n", 5 * t.SLOW)
    # a broken included file fails the reload at its own line; the old configuration serves on
    (tmp_path / "conf.d" / "d.yaml").write_text("servers:\n  - names: [d.test]\n    rooot: c\n")
    srv.signal(signal.SIGHUP)
    want = f"{tmp_path}/conf.d/d.yaml:3: unknown key 'rooot' in server"
    assert t.wait_for(lambda: want in srv.read(srv.error_log), 5 * t.SLOW), srv.read(srv.error_log)
    assert srv.get("/who.txt", host="c.test").body == b"c\n"


def test_errors_name_the_included_file(tmp_path):
    main = site(tmp_path, a_yaml="servers:\n  - names: [a.test]\n    root: nowhere\n")
    rc, out = check(main)
    assert rc != 0 and f"{tmp_path}/conf.d/a.yaml:3: root 'nowhere' does not exist" in out, out
    # a key given twice over the files: reported where the second one is
    main = site(tmp_path, "workers: 1\n", a_yaml="workers: 2\n")
    rc, out = check(main)
    assert rc != 0 and f"{tmp_path}/conf.d/a.yaml:1: duplicate key 'workers'" in out, out
    # an included file that is not a mapping
    main = site(tmp_path, a_yaml="- just\n- a list\n")
    rc, out = check(main)
    assert rc != 0 and "conf.d/a.yaml:1: an included file must be a mapping" in out, out
    # broken YAML in an included file
    main = site(tmp_path, a_yaml="servers: [\n")
    rc, out = check(main)
    assert rc != 0 and "conf.d/a.yaml:" in out, out


def test_include_cycles_and_missing_files(tmp_path):
    main = site(tmp_path, a_yaml="include: main.yaml\n")
    rc, out = check(main)
    assert rc != 0 and "conf.d/a.yaml:1: include" in out and "includes itself" in out, out
    main = site(tmp_path, a_yaml="include: conf.d/a.yaml\n")
    rc, out = check(main)
    assert rc != 0 and "includes itself" in out, out
    main = site(tmp_path, a_yaml="include: [nothing-here.yaml]\n")
    rc, out = check(main)
    assert rc != 0 and "conf.d/a.yaml:1: include nothing-here.yaml: No such file" in out, out
    # a pattern that matches nothing is fine (an empty conf.d)
    main = site(tmp_path, a_yaml="include: none.d/*.yaml\n")
    rc, out = check(main)
    assert rc == 0 and "configuration ok" in out, out
    main = site(tmp_path, a_yaml="include: {a: b}\n")
    rc, out = check(main)
    assert rc != 0 and "conf.d/a.yaml:1: 'include' takes a path or pattern" in out, out
