"""The model registry through the unmodified mlflow client (3.x)."""
import os

import pytest

import mlflow
from mlflow.exceptions import MlflowException

from test_mlflow_client import _onnx_model


@pytest.fixture(scope="module")
def logged(mlflow_client):
    """Two ONNX models logged by one run, with a dataset input and git tags."""
    import pandas as pd

    mlflow.set_experiment("registry")
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    ds = mlflow.data.from_pandas(frame, source="s3://bucket/churn.csv", name="churn")
    with mlflow.start_run(run_name="trainer") as r:
        mlflow.log_param("depth", "6")
        mlflow.log_metric("auc", 0.91)
        mlflow.set_tags({"mlflow.source.git.commit": "abc123", "mlflow.source.git.branch": "main",
                         "mlflow.source.name": "train.py"})
        mlflow.log_input(ds, context="training")
        first = mlflow.onnx.log_model(_onnx_model(), name="m1")
        second = mlflow.onnx.log_model(_onnx_model(), name="m2")
    return r.info.run_id, first, second, ds.digest


def test_register_and_load_by_version_and_alias(mlflow_client, logged, tmp_path):
    run_id, first, second, _ = logged
    v1 = mlflow.register_model(first.model_uri, "churn")
    v2 = mlflow.register_model(second.model_uri, "churn")
    assert (v1.version, v2.version) == ("1", "2")
    assert v1.status == "READY" and v1.run_id == run_id
    mlflow_client.set_registered_model_alias("churn", "champion", "2")
    assert mlflow_client.get_model_version_by_alias("churn", "champion").version == "2"
    want = _onnx_model().SerializeToString()
    assert mlflow.onnx.load_model("models:/churn@champion").SerializeToString() == want
    assert mlflow.onnx.load_model("models:/churn/1").SerializeToString() == want
    assert mlflow_client.get_registered_model("churn").aliases == {"champion": "2"}
    mlflow_client.delete_registered_model_alias("churn", "champion")
    with pytest.raises(MlflowException) as e:
        mlflow_client.get_model_version_by_alias("churn", "champion")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_log_model_with_registered_name(mlflow_client):
    mlflow.set_experiment("registry-direct")
    with mlflow.start_run():
        info = mlflow.onnx.log_model(_onnx_model(), name="model", registered_model_name="direct")
    assert str(info.registered_model_version) == "1"
    mv = mlflow_client.get_model_version("direct", "1")
    assert mv.status == "READY"
    assert mv.source == f"models:/{info.model_id}"


def test_stages_and_latest_versions(mlflow_client, logged):
    _, first, second, _ = logged
    for _ in range(3):
        mlflow.register_model(first.model_uri, "staged")
    mlflow_client.transition_model_version_stage("staged", "1", "Production")
    mlflow_client.transition_model_version_stage("staged", "2", "Staging")
    mv = mlflow_client.transition_model_version_stage("staged", "3", "Production",
                                                      archive_existing_versions=True)
    assert mv.current_stage == "Production"
    assert mlflow_client.get_model_version("staged", "1").current_stage == "Archived"
    latest = {v.current_stage: v.version for v in mlflow_client.get_latest_versions("staged")}
    assert latest == {"Production": "3", "Staging": "2", "Archived": "1"}
    prod = mlflow_client.get_latest_versions("staged", stages=["Production"])
    assert [v.version for v in prod] == ["3"]
    with pytest.raises(MlflowException) as e:
        mlflow_client.transition_model_version_stage("staged", "1", "Heaven")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_rename_delete(mlflow_client, logged):
    _, first, _, _ = logged
    mlflow_client.create_registered_model("search-a", tags={"team": "risk"}, description="A")
    mlflow_client.create_registered_model("search-b")
    with pytest.raises(MlflowException) as e:
        mlflow_client.create_registered_model("search-a")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    names = [m.name for m in mlflow_client.search_registered_models(filter_string="name LIKE 'search-%'")]
    assert names == ["search-a", "search-b"]
    assert [m.name for m in mlflow_client.search_registered_models(filter_string="tags.team = 'risk'")] == ["search-a"]
    mlflow_client.create_model_version("search-b", first.model_uri,
                                       run_id=None, tags={"k": "v"})
    vs = mlflow_client.search_model_versions("name = 'search-b'")
    assert [(v.name, v.version, v.tags) for v in vs] == [("search-b", "1", {"k": "v"})]
    mlflow_client.rename_registered_model("search-b", "search-c")
    assert mlflow_client.get_model_version("search-c", "1").version == "1"
    with pytest.raises(MlflowException) as e:
        mlflow_client.get_registered_model("search-b")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    mlflow_client.update_registered_model("search-c", description="renamed")
    assert mlflow_client.get_registered_model("search-c").description == "renamed"
    mlflow_client.set_model_version_tag("search-c", "1", "t", "x")
    mlflow_client.delete_model_version("search-c", "1")
    with pytest.raises(MlflowException) as e:
        mlflow_client.get_model_version("search-c", "1")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    mlflow_client.delete_registered_model("search-c")
    assert "search-c" not in [m.name for m in mlflow_client.search_registered_models()]


