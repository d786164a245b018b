"""data/dvc.h against the real DVC (dvc 3.67.1 from .venv-dvc, made by
scripts/bootstrap): what `dvc add` writes is read back by our parsers with
the same hashes, the .dir manifests we recompute have DVC's md5, and what
we write (objects, .dir, .dvc file) is byte for byte what `dvc add` writes
for the same tree and passes `dvc status`.

The C side is tests/data/dvc_main (built by `make test-integration`, or
`make build/asan/tests/data/dvc_main`). DVC runs as a subprocess with its
own config, site cache and no analytics, all under the test's tmp_path."""
import hashlib
import json
import os
import random
import shutil
import stat
import subprocess

import pytest

from conftest import ROOT

DVC = os.environ.get("CAPSTAN_DVC", os.path.join(ROOT, ".venv-dvc", "bin", "dvc"))
DRIVER = os.environ.get("CAPSTAN_DVC_DRIVER",
                        os.path.join(ROOT, "build", "asan", "tests", "data", "dvc_main"))

# A tree with what DVC's formats must get right: nested directories, names
# with spaces, non-ASCII (one past U+FFFF), quotes, backslashes, a control
# character, 'a-b' sorting before 'a/x' (by string, not by parts), an empty
# file, CRLF text (hashed as is by DVC 3), bytes with NULs, and a file over
# the 1 MiB read size.
TREE = {
    "a-b": b"ab",
    "a.txt": b"hello\n",
    "a/x": b"q",
    "empty": b"",
    "sub/crlf.txt": b"x\r\ny\r\n",
    "sub/deeper/z.bin": b"\x00\x01\x02deep",
    "with space/\u00fc \u00f1.txt": "\u00fcber".encode(),
    "q\"b\\s": b"quoted",
    "\x01ctl": b"control",
    "\U0001f600 smile": b"emoji",
    "big.bin": random.Random(7).randbytes(3 * 1024 * 1024 + 17),
}


@pytest.fixture(scope="module")
def dvc():
    if not os.access(DVC, os.X_OK):
        msg = f"{DVC} is missing: scripts/bootstrap --python makes .venv-dvc (or set CAPSTAN_DVC)"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI runs scripts/bootstrap: a missing dvc is a broken setup
        pytest.skip(msg)
    return DVC


@pytest.fixture(scope="module")
def driver():
    if not os.access(DRIVER, os.X_OK):
        pytest.fail(f"{DRIVER} is missing: make build/asan/tests/data/dvc_main")
    return DRIVER


def run_dvc(dvc, repo, *args):
    env = dict(os.environ, DVC_NO_ANALYTICS="1",
               DVC_SITE_CACHE_DIR=os.path.join(repo, "..", "dvc-site"),
               DVC_GLOBAL_CONFIG_DIR=os.path.join(repo, "..", "dvc-global"),
               DVC_SYSTEM_CONFIG_DIR=os.path.join(repo, "..", "dvc-system"))
    p = subprocess.run([dvc, *args], cwd=repo, env=env, capture_output=True, text=True)
    assert p.returncode == 0, f"dvc {' '.join(args)}: {p.stdout}{p.stderr}"
    return p.stdout


def run_driver(driver, *args, ok=True):
    p = subprocess.run([driver, *args], capture_output=True, text=True)
    if ok:
        assert p.returncode == 0, p.stderr
        assert p.stderr == ""  # no sanitizer report
    return p


def make_tree(top, files=TREE):
    for rel, body in files.items():
        path = os.path.join(top, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(body)


def new_repo(tmp_path, name, dvc):
    repo = tmp_path / name
    repo.mkdir()
    run_dvc(dvc, repo, "init", "--no-scm", "-q")
    make_tree(repo / "data")
    (repo / "one.txt").write_bytes(b"single\n")
    return repo


def cache_listing(repo):
    """{path under .dvc/cache: (mode, bytes)} of every object."""
    top = repo / ".dvc" / "cache"
    out = {}
    for dirpath, _, names in os.walk(top):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, top)] = (stat.S_IMODE(os.stat(p).st_mode), f.read())
    return out


