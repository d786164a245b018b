"""Reference baselines through the real server: /api/2.0/capstan/monitor/
baselines and `capstan monitor baseline`, for a deployment (its primary's
model) and a model version whose MLflow signature names its columns. Each
bad request is a clear 4xx that leaves nothing stored: no meta, no files."""
import json
import subprocess

import numpy as np
import pytest
import requests

import serving_helpers as sh
from conftest import BIN

URL = "/api/2.0/capstan/monitor/baselines"


@pytest.fixture(scope="module")
def models(server, mlflow_client):
    """blm/1: x [N, 3] -> y (no signature: columns f0..f2); blsig/1: the
    same with a column signature a, b, c; deployment bl serves blm/1."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    mlflow.set_experiment("monitor-baseline")
    assert sh.register(sh.linear_model(1.0), "blm") == "1"
    sig = ModelSignature(inputs=Schema([ColSpec("float", n) for n in ("a", "b", "c")]),
                         outputs=Schema([ColSpec("float", "y")]))
    with mlflow.start_run():
        info = mlflow.onnx.log_model(sh.linear_model(2.0), name="model", signature=sig,
                                     registered_model_name="blsig",
                                     pip_requirements=["onnx", "onnxruntime"])
    assert str(info.registered_model_version) == "1"
    sh.create_deployment(server.url, {"name": "bl", "model": "blm/1"})
    return server


def csv_text(names, rows):
    return ",".join(names) + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows)


def data(n=50, seed=3):
    return np.round(np.random.default_rng(seed).normal(0, 1, (n, 3)), 4)


def post(server, body, **query):
    return requests.post(server.url + URL, params=query, data=body,
                         headers={"Content-Type": "text/csv"}, timeout=120)


def stored_files(server, path="monitor/baselines"):
    """Every file under path in the artifact store."""
    r = requests.get(server.url + "/api/2.0/mlflow-artifacts/artifacts", params={"path": path},
                     timeout=60)
    assert r.status_code == 200, r.text
    out = []
    for f in r.json().get("files", []):
        p = f"{path}/{f['path']}"
        out += stored_files(server, p) if f.get("is_dir") else [p]
    return sorted(out)


def get(server, target):
    return requests.get(server.url + URL + "/get", params={"target": target}, timeout=60)


def test_baseline_of_a_deployment(models):
    server = models
    x = data()
    r = post(server, csv_text(["f0", "f1", "f2"], x), target="deployment:bl", format="csv",
             max_rows="20")
    assert r.status_code == 200, r.text
    meta = r.json()
    assert meta["target"] == "deployment:bl"
    assert (meta["model_name"], meta["model_version"]) == ("blm", "1")
    assert (meta["rows"], meta["sample_rows"]) == (50, 20)
    assert [(c["name"], c["role"], c["tensor"], c["index"], c["kind"]) for c in meta["columns"]] == [
        ("f0", "input", "x", 0, "num"), ("f1", "input", "x", 1, "num"),
        ("f2", "input", "x", 2, "num"), ("y", "output", "y", 0, "num")]
    assert stored_files(server) == sorted([meta["sample"], meta["profile"]])

    g = get(server, "deployment:bl")
    assert g.status_code == 200, g.text
    assert g.json() == meta
    listed = requests.get(server.url + URL + "/list", timeout=60).json()["baselines"]
    assert [b["target"] for b in listed] == ["deployment:bl"]

    # a new baseline replaces the old one, files included
    r2 = post(server, csv_text(["f2", "f0", "f1"], x[:, [2, 0, 1]]), target="deployment:bl")
    assert r2.status_code == 200, r2.text
    assert r2.json()["sample_rows"] == 50
    assert stored_files(server) == sorted([r2.json()["sample"], r2.json()["profile"]])

    d = requests.delete(server.url + URL, params={"target": "deployment:bl"}, timeout=60)
    assert d.status_code == 200, d.text
    assert get(server, "deployment:bl").status_code == 404
    assert stored_files(server) == []


def test_the_signature_names_the_columns_and_the_cli_posts(models, tmp_path):
    server = models
    f = tmp_path / "ref.csv"
    f.write_text(csv_text(["c", "a", "b"], data(30)))
    p = subprocess.run([BIN, "monitor", "baseline", "blsig/1", "--data", str(f), "--max-rows",
                        "10", "--server", server.url], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    meta = json.loads(p.stdout)
    assert meta["target"] == "model:blsig/1"
    assert (meta["rows"], meta["sample_rows"]) == (30, 10)
    assert [c["name"] for c in meta["columns"]] == ["a", "b", "c", "y"]
    assert get(server, "model:blsig/1").json() == meta
    # the CLI says what the server refused
    f.write_text("a,b\n1,2\n")
    p = subprocess.run([BIN, "monitor", "baseline", "blsig/1", "--data", str(f), "--server",
                        server.url], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert "no column 'c'" in p.stderr
    requests.delete(server.url + URL, params={"target": "model:blsig/1"}, timeout=60)


GOOD = csv_text(["f0", "f1", "f2"], [[1, 2, 3], [4, 5, 6]])

BAD = [
    ("mismatched columns", csv_text(["f0", "f1", "zz"], [[1, 2, 3]]), {}, 400,
     "has no column 'f2' (for the model's input 'x'); expected the columns f0, f1, f2"),
    ("an extra column", csv_text(["f0", "f1", "f2", "extra"], [[1, 2, 3, 4]]), {}, 400,
     "columns the model does not take: 'extra'"),
    ("text for a number", "f0,f1,f2\n1,2,3\n4,five,6\n", {}, 400,
     "Column 'f1' holds text (line 3) but the model's input 'x' takes float numbers"),
    ("an empty file", "", {}, 400, "The request body is empty"),
    ("a header without rows", "f0,f1,f2\n", {}, 400, "no rows"),
    ("max_rows 0", GOOD, {"max_rows": "0"}, 400, "Invalid max_rows '0'"),
    ("max_rows negative", GOOD, {"max_rows": "-3"}, 400, "Invalid max_rows '-3'"),
    ("max_rows not a number", GOOD, {"max_rows": "ten"}, 400, "Invalid max_rows 'ten'"),
    ("max_rows too large", GOOD, {"max_rows": "99999999999"}, 400, "from 1 to 10000000"),
    ("a bad format", GOOD, {"format": "xlsx"}, 400, "expected csv, jsonl or npy"),
    ("an unknown deployment", GOOD, {"target": "deployment:nope"}, 404,
     "Deployment 'nope' not found"),
    ("an unknown model", GOOD, {"target": "model:nope/1"}, 404, "nope"),
    ("an unknown version", GOOD, {"target": "model:blm/7"}, 404, "blm"),
    ("a malformed target", GOOD, {"target": "blm"}, 400,
     "expected deployment:NAME or model:NAME/VERSION"),
    ("a malformed version", GOOD, {"target": "model:blm/x"}, 400, "Parameter 'version' must be an integer, got 'x'."),
]


@pytest.mark.parametrize("what,body,query,status,msg", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_store_nothing(models, what, body, query, status, msg):
    server = models
    q = {"target": "deployment:bl", "format": "csv", **query}
    r = post(server, body, **q)
    assert r.status_code == status, (what, r.text)
    assert msg in r.json()["message"], (what, r.json())
    assert get(server, q["target"]).status_code in (400, 404)
    assert requests.get(server.url + URL + "/list", timeout=60).json()["baselines"] == []
    assert stored_files(server) == []


def test_get_and_delete_refuse_what_is_not_there(models):
    server = models
    r = get(server, "deployment:bl")
    assert r.status_code == 404
    assert r.json()["message"] == "No baseline for 'deployment:bl'"
    r = requests.delete(server.url + URL, params={"target": "model:blm/1"}, timeout=60)
    assert r.status_code == 404
    r = requests.get(server.url + URL + "/get", timeout=60)
    assert r.status_code == 400
    assert "'target'" in r.json()["message"]


def test_a_dataset_version_is_the_reference(models, tmp_path):
    """--dataset NAME@N: the server reads the reference from its dataset store, the same
    baseline as uploading that file (issue 17: a dataset version as a deployment's reference)."""
    server = models
    x = data(40, seed=9)
    tree = tmp_path / "ref"
    tree.mkdir()
    (tree / "ref.csv").write_text(csv_text(["f0", "f1", "f2"], x))
    run = lambda *a: subprocess.run([BIN, *a], capture_output=True, text=True, timeout=120)
    p = run("data", "add", str(tree / "ref.csv"), "--name", "blref", "--data", server.data_dir)
    assert p.returncode == 0, p.stderr
    p = run("monitor", "baseline", "bl", "--dataset", "blref@1", "--server", server.url)
    assert p.returncode == 0, p.stderr
    from_dataset = json.loads(p.stdout)
    uploaded = post(server, csv_text(["f0", "f1", "f2"], x), target="deployment:bl",
                    format="csv").json()
    keep = lambda m: {k: v for k, v in m.items() if k not in ("created_at", "sample", "profile")}
    assert keep(from_dataset) == keep(uploaded) and from_dataset["rows"] == 40

    # A version of several files needs path=; a body beside dataset= is refused.
    (tree / "other.csv").write_text(csv_text(["f0", "f1", "f2"], x[:5]))
    assert run("data", "add", str(tree), "--name", "blref", "--data",
               server.data_dir).returncode == 0
    r = post(server, b"", target="deployment:bl", dataset="blref@2")
    assert r.status_code == 400 and "holds 2 files" in r.json()["message"]
    r = post(server, b"", target="deployment:bl", dataset="blref@2", path="other.csv")
    assert r.status_code == 200 and r.json()["rows"] == 5
    r = post(server, b"", target="deployment:bl", dataset="blref@2", path="nope.csv")
    assert r.status_code == 404 and "no file 'nope.csv'" in r.json()["message"]
    r = post(server, b"a,b\n1,2\n", target="deployment:bl", dataset="blref@1")
    assert r.status_code == 400 and "either the body or a dataset" in r.json()["message"]
    r = post(server, b"", target="deployment:bl", dataset="nosuch@1")
    assert r.status_code == 404 and "No dataset named 'nosuch'" in r.json()["message"]
    requests.delete(server.url + URL, params={"target": "deployment:bl"}, timeout=60)