UNSAFE_SOURCES = [
    "/etc/passwd",
    "file:///etc/passwd",
    "file:/etc",
    "../../etc",
    "mlflow-artifacts:/0/../../../etc",
    "mlflow-artifacts:/0/%2e%2e/%2e%2e/etc",
    "mlflow-artifacts:/0/%252e%252e/etc",
    "mlflow-artifacts://evil.example.com/0/x",
    "mlflow-artifacts:/0\\..\\..\\etc",
    "runs:/0123456789abcdef0123456789abcdef/../../../etc",
    "http://evil.example.com/model",
    "s3://other-bucket/model",
    "models:/../etc",
]


@pytest.mark.parametrize("source", UNSAFE_SOURCES)
def test_unsafe_sources_refused(server, mlflow_client, source):
    try:
        mlflow_client.create_registered_model("guarded")
    except MlflowException:
        pass
    r = server.api("POST", "/api/2.0/mlflow/model-versions/create",
                   json={"name": "guarded", "source": source})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "source" in r.json()["message"]
    assert mlflow_client.search_model_versions("name = 'guarded'") == []


def test_unknown_model_and_version_404(server):
    for path in ["registered-models/get?name=nope", "model-versions/get?name=nope&version=1",
                 "registered-models/alias?name=nope&alias=champion"]:
        r = server.api("GET", "/api/2.0/mlflow/" + path)
        assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", r.text


def test_reserved_aliases_refused(server, mlflow_client, logged):
    _, first, _, _ = logged
    mlflow.register_model(first.model_uri, "aliased")
    for alias in ["latest", "v3", "bad alias", "a/b"]:
        r = server.api("POST", "/api/2.0/mlflow/registered-models/alias",
                       json={"name": "aliased", "alias": alias, "version": "1"})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (alias, r.text)


def test_corrupt_onnx_fails_registration(server, mlflow_client, tmp_path):
    mlflow.set_experiment("registry-corrupt")
    bad = tmp_path / "model"
    bad.mkdir()
    (bad / "model.onnx").write_bytes(b"\x08\x07\x12\xff\xff\xff\xff\x0fthis is not onnx")
    with mlflow.start_run() as r:
        mlflow.log_artifacts(str(bad), artifact_path="model")
    mlflow_client.create_registered_model("corrupt")
    r2 = server.api("POST", "/api/2.0/mlflow/model-versions/create",
                    json={"name": "corrupt", "source": f"runs:/{r.info.run_id}/model", "run_id": r.info.run_id})
    assert r2.status_code == 200, r2.text
    mv = r2.json()["model_version"]
    assert mv["status"] == "FAILED_REGISTRATION"
    assert "not a readable ONNX model" in mv["status_message"]
    assert server.api("GET", "/health").status_code == 200


