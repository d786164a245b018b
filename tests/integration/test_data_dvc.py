"""`capstan data import-dvc` and `data add --dvc` against the real DVC (dvc 3.67.1
from .venv-dvc): a repository `dvc add` made becomes dataset versions with DVC's md5s
and nothing rehashed; a tree Capstan adds with --dvc leaves a .dvc file and cache
that `dvc status` finds up to date (issue 17, item 4)."""
import json
import os
import subprocess

import pytest

from conftest import BIN
from test_dvc_formats import DVC, dvc  # noqa: F401  (the fixture: skip or fail without dvc)
from test_data import data, listing, tree


def dvc_run(repo, *args):
    p = subprocess.run([DVC, *args], cwd=repo, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


FILES = {"a.csv": "x,y\n1,2\n", "sub/b.bin": bytes(range(256)) * 64, "sub/ü n.txt": "x\r\ny\r\n",
         "empty": b""}


@pytest.fixture
def repo(tmp_path, dvc):  # noqa: F811
    r = tmp_path / "repo"
    r.mkdir()
    dvc_run(r, "init", "--no-scm", "-q")
    return r


def md5_of_dvc_file(path):
    text = open(path).read()
    return [line.split(":", 1)[1].strip() for line in text.splitlines()
            if line.strip().startswith("- md5:") or line.strip().startswith("md5:")][0]


def test_import_what_dvc_add_made(tmp_path, repo):
    tree(repo / "images", FILES)
    (repo / "model.bin").write_bytes(b"\x00weights" * 1000)
    dvc_run(repo, "add", "images")
    dvc_run(repo, "add", "model.bin")
    out = data(tmp_path, "import-dvc", str(repo))
    assert [v["name"] for v in out] == ["images", "model.bin"]
    images, model = out
    assert images["files"] == 4 and images["size"] == sum(
        len(c if isinstance(c, bytes) else c.encode()) for c in FILES.values())
    assert images["dvc"]["md5"] == md5_of_dvc_file(repo / "images.dvc")
    assert model["dvc"]["md5"] == md5_of_dvc_file(repo / "model.bin.dvc")
    # The files are DVC's md5 names, and get gives the bytes back.
    files = subprocess.run([BIN, "data", "show", "images", "--data", str(tmp_path / "d"),
                            "--json"], capture_output=True, text=True, check=True)
    assert json.loads(files.stdout)["hash"].startswith("xxh128:")
    data(tmp_path, "get", "images", "--out", str(tmp_path / "o"))
    assert listing(tmp_path / "o") == listing(repo / "images")
    data(tmp_path, "get", "model.bin", "--out", str(tmp_path / "m"))
    assert (tmp_path / "m" / "model.bin").read_bytes() == (repo / "model.bin").read_bytes()
    # Importing again changes nothing; a changed output is a new version.
    again = data(tmp_path, "import-dvc", str(repo))
    assert [v.get("unchanged") for v in again] == [True, True]
    (repo / "images" / "a.csv").write_text("x,y\n3,4\n")
    dvc_run(repo, "add", "images")
    v2 = data(tmp_path, "import-dvc", str(repo / "images.dvc").rsplit("/", 1)[0], "--name",
              "imgs", check=False)
    assert v2.returncode == 1 and "2 outputs were found" in v2.stderr
    new = data(tmp_path, "import-dvc", str(repo))
    assert new[0]["version"] == 2 and new[0].get("unchanged") is None
    d = data(tmp_path, "diff", "images@1", "images@2")
    assert [c["path"] for c in d["changed"]] == ["a.csv"] and d["unchanged"] == 3


def test_add_dvc_passes_dvc_status(tmp_path, repo):
    tree(repo / "data", FILES)
    v = data(tmp_path, "add", str(repo / "data"), "--name", "dv", "--dvc")
    assert (repo / "data.dvc").exists()
    assert v["dvc"]["md5"].endswith(".dir") and v["dvc"]["file"] == str(repo / "data.dvc")
    assert "up to date" in dvc_run(repo, "status")
    # DVC's own hash of the same tree is the one written.
    copy = repo / "copy"
    tree(copy, FILES)
    dvc_run(repo, "add", "copy")
    assert md5_of_dvc_file(repo / "copy.dvc") == v["dvc"]["md5"]
    # A single file too; and its version is the same whether or not --dvc was asked.
    (repo / "one.csv").write_text("a,b\n1,2\n")
    plain = data(tmp_path, "add", str(repo / "one.csv"), "--name", "one")
    with_dvc = data(tmp_path, "add", str(repo / "one.csv"), "--name", "one", "--dvc")
    assert with_dvc["unchanged"] and with_dvc["hash"] == plain["hash"]
    assert "up to date" in dvc_run(repo, "status")
    # DVC can check the tree out again from the cache Capstan filled.
    import shutil
    shutil.rmtree(repo / "data")
    dvc_run(repo, "checkout", "data.dvc")
    assert listing(repo / "data") == listing(copy)


def test_refusals_store_nothing(tmp_path, repo):
    outside = tree(tmp_path / "outside", {"f": "x\n"})
    p = data(tmp_path, "add", str(outside), "--name", "o", "--dvc", check=False)
    assert p.returncode == 1 and "not inside a DVC repository" in p.stderr
    assert not (tmp_path / "outside.dvc").exists()
    p = data(tmp_path, "import-dvc", str(outside), check=False)
    assert p.returncode == 1 and "not in a DVC repository" in p.stderr
    p = data(tmp_path, "import-dvc", str(repo), check=False)
    assert p.returncode == 1 and "No .dvc file with cached outputs" in p.stderr
    (repo / "broken.dvc").write_text("outs:\n- md5: nothex\n  path: x\n")
    p = data(tmp_path, "import-dvc", str(repo), check=False)
    assert p.returncode == 1 and "broken.dvc:2:" in p.stderr, p.stderr
    # An output whose objects are not in the cache.
    (repo / "broken.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 3\n  hash: md5\n  path: x\n")
    p = data(tmp_path, "import-dvc", str(repo), check=False)
    assert p.returncode == 1 and "is not in the DVC cache" in p.stderr, p.stderr
    assert data(tmp_path, "ls") == []