def test_reads_what_dvc_add_wrote(tmp_path, dvc, driver):
    repo = new_repo(tmp_path, "repo", dvc)
    run_dvc(dvc, repo, "add", "-q", "data", "one.txt")
    cache = str(repo / ".dvc" / "cache")
    got = json.loads(run_driver(driver, "read", str(repo / "data.dvc"), cache).stdout)
    (out,) = got["outs"]
    dir_md5 = out["md5"]
    assert out["is_dir"] and not out["legacy"] and out["cache"]
    assert out["path"] == "data"
    assert out["size"] == sum(len(b) for b in TREE.values())
    assert out["nfiles"] == len(TREE)
    # The .dir object, its md5 and its entries, as the tree's own bytes say.
    with open(os.path.join(cache, "files", "md5", dir_md5[:2], dir_md5[2:]), "rb") as f:
        assert hashlib.md5(f.read()).hexdigest() + ".dir" == dir_md5
    want = sorted(({"path": rel, "hash": "md5:" + hashlib.md5(b).hexdigest(),
                    "md5": "md5:" + hashlib.md5(b).hexdigest(), "size": len(b)}
                   for rel, b in TREE.items()), key=lambda e: e["path"])
    assert out["files"] == want
    assert out["recomputed"] == dir_md5
    assert f"md5: {dir_md5}\n" in (repo / "data.dvc").read_text()
    (one,) = json.loads(run_driver(driver, "read", str(repo / "one.txt.dvc"), cache).stdout)["outs"]
    assert one == {"path": "one.txt", "md5": hashlib.md5(b"single\n").hexdigest(),
                   "is_dir": False, "legacy": False, "cache": True, "size": 7, "nfiles": None}


def test_status_accepts_what_we_write(tmp_path, dvc, driver):
    theirs = new_repo(tmp_path, "theirs", dvc)
    run_dvc(dvc, theirs, "add", "-q", "data", "one.txt")
    ours = new_repo(tmp_path, "ours", dvc)
    cache = str(ours / ".dvc" / "cache")
    for name in ("data", "one.txt"):
        p = run_driver(driver, "add", str(ours / name), cache, str(ours / f"{name}.dvc"))
        assert json.loads(p.stdout)["md5"] in (theirs / f"{name}.dvc").read_text()
        assert (ours / f"{name}.dvc").read_bytes() == (theirs / f"{name}.dvc").read_bytes()
    # The same objects, bytes and read-only modes as dvc add's.
    assert cache_listing(ours) == cache_listing(theirs)
    assert json.loads(run_dvc(dvc, ours, "status", "--json")) == {}
    # ...and status does look: a changed file is reported.
    (ours / "data" / "a.txt").write_bytes(b"changed\n")
    assert json.loads(run_dvc(dvc, ours, "status", "--json")) == {
        "data.dvc": [{"changed outs": {"data": "modified"}}]}


# Names whose YAML needs quoting (or, in 1.2, does not), as `dvc add` of a
# file with that name writes its path.
QUOTED = ["yes", "123", "null", "a: b", "#x", "- y", "2024-01-01", "0x1F", ".inf", "it's",
          "1.csv", "tab\tx", "\u00fc \u00f1.txt"]


def test_quoting_as_dvc_writes(tmp_path, dvc, driver):
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    for repo in (theirs, ours):
        repo.mkdir()
        run_dvc(dvc, repo, "init", "--no-scm", "-q")
        make_tree(repo, {n: n.encode() for n in QUOTED})
    run_dvc(dvc, theirs, "add", "-q", *QUOTED)
    for n in QUOTED:
        run_driver(driver, "add", str(ours / n), str(ours / ".dvc" / "cache"), str(ours / f"{n}.dvc"))
        assert (ours / f"{n}.dvc").read_bytes() == (theirs / f"{n}.dvc").read_bytes(), n
    assert json.loads(run_dvc(dvc, ours, "status", "--json")) == {}