def test_lineage_names_run_params_data_and_code(server, mlflow_client, logged):
    run_id, first, second, digest = logged
    a = mlflow.register_model(first.model_uri, "lineage")
    b = mlflow.register_model(second.model_uri, "lineage")
    for mv, model in ((a, first), (b, second)):
        r = server.api("GET", f"/api/2.0/capstan/lineage?name=lineage&version={mv.version}")
        assert r.status_code == 200, r.text
        graph = r.json()
        by_type = {}
        for n in graph["nodes"]:
            by_type.setdefault(n["type"], []).append(n)
        run = by_type["run"][0]
        assert run["run_id"] == run_id and run["run_name"] == "trainer"
        assert run["params"] == {"depth": "6"} and run["metrics"]["auc"] == pytest.approx(0.91)
        assert run["user"]
        assert by_type["dataset"][0]["digest"] == digest
        assert by_type["dataset"][0]["context"] == "training"
        assert by_type["code"][0]["git_commit"] == "abc123"
        assert by_type["code"][0]["script"] == "train.py"
        assert by_type["logged_model"][0]["model_id"] == model.model_id
        version = by_type["model_version"][0]
        assert version["version"] == mv.version
        fmt = version["model_format"]
        assert fmt["format"] == "onnx" and fmt["servable"] is True
        assert fmt["inputs"][0]["name"] == "X" and fmt["inputs"][0]["datatype"] == "float"
        assert fmt["outputs"][0]["name"] == "Y" and fmt["opsets"]["ai.onnx"] == 13
        edges = {(e["source"], e["target"], e["type"]) for e in graph["edges"]}
        assert (f"run:{run_id}", f"logged_model:{model.model_id}", "produced") in edges
        assert (f"logged_model:{model.model_id}", f"version:lineage/{mv.version}", "registered_as") in edges
    ol = server.api("GET", "/api/2.0/capstan/lineage?name=lineage&version=1&format=openlineage").json()
    assert ol["eventType"] == "COMPLETE" and ol["inputs"][0]["name"] == "churn"
    assert ol["outputs"][0]["name"] == "lineage/1"
    dot = server.api("GET", "/api/2.0/capstan/lineage?name=lineage&version=1&format=dot").text
    assert dot.startswith("digraph lineage") and f"run:{run_id}" in dot
    r = server.api("GET", "/api/2.0/capstan/lineage?name=lineage&version=99")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_models_cli(server, mlflow_client, logged):
    import json
    import subprocess

    from conftest import BIN

    _, first, _, digest = logged
    mlflow.register_model(first.model_uri, "cli-model")
    mlflow.register_model(first.model_uri, "cli-model")

    def cli(*args):
        p = subprocess.run([BIN, "models", *args, "--data", server.data_dir], capture_output=True,
                           text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    rc, out, err = cli("alias", "cli-model", "champion", "2")
    assert rc == 0, err
    rc, out, err = cli("promote", "cli-model", "1", "--stage", "production")
    assert rc == 0 and "Production" in out, err
    assert mlflow_client.get_model_version("cli-model", "1").current_stage == "Production"
    rc, out, err = cli("list")
    assert rc == 0 and "cli-model" in out and "@champion->2" in out, (out, err)
    rc, out, err = cli("show", "cli-model@champion", "--json")
    assert rc == 0 and json.loads(out)["version"] == "2", err
    rc, out, err = cli("lineage", "cli-model/2")
    assert rc == 0, err
    assert "run " in out and "train.py @ abc123" in out and digest in out and "depth=6" in out
    rc, out, err = cli("lineage", "cli-model@champion", "--dot")
    assert rc == 0 and out.startswith("digraph"), err
    rc, out, err = cli("lineage", "cli-model/2", "--format", "openlineage")
    assert rc == 0 and json.loads(out)["outputs"][0]["name"] == "cli-model/2", err
    rc, out, err = cli("show", "no-such-model")
    assert rc != 0 and "no-such-model" in err
    rc, out, err = cli("alias", "cli-model", "latest", "1")
    assert rc != 0 and "reserved" in err
