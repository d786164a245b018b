"""`capstan data`: datasets stored by content, their versions, get, diff,
rm and gc, the stat cache, a killed add, and bad input (issue 17)."""
import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import BIN


def data(tmp_path, *args, check=True):
    p = subprocess.run([BIN, "data", *args, "--data", str(tmp_path / "d"), "--json"],
                       capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)
    return p


def tree(root, files):
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def listing(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


FILES = {"a.txt": "alpha\n", "sub/b.bin": bytes(range(256)) * 100, "sub/deep/c.csv": "x,y\n1,2\n",
         "empty": b"", "sp ace/ünï.txt": "unicode name\n"}


def test_versions_get_diff(tmp_path):
    src = tree(tmp_path / "src", FILES)
    v1 = data(tmp_path, "add", str(src), "--name", "iris", "-m", "first", "--tag", "stage=raw")
    assert v1["version"] == 1 and v1["files"] == 5
    assert v1["size"] == sum(len(c if isinstance(c, bytes) else c.encode()) for c in FILES.values())
    assert v1["message"] == "first" and v1["tags"] == {"stage": "raw"}
    assert v1["hash"].startswith("xxh128:") and "parent" not in v1

    # The same content elsewhere has the same hash; adding it again changes nothing.
    again = data(tmp_path, "add", str(tree(tmp_path / "copy", FILES)), "--name", "iris")
    assert again["unchanged"] is True and again["version"] == 1

    (src / "sub/b.bin").write_bytes(b"changed")
    (src / "a.txt").unlink()
    (src / "new.txt").write_text("new\n")
    v2 = data(tmp_path, "add", str(src), "--name", "iris", "-m", "second")
    assert v2["version"] == 2 and v2["parent"] == 1 and v2["hash"] != v1["hash"]

    d = data(tmp_path, "diff", "iris@1", "iris@2")
    assert [e["path"] for e in d["added"]] == ["new.txt"]
    assert [e["path"] for e in d["removed"]] == ["a.txt"]
    assert d["changed"] == [{"path": "sub/b.bin", "size_a": 25600, "size_b": 7}]
    assert d["unchanged"] == 3

    # get: byte-identical, whichever reference names the version.
    got = data(tmp_path, "get", "iris@stage=raw", "--out", str(tmp_path / "out1"))
    assert got["files"] == 5
    want = {k: (v if isinstance(v, bytes) else v.encode()) for k, v in FILES.items()}
    assert listing(tmp_path / "out1") == want
    data(tmp_path, "get", "iris", "--out", str(tmp_path / "out2"))
    assert listing(tmp_path / "out2") == listing(src)

    log = data(tmp_path, "log", "iris")
    assert [v["version"] for v in log] == [2, 1]
    ls = data(tmp_path, "ls")
    assert ls[0]["name"] == "iris" and ls[0]["versions"] == 2 and ls[0]["latest"]["version"] == 2
    assert data(tmp_path, "show", "iris@1")["hash"] == v1["hash"]


def test_single_file(tmp_path):
    f = tmp_path / "train.csv"
    f.write_text("a,b\n1,2\n")
    v = data(tmp_path, "add", str(f), "--name", "train")
    assert v["files"] == 1 and v["size"] == 8
    data(tmp_path, "get", "train@1", "--out", str(tmp_path / "o"))
    assert (tmp_path / "o" / "train.csv").read_text() == "a,b\n1,2\n"


def objects(tmp_path):
    root = tmp_path / "d" / "datasets" / "objects"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_gc_keeps_exactly_what_is_referenced(tmp_path):
    src = tree(tmp_path / "src", {"keep.txt": "kept by v1 and v2\n", "gone.txt": "only v1\n"})
    v1 = data(tmp_path, "add", str(src), "--name", "g")
    (src / "gone.txt").unlink()
    (src / "late.txt").write_text("only v2\n")
    v2 = data(tmp_path, "add", str(src), "--name", "g")
    other = data(tmp_path, "add", str(tree(tmp_path / "o", {"x": "other dataset\n"})), "--name", "o")
    before = objects(tmp_path)
    assert len(before) == 3 + 4  # 4 files + 3 manifests
    assert data(tmp_path, "gc")["objects_deleted"] == 0

    data(tmp_path, "rm", "g@1")
    dry = data(tmp_path, "gc", "--dry-run")
    assert dry["objects_deleted"] == 2 and objects(tmp_path) == before  # v1's manifest, gone.txt
    out = data(tmp_path, "gc")
    assert out["objects_deleted"] == 2 and out["objects_kept"] == 5
    # What remains still gets byte for byte.
    data(tmp_path, "get", "g@2", "--out", str(tmp_path / "g2"))
    assert listing(tmp_path / "g2") == listing(src)
    data(tmp_path, "get", "o", "--out", str(tmp_path / "o2"))

    # Removing every version of a dataset leaves its number used: NAME@1 never names two contents.
    data(tmp_path, "rm", "g")
    assert data(tmp_path, "gc")["objects_deleted"] == 3
    assert data(tmp_path, "add", str(src), "--name", "g")["version"] == 3
    assert v2["version"] == 2 and v1["version"] == 1 and other["version"] == 1


def test_stat_cache(tmp_path):
    src = tree(tmp_path / "src", {f"f{i}": f"content {i}\n" * 10 for i in range(50)})
    first = data(tmp_path, "add", str(src), "--name", "s")
    assert first["stats"]["files_read"] == 50 and first["stats"]["files_cached"] == 0
    # Nothing changed: no file is read.
    again = data(tmp_path, "add", str(src), "--name", "s")
    assert again["unchanged"] and again["stats"]["files_read"] == 0
    assert again["stats"]["files_cached"] == 50
    # Same size, same mtime, new bytes: the ctime gives it away.
    p = src / "f7"
    st = p.stat()
    p.write_bytes(b"X" * st.st_size)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert p.stat().st_mtime_ns == st.st_mtime_ns and p.stat().st_size == st.st_size
    v2 = data(tmp_path, "add", str(src), "--name", "s")
    assert v2["version"] == 2 and v2["stats"]["files_read"] == 1
    assert [c["path"] for c in data(tmp_path, "diff", "s@1", "s@2")["changed"]] == ["f7"]
    data(tmp_path, "get", "s@2", "--out", str(tmp_path / "o"))
    assert (tmp_path / "o" / "f7").read_bytes() == b"X" * st.st_size


def test_killed_add_leaves_a_consistent_store(tmp_path):
    # Large enough that the add is still writing when it is killed.
    src = tmp_path / "big"
    src.mkdir()
    block = os.urandom(1 << 20)
    for i in range(100):
        (src / f"part{i:02d}").write_bytes(block[i:] + block[:i])
    d = tmp_path / "d"
    p = subprocess.Popen([BIN, "data", "add", str(src), "--name", "big", "--data", str(d),
                          "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Wait until it has written some objects, then kill it.
    objdir = d / "datasets" / "objects" / "xxh128"
    for _ in range(3000):
        if objdir.exists() and any(objdir.rglob("*")) or p.poll() is not None:
            break
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    if p.returncode == -signal.SIGKILL:
        assert data(tmp_path, "ls") == []  # no half-written version
        assert data(tmp_path, "gc")["objects_kept"] == 0
        assert objects(tmp_path) == []
    v = data(tmp_path, "add", str(src), "--name", "big")
    assert v["version"] == 1 and v["files"] == 100
    assert data(tmp_path, "gc")["objects_deleted"] == 0
    data(tmp_path, "get", "big", "--out", str(tmp_path / "o"))
    for i in range(100):
        assert hashlib.md5((tmp_path / "o" / f"part{i:02d}").read_bytes()).digest() == \
            hashlib.md5((src / f"part{i:02d}").read_bytes()).digest()


@pytest.mark.parametrize("args,needle", [
    (["add", "/no/such/path", "--name", "x"], "Cannot read '/no/such/path'"),
    (["add", "SRC", "--name", "bad name"], "Invalid dataset name 'bad name'"),
    (["add", "SRC", "--name", "-x"], "Invalid dataset name '-x'"),
    (["add", "SRC", "--name", "x", "--tag", "novalue"], "Invalid tag 'novalue'"),
    (["show", "nosuch"], "No dataset named 'nosuch'"),
    (["show", "ds@7"], "Dataset 'ds' has no version 7"),
    (["show", "ds@0"], "Invalid reference 'ds@0'"),
    (["show", "ds@k=v"], "Dataset 'ds' has no version tagged 'k=v'"),
    (["rm", "ds@9"], "Dataset 'ds' has no version 9"),
    (["diff", "ds@1", "nosuch@1"], "No dataset named 'nosuch'"),
    (["get", "ds", "--out", "NONEMPTY"], "is not empty"),
])
def test_bad_input(tmp_path, args, needle):
    src = tree(tmp_path / "src", {"f": "x\n"})
    data(tmp_path, "add", str(src), "--name", "ds")
    (tmp_path / "ne").mkdir()
    (tmp_path / "ne" / "x").write_text("x")
    args = [str(src) if a == "SRC" else str(tmp_path / "ne") if a == "NONEMPTY" else a
            for a in args]
    p = data(tmp_path, *args, check=False)
    assert p.returncode == 1, p.stdout
    assert needle in p.stderr
    assert [v["version"] for v in data(tmp_path, "log", "ds")] == [1]  # nothing stored


def test_refused_trees_store_nothing(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("outside the tree\n")
    cases = {
        "escape": lambda r: os.symlink(outside, r / "link"),
        "dirlink": lambda r: (r / "d").mkdir() or os.symlink(r / "d", r / "dl"),
        "fifo": lambda r: os.mkfifo(r / "pipe"),
        "empty": lambda r: (r / "f").unlink(),
    }
    msgs = {"escape": "leads outside", "dirlink": "links to directories are not followed",
            "fifo": "is a special file", "empty": "holds no files"}
    for name, make in cases.items():
        r = tree(tmp_path / name, {"f": "x\n"})
        make(r)
        p = data(tmp_path, "add", str(r), "--name", name, check=False)
        assert p.returncode == 1 and msgs[name] in p.stderr, (name, p.stderr)
    assert data(tmp_path, "ls") == []
    # A link that stays inside the tree is stored with the target's bytes.
    r = tree(tmp_path / "ok", {"f": "target\n"})
    os.symlink("f", r / "alias")
    data(tmp_path, "add", str(r), "--name", "ok")
    data(tmp_path, "get", "ok", "--out", str(tmp_path / "o"))
    assert (tmp_path / "o" / "alias").read_text() == "target\n"


def test_unreadable_file(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    r = tree(tmp_path / "r", {"f": "x\n", "g": "y\n"})
    (r / "g").chmod(0)
    p = data(tmp_path, "add", str(r), "--name", "u", check=False)
    assert p.returncode == 1 and "Cannot read" in p.stderr and "/g" in p.stderr
    assert data(tmp_path, "ls") == []


def test_api(tmp_path, server):
    """The same datasets through /api/2.0/capstan/datasets, from a running server
    whose store `capstan data` shares."""
    d = server.data_dir
    run = lambda *a: subprocess.run([BIN, "data", *a, "--data", d, "--json"], capture_output=True,
                                    text=True, check=True)
    src = tree(tmp_path / "src", {f"f{i:03d}": f"{i}\n" for i in range(25)})
    json.loads(run("add", str(src), "--name", "apids", "--tag", "k=v").stdout)
    (src / "f000").write_text("changed\n")
    run("add", str(src), "--name", "apids")
    base = "/api/2.0/capstan/datasets"
    ls = server.api("GET", base + "/list").json()["datasets"]
    assert [x["name"] for x in ls] == ["apids"] and ls[0]["versions"] == 2
    v = server.api("GET", base + "/get", params={"ref": "apids@k=v"}).json()["version"]
    assert v["version"] == 1 and v["files"] == 25
    assert [x["version"] for x in
            server.api("GET", base + "/versions", params={"name": "apids"}).json()["versions"]] == [2, 1]
    # Files, a page at a time.
    seen, tok = [], None
    while True:
        params = {"ref": "apids@1", "max_results": 10, **({"page_token": tok} if tok else {})}
        page = server.api("GET", base + "/files", params=params).json()
        seen += page["files"]
        tok = page.get("next_page_token")
        if not tok:
            break
    assert [f["path"] for f in seen] == [f"f{i:03d}" for i in range(25)]
    assert all(f["hash"].startswith("xxh128:") and f["size"] > 0 for f in seen)
    d12 = server.api("GET", base + "/diff", params={"a": "apids@1", "b": "apids@2"}).json()
    assert [c["path"] for c in d12["changed"]] == ["f000"] and d12["unchanged"] == 24
    # Errors: MLflow's shape, 400 for a malformed request, 404 for what is not there.
    for params, status, code, needle in [
        ({"ref": "apids@99"}, 404, "RESOURCE_DOES_NOT_EXIST", "has no version 99"),
        ({"ref": "bad name"}, 400, "INVALID_PARAMETER_VALUE", "Invalid dataset name"),
        ({}, 400, "INVALID_PARAMETER_VALUE", "ref"),
    ]:
        r = server.api("GET", base + "/get", params=params)
        assert r.status_code == status and r.json()["error_code"] == code, r.text
        assert needle in r.json()["message"]
    r = server.api("GET", base + "/files", params={"ref": "apids", "page_token": "x"})
    assert r.status_code == 400 and "page_token" in r.json()["message"]
    assert server.api("DELETE", base + "/delete", params={"ref": "apids@1"}).json()["removed"] == 1
    gc = server.api("POST", base + "/gc", json={"dry_run": True}).json()
    assert gc["objects_deleted"] == 2 and gc["dry_run"] is True
    assert server.api("POST", base + "/gc", json={}).json()["objects_deleted"] == 2
    r = server.api("POST", base + "/gc", json={"dry_run": "yes"})
    assert r.status_code == 400 and "dry_run" in r.json()["message"]


def test_lineage(tmp_path, server, mlflow_client):
    """A run that used a dataset version, recorded by `capstan data get --run-id` and by the
    real mlflow client's log_inputs with a capstan-dataset source; the model version it made
    shows the dataset version in its lineage; gc keeps what a run used after `rm`."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    d = server.data_dir
    run_cli = lambda *a, check=True: subprocess.run([BIN, "data", *a, "--data", d, "--json"],
                                                    capture_output=True, text=True, check=check)
    src = tree(tmp_path / "train", {"train.csv": "x,y\n1,0\n2,1\n"})
    v = json.loads(run_cli("add", str(src), "--name", "lin-train").stdout)
    exp = mlflow_client.create_experiment("data-lineage")
    r1 = mlflow_client.create_run(exp).info.run_id
    got = json.loads(run_cli("get", "lin-train@1", "--out", str(tmp_path / "o"), "--run-id", r1,
                             "--context", "training").stdout)
    assert got["input"]["source"] == "capstan-dataset:lin-train@1"
    assert got["input"]["digest"] == v["hash"].split(":")[1]
    inputs = mlflow_client.get_run(r1).inputs.dataset_inputs
    assert len(inputs) == 1 and inputs[0].dataset.name == "lin-train"
    assert inputs[0].dataset.source == "capstan-dataset:lin-train@1"
    assert {t.key: t.value for t in inputs[0].tags} == {"mlflow.data.context": "training"}

    # The real client, with the source inside its JSON (as its DatasetSource objects write it).
    r2 = mlflow_client.create_run(exp).info.run_id
    mlflow_client.log_inputs(r2, [DatasetInput(
        Dataset(name="lin-train", digest="abc123", source_type="capstan-dataset",
                source=json.dumps({"uri": "capstan-dataset:lin-train@1"})),
        tags=[InputTag("mlflow.data.context", "evaluation")])])
    mlflow_client.create_registered_model("lin-model")
    mv = mlflow_client.create_model_version("lin-model", f"runs:/{r1}/model", run_id=r1)

    usage = server.api("GET", "/api/2.0/capstan/datasets/usage",
                       params={"ref": "lin-train@1"}).json()
    assert sorted(r["run_id"] for r in usage["runs"]) == sorted([r1, r2])
    assert usage["model_versions"] == [{"name": "lin-model", "version": mv.version, "run_id": r1}]
    graph = server.api("GET", "/api/2.0/capstan/lineage",
                       params={"name": "lin-model", "version": mv.version}).json()
    nodes = [n for n in graph["nodes"] if n["type"] == "dataset"]
    assert len(nodes) == 1
    cd = nodes[0]["capstan_dataset"]
    assert cd["hash"] == v["hash"] and cd["version"] == 1 and cd["files"] == 1
    assert cd["size"] == len("x,y\n1,0\n2,1\n")
    text = subprocess.run([BIN, "models", "lineage", f"lin-model/{mv.version}", "--data", d],
                          capture_output=True, text=True, check=True).stdout
    assert f"dataset lin-train@1 {v['hash']}, 1 files" in text

    # Removed, the version's bytes (manifest and file) stay while a run's input holds its
    # hash; only the table's profile, derived and named by the version's meta, goes.
    run_cli("rm", "lin-train@1")
    gc = json.loads(run_cli("gc").stdout)
    assert gc["objects_deleted"] == 1 and gc["objects_kept"] >= 2
    graph = server.api("GET", "/api/2.0/capstan/lineage",
                       params={"name": "lin-model", "version": mv.version}).json()
    cd = [n for n in graph["nodes"] if n["type"] == "dataset"][0]["capstan_dataset"]
    assert cd == {"ref": "lin-train@1", "removed": True}
    # Bad input: a removed version, a dataset that never was.
    r = server.api("POST", "/api/2.0/capstan/datasets/log-input",
                   json={"ref": "lin-train@1", "run_id": r1})
    assert r.status_code == 404 and "lin-train" in r.json()["message"]
    p = run_cli("use", "nosuch@1", "--run-id", r1, check=False)
    assert p.returncode == 1 and "No dataset named 'nosuch'" in p.stderr


def test_diff_of_a_table_has_its_drift(tmp_path):
    """Two versions of a CSV: the diff carries the monitoring module's drift report for it,
    the same report `capstan monitor drift` gives on the two files."""
    import numpy as np
    rng = np.random.default_rng(5)
    src = tmp_path / "t"
    src.mkdir()
    def write(shift):
        x = rng.normal(0, 1, 300) + shift
        c = rng.choice(["a", "b", "c"], 300)
        (src / "table.csv").write_text("x,c\n" + "".join(f"{v:.6f},{k}\n" for v, k in zip(x, c)))
        (src / "notes.txt").write_text(f"shift {shift}\n")
    write(0.0)
    data(tmp_path, "add", str(src), "--name", "tab")
    import shutil
    shutil.copy(src / "table.csv", tmp_path / "ref.csv")
    write(1.5)
    data(tmp_path, "add", str(src), "--name", "tab")
    d = data(tmp_path, "diff", "tab@1", "tab@2")
    changed = {c["path"]: c for c in d["changed"]}
    assert "drift" not in changed["notes.txt"]
    drift = changed["table.csv"]["drift"]
    by = {c["column"]: c for c in drift["columns"]}
    assert by["x"]["drift_detected"] is True and by["c"]["drift_detected"] is False
    ref = subprocess.run([BIN, "monitor", "drift", "--reference", str(tmp_path / "ref.csv"),
                          "--current", str(src / "table.csv"), "--json"],
                         capture_output=True, text=True, check=True)
    want = json.loads(ref.stdout)
    want.pop("data_quality")  # the CLI's report adds data quality; the diff is about drift
    assert want == drift
    text = subprocess.run([BIN, "data", "diff", "tab@1", "tab@2", "--data", str(tmp_path / "d")],
                          capture_output=True, text=True, check=True).stdout
    assert "~ table.csv  (drift in 1 of 2 columns: the dataset drifted)" in text


def test_tables_profiled_and_validated_on_add(tmp_path):
    """add profiles each table (the summary `data profile` gives, its monitoring profile kept
    as an object gc keeps), refuses a table that breaks --schema naming its rows, records the
    violations with --warn-only, and refuses a malformed CSV naming its line."""
    src = tree(tmp_path / "t", {"people.csv": "id,age\n1,30\n2,200\n3,40\n", "readme": "x\n"})
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"columns": {"age": {"type": "integer", "max": 150}}}))
    p = data(tmp_path, "add", str(src), "--name", "ppl", "--schema", str(schema), check=False)
    assert p.returncode == 1 and "breaks its schema" in p.stderr
    assert "column 'age'" in p.stderr and "row 2" in p.stderr and "line 3" in p.stderr
    assert data(tmp_path, "ls") == []
    v = data(tmp_path, "add", str(src), "--name", "ppl", "--schema", str(schema), "--warn-only")
    assert len(v["validation"]["warnings"]) == 1 and "above max 150" in v["validation"]["warnings"][0]
    prof = subprocess.run([BIN, "data", "profile", str(src / "people.csv"), "--json"],
                          capture_output=True, text=True, check=True)
    table = v["tables"][0]
    assert table["path"] == "people.csv" and table["profile"] in v["objects"]
    assert {k: table[k] for k in ("rows", "columns")} == {
        k: json.loads(prof.stdout)["summary"][k] if "summary" in json.loads(prof.stdout)
        else json.loads(prof.stdout)[k] for k in ("rows", "columns")}
    data(tmp_path, "rm", "ppl")  # gone from versions: its profile goes with gc
    assert data(tmp_path, "gc")["objects_deleted"] == 4  # manifest, 2 files, profile
    (src / "people.csv").write_text('id,age\n1,30\n2,"unterminated\n')
    p = data(tmp_path, "add", str(src), "--name", "ppl", check=False)
    assert p.returncode == 1 and "people.csv" in p.stderr and "line 3" in p.stderr, p.stderr
    assert data(tmp_path, "ls") == []