def test_long_path_folds_and_reads_back(tmp_path, dvc, driver):
    """A long path with spaces is folded onto two lines (ruamel and libyaml
    break it at different spaces); DVC reads ours back as the same path."""
    repo = tmp_path / "repo"
    repo.mkdir()
    run_dvc(dvc, repo, "init", "--no-scm", "-q")
    name = "a" * 90 + " b c"
    make_tree(repo, {name: b"v"})
    run_driver(driver, "add", str(repo / name), str(repo / ".dvc" / "cache"), str(repo / f"{name}.dvc"))
    assert json.loads(run_dvc(dvc, repo, "status", "--json")) == {}
    (out,) = json.loads(run_driver(driver, "read", str(repo / f"{name}.dvc"), "-").stdout)["outs"]
    assert out["path"] == name


def test_legacy_layout_as_dvc3_reads_it(tmp_path, dvc, driver):
    """A DVC 2 repository: no 'hash: md5' in the .dvc file and objects at
    .dvc/cache/ab/cdef... DVC 3 accepts it as it is, and so do we. (The tree
    has no CRLF text, whose DVC 2 name would be its md5-dos2unix.)"""
    tree = {k: v for k, v in TREE.items() if b"\r\n" not in v}
    repo = tmp_path / "repo"
    repo.mkdir()
    run_dvc(dvc, repo, "init", "--no-scm", "-q")
    make_tree(repo / "data", tree)
    run_dvc(dvc, repo, "add", "-q", "data")
    cache = repo / ".dvc" / "cache"
    shutil.move(cache / "files" / "md5", tmp_path / "v3")
    for dirpath, _, names in os.walk(tmp_path / "v3"):
        for n in names:
            dest = cache / os.path.basename(dirpath) / n
            dest.parent.mkdir(exist_ok=True)
            shutil.move(os.path.join(dirpath, n), dest)
    text = (repo / "data.dvc").read_text()
    assert "  hash: md5\n" in text
    (repo / "data.dvc").write_text(text.replace("  hash: md5\n", ""))
    assert json.loads(run_dvc(dvc, repo, "status", "--json")) == {}
    (out,) = json.loads(run_driver(driver, "read", str(repo / "data.dvc"), str(cache)).stdout)["outs"]
    assert out["legacy"] and out["is_dir"]
    assert [(f["path"], f["hash"], f["md5"], f["size"]) for f in out["files"]] == sorted(
        (rel, "md5:" + hashlib.md5(b).hexdigest(), None, len(b)) for rel, b in tree.items())
    assert out["recomputed"] == out["md5"]


def test_refusals_name_the_problem(tmp_path, driver):
    bad = tmp_path / "bad.dvc"
    bad.write_text("outs:\n- md5: d41d8cd98f00b204e9800998ecf8427e\n  size: many\n  path: x\n")
    p = run_driver(driver, "read", str(bad), str(tmp_path), ok=False)
    assert p.returncode == 1
    assert p.stderr == (f"error: {bad}:3:9: 'size' is 'many', expected a whole number of at most "
                        "18 digits\n")
    bad.write_text("outs:\n- md5: d41d8cd98f00b204e9800998ecf8427e.dir\n  hash: md5\n  path: x\n")
    p = run_driver(driver, "read", str(bad), str(tmp_path), ok=False)
    assert p.returncode == 1
    assert p.stderr == (f"error: '{tmp_path}/files/md5/d4/1d8cd98f00b204e9800998ecf8427e.dir' is "
                        "not in the DVC cache: expected the object d4/1d8cd98f00b204e9800998ecf8427e"
                        ".dir of a DVC 3 output there\n")
