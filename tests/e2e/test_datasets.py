"""The Datasets page in Chromium: the list, one dataset's versions, a
version's files a page at a time (more files than a page), its schema and
profile, the runs and model versions that used it, the diff of two picked
versions, the link from a model version's lineage (and a removed version
shown as removed), and a missing version showing the server's message.
Datasets are added with `capstan data add` into the running server's
store; runs and models come from the real mlflow client."""
import json
import subprocess

import pytest
import requests

from conftest import BIN, Server, run_ui

BASE = "/api/2.0/capstan/datasets"
NAME = "e2e-images"


def cli(srv, *args):
    p = subprocess.run([BIN, "data", *args, "--data", srv.data_dir, "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if p.stdout.strip() else None


def write(root, files):
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def get(srv, path, **params):
    r = requests.get(srv.url + BASE + path, params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    tmp = tmp_path_factory.mktemp("capstan-e2e-datasets")
    srv = Server(BIN, tmp / "server").start()
    try:
        # Three versions: 250 images and a table; then 10 removed, 5 changed,
        # 7 added; then the table changed.
        src = tmp / "src"
        write(src, {f"img/{i:03d}.bin": "x" * (i + 1) for i in range(250)})
        write(src, {"table.csv": "x,label\n1,a\n2,b\n3,\n"})
        cli(srv, "add", str(src), "--name", NAME, "-m", "first cut", "--tag", "stage=raw")
        for i in range(10):
            (src / f"img/{i:03d}.bin").unlink()
        write(src, {f"img/{i:03d}.bin": "changed" * (i + 1) for i in range(100, 105)})
        write(src, {f"new/{i}.bin": "n" * (i + 10) for i in range(7)})
        cli(srv, "add", str(src), "--name", NAME, "-m", "cleaned")
        write(src, {"table.csv": "x,label\n1,a\n2,b\n3,c\n4,c\n"})
        cli(srv, "add", str(src), "--name", NAME, "-m", "more rows", "--tag", "stage=gold")
        small = tmp / "small"
        write(small, {"one.txt": "one\n"})
        cli(srv, "add", str(small), "--name", "e2e-small")

        client = MlflowClient(srv.url)
        exp = client.create_experiment("e2e-datasets")
        train = client.create_run(exp, run_name="ds-train").info.run_id
        evaluate = client.create_run(exp, run_name="ds-eval").info.run_id
        cli(srv, "use", f"{NAME}@2", "--run-id", train, "--context", "training")
        cli(srv, "use", f"{NAME}@2", "--run-id", evaluate, "--context", "evaluation")
        client.create_registered_model("ds-model")
        mv = client.create_model_version("ds-model", f"runs:/{train}/model", run_id=train)
        # A version a model was trained on, removed since.
        cli(srv, "add", str(small), "--name", "e2e-gone")
        gone_run = client.create_run(exp, run_name="ds-gone").info.run_id
        cli(srv, "use", "e2e-gone@1", "--run-id", gone_run)
        client.create_registered_model("ds-gone-model")
        gone = client.create_model_version("ds-gone-model", f"runs:/{gone_run}/model", run_id=gone_run)
        cli(srv, "rm", "e2e-gone@1")

        files, token = [], None
        while True:
            page = get(srv, "/files", ref=f"{NAME}@1", max_results=1000, page_token=token)
            files += page["files"]
            token = page.get("next_page_token")
            if not token:
                break
        missing = requests.get(srv.url + BASE + "/get", params={"ref": f"{NAME}@99"}, timeout=60)
        assert missing.status_code == 404
        yield srv, {
            "name": NAME,
            "datasets": get(srv, "/list")["datasets"],
            "versions": get(srv, "/versions", name=NAME)["versions"],
            "files": files,
            "diff": get(srv, "/diff", a=f"{NAME}@1", b=f"{NAME}@3"),
            "usage": get(srv, "/usage", ref=f"{NAME}@2"),
            "model": {"name": "ds-model", "version": mv.version},
            "gone_model": {"name": "ds-gone-model", "version": gone.version},
            "missing": missing.json()["message"],
            "allowStatus": [404],
        }
    finally:
        rc = srv.stop()
    srv.assert_clean_exit(rc)


def test_datasets_page(seeded):
    srv, data = seeded
    # What the test relies on, so that a change in the seed cannot make it vacuous.
    assert [d["name"] for d in data["datasets"]] == ["e2e-images", "e2e-small"]
    assert len(data["files"]) == 251 and [v["version"] for v in data["versions"]] == [3, 2, 1]
    d = data["diff"]
    assert (len(d["added"]), len(d["removed"]), len(d["changed"])) == (7, 10, 6)
    assert len(data["usage"]["runs"]) == 2 and len(data["usage"]["model_versions"]) == 1
    out = run_ui(srv.url, "datasets", data)
    assert out["file_pages"] == [100, 100, 51]
    assert out["profile_columns"] == ["x", "label"]
